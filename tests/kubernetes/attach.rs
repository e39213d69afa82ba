//! `attach_metadata` beyond `node`: namespace labels on every role but node, and the pod
//! workload names (`deployment`, `job`, `cronjob`). Each case runs a role with and without
//! the key over the same objects and compares complete label sets: the keys must add
//! exactly their labels, nothing else, and their watches must follow changes.

use super::*;

fn namespace(name: &str, team: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "uid": format!("ns-{name}"),
            "labels": {"kubernetes.io/metadata.name": name, "team": team, "empty": ""},
            "annotations": {"owner": "ops@example.test"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"}
    })
}

fn namespace_labels(team: &str) -> Labels {
    labels(&[
        ("namespace_label_kubernetes_io_metadata_name", "default"),
        ("namespace_labelpresent_kubernetes_io_metadata_name", "true"),
        ("namespace_label_team", team),
        ("namespace_labelpresent_team", "true"),
        ("namespace_labelpresent_empty", "true"),
        ("namespace_annotation_owner", "ops@example.test"),
        ("namespace_annotationpresent_owner", "true"),
    ])
}

/// The flattened targets `body` discovers once its first send has any group.
async fn targets(api: &KubeApi, registry: &Registry, body: &str) -> Vec<Labels> {
    let mut d = Discovery::start(&sd_config(api, body), registry);
    flatten(&d.until(body, |g| !g.is_empty()).await)
}

