//! Listener `tls.options`: the spec reserves un-prefixed keys for Gateway API itself and
//! defines none yet, so every implementation-specific key needs a domain prefix.
//! Istio's own keys are checked in the Istio module.

use super::super::catalogue as c;
use super::{Holder, Report};

pub(crate) fn check(holder: Holder<'_>, report: &mut Report<'_>) {
    for (index, listener) in holder.listeners.iter().enumerate() {
        let Some(tls) = &listener.tls else { continue };

        for key in tls.options.keys().filter(|key| !key.contains('/')) {
            let field = format!("spec.listeners[{index}].tls.options[\"{key}\"]");
            let message = format!(
                "tls option \"{key}\" has no domain prefix (reserved by Gateway API); \
                 use e.g. example.com/{key}"
            );
            report.add(
                &c::TLS_OPTION_RESERVED_KEY,
                Some(&listener.name),
                &field,
                message,
            );
        }
    }
}
