//! Reverse checks: a write to a ReferenceGrant, or the deletion of a Secret or ConfigMap, that
//! takes away a reference an existing Gateway or ListenerSet reads today.
//!
//! The [`World`] holds the state before the change, so "after" is evaluated through a
//! [`GrantView`] that replaces the one grant, never by mutating the shared world.

use crate::model::{Gateway, Kind, ListenerSet, ObjectKey, ReferenceGrant, TlsMode};

use super::super::catalogue as c;
use super::super::profile::Implementation;
use super::super::world::{self, World};
use super::access::{self, GrantView, Target};
use super::frontend::{self, is_supported_ca_kind};
use super::{Eval, Holder, Report};

/// One reference held by a Gateway or ListenerSet, with where it sits.
struct HeldRef {
    listener: Option<String>,
    kind: &'static str,
    namespace: String,
    name: String,
}

impl HeldRef {
    fn target(&self) -> Target<'_> {
        Target::core(self.kind, &self.namespace, &self.name)
    }

    /// `Gateway gw/main, listener https`, or the Gateway alone for Gateway-level refs. Kept
    /// terse: these messages become warnings, which must fit in 120 characters with the rule id.
    fn describe(&self, holder: Holder<'_>) -> String {
        match &self.listener {
            Some(listener) => format!("{} {}, listener {listener}", holder.kind, holder.key),
            None => format!("{} {}", holder.kind, holder.key),
        }
    }
}

/// A grant UPDATE (`new` set) or DELETE (`new` empty): references that were permitted with the
/// stored grant and are not with the new one. The caller skips CREATEs; a grant the cache has
/// not seen yet has nothing to compare with either.
pub(crate) fn grant_change(
    subject: &ReferenceGrant,
    new: Option<&ReferenceGrant>,
    eval: &Eval<'_>,
    implementation_for: &dyn Fn(&str) -> Implementation,
    report: &mut Report<'_>,
) {
    let world = eval.world;
    if world.grant(&subject.key).is_none() {
        return;
    }
    let namespace = subject.key.namespace.as_str();
    let before = GrantView::current(world);
    let after = GrantView::replacing(world, &subject.key, new);

    for referrer in world.referrers_into(namespace) {
        let Some((holder, refs)) = held_refs(world, referrer) else {
            continue;
        };
        let implementation = implementation_for(holder.namespace());
        let from = holder.referrer();

        for held in refs.iter().filter(|held| held.namespace == namespace) {
            let target = held.target();
            let lost = access::permitted(&before, implementation, from, target)
                && !access::permitted(&after, implementation, from, target);
            if lost {
                let message = format!(
                    "{} would lose {} {}; keep it in a grant",
                    held.describe(holder),
                    held.kind,
                    held.name
                );
                report.add(
                    &c::GRANT_CHANGE_BREAKS,
                    held.listener.as_deref(),
                    "spec",
                    message,
                );
            }
        }
    }
}

/// A Secret or ConfigMap DELETE: references that read it today.
pub(crate) fn object_deleted(
    kind: Kind,
    key: &ObjectKey,
    eval: &Eval<'_>,
    implementation_for: &dyn Fn(&str) -> Implementation,
    report: &mut Report<'_>,
) {
    let world = eval.world;
    let rule = match kind {
        Kind::ConfigMap => &c::CONFIG_MAP_DELETE_BREAKS,
        _ => &c::SECRET_DELETE_BREAKS,
    };
    let view = GrantView::current(world);

    for referrer in world.referrers_into(&key.namespace) {
        let Some((holder, refs)) = held_refs(world, referrer) else {
            continue;
        };
        let implementation = implementation_for(holder.namespace());
        let from = holder.referrer();

        let reads_it = |held: &&HeldRef| {
            held.kind == kind.as_str() && held.namespace == key.namespace && held.name == key.name
        };
        for held in refs.iter().filter(reads_it) {
            if access::permitted(&view, implementation, from, held.target()) {
                let message = format!(
                    "{} reads this {kind}; repoint that first",
                    held.describe(holder)
                );
                report.add(rule, held.listener.as_deref(), "metadata.name", message);
            }
        }
    }
}

/// The referrer's object and every Secret and ConfigMap reference it holds.
fn held_refs<'a>(
    world: &'a World,
    referrer: &world::Referrer,
) -> Option<(Holder<'a>, Vec<HeldRef>)> {
    match referrer.kind {
        Kind::Gateway => {
            let gateway = world.gateway(&referrer.key)?;
            Some((Holder::gateway(gateway), gateway_refs(gateway)))
        }
        Kind::ListenerSet | Kind::XListenerSet => {
            let set = world.listener_set(&referrer.key)?;
            Some((Holder::listener_set(set), listener_set_refs(set)))
        }
        _ => None,
    }
}

fn gateway_refs(gateway: &Gateway) -> Vec<HeldRef> {
    let own = gateway.key.namespace.as_str();
    let mut refs = listener_refs(own, &gateway.listeners);

    for block in frontend::blocks(gateway) {
        refs.extend(ca_refs(own, None, &block.validation.ca_certificate_refs));
    }
    let backend = gateway
        .backend
        .as_ref()
        .and_then(|backend| backend.client_certificate_ref.as_ref());
    if let Some(reference) =
        backend.filter(|reference| reference.group.is_empty() && reference.kind == "Secret")
    {
        refs.push(HeldRef {
            listener: None,
            kind: "Secret",
            namespace: reference.target_namespace(own).to_owned(),
            name: reference.name.clone(),
        });
    }
    refs
}

fn listener_set_refs(set: &ListenerSet) -> Vec<HeldRef> {
    listener_refs(&set.key.namespace, &set.listeners)
}

fn listener_refs(own: &str, listeners: &[crate::model::Listener]) -> Vec<HeldRef> {
    let mut refs = Vec::new();
    for listener in listeners {
        let Some(tls) = &listener.tls else { continue };
        let name = Some(listener.name.clone());

        if tls.mode != TlsMode::Passthrough {
            let secrets = tls
                .certificate_refs
                .iter()
                .filter(|reference| reference.group.is_empty() && reference.kind == "Secret");
            refs.extend(secrets.map(|reference| HeldRef {
                listener: name.clone(),
                kind: "Secret",
                namespace: reference.target_namespace(own).to_owned(),
                name: reference.name.clone(),
            }));
        }
        if let Some(validation) = &tls.frontend_validation {
            refs.extend(ca_refs(own, name.clone(), &validation.ca_certificate_refs));
        }
    }
    refs
}

fn ca_refs(
    own: &str,
    listener: Option<String>,
    references: &[crate::model::CaCertificateRef],
) -> Vec<HeldRef> {
    references
        .iter()
        .filter(|reference| is_supported_ca_kind(reference))
        .map(|reference| HeldRef {
            listener: listener.clone(),
            kind: if reference.kind == "Secret" {
                "Secret"
            } else {
                "ConfigMap"
            },
            namespace: reference.target_namespace(own).to_owned(),
            name: reference.name.clone(),
        })
        .collect()
}
