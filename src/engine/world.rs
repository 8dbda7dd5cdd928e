//! The engine's read-only view of cluster state, indexed the way the rules look things up.
//!
//! Both front ends fill the same structure: `refguard check` from manifest files, the webhook
//! from its informer cache. Every lookup is by namespace and name; nothing scans the whole
//! world, so a cluster with tens of thousands of Secrets answers as fast as a small one.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::model::{
    ConfigMapFacts, Gateway, Kind, ListenerSet, ObjectKey, ReferenceGrant, SecretFacts,
};

/// A Gateway or ListenerSet that holds references, named in reverse lookups.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Referrer {
    pub kind: Kind,
    pub key: ObjectKey,
}

#[derive(Debug, Default)]
pub struct World {
    grants: HashMap<String, BTreeMap<String, Arc<ReferenceGrant>>>,
    secrets: HashMap<String, HashMap<String, Arc<SecretFacts>>>,
    config_maps: HashMap<String, HashMap<String, Arc<ConfigMapFacts>>>,
    gateways: HashMap<String, BTreeMap<String, Arc<Gateway>>>,
    listener_sets: HashMap<String, BTreeMap<String, Arc<ListenerSet>>>,
    /// Target namespace to the Gateways and ListenerSets with a reference into it (their own
    /// namespace included), so a change to a grant, Secret or ConfigMap finds who is affected.
    referrers: HashMap<String, BTreeSet<Referrer>>,
    /// Parent Gateway to the ListenerSets that name it, so a Gateway review finds the listeners
    /// attached to it without scanning every ListenerSet.
    attached: HashMap<ObjectKey, BTreeSet<ObjectKey>>,
    /// The namespaces whose Secrets are known, when that is not all of them (the webhook run
    /// with `--secret-namespaces`): elsewhere a Secret's absence says nothing.
    secret_scope: Option<BTreeSet<String>>,
}

impl World {
    pub fn new() -> Self {
        Self::default()
    }

    // --- lookups used by the rules ---

    /// ReferenceGrants in `namespace`, in name order.
    pub fn grants_in(&self, namespace: &str) -> impl Iterator<Item = &ReferenceGrant> {
        self.grants
            .get(namespace)
            .into_iter()
            .flat_map(|grants| grants.values().map(Arc::as_ref))
    }

    pub fn grant(&self, key: &ObjectKey) -> Option<&ReferenceGrant> {
        self.grants
            .get(&key.namespace)?
            .get(&key.name)
            .map(Arc::as_ref)
    }

    pub fn secret(&self, namespace: &str, name: &str) -> Option<&SecretFacts> {
        self.secrets.get(namespace)?.get(name).map(Arc::as_ref)
    }

    /// Whether the Secrets of `namespace` are known, so that a missing one really is missing.
    pub fn knows_secrets_in(&self, namespace: &str) -> bool {
        self.secret_scope
            .as_ref()
            .is_none_or(|scope| scope.contains(namespace))
    }

    pub fn config_map(&self, namespace: &str, name: &str) -> Option<&ConfigMapFacts> {
        self.config_maps.get(namespace)?.get(name).map(Arc::as_ref)
    }

    pub fn gateway(&self, key: &ObjectKey) -> Option<&Gateway> {
        self.gateways
            .get(&key.namespace)?
            .get(&key.name)
            .map(Arc::as_ref)
    }

    pub fn listener_set(&self, key: &ObjectKey) -> Option<&ListenerSet> {
        self.listener_sets
            .get(&key.namespace)?
            .get(&key.name)
            .map(Arc::as_ref)
    }

    /// Gateways and ListenerSets with at least one reference into `namespace`.
    pub fn referrers_into(&self, namespace: &str) -> impl Iterator<Item = &Referrer> {
        self.referrers.get(namespace).into_iter().flatten()
    }

    /// ListenerSets whose parent is the Gateway `gateway`, in key order. The Gateway itself
    /// need not exist.
    pub fn listener_sets_of(&self, gateway: &ObjectKey) -> impl Iterator<Item = &ListenerSet> {
        self.attached
            .get(gateway)
            .into_iter()
            .flatten()
            .filter_map(|key| self.listener_set(key))
    }

    pub fn listener_sets(&self) -> impl Iterator<Item = &ListenerSet> {
        self.listener_sets
            .values()
            .flat_map(|sets| sets.values().map(Arc::as_ref))
    }

    /// Objects held, per kind, for metrics.
    pub fn counts(&self) -> [(Kind, usize); 5] {
        fn count<V>(map: &HashMap<String, V>, len: impl Fn(&V) -> usize) -> usize {
            map.values().map(len).sum()
        }
        [
            (Kind::Gateway, count(&self.gateways, BTreeMap::len)),
            (Kind::ListenerSet, count(&self.listener_sets, BTreeMap::len)),
            (Kind::ReferenceGrant, count(&self.grants, BTreeMap::len)),
            (Kind::Secret, count(&self.secrets, HashMap::len)),
            (Kind::ConfigMap, count(&self.config_maps, HashMap::len)),
        ]
    }

