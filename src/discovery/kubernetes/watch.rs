//! The shared watch layer: one list+watch per (kind, client, namespaces, selectors), kept in
//! a [`Store`] of slim objects that every provider asking for the same reads.
//!
//! kube's `watcher` does the protocol: paged LIST (`limit`/`continue`), WATCH from the
//! listed `resourceVersion` with bookmarks, resume from the last seen version when a watch
//! connection ends, relist when the server answers 410 Gone. Errors are retried with kube's
//! default exponential backoff. Objects are converted to their slim form as soon as they
//! are decoded; a relist replaces a namespace's objects atomically at `InitDone`, so
//! objects deleted while the watch was broken disappear too.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use tokio::sync::watch as tokio_watch;

use super::client::ClientSpec;
use crate::discovery::{Cancel, CancelHandle, DiscoveryMetrics, cancel_pair};

/// Objects per LIST page.
const LIST_PAGE_SIZE: u32 = 100;

/// What identifies a shared watch.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoreKey {
    /// Resource kind (`pod`, `service`, ...; also the metrics' `role` label).
    pub kind: &'static str,
    /// How to connect.
    pub client: ClientSpec,
    /// Namespaces; empty means all (or a cluster-scoped kind).
    pub namespaces: Vec<String>,
    /// Label selector sent to the server.
    pub label: String,
    /// Field selector sent to the server.
    pub field: String,
}

/// `(namespace, name)`: objects are kept sorted by it.
pub(crate) type ObjectKey = (String, String);

/// The current objects of one shared watch.
pub(crate) struct Store<T> {
    key: StoreKey,
    /// One map per namespace watch.
    shards: Vec<RwLock<BTreeMap<ObjectKey, Arc<T>>>>,
    synced: Vec<AtomicBool>,
    version: tokio_watch::Sender<u64>,
    /// The last watch error, cleared by the next completed list.
    error: Mutex<Option<String>>,
    _stop: CancelHandle,
}

impl<T> Store<T> {
    /// The object `namespace/name` (namespace empty for cluster-scoped kinds).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<T>> {
        let key = (namespace.to_string(), name.to_string());
        self.shards.iter().find_map(|s| read(s).get(&key).cloned())
    }

    /// Every object, by namespace and name.
    pub fn all(&self) -> Vec<Arc<T>> {
        let mut out = Vec::new();
        for s in &self.shards {
            out.extend(read(s).values().cloned());
        }
        out
    }

    /// Every object's key, in the order of [`Store::all`].
    pub fn keys(&self) -> Vec<ObjectKey> {
        let mut out = Vec::new();
        for s in &self.shards {
            out.extend(read(s).keys().cloned());
        }
        out
    }

    /// Whether every namespace's initial list has completed.
    pub fn synced(&self) -> bool {
        self.synced.iter().all(|s| s.load(Ordering::Acquire))
    }

    /// Changes (a counter bumped on every applied event and completed list).
    pub fn subscribe(&self) -> tokio_watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// The last watch error since the last completed list (e.g. a kind not installed).
    pub fn last_error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_error(&self, e: Option<String>) {
        *self.error.lock().unwrap_or_else(|p| p.into_inner()) = e;
    }
}

/// What a provider asks of any store, whatever its object type.
pub(crate) trait Watching {
    /// See [`Store::subscribe`].
    fn subscribe(&self) -> tokio_watch::Receiver<u64>;
    /// See [`Store::synced`].
    fn synced(&self) -> bool;
}

