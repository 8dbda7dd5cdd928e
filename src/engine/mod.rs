//! The rules engine: given a write, the cluster state it lands in and the configuration, it
//! returns findings. It does no I/O and knows nothing of HTTP or of the cache, so the webhook,
//! `refguard check` and the tests all run exactly the same code.

pub mod catalogue;
pub mod config;
mod finding;
pub mod profile;
mod rules;
mod world;

pub use config::{Level, RulesConfig};
pub use finding::{Finding, Reason, Severity};
pub use profile::{Implementation, Version};
pub use world::{Referrer, World};

use crate::model::{Gateway, Kind, ListenerSet, ObjectKey, ReferenceGrant};

/// A write the engine is asked about. `old` is the stored object on UPDATE and DELETE.
#[derive(Clone, Copy, Debug)]
pub enum Change<'a> {
    Gateway {
        new: &'a Gateway,
        old: Option<&'a Gateway>,
    },
    ListenerSet {
        new: &'a ListenerSet,
        old: Option<&'a ListenerSet>,
    },
    /// CREATE has no `old`, DELETE no `new`.
    ReferenceGrant {
        new: Option<&'a ReferenceGrant>,
        old: Option<&'a ReferenceGrant>,
    },
    SecretDeleted(&'a ObjectKey),
    ConfigMapDeleted(&'a ObjectKey),
}

/// Everything a review reads besides the change itself.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub world: &'a World,
    pub config: &'a RulesConfig,
    /// Seconds since the Unix epoch, for certificate validity.
    pub now: i64,
}

/// Reviews one change and returns its findings, with configured severities applied, rules
/// that are off removed, and (on UPDATE) deny findings the old object already had downgraded
/// to warnings.
pub fn review(change: &Change<'_>, context: &Context<'_>) -> Vec<Finding> {
    let findings = evaluate(change, context);
    let mut findings = apply_levels(findings, context.config);

    let old = match change {
        Change::Gateway { old: Some(old), .. } => Some(Change::Gateway {
            new: old,
            old: None,
        }),
        Change::ListenerSet { old: Some(old), .. } => Some(Change::ListenerSet {
            new: old,
            old: None,
        }),
        _ => None,
    };
    if let Some(old) = old {
        let before = apply_levels(evaluate(&old, context), context.config);
        ratchet(&mut findings, &before);
    }
    findings
}

/// The rules' findings for one change, at their default severities.
fn evaluate(change: &Change<'_>, context: &Context<'_>) -> Vec<Finding> {
    let config = context.config;
    let eval = |namespace: &str| rules::Eval {
        world: context.world,
        implementation: config.implementation_for(namespace),
        now: context.now,
        expiry_warning_days: config.expiry_warning_days,
        grants: rules::GrantView::current(context.world),
    };
    let implementation_for = |namespace: &str| config.implementation_for(namespace);

    match *change {
        Change::Gateway { new, .. } => rules::gateway(new, &eval(&new.key.namespace)),
        Change::ListenerSet { new, .. } => rules::listener_set(new, &eval(&new.key.namespace)),
        Change::ReferenceGrant { new, old } => {
            let Some(namespace) = new.or(old).map(|grant| grant.key.namespace.as_str()) else {
                return Vec::new();
            };
            rules::grant_change(new, old, &eval(namespace), &implementation_for)
        }
        Change::SecretDeleted(key) => {
            let eval = eval(&key.namespace);
            rules::object_deleted(Kind::Secret, key, &eval, &implementation_for)
        }
        Change::ConfigMapDeleted(key) => {
            let eval = eval(&key.namespace);
            rules::object_deleted(Kind::ConfigMap, key, &eval, &implementation_for)
        }
    }
}

/// The field path without its `spec.listeners[N].` prefix when the finding names a listener:
/// the index changes when listeners are inserted, the name does not.
fn field_within_listener(finding: &Finding) -> &str {
    let field = finding.field.as_str();
    if finding.listener.is_none() {
        return field;
    }
    field
        .strip_prefix("spec.listeners[")
        .and_then(|rest| rest.split_once("]."))
        .map_or(field, |(_index, within)| within)
}

/// Applies each rule's configured level for the object's namespace; `off` drops the finding.
fn apply_levels(findings: Vec<Finding>, config: &RulesConfig) -> Vec<Finding> {
    findings
        .into_iter()
        .filter_map(|mut finding| {
            let level = config.level(finding.rule, &finding.object.namespace);
            finding.severity = level.severity()?;
            Some(finding)
        })
        .collect()
}

/// On UPDATE, a deny the stored object already had (same rule, listener and field) becomes a
/// warning: unrelated edits to an already-broken object must not be blocked. Listeners are
/// matched by name, not position, so inserting or reordering listeners keeps the ratchet.
fn ratchet(findings: &mut [Finding], before: &[Finding]) {
    for finding in findings.iter_mut().filter(|f| f.severity == Severity::Deny) {
        let had_it = before.iter().any(|old| {
            old.severity == Severity::Deny
                && old.rule == finding.rule
                && old.listener == finding.listener
                && field_within_listener(old) == field_within_listener(finding)
        });
        if had_it {
            finding.severity = Severity::Warn;
            finding.detail = Some(
                "downgraded to a warning: the stored object already had this problem".to_owned(),
            );
        }
    }
}
