//! The rule catalogue: every rule's id, reason, default severity, the implementations and
//! versions it applies to, and its source. `docs/rules.md` is generated from this table
//! (`refguard rules --markdown`) and a test fails when the two differ.
//!
//! A rule's scope lives here and nowhere else: the code that detects a condition never checks
//! versions, it reports to [`applies`] through the engine's report, which drops findings of
//! rules that do not apply to the selected implementation. Adding a version-bounded rule is one
//! entry below plus its condition.

use std::fmt::Write as _;

use super::finding::{Reason, Severity};
use super::profile::{Implementation, Version};

/// One entry of the catalogue.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    /// Stable id; appears in warnings as `[id]` and in config files.
    pub id: &'static str,
    pub reason: Reason,
    pub default_severity: Severity,
    /// Which implementation profiles (and versions) the rule applies to.
    pub scope: Scope,
    /// What it catches, in one sentence.
    pub summary: &'static str,
    /// Where the behaviour is documented: spec page, issue or source file.
    pub source: &'static str,
}

/// The profiles a rule applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every profile: the specification's own rules, which every implementation follows.
    All,
    /// Only the `gateway-api` profile: a spec expectation that some implementation relaxes.
    GatewayApiOnly,
    /// Istio releases within any of these ranges.
    Istio(&'static [VersionRange]),
}

/// Releases from `from` (inclusive) up to `until` (exclusive; `None` means no known fix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRange {
    pub from: Version,
    pub until: Option<Version>,
}

impl VersionRange {
    pub const fn new(from: Version, until: Option<Version>) -> Self {
        Self { from, until }
    }

    pub fn contains(&self, version: Version) -> bool {
        version >= self.from && self.until.is_none_or(|until| version < until)
    }
}

impl Rule {
    /// Where the rule applies, for people: `all`, `gateway-api`, or e.g.
    /// `istio >=1.16.0 <1.26.0`.
    pub fn applies_to(&self) -> String {
        match self.scope {
            Scope::All => "all".to_owned(),
            Scope::GatewayApiOnly => "gateway-api".to_owned(),
            Scope::Istio(ranges) => {
                let ranges: Vec<String> = ranges.iter().map(describe_range).collect();
                format!("istio {}", ranges.join(", "))
            }
        }
    }
}

fn describe_range(range: &VersionRange) -> String {
    match (range.from, range.until) {
        (from, None) if from == V0 => "all versions".to_owned(),
        (from, None) => format!(">={from}"),
        (from, Some(until)) if from == V0 => format!("<{until}"),
        (from, Some(until)) => format!(">={from} <{until}"),
    }
}

/// Whether `rule` applies to objects checked against `implementation`.
pub fn applies(implementation: Implementation, rule: &Rule) -> bool {
    match (rule.scope, implementation) {
        (Scope::All, _) => true,
        (Scope::GatewayApiOnly, Implementation::GatewayApi) => true,
        (Scope::GatewayApiOnly, _) => false,
        (Scope::Istio(ranges), Implementation::Istio(version)) => {
            ranges.iter().any(|range| range.contains(version))
        }
        (Scope::Istio(_), _) => false,
    }
}

const fn v(major: u32, minor: u32, patch: u32) -> Version {
    Version::new(major, minor, patch)
}

const V0: Version = v(0, 0, 0);

const fn since(from: Version) -> VersionRange {
    VersionRange::new(from, None)
}

const fn between(from: Version, until: Version) -> VersionRange {
    VersionRange::new(from, Some(until))
}

const ISTIO_ALL: &[VersionRange] = &[since(V0)];

use Reason::*;
use Severity::{Deny, Warn};

const fn define(
    id: &'static str,
    reason: Reason,
    default_severity: Severity,
    scope: Scope,
    summary: &'static str,
    source: &'static str,
) -> Rule {
    Rule {
        id,
        reason,
        default_severity,
        scope,
        summary,
        source,
    }
}

const SPEC_REFGRANT: &str = "Gateway API ReferenceGrant spec";
const SPEC_LISTENER_TLS: &str = "Gateway API GatewayTLSConfig (listener tls)";
const SPEC_FRONTEND: &str = "Gateway API FrontendTLSConfig (GEP-91)";
const SPEC_BACKEND: &str = "Gateway API GatewayBackendTLS (GEP-3155)";
const ISTIO_CODE: &str = "istio pilot/pkg/config/kube/gateway/conversion.go (code reading)";

