//! The synthetic series every scrape writes about itself (`up`, `scrape_duration_seconds`,
//! ...), labelled with the target labels only (no metric relabeling, no honor_labels).

use std::sync::Arc;
use std::time::Duration;

use crate::labels::{Labels, METRIC_NAME};
use crate::series::{Sample, Series, stale_nan};

/// What one scrape reports about itself.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ScrapeStats {
    /// Samples in the exposition (`scrape_samples_scraped`).
    pub scraped: u64,
    /// Samples kept after metric relabeling (`scrape_samples_post_metric_relabeling`).
    pub post_relabel: u64,
    /// Series seen for the first time (`scrape_series_added`).
    pub series_added: u64,
}

/// The five synthetic series of one target, built once.
#[derive(Debug, Clone)]
pub struct ReportSeries {
    up: Series,
    duration: Series,
    scraped: Series,
    post_relabel: Series,
    added: Series,
}

impl ReportSeries {
    /// The synthetic series of a target whose series labels are `target_labels` (kept
    /// once, shared with the target's other series).
    pub fn new(target_labels: &Arc<Labels>) -> Self {
        let make = |name: &str| {
            let mut b = target_labels.to_builder();
            b.set(METRIC_NAME, name);
            Series::with_shared(b.build(), target_labels)
        };
        ReportSeries {
            up: make("up"),
            duration: make("scrape_duration_seconds"),
            scraped: make("scrape_samples_scraped"),
            post_relabel: make("scrape_samples_post_metric_relabeling"),
            added: make("scrape_series_added"),
        }
    }

    /// Appends the report of one scrape at `ts`.
    pub fn append(
        &self,
        ts: i64,
        up: bool,
        duration: Duration,
        stats: ScrapeStats,
        out: &mut Vec<Sample>,
    ) {
        let values = [
            (&self.up, if up { 1.0 } else { 0.0 }),
            (&self.duration, duration.as_secs_f64()),
            (&self.scraped, stats.scraped as f64),
            (&self.post_relabel, stats.post_relabel as f64),
            (&self.added, stats.series_added as f64),
        ];
        for (series, value) in values {
            out.push(Sample {
                series: series.clone(),
                timestamp: ts,
                value,
            });
        }
    }

    /// Appends staleness markers for the five series at `ts`.
    pub fn append_stale(&self, ts: i64, out: &mut Vec<Sample>) {
        for series in [
            &self.up,
            &self.duration,
            &self.scraped,
            &self.post_relabel,
            &self.added,
        ] {
            out.push(Sample {
                series: series.clone(),
                timestamp: ts,
                value: stale_nan(),
            });
        }
    }
}