    /// Keys of every object of `kind` held, for the cache to find what a relist no longer
    /// contains. `ListenerSet` and `XListenerSet` are told apart.
    pub fn keys(&self, kind: Kind) -> Vec<ObjectKey> {
        fn nested<M>(
            map: &HashMap<String, M>,
            names: impl Fn(&M) -> Vec<&String>,
        ) -> Vec<ObjectKey> {
            map.iter()
                .flat_map(|(namespace, inner)| {
                    names(inner)
                        .into_iter()
                        .map(move |name| ObjectKey::new(namespace.clone(), name.clone()))
                })
                .collect()
        }
        match kind {
            Kind::Gateway => nested(&self.gateways, |m| m.keys().collect()),
            Kind::ReferenceGrant => nested(&self.grants, |m| m.keys().collect()),
            Kind::Secret => nested(&self.secrets, |m| m.keys().collect()),
            Kind::ConfigMap => nested(&self.config_maps, |m| m.keys().collect()),
            Kind::ListenerSet | Kind::XListenerSet => self
                .listener_sets()
                .filter(|set| set.kind == kind)
                .map(|set| set.key.clone())
                .collect(),
        }
    }

    // --- updates, from the loader or the cache ---

    /// Declares that only the Secrets of these namespaces are known (see `knows_secrets_in`).
    pub fn limit_secrets_to(&mut self, namespaces: impl IntoIterator<Item = String>) {
        self.secret_scope = Some(namespaces.into_iter().collect());
    }

    pub fn upsert_grant(&mut self, grant: ReferenceGrant) {
        let key = grant.key.clone();
        self.grants
            .entry(key.namespace)
            .or_default()
            .insert(key.name, Arc::new(grant));
    }

    pub fn remove_grant(&mut self, key: &ObjectKey) -> Option<Arc<ReferenceGrant>> {
        remove_nested(&mut self.grants, key)
    }

    pub fn upsert_secret(&mut self, key: ObjectKey, facts: SecretFacts) {
        self.secrets
            .entry(key.namespace)
            .or_default()
            .insert(key.name, Arc::new(facts));
    }

    pub fn remove_secret(&mut self, key: &ObjectKey) -> Option<Arc<SecretFacts>> {
        let namespace = self.secrets.get_mut(&key.namespace)?;
        let removed = namespace.remove(&key.name);
        if namespace.is_empty() {
            self.secrets.remove(&key.namespace);
        }
        removed
    }

    pub fn upsert_config_map(&mut self, key: ObjectKey, facts: ConfigMapFacts) {
        self.config_maps
            .entry(key.namespace)
            .or_default()
            .insert(key.name, Arc::new(facts));
    }

    pub fn remove_config_map(&mut self, key: &ObjectKey) -> Option<Arc<ConfigMapFacts>> {
        let namespace = self.config_maps.get_mut(&key.namespace)?;
        let removed = namespace.remove(&key.name);
        if namespace.is_empty() {
            self.config_maps.remove(&key.namespace);
        }
        removed
    }

    pub fn upsert_gateway(&mut self, gateway: Gateway) {
        let referrer = Referrer {
            kind: Kind::Gateway,
            key: gateway.key.clone(),
        };
        let targets = gateway_target_namespaces(&gateway);
        self.remove_gateway(&gateway.key);
        self.index_referrer(&referrer, targets);

        let key = gateway.key.clone();
        self.gateways
            .entry(key.namespace)
            .or_default()
            .insert(key.name, Arc::new(gateway));
    }

    pub fn remove_gateway(&mut self, key: &ObjectKey) -> Option<Arc<Gateway>> {
        let removed = remove_nested(&mut self.gateways, key)?;
        let referrer = Referrer {
            kind: Kind::Gateway,
            key: key.clone(),
        };
        self.unindex_referrer(&referrer, gateway_target_namespaces(&removed));
        Some(removed)
    }

    pub fn upsert_listener_set(&mut self, set: ListenerSet) {
        let referrer = Referrer {
            kind: set.kind,
            key: set.key.clone(),
        };
        let targets = listener_target_namespaces(&set.key.namespace, &set.listeners);
        self.remove_listener_set(&set.key);
        self.index_referrer(&referrer, targets);
        self.attached
            .entry(set.parent_key())
            .or_default()
            .insert(set.key.clone());

        let key = set.key.clone();
        self.listener_sets
            .entry(key.namespace)
            .or_default()
            .insert(key.name, Arc::new(set));
    }

    pub fn remove_listener_set(&mut self, key: &ObjectKey) -> Option<Arc<ListenerSet>> {
        let removed = remove_nested(&mut self.listener_sets, key)?;
        let referrer = Referrer {
            kind: removed.kind,
            key: key.clone(),
        };
        self.unindex_referrer(
            &referrer,
            listener_target_namespaces(&key.namespace, &removed.listeners),
        );
        let parent = removed.parent_key();
        if let Some(sets) = self.attached.get_mut(&parent) {
            sets.remove(key);
            if sets.is_empty() {
                self.attached.remove(&parent);
            }
        }
        Some(removed)
    }