impl<T> Watching for Store<T> {
    fn subscribe(&self) -> tokio_watch::Receiver<u64> {
        Store::subscribe(self)
    }
    fn synced(&self) -> bool {
        Store::synced(self)
    }
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

/// A running store, type-erased so that stores of every kind share one list.
type AnyStore = Weak<dyn Any + Send + Sync>;

/// The running shared watches; a watch stops when its last user drops its [`Store`].
#[derive(Clone, Default)]
pub struct Registry {
    stores: Arc<Mutex<Vec<(StoreKey, AnyStore)>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

/// A Kubernetes resource type shoal watches.
pub(crate) trait Watched:
    kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + 'static
{
    /// Whether the kind lives in namespaces.
    const NAMESPACED: bool;
    /// The API of the kind in `namespace` (all namespaces when `None`).
    fn api(client: kube::Client, namespace: Option<&str>) -> kube::Api<Self>;
}

macro_rules! namespaced {
    ($($t:ty),*) => {$(
        impl Watched for $t {
            const NAMESPACED: bool = true;
            fn api(client: kube::Client, namespace: Option<&str>) -> kube::Api<Self> {
                match namespace {
                    Some(ns) => kube::Api::namespaced(client, ns),
                    None => kube::Api::all(client),
                }
            }
        }
    )*};
}

namespaced!(
    k8s_openapi::api::core::v1::Pod,
    k8s_openapi::api::core::v1::Service,
    k8s_openapi::api::core::v1::Endpoints,
    k8s_openapi::api::discovery::v1::EndpointSlice,
    k8s_openapi::api::networking::v1::Ingress,
    k8s_openapi::api::apps::v1::ReplicaSet,
    k8s_openapi::api::batch::v1::Job,
    k8s_openapi::api::core::v1::Secret,
    k8s_openapi::api::core::v1::ConfigMap
);

macro_rules! cluster_scoped {
    ($($t:ty),*) => {$(
        impl Watched for $t {
            const NAMESPACED: bool = false;
            fn api(client: kube::Client, _: Option<&str>) -> kube::Api<Self> {
                kube::Api::all(client)
            }
        }
    )*};
}

cluster_scoped!(
    k8s_openapi::api::core::v1::Node,
    k8s_openapi::api::core::v1::Namespace
);

impl Registry {
    /// The store for `key`, starting its watch unless one is running. Needs a tokio runtime.
    pub(crate) fn store<K: Watched, T: PartialEq + Send + Sync + 'static>(
        &self,
        key: StoreKey,
        convert: fn(K) -> T,
        metrics: &DiscoveryMetrics,
    ) -> Arc<Store<T>> {
        let mut stores = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        stores.retain(|(_, w)| w.strong_count() > 0);
        if let Some(existing) = stores
            .iter()
            .filter(|(k, _)| *k == key)
            .find_map(|(_, w)| w.upgrade()?.downcast::<Store<T>>().ok())
        {
            return existing;
        }
        let shards = if K::NAMESPACED && !key.namespaces.is_empty() {
            key.namespaces.len()
        } else {
            1
        };
        let (handle, cancel) = cancel_pair();
        let (version, _) = tokio_watch::channel(0);
        let store = Arc::new(Store {
            key: key.clone(),
            shards: (0..shards).map(|_| RwLock::new(BTreeMap::new())).collect(),
            synced: (0..shards).map(|_| AtomicBool::new(false)).collect(),
            version,
            error: Mutex::new(None),
            _stop: handle,
        });
        tokio::spawn(run::<K, T>(
            Arc::downgrade(&store),
            convert,
            metrics.clone(),
            cancel,
        ));
        let as_any: Arc<dyn Any + Send + Sync> = store.clone();
        stores.push((key, Arc::downgrade(&as_any)));
        store
    }
}

/// Builds the client (retrying with backoff), then watches every namespace until the store
/// is dropped.
async fn run<K: Watched, T: PartialEq + Send + Sync + 'static>(
    store: Weak<Store<T>>,
    convert: fn(K) -> T,
    metrics: DiscoveryMetrics,
    cancel: Cancel,
) {
    let Some(key) = store.upgrade().map(|s| s.key.clone()) else {
        return;
    };
    let mut delay = Duration::from_millis(500);
    let client = loop {
        let attempt = tokio::select! {
            _ = cancel.cancelled() => return,
            c = key.client.client() => c,
        };
        match attempt {
            Ok(c) => break c,
            Err(error) => {
                metrics.kube_watch_failed(key.kind);
                tracing::error!(kind = key.kind, %error, "cannot create kubernetes client; retrying");
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(delay) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(30));
            }
        }
    };
    // Small pages: a page of full API objects is decoded at once and mostly thrown away,
    // so the page size bounds that transient memory (kube's default is 500).
    let mut cfg = watcher::Config::default().page_size(LIST_PAGE_SIZE);
    if !key.label.is_empty() {
        cfg = cfg.labels(&key.label);
    }
    if !key.field.is_empty() {
        cfg = cfg.fields(&key.field);
    }
    let watches: Vec<_> = if K::NAMESPACED && !key.namespaces.is_empty() {
        key.namespaces
            .iter()
            .enumerate()
            .map(|(i, ns)| (i, K::api(client.clone(), Some(ns))))
            .collect()
    } else {
        vec![(0, K::api(client.clone(), None))]
    };
    let tasks = watches.into_iter().map(|(shard, api)| {
        watch_one(
            api,
            cfg.clone(),
            shard,
            store.clone(),
            convert,
            &metrics,
            key.kind,
        )
    });
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = futures::future::join_all(tasks) => {}
    }
}

