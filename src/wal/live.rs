//! The live series map: WAL ref → the scrape cache's [`Series`], shared by the writer and
//! the readers.
//!
//! Why: a reader would otherwise rebuild every series' labels from its Series record (one
//! extra copy of every label set per endpoint). Refs are process-unique, so in a segment
//! written by this process a ref names exactly one `Arc<Series>`: the writer records it here
//! as it logs the series, and readers resolve samples of this process's segments through the
//! map, never decoding labels. Segments of an earlier process (replay after a restart) are
//! still decoded from their Series records, by each reader, one segment at a time.
//!
//! Memory: one entry per series logged in a segment still on disk. An entry holds its series
//! (a reader far behind may still need a series the scrape cache has dropped) until the last
//! segment that logged it is deleted ([`LiveSeries::prune`] on truncation and on the disk
//! bound): in steady state about two segments' worth of series; during an outage, the
//! series of the backlog on disk (labels only, never samples).

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::series::Series;

/// A map keyed by series ref (already unique integers).
pub(crate) type RefMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// One series the writer has logged.
#[derive(Debug)]
struct LiveEntry {
    series: Arc<Series>,
    /// The newest segment whose Series record defines it.
    logged_in: u64,
}

/// Ref → series logged by this process, with the newest segment that logged each (which
/// also tells the writer whether the current segment has it yet).
#[derive(Debug, Default)]
pub(crate) struct LiveSeries {
    map: RefMap<LiveEntry>,
}

impl LiveSeries {
    /// True if `s` has no Series record in segment `seg` yet; marks it as logged there.
    pub fn needs_record(&mut self, s: &Arc<Series>, seg: u64) -> bool {
        match self.map.entry(s.id.0) {
            Entry::Occupied(mut e) => {
                let e = e.get_mut();
                if !Arc::ptr_eq(&e.series, s) {
                    e.series = s.clone();
                }
                let first = e.logged_in != seg;
                e.logged_in = seg;
                first
            }
            Entry::Vacant(v) => {
                v.insert(LiveEntry {
                    series: s.clone(),
                    logged_in: seg,
                });
                true
            }
        }
    }

    /// The series of ref `id` in a segment written by this process.
    pub fn get(&self, id: u64) -> Option<&Arc<Series>> {
        self.map.get(&id).map(|e| &e.series)
    }

    /// Drops the series whose newest Series record is in a segment before `oldest` (all
    /// deleted); returns how many entries remain.
    pub fn prune(&mut self, oldest: u64) -> usize {
        self.map.retain(|_, e| e.logged_in >= oldest);
        if self.map.capacity() > 2 * self.map.len() + 1024 {
            self.map.shrink_to_fit();
        }
        self.map.len()
    }
}

/// Hasher for series refs (already unique integers): one multiply instead of SipHash.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;

    #[test]
    fn logs_once_per_segment_and_prunes_with_the_segments() {
        let mut live = LiveSeries::default();
        let a = Series::new(Labels::from_pairs([("__name__", "a")]));
        let b = Series::new(Labels::from_pairs([("__name__", "b")]));
        assert!(live.needs_record(&a, 1));
        assert!(!live.needs_record(&a, 1));
        assert!(live.needs_record(&b, 1));
        assert!(live.needs_record(&a, 2), "a new segment logs it again");
        assert!(Arc::ptr_eq(live.get(a.id.0).unwrap(), &a));

        let b_id = b.id.0;
        drop(b);
        let b = live
            .get(b_id)
            .expect("kept while a segment that logged it is on disk");
        assert_eq!(b.labels.get("__name__"), Some("b"));
        assert_eq!(live.prune(1), 2);
        assert_eq!(live.prune(2), 1, "segment 1 is gone, and with it b");
        assert!(live.get(b_id).is_none());
        assert!(live.get(a.id.0).is_some());
        assert!(live.get(u64::MAX).is_none());
    }
}
