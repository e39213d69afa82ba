//! The consistent-hash ring: which peer owns a target, given a set of peer names.
//!
//! Every peer must compute the same ring from the same names, on every platform and with
//! every Rust version. So the positions ("tokens") of a peer's virtual nodes are xxh3-64 of
//! explicit bytes (`name ++ 0xff ++ vnode index as u32 little-endian`), derived from the name
//! only: a restarted StatefulSet pod gets its tokens back. A target's position is its
//! [`TargetId`] (already xxh3-64 of its identity). `hashring` sorts and searches; the hasher
//! we give it passes our precomputed `u64` through unchanged, so `std::hash::Hash` never
//! decides a position. Golden-value tests in `tests.rs` pin both.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Arc;

use hashring::HashRing;

use crate::model::TargetId;

/// Virtual nodes per peer. Part of the protocol: changing it moves targets, so every peer
/// of a cluster must use the same value (it is folded into the view hash via
/// [`RING_PROTOCOL`]). 4096 keeps the hash-space share of 10 peers within 2% of the mean
/// (target counts add binomial noise on top); a ring costs 24 bytes per virtual node
/// (1 MB at 10 peers).
pub const VNODES_PER_PEER: u32 = 4096;

/// Version of the ring computation (token bytes, vnode count, lookup rule).
pub const RING_PROTOCOL: u32 = 1;

/// The token (ring position) of virtual node `vnode` of peer `name`.
pub fn token(name: &str, vnode: u32) -> u64 {
    let mut buf = Vec::with_capacity(name.len() + 5);
    buf.extend_from_slice(name.as_bytes());
    buf.push(0xff);
    buf.extend_from_slice(&vnode.to_le_bytes());
    xxhash_rust::xxh3::xxh3_64(&buf)
}

/// A virtual node on the ring: its token and the index of its peer in [`Ring::peers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct VNode {
    token: u64,
    peer: u32,
}

impl Hash for VNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Only the precomputed token: the hasher passes it through.
        state.write_u64(self.token);
    }
}

/// A target's position on the ring.
struct Position(u64);

impl Hash for Position {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// A hasher that returns the last `u64` written: positions are computed by us, explicitly.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached by `VNode` or `Position`; still fixed across platforms if it were.
        self.0 = xxhash_rust::xxh3::xxh3_64_with_seed(bytes, self.0);
    }

    fn write_u64(&mut self, i: u64) {
        self.0 = i;
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct PassThroughBuilder;

impl BuildHasher for PassThroughBuilder {
    type Hasher = PassThrough;

    fn build_hasher(&self) -> PassThrough {
        PassThrough::default()
    }
}

/// A ring over a set of peer names (immutable once built; rebuilt when the set changes).
pub struct Ring {
    /// Peer names, sorted and de-duplicated.
    peers: Vec<Arc<str>>,
    ring: HashRing<VNode, PassThroughBuilder>,
}

impl Ring {
    /// The ring of `names` (order and duplicates do not matter).
    pub fn new<I, S>(names: I) -> Ring
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        let mut peers: Vec<Arc<str>> = names.into_iter().map(Into::into).collect();
        peers.sort();
        peers.dedup();
        let mut vnodes = Vec::with_capacity(peers.len() * VNODES_PER_PEER as usize);
        for (i, name) in peers.iter().enumerate() {
            let peer = u32::try_from(i).unwrap_or(u32::MAX);
            for v in 0..VNODES_PER_PEER {
                vnodes.push(VNode {
                    token: token(name, v),
                    peer,
                });
            }
        }
        // Sorted names in, stable sort inside: equal tokens (a 2^-64 event) still resolve
        // the same way on every peer.
        let mut ring = HashRing::with_hasher(PassThroughBuilder);
        ring.batch_add(vnodes);
        Ring { peers, ring }
    }

    /// The peers on the ring, sorted by name.
    pub fn peers(&self) -> &[Arc<str>] {
        &self.peers
    }

    /// True when the ring has no peer.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// Each peer's share of the hash space (summing to 1), in [`Ring::peers`] order: the
    /// fraction of targets it owns on average. Recomputes the tokens; for status pages.
    pub fn shares(&self) -> Vec<f64> {
        let mut tokens: Vec<(u64, usize)> = Vec::with_capacity(self.ring.len());
        for (i, name) in self.peers.iter().enumerate() {
            tokens.extend((0..VNODES_PER_PEER).map(|v| (token(name, v), i)));
        }
        tokens.sort_unstable();
        let mut widths = vec![0u128; self.peers.len()];
        // A virtual node owns the positions after the previous token, up to its own; the
        // first one also owns the wrap-around from the last.
        let mut prev = tokens.last().map_or(0, |t| t.0);
        for &(tok, peer) in &tokens {
            if let Some(w) = widths.get_mut(peer) {
                *w += u128::from(tok.wrapping_sub(prev));
            }
            prev = tok;
        }
        let total: u128 = widths.iter().sum();
        widths
            .iter()
            .map(|&w| {
                if total == 0 {
                    0.0
                } else {
                    w as f64 / total as f64
                }
            })
            .collect()
    }

    /// The peer that owns `target`: the first virtual node at or after its position,
    /// wrapping around. `None` on an empty ring.
    pub fn owner(&self, target: TargetId) -> Option<&Arc<str>> {
        let vnode = self.ring.get(&Position(target.0))?;
        self.peers.get(vnode.peer as usize)
    }
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("peers", &self.peers)
            .field("vnodes", &self.ring.len())
            .finish()
    }
}
