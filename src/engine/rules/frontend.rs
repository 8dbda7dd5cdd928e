//! Client-certificate validation: `spec.tls.frontend` (default and perPort, Gateway API v1.4+)
//! and the listener `tls.frontendValidation` of v1.1-v1.3.
//!
//! Which listeners a block applies to: a `perPort` entry to the HTTPS listeners on its port,
//! `default` to HTTPS listeners whose port has no `perPort` entry. CA references may be a core
//! ConfigMap (core support) or a core Secret (implementation-specific in the spec, and read by
//! most implementations); any other kind is `InvalidCACertificateKind`.

use crate::model::{CaCertificateRef, FrontendValidation, Gateway, Listener};

use super::super::catalogue as c;
use super::access::{self, Target};
use super::certificates::not_permitted_message;
use super::readable;
use super::{is_https, Eval, Holder, Report};

/// One validation block of `spec.tls.frontend`, with the field path that locates it.
pub(crate) struct Block<'a> {
    pub field: String,
    /// `None` for `default`, the port for a `perPort` entry.
    pub port: Option<i32>,
    pub validation: &'a FrontendValidation,
}

/// Every validation block of the Gateway's `spec.tls.frontend`.
pub(crate) fn blocks(gateway: &Gateway) -> Vec<Block<'_>> {
    let Some(frontend) = &gateway.frontend else {
        return Vec::new();
    };
    let default = frontend.default.iter().map(|validation| Block {
        field: "spec.tls.frontend.default.validation".to_owned(),
        port: None,
        validation,
    });
    let per_port = frontend
        .per_port
        .iter()
        .enumerate()
        .filter_map(|(index, entry)| {
            entry.validation.as_ref().map(|validation| Block {
                field: format!("spec.tls.frontend.perPort[{index}].tls.validation"),
                port: Some(entry.port),
                validation,
            })
        });
    default.chain(per_port).collect()
}

/// The validation that applies to `listener` of `gateway`: its port's perPort entry, else the
/// default; none for listeners that are not HTTPS.
pub(crate) fn applicable<'a>(
    gateway: &'a Gateway,
    listener: &Listener,
) -> Option<&'a FrontendValidation> {
    if !is_https(listener) {
        return None;
    }
    let frontend = gateway.frontend.as_ref()?;
    match frontend
        .per_port
        .iter()
        .find(|entry| entry.port == listener.port)
    {
        Some(entry) => entry.validation.as_ref(),
        None => frontend.default.as_ref(),
    }
}

pub(crate) fn check(gateway: &Gateway, eval: &Eval<'_>, report: &mut Report<'_>) {
    let holder = Holder::gateway(gateway);

    for block in blocks(gateway) {
        let listener = block.port.and_then(|port| only_listener_on(gateway, port));
        check_validation(
            holder,
            listener,
            block.validation,
            &block.field,
            eval,
            report,
        );
        if let Some(port) = block.port {
            check_port_used(gateway, port, &block.field, eval, report);
        }
    }
    check_listener_validation(holder, eval, report);
}

/// The name of the Gateway's one HTTPS listener on `port`, so findings about a perPort entry
/// name the listener they break; `None` when several (or none) share the port.
fn only_listener_on(gateway: &Gateway, port: i32) -> Option<&str> {
    let mut on_port = gateway
        .listeners
        .iter()
        .filter(|listener| listener.port == port && is_https(listener));
    match (on_port.next(), on_port.next()) {
        (Some(listener), None) => Some(&listener.name),
        _ => None,
    }
}

/// The experimental listener `tls.frontendValidation` (Gateway API v1.1-v1.3).
pub(crate) fn check_listener_validation(
    holder: Holder<'_>,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
) {
    for (index, listener) in holder.listeners.iter().enumerate() {
        let Some(validation) = listener
            .tls
            .as_ref()
            .and_then(|tls| tls.frontend_validation.as_ref())
        else {
            continue;
        };
        let field = format!("spec.listeners[{index}].tls.frontendValidation");
        check_validation(
            holder,
            Some(&listener.name),
            validation,
            &field,
            eval,
            report,
        );
    }
}

