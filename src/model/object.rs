//! Object identity shared by every kind refguard reads.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kinds refguard understands. Anything else is ignored by the checker and not routed to
/// the engine by the webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Gateway,
    ListenerSet,
    XListenerSet,
    ReferenceGrant,
    Secret,
    ConfigMap,
}

impl Kind {
    /// Recognises a kind by its API group (the part of `apiVersion` before the slash, empty for
    /// the core group) and kind name.
    pub fn from_group_kind(group: &str, kind: &str) -> Option<Self> {
        match (group, kind) {
            (super::GATEWAY_GROUP, "Gateway") => Some(Self::Gateway),
            (super::GATEWAY_GROUP, "ListenerSet") => Some(Self::ListenerSet),
            (super::EXPERIMENTAL_GROUP, "XListenerSet") => Some(Self::XListenerSet),
            (super::GATEWAY_GROUP, "ReferenceGrant") => Some(Self::ReferenceGrant),
            ("", "Secret") => Some(Self::Secret),
            ("", "ConfigMap") => Some(Self::ConfigMap),
            _ => None,
        }
    }

    /// Recognises a kind from an object's `apiVersion` and `kind`.
    pub fn from_api_version(api_version: &str, kind: &str) -> Option<Self> {
        let group = api_version.rsplit_once('/').map_or("", |(group, _)| group);
        Self::from_group_kind(group, kind)
    }

    pub fn group(self) -> &'static str {
        match self {
            Self::Gateway | Self::ListenerSet | Self::ReferenceGrant => super::GATEWAY_GROUP,
            Self::XListenerSet => super::EXPERIMENTAL_GROUP,
            Self::Secret | Self::ConfigMap => "",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gateway => "Gateway",
            Self::ListenerSet => "ListenerSet",
            Self::XListenerSet => "XListenerSet",
            Self::ReferenceGrant => "ReferenceGrant",
            Self::Secret => "Secret",
            Self::ConfigMap => "ConfigMap",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Namespace and name of an object whose kind is known from context.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// The object a finding is about, as printed to users and in `-o json`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Why an object could not be read as the kind it claims to be.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    #[error("{kind} has no metadata.name")]
    MissingName { kind: &'static str },
    #[error("{kind} {name} does not match the expected schema: {source}")]
    Schema {
        kind: &'static str,
        name: String,
        #[source]
        source: serde_json::Error,
    },
}
