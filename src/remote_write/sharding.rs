//! How many shards an endpoint needs: the computation of Prometheus' `calculateDesiredShards`
//! (storage/remote/queue_manager.go), pure and unit-tested. The feed samples its counters
//! every [`UPDATE_INTERVAL`] and reshards when the answer changes.
//!
//! Rates are EWMAs (weight 0.2) of samples appended to the WAL (in), samples acknowledged
//! (out) and seconds spent sending. Time per sample × (incoming rate + 5 % of the backlog per
//! second) is the number of senders that keep up and catch up; a change within ±30 % of the
//! current count is ignored (hysteresis), and there is no downsharding while more than 10 s
//! behind.

use std::time::Duration;

/// How often the shard count is reconsidered.
pub(crate) const UPDATE_INTERVAL: Duration = Duration::from_secs(10);
/// Weight of the newest interval in the moving averages.
const EWMA_WEIGHT: f64 = 0.2;
/// Changes smaller than this fraction of the current count are ignored.
const TOLERANCE: f64 = 0.3;
/// Share of the backlog to catch up on per second.
const BACKLOG_CATCHUP: f64 = 0.05;
/// No downsharding while the newest sent sample is further behind than this (seconds).
const MAX_DELAY_TO_DOWNSHARD: f64 = 10.0;

/// An exponentially weighted moving rate (per second), fed once per interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Ewma {
    rate: f64,
    init: bool,
}

impl Ewma {
    /// Adds `amount` observed over `interval` seconds; returns the new rate.
    pub fn tick(&mut self, amount: f64, interval: f64) -> f64 {
        let instant = if interval > 0.0 {
            amount / interval
        } else {
            0.0
        };
        if self.init {
            self.rate += EWMA_WEIGHT * (instant - self.rate);
        } else {
            self.rate = instant;
            self.init = true;
        }
        self.rate
    }
}

/// What the feed saw during one interval.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Observed {
    /// Samples appended to the WAL.
    pub samples_in: u64,
    /// Samples acknowledged (or dropped for good) by the shards.
    pub samples_out: u64,
    /// Seconds spent in send requests, summed over the shards.
    pub send_seconds: f64,
    /// Newest appended timestamp minus newest sent timestamp, seconds.
    pub delay_seconds: f64,
}

/// The decision of one interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Decision {
    /// Unrounded desired shards (for the metric).
    pub desired: f64,
    /// The shard count to run with.
    pub shards: usize,
}

/// Keeps the moving averages of one endpoint.
#[derive(Clone, Debug)]
pub(crate) struct ShardCalculator {
    min: usize,
    max: usize,
    data_in: Ewma,
    data_out: Ewma,
    out_duration: Ewma,
}

impl ShardCalculator {
    /// Bounds from queue_config (`1 <= min <= max` is validated by the queue).
    pub fn new(min: usize, max: usize) -> Self {
        let min = min.max(1);
        Self {
            min,
            max: max.max(min),
            data_in: Ewma::default(),
            data_out: Ewma::default(),
            out_duration: Ewma::default(),
        }
    }

    /// Feeds one interval of `interval` seconds and decides the count, given `current`.
    pub fn update(&mut self, seen: Observed, interval: f64, current: usize) -> Decision {
        let data_in = self.data_in.tick(seen.samples_in as f64, interval);
        let data_out = self.data_out.tick(seen.samples_out as f64, interval);
        let out_duration = self.out_duration.tick(seen.send_seconds, interval);
        let keep = Decision {
            desired: current as f64,
            shards: current,
        };
        if data_out <= 0.0 {
            // Nothing was sent: no measure of the time a sample takes.
            return keep;
        }
        let pending = seen.delay_seconds.max(0.0) * data_in;
        let time_per_sample = out_duration / data_out;
        let desired = time_per_sample * (data_in + BACKLOG_CATCHUP * pending);
        let keep = Decision { desired, ..keep };
        let lower = current as f64 * (1.0 - TOLERANCE);
        let upper = current as f64 * (1.0 + TOLERANCE);
        let rounded = desired.ceil();
        if (lower..=upper).contains(&rounded) {
            return keep;
        }
        // Saturating float to int: a NaN or infinite estimate lands on a bound.
        let mut shards = rounded as usize;
        if shards < current && seen.delay_seconds > MAX_DELAY_TO_DOWNSHARD {
            return keep;
        }
        shards = shards.clamp(self.min, self.max);
        Decision { desired, shards }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Case {
        name: &'static str,
        min: usize,
        max: usize,
        current: usize,
        seen: Observed,
        want: usize,
    }

    fn seen(samples_in: u64, samples_out: u64, send_seconds: f64, delay: f64) -> Observed {
        Observed {
            samples_in,
            samples_out,
            send_seconds,
            delay_seconds: delay,
        }
    }

    #[test]
    fn desired_shards_table() {
        // One 10 s interval from a fresh calculator: rates are the instant rates.
        let cases = [
            Case {
                name: "nothing sent keeps the count",
                min: 1,
                max: 50,
                current: 3,
                seen: seen(10_000, 0, 0.0, 0.0),
                want: 3,
            },
            Case {
                name: "senders busy all the time with input at output rate: one is enough",
                min: 1,
                max: 50,
                current: 1,
                seen: seen(100_000, 100_000, 10.0, 0.0),
                want: 1,
            },
            Case {
                name: "a slow receiver: 4 s of sending per second of input",
                min: 1,
                max: 50,
                current: 1,
                seen: seen(100_000, 100_000, 40.0, 0.0),
                want: 4,
            },
            Case {
                name: "within 30 % of the current count: no change",
                min: 1,
                max: 50,
                current: 4,
                seen: seen(100_000, 100_000, 48.0, 0.0),
                want: 4,
            },
            Case {
                name: "capped at max_shards",
                min: 1,
                max: 8,
                current: 2,
                seen: seen(100_000, 100_000, 200.0, 0.0),
                want: 8,
            },
            Case {
                name: "idle senders shrink to min_shards",
                min: 2,
                max: 50,
                current: 10,
                seen: seen(100_000, 100_000, 1.0, 0.0),
                want: 2,
            },
            Case {
                name: "no downsharding while far behind",
                min: 1,
                max: 50,
                current: 10,
                seen: seen(100_000, 100_000, 1.0, 60.0),
                want: 10,
            },
            Case {
                name: "a backlog adds 5 % of it per second",
                min: 1,
                max: 50,
                // in 10k/s, 0.1 ms per sample; 300 s behind: pending 3M, +150k/s.
                current: 1,
                seen: seen(100_000, 100_000, 10.0, 300.0),
                want: 16,
            },
        ];
        for c in cases {
            let mut calc = ShardCalculator::new(c.min, c.max);
            let got = calc.update(c.seen, 10.0, c.current);
            assert_eq!(got.shards, c.want, "{}: {got:?}", c.name);
        }
    }

    #[test]
    fn ewma_smooths_after_the_first_interval() {
        let mut e = Ewma::default();
        assert_eq!(e.tick(100.0, 10.0), 10.0);
        assert!((e.tick(0.0, 10.0) - 8.0).abs() < 1e-9);
        assert_eq!(Ewma::default().tick(5.0, 0.0), 0.0);
    }
}
