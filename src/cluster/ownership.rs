//! Ownership of a target's slot: the ring of the peers active at the slot's time.
//!
//! Pure: a function of the peers' names and announced instants. Every peer that holds the
//! same view computes the same owner for every slot, so old and new owners switch at the
//! same slot (a joiner announces `active_from = now + handoff_delay`, a leaver
//! `active_until`). A crashed peer simply disappears from the view: its targets go to the
//! others from the next slot asked. Two views (a partition) give duplicates, never gaps,
//! because each side's ring covers the whole hash space.
//!
//! [`OwnershipView`] precomputes the few "epochs" (time ranges with a constant active set)
//! and their rings, so a lookup is two binary searches and allocates nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use super::member::Lifecycle;
use super::ring::{RING_PROTOCOL, Ring, VNODES_PER_PEER};
use crate::model::{SlotOwner, SlotTime, TargetId};

/// A peer's name and the instants that decide when it owns slots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSchedule {
    /// Node name.
    pub name: Arc<str>,
    /// Lifecycle with `active_from` / `active_until`.
    pub lifecycle: Lifecycle,
}

/// From `start` (ms, inclusive) until the next epoch's start, `ring` decides owners.
#[derive(Clone, Debug)]
struct Epoch {
    start: i64,
    ring: Option<Arc<Ring>>,
}

/// Rings kept across views, keyed by active set (sorted names): few distinct sets exist at
/// once, and a view change usually adds or removes one boundary.
#[derive(Default, Debug)]
pub struct RingCache {
    rings: HashMap<Vec<Arc<str>>, Arc<Ring>>,
}

impl RingCache {
    /// The ring of `names` (sorted), built once.
    fn get(&mut self, names: &[Arc<str>]) -> Arc<Ring> {
        if let Some(r) = self.rings.get(names) {
            return r.clone();
        }
        let ring = Arc::new(Ring::new(names.iter().cloned()));
        self.rings.insert(names.to_vec(), ring.clone());
        ring
    }

    /// Forgets rings that no epoch of `view` uses.
    fn retain_used(&mut self, view: &OwnershipView) {
        self.rings.retain(|_, ring| {
            view.epochs
                .iter()
                .any(|e| e.ring.as_ref().is_some_and(|r| Arc::ptr_eq(r, ring)))
        });
    }

    /// Number of rings cached.
    pub fn len(&self) -> usize {
        self.rings.len()
    }

    /// True when no ring is cached.
    pub fn is_empty(&self) -> bool {
        self.rings.is_empty()
    }
}

/// Ownership computed from one view: immutable, shared by every scrape loop.
#[derive(Debug)]
pub struct OwnershipView {
    self_name: Arc<str>,
    /// Sorted by start; the first starts at `i64::MIN`.
    epochs: Vec<Epoch>,
    /// False while `--cluster.min-peers` has not been reached: we own nothing.
    gate_open: bool,
    view_hash: u64,
}

impl OwnershipView {
    /// Ownership for `self_name` given every peer's schedule (order does not matter).
    pub fn build(
        self_name: Arc<str>,
        peers: &[PeerSchedule],
        gate_open: bool,
        cache: &mut RingCache,
    ) -> OwnershipView {
        let mut sorted: Vec<&PeerSchedule> = peers.iter().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        sorted.dedup_by(|a, b| a.name == b.name);

        let mut starts = vec![i64::MIN];
        for p in &sorted {
            starts.extend(p.lifecycle.active_from());
            starts.extend(p.lifecycle.active_until());
        }
        starts.sort_unstable();
        starts.dedup();

        let mut epochs: Vec<Epoch> = Vec::with_capacity(starts.len());
        let mut last_set: Option<Vec<Arc<str>>> = None;
        for start in starts {
            // Activity only changes at announced instants, so it is constant per epoch.
            let set: Vec<Arc<str>> = sorted
                .iter()
                .filter(|p| p.lifecycle.is_active_at(start))
                .map(|p| p.name.clone())
                .collect();
            if last_set.as_ref() == Some(&set) {
                continue;
            }
            let ring = (!set.is_empty()).then(|| cache.get(&set));
            epochs.push(Epoch { start, ring });
            last_set = Some(set);
        }
        let view = OwnershipView {
            view_hash: view_hash(&sorted, gate_open),
            self_name,
            epochs,
            gate_open,
        };
        cache.retain_used(&view);
        view
    }

    /// The ring that decides slot `t` (`None` when no peer is active then).
    pub fn ring_at(&self, t: SlotTime) -> Option<&Ring> {
        let i = self.epochs.partition_point(|e| e.start <= t.0);
        self.epochs.get(i.checked_sub(1)?)?.ring.as_deref()
    }

    /// The peer that owns `target` at `slot` by the ring (ignores the min-peers gate).
    pub fn owner(&self, target: TargetId, slot: SlotTime) -> Option<&Arc<str>> {
        self.ring_at(slot)?.owner(target)
    }

