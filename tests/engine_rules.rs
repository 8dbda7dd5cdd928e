//! Table-driven tests of every rule: each case builds a world, reviews one Gateway under one
//! profile and compares the exact set of (rule, severity) found. The first column says what
//! the case shows; Istio rules have a case on each side of every version boundary.

mod engine_support;

use engine_support::*;
use refguard::engine::Severity::{Deny, Warn};
use refguard::engine::{Severity, World};
use serde_json::{json, Value};

struct Case {
    shows: &'static str,
    profile: &'static str,
    setup: fn(&mut World),
    gateway: fn() -> Value,
    expect: &'static [(&'static str, Severity)],
}

fn run(cases: &[Case]) {
    let mut failures = Vec::new();
    for case in cases {
        let mut world = World::new();
        (case.setup)(&mut world);
        let findings = review_gateway(&world, &config(case.profile), &(case.gateway)());
        assert_messages_fit(&findings);

        let got = outcome(&findings);
        if got != expected(case.expect) {
            failures.push(format!(
                "{} [{}]: got {got:?}\n  {findings:#?}",
                case.shows, case.profile
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// --- worlds ---

fn nothing(_: &mut World) {}

fn same_ns_cert(world: &mut World) {
    add_tls(world, "gw", "cert");
}

fn app_cert_no_grant(world: &mut World) {
    add_tls(world, "app", "cert");
}

fn app_cert_granted(world: &mut World) {
    add_tls(world, "app", "cert");
    add_secret_grant(world, "app", "gw", None);
}

fn app_cert_granted_by_name(world: &mut World) {
    add_tls(world, "app", "cert");
    add_secret_grant(world, "app", "gw", Some("cert"));
}

fn app_cert_granted_other_name(world: &mut World) {
    add_tls(world, "app", "cert");
    add_secret_grant(world, "app", "gw", Some("other"));
}

fn app_cert_granted_to_listener_sets(world: &mut World) {
    add_tls(world, "app", "cert");
    let from =
        json!([{"group": "gateway.networking.k8s.io", "kind": "ListenerSet", "namespace": "gw"}]);
    let to = json!([{"group": "", "kind": "Secret"}]);
    world.upsert_grant(grant(&grant_json("app", "ls-only", from, to)));
}

fn opaque_cert(world: &mut World) {
    let (crt, key) = good_certificate();
    add_key_pair(world, "gw", "cert", "Opaque", &(crt, key));
}

fn hello_world_cert(world: &mut World) {
    let hello = "Hello world\n";
    add_secret(
        world,
        "gw",
        "cert",
        "kubernetes.io/tls",
        &[("tls.crt", hello), ("tls.key", hello)],
    );
}

fn mismatched_cert(world: &mut World) {
    let (crt, _) = good_certificate();
    let (_, key) = good_certificate();
    add_key_pair(world, "gw", "cert", "kubernetes.io/tls", &(crt, key));
}

fn dated_cert(world: &mut World, from: (i32, u8, u8), until: (i32, u8, u8)) {
    let (crt, key) = certificate(from, until);
    add_key_pair(world, "gw", "cert", "kubernetes.io/tls", &(crt, key));
}

fn expired_cert(world: &mut World) {
    dated_cert(world, (2020, 1, 1), (2025, 6, 1));
}

fn future_cert(world: &mut World) {
    dated_cert(world, (2027, 1, 1), (2030, 1, 1));
}

fn expiring_cert(world: &mut World) {
    dated_cert(world, (2025, 1, 1), (2026, 1, 11));
}

fn expiring_later_cert(world: &mut World) {
    dated_cert(world, (2025, 1, 1), (2026, 2, 10));
}

fn cert_and_ca(world: &mut World) {
    add_tls(world, "gw", "cert");
    add_ca_config_map(world, "gw", "ca");
}

fn cert_and_empty_ca(world: &mut World) {
    add_tls(world, "gw", "cert");
    add_config_map(world, "gw", "ca", &[("other", "x")]);
}

fn cert_and_app_ca(world: &mut World) {
    add_tls(world, "gw", "cert");
    add_ca_config_map(world, "app", "ca");
}

/// The reproduction: a Secret in "app" with tls.crt, tls.key and ca.crt, and a grant for it.
fn mutual_app_cert(world: &mut World) {
    let (crt, key) = good_certificate();
    let (ca, _) = good_certificate();
    let data = [
        ("tls.crt", crt.as_str()),
        ("tls.key", &key),
        ("ca.crt", &ca),
    ];
    add_secret(world, "app", "cert", "Opaque", &data);
    add_secret_grant(world, "app", "gw", Some("cert"));
}

fn mutual_same_ns_cert(world: &mut World) {
    let (crt, key) = good_certificate();
    let (ca, _) = good_certificate();
    let data = [
        ("tls.crt", crt.as_str()),
        ("tls.key", &key),
        ("ca.crt", &ca),
    ];
    add_secret(world, "gw", "cert", "Opaque", &data);
}

fn two_certs(world: &mut World) {
    add_tls(world, "gw", "rsa");
    add_tls(world, "gw", "ecdsa");
}

fn second_cert_only(world: &mut World) {
    add_tls(world, "gw", "ecdsa");
}

fn first_cert_only(world: &mut World) {
    add_tls(world, "gw", "rsa");
}

/// One grant with two Secret entries; the listener needs the first.
fn grant_two_to_entries(world: &mut World) {
    add_tls(world, "app", "cert");
    let from =
        json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "gw"}]);
    let to = json!([
        {"group": "", "kind": "Secret", "name": "cert"},
        {"group": "", "kind": "Secret", "name": "another"}
    ]);
    world.upsert_grant(grant(&grant_json("app", "two", from, to)));
}

fn tls_cert_with_stray_cert_key(world: &mut World) {
    let (crt, key) = good_certificate();
    add_secret(
        world,
        "gw",
        "cert",
        "kubernetes.io/tls",
        &[("tls.crt", &crt), ("tls.key", &key), ("cert", "stray")],
    );
}

fn cert_with_garbage_cacert_and_good_ca_crt(world: &mut World) {
    let (crt, key) = good_certificate();
    add_secret(
        world,
        "gw",
        "cert",
        "kubernetes.io/tls",
        &[
            ("tls.crt", &crt),
            ("tls.key", &key),
            ("ca.crt", &crt),
            ("cacert", "garbage"),
        ],
    );
}

fn cert_without_ca(world: &mut World) {
    add_tls(world, "gw", "cert");
}

fn cert_with_cacert_secret(world: &mut World) {
    add_tls(world, "gw", "cert");
    let (ca, _) = good_certificate();
    add_secret(world, "gw", "cert-cacert", "Opaque", &[("cacert", &ca)]);
}

fn app_cert_without_ca_named_grant(world: &mut World) {
    add_tls(world, "app", "cert");
    add_secret_grant(world, "app", "gw", Some("cert"));
}

fn app_ca_named_grant(world: &mut World) {
    add_tls(world, "gw", "cert");
    add_ca_config_map(world, "app", "ca");
    let from =
        json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "gw"}]);
    let to = json!([{"group": "", "kind": "ConfigMap", "name": "ca"}]);
    world.upsert_grant(grant(&grant_json("app", "ca", from, to)));
}

