//! Gateway, ListenerSet and XListenerSet, reduced to what the TLS rules read.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::object::{Kind, ObjectKey, ObjectRef, ParseError};

/// A Gateway of any served version (v1, v1beta1).
#[derive(Clone, Debug, PartialEq)]
pub struct Gateway {
    pub api_version: String,
    pub key: ObjectKey,
    pub gateway_class_name: String,
    pub listeners: Vec<Listener>,
    /// `spec.tls.frontend` (Gateway API v1.4+).
    pub frontend: Option<FrontendTls>,
    /// `spec.tls.backend` (v1.4+) or, on v1.2-v1.3 objects, `spec.backendTLS`.
    pub backend: Option<BackendTls>,
    /// Which of the two spellings `backend` came from, for field paths in findings.
    pub backend_field: &'static str,
}

/// A ListenerSet (`gateway.networking.k8s.io/v1`) or XListenerSet
/// (`gateway.networking.x-k8s.io/v1alpha1`): extra listeners attached to a parent Gateway.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerSet {
    pub api_version: String,
    pub kind: Kind,
    pub key: ObjectKey,
    pub parent: ParentRef,
    pub listeners: Vec<Listener>,
}

/// `spec.parentRef` of a ListenerSet.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ParentRef {
    pub group: Option<String>,
    pub kind: Option<String>,
    pub name: String,
    pub namespace: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Listener {
    pub name: String,
    pub port: i32,
    pub protocol: String,
    pub hostname: Option<String>,
    pub tls: Option<ListenerTls>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ListenerTls {
    pub mode: TlsMode,
    pub certificate_refs: Vec<SecretRef>,
    pub options: BTreeMap<String, String>,
    /// Experimental in v1.1-v1.3, removed in v1.4 in favour of `spec.tls.frontend`.
    pub frontend_validation: Option<FrontendValidation>,
}

/// `tls.mode` of a listener. The schema defaults it to `Terminate`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    #[default]
    Terminate,
    Passthrough,
    Other(String),
}

impl<'de> Deserialize<'de> for TlsMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mode = Option::<String>::deserialize(deserializer)?;
        Ok(match mode.as_deref() {
            None | Some("Terminate") => Self::Terminate,
            Some("Passthrough") => Self::Passthrough,
            Some(other) => Self::Other(other.to_owned()),
        })
    }
}

/// A `SecretObjectReference`: group defaults to the core group, kind to `Secret`, namespace to
/// the referring object's.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    #[serde(default)]
    pub group: String,
    #[serde(default = "secret_kind")]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: Option<String>,
}

fn secret_kind() -> String {
    "Secret".to_owned()
}

impl SecretRef {
    /// The namespace the reference points into.
    pub fn target_namespace<'a>(&'a self, from_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(from_namespace)
    }
}

/// An `ObjectReference` to a CA bundle. Group and kind are required by the schema; a missing
/// one reads as empty and is reported as an invalid kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CaCertificateRef {
    pub group: String,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}

impl CaCertificateRef {
    pub fn target_namespace<'a>(&'a self, from_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(from_namespace)
    }
}

/// Client-certificate validation: the listener's `tls.frontendValidation` (v1.1-v1.3) or a
/// `validation` block of `spec.tls.frontend` (v1.4+).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FrontendValidation {
    pub ca_certificate_refs: Vec<CaCertificateRef>,
    /// `AllowValidOnly` (the default) or `AllowInsecureFallback`; v1.4+ only.
    pub mode: Option<String>,
}

/// `spec.tls.frontend`: a default for every HTTPS listener and overrides per port.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrontendTls {
    pub default: Option<FrontendValidation>,
    pub per_port: Vec<PerPortFrontend>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerPortFrontend {
    pub port: i32,
    pub validation: Option<FrontendValidation>,
}

/// The client certificate a Gateway presents to backends.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BackendTls {
    pub client_certificate_ref: Option<SecretRef>,
}

