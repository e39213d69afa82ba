//! A peer's view of the cluster: the peers it currently believes in, with what they publish.
//!
//! Built by the gossip layer from chitchat's live nodes; read by ownership, the HTTP API
//! and the status page. Pure data, no chitchat types.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use super::member::{Lifecycle, Member};
use super::ownership::PeerSchedule;

/// One peer as seen from here.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerInfo {
    /// Node name (`--cluster.node-name`), unique in the cluster.
    pub name: Arc<str>,
    /// Start time of the peer's process in ns since the epoch; a restart increases it.
    pub generation: u64,
    /// Address peers gossip with.
    pub gossip_address: SocketAddr,
    /// What the peer publishes.
    pub member: Member,
    /// Time since we last saw the peer's heartbeat increase (zero for ourselves).
    pub heartbeat_age: Duration,
}

impl PeerInfo {
    /// True when `self` and `other` differ only in load figures (owned series) or
    /// heartbeat age: those refresh every few seconds and are no change of membership.
    pub fn same_membership(&self, other: &PeerInfo) -> bool {
        let (a, b) = (&self.member, &other.member);
        self.name == other.name
            && self.generation == other.generation
            && self.gossip_address == other.gossip_address
            && a.lifecycle == b.lifecycle
            && a.web_address == b.web_address
            && a.version == b.version
            && a.config_hash == b.config_hash
    }
}

/// The peers one peer believes in, sorted by name, one entry per name.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterView {
    /// Our own node name.
    pub self_name: Arc<str>,
    /// Cluster name (`--cluster.name`).
    pub cluster: String,
    /// Peers including ourselves, sorted by name.
    pub peers: Vec<PeerInfo>,
}

impl ClusterView {
    /// A view holding only ourselves.
    pub fn empty(self_name: Arc<str>, cluster: String) -> ClusterView {
        ClusterView {
            self_name,
            cluster,
            peers: Vec::new(),
        }
    }

    /// The view of `candidates` (one per chitchat node, possibly several generations of a
    /// name): keeps the newest generation of each name, sorted by name.
    pub fn from_candidates(
        self_name: Arc<str>,
        cluster: String,
        mut candidates: Vec<PeerInfo>,
    ) -> ClusterView {
        // Name ascending, generation descending: the first of each name is the newest.
        candidates.sort_by(|a, b| a.name.cmp(&b.name).then(b.generation.cmp(&a.generation)));
        candidates.dedup_by(|later, first| later.name == first.name);
        ClusterView {
            self_name,
            cluster,
            peers: candidates,
        }
    }

    /// The peer named `name`.
    pub fn peer(&self, name: &str) -> Option<&PeerInfo> {
        self.peers
            .binary_search_by(|p| (*p.name).cmp(name))
            .ok()
            .and_then(|i| self.peers.get(i))
    }

    /// True when both views hold the same peers publishing the same keys (heartbeat ages
    /// aside): a change that matters to ownership, the API or the logs.
    pub fn same_membership(&self, other: &ClusterView) -> bool {
        self.self_name == other.self_name
            && self.peers.len() == other.peers.len()
            && self
                .peers
                .iter()
                .zip(&other.peers)
                .all(|(a, b)| a.same_membership(b))
    }

    /// What ownership needs: each peer's name and lifecycle.
    pub fn schedule(&self) -> Vec<PeerSchedule> {
        self.peers
            .iter()
            .map(|p| PeerSchedule {
                name: p.name.clone(),
                lifecycle: p.member.lifecycle,
            })
            .collect()
    }

    /// Number of peers in state `participant`.
    pub fn participants(&self) -> usize {
        self.peers
            .iter()
            .filter(|p| matches!(p.member.lifecycle, Lifecycle::Participant { .. }))
            .count()
    }
}
