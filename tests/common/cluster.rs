//! A shoal cluster of real processes on 127.0.0.1: the targets it scrapes (plain
//! exporters, probes through one blackbox-style exporter, one centralized exporter), its
//! peers, their views, and the slot accounting the receiver's samples are checked with.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Receiver, RecordedSample, Reply, Shoal, TargetServer, wait_for};

/// Scrape interval of every cluster test job.
pub const INTERVAL_MS: i64 = 1_000;
/// `--cluster.handoff-delay` of every peer, the default: above the time a change takes to
/// reach every peer's view, which reached 3 s on a 2-core machine under a load average of
/// 20. CI machines are shared: with 3 s a rolling restart failed there once.
pub const HANDOFF_DELAY: &str = "5s";
/// Bound for every awaited condition.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// A UDP port that was free on 127.0.0.1 a moment ago (gossip is UDP).
pub fn free_udp_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    s.local_addr().expect("udp addr").port()
}

/// What the cluster scrapes: `plain` exporters (job `plain`), `probes` probe URLs behind
/// one blackbox-style exporter address (job `blackbox`, target identity from
/// `__param_target`), and one centralized exporter every peer knows (job `central`).
pub struct Fleet {
    plain: Vec<TargetServer>,
    blackbox: TargetServer,
    central: TargetServer,
    probes: Vec<String>,
}

impl Fleet {
    /// Starts the servers.
    pub async fn start(plain: usize, probes: usize) -> Fleet {
        let mut servers = Vec::new();
        for _ in 0..plain {
            let t = TargetServer::start().await;
            t.set("/metrics", Reply::text("g 1\n"));
            servers.push(t);
        }
        let blackbox = TargetServer::start().await;
        blackbox.set(
            "/probe",
            Reply::text("probe_success 1\nprobe_duration_seconds 0.001\n"),
        );
        let central = TargetServer::start().await;
        central.set("/metrics", Reply::text("kube_pod_info 1\n"));
        let probes = (0..probes)
            .map(|i| format!("http://probe-{i}.example/health"))
            .collect();
        Fleet {
            plain: servers,
            blackbox,
            central,
            probes,
        }
    }

    /// Targets in all (each probe URL counts as one).
    pub fn len(&self) -> usize {
        self.plain.len() + self.probes.len() + 1
    }

    /// The `instance` label of every target.
    pub fn instances(&self) -> BTreeSet<String> {
        let mut out: BTreeSet<String> = self.plain.iter().map(TargetServer::addr).collect();
        out.extend(self.probes.iter().cloned());
        out.insert(self.central.addr());
        out
    }

    /// Requests the blackbox-style exporter answered.
    pub fn probe_hits(&self) -> u64 {
        self.blackbox.hits("/probe")
    }

    /// The peers' config, remote writing to `write_url`.
    pub fn config(&self, write_url: &str) -> String {
        let quoted = |v: &mut dyn Iterator<Item = String>| {
            v.map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
        };
        format!(
            r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: plain
    static_configs:
      - targets: [{plain}]
{blackbox}  - job_name: central
    static_configs:
      - targets: ['{central}']
remote_write:
  - url: '{write_url}'
    queue_config: {{batch_send_deadline: 200ms}}
"#,
            plain = quoted(&mut self.plain.iter().map(TargetServer::addr)),
            blackbox =
                super::exporter::blackbox_job("blackbox", &self.probes, &self.blackbox.addr()),
            central = self.central.addr(),
        )
    }
}

/// How one peer is started: its name, gossip socket, what it advertises and its seed.
#[derive(Clone, Debug)]
pub struct PeerSpec {
    /// `--cluster.node-name`.
    pub name: String,
    /// Port of `--cluster.listen-address` on 127.0.0.1.
    pub gossip: u16,
    /// `--cluster.advertise-address` (a [`super::gossip_proxy::GossipProxy`] front), if not
    /// the listen address.
    pub advertise: Option<SocketAddr>,
    /// `--cluster.join` seed: `ip:port` or `name:port`.
    pub join: Option<String>,
    /// `--storage.path`, kept across restarts like a StatefulSet volume.
    pub storage: PathBuf,
}

