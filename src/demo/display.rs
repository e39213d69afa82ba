//! Rendering of the demo's state: a full screen for a terminal, one `key=value` status
//! line per refresh otherwise (parseable by scripts and tests). Pure: text out.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use super::config::{BLACKBOX_JOB, CENTRAL_JOB, NODE_JOB};
use super::ledger::SlotTotals;
use super::status::PeerReport;

/// Clear the screen and home the cursor.
const CLEAR: &str = "\x1b[2J\x1b[H";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";
const JOBS: [&str; 3] = [NODE_JOB, BLACKBOX_JOB, CENTRAL_JOB];

/// One peer's row.
#[derive(Clone, Debug)]
pub struct PeerRow {
    /// Node name.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// Web address.
    pub web: SocketAddr,
    /// SIGTERM sent.
    pub stopping: bool,
    /// What it answered.
    pub report: PeerReport,
}

impl PeerRow {
    fn state(&self) -> &str {
        match (&self.report.state, self.stopping) {
            (Some(s), _) => s,
            (None, true) => "stopping",
            (None, false) => "starting",
        }
    }
}

/// Everything one refresh shows.
#[derive(Clone, Debug)]
pub struct Frame<'a> {
    /// Time since the demo started.
    pub elapsed: Duration,
    /// Live peers, oldest first.
    pub peers: Vec<PeerRow>,
    /// Targets in the configuration.
    pub targets: usize,
    /// Targets with at least one sample at the receiver.
    pub targets_seen: usize,
    /// Samples received in all.
    pub samples: u64,
    /// Slot counts so far.
    pub slots: SlotTotals,
    /// Slots younger than this are not counted yet.
    pub settle_lag: Duration,
    /// Peers shown with their last answer because they did not answer this time.
    pub stale: usize,
    /// Recent events, oldest first.
    pub events: &'a [String],
    /// Whether key presses are read.
    pub keys: bool,
    /// Add/remove period (None: off).
    pub churn: Option<Duration>,
}

impl Frame<'_> {
    fn views(&self) -> usize {
        let hashes: BTreeSet<&str> = self
            .peers
            .iter()
            .filter_map(|p| p.report.view_hash.as_deref())
            .collect();
        hashes.len()
    }

    fn owned(&self) -> u64 {
        self.peers.iter().map(|p| p.report.owned_total()).sum()
    }

    /// Who owns the centralized exporter (comma-separated if, wrongly, several).
    fn central_owner(&self) -> String {
        let owners: Vec<&str> = self
            .peers
            .iter()
            .filter(|p| p.report.owned.get(CENTRAL_JOB).is_some_and(|n| *n > 0))
            .map(|p| p.name.as_str())
            .collect();
        match owners.is_empty() {
            true => "none".into(),
            false => owners.join(","),
        }
    }
}

/// Formats a duration as `1m05s` (or `42s`).
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    match s / 60 {
        0 => format!("{s}s"),
        m => format!("{m}m{:02}s", s % 60),
    }
}

/// The whole screen, for a terminal.
pub fn screen(f: &Frame<'_>) -> String {
    let mut o = String::from(CLEAR);
    let _ = writeln!(
        o,
        "{BOLD}shoal demo{RESET}  {} peers, {} targets, up {}",
        f.peers.len(),
        f.targets,
        clock(f.elapsed)
    );
    let churn = f.churn.map_or("off".to_string(), |d| {
        format!("add/remove every {}", clock(d))
    });
    let keys = match f.keys {
        true => "keys: a = add a peer, r = remove the newest, q = quit",
        false => "Ctrl-C quits",
    };
    let _ = writeln!(o, "{keys}    churn: {churn}\n");
    let _ = writeln!(
        o,
        "{BOLD}{:<8} {:>8}  {:<12} {:<21} {:<10} {:>5} {:>5} {:>8} {:>7}{RESET}",
        "PEER", "PID", "STATE", "WEB", "VIEW", "OWNED", JOBS[0], JOBS[1], JOBS[2]
    );
    for p in &f.peers {
        let view = p.report.view_hash.as_deref().unwrap_or("-");
        let job = |j: &str| p.report.owned.get(j).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            "{:<8} {:>8}  {:<12} {:<21} {:<10.8} {:>5} {:>5} {:>8} {:>7}",
            p.name,
            p.pid,
            p.state(),
            p.web.to_string(),
            view,
            p.report.owned_total(),
            job(JOBS[0]),
            job(JOBS[1]),
            job(JOBS[2]),
        );
    }
    let mut views = match f.views() {
        1 => "1 (all peers agree)".to_string(),
        n => format!("{n} (converging)"),
    };
    if f.stale > 0 {
        let _ = write!(
            views,
            ", {} slow peer(s) shown with their last answer",
            f.stale
        );
    }
    let _ = writeln!(
        o,
        "\nowned {} of {} targets; distinct views: {views}; central exporter scraped by {}",
        f.owned(),
        f.targets,
        f.central_owner()
    );
    let s = &f.slots;
    let _ = writeln!(
        o,
        "receiver: {} samples from {}/{} targets; {} slots counted (older than {}): \
         {BOLD}{} missing, {} duplicate{RESET}{}",
        f.samples,
        f.targets_seen,
        f.targets,
        s.slots,
        clock(f.settle_lag),
        s.missing,
        s.duplicate,
        oddities(s),
    );
    o.push_str("\nrecent events:\n");
    for e in f.events {
        let _ = writeln!(o, "  {e}");
    }
    o
}

