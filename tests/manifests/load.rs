//! Loading deploy/kubernetes for tests/manifests.rs: kustomizations, strict parsing of each
//! manifest into its k8s-openapi type, and the kubelet's `$(VAR)` expansion.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Container, PodTemplateSpec, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The repository's deploy/kubernetes directory.
pub fn deploy_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kubernetes")
}

/// A kustomization.yaml: its namespace, common labels and the manifest files it lists
/// (directories listed as resources are followed into their own kustomization.yaml).
#[derive(Debug)]
pub struct Kustomization {
    pub namespace: String,
    /// `labels[].pairs`, with their `includeSelectors`.
    pub labels: Vec<(BTreeMap<String, String>, bool)>,
    pub files: Vec<PathBuf>,
}

/// Reads `dir/kustomization.yaml`.
pub fn kustomization(dir: &Path) -> Kustomization {
    let path = dir.join("kustomization.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let doc: Value = serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let namespace = doc["namespace"].as_str().unwrap_or_default().to_owned();
    let labels = doc["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|l| {
            let pairs = serde_json::from_value(l["pairs"].clone()).unwrap();
            (pairs, l["includeSelectors"].as_bool().unwrap_or(false))
        })
        .collect();
    let mut files = Vec::new();
    for r in doc["resources"].as_array().into_iter().flatten() {
        let r = dir.join(
            r.as_str()
                .unwrap_or_else(|| panic!("{path:?}: resource {r}")),
        );
        if r.is_dir() {
            files.extend(kustomization(&r).files);
        } else {
            assert!(r.is_file(), "{path:?} lists {r:?}, which does not exist");
            files.push(r);
        }
    }
    Kustomization {
        namespace,
        labels,
        files,
    }
}

/// Every object of one kustomization, typed.
#[derive(Debug, Default)]
pub struct Bundle {
    pub namespace: String,
    pub service_accounts: Vec<ServiceAccount>,
    pub cluster_roles: Vec<ClusterRole>,
    pub cluster_role_bindings: Vec<ClusterRoleBinding>,
    pub config_maps: Vec<ConfigMap>,
    pub services: Vec<Service>,
    pub stateful_sets: Vec<StatefulSet>,
    pub daemon_sets: Vec<DaemonSet>,
    pub hpas: Vec<HorizontalPodAutoscaler>,
    pub pdbs: Vec<PodDisruptionBudget>,
    pub network_policies: Vec<NetworkPolicy>,
}

impl Bundle {
    /// Loads every file of `k`, panicking with the file and the reason on the first error.
    pub fn load(k: &Kustomization) -> Bundle {
        let mut b = Bundle {
            namespace: k.namespace.clone(),
            ..Bundle::default()
        };
        for file in &k.files {
            let text = std::fs::read_to_string(file).unwrap();
            b.add(&text).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        }
        b
    }

    /// Parses one manifest strictly (see [`strict`]) and adds it by kind.
    pub fn add(&mut self, text: &str) -> Result<(), String> {
        let source: Value = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
        match source["kind"].as_str().unwrap_or_default() {
            "ServiceAccount" => self.service_accounts.push(strict(text, &source)?),
            "ClusterRole" => self.cluster_roles.push(strict(text, &source)?),
            "ClusterRoleBinding" => self.cluster_role_bindings.push(strict(text, &source)?),
            "ConfigMap" => self.config_maps.push(strict(text, &source)?),
            "Service" => self.services.push(strict(text, &source)?),
            "StatefulSet" => self.stateful_sets.push(strict(text, &source)?),
            "DaemonSet" => self.daemon_sets.push(strict(text, &source)?),
            "HorizontalPodAutoscaler" => self.hpas.push(strict(text, &source)?),
            "PodDisruptionBudget" => self.pdbs.push(strict(text, &source)?),
            "NetworkPolicy" => self.network_policies.push(strict(text, &source)?),
            other => return Err(format!("kind {other:?} has no typed check here")),
        }
        Ok(())
    }

    /// The workloads (StatefulSets and DaemonSets) as pod templates.
    pub fn workloads(&self) -> Vec<Workload<'_>> {
        let sts = self.stateful_sets.iter().map(|s| {
            let name = s.metadata.name.clone().unwrap();
            Workload {
                kind: "StatefulSet",
                pod_name: format!("{name}-0"),
                name,
                template: &s.spec.as_ref().unwrap().template,
            }
        });
        let ds = self.daemon_sets.iter().map(|d| {
            let name = d.metadata.name.clone().unwrap();
            Workload {
                kind: "DaemonSet",
                pod_name: format!("{name}-x7k2p"),
                name,
                template: &d.spec.as_ref().unwrap().template,
            }
        });
        sts.chain(ds).collect()
    }
}

