//! The WAL reader task of one endpoint: reads batches from the WAL, pushes them into the
//! shards (waiting while a shard is full: the WAL holds the backlog on disk, so memory stays
//! bounded whatever the outage), and commits the reader's position once everything before it
//! has been acknowledged by the receiver.
//!
//! Acknowledgement tracking: each shard counts samples pushed and samples finished, both in
//! FIFO order. After a batch is pushed, the task remembers (batch end position, pushed count
//! of every shard). A batch is acknowledged once every shard's finished count has reached
//! its snapshot; commits go up to the last acknowledged batch (stored at once, fsynced about
//! once a second). Per shard, the commit also stores the end of the last batch that shard
//! finished: after a stop or crash, the next start skips, in that range, the samples of the
//! shards that were ahead (same shard count and series hash), so nothing is sent twice.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::metrics::EndpointMetrics;
use super::shard::{Mode, Push, ShardBuffer};
use super::shard_set::{ShardFactory, ShardSet};
use super::sharding::{Observed, ShardCalculator, UPDATE_INTERVAL};
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

/// A pushed batch awaiting acknowledgement.
struct Pending {
    end: Position,
    pushed: Vec<u64>,
}

/// What the previous process delivered past the committed position, per shard of its
/// shard set (from the reader's position file): those samples are not sent again.
struct PriorDelivery {
    shard_ends: Vec<Position>,
    /// The furthest of them: past it nothing is skipped.
    until: Position,
    /// Samples skipped so far (logged once the reader is past `until`).
    skipped: u64,
}

impl PriorDelivery {
    fn from_reader(reader: &WalReader) -> Option<PriorDelivery> {
        let until = reader.shard_ends().iter().max().copied()?;
        (until > reader.committed()).then(|| PriorDelivery {
            shard_ends: reader.shard_ends().to_vec(),
            until,
            skipped: 0,
        })
    }

    /// Drops from `batch` (one record, ending at `end`) what a shard already delivered.
    fn drop_delivered(&mut self, batch: &mut Vec<Sample>, end: Position) {
        let n = self.shard_ends.len();
        let before = batch.len();
        batch.retain(|s| {
            let shard = shard_of_labels(s.series.labels.wire_bytes(), n);
            self.shard_ends.get(shard).is_none_or(|e| end > *e)
        });
        self.skipped += (before - batch.len()) as u64;
    }

    /// Extends `ends` (ours, per shard) with what the previous process delivered.
    fn merge_into(&self, ends: &mut [Position]) {
        if ends.len() == self.shard_ends.len() {
            for (e, p) in ends.iter_mut().zip(&self.shard_ends) {
                *e = (*e).max(*p);
            }
        }
    }
}

/// Counters at the last shard-count evaluation.
struct Sampled {
    at: Instant,
    appended: u64,
    done: u64,
    send_nanos: u64,
}

