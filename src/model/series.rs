//! Series and samples: what a scrape hands to storage and remote write.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use triomphe::ThinArc;
use xxhash_rust::xxh3::xxh3_64;

use super::labels::{Labels, LabelsRef};

/// Bit pattern Prometheus uses for a staleness marker (a NaN no exporter produces).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// The canonical NaN every parsed NaN is turned into, so that it is never a stale marker.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// A staleness marker value.
pub fn stale_nan() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// True if `v` is a staleness marker.
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Process-unique identity of a series; never reused while the process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesRef(pub u64);

impl SeriesRef {
    /// Allocates a fresh reference.
    pub fn next() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        SeriesRef(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The fixed part of a series' single allocation.
#[derive(Debug)]
struct Head {
    id: SeriesRef,
    /// xxh3-64 of the whole label set's wire form (remote-write sharding, once per series).
    hash: u64,
    /// The target's labels, shared by all its series; `None` when the series' labels are
    /// all in its own run.
    shared: Option<Arc<Labels>>,
}

/// A series as written: its identity and final labels (after target and metric
/// relabeling). Cloning is a reference-count increment.
///
/// Why this shape: a peer holds one per active series, so its bytes are the agent's memory.
/// One allocation holds the count, the head and the series' own labels (wire form); the
/// labels its target gives every series (`job`, `instance`, discovery labels) are one
/// shared [`Labels`] per target instead of a copy in each series.
#[derive(Clone)]
pub struct Series(ThinArc<Head, u8>);

impl Series {
    /// A new series with a fresh reference, all labels in its own run.
    pub fn new(labels: Labels) -> Series {
        Self::restored(SeriesRef::next(), labels)
    }

    /// A new series whose labels include `shared` (its target's labels) unchanged: those
    /// are kept once per target. Falls back to [`Series::new`] when relabeling or
    /// honor_labels changed or dropped a shared label.
    pub fn with_shared(labels: Labels, shared: &Arc<Labels>) -> Series {
        let hash = xxh3_64(labels.wire_bytes());
        match super::labels::split_off_shared(&labels, shared) {
            Some(own) if !shared.is_empty() => {
                Self::build(SeriesRef::next(), &own, Some(Arc::clone(shared)), hash)
            }
            _ => Self::build(SeriesRef::next(), labels.wire_bytes(), None, hash),
        }
    }

    /// A series read back from a WAL segment of an earlier process, under its ref there.
    pub fn restored(id: SeriesRef, labels: Labels) -> Series {
        let wire = labels.wire_bytes();
        Self::build(id, wire, None, xxh3_64(wire))
    }

    fn build(id: SeriesRef, own: &[u8], shared: Option<Arc<Labels>>, hash: u64) -> Series {
        let head = Head { id, hash, shared };
        Series(ThinArc::from_header_and_slice(head, own))
    }

    /// Identity used by storage and remote-write sharding.
    pub fn id(&self) -> SeriesRef {
        self.0.header.header.id
    }

    /// Final labels, including `__name__`, `job` and `instance`.
    pub fn labels(&self) -> LabelsRef<'_> {
        let shared = self.0.header.header.shared.as_deref();
        LabelsRef::from_runs(&self.0.slice, shared.map_or(&[], |l| l.wire_bytes()))
    }

    /// xxh3-64 of the labels' wire form: stable across restarts, unlike the id.
    pub fn wire_hash(&self) -> u64 {
        self.0.header.header.hash
    }

    /// True when both handles are the same series.
    pub fn ptr_eq(a: &Series, b: &Series) -> bool {
        std::ptr::eq(&*a.0, &*b.0)
    }

    /// True when this handle is the only one left.
    pub fn is_unique(&self) -> bool {
        ThinArc::strong_count(&self.0) == 1
    }
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Series({}, {})", self.id().0, self.labels())
    }
}

/// Milliseconds since the Unix epoch, as in the remote-write protocol.
pub type TimestampMs = i64;

/// One sample of one series. Cloning is a reference-count increment, no allocation.
#[derive(Clone, Debug)]
pub struct Sample {
    /// The series this sample belongs to.
    pub series: Series,
    /// Sample time in milliseconds since the epoch.
    pub timestamp: TimestampMs,
    /// Sample value; [`stale_nan`] marks the end of a series.
    pub value: f64,
}

/// Where scraped samples go (remote-write queues today, the WAL later).
///
/// `append` is called once per scrape with that scrape's samples, in order; it must never
/// block the scrape loop: a sink that cannot keep up drops and counts.
pub trait SampleSink: Send + Sync + 'static {
    /// Takes one scrape's samples.
    fn append(&self, samples: &[Sample]);
}

/// A sink that discards everything (tests, `check config`).
#[derive(Debug, Default, Clone, Copy)]
pub struct DiscardSink;

impl SampleSink for DiscardSink {
    fn append(&self, _samples: &[Sample]) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> Arc<Labels> {
        Arc::new(Labels::from_pairs([("instance", "h:9"), ("job", "j")]))
    }

    #[test]
    fn a_series_that_keeps_its_target_labels_shares_them() {
        let long = "v".repeat(200);
        let full = Labels::from_pairs([
            ("__name__", "m"),
            ("a", "1"),
            ("instance", "h:9"),
            ("job", "j"),
            ("long", long.as_str()),
            ("z", "2"),
        ]);
        let s = Series::with_shared(full.clone(), &target());
        assert!(s.labels().as_single_run().is_none(), "split in two runs");
        assert_eq!(s.labels().to_labels(), full);
        let mut wire = Vec::new();
        s.labels().write_wire(&mut wire);
        assert_eq!(wire, full.wire_bytes());
        assert_eq!(s.labels().wire_len(), full.wire_bytes().len());
        assert_eq!(s.wire_hash(), xxh3_64(full.wire_bytes()));
        assert_eq!(s.labels().to_string(), full.to_string());
        let names: Vec<&str> = s.labels().iter().map(|l| l.name).collect();
        assert_eq!(names, ["__name__", "a", "instance", "job", "long", "z"]);
        assert_eq!(s.labels().get("job"), Some("j"));
        assert_eq!(s.labels().metric_name(), Some("m"));
    }

    #[test]
    fn a_changed_or_dropped_target_label_keeps_all_labels_in_the_series() {
        for full in [
            // honor_labels: the exposed `job` won.
            Labels::from_pairs([("__name__", "m"), ("instance", "h:9"), ("job", "other")]),
            // metric relabeling dropped `instance`.
            Labels::from_pairs([("__name__", "m"), ("job", "j")]),
            Labels::from_pairs([("__name__", "m")]),
        ] {
            let s = Series::with_shared(full.clone(), &target());
            assert_eq!(
                s.labels().as_single_run(),
                Some(full.wire_bytes()),
                "{full}"
            );
            assert_eq!(s.labels().to_labels(), full);
            assert_eq!(s.wire_hash(), Series::new(full.clone()).wire_hash());
        }
    }

    #[test]
    fn handles_are_one_series() {
        let s = Series::new(Labels::from_pairs([("__name__", "m")]));
        assert!(s.is_unique());
        let t = s.clone();
        assert!(Series::ptr_eq(&s, &t) && !s.is_unique());
        assert_ne!(Series::new(Labels::empty()).id(), s.id());
        let r = Series::restored(SeriesRef(7), Labels::from_pairs([("a", "b")]));
        assert_eq!(r.id(), SeriesRef(7));
    }
}
