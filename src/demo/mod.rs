//! `shoal demo`: a local cluster with its own targets and receiver, in one command.
//!
//! Starts in-process targets ([`targets`]) and the recording receiver, then a few peers as
//! child processes ([`peers`]), and every second shows who scrapes what ([`status`],
//! [`display`]) and the missing and duplicate slots seen at the receiver ([`ledger`]).
//! A peer is added or removed on a key press ([`term`]) or a timer; Ctrl-C stops the
//! peers gracefully and prints a summary. `session` holds the running state and loop.

pub mod config;
pub mod display;
pub mod ledger;
pub mod owners;
pub mod peers;
mod session;
pub mod status;
pub mod targets;
pub mod term;

use std::collections::VecDeque;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use ledger::SlotTotals;
use session::{Demo, Signals};

/// Events kept on screen.
const RECENT_EVENTS: usize = 6;

/// What `shoal demo` was asked to do.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Peers started at the beginning (at least 1).
    pub peers: usize,
    /// Period of the automatic add/remove (zero: off).
    pub churn_interval: Duration,
    /// Stop after this long (None: at Ctrl-C, SIGTERM or `q`).
    pub duration: Option<Duration>,
}

/// The outcome, printed as the final `summary` line.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Targets in the configuration.
    pub targets: usize,
    /// Targets seen at the receiver.
    pub targets_seen: usize,
    /// Samples received.
    pub samples: u64,
    /// Slot counts from each target's first sample to the stop.
    pub slots: SlotTotals,
    /// Peers added after the start.
    pub added: usize,
    /// Peers removed (SIGTERM) during the run that exited 0.
    pub removed: usize,
    /// Peers that exited without being asked, with an error, or only when killed.
    pub failed: usize,
}

impl Summary {
    /// The `summary key=value ...` line.
    pub fn line(&self) -> String {
        let s = &self.slots;
        format!(
            "summary targets={} seen={} samples={} slots={} missing={} duplicate={} \
             off_grid={} late={} added={} removed={} failed={}",
            self.targets,
            self.targets_seen,
            self.samples,
            s.slots,
            s.missing,
            s.duplicate,
            s.off_grid,
            s.late,
            self.added,
            self.removed,
            self.failed
        )
    }
}

/// The demo's working directory (configs, peer data, logs); removed at the end unless a
/// peer failed (its log is worth reading then).
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl WorkDir {
    fn create() -> anyhow::Result<WorkDir> {
        let path = std::env::temp_dir().join(format!("shoal-demo-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(WorkDir { path, keep: false })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Where the demo writes: a redrawn screen on a terminal, lines otherwise.
struct Output {
    tty: bool,
    started: Instant,
    recent: VecDeque<String>,
}

impl Output {
    /// An event: a line of its own without a terminal, the recent list on one.
    fn event(&mut self, msg: String) {
        let t = self.started.elapsed();
        if self.tty {
            if self.recent.len() == RECENT_EVENTS {
                self.recent.pop_front();
            }
            self.recent
                .push_back(format!("{:>6} {msg}", display::clock(t)));
        } else {
            emit(&format!("event t={} {msg}", t.as_secs()));
        }
    }
}

fn emit(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// Runs the demo until `q`, Ctrl-C, SIGTERM or `--demo.duration`; returns the summary
/// (also printed). Errors are start-up failures.
///
/// Call it on a current-thread runtime: peers die with the thread that forked them
/// (`PR_SET_PDEATHSIG`), which must therefore live as long as the demo.
pub async fn run(opts: DemoOptions) -> anyhow::Result<Summary> {
    let mut signals = Signals {
        int: signal(SignalKind::interrupt()).context("installing SIGINT handler")?,
        term: signal(SignalKind::terminate()).context("installing SIGTERM handler")?,
    };
    crate::http_client::install_crypto_provider();
    let mut dir = WorkDir::create()?;
    let tty = term::stdout_is_tty();
    let key_mode = tty.then(term::KeyMode::enable).flatten();
    let keys = key_mode.as_ref().map(term::KeyMode::keys);
    let mut demo = Demo::start(&dir, tty, keys.is_some()).await?;
    for _ in 0..opts.peers.max(1) {
        demo.add_peer(true);
    }
    let reason = demo.run_until_stop(&opts, keys, &mut signals).await;
    drop(key_mode);
    let summary = demo.stop(reason, &mut signals).await;
    dir.keep = summary.failed > 0;
    if dir.keep {
        demo.out.event(format!(
            "kept dir={} (a peer failed; see its log)",
            dir.path.display()
        ));
    }
    emit(&summary.line());
    Ok(summary)
}
