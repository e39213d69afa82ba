//! One target's scrape loop: wait for the next slot, ask the owner, fetch, hand the body
//! to the cache, write the samples. The only I/O here is the fetch and the sink.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::redact_url;
use crate::series::SampleSink;

use super::buffers;
use super::cache::{Fetched, ScrapeCache, SeriesContext};
use super::client::Scraper;
use super::metrics::JobMetrics;
use super::target::Target;
use crate::model::SlotOwner;
use crate::model::{Clock, SlotGrid, SlotTime};

/// Health of a target as shown by the targets API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not scraped yet.
    Unknown,
    /// Last scrape succeeded.
    Up,
    /// Last scrape failed.
    Down,
}

/// What the loop last did, for the targets API.
#[derive(Clone, Debug, PartialEq)]
pub struct TargetStatus {
    /// Result of the last scrape.
    pub health: Health,
    /// Error of the last scrape, empty when it succeeded.
    pub last_error: String,
    /// Wall time at which the last scrape started.
    pub last_scrape: Option<SlotTime>,
    /// How long the last scrape took.
    pub last_duration: Duration,
    /// Samples the last scrape kept after metric relabeling: the series the target feeds.
    pub series: u64,
}

impl Default for TargetStatus {
    fn default() -> Self {
        TargetStatus {
            health: Health::Unknown,
            last_error: String::new(),
            last_scrape: None,
            last_duration: Duration::ZERO,
            series: 0,
        }
    }
}

/// Shared view of a loop's status.
pub type SharedStatus = Arc<Mutex<TargetStatus>>;

/// How a loop ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopMode {
    /// The target left discovery (or its job changed): write staleness markers for all its
    /// series and synthetic series.
    EndOfTarget,
    /// Process shutdown: write nothing more (as Prometheus).
    Silent,
}

/// What a loop scrapes with. A reload that changes only the job's client or limits
/// replaces it in place, so the loop and its cache stay (no staleness markers, as
/// Prometheus' reusable cache).
pub struct LoopSettings {
    /// The fetcher.
    pub scraper: Arc<dyn Scraper>,
    /// How series are built.
    pub ctx: SeriesContext,
}

/// The settings a loop reads at each scrape.
type SharedSettings = Arc<Mutex<Arc<LoopSettings>>>;

/// Everything a loop needs.
pub struct LoopParams {
    /// The target.
    pub target: Arc<Target>,
    /// Where samples go.
    pub sink: Arc<dyn SampleSink>,
    /// Who owns which slot.
    pub owner: Arc<dyn SlotOwner>,
    /// Wall clock read through tokio time.
    pub clock: Clock,
    /// The job's metrics.
    pub metrics: JobMetrics,
}

/// A running loop.
pub struct LoopHandle {
    stop: watch::Sender<Option<StopMode>>,
    task: JoinHandle<()>,
    settings: SharedSettings,
    /// Last scrape's result.
    pub status: SharedStatus,
}

impl LoopHandle {
    /// Starts a loop on the current tokio runtime.
    pub fn spawn(params: LoopParams, settings: LoopSettings) -> LoopHandle {
        let (stop, stop_rx) = watch::channel(None);
        let status = SharedStatus::default();
        let settings: SharedSettings = Arc::new(Mutex::new(Arc::new(settings)));
        let task = tokio::spawn(run(
            params,
            Arc::clone(&settings),
            stop_rx,
            Arc::clone(&status),
        ));
        LoopHandle {
            stop,
            task,
            settings,
            status,
        }
    }

    /// The settings the next scrape uses.
    pub fn settings(&self) -> Arc<LoopSettings> {
        Arc::clone(&self.settings.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Replaces the settings from the next scrape on; the loop and its cache stay.
    pub fn retune(&self, settings: LoopSettings) {
        *self.settings.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(settings);
    }

    /// Stops the loop (cancelling an in-flight fetch) and waits until it has ended.
    pub async fn stop(self, mode: StopMode) {
        // Err: the loop already ended; nothing to tell it.
        let _ = self.stop.send(Some(mode));
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "scrape loop ended abnormally");
        }
    }
}

