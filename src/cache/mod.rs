//! The webhook's informer cache: watches keep one [`World`] current, reviews read it.
//!
//! The cache holds facts, not objects: Gateways, ListenerSets and grants in the model's reduced
//! form, Secrets and ConfigMaps as [`SecretFacts`] and [`ConfigMapFacts`] (no key material,
//! no metadata beyond the name). That is why it uses watcher streams directly rather than
//! kube-runtime's reflector stores, which would keep every object whole.
//!
//! Each watch applies its events through a [`WatchState`], which buffers a relist and swaps it
//! in when the list is complete, so objects deleted while a watch was disconnected disappear
//! and reviews keep reading the last known state meanwhile.

mod metrics;
pub mod watch;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};

pub use metrics::CacheMetrics;

use crate::engine::World;
use crate::model::{
    ConfigMapFacts, Gateway, Kind, ListenerSet, ObjectKey, ReferenceGrant, SecretFacts,
};

/// The cluster state shared by the watches (writers) and the reviews (readers).
#[derive(Clone, Debug)]
pub struct Cache {
    world: Arc<RwLock<World>>,
    readiness: Arc<Readiness>,
    metrics: Arc<CacheMetrics>,
}

impl Cache {
    /// An empty cache that is not yet synced.
    pub fn new(metrics: CacheMetrics) -> Self {
        Self {
            world: Arc::default(),
            readiness: Arc::default(),
            metrics: Arc::new(metrics),
        }
    }

    /// A cache holding `world` and already synced: for tests and benchmarks.
    pub fn synced(world: World) -> Self {
        Self::synced_with_metrics(world, CacheMetrics::default())
    }

    /// Like [`Cache::synced`], reporting to registered metrics.
    pub fn synced_with_metrics(world: World, metrics: CacheMetrics) -> Self {
        let cache = Self {
            world: Arc::new(RwLock::new(world)),
            readiness: Arc::default(),
            metrics: Arc::new(metrics),
        };
        cache.readiness.expect(0);
        cache
    }

    /// Read access for one review. Hold it only while the engine runs.
    pub fn read(&self) -> RwLockReadGuard<'_, World> {
        // A panic in a writer leaves the World consistent per call (each update is a few map
        // operations), so a poisoned lock is still safe to read.
        self.world
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, World> {
        self.world
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// True once every watch has completed its first list; never false again.
    pub fn is_synced(&self) -> bool {
        self.readiness.is_ready()
    }

    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    pub fn metrics(&self) -> &CacheMetrics {
        &self.metrics
    }

    /// Brings the scrape-time metrics (object counts, event ages) up to date.
    pub fn refresh_metrics(&self) {
        let counts = self.read().counts();
        self.metrics.refresh(&counts, self.is_synced());
    }
}

/// Readiness of the cache: how many watches still owe their first complete list.
///
/// Deliberately one-way. A watch that breaks later keeps its last state and retries; turning
/// unready then would take every replica out of the Service at once, exactly when the API
/// server (the usual cause) needs the webhook to answer.
#[derive(Debug)]
pub struct Readiness {
    /// Watches not yet listed; `usize::MAX` until the set of watches is known.
    remaining: AtomicUsize,
    ready: AtomicBool,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            remaining: AtomicUsize::new(usize::MAX),
            ready: AtomicBool::new(false),
        }
    }
}

impl Readiness {
    /// Declares how many watches must list before the cache is ready. Called once, before any
    /// watch starts, so an early first list cannot make the cache ready too soon.
    pub fn expect(&self, watches: usize) {
        self.remaining.store(watches, Ordering::SeqCst);
        if watches == 0 {
            self.ready.store(true, Ordering::SeqCst);
        }
    }

    /// One watch completed its first list.
    fn watch_synced(&self) {
        let before = self.remaining.fetch_sub(1, Ordering::SeqCst);
        if before == 1 {
            self.ready.store(true, Ordering::SeqCst);
            tracing::info!("Cache synced: every watch has listed once");
        }
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}

/// One object as the cache keeps it.
#[derive(Debug)]
pub enum Entry {
    Gateway(Gateway),
    ListenerSet(ListenerSet),
    Grant(ReferenceGrant),
    Secret(ObjectKey, SecretFacts),
    ConfigMap(ObjectKey, ConfigMapFacts),
}

impl Entry {
    pub fn key(&self) -> &ObjectKey {
        match self {
            Self::Gateway(gateway) => &gateway.key,
            Self::ListenerSet(set) => &set.key,
            Self::Grant(grant) => &grant.key,
            Self::Secret(key, _) | Self::ConfigMap(key, _) => key,
        }
    }

