//! The Gateway API conformance scenarios of docs (rules.md section 7), rebuilt as manifests in
//! tests/fixtures/conformance/. Each file is the whole world: its Secrets, ConfigMaps and
//! grants are what exists. Every Gateway, ListenerSet and ReferenceGrant in it is reviewed as a
//! CREATE, and the reasons found must match the listener conditions the scenario expects.

use std::path::Path;

use refguard::check::loader::{self, Manifests};
use refguard::check::review_all;
use refguard::engine::{review, Change, Context, Reason, RulesConfig, Severity};

use Reason::*;
use Severity::{Deny, Warn};

/// Reads a fixture with the loader `refguard check` uses.
fn load(file: &str) -> Manifests {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/conformance")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("fixture is readable");

    let mut manifests = Manifests::default();
    loader::load_text(
        &mut manifests,
        &path.display().to_string(),
        &text,
        "default",
    )
    .unwrap_or_else(|error| panic!("{file}: {error}"));
    assert!(
        manifests.objects_read > 0,
        "{file}: the loader read no objects"
    );
    manifests
}

fn now() -> i64 {
    let elapsed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    i64::try_from(elapsed.expect("clock after 1970").as_secs()).expect("fits")
}

/// What one object's review found: kind, name and sorted (reason, severity) pairs.
type Outcome = (String, String, Vec<(Reason, Severity)>);

/// An expectation: kind, name and the (reason, severity) pairs it must have.
type Expected<'a> = (&'a str, &'a str, &'a [(Reason, Severity)]);

/// Reviews every Gateway, ListenerSet and ReferenceGrant of a fixture as `refguard check`
/// does, and sorts the findings by the object they are about; objects without findings are
/// listed too.
fn review_fixture(file: &str) -> Vec<Outcome> {
    let manifests = load(file);
    let findings = review_all(&manifests, &RulesConfig::default(), now());

    let gateways = manifests
        .gateways
        .iter()
        .map(|gateway| ("Gateway", &gateway.key));
    let listener_sets = manifests
        .listener_sets
        .iter()
        .map(|set| (set.kind.as_str(), &set.key));
    let grants = manifests
        .grants
        .iter()
        .map(|grant| ("ReferenceGrant", &grant.key));
    let results: Vec<Outcome> = gateways
        .chain(listener_sets)
        .chain(grants)
        .map(|(kind, key)| {
            let mut reasons: Vec<_> = findings
                .iter()
                .filter(|finding| {
                    finding.object.kind == kind
                        && finding.object.namespace == key.namespace
                        && finding.object.name == key.name
                })
                .map(|finding| (finding.reason, finding.severity))
                .collect();
            reasons.sort();
            (kind.to_owned(), key.name.clone(), reasons)
        })
        .collect();

    let accounted: usize = results.iter().map(|(_, _, reasons)| reasons.len()).sum();
    assert_eq!(
        accounted,
        findings.len(),
        "{file}: findings about objects that were not reviewed: {findings:?}"
    );
    results
}

/// Compares a fixture's outcome with the expectation; objects not listed must have no findings.
fn assert_scenario(file: &str, expected: &[Expected<'_>]) {
    let results = review_fixture(&format!("{file}.yaml"));
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
