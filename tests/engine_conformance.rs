//! The Gateway API conformance scenarios of docs (rules.md section 7), rebuilt as manifests in
//! tests/fixtures/conformance/. Each file is the whole world: its Secrets, ConfigMaps and
//! grants are what exists. Every Gateway, ListenerSet and ReferenceGrant in it is reviewed as a
//! CREATE, and the reasons found must match the listener conditions the scenario expects.

use std::path::Path;

use refguard::engine::{review, Change, Context, Reason, RulesConfig, Severity, World};
use refguard::model::{Gateway, Kind, ListenerSet, ObjectKey, ReferenceGrant};
use refguard::pki;
use serde_json::Value;

use Reason::*;
use Severity::{Deny, Warn};

/// The objects of one fixture file, by kind.
#[derive(Default)]
struct Manifests {
    gateways: Vec<Gateway>,
    listener_sets: Vec<ListenerSet>,
    grants: Vec<ReferenceGrant>,
    world: World,
}

fn load(file: &str) -> Manifests {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conformance")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("fixture is readable");
    let documents: Vec<Value> = serde_saphyr::from_multiple(&text).expect("fixture is valid YAML");

    let mut manifests = Manifests::default();
    for document in &documents {
        add(&mut manifests, document);
    }
    for gateway in &manifests.gateways {
        manifests.world.upsert_gateway(gateway.clone());
    }
    for set in &manifests.listener_sets {
        manifests.world.upsert_listener_set(set.clone());
    }
    for grant in &manifests.grants {
        manifests.world.upsert_grant(grant.clone());
    }
    manifests
}

fn add(manifests: &mut Manifests, document: &Value) {
    let api_version = document["apiVersion"].as_str().unwrap_or_default();
    let kind = document["kind"].as_str().unwrap_or_default();
    let key = ObjectKey::new(
        document["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default"),
        document["metadata"]["name"].as_str().unwrap_or_default(),
    );

    match Kind::from_api_version(api_version, kind) {
        Some(Kind::Gateway) => manifests
            .gateways
            .push(Gateway::from_value(document, "default").expect("gateway")),
        Some(kind @ (Kind::ListenerSet | Kind::XListenerSet)) => manifests
            .listener_sets
            .push(ListenerSet::from_value(document, kind, "default").expect("listener set")),
        Some(Kind::ReferenceGrant) => {
            manifests
                .grants
                .push(ReferenceGrant::from_value(document, "default").expect("grant"));
        }
        Some(Kind::Secret) => {
            let data = string_data(document);
            let facts = pki::secret_facts(
                document["type"].as_str().unwrap_or("Opaque"),
                data.iter().map(|(k, v)| (k.as_str(), v.as_bytes())),
            );
            manifests.world.upsert_secret(key, facts);
        }
        Some(Kind::ConfigMap) => {
            let data = string_entries(&document["data"]);
            let facts = pki::config_map_facts(data.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            manifests.world.upsert_config_map(key, facts);
        }
        None => panic!("fixture holds an unexpected kind {kind}"),
    }
}

/// Fixtures write Secret data as `stringData`, as people do in manifests.
fn string_data(document: &Value) -> Vec<(String, String)> {
    string_entries(&document["stringData"])
}

fn string_entries(map: &Value) -> Vec<(String, String)> {
    map.as_object()
        .into_iter()
        .flatten()
        .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
        .collect()
}

fn now() -> i64 {
    let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    i64::try_from(elapsed.expect("clock after 1970").as_secs()).expect("fits")
}

/// Reviews every object of a fixture; returns `(kind, name, sorted (reason, severity))`.
/// What one object's review found: kind, name and sorted (reason, severity) pairs.
type Outcome = (String, String, Vec<(Reason, Severity)>);

/// An expectation: kind, name and the (reason, severity) pairs it must have.
type Expected<'a> = (&'a str, &'a str, &'a [(Reason, Severity)]);

fn review_all(file: &str) -> Vec<Outcome> {
    let manifests = load(file);
    let config = RulesConfig::default();
    let context = Context {
        world: &manifests.world,
        config: &config,
        now: now(),
    };

    let mut results = Vec::new();
    let mut record = |kind: &str, name: &str, findings: Vec<refguard::engine::Finding>| {
        let mut reasons: Vec<_> = findings.iter().map(|f| (f.reason, f.severity)).collect();
        reasons.sort();
        results.push((kind.to_owned(), name.to_owned(), reasons));
    };
    for gateway in &manifests.gateways {
        record(
            "Gateway",
            &gateway.key.name,
            review(
                &Change::Gateway {
                    new: gateway,
                    old: None,
                },
                &context,
            ),
        );
    }
    for set in &manifests.listener_sets {
        record(
            set.kind.as_str(),
            &set.key.name,
            review(
                &Change::ListenerSet {
                    new: set,
                    old: None,
                },
                &context,
            ),
        );
    }
    for grant in &manifests.grants {
        let change = Change::ReferenceGrant {
            new: Some(grant),
            old: None,
        };
        record("ReferenceGrant", &grant.key.name, review(&change, &context));
    }
    results
}