    fn index_referrer(&mut self, referrer: &Referrer, namespaces: BTreeSet<String>) {
        for namespace in namespaces {
            self.referrers
                .entry(namespace)
                .or_default()
                .insert(referrer.clone());
        }
    }

    fn unindex_referrer(&mut self, referrer: &Referrer, namespaces: BTreeSet<String>) {
        for namespace in namespaces {
            if let Some(set) = self.referrers.get_mut(&namespace) {
                set.remove(referrer);
                if set.is_empty() {
                    self.referrers.remove(&namespace);
                }
            }
        }
    }
}

fn remove_nested<V>(map: &mut HashMap<String, BTreeMap<String, V>>, key: &ObjectKey) -> Option<V> {
    let namespace = map.get_mut(&key.namespace)?;
    let removed = namespace.remove(&key.name);
    if namespace.is_empty() {
        map.remove(&key.namespace);
    }
    removed
}

/// Every namespace a Gateway's TLS references point into, its own included.
fn gateway_target_namespaces(gateway: &Gateway) -> BTreeSet<String> {
    let own = gateway.key.namespace.as_str();
    let mut namespaces = listener_target_namespaces(own, &gateway.listeners);

    if let Some(frontend) = &gateway.frontend {
        let validations = frontend.default.iter().chain(
            frontend
                .per_port
                .iter()
                .filter_map(|entry| entry.validation.as_ref()),
        );
        for validation in validations {
            for reference in &validation.ca_certificate_refs {
                namespaces.insert(reference.target_namespace(own).to_owned());
            }
        }
    }
    if let Some(reference) = gateway
        .backend
        .as_ref()
        .and_then(|backend| backend.client_certificate_ref.as_ref())
    {
        namespaces.insert(reference.target_namespace(own).to_owned());
    }
    namespaces
}

fn listener_target_namespaces(own: &str, listeners: &[crate::model::Listener]) -> BTreeSet<String> {
    let mut namespaces = BTreeSet::new();
    for tls in listeners
        .iter()
        .filter_map(|listener| listener.tls.as_ref())
    {
        for reference in &tls.certificate_refs {
            namespaces.insert(reference.target_namespace(own).to_owned());
        }
        for reference in tls
            .frontend_validation
            .iter()
            .flat_map(|validation| &validation.ca_certificate_refs)
        {
            namespaces.insert(reference.target_namespace(own).to_owned());
        }
    }
    namespaces
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn listener_set(namespace: &str, name: &str, parent: serde_json::Value) -> ListenerSet {
        let value = json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "ListenerSet",
            "metadata": {"namespace": namespace, "name": name},
            "spec": {"parentRef": parent, "listeners": []}
        });
        ListenerSet::from_value(&value, Kind::ListenerSet, "default").expect("test set parses")
    }

    fn attached(world: &World, namespace: &str, name: &str) -> Vec<String> {
        world
            .listener_sets_of(&ObjectKey::new(namespace, name))
            .map(|set| set.key.to_string())
            .collect()
    }

    #[test]
    fn listener_sets_are_found_by_their_parent_gateway() {
        let mut world = World::new();
        world.upsert_listener_set(listener_set("apps", "a", json!({"name": "gw"})));
        world.upsert_listener_set(listener_set(
            "team",
            "b",
            json!({"name": "gw", "namespace": "apps"}),
        ));
        world.upsert_listener_set(listener_set("apps", "c", json!({"name": "other"})));

        assert_eq!(attached(&world, "apps", "gw"), ["apps/a", "team/b"]);
        assert_eq!(attached(&world, "apps", "other"), ["apps/c"]);
        assert!(attached(&world, "team", "gw").is_empty());
    }

    #[test]
    fn an_updated_listener_set_moves_to_its_new_parent() {
        let mut world = World::new();
        world.upsert_listener_set(listener_set("apps", "a", json!({"name": "gw"})));
        world.upsert_listener_set(listener_set("apps", "a", json!({"name": "next"})));

        assert!(attached(&world, "apps", "gw").is_empty());
        assert_eq!(attached(&world, "apps", "next"), ["apps/a"]);
        assert!(!world.attached.contains_key(&ObjectKey::new("apps", "gw")));
    }

    #[test]
    fn a_removed_listener_set_leaves_the_index() {
        let mut world = World::new();
        world.upsert_listener_set(listener_set("apps", "a", json!({"name": "gw"})));
        world.upsert_listener_set(listener_set("apps", "b", json!({"name": "gw"})));

        world.remove_listener_set(&ObjectKey::new("apps", "a"));
        assert_eq!(attached(&world, "apps", "gw"), ["apps/b"]);

        world.remove_listener_set(&ObjectKey::new("apps", "b"));
        assert!(attached(&world, "apps", "gw").is_empty());
        assert!(world.attached.is_empty());
    }
}
