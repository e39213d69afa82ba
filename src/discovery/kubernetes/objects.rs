//! The parts of Kubernetes objects that the labels need, and nothing else.
//!
//! Watched objects are converted as soon as they are decoded, so a store holds a few hundred
//! bytes per pod instead of the full object (no managedFields, env, volumes, statuses, ...).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Endpoints, Namespace, Node, ObjectReference, Pod, Service, ServiceStatus,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Name, namespace, uid, labels and annotations of an object.
///
/// Labels and annotations are sorted vectors, not maps: a map's node costs more than the
/// handful of entries most objects have.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Meta {
    pub name: String,
    pub namespace: String,
    pub uid: String,
    pub labels: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
}

impl Meta {
    fn from_k8s(m: ObjectMeta) -> Meta {
        let pairs = |m: Option<BTreeMap<String, String>>| -> Vec<(String, String)> {
            m.unwrap_or_default().into_iter().collect()
        };
        Meta {
            name: m.name.unwrap_or_default(),
            namespace: m.namespace.unwrap_or_default(),
            uid: m.uid.unwrap_or_default(),
            labels: pairs(m.labels),
            annotations: pairs(m.annotations),
        }
    }

    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .and_then(|i| self.labels.get(i))
            .map(|(_, v)| v.as_str())
    }
}

/// A pod, as the pod, endpoints and endpointslice roles see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PodInfo {
    pub meta: Meta,
    /// Kind and name of the owner reference marked `controller: true`.
    pub controller: Option<(String, String)>,
    pub node_name: String,
    pub pod_ip: String,
    pub host_ip: String,
    pub phase: String,
    /// Status of the `Ready` condition, lowercased; `unknown` without one.
    pub ready: String,
    /// Containers, then init containers.
    pub containers: Vec<ContainerInfo>,
}

/// One container of a pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ContainerInfo {
    pub name: String,
    pub image: String,
    /// From the matching container status, empty when there is none yet.
    pub id: String,
    pub init: bool,
    pub ports: Vec<PortInfo>,
}

/// A named port (container port, service port or endpoints port).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PortInfo {
    pub name: String,
    pub number: i32,
    pub protocol: String,
}

/// A service.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ServiceInfo {
    pub meta: Meta,
    pub type_: String,
    pub cluster_ip: String,
    pub external_name: String,
    /// The IPs of `status.loadBalancer.ingress` joined by commas, else the deprecated
    /// `spec.loadBalancerIP` (Prometheus' `loadBalancerIPs`).
    pub load_balancer_ip: String,
    pub ports: Vec<PortInfo>,
    /// The first of `spec.ipFamilies` when `spec.ipFamilyPolicy` asks for dual stack: the
    /// endpointslice role skips the other family's slices.
    pub dual_stack_primary: Option<String>,
}

/// A node.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NodeInfo {
    pub meta: Meta,
    pub provider_id: String,
    /// `(type, address)` in the order of `status.addresses`.
    pub addresses: Vec<(String, String)>,
    pub kubelet_port: i32,
    /// `(type, status)` of `status.conditions`, both lowercased.
    pub conditions: Vec<(String, String)>,
}

/// What an endpoint address refers to.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TargetRef {
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl TargetRef {
    fn from_k8s(r: ObjectReference) -> TargetRef {
        TargetRef {
            kind: r.kind.unwrap_or_default(),
            name: r.name.unwrap_or_default(),
            namespace: r.namespace.unwrap_or_default(),
        }
    }
}

/// An Endpoints object.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct EndpointsInfo {
    pub meta: Meta,
    pub subsets: Vec<SubsetInfo>,
}

/// One subset of an Endpoints object.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SubsetInfo {
    pub addresses: Vec<AddressInfo>,
    pub not_ready: Vec<AddressInfo>,
    pub ports: Vec<PortInfo>,
}

/// One address of an Endpoints subset.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AddressInfo {
    pub ip: String,
    pub hostname: String,
    pub node_name: Option<String>,
    pub target_ref: Option<TargetRef>,
}

/// An EndpointSlice (discovery.k8s.io/v1).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SliceInfo {
    pub meta: Meta,
    pub address_type: String,
    pub ports: Vec<SlicePort>,
    pub endpoints: Vec<SliceEndpoint>,
}

/// A port of an EndpointSlice; every field is optional in the API.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SlicePort {
    pub name: Option<String>,
    pub port: Option<i32>,
    pub protocol: Option<String>,
    pub app_protocol: Option<String>,
}

