//! What refguard keeps of a Secret or ConfigMap: facts about its certificate data, never the
//! data itself. The same facts serve the offline checker and the webhook's cache, so a private
//! key is parsed once, compared with its certificate, and dropped.

/// Data keys that some rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKey {
    /// `tls.crt`, the key of `kubernetes.io/tls` Secrets.
    TlsCrt,
    /// `tls.key`.
    TlsKey,
    /// `cert`, preferred by Istio over `tls.crt`.
    Cert,
    /// `key`, preferred by Istio over `tls.key`.
    Key,
    /// `ca.crt`.
    CaCrt,
    /// `cacert`, read by Istio.
    CaCert,
}

impl SecretKey {
    pub const ALL: [SecretKey; 6] = [
        Self::TlsCrt,
        Self::TlsKey,
        Self::Cert,
        Self::Key,
        Self::CaCrt,
        Self::CaCert,
    ];

    pub fn from_data_key(key: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.as_str() == key)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TlsCrt => "tls.crt",
            Self::TlsKey => "tls.key",
            Self::Cert => "cert",
            Self::Key => "key",
            Self::CaCrt => "ca.crt",
            Self::CaCert => "cacert",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Facts about one Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretFacts {
    /// `type`, e.g. `kubernetes.io/tls` or `Opaque`.
    pub secret_type: Box<str>,
    /// Which of the keys in [`SecretKey`] are present with non-empty data.
    present: u8,
    /// `tls.crt` with `tls.key`, when at least one of them is present.
    pub tls_pair: Option<KeyPairFacts>,
    /// `cert` with `key`, when at least one of them is present.
    pub cert_pair: Option<KeyPairFacts>,
    /// `ca.crt`, when present.
    pub ca_crt: Option<CaBundleFacts>,
    /// `cacert`, when present.
    pub cacert: Option<CaBundleFacts>,
}

impl SecretFacts {
    /// Facts for a Secret with no data at all.
    pub fn empty(secret_type: &str) -> Self {
        Self {
            secret_type: secret_type.into(),
            present: 0,
            tls_pair: None,
            cert_pair: None,
            ca_crt: None,
            cacert: None,
        }
    }

    pub fn has(&self, key: SecretKey) -> bool {
        self.present & key.bit() != 0
    }

    pub fn mark_present(&mut self, key: SecretKey) {
        self.present |= key.bit();
    }
}

/// Facts about a certificate and private key stored side by side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPairFacts {
    /// The leaf certificate, or why the certificate data could not be read.
    pub certificate: Result<CertificateFacts, Box<str>>,
    pub key_match: KeyMatch,
}

/// Facts about the first (leaf) certificate of a PEM chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CertificateFacts {
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    /// Seconds since the Unix epoch.
    pub not_after: i64,
    /// Certificates in the chain, leaf included.
    pub chain_len: u16,
}

/// Whether the private key belongs to the leaf certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyMatch {
    Matches,
    Mismatch,
    /// The key is missing or empty.
    Missing,
    /// The key data is not a PEM private key in PKCS#1, PKCS#8 or SEC1 form.
    Unreadable(Box<str>),
    /// Not decidable because the certificate itself could not be read.
    Unknown,
}

/// Facts about a PEM bundle of CA certificates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaBundleFacts {
    /// Certificates that parsed.
    pub certificates: u16,
    /// Why some of the data did not parse, if it did not.
    pub problem: Option<Box<str>>,
}

/// Facts about one ConfigMap: only its `ca.crt` key is ever read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigMapFacts {
    pub ca_crt: Option<CaBundleFacts>,
}