fn app_ca_open_grant(world: &mut World) {
    app_ca_named_grant(world);
    add_secret_grant(world, "app", "gw", None);
}

fn app_ca_secret_same_ns(world: &mut World) {
    add_tls(world, "gw", "cert");
    let (ca, _) = good_certificate();
    add_secret(world, "gw", "ca", "Opaque", &[("ca.crt", &ca)]);
}

fn helm_secret(world: &mut World) {
    let (crt, key) = good_certificate();
    add_key_pair(world, "gw", "cert", "helm.sh/release.v1", &(crt, key));
}

/// Istio reads cert/key before tls.crt/tls.key: here cert/key are broken, tls.* are fine.
fn broken_istio_keys(world: &mut World) {
    let (crt, key) = good_certificate();
    let data = [
        ("tls.crt", crt.as_str()),
        ("tls.key", &key),
        ("cert", "junk"),
        ("key", "junk"),
    ];
    add_secret(world, "gw", "cert", "kubernetes.io/tls", &data);
}

// --- gateways ---

fn one_ref(namespace: Option<&str>, options: Value) -> Value {
    gateway_json(
        json!([https(
            "https",
            json!([secret_ref(namespace, "cert")]),
            options
        )]),
        json!({}),
    )
}

fn same_ns() -> Value {
    one_ref(None, json!({}))
}

fn cross_ns() -> Value {
    one_ref(Some("app"), json!({}))
}

fn config_map_ref() -> Value {
    let refs = json!([{"group": "", "kind": "ConfigMap", "name": "cert"}]);
    gateway_json(json!([https("https", refs, json!({}))]), json!({}))
}

fn foreign_group_ref() -> Value {
    let refs = json!([{"group": "example.com", "kind": "Secret", "name": "cert"}]);
    gateway_json(json!([https("https", refs, json!({}))]), json!({}))
}

fn passthrough() -> Value {
    let listener = json!({
        "name": "tls", "port": 443, "protocol": "TLS",
        "tls": {"mode": "Passthrough", "certificateRefs": [secret_ref(None, "cert")]}
    });
    gateway_json(json!([listener]), json!({}))
}