// --- listener certificateRefs (spec) ---

pub const CERT_REF_NOT_PERMITTED: Rule = define(
    "cert-ref-not-permitted",
    RefNotPermitted,
    Deny,
    Scope::All,
    "A certificateRef points into another namespace and no ReferenceGrant there permits it.",
    SPEC_REFGRANT,
);
pub const CERT_REF_UNSUPPORTED_KIND: Rule = define(
    "cert-ref-unsupported-kind",
    InvalidCertificateRef,
    Deny,
    Scope::All,
    "A certificateRef names a group or kind other than the core Secret.",
    SPEC_LISTENER_TLS,
);
pub const CERT_SECRET_MISSING: Rule = define(
    "cert-secret-missing",
    InvalidCertificateRef,
    Warn,
    Scope::All,
    "The referenced Secret does not exist (yet: cert-manager may create it later).",
    SPEC_LISTENER_TLS,
);
pub const CERT_SECRET_TYPE: Rule = define(
    "cert-secret-type",
    InvalidCertificateRef,
    Warn,
    Scope::GatewayApiOnly,
    "The referenced Secret is not of type kubernetes.io/tls, the only type core support covers.",
    SPEC_LISTENER_TLS,
);
pub const CERT_DATA_MALFORMED: Rule = define(
    "cert-data-malformed",
    InvalidCertificateRef,
    Warn,
    Scope::All,
    "The Secret lacks certificate or key data, or its PEM does not parse.",
    SPEC_LISTENER_TLS,
);
pub const CERT_KEY_MISMATCH: Rule = define(
    "cert-key-mismatch",
    InvalidCertificateRef,
    Warn,
    Scope::All,
    "The Secret's private key does not belong to its leaf certificate.",
    SPEC_LISTENER_TLS,
);
pub const CERT_EXPIRED: Rule = define(
    "cert-expired",
    InvalidCertificateRef,
    Warn,
    Scope::All,
    "The leaf certificate has expired.",
    "RFC 5280 validity",
);
pub const CERT_NOT_YET_VALID: Rule = define(
    "cert-not-yet-valid",
    InvalidCertificateRef,
    Warn,
    Scope::All,
    "The leaf certificate's validity starts in the future.",
    "RFC 5280 validity",
);
pub const CERT_EXPIRING: Rule = define(
    "cert-expiring",
    InvalidCertificateRef,
    Warn,
    Scope::All,
    "The leaf certificate expires within expiryWarningDays (default 30).",
    "RFC 5280 validity",
);
pub const PASSTHROUGH_REFS_IGNORED: Rule = define(
    "passthrough-certificate-refs-ignored",
    IgnoredField,
    Warn,
    Scope::All,
    "A Passthrough listener carries certificateRefs; the gateway never terminates TLS there.",
    SPEC_LISTENER_TLS,
);
pub const TLS_OPTION_RESERVED_KEY: Rule = define(
    "tls-option-reserved-key",
    InvalidTLSOption,
    Deny,
    Scope::All,
    "A tls.options key has no domain prefix; un-prefixed keys are reserved for Gateway API.",
    SPEC_LISTENER_TLS,
);

// --- frontend (client certificate) validation (spec) ---

pub const FRONTEND_CA_NOT_PERMITTED: Rule = define(
    "frontend-ca-ref-not-permitted",
    RefNotPermitted,
    Deny,
    Scope::All,
    "A caCertificateRef points into another namespace and no ReferenceGrant there permits it.",
    SPEC_FRONTEND,
);
pub const FRONTEND_CA_INVALID_KIND: Rule = define(
    "frontend-ca-ref-invalid-kind",
    InvalidCACertificateKind,
    Deny,
    Scope::All,
    "A caCertificateRef names a kind other than a core ConfigMap or Secret.",
    SPEC_FRONTEND,
);
pub const FRONTEND_CA_MISSING: Rule = define(
    "frontend-ca-missing",
    InvalidCACertificateRef,
    Warn,
    Scope::All,
    "The referenced CA ConfigMap or Secret does not exist.",
    SPEC_FRONTEND,
);
pub const FRONTEND_CA_MALFORMED: Rule = define(
    "frontend-ca-malformed",
    InvalidCACertificateRef,
    Warn,
    Scope::All,
    "The referenced CA object has no ca.crt key or no parseable certificate in it.",
    SPEC_FRONTEND,
);
pub const FRONTEND_INSECURE_FALLBACK: Rule = define(
    "frontend-insecure-fallback",
    InsecureFrontendValidationMode,
    Warn,
    Scope::All,
    "Validation mode AllowInsecureFallback admits clients without a valid certificate.",
    SPEC_FRONTEND,
);
pub const FRONTEND_PER_PORT_UNMATCHED: Rule = define(
    "frontend-per-port-unmatched",
    IgnoredField,
    Warn,
    Scope::All,
    "A spec.tls.frontend.perPort entry names a port with no HTTPS listener; it applies to nothing.",
    "conformance gateway-invalid-default-frontend-client-certificate-validation",
);

