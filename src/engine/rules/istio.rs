//! What Istio does with a listener's TLS, beyond the spec: its terminate modes, how many
//! certificateRefs it serves, where it finds the client CA, and what it ignores. Every rule's
//! version range lives in the catalogue; this module only detects the conditions.
//!
//! Sources (read, not copied): istio/istio `pilot/pkg/config/kube/gateway/conversion.go`,
//! `references_collection.go`, `pilot/pkg/model/gateway.go` (`mergeGateways`),
//! `pilot/pkg/credentials/kube/secrets.go`; see docs/rules.md for the notes.

use crate::model::{Gateway, Listener, ListenerTls, TlsMode};

use super::super::catalogue::{self as c, ISTIO_FRONTEND_TLS_IGNORED};
use super::super::profile::{Implementation, Version};
use super::access::{self, Target};
use super::certificates::{ref_status, RefStatus};
use super::frontend::{self, applicable};
use super::readable;
use super::{Eval, Holder, Report};

const TERMINATE_MODE: &str = "gateway.istio.io/tls-terminate-mode";
const CIPHER_SUITES: &str = "gateway.istio.io/tls-cipher-suites";

/// Terminate modes Istio reads, with the first release that reads each. Any other value, or a
/// mode older releases do not know, silently means SIMPLE.
const MODES: [(&str, Version); 4] = [
    ("MUTUAL", Version::new(1, 16, 0)),
    ("ISTIO_MUTUAL", Version::new(1, 22, 0)),
    ("ISTIO_SIMPLE", Version::new(1, 26, 0)),
    ("OPTIONAL_MUTUAL", Version::new(1, 27, 0)),
];

/// First release that reads `gateway.istio.io/tls-cipher-suites`.
const CIPHER_SUITES_SINCE: Version = Version::new(1, 29, 0);

/// The mode Istio will actually run a Terminate listener in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Simple,
    Mutual,
    IstioMutual,
    IstioSimple,
    OptionalMutual,
}

impl Mode {
    fn requires_client_ca(self) -> bool {
        matches!(self, Self::Mutual | Self::OptionalMutual)
    }
}

fn effective_mode(tls: &ListenerTls, version: Version) -> Mode {
    let Some(value) = tls.options.get(TERMINATE_MODE) else {
        return Mode::Simple;
    };
    let known = MODES
        .iter()
        .any(|(name, since)| name == value && version >= *since);
    match value.as_str() {
        _ if !known => Mode::Simple,
        "MUTUAL" => Mode::Mutual,
        "ISTIO_MUTUAL" => Mode::IstioMutual,
        "ISTIO_SIMPLE" => Mode::IstioSimple,
        "OPTIONAL_MUTUAL" => Mode::OptionalMutual,
        _ => Mode::Simple,
    }
}

/// Listener rules. `frontend_owner` is the Gateway whose `spec.tls.frontend` applies to these
/// listeners: the Gateway itself, or a ListenerSet's parent when it is known.
pub(crate) fn check(
    holder: Holder<'_>,
    frontend_owner: Option<&Gateway>,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
) {
    let Implementation::Istio(version) = eval.implementation else {
        return;
    };
    for (index, listener) in holder.listeners.iter().enumerate() {
        let Some(tls) = &listener.tls else { continue };
        let at = Place {
            holder,
            listener,
            index,
        };

        check_options(at, tls, version, report);
        if tls.frontend_validation.is_some() {
            let message = "Istio ignores listener tls.frontendValidation; use spec.tls.frontend (Istio 1.28+)";
            report.add(
                &c::ISTIO_LISTENER_FRONTEND_IGNORED,
                at.name(),
                &at.field("tls.frontendValidation"),
                message.to_owned(),
            );
        }
        if tls.mode == TlsMode::Terminate {
            check_terminate(
                at,
                tls,
                effective_mode(tls, version),
                frontend_owner,
                eval,
                report,
            );
        }
    }
}

/// One listener and where it sits, for field paths and messages.
#[derive(Clone, Copy)]
struct Place<'a> {
    holder: Holder<'a>,
    listener: &'a Listener,
    index: usize,
}