fn unprefixed_option() -> Value {
    one_ref(None, json!({"minVersion": "1.2"}))
}

fn with_frontend(frontend: Value) -> Value {
    let listeners = json!([https("https", json!([secret_ref(None, "cert")]), json!({}))]);
    gateway_json(listeners, json!({"tls": {"frontend": frontend}}))
}

fn ca(kind: &str, namespace: Option<&str>) -> Value {
    let mut reference = json!({"group": "", "kind": kind, "name": "ca"});
    if let Some(namespace) = namespace {
        reference["namespace"] = json!(namespace);
    }
    reference
}

fn frontend_default_ca() -> Value {
    with_frontend(
        json!({"default": {"validation": {"caCertificateRefs": [ca("ConfigMap", None)]}}}),
    )
}

fn frontend_cross_ns_ca() -> Value {
    with_frontend(
        json!({"default": {"validation": {"caCertificateRefs": [ca("ConfigMap", Some("app"))]}}}),
    )
}

fn frontend_service_ca() -> Value {
    with_frontend(json!({"default": {"validation": {"caCertificateRefs": [ca("Service", None)]}}}))
}

fn frontend_secret_ca() -> Value {
    with_frontend(json!({"default": {"validation": {"caCertificateRefs": [ca("Secret", None)]}}}))
}

fn frontend_insecure() -> Value {
    with_frontend(json!({"default": {"validation": {
        "caCertificateRefs": [ca("ConfigMap", None)], "mode": "AllowInsecureFallback"}}}))
}

fn frontend_unmatched_port() -> Value {
    with_frontend(json!({
        "default": {"validation": {"caCertificateRefs": [ca("ConfigMap", None)]}},
        "perPort": [{"port": 8443, "tls": {"validation": {"caCertificateRefs": [ca("ConfigMap", None)]}}}]
    }))
}

fn frontend_matched_port() -> Value {
    with_frontend(json!({
        "perPort": [{"port": 443, "tls": {"validation": {"caCertificateRefs": [ca("ConfigMap", None)]}}}]
    }))
}

fn listener_frontend_validation() -> Value {
    let mut listener = https("https", json!([secret_ref(None, "cert")]), json!({}));
    listener["tls"]["frontendValidation"] = json!({"caCertificateRefs": [ca("ConfigMap", None)]});
    gateway_json(json!([listener]), json!({}))
}

fn backend(field: &str, reference: Value) -> Value {
    let listeners = json!([https("https", json!([secret_ref(None, "cert")]), json!({}))]);
    let extra = match field {
        "backendTLS" => json!({"backendTLS": {"clientCertificateRef": reference}}),
        _ => json!({"tls": {"backend": {"clientCertificateRef": reference}}}),
    };
    gateway_json(listeners, extra)
}

fn backend_cross_ns() -> Value {
    backend("tls", json!({"name": "client", "namespace": "app"}))
}

fn backend_wrong_kind() -> Value {
    backend(
        "tls",
        json!({"group": "", "kind": "ConfigMap", "name": "client"}),
    )
}

fn backend_missing() -> Value {
    backend("tls", json!({"name": "client"}))
}

fn backend_v12_missing() -> Value {
    backend("backendTLS", json!({"name": "client"}))
}

fn backend_malformed() -> Value {
    backend("tls", json!({"name": "cert"}))
}

fn mode(value: &str) -> Value {
    json!({"gateway.istio.io/tls-terminate-mode": value})
}

fn mutual_cross_ns() -> Value {
    one_ref(Some("app"), mode("MUTUAL"))
}

fn mutual_same_ns() -> Value {
    one_ref(None, mode("MUTUAL"))
}

fn optional_mutual() -> Value {
    one_ref(None, mode("OPTIONAL_MUTUAL"))
}

fn optional_mutual_with_frontend() -> Value {
    let listeners = json!([https(
        "https",
        json!([secret_ref(None, "cert")]),
        mode("OPTIONAL_MUTUAL")
    )]);
    let frontend =
        json!({"default": {"validation": {"caCertificateRefs": [ca("ConfigMap", None)]}}});
    gateway_json(listeners, json!({"tls": {"frontend": frontend}}))
}

fn two_refs() -> Value {
    let refs = json!([secret_ref(None, "rsa"), secret_ref(None, "ecdsa")]);
    gateway_json(json!([https("https", refs, json!({}))]), json!({}))
}

fn three_refs() -> Value {
    let refs = json!([
        secret_ref(None, "rsa"),
        secret_ref(None, "ecdsa"),
        secret_ref(None, "rsa")
    ]);
    gateway_json(json!([https("https", refs, json!({}))]), json!({}))
}