/// Deserializes `text` into `T` and rejects any key of the source that `T` dropped:
/// k8s-openapi ignores unknown fields, so a typo like `readOnlyRootFilesytem` would
/// otherwise vanish silently.
pub fn strict<T: DeserializeOwned + Serialize>(text: &str, source: &Value) -> Result<T, String> {
    let typed: T = serde_yaml_ng::from_str(text).map_err(|e| e.to_string())?;
    let round = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    let mut unknown = Vec::new();
    unknown_keys(source, &round, "", &mut unknown);
    if unknown.is_empty() {
        Ok(typed)
    } else {
        Err(format!("unknown fields: {}", unknown.join(", ")))
    }
}

/// Appends to `out` the path of every key of `source` missing from `round` at the same place.
pub fn unknown_keys(source: &Value, round: &Value, path: &str, out: &mut Vec<String>) {
    match (source, round) {
        (Value::Object(s), Value::Object(r)) => {
            for (k, v) in s {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match r.get(k) {
                    Some(rv) => unknown_keys(v, rv, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(s), Value::Array(r)) => {
            for (i, v) in s.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match r.get(i) {
                    Some(rv) => unknown_keys(v, rv, &p, out),
                    None => out.push(p),
                }
            }
        }
        _ => {}
    }
}

/// A pod-creating object.
#[derive(Debug)]
pub struct Workload<'a> {
    pub kind: &'static str,
    pub name: String,
    /// A name one of its pods could have (what `metadata.name` gives the downward API).
    pub pod_name: String,
    pub template: &'a PodTemplateSpec,
}

/// The IP and node the downward API gives in these tests.
pub const POD_IP: &str = "10.1.2.3";
pub const NODE_NAME: &str = "node-a";

impl Workload<'_> {
    /// The labels of its pods.
    pub fn pod_labels(&self) -> BTreeMap<String, String> {
        self.template
            .metadata
            .as_ref()
            .unwrap()
            .labels
            .clone()
            .unwrap()
    }

    /// The shoal container.
    pub fn shoal(&self) -> &Container {
        let spec = self.template.spec.as_ref().unwrap();
        let shoal = spec.containers.iter().find(|c| c.name == "shoal");
        shoal.unwrap_or_else(|| panic!("{} {}: no container named shoal", self.kind, self.name))
    }

    /// The shoal container's environment as the kubelet would set it in `namespace`.
    pub fn env(&self, namespace: &str) -> BTreeMap<String, String> {
        let mut env = BTreeMap::new();
        for e in self.shoal().env.iter().flatten() {
            let value = match (&e.value, &e.value_from) {
                (Some(v), None) => expand(v, &env),
                (None, Some(from)) => {
                    let field = from.field_ref.as_ref().unwrap().field_path.as_str();
                    match field {
                        "metadata.name" => self.pod_name.clone(),
                        "metadata.namespace" => namespace.to_owned(),
                        "status.podIP" => POD_IP.to_owned(),
                        "spec.nodeName" => NODE_NAME.to_owned(),
                        other => panic!("{}: fieldRef {other} has no test value", e.name),
                    }
                }
                _ => panic!("env {} needs exactly one of value and valueFrom", e.name),
            };
            env.insert(e.name.clone(), value);
        }
        env
    }

    /// The shoal container's args after the kubelet's `$(VAR)` expansion.
    pub fn args(&self, namespace: &str) -> Vec<String> {
        let env = self.env(namespace);
        let args = self.shoal().args.clone().unwrap_or_default();
        args.iter().map(|a| expand(a, &env)).collect()
    }
}

/// The kubelet's expansion of `$(VAR)` in args and env values: a defined variable is
/// replaced, `$$` is a literal `$`, and anything else is kept as written.
pub fn expand(s: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(name_end) = after.strip_prefix('(').and_then(|a| a.find(')')) {
            let name = &after[1..=name_end];
            match env.get(name) {
                Some(v) => out.push_str(v),
                None => {
                    out.push_str("$(");
                    out.push_str(name);
                    out.push(')');
                }
            }
            rest = &after[name_end + 2..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// Whether `selector` (matchLabels only; non-empty) selects pods labelled `labels`.
pub fn selects(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    assert!(
        selector.match_expressions.is_none(),
        "matchExpressions are not checked here"
    );
    let want = selector.match_labels.clone().unwrap_or_default();
    !want.is_empty() && want.iter().all(|(k, v)| labels.get(k) == Some(v))
}
