//! The agent's side of `prometheus_operator`: runs the watches, regenerates the jobs when
//! an object, Secret or the file changes, and keeps what the API and metrics show.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Serialize;

use crate::config::{Config, OperatorConfig};
use crate::discovery::DiscoveryMetrics;
use crate::operator::{self, Inputs, KindState, ObjectStatus, Watches};

/// How long changes are gathered before one regeneration (a `kubectl apply` of many
/// objects lands as one change).
pub(super) const DEBOUNCE: Duration = Duration::from_millis(500);

/// Longest wait for the first list of every watch before generating anyway.
const FIRST_SYNC_WAIT: Duration = Duration::from_secs(10);

/// What `/api/v1/operator` shows.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OperatorReport {
    /// Whether the block is configured.
    pub enabled: bool,
    /// The own namespace.
    pub namespace: String,
    /// Each kind's watch.
    pub kinds: Vec<KindState>,
    /// Every selected object and what became of it.
    pub objects: Vec<ObjectStatus>,
    /// How many jobs the objects produced.
    pub jobs: usize,
}

/// Objects per kind and state, as Prometheus Operator's `prometheus_operator_managed_resources`.
#[derive(Clone)]
pub(super) struct OperatorMetrics {
    objects: Family<[(&'static str, &'static str); 2], Gauge>,
}

impl OperatorMetrics {
    pub(super) fn new(reg: &mut Registry) -> Self {
        let m = OperatorMetrics {
            objects: Family::default(),
        };
        reg.register(
            "shoal_operator_objects",
            "Selected Prometheus Operator objects by kind and state (accepted, rejected)",
            m.objects.clone(),
        );
        m
    }

