//! The cluster: gossip membership, the hash ring, and ownership of each target's slots.
//!
//! - [`member`]: what a peer publishes (keys, typed values).
//! - [`ring`]: the consistent-hash ring over peer names (fixed hash, golden-tested).
//! - [`ownership`]: which peer owns a target's slot at time T; the scrape loop's
//!   [`crate::model::SlotOwner`]. Pure.
//! - [`view`], [`change`]: the peers one peer believes in, and old-vs-new differences.
//! - [`gossip`]: chitchat over UDP (the only file that touches chitchat): [`Cluster`].
//! - [`metrics`]: self-metrics, gossip traffic.
//! - [`status`]: `GET /api/v1/cluster` and the status page's peers table.

pub mod change;
pub mod gossip;
pub mod member;
pub mod metrics;
pub mod ownership;
pub mod ring;
pub mod status;
pub mod view;

pub use change::{ViewChange, diff};
pub use gossip::{Cluster, ClusterError, ClusterOptions};
pub use member::{Key, Lifecycle, Member, MemberError};
pub use metrics::{ClusterMetrics, GossipStats};
pub use ownership::{ClusterOwnership, MinPeersGate, OwnershipView, PeerSchedule, RingCache};
pub use ring::Ring;
pub use status::{ClusterStatus, OwnedTargets, PeerStatus, SinglePeer};
pub use view::{ClusterView, PeerInfo};

#[cfg(test)]
mod gossip_tests;
#[cfg(test)]
mod ownership_tests;
#[cfg(test)]
mod tests;
