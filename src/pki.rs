//! Certificate and key data in, facts out. The only place that ever sees private keys: it
//! parses them, compares them with the certificate, and returns a [`SecretFacts`] that holds
//! no key material.
//!
//! Every failure becomes a short reason string, never a panic: Secret data is user input.

use rustls::crypto::ring::sign::any_supported_type;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::model::{
    CaBundleFacts, CertificateFacts, ConfigMapFacts, KeyMatch, KeyPairFacts, SecretFacts, SecretKey,
};

/// Facts about a Secret of `secret_type` with the given data entries (decoded bytes).
pub fn secret_facts<'a>(
    secret_type: &str,
    data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> SecretFacts {
    let mut facts = SecretFacts::empty(secret_type);
    let mut entries: [Option<&[u8]>; SecretKey::ALL.len()] = Default::default();
    for (name, value) in data {
        let Some(key) = SecretKey::from_data_key(name) else {
            continue;
        };
        if !value.is_empty() {
            facts.mark_present(key);
            entries[key as usize] = Some(value);
        }
    }

    let entry = |key: SecretKey| entries[key as usize];
    facts.tls_pair = key_pair(entry(SecretKey::TlsCrt), entry(SecretKey::TlsKey));
    facts.cert_pair = key_pair(entry(SecretKey::Cert), entry(SecretKey::Key));
    facts.ca_crt = entry(SecretKey::CaCrt).map(ca_bundle);
    facts.cacert = entry(SecretKey::CaCert).map(ca_bundle);
    facts
}

/// Facts about a ConfigMap's `ca.crt` entry, if it has one.
pub fn config_map_facts<'a>(data: impl IntoIterator<Item = (&'a str, &'a str)>) -> ConfigMapFacts {
    let ca_crt = data
        .into_iter()
        .find(|(name, _)| *name == SecretKey::CaCrt.as_str())
        .map(|(_, value)| ca_bundle(value.as_bytes()));
    ConfigMapFacts { ca_crt }
}

/// A certificate chain with its private key; `None` when neither is present.
fn key_pair(certificate: Option<&[u8]>, key: Option<&[u8]>) -> Option<KeyPairFacts> {
    if certificate.is_none() && key.is_none() {
        return None;
    }

    let chain = certificate.map_or_else(|| Err("no certificate data".into()), read_chain);
    let (certificate, leaf_spki) = match chain {
        Ok((facts, spki)) => (Ok(facts), Some(spki)),
        Err(reason) => (Err(reason), None),
    };

    let key_match = match (key, leaf_spki) {
        (None, _) => KeyMatch::Missing,
        (Some(key), spki) => match_key(key, spki.as_deref()),
    };
    Some(KeyPairFacts {
        certificate,
        key_match,
    })
}

/// Reads a PEM chain: facts about the leaf, and the leaf's SubjectPublicKeyInfo for the key
/// comparison.
fn read_chain(pem: &[u8]) -> Result<(CertificateFacts, Vec<u8>), Box<str>> {
    let ders = pem_certificates(pem)?;
    let Some(leaf) = ders.first() else {
        return Err("no PEM certificate found".into());
    };

    let (_, parsed) = X509Certificate::from_der(leaf.as_ref())
        .map_err(|_| Box::<str>::from("leaf certificate is not valid X.509"))?;
    for (index, der) in ders.iter().enumerate().skip(1) {
        if X509Certificate::from_der(der.as_ref()).is_err() {
            return Err(
                format!("certificate {} of the chain is not valid X.509", index + 1).into(),
            );
        }
    }

    let validity = parsed.validity();
    let facts = CertificateFacts {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
        chain_len: u16::try_from(ders.len()).unwrap_or(u16::MAX),
    };
    Ok((facts, parsed.public_key().raw.to_vec()))
}

/// Every CERTIFICATE block of a PEM text, as DER.
fn pem_certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Box<str>> {
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| pem_reason("certificate", &error))
}

/// Whether the private key in `pem` belongs to the certificate whose SPKI is `leaf_spki`.
fn match_key(pem: &[u8], leaf_spki: Option<&[u8]>) -> KeyMatch {
    let key = match PrivateKeyDer::from_pem_slice(pem) {
        Ok(key) => key,
        Err(error) => return KeyMatch::Unreadable(pem_reason("private key", &error)),
    };
    let signing_key = match any_supported_type(&key) {
        Ok(signing_key) => signing_key,
        Err(_) => return KeyMatch::Unreadable("private key of an unsupported type".into()),
    };

    let Some(leaf_spki) = leaf_spki else {
        return KeyMatch::Unknown;
    };
    match signing_key.public_key() {
        Some(spki) if spki.as_ref() == leaf_spki => KeyMatch::Matches,
        Some(_) => KeyMatch::Mismatch,
        None => KeyMatch::Unknown,
    }
}