// --- backend client certificate (spec) ---

pub const BACKEND_CERT_NOT_PERMITTED: Rule = define(
    "backend-client-cert-not-permitted",
    RefNotPermitted,
    Deny,
    Scope::All,
    "clientCertificateRef points into another namespace and no ReferenceGrant permits it.",
    SPEC_BACKEND,
);
pub const BACKEND_CERT_UNSUPPORTED_KIND: Rule = define(
    "backend-client-cert-unsupported-kind",
    InvalidClientCertificateRef,
    Deny,
    Scope::All,
    "clientCertificateRef names a group or kind other than the core Secret.",
    SPEC_BACKEND,
);
pub const BACKEND_CERT_MISSING: Rule = define(
    "backend-client-cert-missing",
    InvalidClientCertificateRef,
    Warn,
    Scope::All,
    "The Secret named by clientCertificateRef does not exist.",
    SPEC_BACKEND,
);
pub const BACKEND_CERT_MALFORMED: Rule = define(
    "backend-client-cert-malformed",
    InvalidClientCertificateRef,
    Warn,
    Scope::All,
    "The client certificate Secret is malformed, mismatched, expired or not yet valid.",
    SPEC_BACKEND,
);

// --- ReferenceGrants and reverse checks ---

pub const GRANT_TYPO: Rule = define(
    "grant-invalid-reference",
    InvalidReferenceGrant,
    Warn,
    Scope::All,
    "A ReferenceGrant entry misspells a group or kind (e.g. group core, kind Gateways).",
    SPEC_REFGRANT,
);
pub const GRANT_CHANGE_BREAKS: Rule = define(
    "grant-change-breaks-reference",
    BrokenByChange,
    Warn,
    Scope::All,
    "Changing or deleting this ReferenceGrant revokes a reference an existing listener uses.",
    SPEC_REFGRANT,
);
pub const SECRET_DELETE_BREAKS: Rule = define(
    "secret-delete-breaks-reference",
    BrokenByChange,
    Warn,
    Scope::All,
    "Deleting this Secret removes a certificate an existing Gateway or ListenerSet uses.",
    SPEC_LISTENER_TLS,
);
pub const CONFIG_MAP_DELETE_BREAKS: Rule = define(
    "configmap-delete-breaks-reference",
    BrokenByChange,
    Warn,
    Scope::All,
    "Deleting this ConfigMap removes a CA bundle an existing Gateway uses.",
    SPEC_FRONTEND,
);

// --- Istio ---

