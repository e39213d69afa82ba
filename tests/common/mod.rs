//! Harness shared by the integration tests: the shoal binary as a real process, HTTP
//! targets whose answers change at run time, a recording remote-write receiver, and the
//! real Prometheus from Debian as a receiver.
//!
//! Every server binds a free port on a loopback address and every process gets its own
//! temporary directory, so tests run in parallel. Conditions are awaited with
//! [`wait_for`] / [`wait_for_async`] (polling with a deadline), never with fixed sleeps.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]
// Each test file compiles this module on its own and uses a different part of it.
#![allow(dead_code)]

pub mod cluster;
pub mod exporter;
pub mod gossip_proxy;
pub mod kube_api;
pub mod process;
pub mod prometheus;
pub mod receiver;
pub mod samples;
pub mod shoal;
pub mod target;
pub mod tcp_proxy;
pub mod wal_agent;

use std::future::Future;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

// Each test file uses a different subset of these.
#[allow(unused_imports)]
pub use process::{Daemon, find_binary, require_binary};
#[allow(unused_imports)]
pub use prometheus::Prometheus;
#[allow(unused_imports)]
pub use receiver::Receiver;
#[allow(unused_imports)]
pub use samples::{RecordedSample, is_stale_nan};
#[allow(unused_imports)]
pub use shoal::Shoal;
#[allow(unused_imports)]
pub use target::{Reply, TargetServer};

/// How often conditions are re-checked.
const POLL: Duration = Duration::from_millis(50);

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub async fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Like [`wait_for`], for conditions that need to await (HTTP calls).
pub async fn wait_for_async<F, Fut>(timeout: Duration, mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A port that was free on `ip` a moment ago (the caller's process binds it next).
pub fn free_port(ip: &str) -> u16 {
    let ip: IpAddr = ip.parse().expect("loopback ip");
    let listener = TcpListener::bind(SocketAddr::new(ip, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_millis()).expect("millis fit in i64")
}

/// An HTTP client for talking to the processes under test (plain HTTP on loopback).
pub fn http_client() -> reqwest::Client {
    // reqwest is built without a default rustls provider; install ring once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()
        .expect("http client")
}

/// The config used by the compliance cases: what the Prometheus remote-write sender
/// suite gives every sender (1s interval, job `test`, one target, one remote write).
pub fn basic_config(target: &str, write_url: &str) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: test
    static_configs:
      - targets: ['{target}']
remote_write:
  - url: '{write_url}'
"#
    )
}
