//! Jobs from objects: a pure function of the selected objects, their Secrets, the
//! `prometheus_operator` block and the file's jobs, so that every peer holding the same
//! inputs derives the same jobs in the same order (the operator's own order for an agent:
//! PodMonitors, ServiceMonitors, Probes, ScrapeConfigs, each sorted by `namespace/name`).

mod common;
mod pod_monitor;
mod probe;
mod scrape_config;
mod service_monitor;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_yaml_ng::{Mapping, Value};

use super::objects::{LabelSelector, Meta, ScrapeClass};
use crate::config::{GlobalConfig, OperatorConfig, ScrapeConfig};

/// The four kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    /// `monitoring.coreos.com/v1` ServiceMonitor.
    ServiceMonitor,
    /// `monitoring.coreos.com/v1` PodMonitor.
    PodMonitor,
    /// `monitoring.coreos.com/v1` Probe.
    Probe,
    /// `monitoring.coreos.com/v1alpha1` ScrapeConfig.
    ScrapeConfig,
}

impl Kind {
    /// Every kind, in generation order.
    pub const ALL: [Kind; 4] = [
        Kind::PodMonitor,
        Kind::ServiceMonitor,
        Kind::Probe,
        Kind::ScrapeConfig,
    ];
    /// The kind's name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ServiceMonitor => "ServiceMonitor",
            Kind::PodMonitor => "PodMonitor",
            Kind::Probe => "Probe",
            Kind::ScrapeConfig => "ScrapeConfig",
        }
    }
    /// The API resource (plural), as in `excludedFromEnforcement`.
    pub fn resource(self) -> &'static str {
        match self {
            Kind::ServiceMonitor => "servicemonitors",
            Kind::PodMonitor => "podmonitors",
            Kind::Probe => "probes",
            Kind::ScrapeConfig => "scrapeconfigs",
        }
    }
    /// The API version.
    pub fn version(self) -> &'static str {
        match self {
            Kind::ScrapeConfig => "v1alpha1",
            _ => "v1",
        }
    }
    /// The block's (selector, namespace selector) for this kind.
    pub(crate) fn selectors(
        self,
        s: &OperatorConfig,
    ) -> (Option<&LabelSelector>, Option<&LabelSelector>) {
        match self {
            Kind::ServiceMonitor => (
                s.service_monitor_selector.as_ref(),
                s.service_monitor_namespace_selector.as_ref(),
            ),
            Kind::PodMonitor => (
                s.pod_monitor_selector.as_ref(),
                s.pod_monitor_namespace_selector.as_ref(),
            ),
            Kind::Probe => (
                s.probe_selector.as_ref(),
                s.probe_namespace_selector.as_ref(),
            ),
            Kind::ScrapeConfig => (
                s.scrape_config_selector.as_ref(),
                s.scrape_config_namespace_selector.as_ref(),
            ),
        }
    }
}

/// Why an object produced no job.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    /// A referenced Secret or ConfigMap (or its key) does not exist (yet).
    #[error("missing secret: {0}")]
    MissingSecret(String),
    /// The object is invalid (relabeling, selector, interval, ...).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The object uses a field shoal cannot honour.
    #[error("unsupported field: {0}")]
    Unsupported(String),
    /// `arbitrary_fs_access_through_sms.deny` refuses its file access.
    #[error("file access denied: {0}")]
    DeniedFileAccess(String),
    /// A job of the configuration file has the generated job's name.
    #[error("job name conflict: {0}")]
    JobConflict(String),
}

impl Reject {
    /// Short category for metrics and the API.
    pub fn category(&self) -> &'static str {
        match self {
            Reject::MissingSecret(_) => "missing_secret",
            Reject::Invalid(_) => "invalid",
            Reject::Unsupported(_) => "unsupported",
            Reject::DeniedFileAccess(_) => "denied_file_access",
            Reject::JobConflict(_) => "job_conflict",
        }
    }
    /// The same rejection with `prefix: ` in front of its text.
    fn within(self, prefix: &str) -> Reject {
        let p = |m: String| format!("{prefix}: {m}");
        match self {
            Reject::MissingSecret(m) => Reject::MissingSecret(p(m)),
            Reject::Invalid(m) => Reject::Invalid(p(m)),
            Reject::Unsupported(m) => Reject::Unsupported(p(m)),
            Reject::DeniedFileAccess(m) => Reject::DeniedFileAccess(p(m)),
            Reject::JobConflict(m) => Reject::JobConflict(p(m)),
        }
    }
}

/// Where Secret and ConfigMap values come from (the peer's own watch; never gossip).
pub trait SecretSource {
    /// The value of `key` in Secret `namespace/name`, decoded.
    fn secret(&self, namespace: &str, name: &str, key: &str) -> Result<String, String>;
    /// The value of `key` in ConfigMap `namespace/name`.
    fn config_map(&self, namespace: &str, name: &str, key: &str) -> Result<String, String>;
}

