//! Access to the related objects a role's labels need (services, pods, nodes), and which
//! of them `attach_metadata` asks for.

use std::sync::Arc;

use super::objects::{NodeInfo, PodInfo, ServiceInfo};
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
}

/// The `attach_metadata` keys a provider honours. Prometheus accepts every key for every
/// role and ignores those its role has no use for; so does this.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Attach {
    /// Node labels (pod, endpoints, endpointslice); the pod role then also leaves out pods
    /// whose node is not in the node watch (filtered by node selectors).
    pub node: bool,
}

impl Attach {
    /// The keys of `cfg` that apply to `role`.
    pub(crate) fn for_role(cfg: &KubernetesAttachMetadata, role: KubernetesRole) -> Attach {
        use KubernetesRole as R;
        let pods = matches!(role, R::Pod | R::Endpoints | R::EndpointSlice);
        Attach {
            node: cfg.node && pods,
        }
    }
}
