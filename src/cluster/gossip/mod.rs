//! Membership over chitchat (UDP gossip, phi-accrual failure detection). The only module
//! that touches chitchat: it publishes our [`Member`] keys and turns chitchat's live
//! nodes into a [`ClusterView`], which feeds [`ClusterOwnership`].
//!
//! Node id = node name, generation = process start in ns: a restarted peer's new
//! generation replaces the old one in the view at once (newest generation per name wins),
//! and the old one is dropped by the failure detector. Chitchat ignores messages carrying
//! another cluster id (`--cluster.name`). Seeds that are DNS names are re-resolved every
//! `seed_refresh_interval` (chitchat itself only does so every 60 s), so a headless
//! Service that lists new pods is followed quickly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chitchat::{
    Chitchat, ChitchatConfig, ChitchatHandle, ChitchatId, FailureDetectorConfig, Heartbeat,
    ProtocolVersion, spawn_chitchat,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

mod options;
mod transport;

pub use options::{ClusterError, ClusterOptions};
pub use transport::Blocked;
use transport::CountingTransport;

use super::change::{ViewChange, diff};
use super::member::{Lifecycle, Member};
use super::metrics::{ClusterMetrics, GossipStats};
use super::ownership::ClusterOwnership;
use super::view::{ClusterView, PeerInfo};
use crate::model::SlotTime;

/// A running membership: publish our state, read the view, follow its changes.
pub struct Cluster {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
    /// Whether `--cluster.join` named any seed (else we are alone until someone joins us).
    has_seeds: bool,
}

struct Shared {
    handle: ChitchatHandle,
    chitchat: Arc<tokio::sync::Mutex<Chitchat>>,
    self_name: Arc<str>,
    cluster_name: String,
    member: Mutex<Member>,
    view_tx: watch::Sender<ClusterView>,
    ownership: Arc<ClusterOwnership>,
    metrics: ClusterMetrics,
    /// Last heartbeat seen per node and when it changed (heartbeat age).
    heartbeats: Mutex<HashMap<ChitchatId, (Heartbeat, Instant)>>,
    /// Held through a whole refresh: two refreshes (the view loop and a published change)
    /// that interleave would otherwise let an older view overwrite a newer ownership.
    refreshing: tokio::sync::Mutex<()>,
}

impl Cluster {
    /// Binds the gossip socket and starts gossiping (our keys from `options.member`).
    pub async fn start(options: ClusterOptions) -> Result<Cluster, ClusterError> {
        options.validate()?;
        let chitchat_id = ChitchatId::new(
            options.node_name.as_str(),
            options.generation,
            options.advertise_address,
        );
        let failure_detector_config = FailureDetectorConfig {
            phi_threshold: options.phi_threshold,
            sampling_window_size: 1_000,
            // Longer silences are outliers (a paused process), not the normal rhythm.
            max_interval: options.gossip_interval.saturating_mul(10),
            initial_interval: options.gossip_interval,
            dead_node_grace_period: options.dead_peer_retention,
        };
        let config = ChitchatConfig {
            chitchat_id,
            cluster_id: options.cluster_name.clone(),
            gossip_interval: options.gossip_interval,
            listen_addr: options.listen_address,
            seed_nodes: options.seeds.clone(),
            failure_detector_config,
            marked_for_deletion_grace_period: Duration::from_secs(3_600),
            catchup_callback: None,
            extra_liveness_predicate: None,
            // Every shoal peer runs chitchat >= 0.13, which decodes the compressed digest.
            protocol_version: ProtocolVersion::V1,
        };
        let transport = CountingTransport {
            metrics: options.metrics.clone(),
            blocked: options.blocked.clone(),
        };
        let keys = options
            .member
            .published_keys()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let handle = spawn_chitchat(config, keys, &transport)
            .await
            .map_err(|e| ClusterError::Start {
                listen: options.listen_address,
                reason: format!("{e:#}"),
            })?;
        let self_name: Arc<str> = options.node_name.as_str().into();
        let shared = Arc::new(Shared {
            chitchat: handle.chitchat(),
            handle,
            self_name: self_name.clone(),
            cluster_name: options.cluster_name.clone(),
            member: Mutex::new(options.member.clone()),
            view_tx: watch::channel(ClusterView::empty(self_name.clone(), options.cluster_name)).0,
            ownership: Arc::new(ClusterOwnership::new(self_name, options.min_peers)),
            metrics: options.metrics.clone(),
            heartbeats: Mutex::new(HashMap::new()),
            refreshing: tokio::sync::Mutex::new(()),
        });
        shared.refresh().await;
        let has_seeds = !options.seeds.is_empty();
        let tasks = vec![
            tokio::spawn(view_loop(shared.clone(), options.gossip_interval)),
            tokio::spawn(seed_loop(
                shared.clone(),
                options.seeds,
                options.advertise_address,
                options.seed_refresh_interval,
            )),
        ];
        tracing::info!(
            node = %options.node_name,
            generation = options.generation,
            cluster = %shared.cluster_name,
            listen = %options.listen_address,
            "cluster gossip started"
        );
        Ok(Cluster {
            shared,
            tasks,
            has_seeds,
        })
    }

