//! The fixed grid of scrape slots of a target, and the clock that maps slot times to
//! tokio instants.
//!
//! Every peer computes the same grid for a target (the phase comes from the target's
//! identity hash), so ownership can be decided per slot and samples carry the slot time.

use std::time::Duration;

#[cfg(test)]
use super::clock::Clock;
use super::target_id::TargetId;

/// A wall-clock instant in milliseconds since the Unix epoch (a slot time or "now").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SlotTime(pub i64);

impl SlotTime {
    /// Milliseconds since the epoch.
    pub fn as_millis(self) -> i64 {
        self.0
    }
}

/// The scrape grid of one target: slot `k` starts at `k * interval + phase`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotGrid {
    interval_ms: i64,
    phase_ms: i64,
}

impl SlotGrid {
    /// The grid of `target` at `interval` (an interval under 1 ms is treated as 1 ms).
    pub fn new(target: TargetId, interval: Duration) -> Self {
        let interval_ms = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        // interval_ms > 0, so the remainder fits and is non-negative.
        let phase_ms = (target.0 % interval_ms as u64) as i64;
        SlotGrid {
            interval_ms,
            phase_ms,
        }
    }

    /// The interval between slots, in milliseconds.
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// The phase of the grid (offset of slot 0 from the epoch), in milliseconds.
    pub fn phase_ms(&self) -> i64 {
        self.phase_ms
    }

    /// The slot whose interval contains `t` (the latest slot at or before `t`).
    pub fn containing(&self, t: SlotTime) -> SlotTime {
        let k = (t.0 - self.phase_ms).div_euclid(self.interval_ms);
        SlotTime(
            k.saturating_mul(self.interval_ms)
                .saturating_add(self.phase_ms),
        )
    }

    /// The first slot at or after `t`.
    pub fn next_at_or_after(&self, t: SlotTime) -> SlotTime {
        let s = self.containing(t);
        if s == t { s } else { self.after(s) }
    }

    /// The slot following `slot` (which must be on the grid).
    pub fn after(&self, slot: SlotTime) -> SlotTime {
        SlotTime(slot.0.saturating_add(self.interval_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(hash: u64, interval_ms: u64) -> SlotGrid {
        SlotGrid::new(TargetId(hash), Duration::from_millis(interval_ms))
    }

    #[test]
    fn phase_is_hash_mod_interval() {
        let g = grid(123_456, 10_000);
        assert_eq!(g.phase_ms(), 3_456);
        assert_eq!(g.interval_ms(), 10_000);
        // Same identity, same grid: every peer agrees.
        assert_eq!(g, grid(123_456, 10_000));
    }

    #[test]
    fn slot_arithmetic() {
        struct Case {
            name: &'static str,
            t: i64,
            containing: i64,
            next: i64,
        }
        let g = grid(3_456, 10_000);
        let cases = [
            Case {
                name: "exactly on a slot",
                t: 23_456,
                containing: 23_456,
                next: 23_456,
            },
            Case {
                name: "just after a slot",
                t: 23_457,
                containing: 23_456,
                next: 33_456,
            },
            Case {
                name: "just before a slot",
                t: 23_455,
                containing: 13_456,
                next: 23_456,
            },
            Case {
                name: "before the phase of slot 0",
                t: 1_000,
                containing: -6_544,
                next: 3_456,
            },
            Case {
                name: "realistic epoch millis",
                t: 1_763_780_000_123,
                containing: 1_763_779_993_456,
                next: 1_763_780_003_456,
            },
        ];
        for c in cases {
            assert_eq!(
                g.containing(SlotTime(c.t)),
                SlotTime(c.containing),
                "{}",
                c.name
            );
            assert_eq!(
                g.next_at_or_after(SlotTime(c.t)),
                SlotTime(c.next),
                "{}",
                c.name
            );
        }
        assert_eq!(g.after(SlotTime(23_456)), SlotTime(33_456));
    }

    #[test]
    fn zero_interval_does_not_panic() {
        let g = SlotGrid::new(TargetId(u64::MAX), Duration::ZERO);
        assert_eq!(g.interval_ms(), 1);
        assert_eq!(g.next_at_or_after(SlotTime(5)), SlotTime(5));
    }

    #[tokio::test(start_paused = true)]
    async fn clock_follows_paused_tokio_time() {
        let c = Clock::anchored_at(SlotTime(1_000_000));
        assert_eq!(c.now(), SlotTime(1_000_000));
        let at = c.instant_of(SlotTime(1_002_500));
        tokio::time::sleep_until(at).await;
        assert_eq!(c.now(), SlotTime(1_002_500));
        // Past instants map to now.
        assert!(c.instant_of(SlotTime(0)) <= crate::model::clock::monotonic_now());
    }
}