    fn record(&self, objects: &[ObjectStatus]) {
        for kind in operator::Kind::ALL {
            for state in ["accepted", "rejected"] {
                let n = objects
                    .iter()
                    .filter(|o| o.kind == kind && o.state == state)
                    .count();
                self.objects
                    .get_or_create(&[("kind", kind.name()), ("state", state)])
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }
}

/// The running watches of the block in force, if any.
pub(super) struct OperatorJobs {
    settings: Option<OperatorConfig>,
    watches: Option<Watches>,
    metrics: OperatorMetrics,
    sd_metrics: DiscoveryMetrics,
    pub(super) report: Arc<RwLock<OperatorReport>>,
}

impl OperatorJobs {
    pub(super) fn new(metrics: OperatorMetrics, sd_metrics: DiscoveryMetrics) -> Self {
        OperatorJobs {
            settings: None,
            watches: None,
            metrics,
            sd_metrics,
            report: Arc::new(RwLock::new(OperatorReport::default())),
        }
    }

    /// Starts, restarts or stops the watches for the file's block. A block that cannot
    /// reach the API server is logged; the file's own jobs run regardless.
    pub(super) fn configure(&mut self, cfg: &Config) {
        if self.settings == cfg.prometheus_operator {
            return;
        }
        self.settings = cfg.prometheus_operator.clone();
        self.watches = None;
        if let Some(s) = &self.settings {
            match Watches::start(s, &self.sd_metrics) {
                Ok(w) => self.watches = Some(w),
                Err(e) => tracing::error!(error = %e, "prometheus_operator: cannot watch objects"),
            }
        }
    }

    /// Waits until the objects changed (never returns without a block). Cancel-safe: a
    /// change seen by a future that is dropped unfinished is seen by the next one. The
    /// caller waits [`DEBOUNCE`] before regenerating, so that a burst is one regeneration.
    pub(super) async fn changed(&self) {
        match &self.watches {
            Some(w) => w.changed().await,
            None => std::future::pending().await,
        }
    }

    /// Waits (bounded) until every watch has listed once, so that the first generation
    /// sees the cluster's objects rather than none.
    pub(super) async fn first_sync(&self) {
        let Some(w) = &self.watches else { return };
        let wait = async {
            while !w.settled() {
                tokio::select! {
                    () = w.changed() => {}
                    () = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        };
        let _ = tokio::time::timeout(FIRST_SYNC_WAIT, wait).await;
    }

    /// The file's config with the generated jobs appended, and the same for display
    /// (user names from Secrets hidden). `rejected` names generated jobs to leave out,
    /// with the reason (found when the scrape manager could not build them).
    pub(super) fn compose(
        &self,
        file: &Config,
        rejected: &[(String, String)],
    ) -> (Arc<Config>, Arc<Config>) {
        let (Some(settings), Some(w)) = (&self.settings, &self.watches) else {
            self.publish(OperatorReport::default(), false);
            return (Arc::new(file.clone()), Arc::new(file.clone()));
        };
        let snapshot = w.snapshot();
        let file_jobs: BTreeSet<String> = file
            .scrape_configs
            .iter()
            .map(|s| s.job_name.clone())
            .collect();
        let mut generation = operator::generate(&Inputs {
            settings,
            own_namespace: &snapshot.own_namespace,
            global: &file.global,
            file_jobs: &file_jobs,
            objects: &snapshot.objects,
            namespaces: &snapshot.namespaces,
            secrets: &snapshot,
        });
        for (job, reason) in rejected {
            generation.jobs.retain(|j| &j.job_name != job);
            for o in generation
                .objects
                .iter_mut()
                .filter(|o| o.jobs.contains(job))
            {
                o.state = "rejected";
                o.category = "invalid";
                o.reason = reason.clone();
                o.jobs.clear();
            }
        }
        // An object is all or nothing: drop the other jobs of a rejected object.
        let kept: BTreeSet<&String> = generation
            .objects
            .iter()
            .filter(|o| o.state == "accepted")
            .flat_map(|o| &o.jobs)
            .collect();
        // Moved, not cloned: thousands of jobs are megabytes.
        let jobs: Vec<_> = std::mem::take(&mut generation.jobs)
            .into_iter()
            .filter(|j| kept.contains(&j.job_name))
            .map(Arc::new)
            .collect();
        let mut merged = file.clone();
        merged.scrape_configs.extend(jobs);
        let merged = Arc::new(merged);
        // A second copy only when something must be hidden from display.
        let needs_redaction = merged
            .scrape_configs
            .iter()
            .any(|j| !file_jobs.contains(&j.job_name) && operator::shows_secret_user(j));
        let shown = if needs_redaction {
            let mut shown = (*merged).clone();
            for job in shown
                .scrape_configs
                .iter_mut()
                .filter(|j| !file_jobs.contains(&j.job_name) && operator::shows_secret_user(j))
            {
                // Copies only these jobs: the others stay shared with `merged`.
                operator::redact_for_display(Arc::make_mut(job));
            }
            Arc::new(shown)
        } else {
            Arc::clone(&merged)
        };
        let report = OperatorReport {
            enabled: true,
            namespace: snapshot.own_namespace.clone(),
            kinds: snapshot.kinds.clone(),
            jobs: merged.scrape_configs.len() - file.scrape_configs.len(),
            objects: generation.objects,
        };
        self.publish(report, true);
        (merged, shown)
    }

    /// Makes `report` the current one; `generated` when it comes from a generation (the
    /// object counts are then recorded).
    fn publish(&self, report: OperatorReport, generated: bool) {
        if generated {
            self.metrics.record(&report.objects);
        }
        if let Ok(mut r) = self.report.write() {
            log_changes(&r, &report);
            *r = report;
        }
    }
}

/// Logs objects whose state changed since the last generation (reasons never hold
/// secret values: they name Secrets and keys, not their data).
fn log_changes(old: &OperatorReport, new: &OperatorReport) {
    let count =
        |r: &OperatorReport, state: &str| r.objects.iter().filter(|o| o.state == state).count();
    let (accepted, rejected) = (count(new, "accepted"), count(new, "rejected"));
    if new.jobs != old.jobs
        || accepted != count(old, "accepted")
        || rejected != count(old, "rejected")
    {
        tracing::info!(
            accepted,
            rejected,
            jobs = new.jobs,
            "prometheus_operator: jobs generated"
        );
    }
    for o in &new.objects {
        let before = old
            .objects
            .iter()
            .find(|p| p.kind == o.kind && p.namespace == o.namespace && p.name == o.name);
        let changed = before.is_none_or(|p| p.state != o.state || p.reason != o.reason);
        if !changed {
            continue;
        }
        if o.state == "rejected" {
            tracing::warn!(kind = o.kind.name(), namespace = %o.namespace, name = %o.name, reason = %o.reason, "prometheus_operator: object rejected");
        } else {
            tracing::debug!(kind = o.kind.name(), namespace = %o.namespace, name = %o.name, jobs = o.jobs.len(), "prometheus_operator: object accepted");
        }
    }
    for k in &new.kinds {
        let before = old.kinds.iter().find(|p| p.kind == k.kind);
        if k.selected && k.state == "not installed" && before.is_none_or(|p| p.state != k.state) {
            tracing::warn!(
                kind = k.kind.name(),
                "prometheus_operator: the kind's CRD is not installed; its objects are ignored until it is"
            );
        }
    }
}

/// The discovered labels the operator's port rules keep on (`port`, `targetPort`,
/// `portNumber`), for every role it generates.
const PORT_LABELS: [&str; 4] = [
    "__meta_kubernetes_endpoint_port_name",
    "__meta_kubernetes_endpointslice_port_name",
    "__meta_kubernetes_pod_container_port_name",
    "__meta_kubernetes_pod_container_port_number",
];

/// Warns on accepted objects with a job that runs no target although discovery found
/// some, because no discovered target has the port the object names (a typo in `port`
/// is accepted by the operator and Prometheus alike, and silently scrapes nothing).
pub(super) fn add_port_warnings(
    objects: &mut [ObjectStatus],
    cfg: &Config,
    scrape: &crate::scrape::Manager,
) {
    for o in objects.iter_mut().filter(|o| o.state == "accepted") {
        for job in &o.jobs {
            if scrape.target_count(job) != Some(0) {
                continue;
            }
            let Some(sc) = cfg.scrape_configs.iter().find(|s| &s.job_name == job) else {
                continue;
            };
            for rule in &sc.relabel_configs {
                let (Some("keep"), [label], Some(port)) = (
                    rule.action.as_deref(),
                    rule.source_labels.as_slice(),
                    rule.regex.as_deref(),
                ) else {
                    continue;
                };
                if !PORT_LABELS.contains(&label.as_str()) {
                    continue;
                }
                let seen = scrape.discovered_values(job, label);
                let Ok(re) = regex::Regex::new(&format!("^(?:{port})$")) else {
                    continue;
                };
                if !seen.is_empty() && !seen.iter().any(|v| re.is_match(v)) {
                    let seen: Vec<_> = seen.iter().map(|v| format!("{v:?}")).collect();
                    o.warnings.push(format!(
                        "{job}: no discovered target has port {port:?} \
                         ({label} is {}), so the job has no target",
                        seen.join(", ")
                    ));
                }
            }
        }
    }
}