impl PeerSpec {
    /// A peer named `name` with a fresh gossip port and its storage under `dir`.
    pub fn new(name: &str, dir: &std::path::Path, join: Option<SocketAddr>) -> PeerSpec {
        PeerSpec {
            name: name.to_string(),
            gossip: free_udp_port(),
            advertise: None,
            join: join.map(|a| a.to_string()),
            storage: dir.join(name),
        }
    }

    /// The address other peers dial.
    pub fn gossip_address(&self) -> SocketAddr {
        self.advertise
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], self.gossip)))
    }

    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "--cluster.enabled".to_string(),
            format!("--cluster.node-name={}", self.name),
            format!("--cluster.listen-address=127.0.0.1:{}", self.gossip),
            format!("--cluster.handoff-delay={HANDOFF_DELAY}"),
            format!("--storage.path={}", self.storage.display()),
            "--storage.wal.enabled".to_string(),
        ];
        if let Some(a) = self.advertise {
            args.push(format!("--cluster.advertise-address={a}"));
        }
        if let Some(seed) = &self.join {
            args.push(format!("--cluster.join={seed}"));
        }
        args
    }
}

/// A running peer.
pub struct Peer {
    /// How it was started (reused by [`Peer::restart`]).
    pub spec: PeerSpec,
    /// The process.
    pub shoal: Shoal,
}

impl Peer {
    /// Starts the peer and waits until it is ready (joined: it owns slots).
    pub async fn start(spec: PeerSpec, config: &str) -> Peer {
        let args = spec.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let shoal = Shoal::start_with_args(config, &args).await;
        Peer { spec, shoal }
    }

    /// Starts the peer's processes without waiting (several join at once).
    pub fn spawn(spec: PeerSpec, config: &str) -> Peer {
        let args = spec.args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let shoal = Shoal::spawn(config, &args);
        Peer { spec, shoal }
    }

    /// Waits until a spawned peer is ready.
    pub async fn wait_ready(&mut self) {
        let ok = self.shoal.wait_ready(TIMEOUT).await;
        assert!(
            ok,
            "{} not ready; log:\n{}",
            self.spec.name,
            self.shoal.log_tail()
        );
    }

    /// SIGTERM, then waits for exit 0 (the planned leave).
    pub async fn stop(&mut self) {
        self.shoal.sigterm();
        let status = self.shoal.wait_exit(TIMEOUT).await;
        assert!(
            status.success(),
            "{} exited with {status}:\n{}",
            self.spec.name,
            self.shoal.log_tail()
        );
    }

    /// `GET /api/v1/cluster`.
    pub async fn status(&self) -> Value {
        let (status, body) = self.shoal.get("/api/v1/cluster").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("cluster json")
    }

    /// Owner of each target (by `instance`) as this peer computes it now
    /// (`/api/v1/cluster/targets`).
    pub async fn owners(&self) -> BTreeMap<String, String> {
        self.cluster_targets()
            .await
            .iter()
            .map(|t| {
                let s = |v: &Value| v.as_str().unwrap_or("").to_string();
                (s(&t["labels"]["instance"]), s(&t["owner"]))
            })
            .collect()
    }

