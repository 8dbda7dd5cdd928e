//! Builders shared by the engine test suites: objects as JSON (as the API server sends them),
//! a World filled through the same model parsers and `pki` the front ends use, and generated
//! certificates.
#![allow(dead_code)]

use rcgen::{date_time_ymd, CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use refguard::engine::{review, Change, Context, Finding, RulesConfig, Severity, World};
use refguard::model::{Gateway, Kind, ListenerSet, ObjectKey, ReferenceGrant};
use refguard::pki;
use serde_json::{json, Value};

/// The clock every case runs at: 2026-01-01T00:00:00Z.
pub const NOW: i64 = 1_767_225_600;

/// A certificate with its PKCS#8 key, valid between the two dates (year, month, day).
pub fn certificate(from: (i32, u8, u8), until: (i32, u8, u8)) -> (String, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("ring generates P-256");
    let mut params = CertificateParams::new(vec!["app.example.test".into()]).expect("valid SAN");
    params.not_before = date_time_ymd(from.0, from.1, from.2);
    params.not_after = date_time_ymd(until.0, until.1, until.2);
    let cert = params.self_signed(&key).expect("self-signed");
    (cert.pem(), key.serialize_pem())
}

/// A certificate valid from 2020 to 2040.
pub fn good_certificate() -> (String, String) {
    certificate((2020, 1, 1), (2040, 1, 1))
}

/// Adds a Secret with the given type and data, through `pki` as the front ends do.
pub fn add_secret(
    world: &mut World,
    namespace: &str,
    name: &str,
    kind: &str,
    data: &[(&str, &str)],
) {
    let facts = pki::secret_facts(kind, data.iter().map(|(k, v)| (*k, v.as_bytes())));
    world.upsert_secret(ObjectKey::new(namespace, name), facts);
}

/// Adds a Secret of `secret_type` holding `pair` (certificate, key) as `tls.crt`/`tls.key`.
pub fn add_key_pair(
    world: &mut World,
    namespace: &str,
    name: &str,
    secret_type: &str,
    (crt, key): &(String, String),
) {
    add_secret(
        world,
        namespace,
        name,
        secret_type,
        &[("tls.crt", crt), ("tls.key", key)],
    );
}

/// Adds a valid `kubernetes.io/tls` Secret.
pub fn add_tls(world: &mut World, namespace: &str, name: &str) {
    add_key_pair(
        world,
        namespace,
        name,
        "kubernetes.io/tls",
        &good_certificate(),
    );
}

/// Gateway `gw/main` with one HTTPS listener `https` reading Secret `cert` of its namespace.
pub fn same_namespace_gateway() -> Value {
    gateway_json(
        json!([https("https", json!([secret_ref(None, "cert")]), json!({}))]),
        json!({}),
    )
}

pub fn add_config_map(world: &mut World, namespace: &str, name: &str, data: &[(&str, &str)]) {
    let facts = pki::config_map_facts(data.iter().copied());
    world.upsert_config_map(ObjectKey::new(namespace, name), facts);
}

/// A CA ConfigMap with one good certificate under `ca.crt`.
pub fn add_ca_config_map(world: &mut World, namespace: &str, name: &str) {
    let (crt, _) = good_certificate();
    add_config_map(world, namespace, name, &[("ca.crt", &crt)]);
}

pub fn grant_json(namespace: &str, name: &str, from: Value, to: Value) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1beta1",
        "kind": "ReferenceGrant",
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"from": from, "to": to}
    })
}

pub fn grant(value: &Value) -> ReferenceGrant {
    ReferenceGrant::from_value(value, "default").expect("test grant parses")
}

/// A grant in `namespace` letting Gateways of `from_namespace` read Secrets (all, or `name`).
pub fn add_secret_grant(
    world: &mut World,
    namespace: &str,
    from_namespace: &str,
    name: Option<&str>,
) {
    let to = match name {
        Some(name) => json!([{"group": "", "kind": "Secret", "name": name}]),
        None => json!([{"group": "", "kind": "Secret"}]),
    };
    let from = json!([{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": from_namespace}]);
    world.upsert_grant(grant(&grant_json(namespace, "allow-gateways", from, to)));
}

/// A Gateway `gw/main` with the given listeners and extra spec fields.
pub fn gateway_json(listeners: Value, extra_spec: Value) -> Value {
    let mut spec = json!({"gatewayClassName": "test", "listeners": listeners});
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        spec.extend(extra.clone());
    }
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"namespace": "gw", "name": "main"},
        "spec": spec
    })
}

pub fn gateway(value: &Value) -> Gateway {
    Gateway::from_value(value, "default").expect("test gateway parses")
}

pub fn listener_set(value: &Value) -> ListenerSet {
    let kind = value["kind"].as_str().unwrap_or_default();
    let kind = if kind == "XListenerSet" {
        Kind::XListenerSet
    } else {
        Kind::ListenerSet
    };
    ListenerSet::from_value(value, kind, "default").expect("test listener set parses")
}

/// An HTTPS listener on port 443 with the given certificateRefs and options.
pub fn https(name: &str, refs: Value, options: Value) -> Value {
    json!({
        "name": name, "port": 443, "protocol": "HTTPS",
        "tls": {"mode": "Terminate", "certificateRefs": refs, "options": options}
    })
}

/// A certificateRef to Secret `name`, in `namespace` when given.
pub fn secret_ref(namespace: Option<&str>, name: &str) -> Value {
    match namespace {
        Some(namespace) => {
            json!({"group": "", "kind": "Secret", "name": name, "namespace": namespace})
        }
        None => json!({"group": "", "kind": "Secret", "name": name}),
    }
}

pub fn config(implementation: &str) -> RulesConfig {
    RulesConfig::from_yaml(&format!("implementation: {implementation}\n")).expect("valid config")
}

pub fn review_gateway(world: &World, config: &RulesConfig, value: &Value) -> Vec<Finding> {
    let gateway = gateway(value);
    let context = Context {
        world,
        config,
        now: NOW,
    };
    review(
        &Change::Gateway {
            new: &gateway,
            old: None,
        },
        &context,
    )
}

/// `(rule, severity)` pairs, sorted, for comparing a case's outcome at a glance.
pub fn outcome(findings: &[Finding]) -> Vec<(String, Severity)> {
    let mut pairs: Vec<_> = findings
        .iter()
        .map(|f| (f.rule.to_owned(), f.severity))
        .collect();
    pairs.sort();
    pairs
}

pub fn expected(pairs: &[(&str, Severity)]) -> Vec<(String, Severity)> {
    let mut pairs: Vec<_> = pairs
        .iter()
        .map(|(rule, severity)| ((*rule).to_owned(), *severity))
        .collect();
    pairs.sort();
    pairs
}

/// Every message is one line under 120 characters.
pub fn assert_messages_fit(findings: &[Finding]) {
    for finding in findings {
        assert!(
            finding.message.chars().count() < 120,
            "too long: {}",
            finding.message
        );
        assert!(
            !finding.message.contains('\n'),
            "multi-line: {}",
            finding.message
        );
    }
}
