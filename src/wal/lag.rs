//! A reader's lag gauges: how many samples, and how many seconds of data, the WAL holds
//! past what the endpoint has committed.

use std::collections::VecDeque;

use super::Position;
use super::metrics::{ReaderLabels, WalMetrics};
use super::writer::Head;

/// Read batches remembered until committed (older ones are forgotten: the gauges then
/// move at the next batch that is remembered).
const INFLIGHT_KEPT: usize = 1024;

/// Lag accounting of one reader.
pub(crate) struct Lag {
    labels: ReaderLabels,
    metrics: WalMetrics,
    /// (end of a read batch, samples before it, newest timestamp read), not yet committed.
    inflight: VecDeque<(Position, u64, i64)>,
    /// Newest sample timestamp read so far.
    newest_read_ts: i64,
    /// Samples before, and newest timestamp at, the last committed position.
    committed_at: Option<(u64, i64)>,
}

impl Lag {
    /// Gauges of the reader `endpoint`.
    pub fn new(endpoint: &str, metrics: WalMetrics) -> Lag {
        Lag {
            labels: ReaderLabels {
                endpoint: endpoint.to_owned(),
            },
            metrics,
            inflight: VecDeque::new(),
            newest_read_ts: i64::MIN,
            committed_at: None,
        }
    }

    /// Notes a sample timestamp read.
    pub fn saw(&mut self, newest_ts: i64) {
        self.newest_read_ts = self.newest_read_ts.max(newest_ts);
    }

    /// Notes a read batch ending at `end`, with `samples_before` samples before it.
    pub fn read(&mut self, end: Position, samples_before: u64) {
        if self.inflight.len() >= INFLIGHT_KEPT {
            self.inflight.pop_front();
        }
        self.inflight
            .push_back((end, samples_before, self.newest_read_ts));
    }

    /// Updates the gauges after a commit of `committed`; `position` is the read position
    /// and `samples_before` the samples before it.
    pub fn committed(
        &mut self,
        committed: Position,
        position: Position,
        samples_before: u64,
        head: &Head,
    ) {
        let mut done = None;
        while let Some(&(p, samples, ts)) = self.inflight.front() {
            if p > committed {
                break;
            }
            done = Some((samples, ts));
            self.inflight.pop_front();
        }
        if let Some((samples, ts)) = done {
            self.committed_at = Some((samples, ts));
            self.set(head, samples, Some(ts));
        } else if self.inflight.is_empty() && committed == position {
            self.committed_at = Some((samples_before, self.newest_read_ts));
            self.set(head, samples_before, None);
        }
    }

    /// Updates the gauges while nothing gets committed (an outage): the writer moves on,
    /// the committed position does not.
    pub fn refresh(&self, head: &Head) {
        if let Some((samples, ts)) = self.committed_at {
            self.set(head, samples, (ts != i64::MIN).then_some(ts));
        }
    }

    fn set(&self, head: &Head, samples: u64, ts: Option<i64>) {
        let lag = head.samples.saturating_sub(samples);
        self.metrics
            .reader_lag_samples
            .get_or_create(&self.labels)
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
        if let Some(ts) = ts {
            let secs = (head.newest_ts.saturating_sub(ts)).max(0) as f64 / 1000.0;
            self.metrics
                .reader_lag_seconds
                .get_or_create(&self.labels)
                .set(secs);
        }
    }
}