    /// `data.activeTargets` of `/api/v1/cluster/targets` (empty if the call fails).
    pub async fn cluster_targets(&self) -> Vec<Value> {
        let (status, body) = self.shoal.get("/api/v1/cluster/targets").await;
        if status != 200 {
            return Vec::new();
        }
        serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["data"]["activeTargets"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The targets (by `instance`) this peer scrapes now (`/api/v1/targets`).
    pub async fn scraped(&self) -> BTreeSet<String> {
        self.shoal
            .active_targets()
            .await
            .iter()
            .map(|t| t["labels"]["instance"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// This peer's own entry in its view.
    pub async fn me(&self) -> Value {
        let st = self.status().await;
        st["peers"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["name"] == st["self"]))
            .cloned()
            .unwrap_or_default()
    }
}

/// Waits until a whole interval has passed since the latest `active_from` in `peer`'s
/// view: from then on every target's current slot is owned by the current ring (the
/// `owner` in `/api/v1/targets` is the owner of the slot that contains now).
pub async fn settle(peer: &Peer) {
    let st = peer.status().await;
    let latest = st["peers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["active_from"].as_i64())
                .max()
                .unwrap_or(0)
        })
        .unwrap_or(0);
    let at = latest + INTERVAL_MS;
    let ok = wait_for(TIMEOUT, || super::now_ms() > at).await;
    assert!(ok, "clock did not pass {at}");
}

/// Gossip bytes this peer sent and received so far (`/metrics`).
pub async fn gossip_bytes(peer: &Peer) -> u64 {
    let (_, text) = peer.shoal.get("/metrics").await;
    text.lines()
        .filter(|l| l.starts_with("shoal_cluster_gossip_bytes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Mean gossip bytes per second per peer (sent plus received) over `secs` seconds.
pub async fn gossip_rate(peers: &[&Peer], secs: u64) -> f64 {
    let mut before = 0;
    for p in peers {
        before += gossip_bytes(p).await;
    }
    let start = Instant::now();
    let until = start + Duration::from_secs(secs);
    wait_for(TIMEOUT, || Instant::now() >= until).await;
    let mut after = 0;
    for p in peers {
        after += gossip_bytes(p).await;
    }
    (after - before) as f64 / start.elapsed().as_secs_f64() / peers.len() as f64
}

/// When `peer` logged that it saw `subject` become a participant (ms since the epoch, from
/// the log line's timestamp): the moment its view changed, whatever HTTP polling adds.
pub fn logged_participant(peer: &Peer, subject: &str) -> Option<i64> {
    let needle = format!("peer={subject} ");
    peer.shoal
        .log()
        .lines()
        .filter(|l| l.contains(&needle) && l.contains(" state=participant"))
        .find_map(|l| {
            l.strip_prefix("ts=")?
                .split(' ')
                .next()
                .and_then(rfc3339_ms)
        })
}

/// `2026-11-22T07:39:25.573Z` as ms since the epoch (UTC, millisecond precision).
fn rfc3339_ms(s: &str) -> Option<i64> {
    let (date, time) = s.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|x| x.parse::<i64>().ok());
    let (h, min, sec) = (t.next()??, t.next()??, t.next()??);
    let ms: i64 = format!("{frac:0<3}").get(..3)?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + h) * 60 + min) * 60_000 + sec * 1000 + ms)
}

/// Names of the participants in `peer`'s view.
pub async fn participants(peer: &Peer) -> BTreeSet<String> {
    let st = peer.status().await;
    st["peers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|p| p["state"] == "participant")
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The view hash when every peer in `peers` shows `names` as its participants and the
/// same hash.
pub async fn converged(peers: &[&Peer], names: &BTreeSet<String>) -> Option<String> {
    let mut hashes = BTreeSet::new();
    for p in peers {
        if participants(p).await != *names {
            return None;
        }
        let st = p.status().await;
        hashes.insert(st["view_hash"].as_str().unwrap_or("").to_string());
    }
    (hashes.len() == 1).then(|| hashes.into_iter().next().unwrap_or_default())
}

/// Waits until every peer in `peers` agrees that the participants are exactly them;
/// returns the hash and how long it took.
pub async fn wait_converged(peers: &[&Peer]) -> (String, Duration) {
    let names: BTreeSet<String> = peers.iter().map(|p| p.spec.name.clone()).collect();
    wait_view(peers, &names).await
}

/// Waits until every peer in `peers` shows `names` as the participants.
pub async fn wait_view(peers: &[&Peer], names: &BTreeSet<String>) -> (String, Duration) {
    let start = Instant::now();
    loop {
        if let Some(h) = converged(peers, names).await {
            return (h, start.elapsed());
        }
        if start.elapsed() > TIMEOUT {
            let mut seen = Vec::new();
            for p in peers {
                seen.push(p.status().await.to_string());
            }
            panic!("peers did not converge on {names:?}; statuses: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `up` sample timestamps per target `instance`.
pub fn up_slots(samples: &[RecordedSample]) -> BTreeMap<String, Vec<i64>> {
    let mut by_target: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for s in samples.iter().filter(|s| s.name() == "up") {
        by_target
            .entry(s.get("instance").unwrap_or("").to_string())
            .or_default()
            .push(s.timestamp);
    }
    by_target
}

/// Missing and duplicate slots of one target (or a sum).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotCount {
    /// Slots with no `up` sample.
    pub missing: usize,
    /// Extra `up` samples for a slot (or off the grid).
    pub duplicate: usize,
}

/// Missing and duplicate slots per target in `[from, to)`; a target's grid phase is read
/// from its samples (every sample sits on the grid).
pub fn count_slots(
    slots: &BTreeMap<String, Vec<i64>>,
    from: i64,
    to: i64,
) -> BTreeMap<String, SlotCount> {
    let mut out = BTreeMap::new();
    for (target, ts) in slots {
        let Some(&first) = ts.first() else { continue };
        let phase = first.rem_euclid(INTERVAL_MS);
        let mut c = SlotCount::default();
        let mut slot = from - (from - phase).rem_euclid(INTERVAL_MS);
        if slot < from {
            slot += INTERVAL_MS;
        }
        while slot < to {
            match ts.iter().filter(|&&t| t == slot).count() {
                0 => c.missing += 1,
                1 => {}
                n => c.duplicate += n - 1,
            }
            slot += INTERVAL_MS;
        }
        // Off-grid samples would be a bug of their own.
        c.duplicate += ts
            .iter()
            .filter(|&&t| t >= from && t < to && t.rem_euclid(INTERVAL_MS) != phase)
            .count();
        out.insert(target.clone(), c);
    }
    out
}

/// The sum over targets.
pub fn total(counts: &BTreeMap<String, SlotCount>) -> SlotCount {
    counts
        .values()
        .fold(SlotCount::default(), |a, c| SlotCount {
            missing: a.missing + c.missing,
            duplicate: a.duplicate + c.duplicate,
        })
}

/// Waits until every target in `want` (by `instance`) has an `up` sample at or after `t`.
pub async fn wait_samples_until(receiver: &Receiver, want: &BTreeSet<String>, t: i64) {
    let ok = wait_for(TIMEOUT, || {
        let slots = up_slots(&receiver.samples());
        want.iter()
            .all(|i| slots.get(i).is_some_and(|ts| ts.iter().any(|&x| x >= t)))
    })
    .await;
    assert!(ok, "the receiver has no samples up to {t} for every target");
}

/// Counts `[from, to)` once the receiver has everything up to `to`, prints the totals and
/// asserts that exactly the targets in `want` (by `instance`) were seen; returns the
/// per-target counts.
pub async fn slots_between(
    what: &str,
    receiver: &Receiver,
    want: &BTreeSet<String>,
    from: i64,
    to: i64,
) -> BTreeMap<String, SlotCount> {
    wait_samples_until(receiver, want, to + INTERVAL_MS).await;
    // Each peer sends on its own: a target's later slots (new owner) can arrive before its
    // earlier ones (old owner, still in its queue). Count again until clean or settled.
    let settled = Instant::now() + Duration::from_secs(5);
    let mut counts = count_slots(&up_slots(&receiver.samples()), from, to);
    while total(&counts).missing > 0 && Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(200)).await;
        counts = count_slots(&up_slots(&receiver.samples()), from, to);
    }
    let seen: BTreeSet<String> = counts.keys().cloned().collect();
    assert_eq!(&seen, want, "{what}: targets seen at the receiver");
    let t = total(&counts);
    eprintln!(
        "{what}: {} missing, {} duplicate slots over {} targets and {} s",
        t.missing,
        t.duplicate,
        counts.len(),
        (to - from) / 1000
    );
    counts
}

/// Asserts that no target has a missing or duplicate slot.
pub fn assert_clean(what: &str, counts: &BTreeMap<String, SlotCount>) {
    let bad: Vec<_> = counts
        .iter()
        .filter(|(_, c)| **c != SlotCount::default())
        .collect();
    assert!(bad.is_empty(), "{what}: slots not exactly once: {bad:?}");
}
