//! Access to the related objects a role's labels need (services, pods, nodes, namespaces),
//! and which of them `attach_metadata` asks for.

use std::sync::Arc;

use super::objects::{Meta, NodeInfo, OwnerInfo, PodInfo, ServiceInfo};
use super::watch::{Store, Watching};
use crate::config::{KubernetesAttachMetadata, KubernetesRole};

/// Finds related objects by namespace and name; each lookup is `None` when the object is
/// unknown (or its kind is not watched).
pub(crate) trait Lookup {
    /// The pod `namespace/name`.
    fn pod(&self, namespace: &str, name: &str) -> Option<Arc<PodInfo>>;
    /// The service `namespace/name`.
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<ServiceInfo>>;
    /// The node `name`, only when `attach_metadata.node` is on.
    fn node(&self, name: &str) -> Option<Arc<NodeInfo>>;
    /// The namespace `name`, only when `attach_metadata.namespace` is on.
    fn namespace(&self, name: &str) -> Option<Arc<Meta>>;
    /// The ReplicaSet `namespace/name`, only when `attach_metadata.deployment` is on.
    fn replica_set(&self, namespace: &str, name: &str) -> Option<Arc<OwnerInfo>>;
    /// The Job `namespace/name`, only when `attach_metadata.cronjob` is on.
    fn job(&self, namespace: &str, name: &str) -> Option<Arc<OwnerInfo>>;
}

/// The `attach_metadata` keys a provider honours. Prometheus accepts every key for every
/// role and ignores those its role has no use for; so does this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attach {
    /// Node labels (pod, endpoints, endpointslice); the pod role then also leaves out pods
    /// whose node is not in the node watch (filtered by node selectors).
    pub node: bool,
    /// Namespace labels and annotations (every role but node).
    pub namespace: bool,
    /// `pod_deployment_name`, from the pod's ReplicaSet (pod, endpoints, endpointslice).
    pub deployment: bool,
    /// `pod_job_name`, from the pod's own controller reference: no watch needed.
    pub job: bool,
    /// `pod_cronjob_name`, from the pod's Job.
    pub cronjob: bool,
}

impl Attach {
    /// The keys of `cfg` that apply to `role`.
    pub(crate) fn for_role(cfg: &KubernetesAttachMetadata, role: KubernetesRole) -> Attach {
        use KubernetesRole as R;
        let pods = matches!(role, R::Pod | R::Endpoints | R::EndpointSlice);
        Attach {
            node: cfg.node && pods,
            namespace: cfg.namespace && role != R::Node,
            deployment: cfg.deployment && pods,
            job: cfg.job && pods,
            cronjob: cfg.cronjob && pods,
        }
    }
}

/// The stores of the related objects a provider reads, each `None` when not watched.
#[derive(Default)]
pub(crate) struct Related {
    pub pods: Option<Arc<Store<PodInfo>>>,
    pub services: Option<Arc<Store<ServiceInfo>>>,
    pub nodes: Option<Arc<Store<NodeInfo>>>,
    pub namespaces: Option<Arc<Store<Meta>>>,
    pub replica_sets: Option<Arc<Store<OwnerInfo>>>,
    pub jobs: Option<Arc<Store<OwnerInfo>>>,
}

impl Related {
    /// Every store held, to subscribe to and to wait for.
    pub(crate) fn stores(&self) -> Vec<&dyn Watching> {
        fn add<'a, T>(out: &mut Vec<&'a dyn Watching>, s: &'a Option<Arc<Store<T>>>) {
            if let Some(s) = s {
                out.push(&**s);
            }
        }
        let mut out = Vec::new();
        add(&mut out, &self.pods);
        add(&mut out, &self.services);
        add(&mut out, &self.nodes);
        add(&mut out, &self.namespaces);
        add(&mut out, &self.replica_sets);
        add(&mut out, &self.jobs);
        out
    }
}

impl Lookup for Related {
    fn pod(&self, namespace: &str, name: &str) -> Option<Arc<PodInfo>> {
        self.pods.as_ref()?.get(namespace, name)
    }
    fn service(&self, namespace: &str, name: &str) -> Option<Arc<ServiceInfo>> {
        self.services.as_ref()?.get(namespace, name)
    }
    fn node(&self, name: &str) -> Option<Arc<NodeInfo>> {
        self.nodes.as_ref()?.get("", name)
    }
    fn namespace(&self, name: &str) -> Option<Arc<Meta>> {
        self.namespaces.as_ref()?.get("", name)
    }
    fn replica_set(&self, namespace: &str, name: &str) -> Option<Arc<OwnerInfo>> {
        self.replica_sets.as_ref()?.get(namespace, name)
    }
    fn job(&self, namespace: &str, name: &str) -> Option<Arc<OwnerInfo>> {
        self.jobs.as_ref()?.get(namespace, name)
    }
}
