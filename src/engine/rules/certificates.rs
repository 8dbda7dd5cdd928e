//! Listener `tls.certificateRefs`: kind, permission, existence and readability of each Secret.
//!
//! Order matters for privacy: the kind is checked without looking anything up, then the grant,
//! and only a permitted reference is looked up. Without a grant the finding speaks only of the
//! grant, whether or not the Secret exists.

use crate::model::{Listener, SecretRef, TlsMode};

use super::super::catalogue::{self as c, Rule};
use super::access::{self, Target};
use super::readable::{self, Clock, Problem};
use super::{Eval, Holder, Report};

/// What became of one certificateRef.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefStatus {
    UnsupportedKind,
    NotPermitted,
    /// Permitted by the spec, but not by the implementation's reading of the grants.
    ShadowedGrant,
    Missing,
    /// Permitted, but in a namespace whose Secrets refguard does not watch: not checked.
    NotWatched,
    /// Exists but has a problem that keeps the gateway from using it.
    Unusable,
    Usable,
}

pub(crate) fn check(holder: Holder<'_>, eval: &Eval<'_>, report: &mut Report<'_>) {
    for (index, listener) in holder.listeners.iter().enumerate() {
        let Some(tls) = &listener.tls else { continue };
        let base = format!("spec.listeners[{index}].tls.certificateRefs");

        if tls.mode == TlsMode::Passthrough {
            if !tls.certificate_refs.is_empty() {
                let message = format!(
                    "listener \"{}\" is Passthrough, so its certificateRefs are never used; remove them",
                    listener.name
                );
                report.add(
                    &c::PASSTHROUGH_REFS_IGNORED,
                    Some(&listener.name),
                    &base,
                    message,
                );
            }
            continue;
        }

        for (position, reference) in tls.certificate_refs.iter().enumerate() {
            let field = format!("{base}[{position}]");
            check_ref(holder, listener, reference, &field, eval, report);
        }
    }
}

/// Checks one reference and reports what is wrong with it.
fn check_ref(
    holder: Holder<'_>,
    listener: &Listener,
    reference: &SecretRef,
    field: &str,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
) {
    let status = ref_status(holder, reference, eval);
    let listener_name = Some(listener.name.as_str());
    let namespace = reference.target_namespace(holder.namespace());

    match status {
        RefStatus::UnsupportedKind => {
            let message = unsupported_kind_message("certificateRef", reference);
            report.add(&c::CERT_REF_UNSUPPORTED_KIND, listener_name, field, message);
        }
        RefStatus::NotPermitted => {
            let message = not_permitted_message(holder, namespace, "Secret", &reference.name);
            report.add(&c::CERT_REF_NOT_PERMITTED, listener_name, field, message);
        }
        RefStatus::ShadowedGrant => {
            let message = format!(
                "Istio reads only the last Secret entry of each grant in \"{namespace}\"; \
                 give \"{}\" its own ReferenceGrant",
                reference.name
            );
            report.add(
                &c::ISTIO_GRANT_TO_ENTRY_IGNORED,
                listener_name,
                field,
                message,
            );
        }
        RefStatus::Missing => {
            let message = format!(
                "Secret \"{namespace}/{}\" does not exist; create it (or let cert-manager issue it)",
                reference.name
            );
            report.add(&c::CERT_SECRET_MISSING, listener_name, field, message);
        }
        RefStatus::NotWatched | RefStatus::Unusable | RefStatus::Usable => {}
    }

    if matches!(
        status,
        RefStatus::Unusable | RefStatus::Usable | RefStatus::ShadowedGrant
    ) {
        report_problems(
            reference,
            namespace,
            listener_name,
            field,
            eval,
            report,
            false,
        );
    }
}