/// One watched object: its metadata and its spec as served, as JSON text (parsed per kind
/// at generation, so that a malformed spec is reported instead of dropped; text is a
/// tenth of the memory of a parsed JSON tree).
#[derive(Clone, Debug, PartialEq)]
pub struct RawObject {
    /// Metadata.
    pub meta: Meta,
    /// `spec`, JSON.
    pub spec: Box<str>,
}

/// Everything generation reads.
pub struct Inputs<'a> {
    /// The `prometheus_operator` block.
    pub settings: &'a OperatorConfig,
    /// The namespace objects are selected from when a namespace selector is absent.
    pub own_namespace: &'a str,
    /// The file's `global` section (after defaults).
    pub global: &'a GlobalConfig,
    /// Job names of the configuration file.
    pub file_jobs: &'a BTreeSet<String>,
    /// Objects per kind, in any order.
    pub objects: &'a BTreeMap<Kind, Vec<std::sync::Arc<RawObject>>>,
    /// Labels of every namespace (needed by namespace selectors).
    pub namespaces: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// Secret and ConfigMap values.
    pub secrets: &'a dyn SecretSource,
}

/// What happened to one selected object.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectStatus {
    /// Its kind.
    pub kind: Kind,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `accepted` or `rejected`.
    pub state: &'static str,
    /// Rejection category (`missing_secret`, `invalid`, ...), empty when accepted.
    pub category: &'static str,
    /// Why it was rejected (never contains a secret value).
    pub reason: String,
    /// The jobs it produced.
    pub jobs: Vec<String>,
    /// What looks wrong in an accepted object once its jobs run (a port no discovered
    /// target has); filled when the report is shown, not by generation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// The result: jobs in order, and the fate of every selected object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generation {
    /// Jobs to run beside the file's.
    pub jobs: Vec<ScrapeConfig>,
    /// Every selected object, accepted or not, by kind then `namespace/name`.
    pub objects: Vec<ObjectStatus>,
}

/// Shared by the per-kind generators.
pub(crate) struct Context<'a> {
    pub settings: &'a OperatorConfig,
    pub global: &'a GlobalConfig,
    pub classes: Vec<ScrapeClass>,
    pub secrets: &'a dyn SecretSource,
    /// Connection settings for generated `kubernetes_sd_configs` entries.
    pub connection: Mapping,
    /// `endpoints` or `endpointslice`.
    pub default_role: &'static str,
}

/// Parses one `scrape_classes` entry of the block.
pub fn parse_scrape_class(v: &serde_json::Value) -> Result<ScrapeClass, String> {
    let class: ScrapeClass = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    for (what, rcs) in [
        ("relabelings", &class.relabelings),
        ("metricRelabelings", &class.metric_relabelings),
    ] {
        common::check_relabelings(rcs).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(class)
}

/// The role of ServiceMonitor jobs from a role name (`Endpoints`/`EndpointSlice`).
fn endpoint_role(role: Option<&str>) -> &'static str {
    match role {
        Some(r) if r.eq_ignore_ascii_case("endpointslice") => "endpointslice",
        _ => "endpoints",
    }
}

/// The connection part of the block as YAML keys of a `kubernetes_sd_configs` entry.
fn connection_mapping(settings: &OperatorConfig) -> Mapping {
    let conn = settings.connection();
    let v = crate::config::with_secrets_exposed(|| serde_yaml_ng::to_value(&conn));
    let Ok(Value::Mapping(mut m)) = v else {
        return Mapping::new();
    };
    for k in ["role", "namespaces", "selectors", "attach_metadata"] {
        m.remove(k);
    }
    m.retain(|_, v| !v.is_null());
    m
}

/// Derives the jobs and every object's status. Pure: same inputs, same output.
pub fn generate(inputs: &Inputs<'_>) -> Generation {
    let classes = inputs
        .settings
        .scrape_classes
        .iter()
        .filter_map(|c| parse_scrape_class(c).ok())
        .collect();
    let ctx = Context {
        settings: inputs.settings,
        global: inputs.global,
        classes,
        secrets: inputs.secrets,
        connection: connection_mapping(inputs.settings),
        default_role: endpoint_role(inputs.settings.service_discovery_role.as_deref()),
    };
    let mut out = Generation::default();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for kind in Kind::ALL {
        for obj in select(inputs, kind) {
            let built = build(&ctx, kind, obj).and_then(|values| {
                let mut jobs = Vec::new();
                for v in values {
                    let job =
                        crate::config::generated_job(v, inputs.global).map_err(Reject::Invalid)?;
                    if inputs.file_jobs.contains(&job.job_name) {
                        return Err(Reject::JobConflict(format!(
                            "the configuration file has a job named {:?}",
                            job.job_name
                        )));
                    }
                    jobs.push(job);
                }
                Ok(jobs)
            });
            let mut status = ObjectStatus {
                kind,
                namespace: obj.meta.namespace.clone(),
                name: obj.meta.name.clone(),
                generation: obj.meta.generation,
                state: "accepted",
                category: "",
                reason: String::new(),
                jobs: Vec::new(),
                warnings: Vec::new(),
            };
            match built {
                Ok(jobs) => {
                    for job in jobs {
                        // Names are unique by construction (kind/namespace/name/index).
                        if names.insert(job.job_name.clone()) {
                            status.jobs.push(job.job_name.clone());
                            out.jobs.push(job);
                        }
                    }
                }
                Err(r) => {
                    status.state = "rejected";
                    status.category = r.category();
                    status.reason = r.to_string();
                }
            }
            out.objects.push(status);
        }
    }
    out
}

