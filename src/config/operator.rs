//! The `prometheus_operator` block (a shoal extension): which ServiceMonitors, PodMonitors,
//! Probes and ScrapeConfigs to read and the PrometheusAgent settings that shape the jobs
//! generated from them. Keys are snake_case mirrors of the PrometheusAgent spec fields;
//! selectors and scrape classes inside are written as in Kubernetes objects (camelCase).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::http::with_http_client;
use super::validate::{Check, Issue};

with_http_client! {
    /// `prometheus_operator`: where the objects are read and how jobs are generated.
    pub struct OperatorConfig via RawOperatorConfig = "RawOperatorConfig" {
        /// API server URL; without it (and without `kubeconfig_file`) the in-cluster
        /// service account is used.
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            serialize_with = "crate::config::values::serialize_opt_url"
        )]
        pub api_server: Option<String>,
        /// A kubeconfig file to use instead (outside a cluster).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub kubeconfig_file: Option<String>,
        /// The "own namespace" (default: the service account's namespace file, else
        /// `default`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub namespace: Option<String>,
        /// ServiceMonitors to select; absent selects none, `{}` all.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub service_monitor_selector: Option<LabelSelector>,
        /// Namespaces of the ServiceMonitors; absent is the own namespace only, `{}` all.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub service_monitor_namespace_selector: Option<LabelSelector>,
        /// PodMonitors to select.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pod_monitor_selector: Option<LabelSelector>,
        /// Namespaces of the PodMonitors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub pod_monitor_namespace_selector: Option<LabelSelector>,
        /// Probes to select.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub probe_selector: Option<LabelSelector>,
        /// Namespaces of the Probes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub probe_namespace_selector: Option<LabelSelector>,
        /// ScrapeConfigs to select.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub scrape_config_selector: Option<LabelSelector>,
        /// Namespaces of the ScrapeConfigs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub scrape_config_namespace_selector: Option<LabelSelector>,
        /// `Endpoints` (default) or `EndpointSlice`, case-insensitive.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub service_discovery_role: Option<String>,
        /// Scrape classes, written as `spec.scrapeClasses` items.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub scrape_classes: Vec<serde_json::Value>,
        /// Upper bound of every object's `sampleLimit` (0: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enforced_sample_limit: Option<u64>,
        /// Upper bound of `targetLimit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enforced_target_limit: Option<u64>,
        /// Upper bound of `labelLimit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enforced_label_limit: Option<u64>,
        /// Upper bound of `labelNameLengthLimit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enforced_label_name_length_limit: Option<u64>,
        /// Upper bound of `labelValueLengthLimit`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enforced_label_value_length_limit: Option<u64>,
        /// Upper bound of `keepDroppedTargets`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enforced_keep_dropped_targets: Option<u64>,
        /// Upper bound of `bodySizeLimit` (e.g. `10MiB`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub enforced_body_size_limit: Option<String>,
        /// Label set to the object's namespace on every target and series.
        #[serde(default, skip_serializing_if = "String::is_empty")]
        pub enforced_namespace_label: String,
        /// Objects the namespace label is not enforced on.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub excluded_from_enforcement: Vec<ObjectReference>,
        /// Scrape only the object's own namespace, whatever its namespaceSelector says.
        #[serde(default)]
        pub ignore_namespace_selectors: bool,
        /// Refuse ServiceMonitors that read files of the agent's file system.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub arbitrary_fs_access_through_sms: Option<ArbitraryFsAccess>,
        /// Pod labels copied onto every ServiceMonitor and PodMonitor target.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub pod_target_labels: Vec<String>,
        /// Force `honor_labels: false` on every generated job.
        #[serde(default)]
        pub override_honor_labels: bool,
        /// Force `honor_timestamps: false` on every generated job.
        #[serde(default)]
        pub override_honor_timestamps: bool,
    }
    unsupported { oauth2, http_headers, proxy_connect_header }
}

/// `arbitraryFSAccessThroughSMs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArbitraryFsAccess {
    /// Refuse ServiceMonitors with `bearerTokenFile` or TLS `*File` settings.
    #[serde(default)]
    pub deny: bool,
}

/// `excludedFromEnforcement` item: `{group, resource, namespace, name}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectReference {
    /// API group (default `monitoring.coreos.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `servicemonitors`, `podmonitors`, `probes` or `scrapeconfigs`.
    pub resource: String,
    /// The object's namespace.
    pub namespace: String,
    /// The object's name; empty means every object of that resource in the namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// A Kubernetes label selector as written in objects: `matchLabels` and `matchExpressions`.
/// Both empty selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LabelSelector {
    /// Exact matches.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// One `matchExpressions` item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSelectorRequirement {
    /// The label name.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// Values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

