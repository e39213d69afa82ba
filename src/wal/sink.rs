//! [`WalSink`]: the scrape loops' sink when the WAL is on.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::metrics::{WalDropReason, WalMetrics};
use super::writer::Wal;
use crate::series::{Sample, SampleSink};

/// At most one write-failure warning in this interval.
const WARN_INTERVAL: Duration = Duration::from_secs(10);

/// Appends each scrape to the WAL. A failed write (disk full, I/O error) drops that scrape's
/// samples, counts them (`reason="write_error"`) and logs at most every 10 s; it never
/// panics and never stops scraping. The next append tries again in a new segment.
///
/// Blocking: one `write(2)` to the page cache under a short lock; fsync happens elsewhere.
#[derive(Debug)]
pub struct WalSink {
    wal: Arc<Wal>,
    metrics: WalMetrics,
    /// Last warning and drops since, for rate-limited logging.
    warned: Mutex<(Option<Instant>, u64)>,
}

impl WalSink {
    /// A sink writing to `wal`, counting drops in `metrics`.
    pub fn new(wal: Arc<Wal>, metrics: WalMetrics) -> Self {
        Self {
            wal,
            metrics,
            warned: Mutex::new((None, 0)),
        }
    }
}

impl SampleSink for WalSink {
    fn append(&self, samples: &[Sample]) {
        let Err(e) = self.wal.append(samples) else {
            return;
        };
        let n = samples.len() as u64;
        self.metrics.drop("", WalDropReason::write_error, n);
        let mut w = self.warned.lock().unwrap_or_else(|e| e.into_inner());
        w.1 += n;
        let now = crate::model::clock::monotonic_now();
        if w.0.is_none_or(|t| now.duration_since(t) >= WARN_INTERVAL) {
            tracing::warn!(error = %e, dropped = w.1, "wal write failed; dropping samples");
            *w = (Some(now), 0);
        }
    }
}