pub const ISTIO_MUTUAL_CROSS_NAMESPACE: Rule = define(
    "istio-mutual-cross-namespace",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[between(v(1, 16, 0), v(1, 26, 0))]),
    "MUTUAL with a permitted cross-namespace Secret: -cacert is never authorised, handshakes reset.",
    "istio#55623, fixed by PR #55859 in 1.26.0",
);
pub const ISTIO_OPTIONAL_MUTUAL_NO_CA: Rule = define(
    "istio-optional-mutual-without-frontend-ca",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[since(v(1, 27, 0))]),
    "OPTIONAL_MUTUAL without a frontend caCertificateRef: the CA is never authorised.",
    "istio#60618, #60113; fixed on master by PR #60720",
);
pub const ISTIO_FRONTEND_CA_SECRET: Rule = define(
    "istio-frontend-ca-secret-kind",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[between(v(1, 28, 0), v(1, 30, 4))]),
    "A frontend caCertificateRef of kind Secret: Istio denies the CA.",
    "istio#60277; affected 1.28.0 to 1.30.3 (field guide), fixed in 1.31.0",
);
pub const ISTIO_FRONTEND_CA_CROSS_NAMESPACE: Rule = define(
    "istio-frontend-ca-cross-namespace",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[since(v(1, 28, 0))]),
    "Cross-namespace frontend CA: Istio checks the grant against <name>-cacert, which it never names.",
    ISTIO_CODE,
);
pub const ISTIO_TWO_REFS_BROKEN: Rule = define(
    "istio-two-certificate-refs",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[
        between(v(1, 27, 0), v(1, 27, 10)),
        between(v(1, 28, 0), v(1, 28, 6)),
        between(v(1, 29, 0), v(1, 29, 1)),
    ]),
    "Two certificateRefs: no serving certificate is authorised at all.",
    "istio#58878, #59251; fixed in 1.28.6, 1.29.1, 1.30.0",
);
pub const ISTIO_MULTIPLE_REFS: Rule = define(
    "istio-multiple-certificate-refs",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[between(V0, v(1, 27, 0))]),
    "More than one certificateRef: Istio before 1.27 supports exactly one.",
    ISTIO_CODE,
);
pub const ISTIO_TOO_MANY_REFS: Rule = define(
    "istio-too-many-certificate-refs",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[since(v(1, 27, 0))]),
    "More than two certificateRefs: Istio serves at most two (RSA and ECDSA).",
    ISTIO_CODE,
);
pub const ISTIO_FIRST_REF_UNUSABLE: Rule = define(
    "istio-first-certificate-ref-unusable",
    UnsupportedByImplementation,
    Warn,
    Scope::Istio(&[since(v(1, 27, 0))]),
    "Two refs, the first unusable: Istio serves the gateway's workload certificate, status green.",
    ISTIO_CODE,
);
pub const ISTIO_SECOND_REF_DROPPED: Rule = define(
    "istio-second-certificate-ref-dropped",
    IgnoredField,
    Warn,
    Scope::Istio(&[since(v(1, 27, 0))]),
    "Two refs, the second unusable: Istio drops it silently.",
    ISTIO_CODE,
);
pub const ISTIO_GRANT_TO_ENTRY_IGNORED: Rule = define(
    "istio-grant-to-entry-ignored",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[between(v(1, 26, 0), v(1, 30, 0))]),
    "The only grant entry permitting this ref is shadowed by a later `to` entry of the same kind.",
    "istio#58266, fixed by PR #59069 in 1.30.0",
);
pub const ISTIO_MUTUAL_NO_CA: Rule = define(
    "istio-mutual-without-ca",
    InvalidCACertificateRef,
    Warn,
    Scope::Istio(ISTIO_ALL),
    "MUTUAL/OPTIONAL_MUTUAL with no CA: no <name>-cacert Secret, no cacert or ca.crt key.",
    "istio pilot/pkg/credentials/kube/secrets.go (code reading)",
);
pub const ISTIO_TERMINATE_MODE_INVALID: Rule = define(
    "istio-terminate-mode-invalid",
    InvalidTLSOption,
    Deny,
    Scope::Istio(ISTIO_ALL),
    "gateway.istio.io/tls-terminate-mode is unknown, lower case or newer than the version: SIMPLE.",
    ISTIO_CODE,
);
pub const ISTIO_OPTION_IGNORED: Rule = define(
    "istio-option-ignored",
    IgnoredField,
    Warn,
    Scope::Istio(ISTIO_ALL),
    "A tls.options key this Istio version does not read (tls-cipher-suites needs 1.29).",
    ISTIO_CODE,
);
pub const ISTIO_LISTENER_FRONTEND_IGNORED: Rule = define(
    "istio-listener-frontend-validation-ignored",
    IgnoredField,
    Warn,
    Scope::Istio(ISTIO_ALL),
    "Listener tls.frontendValidation (Gateway API v1.1-v1.3) is ignored by every Istio version.",
    ISTIO_CODE,
);
pub const ISTIO_FRONTEND_TLS_IGNORED: Rule = define(
    "istio-frontend-tls-ignored",
    IgnoredField,
    Warn,
    Scope::Istio(&[between(V0, v(1, 28, 0))]),
    "spec.tls.frontend is ignored before Istio 1.28.",
    ISTIO_CODE,
);
pub const ISTIO_INSECURE_FALLBACK_IGNORED: Rule = define(
    "istio-insecure-fallback-ignored",
    IgnoredField,
    Warn,
    Scope::Istio(&[between(v(1, 28, 0), v(1, 31, 0))]),
    "Validation mode AllowInsecureFallback is ignored before Istio 1.31 (clients are required).",
    ISTIO_CODE,
);
pub const ISTIO_NO_REFS_INVALID: Rule = define(
    "istio-no-certificate-refs",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[between(V0, v(1, 27, 0))]),
    "Terminate without certificateRefs (mode not ISTIO_*): the listener is invalid before 1.27.",
    ISTIO_CODE,
);
pub const ISTIO_NO_REFS_WORKLOAD_CERT: Rule = define(
    "istio-no-certificate-refs-workload-cert",
    UnsupportedByImplementation,
    Deny,
    Scope::Istio(&[since(v(1, 27, 0))]),
    "Terminate without certificateRefs (mode not ISTIO_*): 1.27+ serves the workload certificate.",
    ISTIO_CODE,
);
pub const ISTIO_REFS_IGNORED: Rule = define(
    "istio-certificate-refs-ignored",
    IgnoredField,
    Warn,
    Scope::Istio(ISTIO_ALL),
    "ISTIO_MUTUAL/ISTIO_SIMPLE listeners ignore certificateRefs.",
    ISTIO_CODE,
);
pub const ISTIO_SECRET_INVISIBLE: Rule = define(
    "istio-secret-type-invisible",
    InvalidCertificateRef,
    Warn,
    Scope::Istio(ISTIO_ALL),
    "Secrets of type helm.sh/release.v1 or service-account-token are invisible to Istio.",
    "istio pilot/pkg/credentials/kube/secrets.go (code reading)",
);

