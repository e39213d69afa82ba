//! Deleting segments: truncation behind the readers, the disk bound, and forgetting the
//! live series no segment on disk defines any more.

use super::metrics::DeleteReason;
use super::segment;
use super::writer::{BOUND_DELETED_KEPT, Index, Inner};

impl Inner {
    /// Deletes the oldest sealed segments while the WAL is over `max_bytes`.
    pub(crate) fn enforce_bound(&self, head: u64, head_size: u64) {
        let mut idx = self.lock_index();
        let mut total: u64 = head_size
            + idx
                .segs
                .iter()
                .filter(|(s, _)| **s != head)
                .map(|(_, i)| i.bytes)
                .sum::<u64>();
        let mut deleted = false;
        while total > self.opts.max_bytes {
            let Some((&seq, &info)) = idx.segs.first_key_value() else {
                break;
            };
            if seq == head || !self.delete_segment(seq, DeleteReason::disk_bound) {
                break;
            }
            idx.segs.remove(&seq);
            idx.bound_deleted.insert(seq, info.samples);
            while idx.bound_deleted.len() > BOUND_DELETED_KEPT {
                idx.bound_deleted.pop_first();
            }
            total = total.saturating_sub(info.bytes);
            deleted = true;
            tracing::warn!(
                segment = seq,
                samples = info.samples,
                max_bytes = self.opts.max_bytes,
                "wal over its disk bound; deleted the oldest segment"
            );
        }
        if deleted {
            self.prune_live(&idx);
        }
    }

    /// Forgets the series no segment on disk defines any more.
    fn prune_live(&self, idx: &Index) {
        let oldest = idx.segs.keys().next().copied().unwrap_or(u64::MAX);
        let left = self.lock_live().prune(oldest);
        self.metrics.live_series.set(left as i64);
    }

    pub(crate) fn truncate(&self) -> usize {
        let Some(min) = self
            .lock_readers()
            .committed
            .values()
            .map(|p| p.segment)
            .min()
        else {
            return 0;
        };
        let head = self.head.borrow().segment;
        let mut idx = self.lock_index();
        let doomed: Vec<u64> = idx.segs.range(..min.min(head)).map(|(s, _)| *s).collect();
        let mut n = 0;
        for seq in doomed {
            if !self.delete_segment(seq, DeleteReason::truncated) {
                break;
            }
            idx.segs.remove(&seq);
            n += 1;
        }
        if n > 0 {
            self.prune_live(&idx);
            tracing::debug!(segments = n, below = min, "wal truncated");
        }
        n
    }

    /// Removes a segment file; false (logged) if it could not be removed.
    fn delete_segment(&self, seq: u64, reason: DeleteReason) -> bool {
        let path = segment::path(&self.opts.dir, seq);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "cannot delete wal segment");
                return false;
            }
        }
        self.metrics.deleted(reason);
        true
    }
}
