//! The watches behind generation: the four kinds, the namespaces (for namespace
//! selectors), and the Secrets and ConfigMaps the objects reference. Each peer reads them
//! from the API server itself, through the same shared list+watch layer as
//! `kubernetes_sd_configs`; nothing read here is gossiped.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use super::generate::{Kind, RawObject, SecretSource};
use super::objects::Meta;
use crate::config::{OperatorConfig, Secret};
use crate::discovery::DiscoveryMetrics;
use crate::discovery::kubernetes::client::{ClientError, ClientSpec};
use crate::discovery::kubernetes::watch::{Registry, Store, StoreKey, Watched};

/// Secret types never read: they are large or never referenced by monitors (as the
/// operator's own informer filters them).
const SECRET_FIELD_SELECTOR: &str = "type!=kubernetes.io/dockercfg,type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1";

/// Names one of the four kinds for kube.
pub(crate) trait CrKind: Send + Sync + 'static {
    /// Its kind.
    const KIND: Kind;
}

macro_rules! cr_kind {
    ($($t:ident => $k:expr),*) => {$(
        /// Marker of a kind.
        #[derive(Clone, Debug)]
        pub(crate) struct $t;
        impl CrKind for $t { const KIND: Kind = $k; }
    )*};
}
cr_kind!(
    ServiceMonitors => Kind::ServiceMonitor,
    PodMonitors => Kind::PodMonitor,
    Probes => Kind::Probe,
    ScrapeConfigs => Kind::ScrapeConfig
);

/// A custom resource as served: metadata and an untyped spec.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub(crate) struct CrObject<K> {
    metadata: ObjectMeta,
    #[serde(default)]
    spec: serde_json::Value,
    #[serde(skip)]
    _kind: PhantomData<K>,
}

impl<K: CrKind> kube::Resource for CrObject<K> {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND.name())
    }
    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("monitoring.coreos.com")
    }
    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND.version())
    }
    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed(K::KIND.resource())
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl<K: CrKind + Clone + std::fmt::Debug> Watched for CrObject<K> {
    const NAMESPACED: bool = true;
    fn api(client: kube::Client, namespace: Option<&str>) -> kube::Api<Self> {
        match namespace {
            Some(ns) => kube::Api::namespaced(client, ns),
            None => kube::Api::all(client),
        }
    }
}

fn meta_of(m: ObjectMeta) -> Meta {
    Meta {
        name: m.name.unwrap_or_default(),
        namespace: m.namespace.unwrap_or_default(),
        labels: m.labels.unwrap_or_default(),
        generation: m.generation,
    }
}

fn raw<K>(o: CrObject<K>) -> RawObject {
    RawObject {
        meta: meta_of(o.metadata),
        spec: o.spec.to_string().into(),
    }
}

/// A Secret's or ConfigMap's data, values redacted in `Debug`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Data(BTreeMap<String, Secret>);

fn secret_data(s: k8s_openapi::api::core::v1::Secret) -> Data {
    let mut out = BTreeMap::new();
    for (k, v) in s.data.unwrap_or_default() {
        out.insert(k, Secret::new(String::from_utf8_lossy(&v.0).into_owned()));
    }
    for (k, v) in s.string_data.unwrap_or_default() {
        out.insert(k, Secret::new(v));
    }
    Data(out)
}

fn config_map_data(c: k8s_openapi::api::core::v1::ConfigMap) -> Data {
    Data(
        c.data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Secret::new(v)))
            .collect(),
    )
}

fn namespace_labels(n: k8s_openapi::api::core::v1::Namespace) -> BTreeMap<String, String> {
    n.metadata.labels.unwrap_or_default()
}

/// How one kind's watch is doing, for the API and the status page.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KindState {
    /// The kind.
    pub kind: Kind,
    /// Whether the block selects objects of this kind.
    pub selected: bool,
    /// `synced`, `syncing`, `not installed` or `error`.
    pub state: String,
    /// The watch error, if any.
    pub error: Option<String>,
}

/// The running watches.
pub struct Watches {
    kinds: Vec<(Kind, Arc<Store<RawObject>>)>,
    namespaces: Option<Arc<Store<BTreeMap<String, String>>>>,
    secrets: Arc<Store<Data>>,
    config_maps: Arc<Store<Data>>,
    settings: OperatorConfig,
    own_namespace: String,
    changed: Arc<Notify>,
    _registry: Registry,
}

/// The inputs of one generation, frozen.
pub struct Snapshot {
    /// Objects per kind.
    pub objects: BTreeMap<Kind, Vec<Arc<RawObject>>>,
    /// Namespace labels.
    pub namespaces: BTreeMap<String, BTreeMap<String, String>>,
    /// How each kind's watch is doing.
    pub kinds: Vec<KindState>,
    /// The own namespace.
    pub own_namespace: String,
    secrets: Arc<Store<Data>>,
    config_maps: Arc<Store<Data>>,
}

impl SecretSource for Snapshot {
    fn secret(&self, namespace: &str, name: &str, key: &str) -> Result<String, String> {
        lookup(&self.secrets, "secret", namespace, name, key)
    }
    fn config_map(&self, namespace: &str, name: &str, key: &str) -> Result<String, String> {
        lookup(&self.config_maps, "configmap", namespace, name, key)
    }
}

