//! `GET /api/v1/cluster` and the status page's peers table: one peer's view of the
//! cluster, in the JSON shape DESIGN.md fixes. Pure: built from a [`ClusterView`], the
//! ownership in force and the owners this peer computed for the targets it knows.

use std::collections::HashMap;

use serde::Serialize;

use super::ownership::OwnershipView;
use super::view::ClusterView;
use crate::model::SlotTime;

/// This peer's view of the cluster.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClusterStatus {
    /// Our node name.
    #[serde(rename = "self")]
    pub self_name: String,
    /// Cluster name (`--cluster.name`).
    pub cluster: String,
    /// Hex of the view hash: equal on two peers exactly when they compute the same owners.
    pub view_hash: String,
    /// Every peer we believe in, sorted by name.
    pub peers: Vec<PeerStatus>,
}

/// One peer as seen from here.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PeerStatus {
    /// Node name.
    pub name: String,
    /// Process start in ns since the epoch.
    pub generation: u64,
    /// `joining`, `participant` or `leaving`.
    pub state: &'static str,
    /// Address peers gossip with (`None` without clustering).
    pub gossip_address: Option<String>,
    /// Address of the peer's HTTP API.
    pub web_address: String,
    /// Ms since the epoch from which the peer owns slots.
    pub active_from: Option<i64>,
    /// Ms since the epoch at which the peer stops owning slots.
    pub active_until: Option<i64>,
    /// Seconds since the peer's heartbeat last advanced (0 for ourselves).
    pub heartbeat_age_seconds: f64,
    /// Fraction of the hash space the peer owns now (0 when not on the current ring).
    pub ring_share: f64,
    /// Targets known here whose current slot the peer owns (computed here from the ring).
    pub owned_targets: u64,
    /// Series the peer publishes as scraped.
    pub owned_series: u64,
    /// Hash of the peer's configuration in force (file plus jobs generated from operator
    /// objects, secrets left out): peers that disagree run different jobs.
    pub config_hash: String,
}

/// Owned targets per peer name, as computed here.
pub type OwnedTargets = HashMap<String, u64>;

impl ClusterStatus {
    /// The status from `view` and the ownership in force at `now`; `self_series` replaces
    /// our own published (periodically refreshed) series count.
    pub fn clustered(
        view: &ClusterView,
        ownership: &OwnershipView,
        now: SlotTime,
        owned_targets: &OwnedTargets,
        self_series: u64,
    ) -> ClusterStatus {
        let shares: HashMap<&str, f64> = ownership
            .ring_at(now)
            .map(|ring| {
                ring.peers()
                    .iter()
                    .map(|p| &**p)
                    .zip(ring.shares())
                    .collect()
            })
            .unwrap_or_default();
        let peers = view
            .peers
            .iter()
            .map(|p| {
                let is_self = p.name == view.self_name;
                PeerStatus {
                    name: p.name.to_string(),
                    generation: p.generation,
                    state: p.member.lifecycle.name(),
                    gossip_address: Some(p.gossip_address.to_string()),
                    web_address: p.member.web_address.to_string(),
                    active_from: p.member.lifecycle.active_from(),
                    active_until: p.member.lifecycle.active_until(),
                    heartbeat_age_seconds: p.heartbeat_age.as_secs_f64(),
                    ring_share: shares.get(&*p.name).copied().unwrap_or(0.0),
                    owned_targets: owned_targets.get(&*p.name).copied().unwrap_or(0),
                    owned_series: if is_self {
                        self_series
                    } else {
                        p.member.owned_series
                    },
                    config_hash: p.member.config_hash.clone(),
                }
            })
            .collect();
        ClusterStatus {
            self_name: view.self_name.to_string(),
            cluster: view.cluster.clone(),
            view_hash: format!("{:016x}", ownership.view_hash()),
            peers,
        }
    }

    /// Without `--cluster.enabled`: one participant that owns everything.
    pub fn single(peer: SinglePeer, owned_targets: u64, owned_series: u64) -> ClusterStatus {
        ClusterStatus {
            self_name: peer.name.clone(),
            cluster: String::new(),
            view_hash: format!("{:016x}", 0),
            peers: vec![PeerStatus {
                name: peer.name,
                generation: peer.generation,
                state: "participant",
                gossip_address: None,
                web_address: peer.web_address,
                active_from: Some(peer.started_ms),
                active_until: None,
                heartbeat_age_seconds: 0.0,
                ring_share: 1.0,
                owned_targets,
                owned_series,
                config_hash: String::new(),
            }],
        }
    }
}

/// What an unclustered peer shows of itself.
#[derive(Clone, Debug)]
pub struct SinglePeer {
    /// Node name.
    pub name: String,
    /// Process start in ns since the epoch.
    pub generation: u64,
    /// Process start in ms since the epoch.
    pub started_ms: i64,
    /// Address of our HTTP API.
    pub web_address: String,
}
