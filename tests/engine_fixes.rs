//! Regression tests for review findings on the engine: the rules a backend client certificate's
//! problems are filed under, and perPort entries served by an attached ListenerSet.

mod engine_support;

use engine_support::*;
use refguard::engine::{Finding, Severity, World};
use refguard::model::ObjectKey;
use serde_json::{json, Value};

use Severity::Warn;

const GA: &str = "gateway-api";
const ISTIO: &str = "istio@1.26.0";

/// A Gateway whose listener serves the valid `gw/cert` and presents `gw/client` to backends.
fn backend_gateway() -> Value {
    let listeners = json!([https("https", json!([secret_ref(None, "cert")]), json!({}))]);
    let backend = json!({"tls": {"backend": {"clientCertificateRef": {"name": "client"}}}});
    gateway_json(listeners, backend)
}

/// The findings about the backend client certificate of `backend_gateway`, as (rule, severity).
fn backend_findings(profile: &str, secret_type: &str, crt: &str, key: &str) -> Vec<Finding> {
    let mut world = World::new();
    add_tls(&mut world, "gw", "cert");
    add_secret(
        &mut world,
        "gw",
        "client",
        secret_type,
        &[("tls.crt", crt), ("tls.key", key)],
    );
    let findings = review_gateway(&world, &config(profile), &backend_gateway());
    assert_messages_fit(&findings);
    findings
        .into_iter()
        .filter(|finding| finding.field.ends_with("clientCertificateRef"))
        .collect()
}

#[test]
fn backend_client_certificate_of_the_wrong_type_keeps_the_type_rule() {
    let (crt, key) = good_certificate();

    let findings = backend_findings(GA, "Opaque", &crt, &key);
    assert_eq!(outcome(&findings), expected(&[("cert-secret-type", Warn)]));
    assert!(findings[0].message.contains("Secret \"gw/client\""));

    // The type rule is for the spec profile only; Istio reads Opaque Secrets.
    assert!(backend_findings(ISTIO, "Opaque", &crt, &key).is_empty());
}

#[test]
fn backend_client_certificate_about_to_expire_is_an_expiry_warning() {
    let (crt, key) = certificate((2020, 1, 1), (2026, 1, 10));

    let findings = backend_findings(GA, "kubernetes.io/tls", &crt, &key);
    assert_eq!(outcome(&findings), expected(&[("cert-expiring", Warn)]));
    assert!(findings[0].message.contains("expires in 9 day(s)"));
}

#[test]
fn backend_client_certificate_invisible_to_istio_keeps_the_istio_rule() {
    let (crt, key) = good_certificate();

    let findings = backend_findings(ISTIO, "helm.sh/release.v1", &crt, &key);
    assert_eq!(
        outcome(&findings),
        expected(&[("istio-secret-type-invisible", Warn)])
    );
}

#[test]
fn unusable_backend_client_certificates_fall_under_the_backend_rule() {
    let (expired_crt, expired_key) = certificate((2020, 1, 1), (2025, 6, 1));
    let (future_crt, future_key) = certificate((2027, 1, 1), (2040, 1, 1));
    let (crt, _) = good_certificate();
    let (_, other_key) = good_certificate();

    let cases = [
        ("expired", expired_crt.as_str(), expired_key.as_str()),
        ("not yet valid", &future_crt, &future_key),
        ("key mismatch", &crt, &other_key),
        ("malformed", "not a certificate", &other_key),
    ];
    for (shows, crt, key) in cases {
        let findings = backend_findings(GA, "kubernetes.io/tls", crt, key);
        assert_eq!(
            outcome(&findings),
            expected(&[("backend-client-cert-malformed", Warn)]),
            "{shows}"
        );
    }
}

#[test]
fn listener_certificate_problems_keep_their_own_rules() {
    let (crt, key) = certificate((2020, 1, 1), (2025, 6, 1));
    let mut world = World::new();
    add_key_pair(&mut world, "gw", "cert", "kubernetes.io/tls", &(crt, key));
    let gateway = same_namespace_gateway();

    let findings = review_gateway(&world, &config(GA), &gateway);
    assert_eq!(outcome(&findings), expected(&[("cert-expired", Warn)]));
}

/// A Gateway `gw/main` with an HTTPS listener on 443 and a perPort entry for 8443.
fn per_port_gateway() -> Value {
    let listeners = json!([https("https", json!([secret_ref(None, "cert")]), json!({}))]);
    let validation =
        json!({"caCertificateRefs": [{"group": "", "kind": "ConfigMap", "name": "ca"}]});
    let frontend = json!({"perPort": [{"port": 8443, "tls": {"validation": validation}}]});
    gateway_json(listeners, json!({"tls": {"frontend": frontend}}))
}

/// A ListenerSet `team/extra` with an HTTPS listener on 8443, attached to `parent` in "gw".
fn listener_set_on_8443(parent: &str) -> Value {
    let mut listener = https("extra", json!([secret_ref(None, "cert")]), json!({}));
    listener["port"] = json!(8443);
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "ListenerSet",
        "metadata": {"namespace": "team", "name": "extra"},
        "spec": {"parentRef": {"name": parent, "namespace": "gw"}, "listeners": [listener]}
    })
}

fn per_port_rules(world: &World) -> Vec<(String, Severity)> {
    outcome(&review_gateway(world, &config(GA), &per_port_gateway()))
}

#[test]
fn a_per_port_entry_is_served_by_the_listener_sets_attached_to_the_gateway() {
    let unmatched = expected(&[("frontend-per-port-unmatched", Warn)]);
    let mut world = World::new();
    add_tls(&mut world, "gw", "cert");
    add_ca_config_map(&mut world, "gw", "ca");
    assert_eq!(per_port_rules(&world), unmatched);

    world.upsert_listener_set(listener_set(&listener_set_on_8443("main")));
    assert_eq!(per_port_rules(&world), expected(&[]));

    // Re-parented to another Gateway, it no longer serves this one's port.
    world.upsert_listener_set(listener_set(&listener_set_on_8443("other")));
    assert_eq!(per_port_rules(&world), unmatched);

    world.upsert_listener_set(listener_set(&listener_set_on_8443("main")));
    world.remove_listener_set(&ObjectKey::new("team", "extra"));
    assert_eq!(per_port_rules(&world), unmatched);
}
