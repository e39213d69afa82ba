//! The scrape manager: one pool per job, rebuilt on config changes, fed by discovery.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, PoisonError, RwLock};

use tokio::sync::{Mutex, watch};

use crate::config::{Config, ScrapeConfig};
use crate::series::SampleSink;

use super::client::{HttpScraperFactory, ScraperFactory};
use super::metrics::ScrapeMetrics;
use super::pool::{DroppedTargets, PoolDeps, PoolError, Retune, ScrapePool, TargetView};
use super::scrape_loop::StopMode;
use super::snapshot::{TargetsSnapshot, active_target, dropped_target};
use crate::discovery::SharedGroups;
use crate::model::SlotOwner;
use crate::model::{Clock, SlotGrid};

/// A prepared reload of the scrape pools (see [`Manager::prepare`]).
#[derive(Default)]
pub struct ScrapePlan {
    /// Jobs that get new pools (new, or their series change), not started yet.
    fresh: BTreeMap<String, ScrapePool>,
    /// Jobs that keep their loops with a new client or limits.
    retune: BTreeMap<String, Retune>,
    /// Every job of the new config.
    wanted: std::collections::BTreeSet<String>,
    /// Unchanged jobs: their pools take the new config's (equal) copy, so one copy of
    /// each job is kept, not one per reload.
    same: Vec<Arc<ScrapeConfig>>,
}

/// Target groups per job, as discovery publishes them.
pub type JobTargetGroups = Arc<BTreeMap<String, SharedGroups>>;

/// How to build a [`Manager`] (tests replace the factory and the clock).
pub struct ManagerOptions {
    /// Where samples go.
    pub sink: Arc<dyn SampleSink>,
    /// Self-metrics.
    pub metrics: ScrapeMetrics,
    /// Who owns which slot.
    pub owner: Arc<dyn SlotOwner>,
    /// Makes each target's scraper.
    pub factory: Arc<dyn ScraperFactory>,
    /// Wall clock read through tokio time.
    pub clock: Clock,
}

struct PoolView {
    targets: Vec<TargetView>,
    dropped: DroppedTargets,
}

#[derive(Default)]
struct State {
    pools: BTreeMap<String, ScrapePool>,
    targets: JobTargetGroups,
}

/// What this peer owns now: see [`Manager::owned`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Owned {
    /// Targets whose current slot is ours.
    pub targets: u64,
    /// Series those targets fed at their last scrape.
    pub series: u64,
}

/// Runs every job's scrape pool.
pub struct Manager {
    deps: PoolDeps,
    metrics: ScrapeMetrics,
    factory: Arc<dyn ScraperFactory>,
    state: Mutex<State>,
    /// Read by [`Manager::targets`] without waiting for a sync in progress.
    views: RwLock<BTreeMap<String, PoolView>>,
}

impl Manager {
    /// A manager scraping over HTTP with the system clock.
    pub fn new(
        sink: Arc<dyn SampleSink>,
        metrics: ScrapeMetrics,
        owner: Arc<dyn SlotOwner>,
    ) -> Self {
        Self::with_options(ManagerOptions {
            sink,
            metrics,
            owner,
            factory: Arc::new(HttpScraperFactory),
            clock: Clock::system(),
        })
    }

    /// A manager with explicit dependencies.
    pub fn with_options(o: ManagerOptions) -> Self {
        Manager {
            deps: PoolDeps {
                sink: o.sink,
                owner: o.owner,
                clock: o.clock,
            },
            metrics: o.metrics,
            factory: o.factory,
            state: Mutex::new(State::default()),
            views: RwLock::new(BTreeMap::new()),
        }
    }

    /// Applies a (re)loaded config: [`Manager::prepare`], then [`Manager::commit`].
    pub async fn apply_config(&self, cfg: &Config) -> Result<(), PoolError> {
        let plan = self.prepare(cfg).await?;
        self.commit(plan).await;
        Ok(())
    }

    /// The first phase of a reload: builds what `cfg` needs (rules, clients, pools not
    /// yet started) and changes nothing; an error leaves everything as it is.
    pub async fn prepare(&self, cfg: &Config) -> Result<ScrapePlan, PoolError> {
        let state = self.state.lock().await;
        let mut plan = ScrapePlan::default();
        for sc in &cfg.scrape_configs {
            let job = sc.job_name.clone();
            match state.pools.get(&sc.job_name) {
                Some(p) if p.config() == &**sc => plan.same.push(Arc::clone(sc)),
                Some(p) => match p.prepare_retune(sc, self.factory.as_ref())? {
                    Some(r) => {
                        plan.retune.insert(job, r);
                    }
                    None => {
                        plan.fresh.insert(job, self.new_pool(sc)?);
                    }
                },
                None => {
                    plan.fresh.insert(job, self.new_pool(sc)?);
                }
            }
        }
        plan.wanted = cfg
            .scrape_configs
            .iter()
            .map(|s| s.job_name.clone())
            .collect();
        Ok(plan)
    }