/// Compares a fixture's outcome with the expectation; objects not listed must have no findings.
fn assert_scenario(file: &str, expected: &[Expected<'_>]) {
    let results = review_all(&format!("{file}.yaml"));
    assert!(!results.is_empty(), "{file}: no objects reviewed");

    for (kind, name, reasons) in &results {
        let want = expected
            .iter()
            .find(|(k, n, _)| k == kind && n == name)
            .map(|(_, _, reasons)| {
                let mut reasons = reasons.to_vec();
                reasons.sort();
                reasons
            })
            .unwrap_or_default();
        assert_eq!(reasons, &want, "{file}: {kind} {name}");
    }
    for (kind, name, _) in expected {
        assert!(
            results.iter().any(|(k, n, _)| k == kind && n == name),
            "{file}: expected {kind} {name} in the fixture"
        );
    }
}

#[test]
fn gateway_secret_reference_grant_all_in_namespace() {
    assert_scenario("gateway-secret-reference-grant-all-in-namespace", &[]);
}

#[test]
fn gateway_secret_reference_grant_specific() {
    assert_scenario("gateway-secret-reference-grant-specific", &[]);
}

#[test]
fn gateway_secret_missing_reference_grant() {
    assert_scenario(
        "gateway-secret-missing-reference-grant",
        &[(
            "Gateway",
            "gateway-secret-missing-reference-grant",
            &[(RefNotPermitted, Deny)],
        )],
    );
}

#[test]
fn gateway_secret_invalid_reference_grant() {
    assert_scenario(
        "gateway-secret-invalid-reference-grant",
        &[
            (
                "Gateway",
                "gateway-secret-invalid-reference-grant",
                &[(RefNotPermitted, Deny)],
            ),
            (
                "ReferenceGrant",
                "wrong-from-group",
                &[(InvalidReferenceGrant, Warn)],
            ),
            (
                "ReferenceGrant",
                "wrong-to-group",
                &[(InvalidReferenceGrant, Warn)],
            ),
        ],
    );
}

#[test]
fn gateway_invalid_tls_configuration() {
    assert_scenario(
        "gateway-invalid-tls-configuration",
        &[
            (
                "Gateway",
                "gateway-certificate-nonexistent-secret",
                &[(InvalidCertificateRef, Warn)],
            ),
            (
                "Gateway",
                "gateway-certificate-unsupported-group",
                &[(InvalidCertificateRef, Deny)],
            ),
            (
                "Gateway",
                "gateway-certificate-unsupported-kind",
                &[(InvalidCertificateRef, Deny)],
            ),
            (
                "Gateway",
                "gateway-certificate-malformed-secret",
                &[(InvalidCertificateRef, Warn), (InvalidCertificateRef, Warn)],
            ),
        ],
    );
}

#[test]
fn gateway_invalid_tls_backend_configuration() {
    assert_scenario(
        "gateway-invalid-tls-backend-configuration",
        &[
            (
                "Gateway",
                "gateway-client-certificate-nonexistent-secret",
                &[(InvalidClientCertificateRef, Warn)],
            ),
            (
                "Gateway",
                "gateway-client-certificate-unsupported-group",
                &[(InvalidClientCertificateRef, Deny)],
            ),
            (
                "Gateway",
                "gateway-client-certificate-unsupported-kind",
                &[(InvalidClientCertificateRef, Deny)],
            ),
            (
                "Gateway",
                "gateway-client-certificate-malformed-secret",
                &[
                    (InvalidClientCertificateRef, Warn),
                    (InvalidClientCertificateRef, Warn),
                ],
            ),
            (
                "Gateway",
                "gateway-client-certificate-missing-reference-grant",
                &[(RefNotPermitted, Deny)],
            ),
        ],
    );
}

#[test]
fn gateway_with_invalid_clientcertificate_validation() {
    assert_scenario(
        "gateway-with-invalid-clientcertificate-validation",
        &[(
            "Gateway",
            "gateway-with-invalid-client-cert-validation",
            &[
                (InvalidCACertificateRef, Warn),
                (InvalidCACertificateKind, Deny),
                (RefNotPermitted, Deny),
            ],
        )],
    );
}

#[test]
fn gateway_invalid_default_frontend_client_certificate_validation() {
    assert_scenario(
        "gateway-invalid-default-frontend-client-certificate-validation",
        &[(
            "Gateway",
            "invalid-default-client-validation-config",
            &[(InvalidCACertificateRef, Warn), (IgnoredField, Warn)],
        )],
    );
}

#[test]
fn listenerset_reference_grant() {
    assert_scenario(
        "listenerset-reference-grant",
        &[(
            "ListenerSet",
            "listenerset-without-grant",
            &[(RefNotPermitted, Deny)],
        )],
    );
}

/// The CA findings of the clientcertificate scenario sit on the perPort entries of the ports
/// the scenario's listeners use, and name the listener each one breaks, as the scenario's
/// listener conditions do.
#[test]
fn client_validation_findings_point_at_their_perport_entries() {
    let manifests = load("gateway-with-invalid-clientcertificate-validation.yaml");
    let config = RulesConfig::default();
    let context = Context {
        world: &manifests.world,
        config: &config,
        now: now(),
    };
    let gateway = &manifests.gateways[0];

    let mut fields: Vec<(Reason, String)> = review(
        &Change::Gateway {
            new: gateway,
            old: None,
        },
        &context,
    )
    .into_iter()
    .map(|finding| (finding.reason, finding.field))
    .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            (
                RefNotPermitted,
                "spec.tls.frontend.perPort[2].tls.validation.caCertificateRefs[0]".to_owned()
            ),
            (
                InvalidCACertificateRef,
                "spec.tls.frontend.perPort[0].tls.validation.caCertificateRefs[0]".to_owned()
            ),
            (
                InvalidCACertificateKind,
                "spec.tls.frontend.perPort[1].tls.validation.caCertificateRefs[0]".to_owned()
            ),
        ]
    );
}
