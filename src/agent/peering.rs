//! The agent's side of clustering: who owns which slot, what this peer publishes, and the
//! planned join and leave.
//!
//! Without `--cluster.enabled` the peer owns everything ([`OwnEverything`]) and every call
//! here is a no-op, as before clustering existed. With it:
//! - start: gossip as `joining` (owns nothing);
//! - [`Peering::join`] once ready: `participant` from `now + handoff_delay`; `/-/ready`
//!   answers 200 once that instant has passed (see [`PeerStatusSource::joined`]);
//! - [`Peering::publish`] periodically: owned series and config hash;
//! - [`Peering::leave`] on SIGTERM/SIGINT: `leaving` until `now + handoff_delay`, waits
//!   until then (plus the longest scrape timeout, so the last owned slot's scrape ends);
//! - [`Peering::shutdown`] after the remote-write flush: leave the gossip.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use prometheus_client::registry::Registry;
use tokio::sync::watch;

use crate::cli::{AgentArgs, concrete};
use crate::cluster::gossip::now_ns;
use crate::cluster::{
    Cluster, ClusterMetrics, ClusterOptions, ClusterOwnership, ClusterStatus, ClusterView,
    Lifecycle, Member, OwnedTargets, SinglePeer,
};
use crate::config::Config;
use crate::scrape::{Clock, Manager, OwnEverything, SlotOwner};

/// This peer's membership: alone, or in a gossip cluster.
pub(super) struct Peering {
    single: SinglePeer,
    clock: Clock,
    clustered: Option<Clustered>,
}

struct Clustered {
    cluster: Cluster,
    handoff_delay: Duration,
    metrics: ClusterMetrics,
}

impl Peering {
    /// Starts gossiping as `joining` when `--cluster.enabled`; nothing otherwise.
    pub(super) async fn start(
        args: &AgentArgs,
        cfg: &Config,
        registry: &mut Registry,
    ) -> anyhow::Result<Peering> {
        let c = &args.cluster;
        let generation = now_ns();
        let clock = Clock::system();
        let advertise = c.advertise_address();
        // Peers and people dial the web address: same IP as the gossip when unspecified.
        let web_address = if args.web_listen_address.ip().is_unspecified() {
            std::net::SocketAddr::new(advertise.ip(), args.web_listen_address.port())
        } else {
            concrete(args.web_listen_address)
        };
        let single = SinglePeer {
            name: c.node_name(),
            generation,
            started_ms: clock.now().as_millis(),
            web_address: web_address.to_string(),
        };
        if !c.enabled {
            return Ok(Peering {
                single,
                clock,
                clustered: None,
            });
        }
        let member = Member {
            lifecycle: Lifecycle::Joining,
            web_address,
            version: env!("CARGO_PKG_VERSION").to_string(),
            config_hash: config_hash(cfg),
            owned_series: 0,
        };
        let mut options = ClusterOptions::new(single.name.clone(), c.listen_address, member);
        options.cluster_name = c.name.clone();
        options.advertise_address = advertise;
        options.seeds = c.join.iter().filter(|s| !s.is_empty()).cloned().collect();
        options.generation = generation;
        options.min_peers = c.min_peers.unwrap_or(0);
        let metrics = ClusterMetrics::new(registry);
        options.metrics = metrics.clone();
        let cluster = Cluster::start(options).await.context("cluster")?;
        Ok(Peering {
            single,
            clock,
            clustered: Some(Clustered {
                cluster,
                handoff_delay: c.handoff_delay,
                metrics,
            }),
        })
    }

    /// The scrape manager's slot owner.
    pub(super) fn owner(&self) -> Arc<dyn SlotOwner> {
        match &self.clustered {
            Some(c) => c.cluster.ownership(),
            None => Arc::new(OwnEverything::named(self.single.name.clone())),
        }
    }

    /// What the web layer reads (status and readiness), over `scrapes`' targets.
    pub(super) fn status_source(&self, scrapes: Arc<Manager>) -> PeerStatusSource {
        PeerStatusSource {
            single: self.single.clone(),
            clock: self.clock,
            clustered: self
                .clustered
                .as_ref()
                .map(|c| (c.cluster.subscribe(), c.cluster.ownership())),
            scrapes,
        }
    }

