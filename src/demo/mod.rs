//! `shoal demo`: a local cluster with its own targets and receiver, in one command.
//!
//! Starts in-process targets ([`targets`]) and the recording receiver, then a few peers as
//! child processes ([`peers`]), and every second shows who scrapes what ([`status`],
//! [`display`]) and the missing and duplicate slots seen at the receiver ([`ledger`]).
//! A peer is added or removed on a key press ([`term`]) or a timer; Ctrl-C stops the
//! peers gracefully and prints a summary.

pub mod config;
pub mod display;
pub mod ledger;
pub mod owners;
pub mod peers;
pub mod status;
pub mod targets;
pub mod term;

use std::collections::{HashMap, VecDeque};
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::signal::unix::{SignalKind, signal};

use crate::receiver::Receiver;
use crate::series::STALE_NAN_BITS;
use display::{Frame, PeerRow};
use ledger::{SlotLedger, SlotTotals, TargetKey};
use owners::Owners;
use peers::{Exit, PeerSet};
use status::PeerReport;

/// Slots younger than this are not counted live: their samples may still be on the way.
const SETTLE_LAG: Duration = Duration::from_secs(10);
/// How long stopping peers get to hand over, flush and exit before SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(30);
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The running demo's state.
struct Demo {
    peers: PeerSet,
    receiver: Receiver,
    ledger: SlotLedger,
    samples: u64,
    out: Output,
    client: reqwest::Client,
    /// Whether key presses are read.
    keys: bool,
    /// Who owned what at the last refresh.
    owners: Owners,
    /// Each peer's last answer (by pid), shown while a slow peer does not answer.
    last_reports: HashMap<u32, PeerReport>,
    summary: Summary,
}

impl Demo {
    /// Starts one more peer; `initial` peers are not counted as added.
    fn add_peer(&mut self, initial: bool) {
        match self.peers.add() {
            Ok(p) => {
                let msg = format!(
                    "{} peer={} pid={} web={} gossip={}",
                    if initial { "started" } else { "added" },
                    p.name,
                    p.pid,
                    p.web,
                    p.gossip
                );
                self.summary.added += usize::from(!initial);
                self.out.event(msg);
            }
            Err(e) => {
                self.summary.failed += 1;
                self.out.event(format!("failed error=\"{e}\""));
            }
        }
    }

    fn remove_peer(&mut self) {
        match self.peers.remove_newest() {
            Some(name) => self
                .out
                .event(format!("removing peer={name} signal=SIGTERM")),
            None => self
                .out
                .event("kept the last peer (the oldest is never removed)".into()),
        }
    }

    /// One automatic step: up to `base + 1` peers, then back to `base`.
    fn churn(&mut self, base: usize) {
        if self.peers.running() <= base {
            self.add_peer(false);
        } else {
            self.remove_peer();
        }
    }

    fn record_exits(&mut self, exits: Vec<Exit>, during_run: bool) {
        for e in exits {
            let status = e.status.map_or("unknown".to_string(), |s| s.to_string());
            if e.graceful() {
                self.summary.removed += usize::from(during_run);
            } else {
                self.summary.failed += 1;
            }
            self.out.event(format!(
                "exited peer={} pid={} status=\"{status}\" graceful={} lived={}s log={}",
                e.name,
                e.pid,
                e.graceful(),
                e.lived.as_secs(),
                e.log.display()
            ));
        }
    }

    /// Feeds what the receiver got into the ledger; settles slots before `until`.
    fn account(&mut self, until: i64) {
        for s in self.receiver.take_samples() {
            self.samples += 1;
            if s.labels.get("__name__").map(String::as_str) != Some("up")
                || s.value.to_bits() == STALE_NAN_BITS
            {
                continue;
            }
            let key = TargetKey {
                job: s.labels.get("job").cloned().unwrap_or_default(),
                instance: s.labels.get("instance").cloned().unwrap_or_default(),
            };
            self.ledger.observe(&key, s.timestamp);
        }
        self.ledger.settle(until);
    }

    /// Reaps, accounts, asks every peer and shows the result.
    async fn refresh(&mut self, opts: &DemoOptions) {
        let exits = self.peers.reap();
        self.record_exits(exits, true);
        self.account(now_ms() - SETTLE_LAG.as_millis() as i64);
        let asks = self
            .peers
            .peers()
            .iter()
            .map(|p| status::poll(&self.client, p.web));
        let fresh = futures::future::join_all(asks).await;
        let mut stale = 0;
        let reports: Vec<PeerReport> = self
            .peers
            .peers()
            .iter()
            .zip(fresh)
            .map(
                |(p, r)| match (r.answered(), self.last_reports.get(&p.pid)) {
                    (false, Some(last)) => {
                        stale += 1;
                        last.clone()
                    }
                    _ => r,
                },
            )
            .collect();
        self.last_reports = self
            .peers
            .peers()
            .iter()
            .zip(&reports)
            .filter(|(_, r)| r.answered())
            .map(|(p, r)| (p.pid, r.clone()))
            .collect();
        let owners = Owners::from_reports(
            self.peers
                .peers()
                .iter()
                .map(|p| p.name.as_str())
                .zip(reports.iter()),
        );
        if let Some(moved) = owners::describe(&self.owners.update(owners)) {
            self.out.event(moved);
        }
        let rows = self
            .peers
            .peers()
            .iter()
            .zip(reports)
            .map(|(p, report)| PeerRow {
                name: p.name.clone(),
                pid: p.pid,
                web: p.web,
                stopping: p.phase == peers::Phase::Stopping,
                report,
            })
            .collect();
        let events: Vec<String> = self.out.recent.iter().cloned().collect();
        let frame = Frame {
            elapsed: self.out.started.elapsed(),
            peers: rows,
            targets: self.summary.targets,
            targets_seen: self.ledger.targets(),
            samples: self.samples,
            slots: self.ledger.totals(),
            settle_lag: SETTLE_LAG,
            stale,
            events: &events,
            keys: self.keys,
            churn: (!opts.churn_interval.is_zero()).then_some(opts.churn_interval),
        };
        match self.out.tty {
            true => {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(display::screen(&frame).as_bytes());
                let _ = out.flush();
            }
            false => emit(&display::line(&frame)),
        }
    }
}