/// `base` with `extra` merged into every target.
fn plus(base: &[Labels], extra: &Labels) -> Vec<Labels> {
    let mut out: Vec<Labels> = base
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.extend(extra.clone());
            t
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn namespace_labels_on_every_role_but_node() {
    let api = KubeApi::start().await;
    api.apply("namespaces", namespace("default", "a"));
    api.apply("namespaces", namespace("other", "b"));
    api.apply("services", service("web", "ClusterIP"));
    api.apply("pods", pod("default", "web-1", "10.0.0.1", "True"));
    api.apply("nodes", node("node-1"));
    api.apply("endpoints", endpoints());
    api.apply("endpointslices", slice());
    api.apply("ingresses", ingress());
    let registry = Registry::default();
    let ns = namespace_labels("a");
    for role in [
        "pod",
        "service",
        "endpoints",
        "endpointslice",
        "ingress",
        "node",
    ] {
        // `namespaces.names` limits the role's own watches, not the namespace watch.
        let plain = format!("role: {role}\nnamespaces: {{names: [default]}}");
        let base = targets(&api, &registry, &plain).await;
        let got = targets(
            &api,
            &registry,
            &format!("{plain}\nattach_metadata: {{namespace: true}}"),
        )
        .await;
        let want = if role == "node" {
            base
        } else {
            plus(&base, &ns)
        };
        assert_eq!(got, want, "role {role}");
    }
    let watched: Vec<_> = api
        .requests()
        .into_iter()
        .filter(|r| r.plural == "namespaces")
        .collect();
    assert!(!watched.is_empty());
    for r in &watched {
        assert_eq!(r.namespace, None, "{r:?}");
        assert_eq!((&*r.label_selector, &*r.field_selector), ("", ""), "{r:?}");
    }

    // A namespace's labels change: its pods' targets follow.
    let mut d = Discovery::start(
        &sd_config(&api, "role: pod\nattach_metadata: {namespace: true}"),
        &registry,
    );
    d.until("team a", |g| {
        flatten(g).iter().all(|t| {
            t.get("__meta_kubernetes_namespace_label_team")
                .map(String::as_str)
                == Some("a")
        })
    })
    .await;
    api.apply("namespaces", namespace("default", "c"));
    let groups = d
        .until("team c", |g| {
            flatten(g).iter().all(|t| {
                t.get("__meta_kubernetes_namespace_label_team")
                    .map(String::as_str)
                    == Some("c")
            })
        })
        .await;
    let base = targets(&api, &registry, "role: pod").await;
    assert_eq!(flatten(&groups), plus(&base, &namespace_labels("c")));
}

fn owned_by(kind: &str, name: &str) -> Value {
    json!([
        {"apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("u-{name}"), "controller": true},
        {"apiVersion": "v1", "kind": "Deployment", "name": "not-the-controller", "uid": "z"}
    ])
}

/// A ReplicaSet or Job named `name` whose controller is `owner` (`(kind, name)`), if any.
fn workload(kind: &str, name: &str, owner: Option<(&str, &str)>) -> Value {
    let api = if kind == "Job" { "batch/v1" } else { "apps/v1" };
    let mut o = json!({
        "apiVersion": api, "kind": kind,
        "metadata": {"name": name, "namespace": "default", "uid": format!("w-{name}")},
        "spec": {"template": {"spec": {"containers": [{"name": "big", "image": "x"}]}}}
    });
    if let Some((k, n)) = owner {
        o["metadata"]["ownerReferences"] = owned_by(k, n);
    }
    o
}

/// Pods with every kind of owner chain, and Endpoints and an EndpointSlice that point at
/// each of them on port 8080.
fn apply_workloads(api: &KubeApi) {
    let pods = [
        // ReplicaSet of a Deployment (pod()'s own owner).
        ("web-1", "10.0.0.1", None),
        // Job of a CronJob.
        ("job-pod", "10.0.0.2", Some(("Job", "backup-2900"))),
        // Job without a CronJob.
        ("oneoff-pod", "10.0.0.3", Some(("Job", "oneoff"))),
        // ReplicaSet without a Deployment, and one that is not known.
        ("rs-pod", "10.0.0.4", Some(("ReplicaSet", "bare-rs"))),
        ("lost-pod", "10.0.0.5", Some(("ReplicaSet", "missing-rs"))),
    ];
    let mut addresses = Vec::new();
    for (name, ip, owner) in pods {
        let mut p = pod("default", name, ip, "True");
        if let Some((kind, owner)) = owner {
            p["metadata"]["ownerReferences"] = owned_by(kind, owner);
        }
        api.apply("pods", p);
        addresses.push((name, ip));
    }
    api.apply(
        "replicasets",
        workload("ReplicaSet", "web-5d8f", Some(("Deployment", "web"))),
    );
    api.apply("replicasets", workload("ReplicaSet", "bare-rs", None));
    api.apply(
        "jobs",
        workload("Job", "backup-2900", Some(("CronJob", "backup"))),
    );
    api.apply("jobs", workload("Job", "oneoff", None));
    let pod_ref = |name: &str| json!({"kind": "Pod", "name": name, "namespace": "default"});
    api.apply(
        "endpoints",
        json!({
            "apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "all", "namespace": "default"},
            "subsets": [{
                "addresses": addresses.iter().map(|(n, ip)| json!({"ip": ip, "targetRef": pod_ref(n)})).collect::<Vec<_>>(),
                "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]
            }]
        }),
    );
    api.apply(
        "endpointslices",
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": "all-x", "namespace": "default"},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": addresses.iter().map(|(n, ip)| json!({"addresses": [ip], "targetRef": pod_ref(n)})).collect::<Vec<_>>()
        }),
    );
    api.apply("services", service("web", "ClusterIP"));
}

/// The labels each key adds to the targets of pod `name` of [`apply_workloads`].
fn workload_labels(key: &str, name: &str) -> Labels {
    let pairs: &[(&str, &str)] = match (key, name) {
        ("deployment", "web-1") => &[("pod_deployment_name", "web")],
        ("job", "job-pod") => &[("pod_job_name", "backup-2900")],
        ("job", "oneoff-pod") => &[("pod_job_name", "oneoff")],
        ("cronjob", "job-pod") => &[("pod_cronjob_name", "backup")],
        _ => &[],
    };
    labels(pairs)
}