/// An endpoint of an EndpointSlice.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct SliceEndpoint {
    pub addresses: Vec<String>,
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
    pub hostname: Option<String>,
    pub node_name: Option<String>,
    pub zone: Option<String>,
    pub target_ref: Option<TargetRef>,
    pub topology: BTreeMap<String, String>,
}

/// A ReplicaSet or a Job as pod labels see it: the name of its controller when that is a
/// Deployment (of a ReplicaSet) or a CronJob (of a Job), and nothing else.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct OwnerInfo {
    pub owner: Option<String>,
}

/// An Ingress (networking.k8s.io/v1).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct IngressInfo {
    pub meta: Meta,
    pub class_name: Option<String>,
    pub tls_hosts: Vec<String>,
    /// `(host, paths)`; paths are `None` for a rule without `http`.
    pub rules: Vec<(String, Option<Vec<String>>)>,
}

/// Converts a decoded pod, keeping only what labels need.
pub(crate) fn pod(p: Pod) -> PodInfo {
    let controller = controller_of(&p.metadata).map(|(k, n)| (k.to_string(), n.to_string()));
    let spec = p.spec.unwrap_or_default();
    let status = p.status.unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map_or_else(|| "unknown".to_string(), |c| c.status.to_lowercase());
    let id_of = |statuses: &Option<Vec<k8s_openapi::api::core::v1::ContainerStatus>>,
                 name: &str| {
        statuses
            .iter()
            .flatten()
            .find(|s| s.name == name)
            .and_then(|s| s.container_id.clone())
            .unwrap_or_default()
    };
    let mut containers = Vec::new();
    for (init, list, statuses) in [
        (false, Some(spec.containers), &status.container_statuses),
        (true, spec.init_containers, &status.init_container_statuses),
    ] {
        for c in list.into_iter().flatten() {
            containers.push(ContainerInfo {
                id: id_of(statuses, &c.name),
                image: c.image.unwrap_or_default(),
                init,
                ports: c
                    .ports
                    .into_iter()
                    .flatten()
                    .map(|p| PortInfo {
                        name: p.name.unwrap_or_default(),
                        number: p.container_port,
                        protocol: p.protocol.unwrap_or_default(),
                    })
                    .collect(),
                name: c.name,
            });
        }
    }
    PodInfo {
        meta: Meta::from_k8s(p.metadata),
        controller,
        node_name: spec.node_name.unwrap_or_default(),
        pod_ip: status.pod_ip.unwrap_or_default(),
        host_ip: status.host_ip.unwrap_or_default(),
        phase: status.phase.unwrap_or_default(),
        ready,
        containers,
    }
}

/// Kind and name of the first owner reference marked `controller: true` (Prometheus'
/// `GetControllerOf`).
fn controller_of(m: &ObjectMeta) -> Option<(&str, &str)> {
    m.owner_references
        .iter()
        .flatten()
        .find(|r| r.controller == Some(true))
        .map(|r| (r.kind.as_str(), r.name.as_str()))
}

/// The name of `m`'s controller when it is of `kind`.
fn controller_named(m: &ObjectMeta, kind: &str) -> OwnerInfo {
    OwnerInfo {
        owner: controller_of(m)
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n.to_string()),
    }
}

/// Converts a decoded ReplicaSet, for `attach_metadata.deployment`.
pub(crate) fn replica_set(rs: ReplicaSet) -> OwnerInfo {
    controller_named(&rs.metadata, "Deployment")
}

/// Converts a decoded Job, for `attach_metadata.cronjob`.
pub(crate) fn job(j: Job) -> OwnerInfo {
    controller_named(&j.metadata, "CronJob")
}

/// Converts a decoded service.
pub(crate) fn service(s: Service) -> ServiceInfo {
    let spec = s.spec.unwrap_or_default();
    ServiceInfo {
        meta: Meta::from_k8s(s.metadata),
        type_: spec.type_.unwrap_or_default(),
        cluster_ip: spec.cluster_ip.unwrap_or_default(),
        external_name: spec.external_name.unwrap_or_default(),
        load_balancer_ip: load_balancer_ips(s.status, spec.load_balancer_ip),
        dual_stack_primary: match spec.ip_family_policy.as_deref() {
            Some("PreferDualStack" | "RequireDualStack") => {
                spec.ip_families.and_then(|f| f.into_iter().next())
            }
            _ => None,
        },
        ports: spec
            .ports
            .into_iter()
            .flatten()
            .map(|p| PortInfo {
                name: p.name.unwrap_or_default(),
                number: p.port,
                protocol: p.protocol.unwrap_or_default(),
            })
            .collect(),
    }
}