async fn run(
    p: LoopParams,
    settings: SharedSettings,
    mut stop_rx: watch::Receiver<Option<StopMode>>,
    status: SharedStatus,
) {
    let target = &p.target;
    let grid = SlotGrid::new(target.id, target.interval);
    let target_labels = Arc::clone(
        &settings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .ctx
            .target_labels,
    );
    let mut cache = ScrapeCache::new(&target_labels);
    drop(target_labels);
    let mut next = grid.next_at_or_after(p.clock.now());
    let mut last_slot: Option<SlotTime> = None;
    // Whether we owned the previous slot; `None` until the first one (not a handoff).
    let mut owned_before: Option<bool> = None;
    let shown_url = redact_url(&target.url);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(p.clock.instant_of(next)) => {}
            _ = stop_rx.changed() => break,
        }
        // Woken late (overload, suspended host): scrape the current slot, skip missed ones.
        let slot = grid.containing(p.clock.now()).max(next);
        next = grid.after(slot);
        let owned = p.owner.owns(target.id, slot);
        match (owned_before, owned) {
            (Some(false), true) => p.metrics.handoffs_in.inc(),
            (Some(true), false) => p.metrics.handoffs_out.inc(),
            _ => 0,
        };
        owned_before = Some(owned);
        if !owned {
            p.metrics.slots_skipped.inc();
            continue;
        }
        let started_wall = p.clock.now();
        let started = crate::model::clock::monotonic_now();
        let now = Arc::clone(&settings.lock().unwrap_or_else(PoisonError::into_inner));
        let mut body = buffers::take_body();
        let fetched = tokio::select! {
            r = now.scraper.scrape(&mut body) => r,
            _ = stop_rx.changed() => {
                buffers::give_body(body);
                break;
            }
        };
        let fetched = fetched.as_ref().map_err(Clone::clone).map(|ct| Fetched {
            body: &body,
            content_type: ct.as_deref(),
        });
        let mut samples = buffers::take_samples();
        let outcome = cache.process(
            &now.ctx,
            fetched,
            slot.0,
            || started.elapsed(),
            &mut samples,
        );
        buffers::give_body(body);
        p.sink.append(&samples);
        buffers::give_samples(samples);
        last_slot = Some(slot);
        let elapsed = started.elapsed();
        record(&p.metrics, &outcome, elapsed);
        let mut st = status.lock().unwrap_or_else(PoisonError::into_inner);
        st.last_scrape = Some(started_wall);
        st.last_duration = elapsed;
        st.series = outcome.stats.post_relabel;
        match outcome.error {
            Some(e) => {
                tracing::debug!(url = %shown_url, error = %e, "scrape failed");
                st.health = Health::Down;
                st.last_error = e.to_string();
            }
            None => {
                st.health = Health::Up;
                st.last_error.clear();
            }
        }
    }
    let mode = *stop_rx.borrow();
    if mode == Some(StopMode::EndOfTarget) {
        // After the last written slot, so the markers sort after its samples.
        let ts = last_slot.map_or(p.clock.now().0, |s| p.clock.now().0.max(s.0 + 1));
        let mut samples = buffers::take_samples();
        cache.end_of_target(ts, &mut samples);
        if !samples.is_empty() {
            p.sink.append(&samples);
        }
        buffers::give_samples(samples);
    }
}

fn record(m: &JobMetrics, outcome: &super::cache::ScrapeOutcome, elapsed: Duration) {
    m.scrapes.inc();
    m.duration.observe(elapsed.as_secs_f64());
    m.samples_scraped.inc_by(outcome.stats.scraped);
    m.samples_post_relabel.inc_by(outcome.stats.post_relabel);
    m.series_added.inc_by(outcome.stats.series_added);
    if let Some(e) = &outcome.error {
        m.failed(e.reason());
    }
}
