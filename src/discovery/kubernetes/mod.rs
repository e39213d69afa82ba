//! `kubernetes_sd_configs`: targets from the Kubernetes API, labelled exactly as Prometheus'
//! `discovery/kubernetes` code labels them.
//!
//! Layout: [`watch`] runs one shared list+watch per (kind, client, namespaces, selectors)
//! into a store of slim objects ([`objects`]); a [`KubernetesProvider`] per config subscribes
//! to the stores its role needs and, after each burst of changes, rebuilds its groups with
//! the pure per-role builders (`pod`, `service`, `endpoints`, `endpointslice`, `node`,
//! `ingress`) and sends them when they differ from the last send.

pub(crate) mod client;
mod endpoints;
mod endpointslice;
mod ingress;
mod lookup;
mod meta;
mod node;
mod objects;
mod pod;
mod service;
pub(crate) mod watch;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub use client::{ClientError, NAMESPACE_FILE};
pub use watch::Registry;

use self::lookup::{Attach, Related};
use self::objects::{EndpointsInfo, IngressInfo, NodeInfo, PodInfo, ServiceInfo, SliceInfo};
use self::watch::{Store, StoreKey, Watched, Watching};
use super::{Cancel, DiscoveryMetrics, Provider, SharedGroups, TargetGroup};
use crate::config::{KubernetesRole, KubernetesSdConfig};

/// How long a provider waits after a change for more before rebuilding its groups.
pub const DEBOUNCE: Duration = Duration::from_millis(100);

/// Why a provider could not be built.
#[derive(Debug, thiserror::Error)]
pub enum KubernetesSdError {
    /// The config has no role (the loader refuses this; only hand-built configs).
    #[error("role missing (one of: pod, service, endpoints, endpointslice, node, ingress)")]
    NoRole,
    /// The client settings cannot be used.
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// The stores a role reads.
enum Sources {
    Pod(Arc<Store<PodInfo>>),
    Service(Arc<Store<ServiceInfo>>),
    Endpoints(Arc<Store<EndpointsInfo>>),
    EndpointSlice(Arc<Store<SliceInfo>>),
    Node(Arc<Store<NodeInfo>>),
    Ingress(Arc<Store<IngressInfo>>),
}

impl Sources {
    fn store(&self) -> &dyn Watching {
        match self {
            Sources::Pod(s) => &**s,
            Sources::Service(s) => &**s,
            Sources::Endpoints(s) => &**s,
            Sources::EndpointSlice(s) => &**s,
            Sources::Node(s) => &**s,
            Sources::Ingress(s) => &**s,
        }
    }
}

/// A pod's group from the last build, keyed by the address of the pod object it was built
/// from. The store replaces a pod's `Arc` on every change, so an unchanged pod (and node) is
/// the same allocation and its group is reused, shared with what was sent before, instead
/// of being built and held a second time. The entry keeps its `Arc`s, so an address cannot
/// be reused by another object while it is a key.
type PodCache = HashMap<usize, (Arc<PodInfo>, pod::PodRelated, Option<Arc<TargetGroup>>)>;

/// Opens the shared stores of one config.
struct Opener<'a> {
    cfg: &'a KubernetesSdConfig,
    client: client::ClientSpec,
    /// The config's namespaces (own included); empty for all.
    namespaces: Vec<String>,
    registry: &'a Registry,
    metrics: &'a DiscoveryMetrics,
}

impl Opener<'_> {
    /// The store of `kind` objects, with the selectors of role `sel` (none for kinds that
    /// no selector role names), in the config's namespaces when the kind has namespaces.
    fn store<K: Watched, T: PartialEq + Send + Sync + 'static>(
        &self,
        kind: &'static str,
        sel: Option<KubernetesRole>,
        convert: fn(K) -> T,
    ) -> Arc<Store<T>> {
        let (label, field) = sel.map_or(("", ""), |r| self.cfg.selector_for(r));
        let key = StoreKey {
            kind,
            client: self.client.clone(),
            namespaces: if K::NAMESPACED {
                self.namespaces.clone()
            } else {
                Vec::new()
            },
            label: label.to_string(),
            field: field.to_string(),
        };
        self.registry.store(key, convert, self.metrics)
    }
}

/// One `kubernetes_sd_configs` entry.
pub struct KubernetesProvider {
    role: KubernetesRole,
    main: Sources,
    related: Related,
    attach: Attach,
    pods: PodCache,
}