fn check_validation(
    holder: Holder<'_>,
    listener: Option<&str>,
    validation: &FrontendValidation,
    field: &str,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
) {
    if validation.mode.as_deref() == Some("AllowInsecureFallback") {
        let message = "AllowInsecureFallback admits clients without a valid certificate; \
                       use AllowValidOnly unless this is a migration"
            .to_owned();
        report.add(
            &c::FRONTEND_INSECURE_FALLBACK,
            listener,
            &format!("{field}.mode"),
            message,
        );
    }

    for (index, reference) in validation.ca_certificate_refs.iter().enumerate() {
        let field = format!("{field}.caCertificateRefs[{index}]");
        check_ca_ref(holder, listener, reference, &field, eval, report);
    }
}

/// Whether a CA reference names a kind refguard can read: a core ConfigMap or Secret.
pub(crate) fn is_supported_ca_kind(reference: &CaCertificateRef) -> bool {
    reference.group.is_empty() && matches!(reference.kind.as_str(), "ConfigMap" | "Secret")
}

fn check_ca_ref(
    holder: Holder<'_>,
    listener: Option<&str>,
    reference: &CaCertificateRef,
    field: &str,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
) {
    if !is_supported_ca_kind(reference) {
        let message = format!(
            "caCertificateRef \"{}\" is a {} (group \"{}\"); use a ConfigMap with key ca.crt",
            reference.name, reference.kind, reference.group
        );
        report.add(&c::FRONTEND_CA_INVALID_KIND, listener, field, message);
        return;
    }

    let namespace = reference.target_namespace(holder.namespace());
    let from = holder.referrer();
    let target = Target::core(&reference.kind, namespace, &reference.name);
    if !access::permitted_by_spec(&eval.grants, from, target) {
        let message = not_permitted_message(holder, namespace, &reference.kind, &reference.name);
        report.add(&c::FRONTEND_CA_NOT_PERMITTED, listener, field, message);
        return;
    }

    let object = format!("{} \"{namespace}/{}\"", reference.kind, reference.name);
    let bundle = match ca_bundle(reference, namespace, eval) {
        Lookup::Missing => {
            let message =
                format!("{object} does not exist; create it with the CA bundle in key ca.crt");
            report.add(&c::FRONTEND_CA_MISSING, listener, field, message);
            return;
        }
        Lookup::Found(bundle) => bundle,
    };
    if let Some(why) = readable::ca_bundle(bundle) {
        let message = format!("{object} {why}; put the PEM CA certificates in key ca.crt");
        report.add(&c::FRONTEND_CA_MALFORMED, listener, field, message);
    }
}

enum Lookup<'a> {
    Missing,
    Found(Option<&'a crate::model::CaBundleFacts>),
}

/// The `ca.crt` facts of the referenced ConfigMap or Secret.
fn ca_bundle<'a>(reference: &CaCertificateRef, namespace: &str, eval: &Eval<'a>) -> Lookup<'a> {
    let world = eval.world;
    let found = match reference.kind.as_str() {
        "ConfigMap" => world
            .config_map(namespace, &reference.name)
            .map(|facts| facts.ca_crt.as_ref()),
        _ => world
            .secret(namespace, &reference.name)
            .map(|facts| facts.ca_crt.as_ref()),
    };
    found.map_or(Lookup::Missing, Lookup::Found)
}

/// A perPort entry must match an HTTPS listener of the Gateway or of a ListenerSet attached to
/// it; otherwise it configures nothing.
fn check_port_used(
    gateway: &Gateway,
    port: i32,
    field: &str,
    eval: &Eval<'_>,
    report: &mut Report<'_>,
) {
    if !report.wants(&c::FRONTEND_PER_PORT_UNMATCHED) {
        return;
    }
    let serves = |listener: &Listener| listener.port == port && is_https(listener);
    if gateway.listeners.iter().any(serves) {
        return;
    }
    let attached = eval
        .world
        .listener_sets_of(&gateway.key)
        .any(|set| set.listeners.iter().any(serves));
    if !attached {
        let message = format!(
            "perPort entry for port {port} matches no HTTPS listener and applies to nothing; \
             fix the port or remove it"
        );
        report.add(&c::FRONTEND_PER_PORT_UNMATCHED, None, field, message);
    }
}