fn load_balancer_ips(status: Option<ServiceStatus>, spec_ip: Option<String>) -> String {
    let ips: Vec<String> = status
        .and_then(|s| s.load_balancer)
        .and_then(|lb| lb.ingress)
        .into_iter()
        .flatten()
        .filter_map(|i| i.ip.filter(|ip| !ip.is_empty()))
        .collect();
    if ips.is_empty() {
        spec_ip.unwrap_or_default()
    } else {
        ips.join(",")
    }
}

/// Converts a decoded namespace: its metadata is all `attach_metadata.namespace` reads.
pub(crate) fn namespace(n: Namespace) -> Meta {
    Meta::from_k8s(n.metadata)
}

/// Converts a decoded node.
pub(crate) fn node(n: Node) -> NodeInfo {
    let status = n.status.unwrap_or_default();
    NodeInfo {
        meta: Meta::from_k8s(n.metadata),
        provider_id: n.spec.and_then(|s| s.provider_id).unwrap_or_default(),
        addresses: status
            .addresses
            .into_iter()
            .flatten()
            .map(|a| (a.type_, a.address))
            .collect(),
        kubelet_port: status
            .daemon_endpoints
            .and_then(|d| d.kubelet_endpoint)
            .map_or(0, |k| k.port),
        conditions: status
            .conditions
            .into_iter()
            .flatten()
            .map(|c| (c.type_.to_lowercase(), c.status.to_lowercase()))
            .collect(),
    }
}

fn address(a: k8s_openapi::api::core::v1::EndpointAddress) -> AddressInfo {
    AddressInfo {
        ip: a.ip,
        hostname: a.hostname.unwrap_or_default(),
        node_name: a.node_name,
        target_ref: a.target_ref.map(TargetRef::from_k8s),
    }
}

/// Converts a decoded Endpoints object.
pub(crate) fn endpoints(e: Endpoints) -> EndpointsInfo {
    EndpointsInfo {
        meta: Meta::from_k8s(e.metadata),
        subsets: e
            .subsets
            .into_iter()
            .flatten()
            .map(|s| SubsetInfo {
                addresses: s.addresses.into_iter().flatten().map(address).collect(),
                not_ready: s
                    .not_ready_addresses
                    .into_iter()
                    .flatten()
                    .map(address)
                    .collect(),
                ports: s
                    .ports
                    .into_iter()
                    .flatten()
                    .map(|p| PortInfo {
                        name: p.name.unwrap_or_default(),
                        number: p.port,
                        protocol: p.protocol.unwrap_or_default(),
                    })
                    .collect(),
            })
            .collect(),
    }
}

/// Converts a decoded EndpointSlice.
pub(crate) fn endpoint_slice(s: EndpointSlice) -> SliceInfo {
    SliceInfo {
        meta: Meta::from_k8s(s.metadata),
        address_type: s.address_type,
        ports: s
            .ports
            .into_iter()
            .flatten()
            .map(|p| SlicePort {
                name: p.name,
                port: p.port,
                protocol: p.protocol,
                app_protocol: p.app_protocol,
            })
            .collect(),
        endpoints: s
            .endpoints
            .into_iter()
            .map(|e| {
                let c = e.conditions.unwrap_or_default();
                SliceEndpoint {
                    addresses: e.addresses,
                    ready: c.ready,
                    serving: c.serving,
                    terminating: c.terminating,
                    hostname: e.hostname,
                    node_name: e.node_name,
                    zone: e.zone,
                    target_ref: e.target_ref.map(TargetRef::from_k8s),
                    topology: e.deprecated_topology.unwrap_or_default(),
                }
            })
            .collect(),
    }
}

/// Converts a decoded Ingress.
pub(crate) fn ingress(i: Ingress) -> IngressInfo {
    let spec = i.spec.unwrap_or_default();
    IngressInfo {
        meta: Meta::from_k8s(i.metadata),
        class_name: spec.ingress_class_name,
        tls_hosts: spec
            .tls
            .into_iter()
            .flatten()
            .flat_map(|t| t.hosts.unwrap_or_default())
            .collect(),
        rules: spec
            .rules
            .into_iter()
            .flatten()
            .map(|r| {
                let paths = r.http.map(|h| {
                    h.paths
                        .into_iter()
                        .map(|p| p.path.unwrap_or_default())
                        .collect()
                });
                (r.host.unwrap_or_default(), paths)
            })
            .collect(),
    }
}