impl Place<'_> {
    fn name(&self) -> Option<&str> {
        Some(&self.listener.name)
    }

    fn field(&self, rest: &str) -> String {
        format!("spec.listeners[{}].{rest}", self.index)
    }
}

fn check_options(at: Place<'_>, tls: &ListenerTls, version: Version, report: &mut Report<'_>) {
    for (key, value) in &tls.options {
        let field = at.field(&format!("tls.options[\"{key}\"]"));
        if key == TERMINATE_MODE {
            if let Some(message) = terminate_mode_problem(value, version) {
                report.add(&c::ISTIO_TERMINATE_MODE_INVALID, at.name(), &field, message);
            }
        } else if key == CIPHER_SUITES && version < CIPHER_SUITES_SINCE {
            let message =
                format!("Istio {version} ignores {key} (read from 1.29); upgrade or remove it");
            report.add(&c::ISTIO_OPTION_IGNORED, at.name(), &field, message);
        } else if key.contains('/') && key != CIPHER_SUITES {
            let message =
                format!("Istio ignores tls option \"{key}\"; remove it or use a key Istio reads");
            report.add(&c::ISTIO_OPTION_IGNORED, at.name(), &field, message);
        }
    }
}

fn terminate_mode_problem(value: &str, version: Version) -> Option<String> {
    if let Some((name, since)) = MODES.iter().find(|(name, _)| *name == value) {
        return (version < *since).then(|| {
            format!("Istio {version} does not know mode {name} (from {since}) and runs SIMPLE; upgrade Istio")
        });
    }
    let upper = value.to_ascii_uppercase();
    let hint = if MODES.iter().any(|(name, _)| *name == upper) {
        format!("write \"{upper}\" in upper case")
    } else {
        "use MUTUAL, OPTIONAL_MUTUAL, ISTIO_MUTUAL or ISTIO_SIMPLE".to_owned()
    };
    Some(format!(
        "terminate mode \"{value}\" is unknown to Istio, which then runs SIMPLE; {hint}"
    ))
}

fn check_terminate(
    at: Place<'_>,
    tls: &ListenerTls,
    mode: Mode,
    frontend_owner: Option<&Gateway>,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
) {
    let refs = &tls.certificate_refs;
    let refs_field = at.field("tls.certificateRefs");

    if matches!(mode, Mode::IstioMutual | Mode::IstioSimple) {
        if !refs.is_empty() {
            let message = "ISTIO_MUTUAL/ISTIO_SIMPLE listeners ignore certificateRefs; remove them"
                .to_owned();
            report.add(&c::ISTIO_REFS_IGNORED, at.name(), &refs_field, message);
        }
        return;
    }
    if refs.is_empty() {
        let message =
            "Istio before 1.27 rejects Terminate listeners without certificateRefs; add one"
                .to_owned();
        report.add(&c::ISTIO_NO_REFS_INVALID, at.name(), &refs_field, message);
        let message =
            "without certificateRefs Istio serves its workload certificate; add a certificateRef"
                .to_owned();
        report.add(
            &c::ISTIO_NO_REFS_WORKLOAD_CERT,
            at.name(),
            &refs_field,
            message,
        );
        return;
    }

    let statuses: Vec<RefStatus> = refs
        .iter()
        .map(|reference| ref_status(at.holder, reference, eval))
        .collect();
    check_ref_count(at, &statuses, &refs_field, report);
    if mode.requires_client_ca() {
        check_client_ca(at, tls, mode, statuses[0], frontend_owner, eval, report);
    }
}

