//! Missing and duplicate scrape slots, counted from the `up` samples that reach the
//! receiver. Every sample of a target sits on the target's slot grid, so the grid's phase
//! is read from the first sample; from then on each slot must hold exactly one `up`.
//! Slots are settled (counted) once their samples should have arrived; a sample that
//! comes later still corrects the count, so the totals are exact whatever the lag.
//! Pure: fed samples and a "settle" instant, no clock and no I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

/// A target as the receiver sees it: its `job` and `instance` labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TargetKey {
    /// `job` label.
    pub job: String,
    /// `instance` label.
    pub instance: String,
}

/// Counts over every settled slot of every target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotTotals {
    /// Slots settled (each should hold exactly one `up` sample).
    pub slots: u64,
    /// Settled slots without any `up` sample.
    pub missing: u64,
    /// `up` samples beyond the first in a settled slot.
    pub duplicate: u64,
    /// `up` samples off the target's grid (a bug of its own).
    pub off_grid: u64,
    /// `up` samples that arrived after their slot was settled as missing (the slot then
    /// counts as present): a measure of delivery delay, not an error.
    pub late: u64,
}

impl SlotTotals {
    /// True when every settled slot held exactly one sample and none was off the grid.
    pub fn is_clean(&self) -> bool {
        self.missing == 0 && self.duplicate == 0 && self.off_grid == 0
    }
}

/// One target's grid and the samples of its slots not settled yet.
#[derive(Debug)]
struct TargetSlots {
    phase: i64,
    /// The next slot to settle; earlier slots are final.
    settle_from: i64,
    /// Sample count per unsettled slot.
    pending: BTreeMap<i64, u32>,
    /// Settled slots counted as missing, in case their sample still comes.
    missing: BTreeSet<i64>,
}

/// Slot accounting for all targets.
#[derive(Debug)]
pub struct SlotLedger {
    interval_ms: i64,
    targets: HashMap<TargetKey, TargetSlots>,
    totals: SlotTotals,
}

impl SlotLedger {
    /// A ledger for targets scraped every `interval` (at least 1 ms).
    pub fn new(interval: Duration) -> SlotLedger {
        let interval_ms = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        SlotLedger {
            interval_ms,
            targets: HashMap::new(),
            totals: SlotTotals::default(),
        }
    }

    /// Records one `up` sample of `target` at `timestamp` (ms). The first sample of a
    /// target fixes its grid; the warm-up before it is not counted.
    pub fn observe(&mut self, target: &TargetKey, timestamp: i64) {
        let interval = self.interval_ms;
        let t = match self.targets.get_mut(target) {
            Some(t) => t,
            None => self.targets.entry(target.clone()).or_insert(TargetSlots {
                phase: timestamp.rem_euclid(interval),
                settle_from: timestamp,
                pending: BTreeMap::new(),
                missing: BTreeSet::new(),
            }),
        };
        if timestamp.rem_euclid(interval) != t.phase {
            self.totals.off_grid += 1;
        } else if timestamp < t.settle_from {
            // Settled already: a missing slot turns present, a present one duplicated.
            if t.missing.remove(&timestamp) {
                self.totals.missing = self.totals.missing.saturating_sub(1);
                self.totals.late += 1;
            } else {
                self.totals.duplicate += 1;
            }
        } else {
            *t.pending.entry(timestamp).or_insert(0) += 1;
        }
    }

    /// Settles every slot before `until` (ms): from now on it counts as present, missing
    /// or duplicated. Call it only for instants whose samples have all arrived.
    pub fn settle(&mut self, until: i64) {
        let interval = self.interval_ms;
        for t in self.targets.values_mut() {
            let mut slot = t.settle_from;
            while slot < until {
                match t.pending.remove(&slot).unwrap_or(0) {
                    0 => {
                        self.totals.missing += 1;
                        t.missing.insert(slot);
                    }
                    n => self.totals.duplicate += u64::from(n - 1),
                }
                self.totals.slots += 1;
                slot = slot.saturating_add(interval);
            }
            t.settle_from = slot;
        }
    }

    /// Totals over the settled slots.
    pub fn totals(&self) -> SlotTotals {
        self.totals
    }

    /// Targets seen so far.
    pub fn targets(&self) -> usize {
        self.targets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: &str) -> TargetKey {
        TargetKey {
            job: "node".into(),
            instance: i.into(),
        }
    }

    struct Case {
        name: &'static str,
        samples: &'static [(&'static str, i64)],
        settle: i64,
        want: SlotTotals,
    }

    #[test]
    fn counts_slots() {
        let cases = [
            Case {
                name: "every slot once",
                samples: &[
                    ("a", 1_500),
                    ("a", 3_500),
                    ("a", 5_500),
                    ("b", 2_000),
                    ("b", 4_000),
                ],
                settle: 6_000,
                want: SlotTotals {
                    slots: 5,
                    ..Default::default()
                },
            },
            Case {
                name: "a gap and a duplicate",
                samples: &[("a", 1_500), ("a", 1_500), ("a", 5_500)],
                settle: 6_000,
                want: SlotTotals {
                    slots: 3,
                    missing: 1,
                    duplicate: 1,
                    ..Default::default()
                },
            },
            Case {
                name: "unsettled slots are not counted yet",
                samples: &[("a", 1_500)],
                settle: 1_500,
                want: SlotTotals::default(),
            },
            Case {
                name: "off the grid",
                samples: &[("a", 1_500), ("a", 2_000)],
                settle: 2_000,
                want: SlotTotals {
                    slots: 1,
                    off_grid: 1,
                    ..Default::default()
                },
            },
        ];
        for c in cases {
            let mut l = SlotLedger::new(Duration::from_secs(2));
            for (i, ts) in c.samples {
                l.observe(&key(i), *ts);
            }
            l.settle(c.settle);
            assert_eq!(l.totals(), c.want, "{}", c.name);
        }
    }

    #[test]
    fn late_samples_correct_settled_slots() {
        let mut l = SlotLedger::new(Duration::from_secs(2));
        l.observe(&key("a"), 0);
        l.settle(3_000);
        assert_eq!(l.totals().slots, 2);
        assert_eq!(l.totals().missing, 1);
        assert!(!l.totals().is_clean());
        // The slot at 2000 was settled as missing; its sample arrives late: present.
        l.observe(&key("a"), 2_000);
        l.observe(&key("a"), 4_000);
        l.settle(5_000);
        let t = l.totals();
        assert_eq!(
            (t.slots, t.missing, t.late, t.duplicate),
            (3, 0, 1, 0),
            "{t:?}"
        );
        assert!(t.is_clean());
        // A second sample for a settled, present slot is a duplicate.
        l.observe(&key("a"), 2_000);
        assert_eq!(l.totals().duplicate, 1);
        assert_eq!(l.targets(), 1);
    }
}
