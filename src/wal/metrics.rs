//! Self-metrics of the WAL: writer side, and per reader (endpoint).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Why samples were lost on their way through the WAL.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum WalDropReason {
    /// The write failed (disk full, I/O error): never reached the WAL.
    write_error,
    /// Deleted by the disk bound before this reader consumed them.
    disk_bound,
    /// The series of the sample could not be resolved (its Series record was damaged).
    unknown_series,
}

/// Why segments were deleted.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DeleteReason {
    /// Every reader had committed past it.
    truncated,
    /// The disk bound was exceeded.
    disk_bound,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DropLabels {
    /// Reader id, empty for drops before the WAL.
    pub endpoint: String,
    pub reason: WalDropReason,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DeleteLabels {
    pub reason: DeleteReason,
}

/// Kind of a WAL record, as a label value.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum RecordKind {
    series,
    samples,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RecordLabels {
    pub kind: RecordKind,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReaderLabels {
    pub endpoint: String,
}

/// WAL metrics (Arc-based, cheap to clone).
#[derive(Clone, Debug)]
pub struct WalMetrics {
    pub(crate) bytes_written: Counter,
    pub(crate) segments: Gauge,
    pub(crate) live_series: Gauge,
    pub(crate) fsync_duration: Histogram,
    pub(crate) fsync_errors: Counter,
    pub(crate) records: Family<RecordLabels, Counter>,
    pub(crate) samples_appended: Counter,
    pub(crate) corruptions: Counter,
    pub(crate) segments_deleted: Family<DeleteLabels, Counter>,
    pub(crate) samples_dropped: Family<DropLabels, Counter>,
    pub(crate) reader_lag_samples: Family<ReaderLabels, Gauge>,
    pub(crate) reader_lag_seconds: Family<ReaderLabels, Gauge<f64, AtomicU64>>,
}

impl WalMetrics {
    /// Registers the metrics under `shoal_wal_*`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        let r = registry.sub_registry_with_prefix("shoal_wal");
        r.register(
            "bytes_written",
            "Bytes written to WAL segments",
            m.bytes_written.clone(),
        );
        r.register("segments", "WAL segment files on disk", m.segments.clone());
        r.register(
            "live_series",
            "Series defined in WAL segments on disk and held in memory for the readers (as of the last truncation)",
            m.live_series.clone(),
        );
        r.register(
            "fsync_duration_seconds",
            "Duration of WAL fsyncs",
            m.fsync_duration.clone(),
        );
        r.register("fsync_errors", "Failed WAL fsyncs", m.fsync_errors.clone());
        r.register(
            "records_appended",
            "WAL records appended, by type",
            m.records.clone(),
        );
        r.register(
            "samples_appended",
            "Samples appended to the WAL",
            m.samples_appended.clone(),
        );
        r.register(
            "corruptions",
            "Damaged WAL records found (at open or by a reader)",
            m.corruptions.clone(),
        );
        r.register(
            "segments_deleted",
            "WAL segments deleted, by reason",
            m.segments_deleted.clone(),
        );
        r.register(
            "samples_dropped",
            "Samples lost in the WAL, by endpoint (reader) and reason",
            m.samples_dropped.clone(),
        );
        r.register(
            "reader_lag_samples",
            "Samples appended but not yet committed by the reader",
            m.reader_lag_samples.clone(),
        );
        r.register(
            "reader_lag_seconds",
            "Newest appended sample timestamp minus newest committed one",
            m.reader_lag_seconds.clone(),
        );
        m
    }

    /// Metrics not attached to any registry (tests, benchmarks).
    pub fn unregistered() -> Self {
        Self {
            bytes_written: Counter::default(),
            segments: Gauge::default(),
            live_series: Gauge::default(),
            // 100 µs .. ~13 s.
            fsync_duration: Histogram::new(exponential_buckets(0.0001, 2.0, 18)),
            fsync_errors: Counter::default(),
            records: Family::default(),
            samples_appended: Counter::default(),
            corruptions: Counter::default(),
            segments_deleted: Family::default(),
            samples_dropped: Family::default(),
            reader_lag_samples: Family::default(),
            reader_lag_seconds: Family::default(),
        }
    }

    /// Samples dropped for `endpoint` (empty: before the WAL) and `reason`, so far.
    pub fn dropped(&self, endpoint: &str, reason: WalDropReason) -> u64 {
        self.samples_dropped
            .get_or_create(&DropLabels {
                endpoint: endpoint.to_owned(),
                reason,
            })
            .get()
    }

    /// Damaged records found so far.
    pub fn corruptions(&self) -> u64 {
        self.corruptions.get()
    }

    pub(crate) fn drop(&self, endpoint: &str, reason: WalDropReason, n: u64) {
        if n > 0 {
            self.samples_dropped
                .get_or_create(&DropLabels {
                    endpoint: endpoint.to_owned(),
                    reason,
                })
                .inc_by(n);
        }
    }

    pub(crate) fn deleted(&self, reason: DeleteReason) {
        self.segments_deleted
            .get_or_create(&DeleteLabels { reason })
            .inc();
        self.segments.dec();
    }
}
