//! The WAL reader task of one endpoint: reads batches from the WAL, pushes them into the
//! shards (waiting while a shard is full: the WAL holds the backlog on disk, so memory stays
//! bounded whatever the outage), and commits the reader's position once everything before it
//! has been acknowledged by the receiver.
//!
//! Acknowledgement tracking: each shard counts samples pushed and samples finished, both in
//! FIFO order. After a batch is pushed, the task remembers (batch end position, pushed count
//! of every shard). A batch is acknowledged once every shard's finished count has reached
//! its snapshot; commits go up to the last acknowledged batch, about once a second (a commit
//! fsyncs).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::metrics::EndpointMetrics;
use super::shard::{Mode, Push, ShardBuffer};
use crate::series::Sample;
use crate::wal::{Position, ReaderError, StartAt, Wal, WalReader};

/// How often acknowledged positions are committed.
const COMMIT_INTERVAL: Duration = Duration::from_secs(1);
/// Samples read from the WAL per batch.
const READ_BATCH: usize = 2000;
/// Retry interval while another queue (replaced by a reload) still holds the reader id, or
/// after a read error.
const RETRY_INTERVAL: Duration = Duration::from_millis(200);

/// The reader id of an endpoint: stable across restarts, a valid file name.
pub(crate) fn reader_id(url: &str, name: Option<&str>) -> String {
    let mut key = Vec::with_capacity(url.len() + 1 + name.map_or(0, str::len));
    key.extend_from_slice(url.as_bytes());
    key.push(0);
    key.extend_from_slice(name.unwrap_or_default().as_bytes());
    format!("rw-{:016x}", xxhash_rust::xxh3::xxh3_64(&key))
}

/// The shard of a sample: a hash of its labels' wire bytes, so that the same series goes to
/// the same shard across restarts (where its ref changes).
pub(crate) fn shard_of_labels(wire: &[u8], shards: usize) -> usize {
    (xxhash_rust::xxh3::xxh3_64(wire) % shards.max(1) as u64) as usize
}

/// Everything the reader task needs.
pub(crate) struct WalFeed {
    pub wal: Arc<Wal>,
    pub id: String,
    pub start: StartAt,
    pub url: Arc<str>,
    pub shards: Vec<Arc<ShardBuffer>>,
    pub metrics: EndpointMetrics,
    /// Running → Draining (read to the head, then drain the shards) → Aborted.
    pub control: watch::Receiver<Mode>,
    /// The shards' control, which this task moves to Draining once all is pushed.
    pub shard_control: Arc<watch::Sender<Mode>>,
    /// True once every shard task has ended.
    pub shards_stopped: watch::Receiver<bool>,
}

/// A pushed batch awaiting acknowledgement.
struct Pending {
    end: Position,
    pushed: Vec<u64>,
}