/// The objects of `kind` the block selects, sorted by `namespace/name`.
fn select<'a>(inputs: &Inputs<'a>, kind: Kind) -> Vec<&'a RawObject> {
    let (sel, ns_sel) = kind.selectors(inputs.settings);
    let Some(sel) = sel else { return Vec::new() };
    let Some(objects) = inputs.objects.get(&kind) else {
        return Vec::new();
    };
    let ns_ok = |ns: &str| match ns_sel {
        None => ns == inputs.own_namespace,
        Some(s) => inputs
            .namespaces
            .get(ns)
            .is_some_and(|labels| s.matches(labels)),
    };
    let mut out: Vec<&RawObject> = objects
        .iter()
        .map(|o| &**o)
        .filter(|o| ns_ok(&o.meta.namespace) && sel.matches(&o.meta.labels))
        .collect();
    out.sort_by(|a, b| (&a.meta.namespace, &a.meta.name).cmp(&(&b.meta.namespace, &b.meta.name)));
    out
}

/// The jobs of one object, or why there are none.
fn build(ctx: &Context<'_>, kind: Kind, obj: &RawObject) -> Result<Vec<Value>, Reject> {
    let parse_err = |e: serde_json::Error| {
        let text = e.to_string();
        if text.starts_with("unknown field") {
            Reject::Unsupported(format!("spec: {text}"))
        } else {
            Reject::Invalid(format!("spec: {text}"))
        }
    };
    match kind {
        Kind::ServiceMonitor => {
            let spec = serde_json::from_str(&obj.spec).map_err(parse_err)?;
            service_monitor::generate(ctx, &obj.meta, &spec)
        }
        Kind::PodMonitor => {
            let spec = serde_json::from_str(&obj.spec).map_err(parse_err)?;
            pod_monitor::generate(ctx, &obj.meta, &spec)
        }
        Kind::Probe => {
            let spec = serde_json::from_str(&obj.spec).map_err(parse_err)?;
            probe::generate(ctx, &obj.meta, &spec).map(|v| vec![v])
        }
        Kind::ScrapeConfig => {
            let spec = serde_json::from_str(&obj.spec).map_err(parse_err)?;
            scrape_config::generate(ctx, &obj.meta, &spec).map(|v| vec![v])
        }
    }
}

/// `CompareScrapeTimeoutToScrapeInterval`, with the global interval when the object sets
/// none.
pub(crate) fn check_interval_timeout(
    global: &GlobalConfig,
    interval: &str,
    timeout: &str,
) -> Result<(), Reject> {
    if timeout.is_empty() {
        return Ok(());
    }
    let parse = |what: &str, v: &str| {
        crate::config::PromDuration::parse(v)
            .map(|d| d.0)
            .map_err(|e| Reject::Invalid(format!("invalid {what} {v:?}: {e}")))
    };
    let t = parse("scrapeTimeout", timeout)?;
    let i = if interval.is_empty() {
        global.scrape_interval.0
    } else {
        parse("scrapeInterval", interval)?
    };
    if t > i {
        return Err(Reject::Invalid(format!(
            "scrapeTimeout {timeout:?} greater than scrapeInterval {:?}",
            if interval.is_empty() {
                crate::config::PromDuration(i).to_string()
            } else {
                interval.to_string()
            }
        )));
    }
    Ok(())
}

/// Rejects a named field that shoal does not support when it is set.
pub(crate) fn unsupported(field: &str, set: bool) -> Result<(), Reject> {
    if set {
        Err(Reject::Unsupported(format!(
            "{field} is not supported by shoal"
        )))
    } else {
        Ok(())
    }
}

/// Checks relabelings, naming the field.
pub(crate) fn check_relabel(
    field: &str,
    rcs: &[super::objects::RelabelConfig],
) -> Result<(), Reject> {
    common::check_relabelings(rcs).map_err(|e| Reject::Invalid(format!("{field}: {e}")))
}
