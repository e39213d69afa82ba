//! One shard: a bounded buffer that `append` fills without blocking, and the task that
//! batches, encodes and sends it, retrying in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;

use super::backoff::Backoff;
use super::client::{SendError, SharedClient};
use super::encode::Encoder;
use super::metrics::EndpointMetrics;
use super::relabel::RelabelCache;
use crate::series::Sample;

/// What the shard tasks of a queue are asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Batch by size and deadline.
    Running,
    /// Send what is queued without waiting for deadlines, then exit.
    Draining,
    /// Stop now: abandon retries and count what is left as dropped.
    Aborted,
}

/// Batching and retry settings of a shard, from `queue_config`.
#[derive(Clone, Debug)]
pub(crate) struct ShardSettings {
    pub capacity: usize,
    pub max_samples_per_send: usize,
    pub batch_send_deadline: Duration,
    /// The first retry delay and its cap, validated.
    pub backoff: Backoff,
}

/// The bounded sample buffer of one shard, shared by appenders and the shard task.
#[derive(Debug)]
pub(crate) struct ShardBuffer {
    inner: Mutex<Inner>,
    notify: Notify,
    /// Signalled when the task takes samples out: a waiting WAL reader may push again.
    space: Notify,
    /// Samples ever finished: acknowledged by the receiver or dropped for good (4xx,
    /// encode, relabel), never those abandoned at shutdown. Samples are finished in push
    /// order, so everything pushed before `done` is settled (what WAL commits rely on).
    done: AtomicU64,
    /// Signalled after `done` moves (shared by a shard set: the WAL feed commits then).
    finished: Arc<Notify>,
    capacity: usize,
    wake_at: usize,
}

#[derive(Debug)]
struct Inner {
    samples: VecDeque<Sample>,
    /// Set by the shard task when it exits; later pushes are refused, so no sample is
    /// left behind unsent and uncounted.
    closed: bool,
}

/// Outcome of [`ShardBuffer::push`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Push {
    Queued,
    Full,
    Closed,
}

impl ShardBuffer {
    pub fn new(capacity: usize, max_samples_per_send: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                // Grows on demand: the bound is a limit for bursts, not a reservation.
                samples: VecDeque::with_capacity(max_samples_per_send.min(capacity)),
                closed: false,
            }),
            notify: Notify::new(),
            space: Notify::new(),
            done: AtomicU64::new(0),
            finished: Arc::new(Notify::new()),
            capacity,
            wake_at: max_samples_per_send.min(capacity),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the deque inconsistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `s` unless the buffer is full or closed; never blocks beyond the short lock.
    pub fn push(&self, s: &Sample) -> Push {
        let len = {
            let mut q = self.lock();
            if q.closed {
                return Push::Closed;
            }
            if q.samples.len() >= self.capacity {
                return Push::Full;
            }
            q.samples.push_back(s.clone());
            q.samples.len()
        };
        // Wake the task when a deadline must start or a full batch is ready.
        if len == 1 || len == self.wake_at {
            self.notify.notify_one();
        }
        Push::Queued
    }

    /// Moves as many samples from the front of `src` as fit (one lock, no reference-count
    /// traffic); `Full` if some are left, `Closed` (nothing moved) once the task has exited.
    pub fn push_many(&self, src: &mut VecDeque<Sample>) -> Push {
        let (before, after) = {
            let mut q = self.lock();
            if q.closed {
                return Push::Closed;
            }
            let before = q.samples.len();
            let n = src.len().min(self.capacity.saturating_sub(before));
            q.samples.extend(src.drain(..n));
            (before, q.samples.len())
        };
        if (before == 0 && after > 0) || (before < self.wake_at && after >= self.wake_at) {
            self.notify.notify_one();
        }
        if src.is_empty() {
            Push::Queued
        } else {
            Push::Full
        }
    }

    fn len(&self) -> usize {
        self.lock().samples.len()
    }

    /// Signals `finished` (shared with other buffers) whenever samples are finished.
    pub fn with_finished(mut self, finished: Arc<Notify>) -> Self {
        self.finished = finished;
        self
    }

    /// Samples ever finished (see the field).
    pub fn done(&self) -> u64 {
        self.done.load(Ordering::Acquire)
    }

    /// Resolves after the task next takes samples out (or at once if it did since the
    /// last wait: `Notify` keeps one permit). One waiter per buffer.
    pub async fn space(&self) {
        self.space.notified().await;
    }

    fn take(&self, max: usize, into: &mut Vec<Sample>) {
        {
            let mut q = self.lock();
            let n = q.samples.len().min(max);
            into.extend(q.samples.drain(..n));
        }
        self.space.notify_one();
    }

    /// Closes the buffer if it is empty (end of a drain); false if samples arrived.
    fn close_if_empty(&self) -> bool {
        let mut q = self.lock();
        q.closed = q.samples.is_empty();
        q.closed
    }

    /// Closes the buffer and takes everything left in it.
    fn close_and_take(&self, into: &mut Vec<Sample>) {
        {
            let mut q = self.lock();
            q.closed = true;
            into.extend(q.samples.drain(..));
        }
        self.space.notify_one();
    }
}

