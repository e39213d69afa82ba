//! The live series map: WAL ref → the scrape cache's [`Series`], shared by the writer and
//! the readers.
//!
//! Why: a reader would otherwise rebuild every series' labels from its Series record (one
//! extra copy of every label set per endpoint). Refs are process-unique, so in a segment
//! written by this process a ref names exactly one `Series`: the writer records it here
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
use std::hash::{BuildHasherDefault, Hasher};

use crate::series::Series;

/// A map keyed by series ref (already unique integers).
pub(crate) type RefMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// Refs per page (a power of two).
const PAGE_BITS: u32 = 12;
const PAGE_LEN: usize = 1 << PAGE_BITS;
/// Refs at or above `PAGE_LEN << MAX_PAGES_BITS` (never allocated by a process in practice)
/// go to a hash map instead of the page table.
const MAX_PAGES_BITS: u32 = 24;

/// One series the writer has logged.
#[derive(Debug, Default)]
struct LiveEntry {
    series: Option<Series>,
    /// The newest segment whose Series record defines it.
    logged_in: u64,
}

/// Entries of `PAGE_LEN` consecutive refs, and how many are occupied.
#[derive(Debug)]
struct Page {
    entries: Box<[LiveEntry]>,
    used: usize,
}

/// Ref → series logged by this process, with the newest segment that logged each (which
/// also tells the writer whether the current segment has it yet).
///
/// Why pages, not a hash map: every sample is looked up twice (writer and reader), and a
/// hash map scatters consecutive refs over a table of megabytes (a cache miss each). Refs
/// are handed out in sequence and a scrape's series were mostly created together, so a
/// table indexed by ref reads memory almost sequentially. A page whose series have all
/// gone is freed.
#[derive(Debug, Default)]
pub(crate) struct LiveSeries {
    pages: Vec<Option<Page>>,
    /// Refs too large for the page table.
    overflow: RefMap<LiveEntry>,
}

impl LiveSeries {
    #[allow(
        clippy::indexing_slicing,
        reason = "the page table was just grown to `page_no`; a page holds PAGE_LEN entries and the index is masked"
    )]
    fn slot(&mut self, id: u64) -> &mut LiveEntry {
        let page_no = id >> PAGE_BITS;
        if page_no >= 1 << MAX_PAGES_BITS {
            return self.overflow.entry(id).or_default();
        }
        let page_no = page_no as usize;
        if self.pages.len() <= page_no {
            self.pages.resize_with(page_no + 1, || None);
        }
        let page = self.pages[page_no].get_or_insert_with(|| Page {
            entries: (0..PAGE_LEN).map(|_| LiveEntry::default()).collect(),
            used: 0,
        });
        let e = &mut page.entries[(id as usize) & (PAGE_LEN - 1)];
        if e.series.is_none() {
            page.used += 1;
        }
        e
    }

    /// True if `s` has no Series record in segment `seg` yet; marks it as logged there.
    pub fn needs_record(&mut self, s: &Series, seg: u64) -> bool {
        let e = self.slot(s.id().0);
        match &e.series {
            Some(old) if Series::ptr_eq(old, s) => {}
            _ => e.series = Some(s.clone()),
        }
        let first = e.logged_in != seg;
        e.logged_in = seg;
        first
    }

    /// The series of ref `id` in a segment written by this process.
    pub fn get(&self, id: u64) -> Option<&Series> {
        let page_no = id >> PAGE_BITS;
        let e = if page_no >= 1 << MAX_PAGES_BITS {
            self.overflow.get(&id)?
        } else {
            let page = self.pages.get(page_no as usize)?.as_ref()?;
            page.entries.get((id as usize) & (PAGE_LEN - 1))?
        };
        e.series.as_ref()
    }

    /// Drops the series whose newest Series record is in a segment before `oldest` (all
    /// deleted); returns how many remain.
    pub fn prune(&mut self, oldest: u64) -> usize {
        let mut left = 0;
        for slot in &mut self.pages {
            let Some(page) = slot else { continue };
            for e in page.entries.iter_mut() {
                if e.series.is_some() && e.logged_in < oldest {
                    e.series = None;
                    page.used -= 1;
                }
            }
            left += page.used;
            if page.used == 0 {
                *slot = None;
            }
        }
        while self.pages.last().is_some_and(Option::is_none) {
            self.pages.pop();
        }
        self.overflow.retain(|_, e| e.logged_in >= oldest);
        left + self.overflow.len()
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
        assert!(Series::ptr_eq(live.get(a.id().0).unwrap(), &a));

        let b_id = b.id().0;
        drop(b);
        let b = live
            .get(b_id)
            .expect("kept while a segment that logged it is on disk");
        assert_eq!(b.labels().get("__name__"), Some("b"));
        assert_eq!(live.prune(1), 2);
        assert_eq!(live.prune(2), 1, "segment 1 is gone, and with it b");
        assert!(live.get(b_id).is_none());
        assert!(live.get(a.id().0).is_some());
        assert!(live.get(u64::MAX).is_none());
        assert_eq!(live.prune(3), 0);
        assert!(live.pages.is_empty(), "empty pages are freed");
    }

    #[test]
    fn huge_refs_use_the_overflow_map() {
        let mut live = LiveSeries::default();
        let s = Series::restored(
            crate::series::SeriesRef(u64::MAX - 1),
            Labels::from_pairs([("a", "b")]),
        );
        assert!(live.needs_record(&s, 1));
        assert!(!live.needs_record(&s, 1));
        assert!(live.pages.is_empty());
        assert!(Series::ptr_eq(live.get(s.id().0).unwrap(), &s));
        assert_eq!(live.prune(2), 0);
        assert!(live.get(s.id().0).is_none());
    }
}
