//! The watches that fill the cache, one per kind (Secrets: one per namespace when limited).
//!
//! Which Gateway API kinds to watch is decided at startup by API discovery: ListenerSet and
//! XListenerSet only where their CRDs are served, ReferenceGrant as v1beta1 where served
//! (every Gateway API release serves it) and as v1 otherwise. Discovery runs again every
//! `--rediscovery-interval-secs` (default [`REDISCOVERY_INTERVAL`]); when a CRD installed since then is served ([`served_change`]),
//! the server shuts down and exits non-zero so that the restarted pod watches it: a restart
//! gives the new watch its initial list and readiness accounting for free, where adding a
//! watch to a running cache would need both done again by hand.

use std::fmt::Debug;
use std::path::Path;
use std::time::Duration;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Client, Config, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::{Cache, Entry, Update, WatchState};
use crate::model::{
    Gateway, Kind, ListenerSet, ObjectKey, ReferenceGrant, EXPERIMENTAL_GROUP, GATEWAY_GROUP,
};

/// Secret types no gateway reads, excluded on the server side: Helm release Secrets are large
/// and numerous, service-account tokens exist in every namespace. Istio ignores both types too.
pub const SECRET_FIELD_SELECTOR: &str =
    "type!=helm.sh/release.v1,type!=kubernetes.io/service-account-token";

/// Objects per list page for Secrets and ConfigMaps. kube's default page of 500 full objects
/// is held in memory at once while it is decoded; Secrets and ConfigMaps can be up to 1 MiB
/// each (and bundles of CA certificates often are large), so one default page could take
/// hundreds of MiB. 50 keeps a page's peak bounded at the cost of more list requests at start.
pub const LIST_PAGE_SIZE: u32 = 50;

/// What to watch beyond what discovery finds.
#[derive(Clone, Debug, Default)]
pub struct WatchOptions {
    /// Watch Secrets only in these namespaces; empty means cluster-wide.
    pub secret_namespaces: Vec<String>,
}

/// The Gateway API resources the API server serves, as found by discovery.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Served {
    pub gateways: bool,
    pub listener_sets: bool,
    pub x_listener_sets: bool,
    /// The ReferenceGrant version to watch, if any is served.
    pub grant_version: Option<&'static str>,
}

/// The default of how often discovery runs again to notice Gateway API CRDs installed after startup. A
/// minute keeps the cost at three small discovery requests a minute, and a cross-namespace
/// reference wrongly denied because its grant kind is not watched yet lasts about that long.
pub const REDISCOVERY_INTERVAL: Duration = Duration::from_secs(60);

/// What the cluster serves now that the running watches do not follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServedChange {
    /// Kinds served now that are not watched.
    pub newly_served: Vec<Kind>,
    /// The ReferenceGrant version watched, when discovery now prefers another one.
    pub grant_version: Option<(Option<&'static str>, &'static str)>,
}

/// Whether the watches started for `watched` miss something that `now` serves: a kind that
/// became served, or a ReferenceGrant version that discovery now prefers. A kind that is no
/// longer served is not a change: its watch fails and retries with backoff, and there is no
/// new watch to start for it.
pub fn served_change(watched: &Served, now: &Served) -> Option<ServedChange> {
    let kinds = [
        (Kind::Gateway, watched.gateways, now.gateways),
        (Kind::ListenerSet, watched.listener_sets, now.listener_sets),
        (
            Kind::XListenerSet,
            watched.x_listener_sets,
            now.x_listener_sets,
        ),
    ];
    let newly_served: Vec<Kind> = kinds
        .into_iter()
        .filter(|(_, was, is)| !was && *is)
        .map(|(kind, _, _)| kind)
        .collect();

    let grant_version = match now.grant_version {
        Some(preferred) if watched.grant_version != Some(preferred) => {
            Some((watched.grant_version, preferred))
        }
        _ => None,
    };

    if newly_served.is_empty() && grant_version.is_none() {
        None
    } else {
        Some(ServedChange {
            newly_served,
            grant_version,
        })
    }
}