/// Follows one list+watch stream into `shard` of the store.
async fn watch_one<K: Watched, T: PartialEq>(
    api: kube::Api<K>,
    cfg: watcher::Config,
    shard: usize,
    store: Weak<Store<T>>,
    convert: fn(K) -> T,
    metrics: &DiscoveryMetrics,
    kind: &'static str,
) {
    let stream = watcher::watcher(api, cfg).default_backoff();
    futures::pin_mut!(stream);
    let mut pending: Option<BTreeMap<ObjectKey, Arc<T>>> = None;
    while let Some(event) = stream.next().await {
        let Some(store) = store.upgrade() else { return };
        let Some(objects) = store.shards.get(shard) else {
            return;
        };
        let changed = match event {
            Ok(Event::Init) => {
                pending = Some(BTreeMap::new());
                false
            }
            Ok(Event::InitApply(obj)) => {
                if let Some(p) = &mut pending {
                    p.insert(object_key(&obj), Arc::new(convert(obj)));
                }
                false
            }
            Ok(Event::InitDone) => {
                if let Some(p) = pending.take() {
                    let old = std::mem::replace(&mut *write(objects), p);
                    drop(old);
                    release_free_memory();
                }
                if let Some(s) = store.synced.get(shard) {
                    s.store(true, Ordering::Release);
                }
                store.set_error(None);
                metrics.kube_event(kind, "list");
                true
            }
            Ok(Event::Apply(obj)) => {
                let k = object_key(&obj);
                let new = convert(obj);
                let mut map = write(objects);
                // Most updates (status of a ReplicaSet, a Job, a node) change nothing we
                // keep: no rebuild then, and cached groups that point at the object stay.
                let same = map.get(&k).is_some_and(|old| **old == new);
                let existed = same || map.insert(k, Arc::new(new)).is_some();
                drop(map);
                metrics.kube_event(kind, if existed { "update" } else { "add" });
                !same
            }
            Ok(Event::Delete(obj)) => {
                write(objects).remove(&object_key(&obj));
                metrics.kube_event(kind, "delete");
                true
            }
            Err(error) => {
                metrics.kube_watch_failed(kind);
                tracing::warn!(kind, %error, "kubernetes watch failed; retrying");
                store.set_error(Some(error.to_string()));
                // Wakes subscribers so that they can show the error.
                true
            }
        };
        if changed {
            store.version.send_modify(|v| *v = v.wrapping_add(1));
        }
    }
}

/// Returns free heap pages to the OS after a list. Decoding a large list (pages of full
/// API objects, most of which is thrown away at once) leaves megabytes freed in the arena
/// of the thread that decoded it, which glibc keeps and other threads cannot reuse.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it only walks glibc's heaps under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn object_key<K: kube::Resource>(obj: &K) -> ObjectKey {
    let m = obj.meta();
    (
        m.namespace.clone().unwrap_or_default(),
        m.name.clone().unwrap_or_default(),
    )
}