    /// The second phase of a reload, which cannot fail: jobs whose series change get new
    /// loops (the old ones end with staleness markers), jobs that changed only their
    /// client or limits keep their loops and caches, removed jobs stop, unchanged ones
    /// keep running.
    pub async fn commit(&self, plan: ScrapePlan) {
        let ScrapePlan {
            fresh,
            retune,
            wanted,
            same,
        } = plan;
        let mut state = self.state.lock().await;
        for cfg in same {
            if let Some(pool) = state.pools.get_mut(&cfg.job_name) {
                pool.adopt_config(cfg);
            }
        }
        for (job, r) in retune {
            if let Some(pool) = state.pools.get_mut(&job) {
                pool.retune(r);
            }
        }
        let gone: Vec<String> = state
            .pools
            .keys()
            .filter(|j| !wanted.contains(*j) || fresh.contains_key(*j))
            .cloned()
            .collect();
        for job in gone {
            if let Some(mut pool) = state.pools.remove(&job) {
                pool.stop(StopMode::EndOfTarget).await;
            }
        }
        let targets = Arc::clone(&state.targets);
        for (job, mut pool) in fresh {
            if targets.contains_key(&job) {
                pool.sync(&targets).await;
            }
            state.pools.insert(job, pool);
        }
        self.publish(&state);
    }

    fn new_pool(&self, sc: &Arc<ScrapeConfig>) -> Result<ScrapePool, PoolError> {
        ScrapePool::new(
            Arc::clone(sc),
            self.factory.as_ref(),
            self.deps.clone(),
            self.metrics.job(&sc.job_name),
        )
    }

    /// Reconciles every pool with discovery's latest target groups.
    pub async fn update_targets(&self, targets: JobTargetGroups) {
        let mut state = self.state.lock().await;
        state.targets = Arc::clone(&targets);
        for pool in state.pools.values_mut() {
            pool.sync(&targets).await;
        }
        self.publish(&state);
    }

    /// Follows discovery until its sender is dropped.
    pub async fn run(&self, mut rx: watch::Receiver<JobTargetGroups>) {
        loop {
            let latest = Arc::clone(&rx.borrow_and_update());
            self.update_targets(latest).await;
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops every loop. On process shutdown use [`StopMode::Silent`] (Prometheus writes
    /// no staleness markers then).
    pub async fn stop(&self, mode: StopMode) {
        let mut state = self.state.lock().await;
        for pool in state.pools.values_mut() {
            pool.stop(mode).await;
        }
        state.pools.clear();
        self.publish(&state);
    }

    /// The targets API view: the targets whose current slot this peer owns (the ones it
    /// scrapes now), and the targets relabeling dropped.
    pub fn targets(&self) -> TargetsSnapshot {
        self.snapshot(true)
    }

    /// Every target with the owner of its current slot, as this peer computes it (the
    /// cluster-wide "who scrapes what"); health and last scrape are this peer's own, so
    /// only meaningful for the targets it owns.
    pub fn cluster_targets(&self) -> TargetsSnapshot {
        self.snapshot(false)
    }

    fn snapshot(&self, owned_only: bool) -> TargetsSnapshot {
        let now = self.deps.clock.now();
        let owner = self.deps.owner.as_ref();
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        let mut snap = TargetsSnapshot::default();
        for (job, v) in views.iter() {
            for t in &v.targets {
                let slot = SlotGrid::new(t.target.id, t.target.interval).containing(now);
                if owned_only && !owner.owns(t.target.id, slot) {
                    continue;
                }
                snap.active_targets
                    .push(active_target(job, t, &self.deps.clock, owner));
            }
            snap.dropped_targets
                .extend(v.dropped.labels().map(|l| dropped_target(&l)));
        }
        snap
    }

    /// How many targets `job` has (whoever owns them), `None` for an unknown job.
    pub fn target_count(&self, job: &str) -> Option<usize> {
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        views.get(job).map(|v| v.targets.len())
    }

    /// The values `label` takes among every target discovery gave `job`, kept or dropped
    /// by relabeling (to explain a job without targets).
    pub fn discovered_values(&self, job: &str, label: &str) -> BTreeSet<String> {
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        let Some(v) = views.get(job) else {
            return BTreeSet::new();
        };
        let kept = v.targets.iter().map(|t| t.discovered_labels());
        kept.chain(v.dropped.labels())
            .filter_map(|l| l.get(label).map(str::to_string))
            .collect()
    }

    /// Targets per owner of their current slot, as this peer computes it.
    pub fn owners(&self) -> std::collections::HashMap<String, u64> {
        let now = self.deps.clock.now();
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        let mut owned = std::collections::HashMap::new();
        for t in views.values().flat_map(|v| &v.targets) {
            let slot = SlotGrid::new(t.target.id, t.target.interval).containing(now);
            if let Some(o) = self.deps.owner.owner_of(t.target.id, slot) {
                *owned.entry(o).or_insert(0) += 1;
            }
        }
        owned
    }

    /// Series fed by the targets whose current slot this peer owns (each target's last
    /// scrape after metric relabeling), as the cluster publishes it.
    pub fn owned_series(&self) -> u64 {
        self.owned().series
    }

    /// Targets whose current slot this peer owns, and the series they fed at their last
    /// scrape (one pass, no snapshot of the targets' labels).
    pub fn owned(&self) -> Owned {
        let now = self.deps.clock.now();
        let views = self.views.read().unwrap_or_else(PoisonError::into_inner);
        let mut owned = Owned::default();
        for t in views.values().flat_map(|v| &v.targets) {
            let slot = SlotGrid::new(t.target.id, t.target.interval).containing(now);
            if self.deps.owner.owns(t.target.id, slot) {
                owned.targets += 1;
                owned.series += t
                    .status
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .series;
            }
        }
        owned
    }

    fn publish(&self, state: &State) {
        let views = state
            .pools
            .iter()
            .map(|(job, p)| {
                let v = PoolView {
                    targets: p.views(),
                    dropped: p.dropped(),
                };
                (job.clone(), v)
            })
            .collect();
        *self.views.write().unwrap_or_else(PoisonError::into_inner) = views;
    }
}