/// Every rule refguard knows. Ids are stable: renaming one breaks users' config files.
pub static RULES: &[Rule] = &[
    CERT_REF_NOT_PERMITTED,
    CERT_REF_UNSUPPORTED_KIND,
    CERT_SECRET_MISSING,
    CERT_SECRET_TYPE,
    CERT_DATA_MALFORMED,
    CERT_KEY_MISMATCH,
    CERT_EXPIRED,
    CERT_NOT_YET_VALID,
    CERT_EXPIRING,
    PASSTHROUGH_REFS_IGNORED,
    TLS_OPTION_RESERVED_KEY,
    FRONTEND_CA_NOT_PERMITTED,
    FRONTEND_CA_INVALID_KIND,
    FRONTEND_CA_MISSING,
    FRONTEND_CA_MALFORMED,
    FRONTEND_INSECURE_FALLBACK,
    FRONTEND_PER_PORT_UNMATCHED,
    BACKEND_CERT_NOT_PERMITTED,
    BACKEND_CERT_UNSUPPORTED_KIND,
    BACKEND_CERT_MISSING,
    BACKEND_CERT_MALFORMED,
    GRANT_TYPO,
    GRANT_CHANGE_BREAKS,
    SECRET_DELETE_BREAKS,
    CONFIG_MAP_DELETE_BREAKS,
    ISTIO_MUTUAL_CROSS_NAMESPACE,
    ISTIO_OPTIONAL_MUTUAL_NO_CA,
    ISTIO_FRONTEND_CA_SECRET,
    ISTIO_FRONTEND_CA_CROSS_NAMESPACE,
    ISTIO_TWO_REFS_BROKEN,
    ISTIO_MULTIPLE_REFS,
    ISTIO_TOO_MANY_REFS,
    ISTIO_FIRST_REF_UNUSABLE,
    ISTIO_SECOND_REF_DROPPED,
    ISTIO_GRANT_TO_ENTRY_IGNORED,
    ISTIO_MUTUAL_NO_CA,
    ISTIO_TERMINATE_MODE_INVALID,
    ISTIO_OPTION_IGNORED,
    ISTIO_LISTENER_FRONTEND_IGNORED,
    ISTIO_FRONTEND_TLS_IGNORED,
    ISTIO_INSECURE_FALLBACK_IGNORED,
    ISTIO_NO_REFS_INVALID,
    ISTIO_NO_REFS_WORKLOAD_CERT,
    ISTIO_REFS_IGNORED,
    ISTIO_SECRET_INVISIBLE,
];

/// Looks a rule up by id.
pub fn rule_by_id(id: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.id == id)
}