    /// Before [`Peering::join`]: waits (at most one handoff delay) until gossip has
    /// brought another peer, so that our view is the cluster's when our slots begin.
    /// Without seeds, or alone, returns at once or after the bound.
    pub(super) async fn wait_for_peers(&self) {
        let Some(c) = &self.clustered else { return };
        let started = crate::model::clock::monotonic_now();
        let others = c.cluster.wait_for_peers(c.handoff_delay).await;
        let waited = started.elapsed();
        if others > 0 {
            tracing::info!(peers = others, waited = ?waited, "cluster: heard from the cluster");
        } else if waited >= c.handoff_delay {
            tracing::warn!(
                waited = ?waited,
                "cluster: no seed answered; starting as the first peer"
            );
        }
    }

    /// Ready: announce that we own our share from `now + handoff_delay`.
    pub(super) async fn join(&self) {
        if let Some(c) = &self.clustered {
            let from = c
                .cluster
                .become_participant(self.clock.now(), c.handoff_delay)
                .await;
            tracing::info!(active_from = from.as_millis(), "cluster: participant");
        }
    }

    /// Publishes what changes at run time (only changed keys travel) and refreshes the
    /// owned-targets/series gauges.
    pub(super) async fn publish(&self, scrapes: &Manager, config_hash: &str) {
        if let Some(c) = &self.clustered {
            let owned = scrapes.owned();
            let series = owned.series;
            c.metrics.set_owned(owned.targets, series);
            let hash = config_hash.to_string();
            c.cluster
                .update_member(|m| {
                    m.owned_series = series;
                    m.config_hash = hash;
                })
                .await;
        }
    }

    /// Stopping: announce `leaving` and keep scraping until our last owned slot is done.
    pub(super) async fn leave(&self, cfg: &Config) {
        let Some(c) = &self.clustered else { return };
        let until = c
            .cluster
            .start_leaving(self.clock.now(), c.handoff_delay)
            .await;
        let Some(until) = until else {
            tracing::info!("cluster: never owned a slot, leaving at once");
            return;
        };
        // A slot before `until` is ours; its scrape may run up to the job's timeout.
        let longest_timeout = cfg
            .scrape_configs
            .iter()
            .map(|s| s.timeout())
            .max()
            .unwrap_or_default();
        tracing::info!(
            active_until = until.as_millis(),
            "cluster: leaving, scraping until then"
        );
        tokio::time::sleep_until(self.clock.instant_of(until) + longest_timeout).await;
    }

    /// Leaves the gossip (after the remote-write flush).
    pub(super) async fn shutdown(self) {
        if let Some(c) = self.clustered
            && let Err(e) = c.cluster.shutdown().await
        {
            tracing::warn!(error = %e, "cluster gossip did not stop cleanly");
        }
    }
}

/// Published so peers can tell that they run different configs (secrets left out).
pub(super) fn config_hash(cfg: &Config) -> String {
    format!("{:016x}", cfg.redacted_hash())
}

/// Status and readiness of this peer, read by the web layer.
pub(super) struct PeerStatusSource {
    single: SinglePeer,
    clock: Clock,
    clustered: Option<(watch::Receiver<ClusterView>, Arc<ClusterOwnership>)>,
    scrapes: Arc<Manager>,
}

impl PeerStatusSource {
    /// `Ok` once we own slots (participant and `active_from` has passed); always `Ok`
    /// without clustering.
    pub(super) fn joined(&self) -> Result<(), String> {
        let Some((view, _)) = &self.clustered else {
            return Ok(());
        };
        let view = view.borrow();
        let me = view.peer(&view.self_name).map(|p| p.member.lifecycle);
        match me {
            Some(Lifecycle::Participant { active_from }) => {
                if self.clock.now().as_millis() >= active_from {
                    Ok(())
                } else {
                    Err(format!("joining the cluster: owner from {active_from} ms"))
                }
            }
            Some(Lifecycle::Leaving { .. }) => Err("leaving the cluster".into()),
            Some(Lifecycle::Joining) | None => Err("joining the cluster".into()),
        }
    }

    /// `/api/v1/cluster`: owned targets per peer computed here from the current slots.
    pub(super) fn status(&self) -> ClusterStatus {
        let owned: OwnedTargets = self.scrapes.owners();
        let series = self.scrapes.owned_series();
        match &self.clustered {
            None => ClusterStatus::single(self.single.clone(), owned.values().sum(), series),
            Some((view, ownership)) => {
                let view = view.borrow().clone();
                ClusterStatus::clustered(
                    &view,
                    &ownership.current(),
                    self.clock.now(),
                    &owned,
                    series,
                )
            }
        }
    }
}