/// The task that sends one shard's samples.
pub(crate) struct ShardWorker {
    pub buffer: Arc<ShardBuffer>,
    pub client: Arc<SharedClient>,
    pub encoder: Encoder,
    pub relabel: Option<RelabelCache>,
    pub settings: ShardSettings,
    pub metrics: EndpointMetrics,
    pub control: watch::Receiver<Mode>,
    pub url: Arc<str>,
}

enum Sent {
    Done,
    Aborted,
}

impl ShardWorker {
    /// Runs until drained or aborted.
    pub async fn run(mut self) {
        let mut batch = Vec::with_capacity(self.settings.max_samples_per_send);
        let mut deadline: Option<Instant> = None;
        loop {
            let mode = *self.control.borrow_and_update();
            if mode == Mode::Aborted {
                break;
            }
            let len = self.buffer.len();
            let now = crate::model::clock::monotonic_now();
            let due = deadline.is_some_and(|d| now >= d) || mode == Mode::Draining;
            if len >= self.settings.max_samples_per_send || (len > 0 && due) {
                self.buffer
                    .take(self.settings.max_samples_per_send, &mut batch);
                self.metrics.queue_length.dec_by(batch.len() as i64);
                deadline = None;
                let n = batch.len() as u64;
                if let Sent::Aborted = self.send(&mut batch).await {
                    break;
                }
                self.buffer.done.fetch_add(n, Ordering::AcqRel);
                self.buffer.finished.notify_one();
                continue;
            }
            if len == 0 {
                deadline = None;
                if mode == Mode::Draining && self.buffer.close_if_empty() {
                    return;
                }
            } else if deadline.is_none() {
                deadline = Some(now + self.settings.batch_send_deadline);
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.buffer.notify.notified() => {}
                _ = sleep => {}
                changed = self.control.changed() => {
                    if changed.is_err() {
                        // The queue is gone without a shutdown: nothing will drain us.
                        break;
                    }
                }
            }
        }
        // Aborted: what is still buffered will never be sent.
        batch.clear();
        self.buffer.close_and_take(&mut batch);
        let n = batch.len() as u64;
        self.metrics.queue_length.dec_by(n as i64);
        self.metrics.dropped_shutdown.inc_by(n);
        if n > 0 {
            tracing::warn!(url = %self.url, samples = n, "dropping queued samples at shutdown");
        }
    }