fn lookup(
    store: &Store<Data>,
    what: &str,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<String, String> {
    let data = store
        .get(namespace, name)
        .ok_or_else(|| format!("{what} \"{namespace}/{name}\" not found"))?;
    data.0
        .get(key)
        .map(|v| v.expose().to_string())
        .ok_or_else(|| format!("key {key:?} in {what} \"{namespace}/{name}\" not found"))
}

/// The own namespace when the block names none: the service account's, else `default`.
pub fn default_namespace() -> String {
    crate::discovery::kubernetes::client::own_namespace().unwrap_or_else(|_| "default".into())
}

impl Watches {
    /// Starts the watches the block needs. Needs a tokio runtime.
    pub fn start(
        settings: &OperatorConfig,
        metrics: &DiscoveryMetrics,
    ) -> Result<Watches, ClientError> {
        let client = ClientSpec::from_config(&settings.connection())?;
        let own_namespace = settings
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(default_namespace);
        let all_namespaces = [
            &settings.service_monitor_namespace_selector,
            &settings.pod_monitor_namespace_selector,
            &settings.probe_namespace_selector,
            &settings.scrape_config_namespace_selector,
        ]
        .iter()
        .any(|s| s.is_some());
        // Without namespace selectors everything lives in the own namespace: a
        // namespace-scoped Role is then enough.
        let namespaces = if all_namespaces {
            Vec::new()
        } else {
            vec![own_namespace.clone()]
        };
        let registry = Registry::default();
        let key = |kind: &'static str, field: &str| StoreKey {
            kind,
            client: client.clone(),
            namespaces: if kind == "namespace" {
                Vec::new()
            } else {
                namespaces.clone()
            },
            label: String::new(),
            field: field.to_string(),
        };
        let mut kinds = Vec::new();
        for kind in Kind::ALL {
            let store = match kind {
                Kind::ServiceMonitor => {
                    registry.store(key("servicemonitor", ""), raw::<ServiceMonitors>, metrics)
                }
                Kind::PodMonitor => {
                    registry.store(key("podmonitor", ""), raw::<PodMonitors>, metrics)
                }
                Kind::Probe => registry.store(key("probe", ""), raw::<Probes>, metrics),
                Kind::ScrapeConfig => {
                    registry.store(key("scrapeconfig", ""), raw::<ScrapeConfigs>, metrics)
                }
            };
            kinds.push((kind, store));
        }
        let namespaces_store = all_namespaces.then(|| {
            registry.store::<k8s_openapi::api::core::v1::Namespace, _>(
                key("namespace", ""),
                namespace_labels,
                metrics,
            )
        });
        let secrets = registry.store::<k8s_openapi::api::core::v1::Secret, _>(
            key("secret", SECRET_FIELD_SELECTOR),
            secret_data,
            metrics,
        );
        let config_maps = registry.store::<k8s_openapi::api::core::v1::ConfigMap, _>(
            key("configmap", ""),
            config_map_data,
            metrics,
        );
        let changed = Arc::new(Notify::new());
        let mut subs: Vec<_> = kinds.iter().map(|(_, s)| s.subscribe()).collect();
        subs.extend(namespaces_store.iter().map(|s| s.subscribe()));
        subs.push(secrets.subscribe());
        subs.push(config_maps.subscribe());
        for mut rx in subs {
            let notify = changed.clone();
            tokio::spawn(async move {
                while rx.changed().await.is_ok() {
                    notify.notify_one();
                }
            });
        }
        Ok(Watches {
            kinds,
            namespaces: namespaces_store,
            secrets,
            config_maps,
            settings: settings.clone(),
            own_namespace,
            changed,
            _registry: registry,
        })
    }

    /// Waits for the next change of any watched object.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Whether every watch has listed once or failed (a kind not installed).
    pub fn settled(&self) -> bool {
        let ok = |synced: bool, err: Option<String>| synced || err.is_some();
        self.kinds
            .iter()
            .all(|(_, s)| ok(s.synced(), s.last_error()))
            && self
                .namespaces
                .as_ref()
                .is_none_or(|s| ok(s.synced(), s.last_error()))
            && ok(self.secrets.synced(), self.secrets.last_error())
            && ok(self.config_maps.synced(), self.config_maps.last_error())
    }

    /// The current objects, namespaces and watch states.
    pub fn snapshot(&self) -> Snapshot {
        let mut objects = BTreeMap::new();
        let mut kinds = Vec::new();
        for (kind, store) in &self.kinds {
            let list = store.all();
            objects.insert(*kind, list);
            let error = store.last_error();
            let state = match (&error, store.synced()) {
                (Some(e), _) if e.contains("404") => "not installed",
                (Some(_), _) => "error",
                (None, true) => "synced",
                (None, false) => "syncing",
            };
            kinds.push(KindState {
                kind: *kind,
                selected: kind.selectors(&self.settings).0.is_some(),
                state: state.into(),
                error,
            });
        }
        let namespaces = self
            .namespaces
            .as_ref()
            .map(|s| {
                s.all()
                    .iter()
                    .zip(namespace_names(s))
                    .map(|(labels, name)| (name, (**labels).clone()))
                    .collect()
            })
            .unwrap_or_default();
        Snapshot {
            objects,
            namespaces,
            kinds,
            own_namespace: self.own_namespace.clone(),
            secrets: self.secrets.clone(),
            config_maps: self.config_maps.clone(),
        }
    }
}

/// Names of a cluster-scoped store, in the order of [`Store::all`].
fn namespace_names<T>(s: &Store<T>) -> Vec<String> {
    s.keys().into_iter().map(|(_, name)| name).collect()
}