    /// Waits until gossip has brought at least one other peer into the view, at most
    /// `timeout`; at once without seeds. Returns the number of other peers in the view.
    ///
    /// A peer that announced `participant` with a view of only itself would own every
    /// slot from `active_from` on if the first exchange with a seed came later than that.
    pub async fn wait_for_peers(&self, timeout: Duration) -> usize {
        let others = |v: &ClusterView| v.peers.iter().filter(|p| p.name != v.self_name).count();
        if self.has_seeds {
            let mut rx = self.subscribe();
            // Err (timeout or a closed channel): report what the view holds now.
            let _ = tokio::time::timeout(timeout, rx.wait_for(|v| others(v) > 0)).await;
        }
        others(&self.view())
    }

    /// Our node name.
    pub fn self_name(&self) -> &Arc<str> {
        &self.shared.self_name
    }

    /// The current view (heartbeat ages as of the last refresh, at most one gossip
    /// interval old).
    pub fn view(&self) -> ClusterView {
        self.shared.view_tx.borrow().clone()
    }

    /// A receiver notified when the membership changes (not on heartbeat-age updates).
    pub fn subscribe(&self) -> watch::Receiver<ClusterView> {
        self.shared.view_tx.subscribe()
    }

    /// The slot owner kept up to date with the view (give it to the scrape manager).
    pub fn ownership(&self) -> Arc<ClusterOwnership> {
        self.shared.ownership.clone()
    }

    /// What we publish now.
    pub fn member(&self) -> Member {
        lock(&self.shared.member).clone()
    }

    /// Publishes a new lifecycle state (with its `active_from` / `active_until`).
    pub async fn set_state(&self, lifecycle: Lifecycle) {
        self.update_member(|m| m.lifecycle = lifecycle).await;
    }

    /// Announces that we are ready: we own our share of slots from
    /// `now + handoff_delay`, when every peer has had time to see it. Returns that instant.
    pub async fn become_participant(&self, now: SlotTime, handoff_delay: Duration) -> SlotTime {
        let from = now.0.saturating_add(millis(handoff_delay));
        let lifecycle = self.member().lifecycle.ready_from(from);
        self.set_state(lifecycle).await;
        SlotTime(lifecycle.active_from().unwrap_or(from))
    }

    /// Announces that we stop: we own our share until `now + handoff_delay` (returned),
    /// then the others do. Scrape until then, drain, then [`Cluster::shutdown`]. `None`
    /// when we never owned anything: stop at once.
    pub async fn start_leaving(&self, now: SlotTime, handoff_delay: Duration) -> Option<SlotTime> {
        let until = now.0.saturating_add(millis(handoff_delay));
        let lifecycle = self.member().lifecycle.leaving_at(until);
        self.set_state(lifecycle).await;
        lifecycle.active_until().map(SlotTime)
    }

    /// Publishes the number of series we scrape.
    pub async fn set_owned_series(&self, series: u64) {
        self.update_member(|m| m.owned_series = series).await;
    }

    /// Changes what we publish; only changed keys are gossiped. The view (and ownership)
    /// reflect the change when this returns.
    pub async fn update_member(&self, change: impl FnOnce(&mut Member)) {
        let keys = {
            let mut member = lock(&self.shared.member);
            change(&mut member);
            member.published_keys()
        };
        {
            let mut chitchat = self.shared.chitchat.lock().await;
            let state = chitchat.self_node_state();
            for (k, v) in keys {
                state.set(k, v);
            }
        }
        self.shared.refresh().await;
    }

    /// Gossip traffic since start.
    pub fn gossip_stats(&self) -> GossipStats {
        self.shared.metrics.gossip_stats()
    }