fn lower_case_mode() -> Value {
    one_ref(None, mode("mutual"))
}

fn cipher_suites() -> Value {
    one_ref(
        None,
        json!({"gateway.istio.io/tls-cipher-suites": "ECDHE-ECDSA-AES128-GCM-SHA256"}),
    )
}

fn foreign_option() -> Value {
    one_ref(None, json!({"example.com/tuning": "on"}))
}

fn no_refs_mutual() -> Value {
    gateway_json(
        json!([https("https", json!([]), mode("MUTUAL"))]),
        json!({}),
    )
}

fn istio_simple_with_refs() -> Value {
    one_ref(None, mode("ISTIO_SIMPLE"))
}

const GA: &str = "gateway-api";

#[test]
fn listener_certificate_refs() {
    run(&[
        Case {
            shows: "same-namespace valid Secret passes",
            profile: GA,
            setup: same_ns_cert,
            gateway: same_ns,
            expect: &[],
        },
        Case {
            shows: "cross-namespace without grant is denied",
            profile: GA,
            setup: app_cert_no_grant,
            gateway: cross_ns,
            expect: &[("cert-ref-not-permitted", Deny)],
        },
        Case {
            shows: "grant for all Secrets permits",
            profile: GA,
            setup: app_cert_granted,
            gateway: cross_ns,
            expect: &[],
        },
        Case {
            shows: "grant naming the Secret permits",
            profile: GA,
            setup: app_cert_granted_by_name,
            gateway: cross_ns,
            expect: &[],
        },
        Case {
            shows: "grant naming another Secret does not",
            profile: GA,
            setup: app_cert_granted_other_name,
            gateway: cross_ns,
            expect: &[("cert-ref-not-permitted", Deny)],
        },
        Case {
            shows: "grant for ListenerSets does not cover Gateways",
            profile: GA,
            setup: app_cert_granted_to_listener_sets,
            gateway: cross_ns,
            expect: &[("cert-ref-not-permitted", Deny)],
        },
        Case {
            shows: "ConfigMap certificateRef is unsupported",
            profile: GA,
            setup: nothing,
            gateway: config_map_ref,
            expect: &[("cert-ref-unsupported-kind", Deny)],
        },
        Case {
            shows: "foreign group is unsupported",
            profile: GA,
            setup: nothing,
            gateway: foreign_group_ref,
            expect: &[("cert-ref-unsupported-kind", Deny)],
        },
        Case {
            shows: "missing Secret only warns",
            profile: GA,
            setup: nothing,
            gateway: same_ns,
            expect: &[("cert-secret-missing", Warn)],
        },
        Case {
            shows: "missing Secret across a grant warns",
            profile: GA,
            setup: |w| add_secret_grant(w, "app", "gw", None),
            gateway: cross_ns,
            expect: &[("cert-secret-missing", Warn)],
        },
        Case {
            shows: "Opaque Secret is outside core support",
            profile: GA,
            setup: opaque_cert,
            gateway: same_ns,
            expect: &[("cert-secret-type", Warn)],
        },
        Case {
            shows: "Istio reads Opaque Secrets",
            profile: "istio@1.26.0",
            setup: opaque_cert,
            gateway: same_ns,
            expect: &[],
        },
        Case {
            shows: "Istio reads cert/key only when both are set, else tls.crt/tls.key",
            profile: "istio@1.26.0",
            setup: tls_cert_with_stray_cert_key,
            gateway: same_ns,
            expect: &[],
        },
        Case {
            shows: "conformance's Hello world data",
            profile: GA,
            setup: hello_world_cert,
            gateway: same_ns,
            expect: &[("cert-data-malformed", Warn), ("cert-data-malformed", Warn)],
        },
        Case {
            shows: "key of another certificate",
            profile: GA,
            setup: mismatched_cert,
            gateway: same_ns,
            expect: &[("cert-key-mismatch", Warn)],
        },
        Case {
            shows: "expired certificate",
            profile: GA,
            setup: expired_cert,
            gateway: same_ns,
            expect: &[("cert-expired", Warn)],
        },
        Case {
            shows: "not yet valid certificate",
            profile: GA,
            setup: future_cert,
            gateway: same_ns,
            expect: &[("cert-not-yet-valid", Warn)],
        },
        Case {
            shows: "expires in 10 days (< 30)",
            profile: GA,
            setup: expiring_cert,
            gateway: same_ns,
            expect: &[("cert-expiring", Warn)],
        },
        Case {
            shows: "expires in 40 days (>= 30)",
            profile: GA,
            setup: expiring_later_cert,
            gateway: same_ns,
            expect: &[],
        },
        Case {
            shows: "Passthrough with certificateRefs",
            profile: GA,
            setup: same_ns_cert,
            gateway: passthrough,
            expect: &[("passthrough-certificate-refs-ignored", Warn)],
        },
        Case {
            shows: "un-prefixed option key is reserved",
            profile: GA,
            setup: same_ns_cert,
            gateway: unprefixed_option,
            expect: &[("tls-option-reserved-key", Deny)],
        },
        Case {
            shows: "domain-prefixed option passes the spec",
            profile: GA,
            setup: same_ns_cert,
            gateway: foreign_option,
            expect: &[],
        },
    ]);
}

