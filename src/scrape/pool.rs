//! A scrape pool: the loops of one job, reconciled with discovery by [`TargetId`].
//!
//! Like Prometheus' `scrapePool.sync`: a target whose identity is unchanged keeps its loop
//! and cache; a new one starts; a vanished one stops and writes end-of-target staleness
//! markers.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::ScrapeConfig;
use crate::labels::Labels;
use crate::series::SampleSink;

use super::cache::{Limits, SeriesContext};
use super::client::{ClientError, ScraperFactory, TargetScrapers};
use super::manager::JobTargetGroups;
use super::metrics::JobMetrics;
use super::scrape_loop::{LoopHandle, LoopParams, LoopSettings, SharedStatus, StopMode};
use super::target::{
    Discovered, DroppedRun, Target, TargetId, discovered_labels, dropped_positions,
    targets_from_groups, truncate_dropped,
};
use crate::model::Clock;
use crate::model::SlotOwner;
use crate::relabel::{RelabelError, Rules};

/// A job's settings that could not be turned into a pool.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// `relabel_configs` or `metric_relabel_configs` do not compile.
    #[error("job {job:?}: {which}: {source}")]
    Relabel {
        /// The job.
        job: String,
        /// Which rule list.
        which: &'static str,
        /// The compiler's error.
        source: RelabelError,
    },
    /// The HTTP client could not be built.
    #[error("job {job:?}: {source}")]
    Client {
        /// The job.
        job: String,
        /// Why.
        source: ClientError,
    },
}

impl PoolError {
    /// The job whose settings failed.
    pub fn job(&self) -> &str {
        match self {
            PoolError::Relabel { job, .. } | PoolError::Client { job, .. } => job,
        }
    }
}

/// A reload of a job that keeps its loops: the new config and its scrapers, built.
pub struct Retune {
    cfg: Arc<ScrapeConfig>,
    scrapers: TargetScrapers,
}

/// True when `a` and `b` differ at most in what does not change the series a target
/// yields: the HTTP client and the limits (Prometheus' `reusableCache`).
pub(crate) fn same_series(a: &ScrapeConfig, b: &ScrapeConfig) -> bool {
    let zero = |c: &ScrapeConfig| {
        let mut z = c.clone();
        z.http = Default::default();
        z.enable_compression = None;
        z.sample_limit = None;
        z.label_limit = None;
        z.label_name_length_limit = None;
        z.label_value_length_limit = None;
        z.body_size_limit = None;
        z
    };
    zero(a) == zero(b)
}

/// What every pool shares with the manager.
#[derive(Clone)]
pub struct PoolDeps {
    /// Where samples go.
    pub sink: Arc<dyn SampleSink>,
    /// Who owns which slot.
    pub owner: Arc<dyn SlotOwner>,
    /// Wall clock read through tokio time.
    pub clock: Clock,
}

/// A running target, as the targets API sees it.
#[derive(Clone)]
pub struct TargetView {
    /// The target.
    pub target: Arc<Target>,
    /// Where it was last discovered (may change without changing its identity).
    pub discovered_at: Option<Discovered>,
    /// The job's config, for the labels before relabeling.
    pub cfg: Arc<ScrapeConfig>,
    /// Its loop's status.
    pub status: SharedStatus,
}

impl TargetView {
    /// Its labels before relabeling, as the targets API shows them.
    pub fn discovered_labels(&self) -> Labels {
        match &self.discovered_at {
            Some(d) => d.labels(&self.cfg),
            None => (*self.target.discovered_labels).clone(),
        }
    }
}

struct Running {
    view: TargetView,
    handle: LoopHandle,
}

/// The loops of one job.
pub struct ScrapePool {
    cfg: Arc<ScrapeConfig>,
    target_rules: Rules,
    metric_rules: Arc<Rules>,
    scrapers: TargetScrapers,
    deps: PoolDeps,
    metrics: JobMetrics,
    running: HashMap<TargetId, Running>,
    /// The groups of the last sync, which `dropped` points into.
    groups: JobTargetGroups,
    /// Targets dropped by relabeling, as runs of positions in `groups`: their labels
    /// before relabeling are recomputed on demand rather than kept.
    dropped: Arc<[DroppedRun]>,
}

/// The targets of one job dropped by relabeling; their labels are computed on demand.
#[derive(Clone)]
pub struct DroppedTargets {
    cfg: Arc<ScrapeConfig>,
    groups: JobTargetGroups,
    refs: Arc<[DroppedRun]>,
}

