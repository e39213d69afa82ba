//! What one variant needs: the StatefulSet's Services, gossip flags, HPA and PDB; the
//! DaemonSet's node-local discovery.

use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::load::{self, Bundle, deploy_dir, kustomization, selects};
use super::{clustered, container_port, named_port, parse_cli, protocol};

#[test]
fn services_select_the_pods_and_match_container_ports() {
    let b = clustered();
    let w = &b.workloads()[0];
    let sts = b.stateful_sets[0].spec.as_ref().unwrap();
    assert!(
        selects(&sts.selector, &w.pod_labels()),
        "StatefulSet selector"
    );
    assert_eq!(sts.pod_management_policy.as_deref(), Some("Parallel"));
    assert_eq!(sts.replicas, None, "the HPA owns replicas");
    let pod = sts.template.spec.as_ref().unwrap();
    for spread in pod.topology_spread_constraints.iter().flatten() {
        let selector = spread.label_selector.as_ref().unwrap();
        assert!(
            selects(selector, &w.pod_labels()),
            "topologySpreadConstraints"
        );
    }
    for svc in &b.services {
        let svc_name = svc.metadata.name.clone().unwrap();
        let spec = svc.spec.as_ref().unwrap();
        let selector = spec.selector.clone().unwrap();
        assert!(!selector.is_empty(), "{svc_name}");
        let pod = w.pod_labels();
        assert!(
            selector.iter().all(|(k, v)| pod.get(k) == Some(v)),
            "{svc_name} selector"
        );
        for port in spec.ports.iter().flatten() {
            let target = port
                .target_port
                .clone()
                .unwrap_or(IntOrString::Int(port.port));
            let cport = container_port(w.shoal(), &target);
            let cport = cport.unwrap_or_else(|| panic!("{svc_name}: targetPort {target:?}"));
            assert_eq!(port.name, cport.name, "{svc_name}: port names");
            assert_eq!(port.port, cport.container_port, "{svc_name}: port numbers");
            assert_eq!(
                protocol(&port.protocol),
                protocol(&cport.protocol),
                "{svc_name}"
            );
        }
    }
    // serviceName is the headless Service, which publishes peers before they are ready.
    let headless = headless_service(&b);
    assert_eq!(sts.service_name, headless.metadata.name);
}

fn headless_service(b: &Bundle) -> &Service {
    let headless = b.services.iter().find(|s| {
        let spec = s.spec.as_ref().unwrap();
        spec.cluster_ip.as_deref() == Some("None")
    });
    let headless = headless.expect("a headless Service");
    let spec = headless.spec.as_ref().unwrap();
    assert_eq!(spec.publish_not_ready_addresses, Some(true));
    headless
}

#[test]
fn cluster_flags_agree_with_the_headless_service_and_ports() {
    let b = clustered();
    let w = &b.workloads()[0];
    let cli = parse_cli(w, &b.namespace);
    let c = &cli.agent.cluster;
    assert!(c.enabled);
    assert_eq!(
        c.node_name.as_deref(),
        Some(w.pod_name.as_str()),
        "node name = pod name"
    );
    let gossip = named_port(w.shoal(), "gossip");
    let gossip_port = container_port(w.shoal(), &IntOrString::String("gossip".into())).unwrap();
    assert_eq!(protocol(&gossip_port.protocol), "UDP");
    assert_eq!(c.listen_address.port(), gossip, "--cluster.listen-address");
    let advertised = format!("{}:{gossip}", load::POD_IP);
    assert_eq!(c.advertise_address.map(|a| a.to_string()), Some(advertised));
    let headless = headless_service(&b);
    let svc_gossip = headless
        .spec
        .as_ref()
        .unwrap()
        .ports
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some("gossip"));
    assert_eq!(svc_gossip.map(|p| p.port), Some(i32::from(gossip)));
    let host = format!(
        "{}.{}.svc",
        headless.metadata.name.as_ref().unwrap(),
        b.namespace
    );
    assert_eq!(c.join, [format!("{host}:{gossip}")], "--cluster.join");
}