#[test]
fn frontend_validation() {
    run(&[
        Case {
            shows: "default CA ConfigMap in own namespace",
            profile: GA,
            setup: cert_and_ca,
            gateway: frontend_default_ca,
            expect: &[],
        },
        Case {
            shows: "cross-namespace CA without grant",
            profile: GA,
            setup: cert_and_app_ca,
            gateway: frontend_cross_ns_ca,
            expect: &[("frontend-ca-ref-not-permitted", Deny)],
        },
        Case {
            shows: "CA of kind Service",
            profile: GA,
            setup: cert_and_ca,
            gateway: frontend_service_ca,
            expect: &[("frontend-ca-ref-invalid-kind", Deny)],
        },
        Case {
            shows: "CA Secret is accepted by the spec profile",
            profile: GA,
            setup: app_ca_secret_same_ns,
            gateway: frontend_secret_ca,
            expect: &[],
        },
        Case {
            shows: "missing CA ConfigMap",
            profile: GA,
            setup: same_ns_cert,
            gateway: frontend_default_ca,
            expect: &[("frontend-ca-missing", Warn)],
        },
        Case {
            shows: "CA ConfigMap without ca.crt",
            profile: GA,
            setup: cert_and_empty_ca,
            gateway: frontend_default_ca,
            expect: &[("frontend-ca-malformed", Warn)],
        },
        Case {
            shows: "AllowInsecureFallback",
            profile: GA,
            setup: cert_and_ca,
            gateway: frontend_insecure,
            expect: &[("frontend-insecure-fallback", Warn)],
        },
        Case {
            shows: "perPort entry matching no HTTPS listener",
            profile: GA,
            setup: cert_and_ca,
            gateway: frontend_unmatched_port,
            expect: &[("frontend-per-port-unmatched", Warn)],
        },
        Case {
            shows: "perPort entry on the HTTPS port",
            profile: GA,
            setup: cert_and_ca,
            gateway: frontend_matched_port,
            expect: &[],
        },
        Case {
            shows: "listener frontendValidation refs are checked",
            profile: GA,
            setup: same_ns_cert,
            gateway: listener_frontend_validation,
            expect: &[("frontend-ca-missing", Warn)],
        },
    ]);
}

#[test]
fn backend_client_certificate() {
    run(&[
        Case {
            shows: "cross-namespace client cert without grant",
            profile: GA,
            setup: same_ns_cert,
            gateway: backend_cross_ns,
            expect: &[("backend-client-cert-not-permitted", Deny)],
        },
        Case {
            shows: "client cert of kind ConfigMap",
            profile: GA,
            setup: same_ns_cert,
            gateway: backend_wrong_kind,
            expect: &[("backend-client-cert-unsupported-kind", Deny)],
        },
        Case {
            shows: "client cert Secret missing",
            profile: GA,
            setup: same_ns_cert,
            gateway: backend_missing,
            expect: &[("backend-client-cert-missing", Warn)],
        },
        Case {
            shows: "v1.2-1.3 spec.backendTLS is read too",
            profile: GA,
            setup: same_ns_cert,
            gateway: backend_v12_missing,
            expect: &[("backend-client-cert-missing", Warn)],
        },
        Case {
            shows: "malformed client cert",
            profile: GA,
            setup: hello_world_cert,
            gateway: backend_malformed,
            expect: &[
                ("backend-client-cert-malformed", Warn),
                ("backend-client-cert-malformed", Warn),
                ("cert-data-malformed", Warn),
                ("cert-data-malformed", Warn),
            ],
        },
    ]);
}

