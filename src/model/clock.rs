//! The only place that reads the system's clocks, so that time stays injectable: wall
//! time through [`Clock`] (anchored once, then advanced by tokio's clock, which tests can
//! pause), durations through [`monotonic_now`] (tokio's clock as well).
#![allow(
    clippy::disallowed_methods,
    reason = "the clock module is where the clocks are read"
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::slot::SlotTime;

/// Now on tokio's monotonic clock (paused and advanced by tests with paused time): for
/// elapsed times, deadlines and intervals.
pub fn monotonic_now() -> tokio::time::Instant {
    tokio::time::Instant::now()
}

/// Now on the std monotonic clock, for code outside tokio (plain threads, the demo's
/// terminal); tokio code uses [`monotonic_now`].
pub fn thread_now() -> std::time::Instant {
    std::time::Instant::now()
}

/// Now on the system's wall clock: for what must be real time even in tests (log lines,
/// a process's generation, HTTP dates); the data path uses [`Clock`].
pub fn wall_now() -> SystemTime {
    SystemTime::now()
}

/// Nanoseconds since the Unix epoch on the system's wall clock (0 before 1970).
pub fn unix_ns() -> u64 {
    wall_now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Seconds since the Unix epoch on the system's wall clock (0 before 1970).
pub fn unix_seconds() -> i64 {
    wall_now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Milliseconds since the Unix epoch on the system's wall clock (0 before 1970).
pub fn unix_ms() -> i64 {
    wall_now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Wall-clock time read through tokio's clock, so that `tokio::time::pause()` also pauses
/// slot times in tests.
///
/// Anchored once: wall time = anchor wall time + tokio time elapsed since the anchor.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    wall_anchor_ms: i64,
    instant_anchor: tokio::time::Instant,
}

impl Clock {
    /// A clock anchored on the system's wall clock now.
    pub fn system() -> Self {
        Self::anchored_at(SlotTime(unix_ms()))
    }

    /// A clock that reads `wall` now (tests use a fixed wall time).
    pub fn anchored_at(wall: SlotTime) -> Self {
        Clock {
            wall_anchor_ms: wall.0,
            instant_anchor: monotonic_now(),
        }
    }

    /// The current wall time.
    pub fn now(&self) -> SlotTime {
        let elapsed = self.instant_anchor.elapsed().as_millis();
        SlotTime(
            self.wall_anchor_ms
                .saturating_add(i64::try_from(elapsed).unwrap_or(i64::MAX)),
        )
    }

    /// The tokio instant at which the wall clock reads `t` (now, if `t` is in the past).
    pub fn instant_of(&self, t: SlotTime) -> tokio::time::Instant {
        let now_wall = self.now();
        let ahead = u64::try_from(t.0.saturating_sub(now_wall.0)).unwrap_or(0);
        monotonic_now() + Duration::from_millis(ahead)
    }
}
