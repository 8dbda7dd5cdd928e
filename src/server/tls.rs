//! The serving certificate: loaded from PEM files, swapped in place when the files change.
//!
//! The chart mounts the certificate from a Secret. Kubernetes updates such a volume by
//! repointing a `..data` symlink, so the files' own mtime does not change: the reloader
//! compares content. A new pair that does not load (half-written, key not matching, leaf
//! expired or not yet valid) is refused and the previous certificate keeps serving; established connections are never
//! touched, the next handshake simply gets the new certificate.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::ring;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why a certificate and key pair could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no PEM certificate in the certificate file")]
    NoCertificate,
    #[error("certificate file is not valid PEM: {0}")]
    CertificatePem(rustls_pki_types::pem::Error),
    #[error("key file holds no PEM private key (PKCS#1, PKCS#8 or SEC1): {0}")]
    KeyPem(rustls_pki_types::pem::Error),
    #[error("private key not usable: {0}")]
    Key(rustls::Error),
    #[error("private key does not belong to the certificate: {0}")]
    Mismatch(rustls::Error),
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
    #[error("leaf certificate is not valid X.509: {0}")]
    Leaf(String),
    #[error("leaf certificate expired at {0}")]
    Expired(String),
    #[error("leaf certificate is not valid before {0}")]
    NotYetValid(String),
}

/// Builds a serving identity from PEM data, checking that the key belongs to the leaf.
pub fn certified_key(cert_pem: &[u8], key_pem: &[u8]) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(TlsError::CertificatePem)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(TlsError::KeyPem)?;
    let signer = ring::sign::any_supported_type(&key).map_err(TlsError::Key)?;

    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(TlsError::Mismatch)?;
    Ok(certified)
}

/// The certificate and key files, and the identity last loaded from them.
pub struct CertStore {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    /// Fingerprint of the files' contents at load, for the reloader's first comparison.
    loaded: u64,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

impl CertStore {
    /// Loads the pair once; failing here is fatal, later failures keep the old pair.
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Self, TlsError> {
        let (cert_pem, key_pem) = read_pair(cert_file, key_file)?;
        let certified = certified_key(&cert_pem, &key_pem)?;
        Ok(Self {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            current: RwLock::new(Arc::new(certified)),
            loaded: super::reload::fingerprint(&[cert_pem, key_pem]),
        })
    }

    /// Fingerprint of the file contents loaded at start.
    pub fn loaded(&self) -> u64 {
        self.loaded
    }

    pub fn files(&self) -> [&Path; 2] {
        [&self.cert_file, &self.key_file]
    }

    /// Replaces the served identity with one built from new file contents. A leaf outside its
    /// validity period is refused: the API server would reject every handshake with it, while
    /// the certificate served now may still be good (an issuer writing a stale or back-dated
    /// certificate, a clock-skewed CA).
    pub fn replace(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), TlsError> {
        let certified = certified_key(cert_pem, key_pem)?;
        check_validity(&certified.cert[0], unix_now())?;
        let certified = Arc::new(certified);
        *self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = certified;
        Ok(())
    }

    fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Refuses a leaf that is expired or not yet valid at `now` (seconds since the Unix epoch).
pub fn check_validity(leaf: &CertificateDer<'_>, now: i64) -> Result<(), TlsError> {
    use x509_parser::prelude::{FromDer, X509Certificate};

    let (_, parsed) =
        X509Certificate::from_der(leaf).map_err(|error| TlsError::Leaf(error.to_string()))?;
    let validity = parsed.validity();

    if now < validity.not_before.timestamp() {
        return Err(TlsError::NotYetValid(validity.not_before.to_string()));
    }
    if now > validity.not_after.timestamp() {
        return Err(TlsError::Expired(validity.not_after.to_string()));
    }
    Ok(())
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Reads both files of a pair.
pub fn read_pair(cert_file: &Path, key_file: &Path) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    Ok((read(cert_file)?, read(key_file)?))
}

/// A rustls server configuration: TLS 1.3 and 1.2 only, ALPN `http/1.1` (what the API server
/// speaks to webhooks), identity from `store`.
pub fn server_config(store: Arc<CertStore>) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(name: &str) -> (String, String) {
        let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()])
            .expect("rcgen generates a self-signed certificate");
        (certified.cert.pem(), certified.signing_key.serialize_pem())
    }

    #[test]
    fn a_matching_pair_loads() {
        let (cert, key) = pair("a.example");
        assert!(certified_key(cert.as_bytes(), key.as_bytes()).is_ok());
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let (cert, _) = pair("a.example");
        let (_, other_key) = pair("b.example");
        let error = certified_key(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(matches!(error, TlsError::Mismatch(_)), "{error}");
    }

    #[test]
    fn a_leaf_is_valid_only_within_its_period() {
        let mut params = rcgen::CertificateParams::new(vec!["a.example".to_owned()])
            .expect("certificate params");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("certificate");
        let (jan_2020, jul_2020, feb_2021) = (1_577_836_800, 1_593_561_600, 1_612_137_600);

        assert!(check_validity(cert.der(), jul_2020).is_ok());
        assert!(matches!(
            check_validity(cert.der(), feb_2021),
            Err(TlsError::Expired(_))
        ));
        assert!(matches!(
            check_validity(cert.der(), jan_2020 - 1),
            Err(TlsError::NotYetValid(_))
        ));
        assert!(matches!(
            check_validity(&CertificateDer::from(vec![1, 2, 3]), jul_2020),
            Err(TlsError::Leaf(_))
        ));
    }

    #[test]
    fn empty_or_garbage_files_are_refused() {
        let (cert, key) = pair("a.example");
        assert!(matches!(
            certified_key(b"", key.as_bytes()),
            Err(TlsError::NoCertificate)
        ));
        assert!(matches!(
            certified_key(cert.as_bytes(), b"not a key"),
            Err(TlsError::KeyPem(_))
        ));
    }
}
