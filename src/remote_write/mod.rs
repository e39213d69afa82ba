//! Remote write 1.0: protobuf encoding, snappy, queues, shards and retries.
//!
//! [`RemoteWrite`] is the [`SampleSink`] of the data path: it owns one queue per
//! `remote_write` entry. Each queue shards samples by series (so per-series order holds),
//! batches by size and deadline, and retries recoverable failures forever, in order, until
//! shutdown. Endpoints are independent: a dead receiver only fills its own queue.
//!
//! Two ways to feed the queues:
//! - [`RemoteWrite::with_wal`] (the agent): each queue reads the WAL with its own reader
//!   (id from url and name, stable across restarts), waits instead of dropping when its
//!   shards are full, and commits its position once the receiver acknowledged everything
//!   before it. Nothing is lost across outages and restarts; [`SampleSink::append`] is
//!   then a no-op (the scrape loops append to [`WalSink`](crate::wal::WalSink)).
//! - [`RemoteWrite::new`]: memory only, fed by [`SampleSink::append`]; full shards drop and
//!   count. Kept for tests and tools that have no WAL.

mod backoff;
mod client;
mod delivery;
pub mod encode;
mod metrics;
pub mod proto;
mod queue;
mod relabel;
mod shard;
mod shard_set;
mod sharding;
#[cfg(test)]
mod tests;
mod wal_feed;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

pub use backoff::{Backoff, BackoffError, parse_retry_after};
pub use client::ClientError;
pub use metrics::{DropReason, EndpointLabels, RemoteWriteMetrics};
pub use relabel::WriteRelabelError;

use crate::config::RemoteWriteConfig;
use crate::series::{Sample, SampleSink};
use crate::wal::{StartAt, Wal};
use queue::Queue;

/// How long a queue replaced by a reload may take to flush in the background.
const RELOAD_FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// A `remote_write` entry that cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    /// Invalid settings (queue_config, protobuf_message) or no tokio runtime.
    #[error("remote_write[{index}] ({url}): {reason}")]
    Invalid {
        /// Position in `remote_write`.
        index: usize,
        /// The endpoint URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// URL, headers or HTTP client settings are invalid.
    #[error("remote_write[{index}] ({url}): {source}")]
    Client {
        /// Position in `remote_write`.
        index: usize,
        /// The endpoint URL.
        url: String,
        /// The client error.
        source: ClientError,
    },
    /// Called outside a tokio runtime (queues run as tokio tasks).
    #[error("remote write must be started inside a tokio runtime")]
    NoRuntime,
    /// `write_relabel_configs` do not compile.
    #[error("remote_write[{index}] ({url}): write_relabel_configs: {source}")]
    Relabel {
        /// Position in `remote_write`.
        index: usize,
        /// The endpoint URL.
        url: String,
        /// The rule error.
        source: WriteRelabelError,
    },
}

/// A prepared reload of the endpoints (see [`RemoteWrite::prepare`]).
pub struct RemotePlan {
    entries: Vec<Planned>,
}

enum Planned {
    /// A running queue, with a new client when only secrets changed.
    Keep(
        Arc<Queue>,
        Option<Box<(RemoteWriteConfig, client::WriteClient)>>,
    ),
    /// A new queue, built, not started.
    Start(Box<queue::PreparedQueue>),
}

/// Fan-out to every configured endpoint.
#[derive(Debug)]
pub struct RemoteWrite {
    queues: RwLock<Vec<Arc<Queue>>>,
    /// Queues replaced by a reload, still flushing in the background.
    retiring: Mutex<Vec<Arc<Queue>>>,
    metrics: RemoteWriteMetrics,
    /// The WAL the queues read, if any.
    wal: Option<Arc<Wal>>,
}

impl RemoteWrite {
    /// Starts one queue per entry; must be called inside a tokio runtime.
    pub fn new(
        cfgs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
        metrics: RemoteWriteMetrics,
    ) -> Result<RemoteWrite, RemoteWriteError> {
        let queues = start_all(cfgs, external_labels, &metrics, None)?;
        Ok(RemoteWrite {
            queues: RwLock::new(queues),
            retiring: Mutex::default(),
            metrics,
            wal: None,
        })
    }

    /// Starts one queue per entry, each reading `wal` from its committed position (from the
    /// oldest segment for an endpoint never seen before); must be called inside a tokio
    /// runtime.
    pub fn with_wal(
        cfgs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
        metrics: RemoteWriteMetrics,
        wal: Arc<Wal>,
    ) -> Result<RemoteWrite, RemoteWriteError> {
        let feed = Some((&wal, StartAt::Oldest));
        let queues = start_all(cfgs, external_labels, &metrics, feed)?;
        forget_unconfigured_readers(&wal, &queues);
        Ok(RemoteWrite {
            queues: RwLock::new(queues),
            retiring: Mutex::default(),
            metrics,
            wal: Some(wal),
        })
    }