impl DroppedTargets {
    /// Each dropped target's labels before relabeling.
    pub fn labels(&self) -> impl Iterator<Item = Labels> + '_ {
        let groups = self
            .groups
            .get(&self.cfg.job_name)
            .map_or(&[][..], |g| &g[..]);
        dropped_positions(groups, &self.refs).filter_map(move |(g, i)| {
            let t = g.targets.get(i)?;
            Some(discovered_labels(&g.labels, t, &self.cfg))
        })
    }
}

impl ScrapePool {
    /// A pool for `cfg` with no target yet; fails on rules or client settings.
    pub fn new(
        cfg: Arc<ScrapeConfig>,
        factory: &dyn ScraperFactory,
        deps: PoolDeps,
        metrics: JobMetrics,
    ) -> Result<Self, PoolError> {
        let job = || cfg.job_name.clone();
        let target_rules =
            Rules::compile(&cfg.relabel_configs).map_err(|source| PoolError::Relabel {
                job: job(),
                which: "relabel_configs",
                source,
            })?;
        let metric_rules =
            Rules::compile(&cfg.metric_relabel_configs).map_err(|source| PoolError::Relabel {
                job: job(),
                which: "metric_relabel_configs",
                source,
            })?;
        let scrapers = factory
            .for_job(&cfg)
            .map_err(|source| PoolError::Client { job: job(), source })?;
        Ok(ScrapePool {
            cfg,
            target_rules,
            metric_rules: Arc::new(metric_rules),
            scrapers,
            deps,
            metrics,
            running: HashMap::new(),
            groups: JobTargetGroups::default(),
            dropped: Arc::from([]),
        })
    }

    /// The job's config.
    pub fn config(&self) -> &ScrapeConfig {
        &self.cfg
    }

    /// Reconciles the running loops with the job's groups in `targets` (every job's).
    pub async fn sync(&mut self, targets: &JobTargetGroups) {
        let started = crate::model::clock::monotonic_now();
        let groups = targets.get(&self.cfg.job_name).map_or(&[][..], |g| &g[..]);
        let built = targets_from_groups(groups, &self.cfg, &self.target_rules);
        self.groups = Arc::clone(targets);
        for error in &built.errors {
            tracing::warn!(job = %self.cfg.job_name, %error, "creating target failed");
        }
        // Prometheus' `keep_dropped_targets` (0 = keep all) bounds how many are kept.
        let mut dropped = built.dropped;
        if let Some(limit) = self.cfg.keep_dropped_targets.filter(|l| *l > 0) {
            truncate_dropped(&mut dropped, usize::try_from(limit).unwrap_or(usize::MAX));
        }
        self.dropped = Arc::from(dropped);
        let mut desired: HashMap<TargetId, Target> =
            built.active.into_iter().map(|t| (t.id, t)).collect();
        let vanished: Vec<TargetId> = self
            .running
            .keys()
            .filter(|id| !desired.contains_key(id))
            .copied()
            .collect();
        let stops = vanished
            .iter()
            .filter_map(|id| self.running.remove(id))
            .map(|r| r.handle.stop(StopMode::EndOfTarget));
        futures::future::join_all(stops).await;
        for (id, target) in desired.drain() {
            if let Some(r) = self.running.get_mut(&id) {
                r.view.discovered_at = target.discovered_at;
                continue;
            }
            match self.start(target) {
                Ok(r) => {
                    self.running.insert(id, r);
                }
                Err(error) => {
                    tracing::warn!(job = %self.cfg.job_name, %error, "creating scraper failed");
                }
            }
        }
        self.metrics
            .active_targets
            .set(i64::try_from(self.running.len()).unwrap_or(i64::MAX));
        self.metrics
            .sync_duration
            .observe(started.elapsed().as_secs_f64());
    }

    fn start(&self, target: Target) -> Result<Running, ClientError> {
        let scraper = (self.scrapers)(&target)?;
        let ctx = self.context(Arc::new(target.series_labels.clone()));
        let discovered_at = target.discovered_at.clone();
        let target = Arc::new(target);
        let handle = LoopHandle::spawn(
            LoopParams {
                target: Arc::clone(&target),
                sink: Arc::clone(&self.deps.sink),
                owner: Arc::clone(&self.deps.owner),
                clock: self.deps.clock,
                metrics: self.metrics.clone(),
            },
            LoopSettings { scraper, ctx },
        );
        Ok(Running {
            view: TargetView {
                target,
                discovered_at,
                cfg: Arc::clone(&self.cfg),
                status: Arc::clone(&handle.status),
            },
            handle,
        })
    }

