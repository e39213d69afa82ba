//! Helpers shared by the unit tests.

use std::time::Duration;

/// How often [`poll_until`] looks.
const POLL: Duration = Duration::from_millis(10);

/// Polls `cond` until it holds or `deadline` has passed: `Some(waited)` or `None`. Reads
/// tokio's clock, so a test with paused time advances the virtual clock at each poll.
pub(crate) async fn poll_until(
    deadline: Duration,
    mut cond: impl FnMut() -> bool,
) -> Option<Duration> {
    let start = crate::model::clock::monotonic_now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() >= deadline {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// [`poll_until`] that fails the test, naming `what`, on timeout; returns the wait.
pub(crate) async fn wait_for(
    what: &str,
    deadline: Duration,
    cond: impl FnMut() -> bool,
) -> Duration {
    match poll_until(deadline, cond).await {
        Some(waited) => waited,
        None => panic!("timed out after {deadline:?} waiting for {what}"),
    }
}