/// Builds a client from `kubeconfig`, or else from the in-cluster config or `KUBECONFIG`.
pub async fn client(kubeconfig: Option<&Path>) -> anyhow::Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)?;
            Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?
        }
        None => Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// Asks the API server which Gateway API resources it serves.
pub async fn discover(client: &Client) -> Result<Served, kube::Error> {
    let standard = served_resources(client, &format!("{GATEWAY_GROUP}/v1")).await?;
    let standard_beta = served_resources(client, &format!("{GATEWAY_GROUP}/v1beta1")).await?;
    let experimental = served_resources(client, &format!("{EXPERIMENTAL_GROUP}/v1alpha1")).await?;

    let grant_version = if standard_beta.iter().any(|name| name == "referencegrants") {
        Some("v1beta1")
    } else if standard.iter().any(|name| name == "referencegrants") {
        Some("v1")
    } else {
        None
    };
    Ok(Served {
        gateways: standard.iter().any(|name| name == "gateways"),
        listener_sets: standard.iter().any(|name| name == "listenersets"),
        x_listener_sets: experimental.iter().any(|name| name == "xlistenersets"),
        grant_version,
    })
}

/// Resource names served in `api_version`; none when the group version is not served.
async fn served_resources(client: &Client, api_version: &str) -> Result<Vec<String>, kube::Error> {
    match client.list_api_group_resources(api_version).await {
        Ok(list) => Ok(list
            .resources
            .into_iter()
            .map(|resource| resource.name)
            .collect()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

/// A started watch: the kind it fills and its task.
pub type WatchTask = (Kind, JoinHandle<()>);

/// Starts every watch and returns their tasks. The cache becomes ready when each has listed
/// once. The tasks run until aborted; a broken watch retries with backoff by itself, so a task
/// that ends has panicked or hit a bug, and the caller should treat it as fatal.
pub fn start(
    client: &Client,
    cache: &Cache,
    served: &Served,
    options: &WatchOptions,
) -> Vec<WatchTask> {
    type Spawn = Box<dyn FnOnce() -> JoinHandle<()>>;
    let mut watches: Vec<(Kind, Spawn)> = Vec::new();

    let gateway_api = [
        (
            served.gateways,
            Kind::Gateway,
            GATEWAY_GROUP,
            "v1",
            "gateways",
        ),
        (
            served.listener_sets,
            Kind::ListenerSet,
            GATEWAY_GROUP,
            "v1",
            "listenersets",
        ),
        (
            served.x_listener_sets,
            Kind::XListenerSet,
            EXPERIMENTAL_GROUP,
            "v1alpha1",
            "xlistenersets",
        ),
    ];
    for (is_served, kind, group, version, plural) in gateway_api {
        if is_served {
            let (client, cache) = (client.clone(), cache.clone());
            watches.push((
                kind,
                Box::new(move || {
                    tokio::spawn(watch_gateway_api(
                        client, cache, kind, group, version, plural,
                    ))
                }),
            ));
        } else {
            tracing::info!(%kind, "Not served by this cluster; not watched");
        }
    }
    if let Some(version) = served.grant_version {
        let (client, cache) = (client.clone(), cache.clone());
        watches.push((
            Kind::ReferenceGrant,
            Box::new(move || {
                tokio::spawn(watch_gateway_api(
                    client,
                    cache,
                    Kind::ReferenceGrant,
                    GATEWAY_GROUP,
                    version,
                    "referencegrants",
                ))
            }),
        ));
    }

    if !options.secret_namespaces.is_empty() {
        cache
            .write()
            .limit_secrets_to(options.secret_namespaces.iter().cloned());
    }
    let secret_scopes: Vec<Option<String>> = if options.secret_namespaces.is_empty() {
        vec![None]
    } else {
        options
            .secret_namespaces
            .iter()
            .cloned()
            .map(Some)
            .collect()
    };
    for namespace in secret_scopes {
        let (client, cache) = (client.clone(), cache.clone());
        watches.push((
            Kind::Secret,
            Box::new(move || tokio::spawn(watch_secrets(client, cache, namespace))),
        ));
    }
    let (client, cache_for_config_maps) = (client.clone(), cache.clone());
    watches.push((
        Kind::ConfigMap,
        Box::new(move || tokio::spawn(watch_config_maps(client, cache_for_config_maps))),
    ));

    // Declared before any watch starts, so an early list cannot make the cache ready too soon.
    cache.readiness().expect(watches.len());
    watches
        .into_iter()
        .map(|(kind, spawn)| (kind, spawn()))
        .collect()
}

async fn watch_gateway_api(
    client: Client,
    cache: Cache,
    kind: Kind,
    group: &'static str,
    version: &'static str,
    plural: &'static str,
) {
    let gvk = GroupVersionKind::gvk(group, version, kind.as_str());
    let resource = ApiResource::from_gvk_with_plural(&gvk, plural);
    let api: Api<DynamicObject> = Api::all_with(client, &resource);

    let convert = move |object: DynamicObject| gateway_api_entry(kind, object);
    run(
        api,
        watcher::Config::default(),
        cache,
        WatchState::new(kind, None),
        convert,
    )
    .await
}

async fn watch_secrets(client: Client, cache: Cache, namespace: Option<String>) {
    let api: Api<Secret> = match &namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    };
    let config = watcher::Config::default()
        .fields(SECRET_FIELD_SELECTOR)
        .page_size(LIST_PAGE_SIZE);

    let convert = |secret: Secret| Ok(secret_entry(secret));
    run(
        api,
        config,
        cache,
        WatchState::new(Kind::Secret, namespace),
        convert,
    )
    .await
}

async fn watch_config_maps(client: Client, cache: Cache) {
    let api: Api<ConfigMap> = Api::all(client);

    let convert = |config_map: ConfigMap| Ok(config_map_entry(config_map));
    run(
        api,
        watcher::Config::default().page_size(LIST_PAGE_SIZE),
        cache,
        WatchState::new(Kind::ConfigMap, None),
        convert,
    )
    .await
}

/// A Gateway API object as the cache keeps it, or why it cannot be read.
fn gateway_api_entry(kind: Kind, object: DynamicObject) -> Result<Entry, String> {
    let namespace = object.namespace().unwrap_or_default();
    let value = serde_json::to_value(&object).map_err(|error| error.to_string())?;
    let entry = match kind {
        Kind::Gateway => Gateway::from_value(&value, &namespace).map(Entry::Gateway),
        Kind::ListenerSet | Kind::XListenerSet => {
            ListenerSet::from_value(&value, kind, &namespace).map(Entry::ListenerSet)
        }
        _ => ReferenceGrant::from_value(&value, &namespace).map(Entry::Grant),
    };
    entry.map_err(|error| error.to_string())
}

/// A Secret's facts; the decoded object, data included, is dropped on return.
fn secret_entry(secret: Secret) -> Entry {
    let key = key_of(&secret);
    let secret_type = secret.type_.as_deref().unwrap_or("Opaque");
    let data = secret.data.iter().flatten();
    let facts = crate::pki::secret_facts(
        secret_type,
        data.map(|(key, value)| (key.as_str(), value.0.as_slice())),
    );
    Entry::Secret(key, facts)
}

/// A ConfigMap's `ca.crt` facts.
fn config_map_entry(config_map: ConfigMap) -> Entry {
    let key = key_of(&config_map);
    let data = config_map.data.iter().flatten();
    let facts =
        crate::pki::config_map_facts(data.map(|(key, value)| (key.as_str(), value.as_str())));
    Entry::ConfigMap(key, facts)
}

/// Feeds one watch into the cache until the task is aborted. Errors are counted and logged;
/// the backoff wrapper retries, and the cache keeps its last state meanwhile.
async fn run<K>(
    api: Api<K>,
    config: watcher::Config,
    cache: Cache,
    mut state: WatchState,
    convert: impl Fn(K) -> Result<Entry, String>,
) where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    let kind = state.kind();
    cache.metrics().watch_started(kind);
    let events = watcher(api, config).default_backoff();
    futures::pin_mut!(events);

    while let Some(event) = events.next().await {
        match event {
            Ok(event) => {
                let update = to_update(kind, event, &convert);
                state.apply(&cache, update);
            }
            Err(error) => {
                cache.metrics().watch_error(kind);
                tracing::warn!(%kind, %error, "Watch failed; retrying with backoff, serving the last known state");
            }
        }
    }
}

fn watcher<K>(
    api: Api<K>,
    config: watcher::Config,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    watcher::watcher(api, config)
}

fn to_update<K: Resource>(
    kind: Kind,
    event: Event<K>,
    convert: &impl Fn(K) -> Result<Entry, String>,
) -> Update {
    let converted = |object: K| {
        let key = key_of(&object);
        // Reading user data (certificates, keys) must not end the watch: a panic there makes
        // this one object unreadable, like any other object refguard cannot read.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| convert(object)))
            .unwrap_or_else(|panic| {
                Err(format!("reading it panicked: {}", panic_message(&*panic)))
            });
        result.map_err(|error| {
            tracing::warn!(%kind, namespace = %key.namespace, name = %key.name, %error, "Cannot read a watched object; it is left out of the cache");
            key
        })
    };
    match event {
        Event::Init => Update::Init,
        Event::InitDone => Update::InitDone,
        Event::Delete(object) => Update::Delete(key_of(&object)),
        Event::Apply(object) => match converted(object) {
            Ok(entry) => Update::Apply(entry),
            Err(key) => Update::Unreadable(key),
        },
        Event::InitApply(object) => match converted(object) {
            Ok(entry) => Update::InitApply(entry),
            Err(key) => Update::InitUnreadable(key),
        },
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message")
}

fn key_of<K: Resource>(object: &K) -> ObjectKey {
    let meta = object.meta();
    ObjectKey::new(
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SecretKey;

    fn dynamic(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).expect("a valid object")
    }

    #[test]
    fn a_gateway_event_becomes_a_gateway_entry() {
        let object = dynamic(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "apps", "managedFields": []},
            "spec": {"gatewayClassName": "istio", "listeners": [{
                "name": "https", "port": 443, "protocol": "HTTPS",
                "tls": {"certificateRefs": [{"name": "tls", "namespace": "certs"}]}
            }]}
        }));
        let convert = |object| gateway_api_entry(Kind::Gateway, object);
        let update = to_update(Kind::Gateway, Event::Apply(object), &convert);
        let Update::Apply(Entry::Gateway(gateway)) = update else {
            panic!("expected a Gateway entry, got {update:?}");
        };
        assert_eq!(gateway.key, ObjectKey::new("apps", "edge"));
        let tls = gateway.listeners[0].tls.as_ref().expect("listener tls");
        assert_eq!(tls.certificate_refs[0].name, "tls");
    }

    #[test]
    fn an_unreadable_object_is_reported_by_key_so_a_stale_entry_is_dropped() {
        let object = dynamic(serde_json::json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "Gateway",
            "metadata": {"name": "odd", "namespace": "apps"},
            "spec": {"listeners": [{"name": "x", "port": "443"}]}
        }));
        let convert = |object| gateway_api_entry(Kind::Gateway, object);
        match to_update(Kind::Gateway, Event::Apply(object.clone()), &convert) {
            Update::Unreadable(key) => assert_eq!(key, ObjectKey::new("apps", "odd")),
            other => panic!("expected Unreadable, got {other:?}"),
        }
        assert!(matches!(
            to_update(Kind::Gateway, Event::InitApply(object), &convert),
            Update::InitUnreadable(_)
        ));
    }

    #[test]
    fn a_secret_keeps_facts_not_data() {
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {"name": "web-tls", "namespace": "apps"},
            "data": {"tls.crt": "SGVsbG8gd29ybGQK", "tls.key": "SGVsbG8gd29ybGQK", "other": "eA=="}
        }))
        .expect("a valid Secret");
        let Entry::Secret(key, facts) = secret_entry(secret) else {
            panic!("expected a Secret entry");
        };
        assert_eq!(key, ObjectKey::new("apps", "web-tls"));
        assert_eq!(&*facts.secret_type, "kubernetes.io/tls");
        assert!(facts.has(SecretKey::TlsCrt) && facts.has(SecretKey::TlsKey));
        assert!(!facts.has(SecretKey::CaCrt));
    }

    #[test]
    fn a_panic_while_reading_an_object_makes_it_unreadable_not_the_watch_end() {
        let config_map: ConfigMap = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ca", "namespace": "certs"}
        }))
        .expect("a valid ConfigMap");
        let convert = |_: ConfigMap| -> Result<Entry, String> { panic!("bad certificate") };
        let update = to_update(Kind::ConfigMap, Event::Apply(config_map), &convert);
        assert!(matches!(update, Update::Unreadable(key) if key == ObjectKey::new("certs", "ca")));
    }

    fn served(
        gateways: bool,
        listener_sets: bool,
        x_listener_sets: bool,
        grant_version: Option<&'static str>,
    ) -> Served {
        Served {
            gateways,
            listener_sets,
            x_listener_sets,
            grant_version,
        }
    }

    #[test]
    fn the_same_served_set_is_no_change() {
        let now = served(true, false, true, Some("v1beta1"));
        assert_eq!(served_change(&now, &now.clone()), None);
        assert_eq!(served_change(&Served::default(), &Served::default()), None);
    }

    #[test]
    fn kinds_served_since_startup_are_a_change() {
        let watched = served(false, false, false, None);
        let now = served(true, true, true, Some("v1beta1"));
        assert_eq!(
            served_change(&watched, &now),
            Some(ServedChange {
                newly_served: vec![Kind::Gateway, Kind::ListenerSet, Kind::XListenerSet],
                grant_version: Some((None, "v1beta1")),
            })
        );

        let watched = served(true, false, false, Some("v1beta1"));
        let now = served(true, true, false, Some("v1beta1"));
        let change = served_change(&watched, &now).expect("a change");
        assert_eq!(change.newly_served, [Kind::ListenerSet]);
        assert_eq!(change.grant_version, None);
    }

    #[test]
    fn a_new_preferred_grant_version_is_a_change() {
        let watched = served(true, false, false, Some("v1beta1"));
        let now = served(true, false, false, Some("v1"));
        assert_eq!(
            served_change(&watched, &now),
            Some(ServedChange {
                newly_served: vec![],
                grant_version: Some((Some("v1beta1"), "v1")),
            })
        );
    }

    #[test]
    fn kinds_no_longer_served_are_not_a_change() {
        let watched = served(true, true, true, Some("v1beta1"));
        let now = served(false, false, false, None);
        assert_eq!(served_change(&watched, &now), None);
    }

    #[test]
    fn a_deleted_object_is_removed_by_key() {
        let config_map: ConfigMap = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "ca", "namespace": "certs"}
        }))
        .expect("a valid ConfigMap");
        let convert = |object| Ok(config_map_entry(object));
        let update = to_update(Kind::ConfigMap, Event::Delete(config_map), &convert);
        assert!(matches!(update, Update::Delete(key) if key == ObjectKey::new("certs", "ca")));
    }
}