    /// True when we scrape `target` at `slot`.
    pub fn owns(&self, target: TargetId, slot: SlotTime) -> bool {
        self.gate_open
            && self
                .owner(target, slot)
                .is_some_and(|o| **o == *self.self_name)
    }

    /// Hash of everything that decides owners; equal on two peers exactly when they
    /// compute the same owners.
    pub fn view_hash(&self) -> u64 {
        self.view_hash
    }

    /// False while `--cluster.min-peers` participants have not been seen.
    pub fn gate_open(&self) -> bool {
        self.gate_open
    }

    /// Our own node name.
    pub fn self_name(&self) -> &Arc<str> {
        &self.self_name
    }

    /// Number of epochs (distinct active sets over time) in this view.
    pub fn epochs(&self) -> usize {
        self.epochs.len()
    }
}

/// xxh3-64 over explicit bytes: ring protocol, gate, then each peer that can ever own
/// (sorted by name) with its instants. Joining peers and lifecycle names do not change
/// owners, so they are left out.
fn view_hash(sorted: &[&PeerSchedule], gate_open: bool) -> u64 {
    let mut buf = Vec::with_capacity(16 + sorted.len() * 40);
    buf.extend_from_slice(&RING_PROTOCOL.to_le_bytes());
    buf.extend_from_slice(&VNODES_PER_PEER.to_le_bytes());
    buf.push(u8::from(gate_open));
    for p in sorted {
        let Some(from) = p.lifecycle.active_from() else {
            continue;
        };
        buf.extend_from_slice(
            &u32::try_from(p.name.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        buf.extend_from_slice(p.name.as_bytes());
        buf.extend_from_slice(&from.to_le_bytes());
        match p.lifecycle.active_until() {
            Some(until) => {
                buf.push(1);
                buf.extend_from_slice(&until.to_le_bytes());
            }
            None => buf.push(0),
        }
    }
    xxhash_rust::xxh3::xxh3_64(&buf)
}

/// `--cluster.min-peers`: closed until `min` participants have been seen at once, then
/// open for good (a later scale-down below `min` must not stop scraping).
#[derive(Clone, Copy, Debug)]
pub struct MinPeersGate {
    min: usize,
    open: bool,
}

impl MinPeersGate {
    /// A gate that opens at `min` participants (0 or 1: open from the start).
    pub fn new(min: usize) -> Self {
        MinPeersGate {
            min,
            open: min <= 1,
        }
    }

    /// Records that `participants` are seen now; returns whether the gate is open.
    pub fn observe(&mut self, participants: usize) -> bool {
        self.open |= participants >= self.min;
        self.open
    }
}

/// The [`SlotOwner`] of a clustered peer: reads the latest [`OwnershipView`].
#[derive(Debug)]
pub struct ClusterOwnership {
    current: RwLock<Arc<OwnershipView>>,
    updater: Mutex<(RingCache, MinPeersGate)>,
}

impl ClusterOwnership {
    /// Ownership for `self_name` with `--cluster.min-peers = min_peers`; owns nothing until
    /// the first [`ClusterOwnership::update`].
    pub fn new(self_name: Arc<str>, min_peers: usize) -> Self {
        let mut cache = RingCache::default();
        let initial = OwnershipView::build(self_name, &[], false, &mut cache);
        ClusterOwnership {
            current: RwLock::new(Arc::new(initial)),
            updater: Mutex::new((cache, MinPeersGate::new(min_peers))),
        }
    }

    /// Recomputes ownership from every peer's schedule; returns the new view.
    pub fn update(&self, peers: &[PeerSchedule]) -> Arc<OwnershipView> {
        let mut guard = self.updater.lock().unwrap_or_else(|e| e.into_inner());
        let (cache, gate) = &mut *guard;
        let participants = peers
            .iter()
            .filter(|p| matches!(p.lifecycle, Lifecycle::Participant { .. }))
            .count();
        let open = gate.observe(participants);
        let self_name = self.current().self_name.clone();
        let view = Arc::new(OwnershipView::build(self_name, peers, open, cache));
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = view.clone();
        view
    }

    /// The ownership in force.
    pub fn current(&self) -> Arc<OwnershipView> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The view hash in force.
    pub fn view_hash(&self) -> u64 {
        self.read(|v| v.view_hash())
    }

    fn read<T>(&self, f: impl FnOnce(&OwnershipView) -> T) -> T {
        let guard = self.current.read().unwrap_or_else(|e| e.into_inner());
        f(&guard)
    }
}

impl SlotOwner for ClusterOwnership {
    fn owns(&self, target: TargetId, slot: SlotTime) -> bool {
        self.read(|v| v.owns(target, slot))
    }

    fn owner_of(&self, target: TargetId, slot: SlotTime) -> Option<String> {
        self.read(|v| v.owner(target, slot).map(|o| o.to_string()))
    }
}
