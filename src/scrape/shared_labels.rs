//! The label runs a target's series share: the target's labels plus one metric name.
//!
//! Why: a series keeps in its own allocation only what no other series of its target has.
//! Most of a series' bytes are its target's labels and its metric name (histogram buckets
//! repeat a long name a dozen times), so each target keeps one run per metric name, and its
//! series point to it ([`Series::with_shared`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::labels::{Labels, LabelsBuilder, METRIC_NAME};
use crate::series::Series;

/// Per target: metric name → target labels + `__name__`.
#[derive(Debug, Default)]
pub(crate) struct SharedRuns {
    /// The target labels the runs were built from (a reload may bring others).
    target: Option<Arc<Labels>>,
    by_name: HashMap<Box<str>, Arc<Labels>>,
}

impl SharedRuns {
    /// A series for `labels` (final labels of a new series), sharing what it can.
    pub fn series(&mut self, labels: Labels, target: &Arc<Labels>) -> Series {
        if !self.target.as_ref().is_some_and(|t| Arc::ptr_eq(t, target)) {
            self.by_name.clear();
            self.target = Some(Arc::clone(target));
        }
        let Some(name) = labels.metric_name() else {
            return Series::with_shared(labels, target);
        };
        let run = match self.by_name.get(name) {
            Some(run) => Arc::clone(run),
            None => {
                let mut b: LabelsBuilder = target.to_builder();
                b.set(METRIC_NAME, name);
                let run = Arc::new(b.build());
                self.by_name.insert(name.into(), Arc::clone(&run));
                run
            }
        };
        Series::with_shared(labels, &run)
    }

    /// Forgets runs that no series holds any more (after series vanished).
    pub fn prune(&mut self) {
        self.by_name.retain(|_, run| Arc::strong_count(run) > 1);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.by_name.clear();
    }

    /// Number of metric names with a run.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_name.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_of_one_name_share_one_run() {
        let target = Arc::new(Labels::from_pairs([("instance", "h:1"), ("job", "j")]));
        let mut runs = SharedRuns::default();
        let full = |name: &str, le: &str| {
            Labels::from_pairs([
                ("__name__", name),
                ("instance", "h:1"),
                ("job", "j"),
                ("le", le),
            ])
        };
        let a = runs.series(full("m_bucket", "1"), &target);
        let b = runs.series(full("m_bucket", "2"), &target);
        let c = runs.series(full("other", "1"), &target);
        assert_eq!(runs.len(), 2);
        for (s, want) in [(&a, full("m_bucket", "1")), (&b, full("m_bucket", "2"))] {
            assert_eq!(s.labels().to_labels(), want);
            // Only `le` is the series' own.
            assert_eq!(s.labels().as_single_run(), None);
        }
        // A series whose relabeling dropped `job` keeps everything itself.
        let d = runs.series(
            Labels::from_pairs([("__name__", "m_bucket"), ("instance", "h:1")]),
            &target,
        );
        assert!(d.labels().as_single_run().is_some());
        drop((a, b, d));
        runs.prune();
        assert_eq!(runs.len(), 1, "only `other` is still held");
        drop(c);
        // New target labels (a reload) start over.
        let t2 = Arc::new(Labels::from_pairs([("instance", "h:2"), ("job", "j")]));
        let e = runs.series(
            Labels::from_pairs([("__name__", "x"), ("instance", "h:2"), ("job", "j")]),
            &t2,
        );
        assert_eq!(runs.len(), 1);
        assert_eq!(e.labels().get("instance"), Some("h:2"));
    }
}
