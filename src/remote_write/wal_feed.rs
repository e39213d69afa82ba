//! The WAL reader task of one endpoint: reads batches from the WAL, pushes them into the
//! shards (waiting while a shard is full: the WAL holds the backlog on disk, so memory stays
//! bounded whatever the outage), and stores the reader's progress as the shards finish
//! samples.
//!
//! What may be stored is decided by the pure [`Ledger`] (`delivery.rs`): every sample read
//! is routed through it to its shard, every change of the shards' finished counts goes in,
//! and the progress to store comes out (each change at once without fsync, durably about
//! once a second). After a stop or a crash, the next start skips what the earlier run's
//! shards had delivered past the committed position, so nothing is sent twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::delivery::{Ledger, Route};
use super::metrics::EndpointMetrics;
use super::shard::{Mode, Push, ShardBuffer};
use super::shard_set::{ShardFactory, ShardSet};
use super::sharding::{Observed, ShardCalculator, UPDATE_INTERVAL};
use crate::series::Sample;
use crate::wal::{ReaderError, StartAt, Wal, WalReader};

/// How often the progress is stored durably (fsync).
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

/// The shard of a sample from [`Series::wire_hash`] (xxh3-64 of its labels' wire bytes), so
/// that the same series goes to the same shard across restarts (where its ref changes).
pub(crate) fn shard_of_hash(wire_hash: u64, shards: usize) -> usize {
    (wire_hash % shards.max(1) as u64) as usize
}

/// Everything the reader task needs.
pub(crate) struct WalFeed {
    pub wal: Arc<Wal>,
    pub id: String,
    pub start: StartAt,
    pub url: Arc<str>,
    /// The running shards; replaced by a drained-then-restarted set when resharding.
    pub set: ShardSet,
    pub factory: ShardFactory,
    /// `(min_shards, max_shards)`.
    pub bounds: (usize, usize),
    pub metrics: EndpointMetrics,
    /// Running → Draining (read to the head, then drain the shards) → Aborted.
    pub control: watch::Receiver<Mode>,
}

/// Outcome of moving the read batch into the shards.
enum Pushed {
    All,
    /// This shard is full: wait for it to take samples out.
    Full(Arc<ShardBuffer>),
    Closed,
}

/// Counters at the last shard-count evaluation.
struct Sampled {
    at: Instant,
    appended: u64,
    done: u64,
    send_nanos: u64,
}