/// Runs the demo until `q`, Ctrl-C, SIGTERM or `--demo.duration`; returns the summary
/// (also printed). Errors are start-up failures.
///
/// Call it on a current-thread runtime: peers die with the thread that forked them
/// (`PR_SET_PDEATHSIG`), which must therefore live as long as the demo.
pub async fn run(opts: DemoOptions) -> anyhow::Result<Summary> {
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    crate::http_client::install_crypto_provider();
    let exe = std::env::current_exe().context("cannot find the shoal binary")?;
    let mut dir = WorkDir::create()?;
    let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
    let receiver = Receiver::start(localhost)
        .await
        .context("cannot start the receiver")?;
    let targets = targets::Targets::start()
        .await
        .context("cannot start the demo targets")?;
    let addrs = targets.addrs();
    let peer_config = config::peer_config(addrs, &receiver.url());
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .context("cannot build the http client")?;
    let tty = term::stdout_is_tty();
    let key_mode = match tty {
        true => term::KeyMode::enable(),
        false => None,
    };
    let mut keys = key_mode.as_ref().map(term::KeyMode::keys);
    let mut demo = Demo {
        peers: PeerSet::new(exe, dir.path.clone(), peer_config),
        receiver,
        ledger: SlotLedger::new(config::SCRAPE_INTERVAL),
        samples: 0,
        out: Output {
            tty,
            started: Instant::now(),
            recent: VecDeque::with_capacity(RECENT_EVENTS),
        },
        client,
        keys: keys.is_some(),
        owners: Owners::default(),
        last_reports: HashMap::new(),
        summary: Summary {
            targets: addrs.count(),
            ..Summary::default()
        },
    };
    demo.out.event(format!(
        "setup dir={} receiver={} exporters={} probes={} blackbox={} central={} keys={}",
        dir.path.display(),
        demo.receiver.addr(),
        addrs.exporters.len(),
        addrs.probes.len(),
        addrs.blackbox,
        addrs.central,
        keys.is_some(),
    ));
    for _ in 0..opts.peers.max(1) {
        demo.add_peer(true);
    }

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let churn_every = (!opts.churn_interval.is_zero()).then_some(opts.churn_interval);
    let mut churn =
        churn_every.map(|d| tokio::time::interval_at(tokio::time::Instant::now() + d, d));
    let end = async {
        match opts.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(end);
    let reason = loop {
        tokio::select! {
            _ = tick.tick() => demo.refresh(&opts).await,
            _ = async { match churn.as_mut() {
                Some(c) => c.tick().await,
                None => std::future::pending().await,
            } } => demo.churn(opts.peers.max(1)),
            key = async { match keys.as_mut() {
                Some(k) => k.recv().await,
                None => std::future::pending().await,
            } } => match key {
                Some(b'a') => demo.add_peer(false),
                Some(b'r') => demo.remove_peer(),
                Some(b'q') => break "q",
                Some(_) => {}
                // Stdin closed: no more keys, keep running.
                None => keys = None,
            },
            _ = int.recv() => break "SIGINT",
            _ = term.recv() => break "SIGTERM",
            _ = &mut end => break "duration",
        }
    };
    drop(key_mode);

    // Slots before this instant were owned by a running peer: all must arrive.
    let stop_at = now_ms();
    demo.out.tty = false;
    demo.out.event(format!(
        "stopping reason={reason} peers={}",
        demo.peers.peers().len()
    ));
    tokio::select! {
        exits = demo.peers.shutdown(STOP_DEADLINE) => demo.record_exits(exits, false),
        _ = int.recv() => {
            demo.out.event("interrupted again: killing the peers".into());
            demo.summary.failed += demo.peers.peers().len();
        }
    }
    demo.account(stop_at);
    demo.summary.samples = demo.samples;
    demo.summary.slots = demo.ledger.totals();
    demo.summary.targets_seen = demo.ledger.targets();
    dir.keep = demo.summary.failed > 0;
    if dir.keep {
        demo.out.event(format!(
            "kept dir={} (a peer failed; see its log)",
            dir.path.display()
        ));
    }
    emit(&demo.summary.line());
    Ok(demo.summary)
}