#[test]
fn istio_mutual_cross_namespace() {
    run(&[
        Case {
            shows: "1.15.9 does not know MUTUAL",
            profile: "istio@1.15.9",
            setup: mutual_app_cert,
            gateway: mutual_cross_ns,
            expect: &[("istio-terminate-mode-invalid", Deny)],
        },
        Case {
            shows: "1.16.0 first affected",
            profile: "istio@1.16.0",
            setup: mutual_app_cert,
            gateway: mutual_cross_ns,
            expect: &[("istio-mutual-cross-namespace", Deny)],
        },
        Case {
            shows: "1.25.5 last affected",
            profile: "istio@1.25.5",
            setup: mutual_app_cert,
            gateway: mutual_cross_ns,
            expect: &[("istio-mutual-cross-namespace", Deny)],
        },
        Case {
            shows: "1.26.0 fixed",
            profile: "istio@1.26.0",
            setup: mutual_app_cert,
            gateway: mutual_cross_ns,
            expect: &[],
        },
        Case {
            shows: "moving the Secret fixes 1.25",
            profile: "istio@1.25.0",
            setup: mutual_same_ns_cert,
            gateway: mutual_same_ns,
            expect: &[],
        },
        Case {
            shows: "spec profile has no Istio bug",
            profile: GA,
            setup: mutual_app_cert,
            gateway: mutual_cross_ns,
            expect: &[("cert-secret-type", Warn)],
        },
        Case {
            shows: "without a grant only the grant is named",
            profile: "istio@1.25.0",
            setup: app_cert_no_grant,
            gateway: mutual_cross_ns,
            expect: &[("cert-ref-not-permitted", Deny)],
        },
    ]);
}

#[test]
fn istio_optional_mutual_and_frontend() {
    run(&[
        Case {
            shows: "1.26.9 does not know OPTIONAL_MUTUAL",
            profile: "istio@1.26.9",
            setup: mutual_same_ns_cert,
            gateway: optional_mutual,
            expect: &[("istio-terminate-mode-invalid", Deny)],
        },
        Case {
            shows: "1.27.0 OPTIONAL_MUTUAL without frontend CA",
            profile: "istio@1.27.0",
            setup: mutual_same_ns_cert,
            gateway: optional_mutual,
            expect: &[("istio-optional-mutual-without-frontend-ca", Deny)],
        },
        Case {
            shows: "1.31.9 still affected",
            profile: "istio@1.31.9",
            setup: mutual_same_ns_cert,
            gateway: optional_mutual,
            expect: &[("istio-optional-mutual-without-frontend-ca", Deny)],
        },
        Case {
            shows: "no release with the fix is known: still reported on 1.32.0",
            profile: "istio@1.32.0",
            setup: mutual_same_ns_cert,
            gateway: optional_mutual,
            expect: &[("istio-optional-mutual-without-frontend-ca", Deny)],
        },
        Case {
            shows: "1.28 with a frontend CA",
            profile: "istio@1.28.0",
            setup: cert_and_ca,
            gateway: optional_mutual_with_frontend,
            expect: &[],
        },
        Case {
            shows: "1.27 ignores the frontend CA",
            profile: "istio@1.27.9",
            setup: cert_and_ca,
            gateway: optional_mutual_with_frontend,
            expect: &[
                ("istio-frontend-tls-ignored", Warn),
                ("istio-mutual-without-ca", Warn),
                ("istio-optional-mutual-without-frontend-ca", Deny),
            ],
        },
        Case {
            shows: "1.27.9 ignores spec.tls.frontend",
            profile: "istio@1.27.9",
            setup: cert_and_ca,
            gateway: frontend_default_ca,
            expect: &[("istio-frontend-tls-ignored", Warn)],
        },
        Case {
            shows: "1.28.0 reads spec.tls.frontend",
            profile: "istio@1.28.0",
            setup: cert_and_ca,
            gateway: frontend_default_ca,
            expect: &[],
        },
        Case {
            shows: "1.27.9: whole frontend ignored",
            profile: "istio@1.27.9",
            setup: app_ca_secret_same_ns,
            gateway: frontend_secret_ca,
            expect: &[("istio-frontend-tls-ignored", Warn)],
        },
        Case {
            shows: "1.28.0 denies CA Secrets",
            profile: "istio@1.28.0",
            setup: app_ca_secret_same_ns,
            gateway: frontend_secret_ca,
            expect: &[("istio-frontend-ca-secret-kind", Deny)],
        },
        Case {
            shows: "1.30.3 still denies CA Secrets",
            profile: "istio@1.30.3",
            setup: app_ca_secret_same_ns,
            gateway: frontend_secret_ca,
            expect: &[("istio-frontend-ca-secret-kind", Deny)],
        },
        Case {
            shows: "1.30.4 reads CA Secrets",
            profile: "istio@1.30.4",
            setup: app_ca_secret_same_ns,
            gateway: frontend_secret_ca,
            expect: &[],
        },
        Case {
            shows: "1.27.9 insecure fallback",
            profile: "istio@1.27.9",
            setup: cert_and_ca,
            gateway: frontend_insecure,
            expect: &[
                ("frontend-insecure-fallback", Warn),
                ("istio-frontend-tls-ignored", Warn),
            ],
        },
        Case {
            shows: "1.30.9 ignores AllowInsecureFallback",
            profile: "istio@1.30.9",
            setup: cert_and_ca,
            gateway: frontend_insecure,
            expect: &[
                ("frontend-insecure-fallback", Warn),
                ("istio-insecure-fallback-ignored", Warn),
            ],
        },
        Case {
            shows: "1.31.0 honours AllowInsecureFallback",
            profile: "istio@1.31.0",
            setup: cert_and_ca,
            gateway: frontend_insecure,
            expect: &[("frontend-insecure-fallback", Warn)],
        },
        Case {
            shows: "1.27.9 cross-namespace CA: frontend ignored",
            profile: "istio@1.27.9",
            setup: app_ca_named_grant,
            gateway: frontend_cross_ns_ca,
            expect: &[("istio-frontend-tls-ignored", Warn)],
        },
        Case {
            shows: "1.28.0 cross-namespace CA with a named grant",
            profile: "istio@1.28.0",
            setup: app_ca_named_grant,
            gateway: frontend_cross_ns_ca,
            expect: &[("istio-frontend-ca-cross-namespace", Deny)],
        },
        Case {
            shows: "1.28.0 with an unnamed Secret grant too",
            profile: "istio@1.28.0",
            setup: app_ca_open_grant,
            gateway: frontend_cross_ns_ca,
            expect: &[],
        },
        Case {
            shows: "spec profile: named grant suffices",
            profile: GA,
            setup: app_ca_named_grant,
            gateway: frontend_cross_ns_ca,
            expect: &[],
        },
        Case {
            shows: "listener frontendValidation is ignored",
            profile: "istio@1.30.0",
            setup: cert_and_ca,
            gateway: listener_frontend_validation,
            expect: &[("istio-listener-frontend-validation-ignored", Warn)],
        },
    ]);
}