impl WalFeed {
    /// Runs until drained or aborted; commits what was acknowledged on the way out.
    pub async fn run(mut self) {
        let Some(mut reader) = self.open().await else {
            // Aborted before the reader could be opened: the shards have nothing.
            self.shard_control.send_replace(Mode::Draining);
            return;
        };
        tracing::info!(url = %self.url, reader = %self.id, position = ?reader.position(), "remote write reading the wal");
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut batch: Vec<Sample> = Vec::with_capacity(READ_BATCH);
        // Next sample of `batch` to push, and the batch's end position until all is pushed.
        let mut next = 0usize;
        let mut batch_end: Option<Position> = None;
        let mut last_commit = Instant::now();
        loop {
            let mode = *self.control.borrow_and_update();
            if mode == Mode::Aborted {
                break;
            }
            if last_commit.elapsed() >= COMMIT_INTERVAL {
                self.commit_acked(&mut reader, &mut pending);
                last_commit = Instant::now();
            }
            let tick = tokio::time::sleep_until(last_commit + COMMIT_INTERVAL);
            if let Some(full) = self.push_from(&batch, &mut next) {
                let Some(shard) = self.shards.get(full).cloned() else {
                    break;
                };
                tokio::select! {
                    _ = shard.space() => {}
                    _ = tick => {}
                    _ = self.control.changed() => {}
                }
                continue;
            }
            if next < batch.len() {
                // A shard is closed: the queue is stopping.
                break;
            }
            if let Some(end) = batch_end.take() {
                // Taken after the whole batch is pushed: acknowledged once every shard
                // has finished this many.
                let pushed = self.shards.iter().map(|s| s.pushed()).collect();
                pending.push_back(Pending { end, pushed });
            }
            batch.clear();
            next = 0;
            let before = reader.position();
            match reader.read(&mut batch, READ_BATCH) {
                Ok(end) if end != before || !batch.is_empty() => batch_end = Some(end),
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(url = %self.url, error = %e, "wal read failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                        _ = self.control.changed() => {}
                    }
                    continue;
                }
            }
            if batch_end.is_none() {
                if mode == Mode::Draining {
                    // Caught up with the head after scraping stopped.
                    break;
                }
                tokio::select! {
                    _ = reader.wait() => {}
                    _ = tick => {}
                    _ = self.control.changed() => {}
                }
            }
        }
        self.finish(&mut reader, &mut pending).await;
    }

    /// Opens the reader, retrying while a queue replaced by a reload still holds its id.
    async fn open(&mut self) -> Option<WalReader> {
        let mut logged = false;
        loop {
            match self.wal.reader(&self.id, self.start) {
                Ok(r) => return Some(r),
                // A queue replaced by a reload drains first, then releases the id.
                Err(e @ ReaderError::InUse { .. }) if !logged => {
                    tracing::debug!(url = %self.url, error = %e, "waiting for the previous queue to release the wal reader");
                    logged = true;
                }
                Err(e) if !logged => {
                    tracing::error!(url = %self.url, error = %e, "cannot open wal reader; retrying");
                    logged = true;
                }
                Err(_) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                changed = self.control.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
            }
            // Stopping before the reader was free: the backlog stays for the next start.
            if *self.control.borrow() != Mode::Running {
                return None;
            }
        }
    }

    fn shard_of(&self, s: &Sample) -> usize {
        shard_of_labels(s.series.labels.wire_bytes(), self.shards.len())
    }

    /// Pushes `batch[*next..]` in order; stops at the first sample whose shard is full
    /// (returns that shard) or closed (returns None with `*next` short of the end).
    fn push_from(&self, batch: &[Sample], next: &mut usize) -> Option<usize> {
        let mut queued = 0i64;
        let mut full = None;
        while let Some(s) = batch.get(*next) {
            let i = self.shard_of(s);
            match self.shards.get(i).map(|shard| shard.push(s)) {
                Some(Push::Queued) => queued += 1,
                Some(Push::Full) => {
                    full = Some(i);
                    break;
                }
                Some(Push::Closed) | None => break,
            }
            *next += 1;
        }
        self.metrics.queue_length.inc_by(queued);
        full
    }

    /// Commits up to the last batch every shard has finished.
    fn commit_acked(&self, reader: &mut WalReader, pending: &mut VecDeque<Pending>) {
        let done: Vec<u64> = self.shards.iter().map(|s| s.done()).collect();
        let mut acked = None;
        while let Some(p) = pending.front() {
            if p.pushed.iter().zip(&done).any(|(p, d)| d < p) {
                break;
            }
            acked = Some(p.end);
            pending.pop_front();
        }
        if let Some(pos) = acked
            && let Err(e) = reader.commit(pos)
        {
            // The position stays behind: a restart resends (duplicates, never a gap).
            tracing::error!(url = %self.url, error = %e, "wal reader commit failed");
        }
    }

    /// Drains the shards (unless aborted), waits for them to end and commits what they
    /// acknowledged; the rest stays in the WAL for the next start.
    async fn finish(&mut self, reader: &mut WalReader, pending: &mut VecDeque<Pending>) {
        self.shard_control.send_if_modified(|m| {
            let start = *m == Mode::Running;
            if start {
                *m = Mode::Draining;
            }
            start
        });
        let _ = self.shards_stopped.wait_for(|s| *s).await;
        self.commit_acked(reader, pending);
        tracing::info!(url = %self.url, committed = ?reader.committed(), unacknowledged_batches = pending.len(), "remote write wal reader stopped");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_ids_are_stable_valid_and_distinct() {
        let a = reader_id("http://r:9090/api/v1/write", None);
        // Pinned: a changed id would orphan every endpoint's position after an upgrade.
        assert_eq!(a, reader_id("http://r:9090/api/v1/write", Some("")));
        assert_eq!(a, "rw-2be44fe6e914ea7d");
        assert_ne!(a, reader_id("http://r:9090/api/v1/write", Some("x")));
        assert_ne!(
            reader_id("http://r/a", Some("b")),
            reader_id("http://r/ab", None)
        );
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }

    #[test]
    fn shards_by_labels_are_balanced_and_stable() {
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            let labels = crate::labels::Labels::from_pairs([("i", i.to_string().as_str())]);
            let s = shard_of_labels(labels.wire_bytes(), 4);
            assert_eq!(s, shard_of_labels(labels.wire_bytes(), 4));
            counts[s] += 1;
        }
        for c in counts {
            assert!((800..=1200).contains(&c), "{counts:?}");
        }
        assert_eq!(shard_of_labels(b"x", 1), 0);
    }
}