impl Gateway {
    /// Reads a Gateway from its JSON form. `default_namespace` applies when
    /// `metadata.namespace` is absent (manifest files; the API server always sets it).
    pub fn from_value(value: &Value, default_namespace: &str) -> Result<Self, ParseError> {
        let raw: RawObject<RawGatewaySpec> = parse(value, "Gateway")?;
        let key = raw.key(default_namespace, "Gateway")?;

        let spec = raw.spec;
        let (backend, backend_field) = match (spec.tls.backend, spec.backend_tls) {
            (Some(backend), _) => (Some(backend), "spec.tls.backend"),
            (None, Some(backend)) => (Some(backend), "spec.backendTLS"),
            (None, None) => (None, "spec.tls.backend"),
        };

        Ok(Self {
            api_version: raw.api_version,
            key,
            gateway_class_name: spec.gateway_class_name,
            listeners: spec.listeners,
            frontend: spec.tls.frontend.map(RawFrontend::into_model),
            backend,
            backend_field,
        })
    }

    pub fn object_ref(&self) -> ObjectRef {
        object_ref(&self.api_version, Kind::Gateway, &self.key)
    }
}

impl ListenerSet {
    /// Reads a ListenerSet or XListenerSet; `kind` says which one the caller found.
    pub fn from_value(
        value: &Value,
        kind: Kind,
        default_namespace: &str,
    ) -> Result<Self, ParseError> {
        let name = kind.as_str();
        let raw: RawObject<RawListenerSetSpec> = parse(value, name)?;
        let key = raw.key(default_namespace, name)?;

        Ok(Self {
            api_version: raw.api_version,
            kind,
            key,
            parent: raw.spec.parent_ref,
            listeners: raw.spec.listeners,
        })
    }

    pub fn object_ref(&self) -> ObjectRef {
        object_ref(&self.api_version, self.kind, &self.key)
    }

    /// The parent Gateway, resolved against the ListenerSet's own namespace.
    pub fn parent_key(&self) -> ObjectKey {
        let namespace = self
            .parent
            .namespace
            .as_deref()
            .unwrap_or(&self.key.namespace);
        ObjectKey::new(namespace, self.parent.name.clone())
    }
}

pub(super) fn object_ref(api_version: &str, kind: Kind, key: &ObjectKey) -> ObjectRef {
    ObjectRef {
        api_version: api_version.to_owned(),
        kind: kind.as_str().to_owned(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    }
}

/// The envelope shared by every object: apiVersion, metadata and a typed spec.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RawObject<S> {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub metadata: RawMetadata,
    #[serde(default)]
    pub spec: S,
}

#[derive(Default, Deserialize)]
pub(super) struct RawMetadata {
    pub name: Option<String>,
    pub namespace: Option<String>,
}

impl<S> RawObject<S> {
    pub fn key(
        &self,
        default_namespace: &str,
        kind: &'static str,
    ) -> Result<ObjectKey, ParseError> {
        let name = match self.metadata.name.as_deref() {
            Some(name) if !name.is_empty() => name,
            _ => return Err(ParseError::MissingName { kind }),
        };
        let namespace = self
            .metadata
            .namespace
            .as_deref()
            .unwrap_or(default_namespace);
        Ok(ObjectKey::new(namespace, name))
    }
}

pub(super) fn parse<S: for<'de> Deserialize<'de> + Default>(
    value: &Value,
    kind: &'static str,
) -> Result<RawObject<S>, ParseError> {
    RawObject::deserialize(value).map_err(|source| ParseError::Schema {
        kind,
        name: value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("<unnamed>")
            .to_owned(),
        source,
    })
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawGatewaySpec {
    gateway_class_name: String,
    listeners: Vec<Listener>,
    tls: RawGatewayTls,
    #[serde(rename = "backendTLS")]
    backend_tls: Option<BackendTls>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawGatewayTls {
    frontend: Option<RawFrontend>,
    backend: Option<BackendTls>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawFrontend {
    default: Option<RawTlsConfig>,
    per_port: Vec<RawPerPort>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawTlsConfig {
    validation: Option<FrontendValidation>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawPerPort {
    port: i32,
    tls: RawTlsConfig,
}

impl RawFrontend {
    fn into_model(self) -> FrontendTls {
        FrontendTls {
            default: self.default.and_then(|config| config.validation),
            per_port: self
                .per_port
                .into_iter()
                .map(|entry| PerPortFrontend {
                    port: entry.port,
                    validation: entry.tls.validation,
                })
                .collect(),
        }
    }
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawListenerSetSpec {
    parent_ref: ParentRef,
    listeners: Vec<Listener>,
}