#[test]
fn istio_certificate_ref_counts() {
    run(&[
        Case {
            shows: "1.26.9 serves exactly one ref",
            profile: "istio@1.26.9",
            setup: two_certs,
            gateway: two_refs,
            expect: &[("istio-multiple-certificate-refs", Deny)],
        },
        Case {
            shows: "1.27.0 two valid refs broken",
            profile: "istio@1.27.0",
            setup: two_certs,
            gateway: two_refs,
            expect: &[("istio-two-certificate-refs", Deny)],
        },
        Case {
            shows: "1.27.9 last broken 1.27",
            profile: "istio@1.27.9",
            setup: two_certs,
            gateway: two_refs,
            expect: &[("istio-two-certificate-refs", Deny)],
        },
        Case {
            shows: "1.27.10 fixed",
            profile: "istio@1.27.10",
            setup: two_certs,
            gateway: two_refs,
            expect: &[],
        },
        Case {
            shows: "1.28.5 broken",
            profile: "istio@1.28.5",
            setup: two_certs,
            gateway: two_refs,
            expect: &[("istio-two-certificate-refs", Deny)],
        },
        Case {
            shows: "1.28.6 fixed",
            profile: "istio@1.28.6",
            setup: two_certs,
            gateway: two_refs,
            expect: &[],
        },
        Case {
            shows: "1.29.0 broken",
            profile: "istio@1.29.0",
            setup: two_certs,
            gateway: two_refs,
            expect: &[("istio-two-certificate-refs", Deny)],
        },
        Case {
            shows: "1.29.1 fixed",
            profile: "istio@1.29.1",
            setup: two_certs,
            gateway: two_refs,
            expect: &[],
        },
        Case {
            shows: "1.30.0 first ref missing",
            profile: "istio@1.30.0",
            setup: second_cert_only,
            gateway: two_refs,
            expect: &[
                ("cert-secret-missing", Warn),
                ("istio-first-certificate-ref-unusable", Warn),
            ],
        },
        Case {
            shows: "1.26.9 first ref missing: one ref only",
            profile: "istio@1.26.9",
            setup: second_cert_only,
            gateway: two_refs,
            expect: &[
                ("cert-secret-missing", Warn),
                ("istio-multiple-certificate-refs", Deny),
            ],
        },
        Case {
            shows: "1.30.0 second ref missing",
            profile: "istio@1.30.0",
            setup: first_cert_only,
            gateway: two_refs,
            expect: &[
                ("cert-secret-missing", Warn),
                ("istio-second-certificate-ref-dropped", Warn),
            ],
        },
        Case {
            shows: "1.30.0 three refs",
            profile: "istio@1.30.0",
            setup: two_certs,
            gateway: three_refs,
            expect: &[("istio-too-many-certificate-refs", Deny)],
        },
        Case {
            shows: "spec profile: two refs are fine",
            profile: GA,
            setup: two_certs,
            gateway: two_refs,
            expect: &[],
        },
    ]);
}

