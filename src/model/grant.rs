//! ReferenceGrant (v1beta1 and v1 share one shape and one storage version).

use serde::Deserialize;
use serde_json::Value;

use super::gateway::{object_ref, parse};
use super::object::{Kind, ObjectKey, ObjectRef, ParseError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReferenceGrant {
    pub api_version: String,
    pub key: ObjectKey,
    pub from: Vec<GrantFrom>,
    pub to: Vec<GrantTo>,
}

/// Who may refer: every field is required by the schema; missing ones read as empty, which
/// matches nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GrantFrom {
    pub group: String,
    pub kind: String,
    pub namespace: String,
}

/// What may be referred to; no `name` means every object of that kind in the namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct GrantTo {
    pub group: String,
    pub kind: String,
    pub name: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct RawGrantSpec {
    from: Vec<GrantFrom>,
    to: Vec<GrantTo>,
}

impl ReferenceGrant {
    pub fn from_value(value: &Value, default_namespace: &str) -> Result<Self, ParseError> {
        let raw: super::gateway::RawObject<RawGrantSpec> = parse(value, "ReferenceGrant")?;
        let key = raw.key(default_namespace, "ReferenceGrant")?;

        Ok(Self {
            api_version: raw.api_version,
            key,
            from: raw.spec.from,
            to: raw.spec.to,
        })
    }

    pub fn object_ref(&self) -> ObjectRef {
        object_ref(&self.api_version, Kind::ReferenceGrant, &self.key)
    }

    /// Whether this grant lets an object of `from_group`/`from_kind` in `from_namespace` refer
    /// to the object `to_group`/`to_kind`/`to_name` in the grant's own namespace.
    pub fn permits(
        &self,
        from_group: &str,
        from_kind: &str,
        from_namespace: &str,
        to_group: &str,
        to_kind: &str,
        to_name: &str,
    ) -> bool {
        let from_matches = self.from.iter().any(|from| {
            from.group == from_group && from.kind == from_kind && from.namespace == from_namespace
        });
        let to_matches = self.to.iter().any(|to| {
            to.group == to_group
                && to.kind == to_kind
                && to
                    .name
                    .as_deref()
                    .is_none_or(|name| name.is_empty() || name == to_name)
        });
        from_matches && to_matches
    }
}