/// Facts about a bundle of CA certificates: how many parse, and why the rest did not.
fn ca_bundle(pem: &[u8]) -> CaBundleFacts {
    let ders = match pem_certificates(pem) {
        Ok(ders) => ders,
        Err(problem) => {
            return CaBundleFacts {
                certificates: 0,
                problem: Some(problem),
            }
        }
    };

    let parsed = ders
        .iter()
        .filter(|der| X509Certificate::from_der(der.as_ref()).is_ok())
        .count();
    let problem = match (ders.len(), ders.len() - parsed) {
        (0, _) => Some("no PEM certificate found".into()),
        (_, 0) => None,
        (_, bad) => Some(format!("{bad} certificate(s) are not valid X.509").into()),
    };
    CaBundleFacts {
        certificates: u16::try_from(parsed).unwrap_or(u16::MAX),
        problem,
    }
}

/// A short reason for a PEM error that never quotes the data itself.
fn pem_reason(what: &str, error: &rustls_pki_types::pem::Error) -> Box<str> {
    use rustls_pki_types::pem::Error;

    let why = match error {
        Error::NoItemsFound => "no PEM block found",
        Error::MissingSectionEnd { .. } | Error::IllegalSectionStart { .. } => "broken PEM block",
        Error::Base64Decode(_) => "PEM block is not valid base64",
        _ => "not readable as PEM",
    };
    format!("{what}: {why}").into()
}

#[cfg(test)]
mod tests {
    use rcgen::{
        date_time_ymd, CertificateParams, CertifiedIssuer, KeyPair, SignatureAlgorithm,
        PKCS_ECDSA_P256_SHA256, PKCS_ECDSA_P384_SHA384, PKCS_ED25519,
    };

    use super::*;

    const RSA_KEY: &str = include_str!("../tests/fixtures/pki/rsa-pkcs1.key");
    const RSA_CRT: &str = include_str!("../tests/fixtures/pki/rsa.crt");
    const EC_SEC1_KEY: &str = include_str!("../tests/fixtures/pki/ec-sec1.key");
    const EC_CRT: &str = include_str!("../tests/fixtures/pki/ec.crt");

    /// A self-signed certificate and its PKCS#8 key, valid 2020-01-01 to 2040-01-01.
    fn generated(alg: &'static SignatureAlgorithm) -> (String, String) {
        let key = KeyPair::generate_for(alg).expect("ring generates this key type");
        let mut params = CertificateParams::new(vec!["a.example.test".into()]).expect("valid SAN");
        params.not_before = date_time_ymd(2020, 1, 1);
        params.not_after = date_time_ymd(2040, 1, 1);
        let cert = params.self_signed(&key).expect("self-signing works");
        (cert.pem(), key.serialize_pem())
    }

    fn tls(crt: &str, key: &str) -> SecretFacts {
        secret_facts(
            "kubernetes.io/tls",
            [("tls.crt", crt.as_bytes()), ("tls.key", key.as_bytes())],
        )
    }

    #[test]
    fn key_formats_match_their_certificates() {
        let (p256_crt, p256_key) = generated(&PKCS_ECDSA_P256_SHA256);
        let (p384_crt, p384_key) = generated(&PKCS_ECDSA_P384_SHA384);
        let (ed_crt, ed_key) = generated(&PKCS_ED25519);

        // (what it shows, certificate, key, expected)
        let cases = [
            ("PKCS#8 P-256", &*p256_crt, &*p256_key, KeyMatch::Matches),
            ("PKCS#8 P-384", &p384_crt, &p384_key, KeyMatch::Matches),
            ("PKCS#8 Ed25519", &ed_crt, &ed_key, KeyMatch::Matches),
            ("PKCS#1 RSA", RSA_CRT, RSA_KEY, KeyMatch::Matches),
            ("SEC1 P-256", EC_CRT, EC_SEC1_KEY, KeyMatch::Matches),
            (
                "key of another cert",
                &p256_crt,
                &p384_key,
                KeyMatch::Mismatch,
            ),
            ("RSA key, EC cert", EC_CRT, RSA_KEY, KeyMatch::Mismatch),
        ];
        for (shows, crt, key, expected) in cases {
            let facts = tls(crt, key);
            let pair = facts.tls_pair.expect("both keys present");
            assert_eq!(pair.key_match, expected, "{shows}");
            assert!(pair.certificate.is_ok(), "{shows}");
        }
    }

