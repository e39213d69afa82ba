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