#[test]
fn istio_grants_and_secrets() {
    run(&[
        Case {
            shows: "1.25.9 ORs to entries",
            profile: "istio@1.25.9",
            setup: grant_two_to_entries,
            gateway: cross_ns,
            expect: &[],
        },
        Case {
            shows: "1.26.0 honours only the last entry",
            profile: "istio@1.26.0",
            setup: grant_two_to_entries,
            gateway: cross_ns,
            expect: &[("istio-grant-to-entry-ignored", Deny)],
        },
        Case {
            shows: "1.29.9 still",
            profile: "istio@1.29.9",
            setup: grant_two_to_entries,
            gateway: cross_ns,
            expect: &[("istio-grant-to-entry-ignored", Deny)],
        },
        Case {
            shows: "1.30.0 fixed",
            profile: "istio@1.30.0",
            setup: grant_two_to_entries,
            gateway: cross_ns,
            expect: &[],
        },
        Case {
            shows: "MUTUAL with no CA anywhere",
            profile: "istio@1.30.0",
            setup: cert_without_ca,
            gateway: mutual_same_ns,
            expect: &[("istio-mutual-without-ca", Warn)],
        },
        Case {
            shows: "MUTUAL: Istio takes a non-empty cacert over ca.crt, even unparseable",
            profile: "istio@1.30.0",
            setup: cert_with_garbage_cacert_and_good_ca_crt,
            gateway: mutual_same_ns,
            expect: &[("istio-mutual-without-ca", Warn)],
        },
        Case {
            shows: "MUTUAL with a <name>-cacert Secret",
            profile: "istio@1.30.0",
            setup: cert_with_cacert_secret,
            gateway: mutual_same_ns,
            expect: &[],
        },
        Case {
            shows: "no CA, -cacert not readable: stay silent",
            profile: "istio@1.26.0",
            setup: app_cert_without_ca_named_grant,
            gateway: mutual_cross_ns,
            expect: &[],
        },
        Case {
            shows: "lower-case terminate mode",
            profile: "istio@1.30.0",
            setup: same_ns_cert,
            gateway: lower_case_mode,
            expect: &[("istio-terminate-mode-invalid", Deny)],
        },
        Case {
            shows: "1.28.9 ignores cipher suites",
            profile: "istio@1.28.9",
            setup: same_ns_cert,
            gateway: cipher_suites,
            expect: &[("istio-option-ignored", Warn)],
        },
        Case {
            shows: "1.29.0 reads cipher suites",
            profile: "istio@1.29.0",
            setup: same_ns_cert,
            gateway: cipher_suites,
            expect: &[],
        },
        Case {
            shows: "foreign option key is ignored by Istio",
            profile: "istio@1.30.0",
            setup: same_ns_cert,
            gateway: foreign_option,
            expect: &[("istio-option-ignored", Warn)],
        },
        Case {
            shows: "1.26.9 no certificateRefs is invalid",
            profile: "istio@1.26.9",
            setup: nothing,
            gateway: no_refs_mutual,
            expect: &[("istio-no-certificate-refs", Deny)],
        },
        Case {
            shows: "1.27.0 serves the workload cert",
            profile: "istio@1.27.0",
            setup: nothing,
            gateway: no_refs_mutual,
            expect: &[("istio-no-certificate-refs-workload-cert", Deny)],
        },
        Case {
            shows: "ISTIO_SIMPLE ignores refs",
            profile: "istio@1.26.0",
            setup: same_ns_cert,
            gateway: istio_simple_with_refs,
            expect: &[("istio-certificate-refs-ignored", Warn)],
        },
        Case {
            shows: "helm Secrets are invisible",
            profile: "istio@1.26.0",
            setup: helm_secret,
            gateway: same_ns,
            expect: &[("istio-secret-type-invisible", Warn)],
        },
        Case {
            shows: "Istio reads cert/key first",
            profile: "istio@1.26.0",
            setup: broken_istio_keys,
            gateway: same_ns,
            expect: &[("cert-data-malformed", Warn), ("cert-data-malformed", Warn)],
        },
        Case {
            shows: "the spec reads tls.crt/tls.key",
            profile: GA,
            setup: broken_istio_keys,
            gateway: same_ns,
            expect: &[],
        },
    ]);
}
