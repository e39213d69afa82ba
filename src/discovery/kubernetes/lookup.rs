//! Access to the related objects a role's labels need (services, pods, nodes).

use std::sync::Arc;

use super::objects::{NodeInfo, PodInfo, ServiceInfo};

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
