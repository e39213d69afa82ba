//! Runs the providers of every job and publishes the merged groups per job.
//!
//! Like Prometheus' discovery manager: providers are keyed by their config, and jobs with
//! an equal config share one provider (thousands of generated jobs watching the same
//! namespace build its groups once); on [`Manager::apply_config`] an unchanged provider
//! keeps running with its state, a changed or new one starts, an unused one stops. Updates are coalesced: the first set is
//! published once every provider has reported (at most `first_sync_wait` after the first
//! report), later ones at most once per `update_interval`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;

use super::kubernetes::{KubernetesProvider, Registry as KubeRegistry};
use super::{
    Cancel, CancelHandle, DiscoveryMetrics, FileProvider, HttpProvider, Provider, SharedGroups,
    StaticProvider, cancel_pair,
};
use crate::config::{
    Config, FileSdConfig, HttpSdConfig, KubernetesSdConfig, ScrapeConfig, StaticConfig,
};

/// The published result: each job's groups, in config order of its providers.
pub type TargetsByJob = BTreeMap<String, SharedGroups>;

/// Timing of the manager.
#[derive(Clone, Debug)]
pub struct ManagerOptions {
    /// Longest wait for all providers' first report before the first publish (default 1s).
    pub first_sync_wait: Duration,
    /// Minimum time between two publishes after the first (default 5s, as Prometheus).
    pub update_interval: Duration,
    /// How often file_sd compares file metadata (default 2s).
    pub file_poll_interval: Duration,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            first_sync_wait: Duration::from_secs(1),
            update_interval: Duration::from_secs(5),
            file_poll_interval: Duration::from_secs(2),
        }
    }
}

/// Providers that could not be started by [`Manager::apply_config`]; the rest was applied.
#[derive(Debug, thiserror::Error)]
#[error("{} discovery config(s) could not be started: {}", .0.len(), summary(.0))]
pub struct ApplyError(pub Vec<(String, String)>);

