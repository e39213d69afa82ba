//! The queue of one remote-write endpoint: shards by series, starts the shard tasks and
//! shuts them down. With a WAL, a reader task (`wal_feed.rs`) feeds the shards from disk;
//! without one, [`Queue::append`] feeds them from memory (tests, and a fallback that drops
//! when full).
//!
//! From memory the shard count is fixed (`min_shards`). From the WAL the feed reshards
//! between `min_shards` and `max_shards` (see `sharding.rs` and `wal_feed.rs`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::RemoteWriteError;
use super::backoff::Backoff;
use super::client::{SharedClient, WriteClient};
use super::encode::ExternalLabels;
use super::metrics::{EndpointLabels, EndpointMetrics, RemoteWriteMetrics};
use super::relabel::WriteRules;
use super::shard::{Mode, Push, ShardBuffer, ShardSettings};
use super::shard_set::ShardFactory;
use super::wal_feed::{WalFeed, reader_id};
use crate::config::{RemoteWriteConfig, redact_url};
use crate::series::Sample;
use crate::wal::{StartAt, Wal};

/// At most one queue-full warning per endpoint in this interval.
const DROP_WARN_INTERVAL: Duration = Duration::from_secs(10);

/// One endpoint's queue.
pub(crate) struct Queue {
    /// The config it runs with (a credentials-only reload replaces it with the client).
    cfg: Mutex<RemoteWriteConfig>,
    /// [`RemoteWriteConfig::identity_hash`] of `cfg`: what a reload must keep to keep
    /// the queue.
    pub identity: u64,
    pub external: BTreeMap<String, String>,
    client: Arc<SharedClient>,
    url: Arc<str>,
    shards: Vec<Arc<ShardBuffer>>,
    /// Aborts the shard tasks when the queue is dropped without a shutdown.
    aborts: Vec<AbortHandle>,
    /// Becomes true when every task (shards, WAL reader) has ended.
    stopped: watch::Receiver<bool>,
    /// The shard tasks' mode.
    control: Arc<watch::Sender<Mode>>,
    /// The WAL reader's mode and its reader id, when the queue reads the WAL.
    feed: Option<(watch::Sender<Mode>, String)>,
    accepting: AtomicBool,
    metrics: EndpointMetrics,
    /// Last queue-full warning and drops since, for rate-limited logging.
    drop_log: Mutex<(Option<Instant>, u64)>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the buffers: they hold thousands of samples.
        f.debug_struct("Queue")
            .field("url", &self.url)
            .field("shards", &self.shards.len())
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Everything a queue for `cfg` needs, validated and built (client, rules), nothing
    /// started: the first phase of a reload. Needs a tokio runtime (checked here).
    /// `from_wal`: the queue will read the WAL (its shards buffer less).
    pub fn prepare(
        index: usize,
        cfg: &RemoteWriteConfig,
        external: &BTreeMap<String, String>,
        metrics: &RemoteWriteMetrics,
        from_wal: bool,
    ) -> Result<PreparedQueue, RemoteWriteError> {
        let invalid = |reason: String| RemoteWriteError::Invalid {
            index,
            url: redact_url(&cfg.url),
            reason,
        };
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| RemoteWriteError::NoRuntime)?;
        let q = &cfg.queue_config;
        if let Some(m) = cfg.protobuf_message.as_deref()
            && m != "prometheus.WriteRequest"
        {
            return Err(invalid(format!(
                "protobuf_message {m:?} is not supported (only prometheus.WriteRequest)"
            )));
        }
        if q.capacity == 0 || q.max_samples_per_send == 0 || q.max_shards == 0 {
            return Err(invalid(
                "queue_config capacity, max_samples_per_send and max_shards must be positive"
                    .into(),
            ));
        }
        if q.min_shards > q.max_shards {
            return Err(invalid(format!(
                "queue_config min_shards {} is above max_shards {}",
                q.min_shards, q.max_shards
            )));
        }
        if q.batch_send_deadline.0.is_zero() {
            return Err(invalid(
                "queue_config batch_send_deadline must be positive".into(),
            ));
        }
        let client = Self::client(index, cfg)?;
        let rules = WriteRules::compile(&cfg.write_relabel_configs)
            .map_err(|source| RemoteWriteError::Relabel {
                index,
                url: redact_url(&cfg.url),
                source,
            })?
            .map(Arc::new);

