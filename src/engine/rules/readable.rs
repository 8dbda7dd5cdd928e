//! Whether a Secret or CA bundle holds data the gateway can use, from the facts `pki` kept.
//! Callers only ask about objects the holder is permitted to read, so nothing here can leak.

use crate::model::{CaBundleFacts, KeyMatch, KeyPairFacts, SecretFacts, SecretKey};

use super::super::profile::Implementation;

const TLS_TYPE: &str = "kubernetes.io/tls";
const DAY: i64 = 86_400;

/// What is wrong with a certificate-and-key Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Type other than `kubernetes.io/tls` (spec profile only).
    WrongType(Box<str>),
    /// A Secret type Istio's Secret watch never sees.
    Invisible(Box<str>),
    /// Data missing or unparseable; the text says which.
    Malformed(String),
    KeyMismatch,
    Expired,
    NotYetValid,
    /// Expires within the warning window: whole days left.
    Expiring(i64),
}

/// The clock and window validity is judged by.
#[derive(Clone, Copy)]
pub(crate) struct Clock {
    pub now: i64,
    pub expiry_warning_days: u32,
}

/// Problems of a Secret used as a serving or client certificate under `implementation`.
pub(crate) fn certificate_secret(
    facts: &SecretFacts,
    implementation: Implementation,
    clock: Clock,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let pair = match implementation {
        Implementation::GatewayApi => {
            if &*facts.secret_type != TLS_TYPE {
                problems.push(Problem::WrongType(facts.secret_type.clone()));
            }
            facts
                .tls_pair
                .as_ref()
                .map(|pair| (pair, "tls.crt", "tls.key"))
        }
        Implementation::Istio(_) => {
            if is_invisible_to_istio(&facts.secret_type) {
                return vec![Problem::Invisible(facts.secret_type.clone())];
            }
            istio_pair(facts)
        }
    };

    match pair {
        None => problems.push(Problem::Malformed(no_data_message(implementation))),
        Some((pair, crt, key)) => problems.extend(pair_problems(pair, crt, key, clock)),
    }
    problems
}

/// Istio reads `cert`/`key` when both are non-empty, else `tls.crt`/`tls.key`
/// (`extractKeyAndCert` in `pilot/pkg/credentials/kube/secrets.go`).
fn istio_pair(facts: &SecretFacts) -> Option<(&KeyPairFacts, &'static str, &'static str)> {
    if facts.has(SecretKey::Cert) && facts.has(SecretKey::Key) {
        return facts.cert_pair.as_ref().map(|pair| (pair, "cert", "key"));
    }
    facts
        .tls_pair
        .as_ref()
        .map(|pair| (pair, "tls.crt", "tls.key"))
}

pub(crate) fn is_invisible_to_istio(secret_type: &str) -> bool {
    matches!(
        secret_type,
        "helm.sh/release.v1" | "kubernetes.io/service-account-token"
    )
}

fn no_data_message(implementation: Implementation) -> String {
    match implementation {
        Implementation::GatewayApi => "has no tls.crt and tls.key data".to_owned(),
        Implementation::Istio(_) => "has neither cert/key nor tls.crt/tls.key data".to_owned(),
    }
}

fn pair_problems(pair: &KeyPairFacts, crt: &str, key: &str, clock: Clock) -> Vec<Problem> {
    let mut problems = Vec::new();

    match &pair.key_match {
        KeyMatch::Matches | KeyMatch::Unknown => {}
        KeyMatch::Mismatch => problems.push(Problem::KeyMismatch),
        KeyMatch::Missing => problems.push(Problem::Malformed(format!("has no {key} data"))),
        KeyMatch::Unreadable(why) => problems.push(Problem::Malformed(format!("{key}: {why}"))),
    }

    let certificate = match &pair.certificate {
        Ok(certificate) => certificate,
        Err(why) => {
            problems.insert(0, Problem::Malformed(format!("{crt}: {why}")));
            return problems;
        }
    };
    if clock.now >= certificate.not_after {
        problems.push(Problem::Expired);
    } else if clock.now < certificate.not_before {
        problems.push(Problem::NotYetValid);
    } else {
        let left = certificate.not_after - clock.now;
        if left < i64::from(clock.expiry_warning_days) * DAY {
            problems.push(Problem::Expiring(left / DAY));
        }
    }
    problems
}

/// Why a CA bundle is unusable, if it is.
pub(crate) fn ca_bundle(bundle: Option<&CaBundleFacts>) -> Option<String> {
    match bundle {
        None => Some("has no ca.crt key".to_owned()),
        Some(bundle) if bundle.certificates == 0 => Some(format!(
            "ca.crt holds no parseable certificate ({})",
            bundle.problem.as_deref().unwrap_or("empty")
        )),
        Some(_) => None,
    }
}

/// Whether a Secret carries a CA bundle Istio would use for client validation. Istio takes
/// `cacert` whenever it is non-empty, parseable or not, and only otherwise `ca.crt`
/// (`extractRoot` in `pilot/pkg/credentials/kube/secrets.go`).
pub(crate) fn has_istio_ca(facts: &SecretFacts) -> bool {
    let bundle = if facts.has(SecretKey::CaCert) {
        facts.cacert.as_ref()
    } else {
        facts.ca_crt.as_ref()
    };
    bundle.is_some_and(|bundle| bundle.certificates > 0)
}