fn summary(errors: &[(String, String)]) -> String {
    errors
        .iter()
        .map(|(job, e)| format!("job {job:?}: {e}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One provider's config; equality decides whether a reload keeps the provider.
#[derive(Clone, Debug, PartialEq)]
enum Spec {
    Static(Vec<StaticConfig>),
    File(FileSdConfig),
    Http(Box<HttpSdConfig>),
    Kubernetes(Box<KubernetesSdConfig>),
}

struct Running {
    id: u64,
    spec: Spec,
    /// The provider's last report; a job with only this provider publishes this very
    /// `Arc`, so that a large provider's groups exist once however many jobs use them.
    latest: SharedGroups,
    /// Whether the provider has reported at least once.
    reported: bool,
    _cancel: CancelHandle,
}

#[derive(Default)]
struct State {
    /// Jobs in config order, each with its providers' ids.
    jobs: Vec<(String, Vec<u64>)>,
    providers: Vec<Running>,
    next_id: u64,
}

struct Inner {
    state: Mutex<State>,
    dirty: Notify,
    tx: watch::Sender<Arc<TargetsByJob>>,
    metrics: DiscoveryMetrics,
    opts: ManagerOptions,
    /// Shared Kubernetes watches: equal watches of several jobs run once.
    kube: KubeRegistry,
}

/// Runs discovery for a config; dropping it stops every provider.
pub struct Manager {
    inner: Arc<Inner>,
    _publisher: CancelHandle,
}

impl Manager {
    /// A manager with no jobs; call [`Manager::apply_config`]. Needs a tokio runtime.
    pub fn new(opts: ManagerOptions, metrics: DiscoveryMetrics) -> Manager {
        let (tx, _) = watch::channel(Arc::new(TargetsByJob::new()));
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            dirty: Notify::new(),
            tx,
            metrics,
            opts,
            kube: KubeRegistry::default(),
        });
        let (handle, cancel) = cancel_pair();
        tokio::spawn(publish_loop(inner.clone(), cancel));
        Manager {
            inner,
            _publisher: handle,
        }
    }

    /// The merged groups per job; the current value, then each published change.
    pub fn subscribe(&self) -> watch::Receiver<Arc<TargetsByJob>> {
        self.inner.tx.subscribe()
    }

    /// Reconciles running providers with `cfg`. Providers that fail to start are reported
    /// in the error (and logged and counted); everything else is applied regardless.
    /// File paths are used as given: the config loader resolves relative ones (as
    /// Prometheus' `SetDirectory`). Needs a tokio runtime.
    pub fn apply_config(&self, cfg: &Config) -> Result<(), ApplyError> {
        let mut errors = Vec::new();
        {
            let mut st = lock(&self.inner.state);
            let mut keep = vec![false; st.providers.len()];
            let mut jobs = Vec::with_capacity(cfg.scrape_configs.len());
            for sc in &cfg.scrape_configs {
                let mut ids = Vec::new();
                for spec in specs(sc) {
                    let existing = st.providers.iter().position(|r| r.spec == spec);
                    if let Some(i) = existing
                        && let (Some(k), Some(p)) = (keep.get_mut(i), st.providers.get(i))
                    {
                        *k = true;
                        ids.push(p.id);
                        continue;
                    }
                    match self.build(&spec) {
                        Ok(provider) => {
                            let id = self.start(&mut st, &sc.job_name, spec, provider);
                            keep.push(true);
                            ids.push(id);
                        }
                        Err(e) => {
                            tracing::error!(job = %sc.job_name, error = %e, "cannot create service discovery");
                            errors.push((sc.job_name.clone(), e));
                        }
                    }
                }
                if !sc.dns_sd_configs.is_empty() {
                    let e = "dns_sd_configs are not supported yet".to_string();
                    tracing::error!(job = %sc.job_name, "{e}");
                    errors.push((sc.job_name.clone(), e));
                }
                jobs.push((sc.job_name.clone(), ids));
            }
            let mut i = 0;
            st.providers.retain(|_| {
                let k = keep.get(i).copied().unwrap_or(false);
                i += 1;
                k
            });
            st.jobs = jobs;
        }
        self.inner
            .metrics
            .failed_configs
            .set(i64::try_from(errors.len()).unwrap_or(i64::MAX));
        self.inner.dirty.notify_one();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApplyError(errors))
        }
    }

    fn build(&self, spec: &Spec) -> Result<Box<dyn Provider>, String> {
        let metrics = self.inner.metrics.clone();
        Ok(match spec {
            Spec::Static(c) => Box::new(StaticProvider::new(c)),
            Spec::File(c) => Box::new(
                FileProvider::new(c, self.inner.opts.file_poll_interval, metrics)
                    .map_err(|e| e.to_string())?,
            ),
            Spec::Http(c) => Box::new(HttpProvider::new(c, metrics).map_err(|e| e.to_string())?),
            Spec::Kubernetes(c) => Box::new(
                KubernetesProvider::new(c, &self.inner.kube, &metrics)
                    .map_err(|e| e.to_string())?,
            ),
        })
    }

    fn start(&self, st: &mut State, job: &str, spec: Spec, provider: Box<dyn Provider>) -> u64 {
        let id = st.next_id;
        st.next_id += 1;
        let (handle, cancel) = cancel_pair();
        let (tx, rx) = mpsc::channel(4);
        tracing::debug!(
            job,
            mechanism = provider.mechanism(),
            id,
            "starting discovery provider"
        );
        tokio::spawn(provider.run(tx, cancel));
        tokio::spawn(forward(Arc::downgrade(&self.inner), id, rx));
        st.providers.push(Running {
            id,
            spec,
            latest: SharedGroups::from([]),
            reported: false,
            _cancel: handle,
        });
        id
    }

    /// Ids of running providers per job, to observe reuse across reloads in tests.
    #[cfg(test)]
    pub(crate) fn provider_ids(&self) -> Vec<(String, u64)> {
        let st = lock(&self.inner.state);
        st.jobs
            .iter()
            .flat_map(|(job, ids)| ids.iter().map(move |id| (job.clone(), *id)))
            .collect()
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        // Forwarders hold only weak references, but stop providers now, not when the
        // publisher task notices its cancellation.
        lock(&self.inner.state).providers.clear();
    }
}