impl WalFeed {
    /// Runs until drained or aborted; commits what was acknowledged on the way out.
    pub async fn run(mut self) {
        let Some(mut reader) = self.open().await else {
            // Aborted before the reader could be opened: the shards have nothing.
            self.set.drain();
            return;
        };
        tracing::info!(url = %self.url, reader = %self.id, position = ?reader.position(), "remote write reading the wal");
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut batch: Vec<Sample> = Vec::with_capacity(READ_BATCH);
        // The read batch split by shard, waiting to be moved into the shards.
        let mut per_shard: Vec<VecDeque<Sample>> =
            self.set.buffers.iter().map(|_| VecDeque::new()).collect();
        // The batch's end position, until all of it is pushed.
        let mut batch_end: Option<Position> = None;
        let mut last_commit = Instant::now();
        let mut calc = ShardCalculator::new(self.bounds.0, self.bounds.1);
        let mut sampled = self.sample(&reader, 0);
        // Samples finished by shard sets already replaced.
        let mut done_before = 0u64;
        let mut prior = PriorDelivery::from_reader(&reader);
        if let Some(p) = &prior {
            let n = p.shard_ends.len();
            tracing::info!(url = %self.url, shards = n, until = ?p.until, "shards of the last run delivered past the committed position; their samples are not sent again");
            if self.set.buffers.len() != n {
                // Our shard i continues the last run's shard i: same count, same hash.
                let queues = &mut per_shard;
                let Some(old_done) = self.reshard(n, &mut reader, &mut pending, queues).await
                else {
                    self.finish(&mut reader, &mut pending, None).await;
                    return;
                };
                done_before += old_done;
            }
        }
        loop {
            let mode = *self.control.borrow_and_update();
            if mode == Mode::Aborted {
                break;
            }
            // Every acknowledgement is committed at once (cheaply), durably once per
            // interval: a killed process then resends only the sends in flight.
            let durable = last_commit.elapsed() >= COMMIT_INTERVAL;
            self.commit_acked_with(&mut reader, &mut pending, durable, prior.as_ref());
            if durable {
                last_commit = Instant::now();
            }
            if let Some(p) = prior.take_if(|p| reader.committed() >= p.until) {
                tracing::info!(url = %self.url, skipped = p.skipped, "past what the last run's shards had delivered");
            }
            // No resharding while the last run's per-shard progress still applies.
            if mode == Mode::Running && prior.is_none() && sampled.at.elapsed() >= UPDATE_INTERVAL {
                let now = self.sample(&reader, done_before);
                let want = self.desired(&mut calc, &sampled, &now);
                sampled = now;
                if want != self.set.buffers.len() {
                    let queues = &mut per_shard;
                    let Some(old_done) =
                        self.reshard(want, &mut reader, &mut pending, queues).await
                    else {
                        break;
                    };
                    // The new set counts from zero.
                    done_before += old_done;
                    last_commit = Instant::now();
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
            if let Some(end) = batch_end.take() {
                // Taken after the whole batch is pushed: acknowledged once every shard
                // has finished this many.
                let pushed = self.set.buffers.iter().map(|s| s.pushed()).collect();
                pending.push_back(Pending { end, pushed });
            }
            let before = reader.position();
            // Where the last run's shards got apart, one record at a time: a sample is
            // skipped by the end position of its own record.
            let skipping = prior.as_mut().filter(|p| before < p.until);
            let max = if skipping.is_some() { 1 } else { READ_BATCH };
            match reader.read(&mut batch, max) {
                Ok(end) if end != before || !batch.is_empty() => {
                    if let Some(p) = skipping {
                        p.drop_delivered(&mut batch, end);
                    }
                    batch_end = Some(end);
                }
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
            split(&mut batch, &mut per_shard);
            if batch_end.is_none() {
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
        self.finish(&mut reader, &mut pending, prior.as_ref()).await;
    }

    /// The counters the shard count is computed from.
    fn sample(&self, reader: &WalReader, done_before: u64) -> Sampled {
        Sampled {
            at: Instant::now(),
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

    /// Drains the running set (everything pushed to it is then settled and committed),
    /// starts `n` shards and re-splits what was not pushed yet. Returns what the old set
    /// finished, or None if aborted meanwhile.
    async fn reshard(
        &mut self,
        n: usize,
        reader: &mut WalReader,
        pending: &mut VecDeque<Pending>,
        per_shard: &mut Vec<VecDeque<Sample>>,
    ) -> Option<u64> {
        let from = self.set.buffers.len();
        tracing::info!(url = %self.url, from, to = n, "resharding remote write");
        self.set.drain();
        let mut stopped = self.set.stopped.clone();
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            _ = self.control.wait_for(|m| *m == Mode::Aborted) => return None,
        }
        self.commit_acked(reader, pending);
        // Whatever is left pending was finished too (the set is drained): commit it.
        if let Some(last) = pending.back()
            && let Err(e) = reader.commit(last.end)
        {
            tracing::error!(url = %self.url, error = %e, "wal reader commit failed");
        }
        pending.clear();
        let old_done = self.set.done();
        self.set = self.factory.start(n);
        // Per-series order: each series' samples sit in one old queue, in order.
        let mut next: Vec<VecDeque<Sample>> = (0..n).map(|_| VecDeque::new()).collect();
        for q in per_shard.iter_mut() {
            let mut v: Vec<Sample> = q.drain(..).collect();
            split(&mut v, &mut next);
        }
        *per_shard = next;
        Some(old_done)
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

    /// Commits (durably) up to the last batch every shard has finished.
    fn commit_acked(&self, reader: &mut WalReader, pending: &mut VecDeque<Pending>) {
        self.commit_acked_with(reader, pending, true, None);
    }

    /// Commits up to the last batch every shard has finished, and per shard how far it
    /// got past that (so a restart does not send again what one shard delivered while
    /// another was still retrying); fsynced when `durable`.
    fn commit_acked_with(
        &self,
        reader: &mut WalReader,
        pending: &mut VecDeque<Pending>,
        durable: bool,
        prior: Option<&PriorDelivery>,
    ) {
        let done: Vec<u64> = self.set.buffers.iter().map(|s| s.done()).collect();
        let mut acked = None;
        while let Some(p) = pending.front() {
            if p.pushed.iter().zip(&done).any(|(p, d)| d < p) {
                break;
            }
            acked = Some(p.end);
            pending.pop_front();
        }
        let committed = acked.unwrap_or(reader.committed());
        // Pushed counts only grow: each shard has finished a prefix of the pending batches.
        let mut ends: Vec<Position> = done
            .iter()
            .enumerate()
            .map(|(i, d)| {
                pending
                    .iter()
                    .take_while(|p| p.pushed.get(i).is_some_and(|x| x <= d))
                    .last()
                    .map_or(committed, |p| p.end)
            })
            .collect();
        if let Some(p) = prior {
            p.merge_into(&mut ends);
        }
        if !ends.iter().any(|e| *e > committed) {
            ends.clear();
        }
        if acked.is_none() && ends == reader.shard_ends() {
            if durable {
                // Once per interval: the lag gauges move during an outage, and a position
                // stored without fsync is made durable.
                reader.refresh_lag();
                if let Err(e) = reader.sync() {
                    tracing::error!(url = %self.url, error = %e, "wal reader commit failed");
                }
            }
            return;
        }
        if let Err(e) = reader.commit_shards(committed, &ends, durable) {
            // The position stays behind: a restart resends (duplicates, never a gap).
            tracing::error!(url = %self.url, error = %e, "wal reader commit failed");
        }
    }

    /// Drains the shards (unless aborted), waits for them to end and commits what they
    /// acknowledged; the rest stays in the WAL for the next start.
    async fn finish(
        &mut self,
        reader: &mut WalReader,
        pending: &mut VecDeque<Pending>,
        prior: Option<&PriorDelivery>,
    ) {
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
        self.commit_acked_with(reader, pending, true, prior);
        tracing::info!(url = %self.url, committed = ?reader.committed(), unacknowledged_batches = pending.len(), "remote write wal reader stopped");
    }
}

/// Moves `batch` (emptied) into the per-shard queues, in order; no reference counting.
fn split(batch: &mut Vec<Sample>, per_shard: &mut [VecDeque<Sample>]) {
    if let [only] = per_shard {
        only.extend(batch.drain(..));
        return;
    }
    for s in batch.drain(..) {
        let i = shard_of_labels(s.series.labels.wire_bytes(), per_shard.len());
        if let Some(q) = per_shard.get_mut(i) {
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
