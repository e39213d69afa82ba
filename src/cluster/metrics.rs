//! Self-metrics of the cluster: peers by state, view changes, gossip traffic.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::member::Lifecycle;
use super::view::ClusterView;

type LabelSet = Vec<(&'static str, &'static str)>;

/// Metrics of one peer's membership layer.
#[derive(Clone, Debug, Default)]
pub struct ClusterMetrics {
    peers: Family<LabelSet, Gauge>,
    view_changes: Counter,
    gossip_bytes: Family<LabelSet, Counter>,
    gossip_messages: Family<LabelSet, Counter>,
    owned_targets: Gauge,
    owned_series: Gauge,
}

/// Gossip traffic of one peer since start (what the socket wrapper counted).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GossipStats {
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received (decoded messages only).
    pub bytes_received: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Messages received.
    pub messages_received: u64,
}

const SENT: &str = "sent";
const RECEIVED: &str = "received";

impl ClusterMetrics {
    /// Registers the cluster metrics in `registry`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = ClusterMetrics::default();
        registry.register(
            "shoal_cluster_peers",
            "Peers in this peer's view, by state",
            m.peers.clone(),
        );
        registry.register(
            "shoal_cluster_view_changes",
            "Changes of this peer's view of the cluster",
            m.view_changes.clone(),
        );
        registry.register(
            "shoal_cluster_gossip_bytes",
            "Gossip UDP payload bytes, by direction",
            m.gossip_bytes.clone(),
        );
        registry.register(
            "shoal_cluster_gossip_messages",
            "Gossip messages, by direction",
            m.gossip_messages.clone(),
        );
        registry.register(
            "shoal_cluster_owned_targets",
            "Targets whose current slot this peer owns",
            m.owned_targets.clone(),
        );
        registry.register(
            "shoal_cluster_owned_series",
            "Series scraped by this peer from the targets it owns now",
            m.owned_series.clone(),
        );
        m
    }

    /// Records what this peer owns now (refreshed periodically by the agent).
    pub fn set_owned(&self, targets: u64, series: u64) {
        self.owned_targets
            .set(i64::try_from(targets).unwrap_or(i64::MAX));
        self.owned_series
            .set(i64::try_from(series).unwrap_or(i64::MAX));
    }

    /// Records a new view.
    pub(crate) fn observe_view(&self, view: &ClusterView) {
        self.view_changes.inc();
        for state in Lifecycle::NAMES {
            let n = view
                .peers
                .iter()
                .filter(|p| p.member.lifecycle.name() == state)
                .count();
            self.peers
                .get_or_create(&vec![("state", state)])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    pub(crate) fn sent(&self, bytes: usize) {
        self.gossip_bytes
            .get_or_create(&vec![("direction", SENT)])
            .inc_by(bytes as u64);
        self.gossip_messages
            .get_or_create(&vec![("direction", SENT)])
            .inc();
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.gossip_bytes
            .get_or_create(&vec![("direction", RECEIVED)])
            .inc_by(bytes as u64);
        self.gossip_messages
            .get_or_create(&vec![("direction", RECEIVED)])
            .inc();
    }

    /// Gossip traffic counted so far.
    pub fn gossip_stats(&self) -> GossipStats {
        let get = |f: &Family<LabelSet, Counter>, d: &'static str| {
            f.get_or_create(&vec![("direction", d)]).get()
        };
        GossipStats {
            bytes_sent: get(&self.gossip_bytes, SENT),
            bytes_received: get(&self.gossip_bytes, RECEIVED),
            messages_sent: get(&self.gossip_messages, SENT),
            messages_received: get(&self.gossip_messages, RECEIVED),
        }
    }
}