impl std::fmt::Debug for KubernetesProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubernetesProvider")
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl KubernetesProvider {
    /// Subscribes to (or starts) the shared watches `cfg` needs. Needs a tokio runtime.
    pub fn new(
        cfg: &KubernetesSdConfig,
        registry: &Registry,
        metrics: &DiscoveryMetrics,
    ) -> Result<KubernetesProvider, KubernetesSdError> {
        let role = cfg.role.ok_or(KubernetesSdError::NoRole)?;
        let client = client::ClientSpec::from_config(cfg)?;
        let mut namespaces: Vec<String> = Vec::new();
        for ns in &cfg.namespaces.names {
            if !namespaces.contains(ns) {
                namespaces.push(ns.clone());
            }
        }
        if cfg.namespaces.own_namespace && client == client::ClientSpec::InCluster {
            let own = client::own_namespace()?;
            if !namespaces.contains(&own) {
                namespaces.push(own);
            }
        }
        let open = Opener {
            cfg,
            client,
            namespaces,
            registry,
            metrics,
        };
        use KubernetesRole as R;
        let attach = Attach::for_role(&cfg.attach_metadata, role);
        // As Prometheus' informers: nodes with the node selectors; every namespace, whatever
        // `namespaces` says; ReplicaSets and Jobs in the config's namespaces, unselected.
        // Jobs only for `cronjob`: `job` reads the pod's own owner reference.
        let mut related = Related {
            nodes: attach
                .node
                .then(|| open.store("node", Some(R::Node), objects::node)),
            namespaces: attach
                .namespace
                .then(|| open.store("namespace", None, objects::namespace)),
            replica_sets: attach
                .deployment
                .then(|| open.store("replicaset", None, objects::replica_set)),
            jobs: attach
                .cronjob
                .then(|| open.store("job", None, objects::job)),
            ..Related::default()
        };
        let pods = || open.store("pod", Some(R::Pod), objects::pod);
        let services = || open.store("service", Some(R::Service), objects::service);
        let main = match role {
            R::Pod => Sources::Pod(pods()),
            R::Service => Sources::Service(services()),
            R::Node => Sources::Node(open.store("node", Some(R::Node), objects::node)),
            R::Ingress => {
                Sources::Ingress(open.store("ingress", Some(R::Ingress), objects::ingress))
            }
            R::Endpoints => {
                related.pods = Some(pods());
                related.services = Some(services());
                Sources::Endpoints(open.store("endpoints", Some(R::Endpoints), objects::endpoints))
            }
            R::EndpointSlice => {
                related.pods = Some(pods());
                related.services = Some(services());
                Sources::EndpointSlice(open.store(
                    "endpointslice",
                    Some(R::EndpointSlice),
                    objects::endpoint_slice,
                ))
            }
        };
        Ok(KubernetesProvider {
            role,
            main,
            related,
            attach,
            pods: PodCache::new(),
        })
    }

    fn subscriptions(&self) -> Vec<tokio::sync::watch::Receiver<u64>> {
        let mut out = vec![self.main.store().subscribe()];
        out.extend(self.related.stores().iter().map(|s| s.subscribe()));
        out
    }

    /// Whether every store has completed its initial list (Prometheus' WaitForCacheSync).
    fn synced(&self) -> bool {
        self.main.store().synced() && self.related.stores().iter().all(|s| s.synced())
    }

    /// Every group of this provider, from the stores' current objects.
    fn build(&mut self) -> SharedGroups {
        let r = &self.related;
        let groups: Vec<TargetGroup> = match &self.main {
            Sources::Pod(s) => {
                let mut cache = PodCache::with_capacity(self.pods.len());
                let mut out = Vec::new();
                for p in s.all() {
                    let rel = pod::PodRelated::of(&p, r, self.attach);
                    let key = Arc::as_ptr(&p) as usize;
                    let group = match self.pods.remove(&key) {
                        Some((_, old, group)) if old.same_as(&rel) => group,
                        _ => pod::build(&p, &rel, self.attach).map(Arc::new),
                    };
                    out.extend(group.clone());
                    cache.insert(key, (p, rel, group));
                }
                self.pods = cache;
                return out.into();
            }
            Sources::Service(s) => s
                .all()
                .iter()
                .map(|x| service::build(x, r, self.attach))
                .collect(),
            Sources::Endpoints(s) => s
                .all()
                .iter()
                .map(|x| endpoints::build(x, r, self.attach))
                .collect(),
            Sources::EndpointSlice(s) => s
                .all()
                .iter()
                .map(|x| endpointslice::build(x, r, self.attach))
                .collect(),
            Sources::Node(s) => s.all().iter().filter_map(|x| node::build(x)).collect(),
            Sources::Ingress(s) => s
                .all()
                .iter()
                .map(|x| ingress::build(x, r, self.attach))
                .collect(),
        };
        super::share(groups)
    }
}

/// A fingerprint of a list of groups, so that a provider need not keep its last send.
fn fingerprint(groups: &[Arc<TargetGroup>]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut put = |s: &str| {
        h.write(s.as_bytes());
        h.write(&[0xff]);
    };
    for g in groups {
        put(&g.source);
        put_labels(&mut put, &g.labels);
        for t in &g.targets {
            put("\u{1}");
            put_labels(&mut put, t);
        }
        put("\u{2}");
    }
    h.finish()
}

fn put_labels(put: &mut impl FnMut(&str), labels: &crate::labels::Labels) {
    for l in labels.iter() {
        put(l.name);
        put(l.value);
    }
}

impl Provider for KubernetesProvider {
    fn mechanism(&self) -> &'static str {
        "kubernetes"
    }

    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<SharedGroups>,
        cancel: Cancel,
    ) -> BoxFuture<'static, ()> {
        async move {
            let mut this = self;
            let mut subs = this.subscriptions();
            let mut last: Option<u64> = None;
            loop {
                if this.synced() {
                    let groups = this.build();
                    let fp = fingerprint(&groups);
                    if last != Some(fp) {
                        tracing::debug!(role = %this.role, groups = groups.len(), "kubernetes targets changed");
                        tokio::select! {
                            _ = cancel.cancelled() => return,
                            sent = tx.send(groups) => if sent.is_err() { return },
                        }
                        last = Some(fp);
                    }
                }
                let changed = {
                    let waits = subs.iter_mut().map(|s| Box::pin(s.changed()));
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        (r, _, _) = futures::future::select_all(waits) => r,
                    }
                };
                if changed.is_err() {
                    return;
                }
                // Let a burst of events settle before rebuilding.
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(DEBOUNCE) => {}
                }
                for s in &mut subs {
                    s.borrow_and_update();
                }
            }
        }
        .boxed()
    }
}
