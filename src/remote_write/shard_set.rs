//! A set of shard tasks started together and stopped together: the unit the WAL feed
//! replaces when it reshards (drain the old set, then start the new one, so per-series
//! order holds).

use std::sync::Arc;

use tokio::runtime::Handle;
use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use super::client::SharedClient;
use super::encode::{Encoder, ExternalLabels};
use super::metrics::EndpointMetrics;
use super::relabel::{RelabelCache, WriteRules};
use super::shard::{Mode, ShardBuffer, ShardSettings, ShardWorker};

/// What every shard of an endpoint is built from.
pub(crate) struct ShardFactory {
    pub runtime: Handle,
    pub client: Arc<SharedClient>,
    pub external: ExternalLabels,
    pub rules: Option<Arc<WriteRules>>,
    pub settings: ShardSettings,
    pub metrics: EndpointMetrics,
    pub url: Arc<str>,
}

/// Running shard tasks.
pub(crate) struct ShardSet {
    pub buffers: Vec<Arc<ShardBuffer>>,
    /// The tasks' mode: Draining sends what is buffered and ends them.
    pub control: Arc<watch::Sender<Mode>>,
    /// True once every task has ended.
    pub stopped: watch::Receiver<bool>,
    pub aborts: Vec<AbortHandle>,
    /// Signalled whenever a shard of the set finishes samples.
    pub finished: Arc<Notify>,
}

impl ShardFactory {
    /// Starts `n` shard tasks (at least one).
    pub fn start(&self, n: usize) -> ShardSet {
        let n = n.max(1);
        let control = Arc::new(watch::channel(Mode::Running).0);
        let mut buffers = Vec::with_capacity(n);
        let mut tasks = Vec::with_capacity(n);
        let mut aborts = Vec::with_capacity(n);
        let finished = Arc::new(Notify::new());
        for _ in 0..n {
            let buffer = Arc::new(
                ShardBuffer::new(self.settings.capacity, self.settings.max_samples_per_send)
                    .with_finished(finished.clone()),
            );
            let worker = ShardWorker {
                buffer: buffer.clone(),
                client: self.client.clone(),
                encoder: Encoder::new(self.external.clone()),
                relabel: self.rules.clone().map(RelabelCache::new),
                settings: self.settings.clone(),
                metrics: self.metrics.clone(),
                control: control.subscribe(),
                url: self.url.clone(),
            };
            let task = self.runtime.spawn(worker.run());
            aborts.push(task.abort_handle());
            tasks.push(task);
            buffers.push(buffer);
        }
        self.metrics.shards.inc_by(n as i64);
        // Watches the tasks so that any number of callers can wait for the end.
        let (stopped_tx, stopped) = watch::channel(false);
        let gauge = self.metrics.shards.clone();
        self.runtime.spawn(async move {
            futures::future::join_all(tasks).await;
            gauge.dec_by(n as i64);
            stopped_tx.send_replace(true);
        });
        ShardSet {
            buffers,
            control,
            stopped,
            aborts,
            finished,
        }
    }
}

impl ShardSet {
    /// Samples finished (acknowledged or dropped for good) by every shard of the set.
    pub fn done(&self) -> u64 {
        self.buffers.iter().map(|b| b.done()).sum()
    }

    /// Asks the tasks to send what they hold and end (no-op unless running).
    pub fn drain(&self) {
        self.control.send_if_modified(|m| {
            let start = *m == Mode::Running;
            if start {
                *m = Mode::Draining;
            }
            start
        });
    }
}