        // Metrics and logs show the URL without its password.
        let metrics = metrics.endpoint(EndpointLabels {
            url: redact_url(&cfg.url),
            name: cfg.name.clone().unwrap_or_default(),
        });
        // min_shards, as Prometheus starts: with the default of 1 the first write of a
        // scrape carries all its series, which the compliance suite's Retries500 relies
        // on (it looks for the scraped series in the first write). Validated above:
        // 1 <= max_shards and min_shards <= max_shards.
        let n = q.min_shards.clamp(1, q.max_shards);
        // Prometheus buffers up to `capacity` per shard and scales to `max_shards`. From
        // the WAL, `capacity` per shard as there: the backlog waits on disk, and memory
        // stays flat whatever the outage. From memory, with a fixed shard count, spread
        // the total so that a burst (a first scrape of many new series, a slow receiver)
        // is absorbed as it would be there.
        let per_shard = if from_wal {
            q.capacity
        } else {
            q.capacity.saturating_mul(q.max_shards) / n
        };
        let settings = ShardSettings {
            capacity: per_shard.max(q.max_samples_per_send),
            max_samples_per_send: q.max_samples_per_send,
            batch_send_deadline: q.batch_send_deadline.0,
            backoff: Backoff::new(q.min_backoff.0, q.max_backoff.0)
                .map_err(|e| invalid(format!("queue_config: {e}")))?,
        };
        let url: Arc<str> = Arc::from(redact_url(&cfg.url));
        let client = Arc::new(SharedClient::new(client));
        let factory = ShardFactory {
            runtime: runtime.clone(),
            client: Arc::clone(&client),
            external: ExternalLabels::new(external),
            rules,
            settings,
            metrics: metrics.clone(),
            url: url.clone(),
        };
        Ok(PreparedQueue {
            cfg: cfg.clone(),
            external: external.clone(),
            client,
            factory,
            shards: n,
            bounds: (q.min_shards.max(1), q.max_shards),
            metrics,
        })
    }

    /// The client for `cfg` (fallible: URL, headers, TLS files).
    pub fn client(index: usize, cfg: &RemoteWriteConfig) -> Result<WriteClient, RemoteWriteError> {
        WriteClient::new(cfg).map_err(|source| RemoteWriteError::Client {
            index,
            url: redact_url(&cfg.url),
            source,
        })
    }

    /// Sends with `client` from now on; `cfg` differs from the running config only in
    /// secret values.
    pub fn set_client(&self, cfg: RemoteWriteConfig, client: WriteClient) {
        self.client.set(client);
        *self.cfg.lock().unwrap_or_else(|e| e.into_inner()) = cfg;
        tracing::info!(url = %self.url, "remote write client replaced (credentials changed)");
    }

    /// True when the queue runs with exactly `cfg` (secrets included).
    pub fn runs(&self, cfg: &RemoteWriteConfig) -> bool {
        *self.cfg.lock().unwrap_or_else(|e| e.into_inner()) == *cfg
    }
}

/// A queue built and validated by [`Queue::prepare`], not started.
pub(crate) struct PreparedQueue {
    cfg: RemoteWriteConfig,
    external: BTreeMap<String, String>,
    client: Arc<SharedClient>,
    factory: ShardFactory,
    shards: usize,
    bounds: (usize, usize),
    metrics: EndpointMetrics,
}

impl PreparedQueue {
    /// Starts the shard tasks; with `wal`, also the task that feeds them from the WAL.
    pub fn start(self, wal: Option<(&Arc<Wal>, StartAt)>) -> Queue {
        let PreparedQueue {
            cfg,
            external,
            client,
            factory,
            shards: n,
            bounds,
            metrics,
        } = self;
        let runtime = factory.runtime.clone();
        let url = factory.url.clone();
        let set = factory.start(n);
        let shards = set.buffers.clone();
        let control = set.control.clone();
        let mut aborts = set.aborts.clone();
        let (stopped, feed) = match wal {
            None => (set.stopped.clone(), None),
            Some((wal, start)) => {
                let id = reader_id(&cfg.url, cfg.name.as_deref());
                let (feed_control, feed_rx) = watch::channel(Mode::Running);
                let feed = WalFeed {
                    wal: wal.clone(),
                    id: id.clone(),
                    start,
                    url: url.clone(),
                    set,
                    factory,
                    bounds,
                    metrics: metrics.clone(),
                    control: feed_rx,
                };
                let task = runtime.spawn(feed.run());
                aborts.push(task.abort_handle());
                // The reader ends after the shards (it waits for them).
                let (stopped_tx, stopped) = watch::channel(false);
                runtime.spawn(async move {
                    let _ = task.await;
                    stopped_tx.send_replace(true);
                });
                (stopped, Some((feed_control, id)))
            }
        };
        tracing::info!(url = %url, shards = n, wal = feed.is_some(), "remote write queue started");
        Queue {
            identity: cfg.identity_hash(),
            cfg: Mutex::new(cfg),
            external,
            client,
            url,
            shards,
            aborts,
            stopped,
            control,
            feed,
            accepting: AtomicBool::new(true),
            metrics,
            drop_log: Mutex::new((None, 0)),
        }
    }
}

