//! Misspelt ReferenceGrants: the schema accepts any group and kind, and a grant that says
//! `group: core` or `kind: Gateways` silently matches nothing. Only spellings that are close to
//! the kinds refguard reads are reported, so grants for routes or other tools stay quiet.

use crate::model::{ReferenceGrant, EXPERIMENTAL_GROUP, GATEWAY_GROUP};

use super::super::catalogue as c;
use super::Report;

/// `from` kinds refguard reads, with the group each must be spelt with.
const FROM_KINDS: [(&str, &str); 3] = [
    ("Gateway", GATEWAY_GROUP),
    ("ListenerSet", GATEWAY_GROUP),
    ("XListenerSet", EXPERIMENTAL_GROUP),
];

/// `to` kinds refguard reads; all in the core group, written `""`.
const TO_KINDS: [&str; 2] = ["Secret", "ConfigMap"];

pub(crate) fn check_typos(grant: &ReferenceGrant, report: &mut Report<'_>) {
    for (index, from) in grant.from.iter().enumerate() {
        if let Some((field, message)) = from_typo(&from.group, &from.kind) {
            report.add(
                &c::GRANT_TYPO,
                None,
                &format!("spec.from[{index}].{field}"),
                message,
            );
        }
    }
    for (index, to) in grant.to.iter().enumerate() {
        if let Some((field, message)) = to_typo(&to.group, &to.kind) {
            report.add(
                &c::GRANT_TYPO,
                None,
                &format!("spec.to[{index}].{field}"),
                message,
            );
        }
    }
}

/// A kind compared loosely: case and a plural `s` ignored.
fn loose(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    lower.strip_suffix('s').map(str::to_owned).unwrap_or(lower)
}

fn from_typo(group: &str, kind: &str) -> Option<(&'static str, String)> {
    let (intended, intended_group) = FROM_KINDS
        .into_iter()
        .find(|(known, _)| loose(known) == loose(kind))?;

    if kind != intended {
        let message = format!("from kind \"{kind}\" matches nothing; write \"{intended}\"");
        return Some(("kind", message));
    }
    if group != intended_group {
        let message =
            format!("from group \"{group}\" matches no {intended}; write \"{intended_group}\"");
        return Some(("group", message));
    }
    None
}

fn to_typo(group: &str, kind: &str) -> Option<(&'static str, String)> {
    let intended = TO_KINDS
        .into_iter()
        .find(|known| loose(known) == loose(kind))?;

    // Secrets and ConfigMaps exist only in the core group, so any other group is a mistake,
    // whether a known misspelling of it ("core", "v1") or another API group altogether.
    if !group.is_empty() {
        let message =
            format!("to group \"{group}\" matches nothing; the core group is written \"\"");
        return Some(("group", message));
    }
    if group.is_empty() && kind != intended {
        let message = format!("to kind \"{kind}\" matches nothing; write \"{intended}\"");
        return Some(("kind", message));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_told_from_other_grants() {
        // (group, kind, from side, typo expected, what it shows)
        let cases = [
            (GATEWAY_GROUP, "Gateway", true, false, "correct from"),
            (GATEWAY_GROUP, "Gateways", true, true, "plural kind"),
            (GATEWAY_GROUP, "gateway", true, true, "lower-case kind"),
            (
                "networking.gateway.k8s.io",
                "Gateway",
                true,
                true,
                "swapped group",
            ),
            (
                GATEWAY_GROUP,
                "XListenerSet",
                true,
                true,
                "experimental kind, standard group",
            ),
            (
                GATEWAY_GROUP,
                "HTTPRoute",
                true,
                false,
                "route grants are not ours",
            ),
            ("", "Secret", false, false, "correct to"),
            ("core", "Secret", false, true, "core group spelt out"),
            ("v1", "ConfigMap", false, true, "version as group"),
            (
                GATEWAY_GROUP,
                "Secret",
                false,
                true,
                "Secret in a non-core group",
            ),
            ("", "secrets", false, true, "plural lower-case kind"),
            ("", "Service", false, false, "service grants are not ours"),
        ];
        for (group, kind, from_side, expected, shows) in cases {
            let found = if from_side {
                from_typo(group, kind)
            } else {
                to_typo(group, kind)
            };
            assert_eq!(found.is_some(), expected, "{shows}");
        }
    }
}