impl WalFeed {
    /// Runs until drained or aborted; stores what was delivered on the way out.
    pub async fn run(mut self) {
        let Some(mut reader) = self.open().await else {
            // Aborted before the reader could be opened: the shards have nothing.
            self.set.drain();
            return;
        };
        tracing::info!(url = %self.url, reader = %self.id, position = ?reader.position(), "remote write reading the wal");
        let loaded = reader.delivered().clone();
        // The earlier run's counts are per shard of its shard set: continue with its count.
        if let Some(n) = Ledger::shards_for(&loaded).filter(|n| *n != self.set.buffers.len())
            && self.replace_set(n).await.is_none()
        {
            return;
        }
        let mut ledger = Ledger::new(loaded, self.set.buffers.len());
        if ledger.skipping() {
            tracing::info!(url = %self.url, shards = ledger.shards(), samples = ledger.prior_remaining(), "the last run delivered samples past its committed position; they are not sent again");
        }
        let mut batch: Vec<Sample> = Vec::with_capacity(READ_BATCH);
        // The read batch split by shard, waiting to be moved into the shards.
        let mut per_shard: Vec<VecDeque<Sample>> =
            self.set.buffers.iter().map(|_| VecDeque::new()).collect();
        let mut last_commit = crate::model::clock::monotonic_now();
        let mut calc = ShardCalculator::new(self.bounds.0, self.bounds.1);
        let mut sampled = self.sample(&reader, 0);
        // Samples finished by shard sets already replaced.
        let mut done_before = 0u64;
        loop {
            let mode = *self.control.borrow_and_update();
            if mode == Mode::Aborted {
                break;
            }
            // Every acknowledgement is stored at once (cheaply), durably once per
            // interval: a killed process then resends only the sends in flight.
            let durable = last_commit.elapsed() >= COMMIT_INTERVAL;
            self.commit(&mut reader, &mut ledger, durable);
            if durable {
                last_commit = crate::model::clock::monotonic_now();
            }
            // Reshard only between batches (nothing read waits for a shard) and not while
            // the earlier run's per-shard counts still apply.
            let idle = per_shard.iter().all(VecDeque::is_empty);
            if mode == Mode::Running
                && idle
                && !ledger.skipping()
                && sampled.at.elapsed() >= UPDATE_INTERVAL
            {
                let now = self.sample(&reader, done_before);
                let want = self.desired(&mut calc, &sampled, &now);
                sampled = now;
                if want != self.set.buffers.len() {
                    let Some(old_done) = self.reshard(want, &mut reader, &mut ledger).await else {
                        break;
                    };
                    per_shard = self.set.buffers.iter().map(|_| VecDeque::new()).collect();
                    // The new set counts from zero.
                    done_before += old_done;
                    last_commit = crate::model::clock::monotonic_now();
                    continue;
                }
            }
            let tick = tokio::time::sleep_until(last_commit + COMMIT_INTERVAL);
            match self.push_pending(&mut per_shard) {
                Pushed::All => {}
                Pushed::Full(shard) => {
                    tokio::select! {
                        _ = shard.space() => {}
                        _ = self.set.finished.notified() => {}
                        _ = tick => {}
                        _ = self.control.changed() => {}
                    }
                    continue;
                }
                // A shard is closed: the queue is stopping.
                Pushed::Closed => break,
            }
            let before = reader.position();
            let missing = ledger.begin_batch(before);
            if missing > 0 {
                tracing::warn!(url = %self.url, samples = missing, "samples the last run delivered were not found again (the wal changed); nothing more is skipped");
            }
            let read = match reader.read(&mut batch, READ_BATCH) {
                Ok(end) if end != before || !batch.is_empty() => {
                    route(&mut batch, &mut per_shard, &mut ledger);
                    ledger.end_batch(end);
                    true
                }
                Ok(_) => false,
                Err(e) => {
                    tracing::error!(url = %self.url, error = %e, "wal read failed; retrying");
                    batch.clear();
                    tokio::select! {
                        _ = tokio::time::sleep(RETRY_INTERVAL) => {}
                        _ = self.control.changed() => {}
                    }
                    continue;
                }
            };
            if !read {
                if mode == Mode::Draining {
                    // Caught up with the head after scraping stopped.
                    break;
                }
                tokio::select! {
                    _ = reader.wait() => {}
                    _ = self.set.finished.notified() => {}
                    _ = tick => {}
                    _ = self.control.changed() => {}
                }
            }
        }
        self.finish(&mut reader, &mut ledger).await;
    }

    /// The counters the shard count is computed from.
    fn sample(&self, reader: &WalReader, done_before: u64) -> Sampled {
        Sampled {
            at: crate::model::clock::monotonic_now(),
            appended: reader.appended(),
            done: done_before + self.set.done(),
            send_nanos: self.metrics.send_nanos.load(Ordering::Relaxed),
        }
    }

    /// The shard count for the last interval (the current one while nothing was sent:
    /// an outage is no measure of what the receiver can take).
    fn desired(&self, calc: &mut ShardCalculator, from: &Sampled, to: &Sampled) -> usize {
        let current = self.set.buffers.len();
        let interval = to.at.duration_since(from.at).as_secs_f64();
        let highest = self.metrics.highest_sent_ms();
        let seen = Observed {
            samples_in: to.appended.saturating_sub(from.appended),
            samples_out: to.done.saturating_sub(from.done),
            send_seconds: to.send_nanos.saturating_sub(from.send_nanos) as f64 / 1e9,
            delay_seconds: match highest {
                i64::MIN => 0.0,
                h => self.wal.newest_timestamp().saturating_sub(h).max(0) as f64 / 1000.0,
            },
        };
        let d = calc.update(seen, interval, current);
        self.metrics.desired_shards.set(d.desired);
        if seen.samples_out == 0 {
            return current;
        }
        d.shards
    }

    /// Drains the running set (everything pushed to it is then finished and stored) and
    /// starts `n` shards. Returns what the old set finished, or None if aborted meanwhile.
    async fn reshard(
        &mut self,
        n: usize,
        reader: &mut WalReader,
        ledger: &mut Ledger,
    ) -> Option<u64> {
        let from = self.set.buffers.len();
        tracing::info!(url = %self.url, from, to = n, "resharding remote write");
        self.drain_set().await?;
        let done = self.finished_counts();
        let n = match ledger.reshard(&done, n) {
            Ok(d) => {
                if let Err(e) = reader.store(d, true) {
                    tracing::error!(url = %self.url, error = %e, "wal reader commit failed");
                }
                n
            }
            Err(e) => {
                tracing::error!(url = %self.url, error = %e, "reshard refused; keeping the shard count");
                ledger.shards()
            }
        };
        let old_done = self.set.done();
        self.set = self.factory.start(n);
        Some(old_done)
    }