    /// Encodes and sends `batch` (emptied), retrying recoverable errors until success,
    /// a non-recoverable error or abort.
    async fn send(&mut self, batch: &mut Vec<Sample>) -> Sent {
        self.encoder.clear();
        let mut highest = i64::MIN;
        let mut relabel_dropped = 0u64;
        for s in batch.drain(..) {
            let labels = match &mut self.relabel {
                None => s.series.labels(),
                Some(cache) => match cache.get(&s.series) {
                    Some(l) => l.into(),
                    None => {
                        relabel_dropped += 1;
                        continue;
                    }
                },
            };
            self.encoder.push(labels, s.timestamp, s.value);
            highest = highest.max(s.timestamp);
        }
        self.metrics.dropped_relabel.inc_by(relabel_dropped);
        let n = self.encoder.len() as u64;
        if n == 0 {
            return Sent::Done;
        }
        let body = match self.encoder.finish() {
            Ok(b) => Bytes::copy_from_slice(b),
            Err(e) => {
                self.metrics.dropped_encode.inc_by(n);
                tracing::error!(url = %self.url, samples = n, error = %e, "dropping batch that cannot be encoded");
                return Sent::Done;
            }
        };
        let mut backoff = self.settings.backoff.clone();
        let mut control = self.control.clone();
        loop {
            let start = crate::model::clock::monotonic_now();
            let client = self.client.get();
            let result = tokio::select! {
                r = client.store(body.clone()) => r,
                _ = aborted(&mut control) => return self.abandon(n),
            };
            let took = start.elapsed();
            self.metrics.send_duration.observe(took.as_secs_f64());
            self.metrics.send_nanos.fetch_add(
                u64::try_from(took.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            match result {
                Ok(status) => {
                    self.metrics.request(Some(status));
                    self.metrics.samples_sent.inc_by(n);
                    self.metrics.bytes_sent.inc_by(body.len() as u64);
                    self.metrics.sent_timestamp(highest);
                    return Sent::Done;
                }
                Err(SendError::NonRecoverable { status, body: text }) => {
                    self.metrics.request(Some(status));
                    self.metrics.samples_failed.inc_by(n);
                    self.metrics.dropped_http_4xx.inc_by(n);
                    tracing::error!(url = %self.url, status, samples = n, response = %text, "receiver rejected batch; dropping it");
                    return Sent::Done;
                }
                Err(e @ SendError::Recoverable { .. }) => {
                    self.metrics.request(e.status());
                    self.metrics.samples_retried.inc_by(n);
                    let retry_after = match &e {
                        SendError::Recoverable { retry_after, .. } => *retry_after,
                        SendError::NonRecoverable { .. } => None,
                    };
                    let delay = backoff.next_delay(retry_after, rand::random::<f64>());
                    tracing::warn!(url = %self.url, samples = n, error = %e, retry_in = ?delay, "send failed; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = aborted(&mut control) => return self.abandon(n),
                    }
                }
            }
        }
    }

    fn abandon(&self, n: u64) -> Sent {
        self.metrics.dropped_shutdown.inc_by(n);
        tracing::warn!(url = %self.url, samples = n, "abandoning batch at shutdown");
        Sent::Aborted
    }
}

/// Resolves when the queue is aborted (or dropped).
async fn aborted(control: &mut watch::Receiver<Mode>) {
    let _ = control.wait_for(|m| *m == Mode::Aborted).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::Labels;
    use crate::series::Series;

    #[test]
    fn buffer_is_bounded_and_closes_only_when_empty() {
        let b = ShardBuffer::new(2, 10);
        let s = Sample {
            series: Series::new(Labels::from_pairs([("a", "b")])),
            timestamp: 1,
            value: 1.0,
        };
        assert_eq!(b.push(&s), Push::Queued);
        assert_eq!(b.push(&s), Push::Queued);
        assert_eq!(b.push(&s), Push::Full);
        assert!(!b.close_if_empty());
        let mut out = Vec::new();
        b.take(1, &mut out);
        assert_eq!((out.len(), b.len()), (1, 1));
        b.take(5, &mut out);
        assert!(b.close_if_empty());
        assert_eq!(b.push(&s), Push::Closed);
    }

    #[test]
    fn push_many_moves_what_fits_in_order() {
        let b = ShardBuffer::new(3, 10);
        let series = Series::new(Labels::from_pairs([("a", "b")]));
        let mut src: VecDeque<Sample> = (0..5)
            .map(|t| Sample {
                series: series.clone(),
                timestamp: t,
                value: 0.0,
            })
            .collect();
        assert_eq!(b.push_many(&mut src), Push::Full);
        assert_eq!((src.len(), b.len()), (2, 3));
        let mut out = Vec::new();
        b.take(10, &mut out);
        assert_eq!(b.push_many(&mut src), Push::Queued);
        b.take(10, &mut out);
        let ts: Vec<i64> = out.iter().map(|s| s.timestamp).collect();
        assert_eq!(ts, vec![0, 1, 2, 3, 4]);
        assert!(b.close_if_empty());
        src.push_back(out.remove(0));
        assert_eq!(b.push_many(&mut src), Push::Closed);
        assert_eq!(src.len(), 1);
    }
}