    fn store(self, world: &mut World) {
        match self {
            Self::Gateway(gateway) => world.upsert_gateway(gateway),
            Self::ListenerSet(set) => world.upsert_listener_set(set),
            Self::Grant(grant) => world.upsert_grant(grant),
            Self::Secret(key, facts) => world.upsert_secret(key, facts),
            Self::ConfigMap(key, facts) => world.upsert_config_map(key, facts),
        }
    }
}

fn remove(world: &mut World, kind: Kind, key: &ObjectKey) {
    match kind {
        Kind::Gateway => drop(world.remove_gateway(key)),
        Kind::ListenerSet | Kind::XListenerSet => {
            if world.listener_set(key).is_some_and(|set| set.kind == kind) {
                drop(world.remove_listener_set(key));
            }
        }
        Kind::ReferenceGrant => drop(world.remove_grant(key)),
        Kind::Secret => drop(world.remove_secret(key)),
        Kind::ConfigMap => drop(world.remove_config_map(key)),
    }
}

/// A watch event after conversion to what the cache keeps. An object that did not convert
/// arrives as `Unreadable` with its key, so a stale entry is dropped rather than kept.
#[derive(Debug)]
pub enum Update {
    Apply(Entry),
    Unreadable(ObjectKey),
    Delete(ObjectKey),
    /// A (re)list starts.
    Init,
    InitApply(Entry),
    InitUnreadable(ObjectKey),
    /// The list is complete.
    InitDone,
}

/// The state of one watch: which kind and namespace it covers, and a relist in progress.
#[derive(Debug)]
pub struct WatchState {
    kind: Kind,
    /// The namespace a namespaced watch covers; `None` for cluster-wide.
    namespace: Option<String>,
    relist: Option<Vec<Entry>>,
    synced: bool,
}

impl WatchState {
    pub fn new(kind: Kind, namespace: Option<String>) -> Self {
        Self {
            kind,
            namespace,
            relist: None,
            synced: false,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Applies one event to the cache.
    pub fn apply(&mut self, cache: &Cache, update: Update) {
        cache.metrics.event(self.kind);
        match update {
            Update::Apply(entry) => entry.store(&mut cache.write()),
            Update::Unreadable(key) | Update::Delete(key) => {
                remove(&mut cache.write(), self.kind, &key)
            }
            Update::Init => self.relist = Some(Vec::new()),
            Update::InitApply(entry) => match &mut self.relist {
                Some(relist) => relist.push(entry),
                None => entry.store(&mut cache.write()),
            },
            Update::InitUnreadable(_) => {}
            Update::InitDone => self.finish_relist(cache),
        }
    }

    /// Swaps the listed objects in: everything of this watch's kind and scope that the list no
    /// longer has is removed, the rest replaced.
    fn finish_relist(&mut self, cache: &Cache) {
        let listed = self.relist.take().unwrap_or_default();
        let listed_keys: HashSet<ObjectKey> =
            listed.iter().map(|entry| entry.key().clone()).collect();

        {
            let mut world = cache.write();
            let gone: Vec<ObjectKey> = world
                .keys(self.kind)
                .into_iter()
                .filter(|key| self.covers(key) && !listed_keys.contains(key))
                .collect();
            for key in &gone {
                remove(&mut world, self.kind, key);
            }
            for entry in listed {
                entry.store(&mut world);
            }
        }

        if !self.synced {
            self.synced = true;
            cache.readiness.watch_synced();
        }
    }

    fn covers(&self, key: &ObjectKey) -> bool {
        self.namespace
            .as_deref()
            .is_none_or(|namespace| namespace == key.namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(namespace: &str, name: &str) -> Entry {
        Entry::Secret(
            ObjectKey::new(namespace, name),
            SecretFacts::empty("kubernetes.io/tls"),
        )
    }

    fn secrets(cache: &Cache) -> Vec<String> {
        let mut names: Vec<String> = cache
            .read()
            .keys(Kind::Secret)
            .into_iter()
            .map(|key| key.to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_relist_drops_what_was_deleted_while_disconnected() {
        let cache = Cache::new(CacheMetrics::default());
        cache.readiness().expect(1);
        let mut watch = WatchState::new(Kind::Secret, None);

        watch.apply(&cache, Update::Init);
        watch.apply(&cache, Update::InitApply(secret("a", "one")));
        watch.apply(&cache, Update::InitApply(secret("a", "two")));
        assert!(
            secrets(&cache).is_empty(),
            "a list is applied only when complete"
        );
        watch.apply(&cache, Update::InitDone);
        assert_eq!(secrets(&cache), ["a/one", "a/two"]);
        assert!(cache.is_synced());

        // The watch breaks; "a/one" is deleted meanwhile; the relist no longer has it.
        watch.apply(&cache, Update::Init);
        watch.apply(&cache, Update::InitApply(secret("a", "two")));
        assert_eq!(
            secrets(&cache),
            ["a/one", "a/two"],
            "last state served meanwhile"
        );
        watch.apply(&cache, Update::InitDone);
        assert_eq!(secrets(&cache), ["a/two"]);
        assert!(cache.is_synced(), "readiness never flips back");
    }

    #[test]
    fn a_namespaced_relist_leaves_other_namespaces_alone() {
        let cache = Cache::new(CacheMetrics::default());
        cache.readiness().expect(2);
        let mut in_a = WatchState::new(Kind::Secret, Some("a".into()));
        let mut in_b = WatchState::new(Kind::Secret, Some("b".into()));

        in_b.apply(&cache, Update::Init);
        in_b.apply(&cache, Update::InitApply(secret("b", "x")));
        in_b.apply(&cache, Update::InitDone);
        assert!(!cache.is_synced(), "one of two watches listed");

        in_a.apply(&cache, Update::Init);
        in_a.apply(&cache, Update::InitDone);
        assert!(cache.is_synced());
        assert_eq!(secrets(&cache), ["b/x"]);
    }

    #[test]
    fn apply_delete_and_unreadable_update_the_world() {
        let cache = Cache::synced(World::new());
        let mut watch = WatchState::new(Kind::Secret, None);

        watch.apply(&cache, Update::Apply(secret("a", "one")));
        watch.apply(&cache, Update::Apply(secret("a", "two")));
        watch.apply(&cache, Update::Delete(ObjectKey::new("a", "one")));
        watch.apply(&cache, Update::Unreadable(ObjectKey::new("a", "two")));
        assert!(secrets(&cache).is_empty());
    }
}