/// A poisoned lock means a panic elsewhere mid-update; the state is still consistent
/// enough to publish (every update replaces whole fields).
fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn specs(sc: &ScrapeConfig) -> Vec<Spec> {
    let mut out = Vec::new();
    if !sc.static_configs.is_empty() {
        out.push(Spec::Static(sc.static_configs.clone()));
    }
    out.extend(sc.file_sd_configs.iter().cloned().map(Spec::File));
    out.extend(
        sc.http_sd_configs
            .iter()
            .map(|c| Spec::Http(Box::new(c.clone()))),
    );
    out.extend(
        sc.kubernetes_sd_configs
            .iter()
            .map(|c| Spec::Kubernetes(Box::new(c.clone()))),
    );
    out
}

/// Copies a provider's updates into the state until it stops or is removed.
async fn forward(inner: Weak<Inner>, id: u64, mut rx: mpsc::Receiver<SharedGroups>) {
    while let Some(groups) = rx.recv().await {
        let Some(inner) = inner.upgrade() else { return };
        {
            let mut st = lock(&inner.state);
            let Some(r) = st.providers.iter_mut().find(|r| r.id == id) else {
                return;
            };
            r.latest = groups;
            r.reported = true;
        }
        inner.dirty.notify_one();
    }
}

async fn publish_loop(inner: Arc<Inner>, cancel: Cancel) {
    let mut last_publish: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = inner.dirty.notified() => {}
        }
        match last_publish {
            None => {
                let deadline = crate::model::clock::monotonic_now() + inner.opts.first_sync_wait;
                while !all_reported(&inner) {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tokio::time::sleep_until(deadline) => break,
                        _ = inner.dirty.notified() => {}
                    }
                }
            }
            Some(at) => {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep_until(at + inner.opts.update_interval) => {}
                }
            }
        }
        publish(&inner);
        last_publish = Some(crate::model::clock::monotonic_now());
    }
}

fn all_reported(inner: &Inner) -> bool {
    lock(&inner.state).providers.iter().all(|r| r.reported)
}

fn publish(inner: &Inner) {
    let (merged, gone) = {
        let st = lock(&inner.state);
        let current = Arc::clone(&inner.tx.borrow());
        let mut merged = TargetsByJob::new();
        let by_id: std::collections::HashMap<u64, &Running> =
            st.providers.iter().map(|r| (r.id, r)).collect();
        for (job, ids) in &st.jobs {
            let groups = match ids.as_slice() {
                [one] => by_id
                    .get(one)
                    .map_or_else(|| SharedGroups::from([]), |r| Arc::clone(&r.latest)),
                many => many
                    .iter()
                    .filter_map(|id| by_id.get(id))
                    .flat_map(|r| r.latest.iter().cloned())
                    .collect(),
            };
            merged.insert(job.clone(), groups);
        }
        let gone: Vec<String> = current
            .keys()
            .filter(|j| !merged.contains_key(*j))
            .cloned()
            .collect();
        (merged, gone)
    };
    for job in &gone {
        inner.metrics.remove_job(job);
    }
    for (job, groups) in &merged {
        inner
            .metrics
            .set_targets(job, groups.iter().map(|g| g.targets.len()).sum());
    }
    let changed = inner.tx.send_if_modified(|cur| {
        if **cur == merged {
            return false;
        }
        *cur = Arc::new(merged);
        true
    });
    if changed {
        inner.metrics.updates.inc();
    }
}
