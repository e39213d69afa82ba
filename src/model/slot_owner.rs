//! The hook through which the cluster decides which peer scrapes a target's slot.

use super::slot::SlotTime;
use super::target_id::TargetId;

/// Decides, slot by slot, whether this peer scrapes a target.
///
/// Asked before every slot. A slot not owned is skipped without staleness markers: the
/// target's series continue on the peer that owns it.
pub trait SlotOwner: Send + Sync + 'static {
    /// True when this peer scrapes `target` at `slot`.
    fn owns(&self, target: TargetId, slot: SlotTime) -> bool;

    /// The name of the peer that owns `target` at `slot`, for the targets API.
    fn owner_of(&self, _target: TargetId, _slot: SlotTime) -> Option<String> {
        None
    }
}

/// A single peer: owns every slot of every target.
#[derive(Debug, Default, Clone)]
pub struct OwnEverything {
    name: String,
}

impl OwnEverything {
    /// A single peer called `name` (shown as the owner of every target).
    pub fn named(name: impl Into<String>) -> Self {
        OwnEverything { name: name.into() }
    }
}

impl SlotOwner for OwnEverything {
    fn owns(&self, _target: TargetId, _slot: SlotTime) -> bool {
        true
    }

    fn owner_of(&self, _target: TargetId, _slot: SlotTime) -> Option<String> {
        (!self.name.is_empty()).then(|| self.name.clone())
    }
}