fn check_ref_count(at: Place<'_>, statuses: &[RefStatus], field: &str, report: &mut Report<'_>) {
    let usable = |status: &RefStatus| *status == RefStatus::Usable;

    if statuses.len() > 1 {
        let message = "Istio before 1.27 serves exactly one certificateRef; keep one".to_owned();
        report.add(&c::ISTIO_MULTIPLE_REFS, at.name(), field, message);
    }
    if statuses.len() > 2 {
        let message =
            "Istio serves at most two certificateRefs (RSA and ECDSA); remove the rest".to_owned();
        report.add(&c::ISTIO_TOO_MANY_REFS, at.name(), field, message);
    }
    // Whether a Secret refguard does not watch is usable is unknown: say nothing about it.
    if statuses.len() != 2 || statuses.contains(&RefStatus::NotWatched) {
        return;
    }

    if statuses.iter().all(usable) {
        let message =
            "this Istio version authorises no certificate when two are set; keep one or upgrade"
                .to_owned();
        report.add(&c::ISTIO_TWO_REFS_BROKEN, at.name(), field, message);
    } else if !usable(&statuses[0]) {
        let message =
            "first certificateRef is unusable, so Istio serves its workload certificate; fix it"
                .to_owned();
        report.add(
            &c::ISTIO_FIRST_REF_UNUSABLE,
            at.name(),
            &format!("{field}[0]"),
            message,
        );
    } else {
        let message =
            "second certificateRef is unusable and Istio drops it silently; fix or remove it"
                .to_owned();
        report.add(
            &c::ISTIO_SECOND_REF_DROPPED,
            at.name(),
            &format!("{field}[1]"),
            message,
        );
    }
}

/// MUTUAL and OPTIONAL_MUTUAL need a CA: from `spec.tls.frontend` (1.28+), else a Secret
/// `<name>-cacert` next to the certificate, else key `cacert` or `ca.crt` of the certificate.
fn check_client_ca(
    at: Place<'_>,
    tls: &ListenerTls,
    mode: Mode,
    first: RefStatus,
    frontend_owner: Option<&Gateway>,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
) {
    let reference = &tls.certificate_refs[0];
    let namespace = reference.target_namespace(at.holder.namespace());
    let field = at.field("tls.certificateRefs[0]");
    let permitted = !matches!(first, RefStatus::NotPermitted | RefStatus::UnsupportedKind);

    if permitted && namespace != at.holder.namespace() {
        let message = format!(
            "Istio <1.26 resets MUTUAL handshakes with a Secret from \"{namespace}\" (istio#55623); move it to \"{}\" or upgrade",
            at.holder.namespace()
        );
        report.add(&c::ISTIO_MUTUAL_CROSS_NAMESPACE, at.name(), &field, message);
    }

    let frontend_read = !c::applies(eval.implementation, &ISTIO_FRONTEND_TLS_IGNORED);
    let frontend_ca_set = frontend_owner
        .and_then(|gateway| applicable(gateway, at.listener))
        .is_some_and(|validation| !validation.ca_certificate_refs.is_empty());
    let frontend_ca = frontend_read && frontend_ca_set;
    if mode == Mode::OptionalMutual && !frontend_ca {
        let message = if frontend_ca_set {
            "OPTIONAL_MUTUAL never gets its CA: this Istio ignores spec.tls.frontend; upgrade to 1.28+"
        } else {
            "OPTIONAL_MUTUAL without a spec.tls.frontend caCertificateRef never gets its CA; add one"
        }
        .to_owned();
        report.add(
            &c::ISTIO_OPTIONAL_MUTUAL_NO_CA,
            at.name(),
            &at.field("tls.options"),
            message,
        );
    }

    if frontend_ca || !matches!(first, RefStatus::Usable | RefStatus::Unusable) {
        return;
    }
    if let Some(false) = secret_has_ca(at, namespace, &reference.name, eval) {
        let message = format!(
            "no CA for client certificates: add key ca.crt to Secret \"{}\" or a Secret \"{}-cacert\"",
            reference.name, reference.name
        );
        report.add(&c::ISTIO_MUTUAL_NO_CA, at.name(), &field, message);
    }
}

/// Whether Istio finds a client CA for the credential `name`; `None` when answering would
/// reveal whether `<name>-cacert` exists in a namespace the holder may not read.
fn secret_has_ca(at: Place<'_>, namespace: &str, name: &str, eval: &Eval<'_>) -> Option<bool> {
    let facts = eval.world.secret(namespace, name)?;
    if readable::has_istio_ca(facts) {
        return Some(true);
    }

    let cacert_name = format!("{name}-cacert");
    let from = at.holder.referrer();
    let target = Target::core("Secret", namespace, &cacert_name);
    if !access::permitted_by_spec(&eval.grants, from, target)
        || !eval.world.knows_secrets_in(namespace)
    {
        return None;
    }
    Some(eval.world.secret(namespace, &cacert_name).is_some())
}

