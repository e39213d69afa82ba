//! The running demo: its peers, receiver, targets and counts, the once-a-second refresh,
//! the churn and keys, and the graceful stop.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use anyhow::Context as _;

use super::display::{self, Frame, PeerRow};
use super::ledger::{SlotLedger, TargetKey};
use super::owners::{self, Owners};
use super::peers::{self, Exit, PeerSet};
use super::status::{self, PeerReport};
use super::{DemoOptions, Output, RECENT_EVENTS, Summary, WorkDir, config, emit, targets};
use crate::receiver::Receiver;
use crate::series::STALE_NAN_BITS;

/// Slots younger than this are not counted live: their samples may still be on the way.
const SETTLE_LAG: Duration = Duration::from_secs(10);
/// How long stopping peers get to hand over, flush and exit before SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// Why the demo stops.
pub(super) type StopReason = &'static str;

/// The signals that stop the demo.
pub(super) struct Signals {
    pub(super) int: tokio::signal::unix::Signal,
    pub(super) term: tokio::signal::unix::Signal,
}

/// The running demo's state.
pub(super) struct Demo {
    peers: PeerSet,
    receiver: Receiver,
    /// Served while the demo runs.
    _targets: targets::Targets,
    ledger: SlotLedger,
    samples: u64,
    pub(super) out: Output,
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
    pub(super) fn add_peer(&mut self, initial: bool) {
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
                "exited peer={} pid={} status=\"{status}\" graceful={} lived={}s{}",
                e.name,
                e.pid,
                e.graceful(),
                e.lived.as_secs(),
                // The work dir (and its logs) is kept only when a peer failed.
                match e.graceful() {
                    true => String::new(),
                    false => format!(" log={}", e.log.display()),
                },
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

    /// Starts the receiver and the targets; no peer yet.
    pub(super) async fn start(dir: &WorkDir, tty: bool, keys: bool) -> anyhow::Result<Demo> {
        let exe = std::env::current_exe().context("cannot find the shoal binary")?;
        let localhost = SocketAddr::from(([127, 0, 0, 1], 0));
        let receiver = Receiver::start(localhost)
            .await
            .context("cannot start the receiver")?;
        let targets = targets::Targets::start()
            .await
            .context("cannot start the demo targets")?;
        let addrs = targets.addrs().clone();
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("cannot build the http client")?;
        let mut demo = Demo {
            peers: PeerSet::new(
                exe,
                dir.path.clone(),
                config::peer_config(&addrs, &receiver.url()),
            ),
            receiver,
            _targets: targets,
            ledger: SlotLedger::new(config::SCRAPE_INTERVAL),
            samples: 0,
            out: Output {
                tty,
                started: crate::model::clock::thread_now(),
                recent: VecDeque::with_capacity(RECENT_EVENTS),
            },
            client,
            keys,
            owners: Owners::default(),
            last_reports: HashMap::new(),
            summary: Summary {
                targets: addrs.count(),
                ..Summary::default()
            },
        };
        demo.out.event(format!(
            "setup dir={} receiver={} exporters={} probes={} blackbox={} central={} keys={keys}",
            dir.path.display(),
            demo.receiver.addr(),
            addrs.exporters.len(),
            addrs.probes.len(),
            addrs.blackbox,
            addrs.central,
        ));
        Ok(demo)
    }

    /// Refreshes every second, churns, and follows keys until a reason to stop.
    pub(super) async fn run_until_stop(
        &mut self,
        opts: &DemoOptions,
        mut keys: Option<tokio::sync::mpsc::Receiver<u8>>,
        signals: &mut Signals,
    ) -> StopReason {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let churn_every = (!opts.churn_interval.is_zero()).then_some(opts.churn_interval);
        let mut churn = churn_every
            .map(|d| tokio::time::interval_at(crate::model::clock::monotonic_now() + d, d));
        let end = async {
            match opts.duration {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(end);
        loop {
            tokio::select! {
                // A stop due at the same instant as a churn tick wins: a peer started
                // just to be stopped would die before its signal handlers exist.
                biased;
                _ = signals.int.recv() => return "SIGINT",
                _ = signals.term.recv() => return "SIGTERM",
                _ = &mut end => return "duration",
                _ = tick.tick() => self.refresh(opts).await,
                _ = async { match churn.as_mut() {
                    Some(c) => c.tick().await,
                    None => std::future::pending().await,
                } } => self.churn(opts.peers.max(1)),
                key = async { match keys.as_mut() {
                    Some(k) => k.recv().await,
                    None => std::future::pending().await,
                } } => match key {
                    Some(b'a') => self.add_peer(false),
                    Some(b'r') => self.remove_peer(),
                    Some(b'q') => return "q",
                    Some(_) => {}
                    // Stdin closed: no more keys, keep running.
                    None => keys = None,
                },
            }
        }
    }

    /// Stops every peer gracefully (a second Ctrl-C kills them) and counts the slots up
    /// to the stop.
    pub(super) async fn stop(&mut self, reason: StopReason, signals: &mut Signals) -> Summary {
        // Slots before this instant were owned by a running peer: all must arrive.
        let stop_at = now_ms();
        self.out.tty = false;
        self.out.event(format!(
            "stopping reason={reason} peers={}",
            self.peers.peers().len()
        ));
        tokio::select! {
            exits = self.peers.shutdown(STOP_DEADLINE) => self.record_exits(exits, false),
            _ = signals.int.recv() => {
                self.out.event("interrupted again: killing the peers".into());
                self.summary.failed += self.peers.peers().len();
                self.peers.kill_all();
            }
        }
        self.account(stop_at);
        self.summary.samples = self.samples;
        self.summary.slots = self.ledger.totals();
        self.summary.targets_seen = self.ledger.targets();
        self.summary.clone()
    }
}

fn now_ms() -> i64 {
    crate::model::clock::wall_now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