    /// Stops gossiping (peers drop us after failure detection). Announce `leaving` and
    /// wait for `active_until` first for a handoff without gaps.
    pub async fn shutdown(self) -> Result<(), ClusterError> {
        for t in &self.tasks {
            t.abort();
        }
        // The server drops its socket before it reports termination: the port is free
        // when this returns.
        let _ = self.shared.handle.initiate_shutdown();
        let result = self.shared.handle.termination_watcher().await;
        tracing::info!(node = %self.shared.self_name, "cluster gossip stopped");
        result.map_err(|e| ClusterError::Stop {
            reason: format!("{e:#}"),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // chitchat's server outlives its handle unless told to stop.
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.shared.handle.initiate_shutdown();
    }
}

impl Shared {
    /// Rebuilds the view from chitchat's live nodes; on a membership change, notifies
    /// subscribers, updates ownership and logs the differences.
    async fn refresh(&self) {
        let _one_at_a_time = self.refreshing.lock().await;
        let candidates = {
            let chitchat = self.chitchat.lock().await;
            let now = crate::model::clock::monotonic_now();
            let mut heartbeats = lock(&self.heartbeats);
            let mut seen = HashMap::with_capacity(heartbeats.len());
            let mut candidates = Vec::new();
            for id in chitchat.live_nodes() {
                let Some(state) = chitchat.node_state(id) else {
                    continue;
                };
                let hb = state.heartbeat();
                let since = match heartbeats.get(id) {
                    Some(&(old, at)) if old == hb => at,
                    _ => now,
                };
                seen.insert(id.clone(), (hb, since));
                // A node counts as a peer only once it publishes every key we need.
                let Ok(member) = Member::parse(|k| state.get(k)) else {
                    continue;
                };
                let is_self = id == chitchat.self_chitchat_id();
                candidates.push(PeerInfo {
                    name: id.node_id.clone(),
                    generation: id.generation_id,
                    gossip_address: id.gossip_advertise_addr,
                    member,
                    heartbeat_age: if is_self {
                        Duration::ZERO
                    } else {
                        now.duration_since(since)
                    },
                });
            }
            *heartbeats = seen;
            candidates
        };
        let view = ClusterView::from_candidates(
            self.self_name.clone(),
            self.cluster_name.clone(),
            candidates,
        );
        let mut changes = Vec::new();
        let changed = self.view_tx.send_if_modified(|current| {
            let changed = !current.same_membership(&view);
            if changed {
                changes = diff(current, &view);
            }
            *current = view.clone();
            changed
        });
        if changed {
            let ownership = self.ownership.update(&view.schedule());
            self.metrics.observe_view(&view);
            for change in &changes {
                log_change(change);
            }
            tracing::info!(
                peers = view.peers.len(),
                view_hash = format_args!("{:016x}", ownership.view_hash()),
                "cluster view changed"
            );
        }
    }
}

fn log_change(change: &ViewChange) {
    match change {
        ViewChange::Added(p) => tracing::info!(
            peer = %p.name, generation = p.generation, state = p.member.lifecycle.name(),
            "peer added"
        ),
        ViewChange::Updated { old, new } => tracing::info!(
            peer = %new.name, generation = new.generation, old_generation = old.generation,
            state = new.member.lifecycle.name(), old_state = old.member.lifecycle.name(),
            "peer updated"
        ),
        ViewChange::Removed(p) => tracing::info!(
            peer = %p.name, generation = p.generation, "peer removed"
        ),
    }
}

/// Refreshes the view on every change of chitchat's live set, as soon as any peer's key
/// changes (a join or leave announcement must not wait for a tick: every peer has to
/// agree on the owners quickly), and at least once per gossip interval (heartbeat ages,
/// liveness decided between rounds).
async fn view_loop(shared: Arc<Shared>, every: Duration) {
    let changed_keys = Arc::new(tokio::sync::Notify::new());
    let (mut live, _listener) = {
        let chitchat = shared.chitchat.lock().await;
        let notify = changed_keys.clone();
        // The callback runs under chitchat's lock: only wake the loop.
        let listener = chitchat.subscribe_event("", move |_| notify.notify_one());
        (chitchat.live_nodes_watcher(), listener)
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = live.changed() => if changed.is_err() { return },
            _ = changed_keys.notified() => {}
            _ = tick.tick() => {}
        }
        shared.refresh().await;
    }
}

/// Re-resolves DNS seeds and says hello to every address that is not a live peer yet.
async fn seed_loop(
    shared: Arc<Shared>,
    seeds: Vec<String>,
    self_address: SocketAddr,
    every: Duration,
) {
    let names: Vec<String> = seeds
        .into_iter()
        .filter(|s| s.parse::<SocketAddr>().is_err())
        .collect();
    if names.is_empty() {
        return;
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let known: Vec<SocketAddr> = shared
            .view_tx
            .borrow()
            .peers
            .iter()
            .map(|p| p.gossip_address)
            .collect();
        for name in &names {
            match tokio::net::lookup_host(name.as_str()).await {
                Ok(addrs) => {
                    for addr in addrs.filter(|a| *a != self_address && !known.contains(a)) {
                        tracing::debug!(seed = %name, %addr, "dialling resolved seed");
                        if let Err(e) = shared.handle.gossip(addr) {
                            tracing::debug!(%addr, error = %e, "cannot dial seed");
                        }
                    }
                }
                Err(e) => tracing::warn!(seed = %name, error = %e, "cannot resolve seed"),
            }
        }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Nanoseconds since the epoch: the generation of a process started now.
pub use crate::model::clock::unix_ns as now_ns;