/// The line that separates the generated catalogue in `docs/rules.md` from the hand-written
/// notes below it.
pub const NOTES_MARKER: &str = "<!-- end of generated catalogue; notes below are hand-written -->";

/// The generated part of `docs/rules.md`: a table of every rule.
pub fn markdown() -> String {
    let mut out = String::from(
        "# Rule catalogue\n\n\
         Generated from `src/engine/catalogue.rs` (`refguard rules --markdown`); do not edit \
         above the marker.\n\
         Severity is the default; set `deny`, `warn` or `off` per rule and per namespace in the \
         rules config.\n\n\
         | id | reason | default | applies to | summary | source |\n\
         |---|---|---|---|---|---|\n",
    );
    for rule in RULES {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            rule.id,
            rule.reason,
            rule.default_severity,
            rule.applies_to(),
            rule.summary.replace('|', "\\|"),
            rule.source.replace('|', "\\|"),
        );
    }
    out.push('\n');
    out.push_str(NOTES_MARKER);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn ids_are_unique_kebab_case() {
        let mut seen = BTreeSet::new();
        for rule in RULES {
            assert!(seen.insert(rule.id), "duplicate id {}", rule.id);
            let kebab = rule
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            assert!(
                kebab && !rule.id.starts_with('-'),
                "{} is not kebab-case",
                rule.id
            );
        }
    }

    #[test]
    fn version_ranges_are_half_open() {
        let range = between(v(1, 16, 0), v(1, 26, 0));
        // (version, inside, what it shows)
        let cases = [
            (v(1, 15, 9), false, "before the first affected release"),
            (v(1, 16, 0), true, "first affected release"),
            (v(1, 25, 5), true, "last affected release"),
            (v(1, 26, 0), false, "first fixed release"),
        ];
        for (version, inside, shows) in cases {
            assert_eq!(range.contains(version), inside, "{shows}");
        }
        assert!(since(v(1, 27, 0)).contains(v(9, 0, 0)));
    }

    #[test]
    fn applies_by_profile() {
        let istio = |text: &str| Implementation::Istio(text.parse().expect("version"));
        // (implementation, rule, applies, what it shows)
        let cases = [
            (
                Implementation::GatewayApi,
                &CERT_SECRET_TYPE,
                true,
                "spec-only rule",
            ),
            (
                istio("1.25.0"),
                &CERT_SECRET_TYPE,
                false,
                "Istio reads Opaque Secrets",
            ),
            (
                istio("1.25.0"),
                &CERT_REF_NOT_PERMITTED,
                true,
                "spec rule everywhere",
            ),
            (
                Implementation::GatewayApi,
                &ISTIO_MUTUAL_NO_CA,
                false,
                "istio rule off-profile",
            ),
            (
                istio("1.10.0"),
                &ISTIO_MUTUAL_NO_CA,
                true,
                "all istio versions",
            ),
        ];
        for (implementation, rule, expected, shows) in cases {
            assert_eq!(applies(implementation, rule), expected, "{shows}");
        }
    }

    #[test]
    fn applies_to_is_readable() {
        assert_eq!(
            ISTIO_MUTUAL_CROSS_NAMESPACE.applies_to(),
            "istio >=1.16.0 <1.26.0"
        );
        assert_eq!(ISTIO_FRONTEND_TLS_IGNORED.applies_to(), "istio <1.28.0");
        assert_eq!(ISTIO_MUTUAL_NO_CA.applies_to(), "istio all versions");
        assert_eq!(CERT_EXPIRED.applies_to(), "all");
    }

    /// docs/rules.md must start with exactly [`markdown`]; run with `UPDATE_RULES_DOC=1` to
    /// regenerate it, keeping the hand-written notes below the marker.
    #[test]
    fn docs_match_catalogue() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md");
        let current = std::fs::read_to_string(path).unwrap_or_default();
        let notes = current
            .split_once(NOTES_MARKER)
            .map_or("\n", |(_, notes)| notes.strip_prefix('\n').unwrap_or(notes));
        let expected = format!("{}{}", markdown(), notes);

        if std::env::var_os("UPDATE_RULES_DOC").is_some() {
            std::fs::write(path, &expected).expect("docs/rules.md is writable");
            return;
        }
        assert!(
            current == expected,
            "docs/rules.md is out of date: run UPDATE_RULES_DOC=1 cargo test docs_match_catalogue"
        );
    }
}
