//! What the engine reports: one finding per problem, with where it is and how to fix it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::ObjectRef;

/// Why a reference cannot be read. The first names are the listener and Gateway condition
/// reasons that Gateway API itself defines, so users meet familiar words; the rest cover what
/// the spec has no word for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Reason {
    RefNotPermitted,
    InvalidCertificateRef,
    InvalidCACertificateRef,
    InvalidCACertificateKind,
    InvalidClientCertificateRef,
    /// Frontend validation that lets clients without a valid certificate through.
    InsecureFrontendValidationMode,
    /// An option key or value the implementation does not accept.
    InvalidTLSOption,
    /// Valid per the spec, but the selected implementation and version cannot serve it.
    UnsupportedByImplementation,
    /// Set, but silently ignored.
    IgnoredField,
    /// A ReferenceGrant that matches nothing because of a misspelt group or kind.
    InvalidReferenceGrant,
    /// A change to a grant, Secret or ConfigMap that takes away a reference in use.
    BrokenByChange,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefNotPermitted => "RefNotPermitted",
            Self::InvalidCertificateRef => "InvalidCertificateRef",
            Self::InvalidCACertificateRef => "InvalidCACertificateRef",
            Self::InvalidCACertificateKind => "InvalidCACertificateKind",
            Self::InvalidClientCertificateRef => "InvalidClientCertificateRef",
            Self::InsecureFrontendValidationMode => "InsecureFrontendValidationMode",
            Self::InvalidTLSOption => "InvalidTLSOption",
            Self::UnsupportedByImplementation => "UnsupportedByImplementation",
            Self::IgnoredField => "IgnoredField",
            Self::InvalidReferenceGrant => "InvalidReferenceGrant",
            Self::BrokenByChange => "BrokenByChange",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finding does to the write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Refuse the write.
    Deny,
    /// Let it through with a warning.
    Warn,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "deny",
            Self::Warn => "warn",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in one object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id from the catalogue, e.g. `cert-ref-not-permitted`.
    pub rule: &'static str,
    pub reason: Reason,
    pub severity: Severity,
    pub object: ObjectRef,
    /// The listener's name, for findings about one listener.
    pub listener: Option<String>,
    /// Field path in the object, e.g. `spec.listeners[2].tls.certificateRefs[0]`.
    pub field: String,
    /// One line under 120 characters: what is wrong and how to fix it.
    pub message: String,
    /// Longer explanation, with sources, for people who want it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}
