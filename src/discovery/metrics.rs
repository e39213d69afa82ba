//! Self-metrics of service discovery.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Discovery metrics, shared by the manager and its providers.
#[derive(Clone, Debug, Default)]
pub struct DiscoveryMetrics {
    /// `shoal_discovery_targets{job}`: targets discovered per job (before relabeling).
    pub(crate) targets: Family<Labels, Gauge>,
    /// `shoal_discovery_refresh_failures_total{mechanism}`: failed refreshes (http request,
    /// file glob/directory listing).
    pub(crate) refresh_failures: Family<Labels, Counter>,
    /// `shoal_discovery_file_read_errors_total`: file_sd files that could not be read or parsed.
    pub(crate) file_read_errors: Counter,
    /// `shoal_discovery_failed_configs`: provider configs that could not be started.
    pub(crate) failed_configs: Gauge,
    /// `shoal_discovery_updates_total`: merged target sets published to subscribers.
    pub(crate) updates: Counter,
    /// `shoal_discovery_kubernetes_events_total{role,event}`: watch events applied
    /// (`add`, `update`, `delete`, and `list` for each completed (re)list).
    pub(crate) kube_events: Family<Labels, Counter>,
    /// `shoal_discovery_kubernetes_watch_failures_total{role}`: failed lists, watches and
    /// client creations (each is retried with backoff).
    pub(crate) kube_watch_failures: Family<Labels, Counter>,
}

impl DiscoveryMetrics {
    /// Creates the metrics and registers them.
    pub fn new(registry: &mut Registry) -> Self {
        let m = DiscoveryMetrics::default();
        registry.register(
            "shoal_discovery_targets",
            "Targets discovered per job, before relabeling",
            m.targets.clone(),
        );
        registry.register(
            "shoal_discovery_refresh_failures",
            "Failed discovery refreshes per mechanism",
            m.refresh_failures.clone(),
        );
        registry.register(
            "shoal_discovery_file_read_errors",
            "file_sd files that could not be read or parsed",
            m.file_read_errors.clone(),
        );
        registry.register(
            "shoal_discovery_failed_configs",
            "Discovery configs that could not be started",
            m.failed_configs.clone(),
        );
        registry.register(
            "shoal_discovery_updates",
            "Merged target sets published to subscribers",
            m.updates.clone(),
        );
        registry.register(
            "shoal_discovery_kubernetes_events",
            "Kubernetes watch events applied, per watched kind and event",
            m.kube_events.clone(),
        );
        registry.register(
            "shoal_discovery_kubernetes_watch_failures",
            "Failed Kubernetes lists, watches and client creations, per watched kind",
            m.kube_watch_failures.clone(),
        );
        m
    }

    pub(crate) fn refresh_failed(&self, mechanism: &'static str) {
        self.refresh_failures
            .get_or_create(&vec![("mechanism", mechanism.to_string())])
            .inc();
    }

    /// Failed refreshes counted so far for `mechanism`.
    pub fn refresh_failures(&self, mechanism: &'static str) -> u64 {
        self.refresh_failures
            .get_or_create(&vec![("mechanism", mechanism.to_string())])
            .get()
    }

    /// file_sd read or parse errors counted so far.
    pub fn file_read_errors(&self) -> u64 {
        self.file_read_errors.get()
    }

    pub(crate) fn kube_event(&self, role: &'static str, event: &'static str) {
        self.kube_events
            .get_or_create(&vec![
                ("role", role.to_string()),
                ("event", event.to_string()),
            ])
            .inc();
    }

    pub(crate) fn kube_watch_failed(&self, role: &'static str) {
        self.kube_watch_failures
            .get_or_create(&vec![("role", role.to_string())])
            .inc();
    }

    /// Kubernetes watch failures counted so far for objects of kind `role`.
    pub fn kube_watch_failures(&self, role: &'static str) -> u64 {
        self.kube_watch_failures
            .get_or_create(&vec![("role", role.to_string())])
            .get()
    }

    pub(crate) fn set_targets(&self, job: &str, n: usize) {
        self.targets
            .get_or_create(&vec![("job", job.to_string())])
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    pub(crate) fn remove_job(&self, job: &str) {
        self.targets.remove(&vec![("job", job.to_string())]);
    }
}