impl LabelSelector {
    /// Checks what `metav1.LabelSelectorAsSelector` refuses.
    pub fn validate(&self) -> Result<(), String> {
        for r in &self.match_expressions {
            match r.operator.as_str() {
                "In" | "NotIn" if r.values.is_empty() => {
                    return Err(format!(
                        "values: Invalid value: []string(nil): for 'in', 'notin' operators, values set can't be empty (key {:?})",
                        r.key
                    ));
                }
                "Exists" | "DoesNotExist" if !r.values.is_empty() => {
                    return Err(format!(
                        "values: Invalid value: values set must be empty for exists and does not exist (key {:?})",
                        r.key
                    ));
                }
                "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
                other => return Err(format!("{other:?} is not a valid label selector operator")),
            }
        }
        Ok(())
    }

    /// Whether an object with `labels` is selected. An invalid selector selects nothing.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        if self.validate().is_err() {
            return false;
        }
        self.match_labels
            .iter()
            .all(|(k, v)| labels.get(k) == Some(v))
            && self.match_expressions.iter().all(|r| {
                let value = labels.get(&r.key);
                match r.operator.as_str() {
                    "In" => value.is_some_and(|v| r.values.contains(v)),
                    "NotIn" => value.is_none_or(|v| !r.values.contains(v)),
                    "Exists" => value.is_some(),
                    _ => value.is_none(),
                }
            })
    }

    /// The selector in the API server's string form (`labels.Selector.String()`):
    /// requirements sorted by key, values sorted.
    pub fn to_selector_string(&self) -> String {
        let mut reqs: Vec<(String, String)> = self
            .match_labels
            .iter()
            .map(|(k, v)| (k.clone(), format!("{k}={v}")))
            .collect();
        for r in &self.match_expressions {
            let mut values = r.values.clone();
            values.sort();
            values.dedup();
            let text = match r.operator.as_str() {
                "In" => format!("{} in ({})", r.key, values.join(",")),
                "NotIn" => format!("{} notin ({})", r.key, values.join(",")),
                "Exists" => r.key.clone(),
                _ => format!("!{}", r.key),
            };
            reqs.push((r.key.clone(), text));
        }
        reqs.sort();
        reqs.into_iter()
            .map(|(_, t)| t)
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl OperatorConfig {
    /// The `kubernetes_sd_configs` connection settings (server, kubeconfig, HTTP client)
    /// that generated jobs use to reach the API server, as the operator's `apiserverConfig`.
    pub fn connection(&self) -> super::KubernetesSdConfig {
        super::KubernetesSdConfig {
            role: Some(super::KubernetesRole::Pod),
            api_server: self.api_server.clone(),
            kubeconfig_file: self.kubeconfig_file.clone(),
            http: self.http.clone(),
            ..super::KubernetesSdConfig::default()
        }
    }
}

/// Checks of the block, with paths relative to it.
pub(crate) fn check_operator(c: &OperatorConfig) -> Check {
    let selectors = [
        ("service_monitor_selector", &c.service_monitor_selector),
        (
            "service_monitor_namespace_selector",
            &c.service_monitor_namespace_selector,
        ),
        ("pod_monitor_selector", &c.pod_monitor_selector),
        (
            "pod_monitor_namespace_selector",
            &c.pod_monitor_namespace_selector,
        ),
        ("probe_selector", &c.probe_selector),
        ("probe_namespace_selector", &c.probe_namespace_selector),
        ("scrape_config_selector", &c.scrape_config_selector),
        (
            "scrape_config_namespace_selector",
            &c.scrape_config_namespace_selector,
        ),
    ];
    for (key, sel) in selectors {
        if let Some(s) = sel {
            s.validate().map_err(|e| Issue::at(&[key], e))?;
        }
    }
    if let Some(role) = &c.service_discovery_role
        && !role.eq_ignore_ascii_case("endpoints")
        && !role.eq_ignore_ascii_case("endpointslice")
    {
        return Err(Issue::at(
            &["service_discovery_role"],
            format!("unknown service_discovery_role {role:?} (Endpoints or EndpointSlice)"),
        ));
    }
    if let Some(limit) = c
        .enforced_body_size_limit
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        super::ByteSize::parse(limit).map_err(|e| Issue::at(&["enforced_body_size_limit"], e))?;
    }
    let mut defaults = 0;
    let mut names = std::collections::BTreeSet::new();
    for (i, class) in c.scrape_classes.iter().enumerate() {
        let at = |message: String| Issue {
            path: vec![
                super::validate::Seg::Key("scrape_classes".into()),
                super::validate::Seg::Index(i),
            ],
            message,
        };
        let name = class.get("name").and_then(|n| n.as_str()).unwrap_or("");
        if name.is_empty() {
            return Err(at("a scrape class needs a name".into()));
        }
        if !names.insert(name.to_string()) {
            return Err(at(format!("scrape class {name:?} defined twice")));
        }
        if class.get("default").and_then(|d| d.as_bool()) == Some(true) {
            defaults += 1;
        }
        if defaults > 1 {
            return Err(at("multiple default scrape classes defined".into()));
        }
        crate::operator::parse_scrape_class(class).map_err(at)?;
    }
    Ok(())
}
