//! `spec.tls.backend.clientCertificateRef` (v1.4+; `spec.backendTLS` on v1.2-v1.3): the
//! certificate the Gateway presents to backends. A Gateway-level reference, so findings name
//! no listener.

use crate::model::Gateway;

use super::super::catalogue as c;
use super::certificates::{
    check_reference, not_permitted_message, report_problems, unsupported_kind_message,
    CertificateUse, Place, RefStatus,
};
use super::{Eval, Holder, Report};

pub(crate) fn check(gateway: &Gateway, eval: &Eval<'_>, report: &mut Report<'_>) {
    let Some(reference) = gateway
        .backend
        .as_ref()
        .and_then(|backend| backend.client_certificate_ref.as_ref())
    else {
        return;
    };
    let holder = Holder::gateway(gateway);
    let field = format!("{}.clientCertificateRef", gateway.backend_field);
    let namespace = reference.target_namespace(holder.namespace());

    let checked = check_reference(holder, reference, eval);
    match checked.status {
        RefStatus::UnsupportedKind => {
            let message = unsupported_kind_message("clientCertificateRef", reference);
            report.add(&c::BACKEND_CERT_UNSUPPORTED_KIND, None, &field, message);
        }
        RefStatus::NotPermitted => {
            let message = not_permitted_message(holder, namespace, "Secret", &reference.name);
            report.add(&c::BACKEND_CERT_NOT_PERMITTED, None, &field, message);
        }
        RefStatus::Missing => {
            let message = format!(
                "client certificate Secret \"{namespace}/{}\" does not exist; create it",
                reference.name
            );
            report.add(&c::BACKEND_CERT_MISSING, None, &field, message);
        }
        RefStatus::NotWatched => {}
        RefStatus::ShadowedGrant | RefStatus::Unusable | RefStatus::Usable => {
            let secret = format!("Secret \"{namespace}/{}\"", reference.name);
            let place = Place {
                listener: None,
                field: &field,
            };
            report_problems(
                &checked.problems,
                &secret,
                CertificateUse::BackendClient,
                place,
                report,
            );
        }
    }
}