impl Queue {
    /// Queues `samples` on their series' shards; full shards drop and count. Never blocks.
    /// Ignored when the queue reads the WAL (the WAL is its only source).
    pub fn append(&self, samples: &[Sample]) {
        if self.feed.is_some() {
            return;
        }
        if !self.accepting.load(Ordering::Acquire) {
            self.metrics.dropped_shutdown.inc_by(samples.len() as u64);
            return;
        }
        let n = self.shards.len() as u64;
        let mut queued = 0i64;
        let mut dropped = 0u64;
        let mut closed = 0u64;
        for s in samples {
            let i = shard_of(s.series.id().0, n);
            match self.shards.get(i).map(|shard| shard.push(s)) {
                Some(Push::Queued) => queued += 1,
                Some(Push::Full) | None => dropped += 1,
                Some(Push::Closed) => closed += 1,
            }
        }
        self.metrics.queue_length.inc_by(queued);
        self.metrics.dropped_shutdown.inc_by(closed);
        if dropped > 0 {
            self.metrics.dropped_queue_full.inc_by(dropped);
            self.warn_dropped(dropped);
        }
    }

    fn warn_dropped(&self, dropped: u64) {
        let mut log = self.drop_log.lock().unwrap_or_else(|e| e.into_inner());
        log.1 += dropped;
        let now = crate::model::clock::monotonic_now();
        if log
            .0
            .is_none_or(|t| now.duration_since(t) >= DROP_WARN_INTERVAL)
        {
            tracing::warn!(url = %self.url, dropped = log.1, "remote write queue full; dropping samples");
            *log = (Some(now), 0);
        }
    }

    /// Stops accepting, sends what is queued, and returns when drained or after
    /// `timeout` (then aborts retries and counts the rest as dropped). Safe to call
    /// concurrently and repeatedly.
    pub async fn shutdown(&self, timeout: Duration) {
        self.accepting.store(false, Ordering::Release);
        // With a WAL the reader drains first (to the head), then drains the shards.
        let first = match &self.feed {
            Some((feed, _)) => feed,
            None => &*self.control,
        };
        first.send_if_modified(|m| {
            let start = *m == Mode::Running;
            if start {
                *m = Mode::Draining;
            }
            start
        });
        let mut stopped = self.stopped.clone();
        if tokio::time::timeout(timeout, stopped.wait_for(|s| *s))
            .await
            .is_err()
        {
            tracing::warn!(url = %self.url, ?timeout, "remote write flush timed out; aborting (unsent samples stay in the wal, if any)");
            if let Some((feed, _)) = &self.feed {
                feed.send_replace(Mode::Aborted);
            }
            self.control.send_replace(Mode::Aborted);
            let _ = stopped.wait_for(|s| *s).await;
        }
        tracing::debug!(url = %self.url, "remote write queue stopped");
    }

    /// The WAL reader id, when the queue reads the WAL.
    pub fn reader_id(&self) -> Option<&str> {
        self.feed.as_ref().map(|(_, id)| id.as_str())
    }

    /// True once every task has ended.
    pub fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // Dropped without shutdown (failed reload, process exit): stop the tasks now; the
        // watcher task then lowers the shards gauge.
        for a in &self.aborts {
            a.abort();
        }
    }
}

/// The shard of a series: a multiplicative hash spreads sequential ids evenly.
fn shard_of(id: u64, shards: u64) -> usize {
    let h = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 32) % shards.max(1)) as usize
}

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn shards_are_balanced_and_stable() {
        let mut counts = [0usize; 4];
        for id in 1..=4000u64 {
            counts[shard_of(id, 4)] += 1;
        }
        for c in counts {
            assert!((800..=1200).contains(&c), "{counts:?}");
        }
        assert_eq!(shard_of(42, 4), shard_of(42, 4));
        assert_eq!(shard_of(42, 1), 0);
    }
}
