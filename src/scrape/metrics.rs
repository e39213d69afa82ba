//! Self-metrics of the scrape stage, grouped by job.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type LabelSet = Vec<(String, String)>;
type HistogramFamily = Family<LabelSet, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    // 1 ms .. ~65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// Metrics of every scrape pool and loop.
#[derive(Clone)]
pub struct ScrapeMetrics {
    scrapes: Family<LabelSet, Counter>,
    failures: Family<LabelSet, Counter>,
    duration: HistogramFamily,
    samples_scraped: Family<LabelSet, Counter>,
    samples_post_relabel: Family<LabelSet, Counter>,
    series_added: Family<LabelSet, Counter>,
    slots_skipped: Family<LabelSet, Counter>,
    handoffs: Family<LabelSet, Counter>,
    active_targets: Family<LabelSet, Gauge>,
    sync_duration: HistogramFamily,
}

impl ScrapeMetrics {
    /// Registers the scrape metrics in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = ScrapeMetrics {
            scrapes: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            samples_scraped: Family::default(),
            samples_post_relabel: Family::default(),
            series_added: Family::default(),
            slots_skipped: Family::default(),
            handoffs: Family::default(),
            active_targets: Family::default(),
            sync_duration: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
        };
        registry.register("shoal_scrapes", "Scrapes attempted", m.scrapes.clone());
        registry.register(
            "shoal_scrape_failures",
            "Failed scrapes, by reason",
            m.failures.clone(),
        );
        registry.register(
            "shoal_scrape_duration_seconds",
            "Duration of scrapes (fetch and parse)",
            m.duration.clone(),
        );
        registry.register(
            "shoal_scrape_samples_scraped",
            "Samples exposed by targets",
            m.samples_scraped.clone(),
        );
        registry.register(
            "shoal_scrape_samples_post_metric_relabeling",
            "Samples kept after metric relabeling",
            m.samples_post_relabel.clone(),
        );
        registry.register(
            "shoal_scrape_series_added",
            "Series seen for the first time by a scrape loop",
            m.series_added.clone(),
        );
        registry.register(
            "shoal_scrape_slots_skipped",
            "Scrape slots skipped because another peer owns them",
            m.slots_skipped.clone(),
        );
        registry.register(
            "shoal_cluster_handoffs",
            "Targets whose slot ownership moved to (in) or away from (out) this peer",
            m.handoffs.clone(),
        );
        registry.register(
            "shoal_scrape_active_targets",
            "Targets with a running scrape loop",
            m.active_targets.clone(),
        );
        registry.register(
            "shoal_scrape_target_sync_duration_seconds",
            "Time to reconcile a job's targets with discovery",
            m.sync_duration.clone(),
        );
        m
    }

    /// Handles for one job, resolved once so that loops do not look labels up per scrape.
    pub fn job(&self, job: &str) -> JobMetrics {
        let l: LabelSet = vec![("job".to_owned(), job.to_owned())];
        JobMetrics {
            job: job.to_owned(),
            failures: self.failures.clone(),
            scrapes: self.scrapes.get_or_create_owned(&l),
            duration: self.duration.get_or_create_owned(&l),
            samples_scraped: self.samples_scraped.get_or_create_owned(&l),
            samples_post_relabel: self.samples_post_relabel.get_or_create_owned(&l),
            series_added: self.series_added.get_or_create_owned(&l),
            slots_skipped: self.slots_skipped.get_or_create_owned(&l),
            handoffs_in: self.handoffs.get_or_create_owned(&direction(job, "in")),
            handoffs_out: self.handoffs.get_or_create_owned(&direction(job, "out")),
            active_targets: self.active_targets.get_or_create_owned(&l),
            sync_duration: self.sync_duration.get_or_create_owned(&l),
        }
    }
}

fn direction(job: &str, direction: &str) -> LabelSet {
    vec![
        ("job".to_owned(), job.to_owned()),
        ("direction".to_owned(), direction.to_owned()),
    ]
}

/// The metrics of one job.
#[derive(Clone)]
pub struct JobMetrics {
    job: String,
    failures: Family<LabelSet, Counter>,
    /// Scrapes attempted.
    pub scrapes: Counter,
    /// Scrape durations.
    pub duration: Histogram,
    /// Samples exposed.
    pub samples_scraped: Counter,
    /// Samples kept after metric relabeling.
    pub samples_post_relabel: Counter,
    /// New series.
    pub series_added: Counter,
    /// Slots owned by another peer.
    pub slots_skipped: Counter,
    /// Targets whose next slot became ours after another peer's.
    pub handoffs_in: Counter,
    /// Targets whose next slot became another peer's after ours.
    pub handoffs_out: Counter,
    /// Running loops.
    pub active_targets: Gauge,
    /// Target sync durations.
    pub sync_duration: Histogram,
}

impl JobMetrics {
    /// Counts a failed scrape (cold path: a failure allocates its label set).
    pub fn failed(&self, reason: &'static str) {
        self.failures
            .get_or_create(&vec![
                ("job".to_owned(), self.job.clone()),
                ("reason".to_owned(), reason.to_owned()),
            ])
            .inc();
    }

    /// Handles registered nowhere (tests).
    pub fn unregistered(job: &str) -> Self {
        ScrapeMetrics::new(&mut Registry::default()).job(job)
    }
}
