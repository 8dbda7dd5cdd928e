//! The rules configuration file: implementation profile, per-rule severity, and overrides per
//! namespace. Shared by `refguard check --config` and `refguard serve --config` (which reloads
//! it when the file changes).
//!
//! ```yaml
//! implementation: istio@1.25.0      # default: gateway-api
//! expiryWarningDays: 30             # warn when a certificate expires sooner than this
//! rules:                            # rule id -> deny | warn | off
//!   cert-secret-missing: deny
//! namespaces:                       # overrides for objects in one namespace
//!   legacy:
//!     implementation: istio@1.24.0
//!     rules:
//!       cert-expiring: off
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use super::catalogue;
use super::finding::Severity;
use super::profile::Implementation;

/// A rule's configured level: a severity, or off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Deny,
    Warn,
    Off,
}

impl Level {
    pub fn severity(self) -> Option<Severity> {
        match self {
            Self::Deny => Some(Severity::Deny),
            Self::Warn => Some(Severity::Warn),
            Self::Off => None,
        }
    }
}

impl From<Severity> for Level {
    fn from(severity: Severity) -> Self {
        match severity {
            Severity::Deny => Self::Deny,
            Severity::Warn => Self::Warn,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RulesConfig {
    pub implementation: Implementation,
    pub expiry_warning_days: u32,
    pub rules: BTreeMap<String, Level>,
    pub namespaces: BTreeMap<String, NamespaceOverride>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceOverride {
    pub implementation: Option<Implementation>,
    pub rules: BTreeMap<String, Level>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        Self {
            implementation: Implementation::GatewayApi,
            expiry_warning_days: 30,
            rules: BTreeMap::new(),
            namespaces: BTreeMap::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("rules config is not valid YAML for refguard: {0}")]
    Syntax(String),
    #[error("rules config: {0}")]
    Profile(#[from] super::profile::ProfileError),
    #[error("rules config names unknown rule {0:?} (see docs/rules.md for the catalogue)")]
    UnknownRule(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawConfig {
    implementation: Option<String>,
    expiry_warning_days: Option<u32>,
    #[serde(default)]
    rules: BTreeMap<String, Level>,
    #[serde(default)]
    namespaces: BTreeMap<String, RawOverride>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOverride {
    implementation: Option<String>,
    #[serde(default)]
    rules: BTreeMap<String, Level>,
}

impl RulesConfig {
    /// Reads and validates a config file's text. Unknown rule ids are errors, so a typo does not
    /// silently leave a rule at its default.
    pub fn from_yaml(text: &str) -> Result<Self, ConfigError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let raw: RawConfig =
            serde_saphyr::from_str(text).map_err(|error| ConfigError::Syntax(error.to_string()))?;

        let mut namespaces = BTreeMap::new();
        for (namespace, entry) in raw.namespaces {
            check_rule_ids(&entry.rules)?;
            let implementation = entry.implementation.map(|text| text.parse()).transpose()?;
            namespaces.insert(
                namespace,
                NamespaceOverride {
                    implementation,
                    rules: entry.rules,
                },
            );
        }
        check_rule_ids(&raw.rules)?;

        Ok(Self {
            implementation: match raw.implementation {
                Some(text) => text.parse()?,
                None => Implementation::GatewayApi,
            },
            expiry_warning_days: raw.expiry_warning_days.unwrap_or(30),
            rules: raw.rules,
            namespaces,
        })
    }

    /// The profile that applies to objects in `namespace`.
    pub fn implementation_for(&self, namespace: &str) -> Implementation {
        self.namespaces
            .get(namespace)
            .and_then(|entry| entry.implementation)
            .unwrap_or(self.implementation)
    }

    /// The level of `rule` for objects in `namespace`: the namespace override, else the global
    /// setting, else the rule's default.
    pub fn level(&self, rule: &str, namespace: &str) -> Level {
        let configured = self
            .namespaces
            .get(namespace)
            .and_then(|entry| entry.rules.get(rule))
            .or_else(|| self.rules.get(rule));
        match configured {
            Some(level) => *level,
            None => {
                catalogue::rule_by_id(rule).map_or(Level::Warn, |rule| rule.default_severity.into())
            }
        }
    }
}

fn check_rule_ids(rules: &BTreeMap<String, Level>) -> Result<(), ConfigError> {
    match rules.keys().find(|id| catalogue::rule_by_id(id).is_none()) {
        Some(unknown) => Err(ConfigError::UnknownRule(unknown.clone())),
        None => Ok(()),
    }
}