/// Gateway-level Istio rules: how `spec.tls.frontend` is read.
pub(crate) fn check_gateway(gateway: &Gateway, eval: &Eval<'_>, report: &mut Report<'_>) {
    if !matches!(eval.implementation, Implementation::Istio(_)) || gateway.frontend.is_none() {
        return;
    }
    let message =
        "Istio before 1.28 ignores spec.tls.frontend: clients are not validated; upgrade Istio"
            .to_owned();
    report.add(
        &c::ISTIO_FRONTEND_TLS_IGNORED,
        None,
        "spec.tls.frontend",
        message,
    );

    let holder = Holder::gateway(gateway);
    for block in frontend::blocks(gateway) {
        if block.validation.mode.as_deref() == Some("AllowInsecureFallback") {
            let message =
                "Istio before 1.31 ignores AllowInsecureFallback and requires client certificates"
                    .to_owned();
            report.add(
                &c::ISTIO_INSECURE_FALLBACK_IGNORED,
                None,
                &format!("{}.mode", block.field),
                message,
            );
        }
        for (index, reference) in block.validation.ca_certificate_refs.iter().enumerate() {
            let field = format!("{}.caCertificateRefs[{index}]", block.field);
            check_frontend_ca(holder, reference, &field, eval, report);
        }
    }
}

fn check_frontend_ca(
    holder: Holder<'_>,
    reference: &crate::model::CaCertificateRef,
    field: &str,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
) {
    if !frontend::is_supported_ca_kind(reference) {
        return;
    }
    if reference.kind == "Secret" {
        let message =
            "this Istio version denies CA Secrets in caCertificateRefs; use a ConfigMap".to_owned();
        report.add(&c::ISTIO_FRONTEND_CA_SECRET, None, field, message);
    }

    let namespace = reference.target_namespace(holder.namespace());
    if namespace == holder.namespace() {
        return;
    }
    let from = holder.referrer();
    let spec_target = Target::core(&reference.kind, namespace, &reference.name);
    let cacert_name = format!("{}-cacert", reference.name);
    let istio_target = Target::core("Secret", namespace, &cacert_name);
    if access::permitted_by_spec(&eval.grants, from, spec_target)
        && !access::permitted_by_spec(&eval.grants, from, istio_target)
    {
        let message = format!(
            "Istio checks this CA's grant as Secret \"{cacert_name}\", so it never matches; keep the CA in \"{}\"",
            holder.namespace()
        );
        report.add(&c::ISTIO_FRONTEND_CA_CROSS_NAMESPACE, None, field, message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminate_modes_by_version() {
        let v = |text: &str| -> Version { text.parse().expect("version") };
        // (value, version, problem expected, what it shows)
        let cases = [
            ("MUTUAL", "1.16.0", false, "MUTUAL since 1.16"),
            ("MUTUAL", "1.15.9", true, "MUTUAL before 1.16"),
            ("ISTIO_MUTUAL", "1.21.9", true, "ISTIO_MUTUAL before 1.22"),
            ("ISTIO_MUTUAL", "1.22.0", false, "ISTIO_MUTUAL from 1.22"),
            ("ISTIO_SIMPLE", "1.25.9", true, "ISTIO_SIMPLE before 1.26"),
            ("ISTIO_SIMPLE", "1.26.0", false, "ISTIO_SIMPLE from 1.26"),
            (
                "OPTIONAL_MUTUAL",
                "1.26.9",
                true,
                "OPTIONAL_MUTUAL before 1.27",
            ),
            (
                "OPTIONAL_MUTUAL",
                "1.27.0",
                false,
                "OPTIONAL_MUTUAL from 1.27",
            ),
            ("mutual", "1.30.0", true, "lower case is unknown"),
            ("STRICT", "1.30.0", true, "unknown value"),
        ];
        for (value, version, expected, shows) in cases {
            assert_eq!(
                terminate_mode_problem(value, v(version)).is_some(),
                expected,
                "{shows}"
            );
        }
    }
}
