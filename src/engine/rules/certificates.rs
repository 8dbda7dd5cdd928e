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
    let checked = check_reference(holder, reference, eval);
    let listener_name = Some(listener.name.as_str());
    let namespace = reference.target_namespace(holder.namespace());

    match checked.status {
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

    if checked.problems.is_empty() {
        return;
    }
    let secret = format!("Secret \"{namespace}/{}\"", reference.name);
    let place = Place {
        listener: listener_name,
        field,
    };
    report_problems(
        &checked.problems,
        &secret,
        CertificateUse::Listener,
        place,
        report,
    );
}

/// A reference's status, with the problems found in its Secret when it was looked up.
pub(crate) struct CheckedRef {
    pub status: RefStatus,
    /// Empty unless the holder may read the Secret (by the spec) and it exists.
    pub problems: Vec<Problem>,
}

/// Classifies a reference, looking up only what the holder may read.
pub(crate) fn ref_status(holder: Holder<'_>, reference: &SecretRef, eval: &Eval<'_>) -> RefStatus {
    check_reference(holder, reference, eval).status
}

/// Classifies a reference and keeps the Secret's problems, so that callers which report them
/// do not compute them a second time. Looks up only what the holder may read.
pub(crate) fn check_reference(
    holder: Holder<'_>,
    reference: &SecretRef,
    eval: &Eval<'_>,
) -> CheckedRef {
    let status = |status| CheckedRef {
        status,
        problems: Vec::new(),
    };
    if !reference.group.is_empty() || reference.kind != "Secret" {
        return status(RefStatus::UnsupportedKind);
    }

    let from = holder.referrer();
    let target = Target::core(
        "Secret",
        reference.target_namespace(holder.namespace()),
        &reference.name,
    );
    if !access::permitted_by_spec(&eval.grants, from, target) {
        return status(RefStatus::NotPermitted);
    }
    let shadowed = !access::permitted(&eval.grants, eval.implementation, from, target);

    let Some(facts) = eval.world.secret(target.namespace, target.name) else {
        if shadowed {
            return status(RefStatus::ShadowedGrant);
        }
        if !eval.world.knows_secrets_in(target.namespace) {
            return status(RefStatus::NotWatched);
        }
        return status(RefStatus::Missing);
    };
    let problems = readable::certificate_secret(facts, eval.implementation, clock(eval));
    let fatal = problems
        .iter()
        .any(|problem| !matches!(problem, Problem::Expiring(_) | Problem::WrongType(_)));
    let status = if shadowed {
        RefStatus::ShadowedGrant
    } else if fatal {
        RefStatus::Unusable
    } else {
        RefStatus::Usable
    };
    CheckedRef { status, problems }
}

pub(crate) fn clock(eval: &Eval<'_>) -> Clock {
    Clock {
        now: eval.now,
        expiry_warning_days: eval.expiry_warning_days,
    }
}

/// What a certificate-and-key Secret is used for, which decides the rules its problems fall
/// under.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CertificateUse {
    /// A listener's serving certificate (`tls.certificateRefs`).
    Listener,
    /// The client certificate a Gateway presents to its backends.
    BackendClient,
}

/// Where a finding about a reference points.
#[derive(Clone, Copy)]
pub(crate) struct Place<'a> {
    pub listener: Option<&'a str>,
    pub field: &'a str,
}

/// Reports the data problems of a permitted, existing Secret (`secret` names it in messages).
/// For a backend client certificate, the problems that make it unusable fall under the backend
/// rule; the type and expiry warnings keep their own rules, scopes and ids.
pub(crate) fn report_problems(
    problems: &[Problem],
    secret: &str,
    usage: CertificateUse,
    place: Place<'_>,
    report: &mut Report<'_>,
) {
    for problem in problems {
        let (rule, message) = problem_finding(problem, secret);
        let unusable = matches!(
            problem,
            Problem::Malformed(_) | Problem::KeyMismatch | Problem::Expired | Problem::NotYetValid
        );
        let rule = match usage {
            CertificateUse::BackendClient if unusable => &c::BACKEND_CERT_MALFORMED,
            CertificateUse::BackendClient | CertificateUse::Listener => rule,
        };
        report.add(rule, place.listener, place.field, message);
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