    /// Replaces the running set (which has nothing pushed yet) by `n` shards; None if
    /// aborted meanwhile.
    async fn replace_set(&mut self, n: usize) -> Option<()> {
        self.drain_set().await?;
        self.set = self.factory.start(n);
        Some(())
    }

    /// Drains the running set and waits for its tasks to end; None if aborted meanwhile.
    async fn drain_set(&mut self) -> Option<()> {
        self.set.drain();
        let mut stopped = self.set.stopped.clone();
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => Some(()),
            _ = self.control.wait_for(|m| *m == Mode::Aborted) => None,
        }
    }

    /// Per shard of the running set, samples finished.
    fn finished_counts(&self) -> Vec<u64> {
        self.set.buffers.iter().map(|s| s.done()).collect()
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

    /// Moves the per-shard queues into the shards, each under one lock.
    fn push_pending(&self, per_shard: &mut [VecDeque<Sample>]) -> Pushed {
        let (mut queued, mut full, mut closed) = (0, None, false);
        for (q, shard) in per_shard.iter_mut().zip(&self.set.buffers) {
            if q.is_empty() {
                continue;
            }
            let len = q.len();
            let r = shard.push_many(q);
            queued += len - q.len();
            match r {
                Push::Queued => {}
                Push::Full => full = full.or_else(|| Some(shard.clone())),
                Push::Closed => {
                    full = None;
                    closed = true;
                    break;
                }
            }
        }
        self.metrics.queue_length.inc_by(queued as i64);
        match full {
            _ if closed => Pushed::Closed,
            Some(shard) => Pushed::Full(shard),
            None => Pushed::All,
        }
    }

    /// Hands the shards' finished counts to the ledger and stores the progress when it
    /// moved (fsynced when `durable`); with nothing new, makes the last store durable.
    fn commit(&self, reader: &mut WalReader, ledger: &mut Ledger, durable: bool) {
        let done = self.finished_counts();
        let result = match ledger.acknowledge(&done) {
            Some(d) => reader.store(d, durable),
            None if durable => {
                // Once per interval: the lag gauges move during an outage, and a progress
                // stored without fsync is made durable.
                reader.refresh_lag();
                reader.sync()
            }
            None => Ok(()),
        };
        if let Err(e) = result {
            // The position stays behind: a restart resends (duplicates, never a gap).
            tracing::error!(url = %self.url, error = %e, "wal reader commit failed");
        }
    }

    /// Drains the shards (unless aborted), waits for them to end and stores what they
    /// finished; the rest stays in the WAL for the next start.
    async fn finish(&mut self, reader: &mut WalReader, ledger: &mut Ledger) {
        self.set.drain();
        let mut stopped = self.set.stopped.clone();
        let aborted = tokio::select! {
            _ = stopped.wait_for(|s| *s) => false,
            _ = self.control.wait_for(|m| *m == Mode::Aborted) => true,
        };
        if aborted {
            // The flush deadline passed: abandon retries (the WAL keeps the data).
            self.set.control.send_replace(Mode::Aborted);
            let _ = stopped.wait_for(|s| *s).await;
        }
        self.commit(reader, ledger, true);
        tracing::info!(url = %self.url, committed = ?reader.committed(), delivered_past_it = ?ledger.stored().extra, "remote write wal reader stopped");
    }
}

/// Moves `batch` (emptied) into the per-shard queues, in order, dropping what an earlier
/// run delivered; no reference counting.
fn route(batch: &mut Vec<Sample>, per_shard: &mut [VecDeque<Sample>], ledger: &mut Ledger) {
    let n = per_shard.len();
    for s in batch.drain(..) {
        let i = if n == 1 {
            0
        } else {
            shard_of_hash(s.series.wire_hash(), n)
        };
        if ledger.route(i) == Route::Send
            && let Some(q) = per_shard.get_mut(i)
        {
            q.push_back(s);
        }
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
            let s = shard_of_hash(xxhash_rust::xxh3::xxh3_64(labels.wire_bytes()), 4);
            assert_eq!(
                s,
                shard_of_hash(xxhash_rust::xxh3::xxh3_64(labels.wire_bytes()), 4)
            );
            counts[s] += 1;
        }
        for c in counts {
            assert!((800..=1200).contains(&c), "{counts:?}");
        }
        assert_eq!(shard_of_hash(7, 1), 0);
    }
}
