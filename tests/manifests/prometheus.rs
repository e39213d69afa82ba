//! The shipped configs are Prometheus configs: promtool accepts them (less
//! `kubernetes_sd_configs`, which Debian's Prometheus is built without), and their
//! `kubernetes_sd_configs` use only the fields of Prometheus' kubernetes_sd_config.

use std::process::Command;

use serde_yaml_ng::Value;

use super::shoal_configs;

/// Prometheus' kubernetes_sd_config keys (discovery/kubernetes/kubernetes.go `SDConfig`,
/// and the HTTP client keys it inlines) and those of its nested objects.
const SD_KEYS: &[&str] = &[
    "api_server",
    "role",
    "kubeconfig_file",
    "namespaces",
    "selectors",
    "attach_metadata",
    "basic_auth",
    "authorization",
    "oauth2",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "proxy_url",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "follow_redirects",
    "enable_http2",
    "http_headers",
];
const ROLES: &[&str] = &[
    "pod",
    "service",
    "endpoints",
    "endpointslice",
    "node",
    "ingress",
];
const NAMESPACES_KEYS: &[&str] = &["names", "own_namespace"];
const SELECTOR_KEYS: &[&str] = &["role", "label", "field"];
const ATTACH_METADATA_KEYS: &[&str] = &["node", "namespace", "deployment", "job", "cronjob"];

fn keys(v: &Value) -> Vec<String> {
    let map = v
        .as_mapping()
        .unwrap_or_else(|| panic!("not a mapping: {v:?}"));
    map.keys().map(|k| k.as_str().unwrap().to_owned()).collect()
}

fn assert_keys(what: &str, v: &Value, allowed: &[&str]) {
    for k in keys(v) {
        assert!(allowed.contains(&k.as_str()), "{what}: unknown key {k}");
    }
}

#[test]
fn kubernetes_sd_configs_use_prometheus_fields() {
    for c in shoal_configs() {
        let doc: Value = serde_yaml_ng::from_str(&c.text).unwrap();
        for job in doc["scrape_configs"].as_sequence().unwrap() {
            let what = format!("{}: {}", c.variant, job["job_name"].as_str().unwrap());
            let sds = job
                .get("kubernetes_sd_configs")
                .and_then(Value::as_sequence);
            for sd in sds.into_iter().flatten() {
                assert_keys(&what, sd, SD_KEYS);
                let role = sd["role"].as_str().unwrap_or_default();
                assert!(ROLES.contains(&role), "{what}: role {role:?}");
                if let Some(ns) = sd.get("namespaces") {
                    assert_keys(&what, ns, NAMESPACES_KEYS);
                }
                if let Some(meta) = sd.get("attach_metadata") {
                    assert_keys(&what, meta, ATTACH_METADATA_KEYS);
                }
                for sel in sd
                    .get("selectors")
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                {
                    assert_keys(&what, sel, SELECTOR_KEYS);
                    let sel_role = sel["role"].as_str().unwrap_or_default();
                    assert!(
                        ROLES.contains(&sel_role),
                        "{what}: selector role {sel_role:?}"
                    );
                    // Prometheus: a service, node or ingress role selects only its own kind;
                    // pod may also select nodes, endpoints and endpointslice pods and services.
                    let allowed: &[&str] = match role {
                        "pod" => &["pod", "node"],
                        "endpoints" => &["endpoints", "pod", "service"],
                        "endpointslice" => &["endpointslice", "pod", "service"],
                        own => &[own][..],
                    };
                    assert!(
                        allowed.contains(&sel_role),
                        "{what}: selector role {sel_role}"
                    );
                }
            }
        }
    }
}

/// Debian's promtool accepts each config once `kubernetes_sd_configs` is removed (its
/// Prometheus is built without Kubernetes discovery). Skipped without promtool.
#[test]
fn configs_pass_promtool_without_kubernetes_sd() {
    if Command::new("promtool").arg("--version").output().is_err() {
        eprintln!("promtool not found: skipping");
        return;
    }
    for c in shoal_configs() {
        let mut doc: Value = serde_yaml_ng::from_str(&c.text).unwrap();
        for job in doc["scrape_configs"].as_sequence_mut().unwrap() {
            job.as_mapping_mut()
                .unwrap()
                .remove("kubernetes_sd_configs");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(&c.key);
        std::fs::write(&file, serde_yaml_ng::to_string(&doc).unwrap()).unwrap();
        let out = Command::new("promtool")
            .args(["check", "config"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: promtool:\n{}{}",
            c.variant,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