/// One line per refresh, `key=value` separated by spaces.
pub fn line(f: &Frame<'_>) -> String {
    let participants = f
        .peers
        .iter()
        .filter(|p| p.report.state.as_deref() == Some("participant"))
        .count();
    let owners: Vec<String> = f
        .peers
        .iter()
        .map(|p| format!("{}:{}", p.name, p.report.owned_total()))
        .collect();
    let s = &f.slots;
    format!(
        "status t={} peers={} stale={} participants={participants} views={} targets={} seen={} \
         owned={} samples={} slots={} missing={} duplicate={} off_grid={} late={} owners={} \
         central={}",
        f.elapsed.as_secs(),
        f.peers.len(),
        f.stale,
        f.views(),
        f.targets,
        f.targets_seen,
        f.owned(),
        f.samples,
        s.slots,
        s.missing,
        s.duplicate,
        s.off_grid,
        s.late,
        owners.join(","),
        f.central_owner(),
    )
}

fn oddities(s: &SlotTotals) -> String {
    match (s.off_grid, s.late) {
        (0, 0) => String::new(),
        (o, l) => format!(" ({o} off the grid, {l} late)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(events: &[String]) -> Frame<'_> {
        let mut report = PeerReport {
            state: Some("participant".into()),
            view_hash: Some("9f3a21c0ffee".into()),
            participants: 2,
            ..Default::default()
        };
        report.owned.insert(NODE_JOB.into(), 4);
        report.owned.insert(CENTRAL_JOB.into(), 1);
        let peers = vec![
            PeerRow {
                name: "peer-0".into(),
                pid: 100,
                web: "127.0.0.1:9000".parse().unwrap(),
                stopping: false,
                report,
            },
            PeerRow {
                name: "peer-1".into(),
                pid: 101,
                web: "127.0.0.1:9001".parse().unwrap(),
                stopping: true,
                report: PeerReport::default(),
            },
        ];
        Frame {
            elapsed: Duration::from_secs(65),
            peers,
            targets: 31,
            targets_seen: 30,
            samples: 1234,
            slots: SlotTotals {
                slots: 400,
                duplicate: 1,
                ..Default::default()
            },
            settle_lag: Duration::from_secs(10),
            stale: 0,
            events,
            keys: true,
            churn: Some(Duration::from_secs(20)),
        }
    }

    #[test]
    fn status_line_is_key_values() {
        let l = line(&frame(&[]));
        assert_eq!(
            l,
            "status t=65 peers=2 stale=0 participants=1 views=1 targets=31 seen=30 owned=5 samples=1234 \
             slots=400 missing=0 duplicate=1 off_grid=0 late=0 owners=peer-0:5,peer-1:0 \
             central=peer-0"
        );
    }

    #[test]
    fn screen_shows_peers_totals_and_events() {
        let events = ["0m20s added peer-1".to_string()];
        let s = screen(&frame(&events));
        for want in [
            "up 1m05s",
            "a = add a peer",
            "peer-0",
            "9f3a21c0 ",
            "stopping",
            "0 missing, 1 duplicate",
            "scraped by peer-0",
            "added peer-1",
        ] {
            assert!(s.contains(want), "{want:?} not in:\n{s}");
        }
        assert!(s.starts_with(CLEAR));
    }
}
