//! Retry delays: exponential backoff and `Retry-After`, as Prometheus' queue manager does.
//! Pure: the caller sleeps.

use std::time::{Duration, SystemTime};

/// Backoff settings that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackoffError {
    /// A zero first delay would retry in a busy loop.
    #[error("min_backoff must be positive")]
    ZeroMin,
    /// The cap is below the first delay.
    #[error("max_backoff {max:?} is below min_backoff {min:?}")]
    MaxBelowMin {
        /// `min_backoff`.
        min: Duration,
        /// `max_backoff`.
        max: Duration,
    },
}

/// Exponential backoff from `min` doubling to `max`, with jitter; a server's `Retry-After`
/// replaces the next delay (exactly) and the doubling continues from it.
///
/// Why jitter: after an outage every shard of every peer would otherwise retry in
/// lockstep, and the receiver that just came back gets all of them at once. Each delay
/// is drawn from [d/2, d) ("equal jitter"), so the spread grows with the backoff while a
/// retry still waits at least half of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// A backoff whose first delay is about `min`; `min` must be positive and `max` at
    /// least `min`.
    pub fn new(min: Duration, max: Duration) -> Result<Self, BackoffError> {
        if min.is_zero() {
            return Err(BackoffError::ZeroMin);
        }
        if max < min {
            return Err(BackoffError::MaxBelowMin { min, max });
        }
        Ok(Self {
            min,
            max,
            next: min,
        })
    }

    /// The delay before the next attempt, given the server's `Retry-After` if any and a
    /// uniform draw `unit` in [0, 1) (the caller's randomness keeps this pure).
    #[must_use]
    pub fn next_delay(&mut self, retry_after: Option<Duration>, unit: f64) -> Duration {
        let (delay, jittered) = match retry_after {
            Some(d) if !d.is_zero() => (d, d),
            _ => {
                let half = self.next / 2;
                let unit = if unit.is_finite() {
                    unit.clamp(0.0, 1.0)
                } else {
                    0.0
                };
                (self.next, half + half.mul_f64(unit))
            }
        };
        self.next = delay.saturating_mul(2).min(self.max);
        jittered
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// Parses a `Retry-After` value: delay seconds or an HTTP-date. `None` when absent,
/// malformed or in the past (the caller then uses its own backoff).
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    at.duration_since(now).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_to_max_and_honours_retry_after() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(30), ms(200)).unwrap();
        // The top of each jitter range: the plain exponential sequence.
        let top: Vec<_> = (0..5).map(|_| b.next_delay(None, 1.0)).collect();
        assert_eq!(top, vec![ms(30), ms(60), ms(120), ms(200), ms(200)]);
        b.reset();
        let bottom: Vec<_> = (0..5).map(|_| b.next_delay(None, 0.0)).collect();
        assert_eq!(bottom, vec![ms(15), ms(30), ms(60), ms(100), ms(100)]);
        b.reset();
        assert_eq!(b.next_delay(None, 0.5), Duration::from_micros(22_500));
        // A bad draw is treated as 0, never as a longer or negative delay.
        assert_eq!(b.next_delay(None, f64::NAN), ms(30));
        b.reset();
        // The server's delay is kept exactly.
        assert_eq!(b.next_delay(Some(ms(1000)), 0.0), ms(1000));
        // Doubling continues from the server's delay, capped.
        assert_eq!(b.next_delay(None, 1.0), ms(200));
        b.reset();
        assert_eq!(b.next_delay(Some(Duration::ZERO), 1.0), ms(30));
    }

    #[test]
    fn settings_are_validated() {
        let ms = Duration::from_millis;
        assert_eq!(Backoff::new(ms(0), ms(10)), Err(BackoffError::ZeroMin));
        assert_eq!(
            Backoff::new(ms(20), ms(10)),
            Err(BackoffError::MaxBelowMin {
                min: ms(20),
                max: ms(10)
            })
        );
        assert!(Backoff::new(ms(10), ms(10)).is_ok());
    }

    #[test]
    fn jitter_spreads_retries() {
        let ms = Duration::from_millis;
        let delays: std::collections::BTreeSet<Duration> = (0..100)
            .map(|i| {
                Backoff::new(ms(100), ms(1000))
                    .unwrap()
                    .next_delay(None, f64::from(i) / 100.0)
            })
            .collect();
        assert_eq!(delays.len(), 100, "every draw gives its own delay");
        assert!(delays.iter().all(|d| (ms(50)..ms(100)).contains(d)));
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let date = httpdate::fmt_http_date(now + Duration::from_secs(7));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(7));
        let cases: &[(&str, &str, Option<Duration>)] = &[
            ("seconds", "3", Some(Duration::from_secs(3))),
            ("padded seconds", " 5 ", Some(Duration::from_secs(5))),
            ("http date", &date, Some(Duration::from_secs(7))),
            ("date in the past", &past, None),
            ("garbage", "soon", None),
            ("negative", "-1", None),
        ];
        for (name, v, want) in cases {
            assert_eq!(parse_retry_after(v, now), *want, "{name}");
        }
    }
}