#[test]
fn daemonset_is_node_local() {
    let b = Bundle::load(&kustomization(&deploy_dir().join("daemonset")));
    assert!(b.stateful_sets.is_empty() && b.hpas.is_empty() && b.pdbs.is_empty());
    let w = &b.workloads()[0];
    let raw_args = w.shoal().args.clone().unwrap_or_default();
    assert!(
        raw_args.iter().all(|a| !a.starts_with("--cluster.")),
        "{raw_args:?}"
    );
    assert!(!parse_cli(w, &b.namespace).agent.cluster.enabled);
    assert_eq!(
        w.env(&b.namespace).get("NODE_NAME").map(String::as_str),
        Some(load::NODE_NAME)
    );
    let config = b.config_maps[0].data.clone().unwrap();
    let config = config.values().next().unwrap();
    assert!(
        config.contains("field: spec.nodeName=${NODE_NAME}"),
        "node-local selector"
    );
    assert!(
        w.shoal()
            .ports
            .iter()
            .flatten()
            .all(|p| p.name.as_deref() != Some("gossip"))
    );
}

#[test]
fn hpa_scales_the_statefulset_and_scales_down_slowly() {
    let b = clustered();
    let [hpa] = &b.hpas[..] else {
        panic!("one HPA")
    };
    let spec = hpa.spec.as_ref().unwrap();
    let sts = &b.stateful_sets[0];
    assert_eq!(spec.scale_target_ref.kind, "StatefulSet");
    assert_eq!(
        Some(&spec.scale_target_ref.name),
        sts.metadata.name.as_ref()
    );
    assert_eq!(
        spec.scale_target_ref.api_version.as_deref(),
        Some("apps/v1")
    );
    assert!(spec.min_replicas.unwrap_or(1) >= 2 && spec.max_replicas > spec.min_replicas.unwrap());
    let resources: Vec<String> = spec
        .metrics
        .iter()
        .flatten()
        .filter_map(|m| m.resource.as_ref().map(|r| r.name.clone()))
        .collect();
    assert_eq!(resources, ["cpu", "memory"]);
    let down = spec.behavior.as_ref().unwrap().scale_down.clone().unwrap();
    assert_eq!(down.stabilization_window_seconds, Some(300));
    let policies = down.policies.unwrap();
    assert!(!policies.is_empty());
    for p in &policies {
        assert_eq!((p.type_.as_str(), p.value), ("Pods", 1), "one pod per step");
        assert!(p.period_seconds >= 60);
    }
    // A scale-down step must be longer than one peer's departure.
    let cli = parse_cli(&b.workloads()[0], &b.namespace);
    let leave = cli.agent.cluster.handoff_delay + cli.agent.flush_deadline;
    let step = Duration::from_secs(policies[0].period_seconds.try_into().unwrap());
    assert!(step > leave, "{step:?} <= {leave:?}");
}

#[test]
fn disruption_budget_selects_the_pods() {
    let b = clustered();
    let w = &b.workloads()[0];
    let [pdb] = &b.pdbs[..] else {
        panic!("one PDB")
    };
    let spec = pdb.spec.as_ref().unwrap();
    assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
    assert!(selects(spec.selector.as_ref().unwrap(), &w.pod_labels()));
}

/// README's custom-metric HPA is a valid HorizontalPodAutoscaler for this StatefulSet,
/// with the same scale-down behaviour as hpa.yaml.
#[test]
fn readme_custom_metric_hpa_is_valid() {
    let readme = std::fs::read_to_string(deploy_dir().join("../../README.md")).unwrap();
    let blocks: Vec<&str> = readme
        .split("```yaml\n")
        .skip(1)
        .filter_map(|b| b.split_once("```").map(|(yaml, _)| yaml))
        .filter(|yaml| yaml.contains("kind: HorizontalPodAutoscaler"))
        .collect();
    assert_eq!(blocks.len(), 1, "one HPA example in README");
    let mut readme_objects = Bundle::default();
    readme_objects.add(blocks[0]).unwrap();
    let example = readme_objects.hpas[0].spec.clone().unwrap();
    let b = clustered();
    let shipped = b.hpas[0].spec.clone().unwrap();
    assert_eq!(example.scale_target_ref, shipped.scale_target_ref);
    let down = |s: &k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscalerSpec| {
        let d = s.behavior.clone().unwrap().scale_down.unwrap();
        (d.stabilization_window_seconds, d.policies)
    };
    assert_eq!(down(&example), down(&shipped));
    let metric = &example.metrics.unwrap()[0];
    assert_eq!(metric.type_, "Pods");
    let name = &metric.pods.as_ref().unwrap().metric.name;
    assert!(name.starts_with("shoal_"), "{name}");
}