    /// Reload: [`RemoteWrite::prepare`], then [`RemoteWrite::commit`]. On error nothing
    /// changes.
    pub fn apply_config(
        &self,
        cfgs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<(), RemoteWriteError> {
        let plan = self.prepare(cfgs, external_labels)?;
        self.commit(plan);
        Ok(())
    }

    /// The first phase of a reload: validates every entry and builds the clients and the
    /// new queues (not started). Changes nothing; an error leaves everything as it is.
    ///
    /// A queue whose config is unchanged but for secret values (password, token) is kept
    /// and gets a new client, as Prometheus' `SetClient`: no drain, no restart.
    pub fn prepare(
        &self,
        cfgs: &[RemoteWriteConfig],
        external_labels: &BTreeMap<String, String>,
    ) -> Result<RemotePlan, RemoteWriteError> {
        tokio::runtime::Handle::try_current().map_err(|_| RemoteWriteError::NoRuntime)?;
        let mut reuse: Vec<Arc<Queue>> = self
            .queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut entries = Vec::with_capacity(cfgs.len());
        for (index, cfg) in cfgs.iter().enumerate() {
            let identity = cfg.identity_hash();
            let same = reuse
                .iter()
                .position(|q| q.identity == identity && q.external == *external_labels);
            entries.push(match same {
                Some(i) => {
                    let q = reuse.swap_remove(i);
                    let client = if q.runs(cfg) {
                        None
                    } else {
                        Some(Box::new((cfg.clone(), Queue::client(index, cfg)?)))
                    };
                    Planned::Keep(q, client)
                }
                None => Planned::Start(Box::new(Queue::prepare(
                    index,
                    cfg,
                    external_labels,
                    &self.metrics,
                    self.wal.is_some(),
                )?)),
            });
        }
        Ok(RemotePlan { entries })
    }

    /// The second phase of a reload, which cannot fail: swaps clients, starts the new
    /// queues and flushes the replaced ones in the background.
    pub fn commit(&self, plan: RemotePlan) {
        // Held throughout: serialises reloads.
        let mut retiring = self.retiring.lock().unwrap_or_else(|e| e.into_inner());
        let old: Vec<Arc<Queue>> = self
            .queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        // An endpoint added by a reload gets what is scraped from now on.
        let feed = self.wal.as_ref().map(|w| (w, StartAt::Head));
        let new: Vec<Arc<Queue>> = plan
            .entries
            .into_iter()
            .map(|e| match e {
                Planned::Keep(q, client) => {
                    if let Some(swap) = client {
                        let (cfg, client) = *swap;
                        q.set_client(cfg, client);
                    }
                    q
                }
                Planned::Start(p) => Arc::new(p.start(feed)),
            })
            .collect();
        let replaced: Vec<Arc<Queue>> = old
            .into_iter()
            .filter(|q| !new.iter().any(|n| Arc::ptr_eq(n, q)))
            .collect();
        let kept: Vec<String> = new
            .iter()
            .filter_map(|q| q.reader_id().map(str::to_owned))
            .collect();
        *self.queues.write().unwrap_or_else(|e| e.into_inner()) = new;
        retiring.retain(|q| !q.is_stopped());
        // `prepare` checked that a runtime exists; the queues run on it.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        for q in replaced {
            retiring.push(q.clone());
            let wal = self.wal.clone();
            let removed = q.reader_id().filter(|id| !kept.iter().any(|k| k == id));
            let removed = removed.map(str::to_owned);
            runtime.spawn(async move {
                q.shutdown(RELOAD_FLUSH_TIMEOUT).await;
                // A removed endpoint must not hold back WAL truncation.
                if let (Some(wal), Some(id)) = (wal, removed)
                    && let Err(e) = wal.remove_reader(&id)
                {
                    tracing::warn!(reader = %id, error = %e, "cannot remove wal reader position");
                }
            });
        }
    }

    /// Stops accepting samples, sends everything queued, and returns when every queue is
    /// drained or `timeout` has elapsed (then retries are abandoned and counted as dropped).
    pub async fn shutdown(&self, timeout: Duration) {
        let mut queues = self
            .queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        queues.extend(
            self.retiring
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .drain(..),
        );
        futures::future::join_all(queues.iter().map(|q| q.shutdown(timeout))).await;
    }
}

impl SampleSink for RemoteWrite {
    fn append(&self, samples: &[Sample]) {
        let queues = self.queues.read().unwrap_or_else(|e| e.into_inner());
        for q in queues.iter() {
            q.append(samples);
        }
    }
}

/// Removes the positions of endpoints no longer configured (removed while shoal was
/// down), so they do not hold back WAL truncation until the disk bound.
fn forget_unconfigured_readers(wal: &Wal, queues: &[Arc<Queue>]) {
    for id in wal.reader_ids() {
        if queues.iter().any(|q| q.reader_id() == Some(id.as_str())) {
            continue;
        }
        match wal.remove_reader(&id) {
            Ok(()) => {
                tracing::info!(reader = %id, "forgot the wal position of an endpoint no longer configured")
            }
            Err(e) => tracing::warn!(reader = %id, error = %e, "cannot remove wal reader position"),
        }
    }
}

/// Starts one queue per entry. Starts nothing if any entry is invalid.
fn start_all(
    cfgs: &[RemoteWriteConfig],
    external: &BTreeMap<String, String>,
    metrics: &RemoteWriteMetrics,
    wal: Option<(&Arc<Wal>, StartAt)>,
) -> Result<Vec<Arc<Queue>>, RemoteWriteError> {
    let prepared = cfgs
        .iter()
        .enumerate()
        .map(|(index, cfg)| Queue::prepare(index, cfg, external, metrics, wal.is_some()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(prepared
        .into_iter()
        .map(|p| Arc::new(p.start(wal)))
        .collect())
}
