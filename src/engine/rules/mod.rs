//! The rules, one module per part of the configuration they read. Each module adds findings to
//! a [`Report`]; the report drops findings of rules that do not apply to the selected
//! implementation, so no rule body ever checks a version.

mod access;
mod backend;
mod certificates;
mod frontend;
mod grants;
mod istio;
mod options;
mod readable;
mod reverse;

use crate::model::{
    Gateway, Kind, Listener, ListenerSet, ObjectKey, ObjectRef, ReferenceGrant, GATEWAY_GROUP,
};

use super::catalogue::{self, Rule};
use super::finding::Finding;
use super::profile::Implementation;
use super::world::World;

pub(crate) use access::GrantView;

/// What every rule reads besides the object: cluster state, profile and clock.
#[derive(Clone, Copy)]
pub(crate) struct Eval<'a> {
    pub world: &'a World,
    pub implementation: Implementation,
    pub now: i64,
    pub expiry_warning_days: u32,
    /// The grants as the rules should see them; differs from `world` only in reverse checks.
    pub grants: GrantView<'a>,
}

/// Findings about one object, filtered by the rules' scopes.
pub(crate) struct Report<'a> {
    object: &'a ObjectRef,
    implementation: Implementation,
    findings: Vec<Finding>,
}

impl<'a> Report<'a> {
    pub fn new(object: &'a ObjectRef, implementation: Implementation) -> Self {
        Self {
            object,
            implementation,
            findings: Vec::new(),
        }
    }

    /// Records a finding unless `rule` does not apply to the implementation. The severity is
    /// the rule's default; configuration is applied later, in `review`.
    pub fn add(&mut self, rule: &Rule, listener: Option<&str>, field: &str, message: String) {
        if !catalogue::applies(self.implementation, rule) {
            return;
        }
        self.findings.push(Finding {
            rule: rule.id,
            reason: rule.reason,
            severity: rule.default_severity,
            object: self.object.clone(),
            listener: listener.map(str::to_owned),
            field: field.to_owned(),
            message: one_line(message),
            detail: None,
        });
    }

    /// Whether findings of `rule` would be kept; lets costly conditions be skipped.
    pub fn wants(&self, rule: &Rule) -> bool {
        catalogue::applies(self.implementation, rule)
    }

    pub fn into_findings(self) -> Vec<Finding> {
        self.findings
    }
}

/// Keeps a message on one line. Messages are written to fit in 120 characters with names of
/// ordinary length, but are never cut here: a long namespace name must not cost the user the
/// fix hint at the end. Where a hard limit applies (warnings, which the API server truncates),
/// the server shortens them, dropping the field path first.
fn one_line(message: String) -> String {
    if message.contains('\n') {
        message.replace('\n', " ")
    } else {
        message
    }
}

/// The object whose listeners hold references: a Gateway or a (X)ListenerSet. A reference is
/// authorised by grants naming this kind; a ListenerSet does not inherit its parent's grants.
#[derive(Clone, Copy)]
pub(crate) struct Holder<'a> {
    pub kind: Kind,
    pub key: &'a ObjectKey,
    pub listeners: &'a [Listener],
}

impl<'a> Holder<'a> {
    pub fn gateway(gateway: &'a Gateway) -> Self {
        Self {
            kind: Kind::Gateway,
            key: &gateway.key,
            listeners: &gateway.listeners,
        }
    }

    pub fn listener_set(set: &'a ListenerSet) -> Self {
        Self {
            kind: set.kind,
            key: &set.key,
            listeners: &set.listeners,
        }
    }

    pub fn namespace(&self) -> &'a str {
        &self.key.namespace
    }

    /// Who asks, as the grants' `from` entries name it.
    pub fn referrer(&self) -> access::Referrer<'a> {
        access::Referrer {
            kind: self.kind,
            namespace: &self.key.namespace,
        }
    }

    /// `Gateway "ns/name"`, as messages name the holder.
    pub fn describe(&self) -> String {
        format!("{} \"{}\"", self.kind, self.key)
    }
}

/// Findings for a Gateway: its listeners, frontend validation and backend client certificate.
pub(crate) fn gateway(gateway: &Gateway, eval: &Eval<'_>) -> Vec<Finding> {
    let object = gateway.object_ref();
    let mut report = Report::new(&object, eval.implementation);
    let holder = Holder::gateway(gateway);

    certificates::check(holder, eval, &mut report);
    options::check(holder, &mut report);
    frontend::check(gateway, eval, &mut report);
    backend::check(gateway, eval, &mut report);
    istio::check(holder, Some(gateway), eval, &mut report);
    istio::check_gateway(gateway, eval, &mut report);

    report.into_findings()
}

/// Findings for a ListenerSet or XListenerSet: its own listeners, with its own grants.
pub(crate) fn listener_set(set: &ListenerSet, eval: &Eval<'_>) -> Vec<Finding> {
    let object = set.object_ref();
    let mut report = Report::new(&object, eval.implementation);
    let holder = Holder::listener_set(set);

    certificates::check(holder, eval, &mut report);
    options::check(holder, &mut report);
    frontend::check_listener_validation(holder, eval, &mut report);
    // A parent in another namespace is not consulted: whether a rule fires must not reveal a
    // Gateway the ListenerSet's author may not be able to read.
    let parent_key = set.parent_key();
    let parent = (parent_key.namespace == set.key.namespace)
        .then(|| eval.world.gateway(&parent_key))
        .flatten();
    istio::check(holder, parent, eval, &mut report);

    report.into_findings()
}

/// Findings for a ReferenceGrant write: misspelt entries, and references it takes away.
pub(crate) fn grant_change(
    new: Option<&ReferenceGrant>,
    old: Option<&ReferenceGrant>,
    eval: &Eval<'_>,
    implementation_for: &dyn Fn(&str) -> Implementation,
) -> Vec<Finding> {
    let Some(subject) = new.or(old) else {
        return Vec::new();
    };
    let object = subject.object_ref();
    let mut report = Report::new(&object, eval.implementation);

    if let Some(new) = new {
        grants::check_typos(new, &mut report);
    }
    // A CREATE takes nothing away. (`refguard check` reviews every grant as a CREATE into a
    // world that already holds it, so the stored grant alone cannot tell.)
    if old.is_some() {
        reverse::grant_change(subject, new, eval, implementation_for, &mut report);
    }

    report.into_findings()
}

/// Findings for deleting a Secret or ConfigMap: the references that would lose their target.
pub(crate) fn object_deleted(
    kind: Kind,
    key: &ObjectKey,
    eval: &Eval<'_>,
    implementation_for: &dyn Fn(&str) -> Implementation,
) -> Vec<Finding> {
    let object = ObjectRef {
        api_version: "v1".to_owned(),
        kind: kind.as_str().to_owned(),
        namespace: key.namespace.clone(),
        name: key.name.clone(),
    };
    let mut report = Report::new(&object, eval.implementation);
    reverse::object_deleted(kind, key, eval, implementation_for, &mut report);
    report.into_findings()
}

/// Whether a listener serves HTTPS (frontend validation applies only to those).
fn is_https(listener: &Listener) -> bool {
    listener.protocol == "HTTPS"
}

/// The from-group of a holder kind, as ReferenceGrants must spell it.
fn from_group(kind: Kind) -> &'static str {
    match kind {
        Kind::XListenerSet => crate::model::EXPERIMENTAL_GROUP,
        _ => GATEWAY_GROUP,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_stay_on_one_line_and_whole() {
        let long = "x".repeat(300);
        assert_eq!(one_line(long.clone()), long);
        assert_eq!(one_line("a\nb".to_owned()), "a b");
    }
}