    #[test]
    fn validity_and_chain_length_are_read() {
        let (crt, key) = generated(&PKCS_ECDSA_P256_SHA256);
        let chain = format!("{crt}{EC_CRT}");

        let facts = tls(&chain, &key);
        let certificate = facts
            .tls_pair
            .expect("present")
            .certificate
            .expect("parses");

        assert_eq!(certificate.not_before, 1_577_836_800); // 2020-01-01T00:00:00Z
        assert_eq!(certificate.not_after, 2_208_988_800); // 2040-01-01T00:00:00Z
        assert_eq!(certificate.chain_len, 2);
    }

    #[test]
    fn leaf_signed_by_a_ca_matches_its_own_key() {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let mut ca_params = CertificateParams::new(vec![]).expect("params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca");
        let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).expect("key");
        let leaf = CertificateParams::new(vec!["leaf.example.test".into()])
            .expect("params")
            .signed_by(&leaf_key, &ca)
            .expect("signed");

        let facts = tls(
            &format!("{}{}", leaf.pem(), ca.pem()),
            &leaf_key.serialize_pem(),
        );

        let pair = facts.tls_pair.expect("present");
        assert_eq!(pair.key_match, KeyMatch::Matches);
        assert_eq!(pair.certificate.expect("parses").chain_len, 2);
    }

    #[test]
    fn malformed_data_gives_reasons_not_panics() {
        let hello = "Hello world\n";
        let facts = tls(hello, hello);
        let pair = facts.tls_pair.expect("present");
        assert!(pair.certificate.is_err());
        assert!(matches!(pair.key_match, KeyMatch::Unreadable(_)));

        let broken = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        let facts = tls(broken, EC_SEC1_KEY);
        let pair = facts.tls_pair.expect("present");
        assert!(pair.certificate.is_err());
        assert_eq!(pair.key_match, KeyMatch::Unknown);

        let junk_der = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let facts = tls(junk_der, EC_SEC1_KEY);
        let reason = facts
            .tls_pair
            .expect("present")
            .certificate
            .expect_err("junk");
        assert!(reason.contains("X.509"), "{reason}");
    }

    #[test]
    fn missing_and_empty_keys_are_told_apart() {
        let facts = secret_facts("kubernetes.io/tls", [("tls.crt", EC_CRT.as_bytes())]);
        assert!(facts.has(SecretKey::TlsCrt));
        assert!(!facts.has(SecretKey::TlsKey));
        assert_eq!(facts.tls_pair.expect("crt").key_match, KeyMatch::Missing);

        let facts = secret_facts("Opaque", [("tls.crt", &b""[..]), ("tls.key", b"")]);
        assert!(facts.tls_pair.is_none());
        assert!(!facts.has(SecretKey::TlsCrt));
    }

    #[test]
    fn istio_keys_and_ca_bundles() {
        let facts = secret_facts(
            "Opaque",
            [
                ("cert", EC_CRT.as_bytes()),
                ("key", EC_SEC1_KEY.as_bytes()),
                ("cacert", RSA_CRT.as_bytes()),
                ("ca.crt", b"garbage".as_slice()),
            ],
        );

        assert_eq!(facts.cert_pair.expect("cert").key_match, KeyMatch::Matches);
        assert!(facts.tls_pair.is_none());
        let cacert = facts.cacert.expect("cacert");
        assert_eq!((cacert.certificates, cacert.problem), (1, None));
        let ca_crt = facts.ca_crt.expect("ca.crt");
        assert_eq!(ca_crt.certificates, 0);
        assert!(ca_crt.problem.is_some());
    }

    #[test]
    fn config_map_ca_bundle() {
        let bundle = format!("{EC_CRT}{RSA_CRT}");
        let facts = config_map_facts([("other", "x"), ("ca.crt", bundle.as_str())]);
        let ca = facts.ca_crt.expect("ca.crt");
        assert_eq!((ca.certificates, ca.problem), (2, None));

        assert_eq!(config_map_facts([("other", "x")]).ca_crt, None);
        let empty = config_map_facts([("ca.crt", "")]).ca_crt.expect("present");
        assert_eq!(empty.certificates, 0);
    }
}
