//! Role `service`: one target per service port, addressed by the service's DNS name
//! (Prometheus' `discovery/kubernetes/service.go`).

use super::lookup::{Attach, Lookup};
use super::meta::{self, LabelMap, NAMESPACE, join_host_port, put, put_meta};
use super::objects::ServiceInfo;
use crate::discovery::{ADDRESS_LABEL, TargetGroup};

/// Prometheus' `serviceLabels`: namespace, name, labels and annotations. Endpoints and
/// endpointslice groups carry exactly these for their service.
pub(crate) fn service_labels(ls: &mut LabelMap, svc: &ServiceInfo) {
    put(ls, NAMESPACE, &svc.meta.namespace);
    meta::object_meta_labels(ls, &svc.meta, "service");
}

/// The group of one service.
pub(crate) fn build(svc: &ServiceInfo, lookup: &dyn Lookup, attach: Attach) -> TargetGroup {
    let mut labels = LabelMap::new();
    service_labels(&mut labels, svc);
    if attach.namespace {
        meta::namespace_labels(
            &mut labels,
            lookup.namespace(&svc.meta.namespace).as_deref(),
        );
    }
    let host = format!("{}.{}.svc", svc.meta.name, svc.meta.namespace);
    let targets: Vec<LabelMap> = svc
        .ports
        .iter()
        .map(|p| {
            let mut t = LabelMap::new();
            put(&mut t, ADDRESS_LABEL, &join_host_port(&host, p.number));
            put_meta(&mut t, "service_port_name", &p.name);
            put_meta(&mut t, "service_port_number", &p.number.to_string());
            put_meta(&mut t, "service_port_protocol", &p.protocol);
            put_meta(&mut t, "service_type", &svc.type_);
            if svc.type_ == "ExternalName" {
                put_meta(&mut t, "service_external_name", &svc.external_name);
            } else {
                put_meta(&mut t, "service_cluster_ip", &svc.cluster_ip);
            }
            if svc.type_ == "LoadBalancer" {
                put_meta(&mut t, "service_loadbalancer_ip", &svc.load_balancer_ip);
            }
            t
        })
        .collect();
    super::meta::group(
        format!("svc/{}/{}", svc.meta.namespace, svc.meta.name),
        targets,
        &labels,
    )
}
