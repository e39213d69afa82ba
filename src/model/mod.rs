//! The ground floor: the words every stage shares, depending on nothing else of ours.
//!
//! [`labels`] (label sets in remote-write wire form), [`series`] (a series and its
//! samples), [`wire`] (protobuf varints), [`target_id`] (a target's identity),
//! [`slot`] (the scrape grid and slot times), [`slot_owner`] (the hook through which the
//! cluster decides who scrapes a slot), [`clock`] (the only reads of the system clocks)
//! and [`time`] (formatting). Stages import from here; nothing here imports a stage.

pub mod clock;
pub mod labels;
pub mod series;
pub mod slot;
pub mod slot_owner;
pub mod target_id;
pub mod time;
pub mod wire;

pub use clock::Clock;
pub use slot::{SlotGrid, SlotTime};
pub use slot_owner::{OwnEverything, SlotOwner};
pub use target_id::TargetId;