/// `base` with, on each target of a pod, what `keys` add for that pod.
fn plus_workloads(base: &[Labels], keys: &[&str]) -> Vec<Labels> {
    let mut out: Vec<Labels> = base
        .iter()
        .map(|t| {
            let mut t = t.clone();
            if let Some(name) = t.get("__meta_kubernetes_pod_name").cloned() {
                for k in keys {
                    t.extend(workload_labels(k, &name));
                }
            }
            t
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn workload_names_on_pod_endpoints_and_endpointslice_targets() {
    let api = KubeApi::start().await;
    apply_workloads(&api);
    let registry = Registry::default();
    let all = ["deployment", "job", "cronjob"];
    for role in ["pod", "endpoints", "endpointslice", "service"] {
        let base = targets(&api, &registry, &format!("role: {role}")).await;
        for keys in [&all[0..1], &all[1..2], &all[2..3], &all[..]] {
            let flags: Vec<String> = keys.iter().map(|k| format!("{k}: true")).collect();
            let body = format!("role: {role}\nattach_metadata: {{{}}}", flags.join(", "));
            let got = targets(&api, &registry, &body).await;
            let want = if role == "service" {
                base.clone()
            } else {
                plus_workloads(&base, keys)
            };
            assert_eq!(got, want, "{body}");
        }
    }
}

fn pod_label<'a>(groups: &'a [Group], pod: &str, label: &str) -> Option<&'a str> {
    groups
        .iter()
        .find(|g| g.source == format!("pod/default/{pod}"))
        .and_then(|g| g.labels.get(&format!("__meta_kubernetes_{label}")))
        .map(String::as_str)
}

#[tokio::test]
async fn workload_watches_follow_changes_and_ask_for_what_prometheus_does() {
    let api = KubeApi::start().await;
    apply_workloads(&api);
    api.delete("jobs", "default", "backup-2900");
    let registry = Registry::default();
    // `job` alone needs no watch: the name is the pod's own controller reference.
    let mut d = Discovery::start(
        &sd_config(&api, "role: pod\nattach_metadata: {job: true}"),
        &registry,
    );
    let g = d.until("job name", |g| g.len() == 5).await;
    assert_eq!(
        pod_label(&g, "job-pod", "pod_job_name"),
        Some("backup-2900")
    );
    assert_eq!(
        api.count("list", "jobs") + api.count("list", "replicasets"),
        0
    );

    let cfg = sd_config(
        &api,
        "role: pod\nnamespaces: {names: [default]}\nselectors: [{role: pod, label: tier}]\nattach_metadata: {deployment: true, cronjob: true}",
    );
    let mut d = Discovery::start(&cfg, &registry);
    let g = d.until("deployment name", |g| g.len() == 5).await;
    assert_eq!(pod_label(&g, "web-1", "pod_deployment_name"), Some("web"));
    assert_eq!(pod_label(&g, "job-pod", "pod_cronjob_name"), None);
    // The Job appears, then the ReplicaSet changes hands: the labels follow.
    api.apply(
        "jobs",
        workload("Job", "backup-2900", Some(("CronJob", "backup"))),
    );
    d.until("cronjob name", |g| {
        pod_label(g, "job-pod", "pod_cronjob_name") == Some("backup")
    })
    .await;
    api.apply(
        "replicasets",
        workload("ReplicaSet", "web-5d8f", Some(("Deployment", "web-v2"))),
    );
    d.until("new deployment name", |g| {
        pod_label(g, "web-1", "pod_deployment_name") == Some("web-v2")
    })
    .await;
    api.delete("replicasets", "default", "web-5d8f");
    d.until("no deployment name", |g| {
        g.len() == 5 && pod_label(g, "web-1", "pod_deployment_name").is_none()
    })
    .await;
    // Watched in the config's namespaces, without the role's selectors.
    for plural in ["replicasets", "jobs"] {
        let reqs: Vec<_> = api
            .requests()
            .into_iter()
            .filter(|r| r.plural == plural)
            .collect();
        assert!(!reqs.is_empty(), "{plural}");
        for r in reqs {
            assert_eq!(r.namespace.as_deref(), Some("default"), "{r:?}");
            assert_eq!((&*r.label_selector, &*r.field_selector), ("", ""), "{r:?}");
        }
    }
}