    /// How the job builds the series of a target whose labels are `target_labels`.
    fn context(&self, target_labels: Arc<Labels>) -> SeriesContext {
        let cfg = &self.cfg;
        SeriesContext {
            target_labels,
            honor_labels: cfg.honor_labels,
            honor_timestamps: cfg.honor_timestamps(),
            metric_rules: Arc::clone(&self.metric_rules),
            limits: Limits {
                sample_limit: cfg.sample_limit.unwrap_or(0),
                label_limit: cfg.label_limit.unwrap_or(0),
                label_name_length_limit: cfg.label_name_length_limit.unwrap_or(0),
                label_value_length_limit: cfg.label_value_length_limit.unwrap_or(0),
            },
        }
    }

    /// Prepares a reload to `cfg` that keeps the loops, when `cfg` differs from the
    /// running config only in the HTTP client or limits; `Ok(None)` when it needs new
    /// loops. No side effect: [`ScrapePool::retune`] applies it.
    pub fn prepare_retune(
        &self,
        cfg: &Arc<ScrapeConfig>,
        factory: &dyn ScraperFactory,
    ) -> Result<Option<Retune>, PoolError> {
        if !same_series(&self.cfg, cfg) {
            return Ok(None);
        }
        let scrapers = factory.for_job(cfg).map_err(|source| PoolError::Client {
            job: cfg.job_name.clone(),
            source,
        })?;
        Ok(Some(Retune {
            cfg: Arc::clone(cfg),
            scrapers,
        }))
    }

    /// Makes `cfg` the config of the pool and its targets' views; loops are not touched.
    pub fn adopt_config(&mut self, cfg: Arc<ScrapeConfig>) {
        self.cfg = cfg;
        for running in self.running.values_mut() {
            running.view.cfg = Arc::clone(&self.cfg);
        }
    }

    /// Gives every loop the new client and limits; loops and caches stay, so nothing is
    /// marked stale. A target whose scraper cannot be made keeps its old one (logged).
    pub fn retune(&mut self, r: Retune) {
        self.adopt_config(r.cfg);
        self.scrapers = r.scrapers;
        for running in self.running.values() {
            match (self.scrapers)(&running.view.target) {
                Ok(scraper) => {
                    let labels = Arc::clone(&running.handle.settings().ctx.target_labels);
                    let ctx = self.context(labels);
                    running.handle.retune(LoopSettings { scraper, ctx });
                }
                Err(error) => tracing::warn!(
                    job = %self.cfg.job_name, %error,
                    "creating scraper failed; the target keeps its previous client"
                ),
            }
        }
    }

    /// Stops every loop and waits for them.
    pub async fn stop(&mut self, mode: StopMode) {
        let stops = self.running.drain().map(|(_, r)| r.handle.stop(mode));
        futures::future::join_all(stops).await;
        self.metrics.active_targets.set(0);
    }

    /// The running targets, ordered by URL.
    pub fn views(&self) -> Vec<TargetView> {
        let mut v: Vec<TargetView> = self.running.values().map(|r| r.view.clone()).collect();
        v.sort_by(|a, b| a.target.url.cmp(&b.target.url));
        v
    }

    /// Targets dropped by relabeling (at most `keep_dropped_targets`).
    pub fn dropped(&self) -> DroppedTargets {
        DroppedTargets {
            cfg: Arc::clone(&self.cfg),
            groups: Arc::clone(&self.groups),
            refs: Arc::clone(&self.dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{BasicAuth, PromDuration, Secret};

    #[test]
    fn client_and_limit_changes_keep_the_series_other_changes_do_not() {
        let base = ScrapeConfig {
            job_name: "j".into(),
            ..Default::default()
        };
        let mut client = base.clone();
        client.http.basic_auth = Some(BasicAuth {
            username: "u".into(),
            password: Some(Secret::new("p")),
            ..Default::default()
        });
        client.enable_compression = Some(false);
        client.sample_limit = Some(10);
        client.label_limit = Some(5);
        client.label_value_length_limit = Some(100);
        assert!(same_series(&base, &client));
        let mut interval = base.clone();
        interval.scrape_interval = Some(PromDuration(Duration::from_secs(5)));
        let mut honor = base.clone();
        honor.honor_labels = true;
        let mut path = base.clone();
        path.metrics_path = Some("/other".into());
        for (what, changed) in [
            ("interval", interval),
            ("honor_labels", honor),
            ("path", path),
        ] {
            assert!(!same_series(&base, &changed), "{what}");
        }
    }
}
