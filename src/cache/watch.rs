//! The watches that fill the cache, one per kind (Secrets: one per namespace when limited).
//!
//! Which Gateway API kinds to watch is decided once at startup by API discovery: ListenerSet
//! and XListenerSet only where their CRDs are served, ReferenceGrant as v1beta1 where served
//! (every Gateway API release serves it) and as v1 otherwise. A CRD installed after refguard
//! started is picked up on its next restart.

use std::fmt::Debug;
use std::path::Path;

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

/// Starts every watch and returns their tasks. The cache becomes ready when each has listed
/// once. The tasks run until aborted; a broken watch retries with backoff by itself.
pub fn start(
    client: &Client,
    cache: &Cache,
    served: &Served,
    options: &WatchOptions,
) -> Vec<JoinHandle<()>> {
    let mut watches: Vec<Box<dyn FnOnce() -> JoinHandle<()>>> = Vec::new();

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
            watches.push(Box::new(move || {
                tokio::spawn(watch_gateway_api(
                    client, cache, kind, group, version, plural,
                ))
            }));
        } else {
            tracing::info!(%kind, "Not served by this cluster; not watched");
        }
    }
    if let Some(version) = served.grant_version {
        let (client, cache) = (client.clone(), cache.clone());
        watches.push(Box::new(move || {
            tokio::spawn(watch_gateway_api(
                client,
                cache,
                Kind::ReferenceGrant,
                GATEWAY_GROUP,
                version,
                "referencegrants",
            ))
        }));
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
        watches.push(Box::new(move || {
            tokio::spawn(watch_secrets(client, cache, namespace))
        }));
    }
    let (client, cache_for_config_maps) = (client.clone(), cache.clone());
    watches.push(Box::new(move || {
        tokio::spawn(watch_config_maps(client, cache_for_config_maps))
    }));

    // Declared before any watch starts, so an early list cannot make the cache ready too soon.
    cache.readiness().expect(watches.len());
    watches.into_iter().map(|spawn| spawn()).collect()
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
        convert(object).map_err(|error| {
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