/// Classifies a reference, looking up only what the holder may read.
pub(crate) fn ref_status(holder: Holder<'_>, reference: &SecretRef, eval: &Eval<'_>) -> RefStatus {
    if !reference.group.is_empty() || reference.kind != "Secret" {
        return RefStatus::UnsupportedKind;
    }

    let from = holder.referrer();
    let target = Target::core(
        "Secret",
        reference.target_namespace(holder.namespace()),
        &reference.name,
    );
    if !access::permitted_by_spec(&eval.grants, from, target) {
        return RefStatus::NotPermitted;
    }
    if !access::permitted(&eval.grants, eval.implementation, from, target) {
        return RefStatus::ShadowedGrant;
    }

    let Some(facts) = eval.world.secret(target.namespace, target.name) else {
        if !eval.world.knows_secrets_in(target.namespace) {
            return RefStatus::NotWatched;
        }
        return RefStatus::Missing;
    };
    let problems = readable::certificate_secret(facts, eval.implementation, clock(eval));
    let fatal = problems
        .iter()
        .any(|problem| !matches!(problem, Problem::Expiring(_) | Problem::WrongType(_)));
    if fatal {
        RefStatus::Unusable
    } else {
        RefStatus::Usable
    }
}

pub(crate) fn clock(eval: &Eval<'_>) -> Clock {
    Clock {
        now: eval.now,
        expiry_warning_days: eval.expiry_warning_days,
    }
}

/// Reports the data problems of a permitted, existing Secret. `backend` selects the client
/// certificate rules instead of the listener ones.
pub(crate) fn report_problems(
    reference: &SecretRef,
    namespace: &str,
    listener: Option<&str>,
    field: &str,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
    backend: bool,
) {
    let Some(facts) = eval.world.secret(namespace, &reference.name) else {
        return;
    };
    let secret = format!("Secret \"{namespace}/{}\"", reference.name);
    for problem in readable::certificate_secret(facts, eval.implementation, clock(eval)) {
        let (rule, message) = problem_finding(&problem, &secret);
        let rule = if backend {
            &c::BACKEND_CERT_MALFORMED
        } else {
            rule
        };
        report.add(rule, listener, field, message);
    }
}

fn problem_finding(problem: &Problem, secret: &str) -> (&'static Rule, String) {
    match problem {
        Problem::WrongType(kind) => (
            &c::CERT_SECRET_TYPE,
            format!("{secret} has type \"{kind}\"; recreate it with type kubernetes.io/tls"),
        ),
        Problem::Invisible(kind) => (
            &c::ISTIO_SECRET_INVISIBLE,
            format!("{secret} has type \"{kind}\", which Istio never reads; use kubernetes.io/tls"),
        ),
        Problem::Malformed(why) => (
            &c::CERT_DATA_MALFORMED,
            format!("{secret} {why}; store a PEM certificate chain and its private key"),
        ),
        Problem::KeyMismatch => (
            &c::CERT_KEY_MISMATCH,
            format!(
                "{secret}: the private key does not match the certificate; store the matching key"
            ),
        ),
        Problem::Expired => (
            &c::CERT_EXPIRED,
            format!("the certificate in {secret} has expired; renew it"),
        ),
        Problem::NotYetValid => (
            &c::CERT_NOT_YET_VALID,
            format!("the certificate in {secret} is not valid yet; check its notBefore date"),
        ),
        Problem::Expiring(days) => (
            &c::CERT_EXPIRING,
            format!("the certificate in {secret} expires in {days} day(s); renew it"),
        ),
    }
}

/// `no ReferenceGrant in namespace "app" lets Gateway "gw/main" read Secret "cert"; add one`.
pub(crate) fn not_permitted_message(
    holder: Holder<'_>,
    namespace: &str,
    kind: &str,
    name: &str,
) -> String {
    format!(
        "no ReferenceGrant in namespace \"{namespace}\" lets {} read {kind} \"{name}\"; add one",
        holder.describe()
    )
}

pub(crate) fn unsupported_kind_message(what: &str, reference: &SecretRef) -> String {
    let group = if reference.group.is_empty() {
        "core".to_owned()
    } else {
        reference.group.clone()
    };
    format!(
        "{what} \"{}\" is a {} of group {group}; only core Secrets are supported",
        reference.name, reference.kind
    )
}
