//! Real shoal peers on 127.0.0.1 scraping 60 targets (39 plain exporters, 20 probes
//! through one blackbox-style exporter address, one centralized exporter) into a
//! receiver that records every sample. Per target and slot, planned changes (joins,
//! SIGTERM, scale-down, rolling restart) give no missing and no duplicate slot; a
//! SIGKILL costs at most the slots until the failure detector drops the dead peer; a
//! partition gives duplicates, never a gap, and heals.
//!
//! The scenarios run one at a time (each starts up to five peers; together they would
//! starve a 2-core machine and turn scheduling delays into missed slots).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::disallowed_methods,
    reason = "test code: a failed step fails the test; it runs against real time"
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Instant;

use common::cluster::{
    Fleet, INTERVAL_MS, Peer, PeerSpec, assert_clean, count_slots, gossip_rate, logged_participant,
    participants, settle, slots_between, total, up_slots, wait_converged, wait_view,
};
use common::gossip_proxy::GossipProxy;
use tokio::sync::Mutex;

use common::{Receiver, Reply, Shoal, TargetServer, is_stale_nan, now_ms};

const PLAIN: usize = 39;
const PROBES: usize = 20;

/// One scenario at a time (see the module doc); async, so a failed test does not
/// poison it for the others.
static SERIAL: Mutex<()> = Mutex::const_new(());

struct Setup {
    fleet: Fleet,
    receiver: Receiver,
    config: String,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let fleet = Fleet::start(PLAIN, PROBES).await;
    let receiver = Receiver::start().await;
    let config = fleet.config(&receiver.url());
    let dir = tempfile::tempdir().expect("temp dir");
    Setup {
        fleet,
        receiver,
        config,
        dir,
    }
}

impl Setup {
    fn spec(&self, name: &str, join: Option<&Peer>) -> PeerSpec {
        PeerSpec::new(name, self.dir.path(), join.map(|p| p.spec.gossip_address()))
    }

    /// Starts `n` peers named `peer-0..`, the first alone and the others joining it.
    async fn start_peers(&self, n: usize) -> Vec<Peer> {
        let first = Peer::start(self.spec("peer-0", None), &self.config).await;
        let mut peers = vec![first];
        for i in 1..n {
            let spec = self.spec(&format!("peer-{i}"), Some(&peers[0]));
            peers.push(Peer::spawn(spec, &self.config));
        }
        for p in &mut peers[1..] {
            p.wait_ready().await;
        }
        let refs: Vec<&Peer> = peers.iter().collect();
        let (hash, took) = wait_converged(&refs).await;
        eprintln!("{n} peers converged on view {hash} {took:?} after the last was ready");
        peers
    }

    /// The first slot after which the cluster owns everything: the first peer's
    /// `active_from` plus one interval.
    async fn owned_from(&self, first: &Peer) -> i64 {
        first.me().await["active_from"]
            .as_i64()
            .expect("active_from")
            + INTERVAL_MS
    }
}

fn names(peers: &[&Peer]) -> BTreeSet<String> {
    peers.iter().map(|p| p.spec.name.clone()).collect()
}

/// Fraction of targets whose owner changed between two owner maps, and whether every
/// change went to `joined` (consistent hashing: no target moves between old peers).
fn moved(before: &BTreeMap<String, String>, after: &BTreeMap<String, String>, joined: &str) {
    let changed: Vec<_> = before
        .iter()
        .filter(|(t, o)| after.get(*t).is_some_and(|n| n != *o))
        .map(|(t, o)| (t.clone(), o.clone(), after[t].clone()))
        .collect();
    eprintln!(
        "{joined} joined: {} of {} targets moved ({:.3})",
        changed.len(),
        before.len(),
        changed.len() as f64 / before.len().max(1) as f64
    );
    let wrong: Vec<_> = changed.iter().filter(|(_, _, to)| to != joined).collect();
    assert!(
        wrong.is_empty(),
        "targets moved between old peers: {wrong:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_split_targets_and_hand_over_on_sigterm() {
    let _serial = SERIAL.lock().await;
    let s = setup().await;
    let mut peers = s.start_peers(3).await;
    for p in &peers {
        let me = p.me().await;
        assert_eq!(me["state"], "participant", "{me}");
        assert!(me["active_from"].as_i64().unwrap() <= now_ms(), "{me}");
    }
    let from = s.owned_from(&peers[0]).await;
    let steady_from = now_ms() + INTERVAL_MS;
    let steady_to = steady_from + 5 * INTERVAL_MS;
    let counts = slots_between(
        "joins and steady",
        &s.receiver,
        &s.fleet.instances(),
        from,
        steady_to,
    )
    .await;
    assert_clean("joins and steady", &counts);

    // Every target is owned by exactly one peer, and all peers agree on who.
    settle(&peers[0]).await;
    let owners = peers[0].owners().await;
    assert_eq!(
        owners.keys().cloned().collect::<BTreeSet<_>>(),
        s.fleet.instances()
    );
    for p in &peers[1..] {
        assert_eq!(p.owners().await, owners, "owners differ on {}", p.spec.name);
    }
    // Each peer's /api/v1/targets lists exactly what it scrapes: together, every target
    // once.
    let mut union = BTreeSet::new();
    for p in &peers {
        let mine: BTreeSet<String> = owners
            .iter()
            .filter(|(_, o)| **o == p.spec.name)
            .map(|(t, _)| t.clone())
            .collect();
        let scraped = p.scraped().await;
        assert_eq!(
            scraped, mine,
            "{} lists other targets than it owns",
            p.spec.name
        );
        for t in scraped {
            assert!(union.insert(t.clone()), "{t} listed by two peers");
        }
    }
    assert_eq!(union, s.fleet.instances());
    // The cluster-wide view shows each target's state as its owner reports it.
    let reported = common::wait_for_async(std::time::Duration::from_secs(10), || async {
        let all = peers[1].cluster_targets().await;
        all.len() == s.fleet.len()
            && all
                .iter()
                .all(|t| t["reportedBy"] == t["owner"] && t["health"] == "up")
    })
    .await;
    assert!(
        reported,
        "cluster targets not reported by their owners: {:?}",
        peers[1].cluster_targets().await
    );
    let st = peers[0].status().await;
    let owned: Vec<u64> = st["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["owned_targets"].as_u64().unwrap())
        .collect();
    let shares: Vec<f64> = st["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ring_share"].as_f64().unwrap())
        .collect();
    eprintln!("owned targets per peer: {owned:?}, ring shares {shares:.3?}");
    assert_eq!(owned.iter().sum::<u64>(), s.fleet.len() as u64, "{st}");
    assert!(owned.iter().all(|&n| n > 0), "{st}");
    // The probes are separate targets behind one address, spread over the peers.
    let probe_owners: BTreeSet<&String> = owners
        .iter()
        .filter(|(t, _)| t.starts_with("http://probe-"))
        .map(|(_, o)| o)
        .collect();
    assert!(
        probe_owners.len() > 1,
        "every probe on one peer: {owners:?}"
    );

    let rate = gossip_rate(&peers.iter().collect::<Vec<_>>(), 10).await;
    eprintln!("gossip at 3 peers: {rate:.0} bytes/s per peer (sent + received)");

    let (status, page) = peers[1].shoal.get("/").await;
    assert_eq!(status, 200);
    for name in [
        "peer-0",
        "peer-1",
        "peer-2",
        "ring share",
        "probe-0",
        "All targets of the cluster",
    ] {
        assert!(page.contains(name), "status page lacks {name}:\n{page}");
    }
    assert!(
        !page.contains("0001-01-01"),
        "zero time on the status page:\n{page}"
    );
    let (_, metrics) = peers[0].shoal.get("/metrics").await;
    for m in [
        "shoal_cluster_peers{state=\"participant\"} 3",
        "shoal_cluster_owned_targets ",
        "shoal_cluster_handoffs_total{job=\"plain\",direction=\"out\"}",
        "shoal_cluster_gossip_bytes_total{direction=\"sent\"}",
    ] {
        assert!(metrics.contains(m), "/metrics lacks {m}:\n{metrics}");
    }

    // SIGTERM peer-2: it scrapes until active_until, drains and exits 0; the others take
    // over at the same slot.
    let term_at = now_ms();
    let mut p2 = peers.pop().unwrap();
    p2.stop().await;
    eprintln!("peer-2 exited {} ms after SIGTERM", now_ms() - term_at);
    let refs: Vec<&Peer> = peers.iter().collect();
    let (_, took) = wait_converged(&refs).await;
    eprintln!("survivors converged {took:?} after peer-2 exited");
    let to = now_ms() + 3 * INTERVAL_MS;
    let counts = slots_between(
        "sigterm handoff",
        &s.receiver,
        &s.fleet.instances(),
        from,
        to,
    )
    .await;
    assert_clean("sigterm handoff", &counts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_three_to_five_to_two() {
    let _serial = SERIAL.lock().await;
    let s = setup().await;
    let mut peers = s.start_peers(3).await;
    let from = s.owned_from(&peers[0]).await;

    // 3 -> 4 -> 5, one at a time, checking what moved.
    for i in 3..5 {
        settle(&peers[0]).await;
        let before = peers[0].owners().await;
        let name = format!("peer-{i}");
        peers.push(Peer::start(s.spec(&name, Some(&peers[0])), &s.config).await);
        let refs: Vec<&Peer> = peers.iter().collect();
        let (_, took) = wait_converged(&refs).await;
        eprintln!("{name} joined; views converged {took:?} after it was ready");
        settle(&peers[0]).await;
        moved(&before, &peers[0].owners().await, &name);
    }
    let five_at = now_ms() + 2 * INTERVAL_MS;
    let counts = slots_between(
        "scale 3 -> 5",
        &s.receiver,
        &s.fleet.instances(),
        from,
        five_at,
    )
    .await;
    assert_clean("scale 3 -> 5", &counts);

    // 5 -> 2: three peers get SIGTERM at once, as an HPA scale-down of a Parallel
    // StatefulSet does.
    let mut leaving: Vec<Peer> = peers.drain(2..).collect();
    let term_at = now_ms();
    for p in &leaving {
        p.shoal.sigterm();
    }
    for p in &mut leaving {
        let status = p.shoal.wait_exit(common::cluster::TIMEOUT).await;
        assert!(status.success(), "{} exited with {status}", p.spec.name);
    }
    eprintln!("three peers exited {} ms after SIGTERM", now_ms() - term_at);
    let refs: Vec<&Peer> = peers.iter().collect();
    wait_converged(&refs).await;
    let to = now_ms() + 3 * INTERVAL_MS;
    let counts = slots_between(
        "scale 3 -> 5 -> 2",
        &s.receiver,
        &s.fleet.instances(),
        from,
        to,
    )
    .await;
    assert_clean("scale 3 -> 5 -> 2", &counts);
    // Targets that moved get no staleness marker from their old owner.
    let stale: Vec<String> = s
        .receiver
        .samples()
        .iter()
        .filter(|x| is_stale_nan(x.value))
        .map(|x| x.series_key())
        .collect();
    assert!(
        stale.is_empty(),
        "staleness markers for moved targets: {stale:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rolling_restart_of_every_peer() {
    let _serial = SERIAL.lock().await;
    let s = setup().await;
    let mut peers = s.start_peers(3).await;
    let from = s.owned_from(&peers[0]).await;
    for i in 0..peers.len() {
        let started = Instant::now();
        peers[i].stop().await;
        let spec = peers[i].spec.clone();
        // The same name, gossip port and WAL, as a StatefulSet pod comes back.
        peers[i] = Peer::start(spec, &s.config).await;
        let refs: Vec<&Peer> = peers.iter().collect();
        wait_converged(&refs).await;
        eprintln!("peer-{i} restarted and rejoined in {:?}", started.elapsed());
    }
    let to = now_ms() + 3 * INTERVAL_MS;
    let counts = slots_between(
        "rolling restart",
        &s.receiver,
        &s.fleet.instances(),
        from,
        to,
    )
    .await;
    assert_clean("rolling restart", &counts);
}

/// How long before a SIGKILL a scrape may have begun and still be under way (local
/// exporters answer in milliseconds; a loaded 2-core machine stretches that).
const IN_FLIGHT_MS: i64 = INTERVAL_MS / 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_is_taken_over_after_failure_detection() {
    let _serial = SERIAL.lock().await;
    let s = setup().await;
    let mut peers = s.start_peers(3).await;
    let from = s.owned_from(&peers[0]).await;
    settle(&peers[0]).await;
    let owners = peers[0].owners().await;
    let dead_targets: BTreeSet<String> = owners
        .iter()
        .filter(|(_, o)| *o == "peer-2")
        .map(|(t, _)| t.clone())
        .collect();

    let killed_at = now_ms();
    // A scrape under way at the kill (slot begun, samples not yet in the WAL) dies with the
    // process: its slot is one of the crash's losses, not a sample lost after writing.
    let lost_from = killed_at - IN_FLIGHT_MS;
    peers[2].shoal.sigkill();
    let _ = peers[2].shoal.wait_exit(common::cluster::TIMEOUT).await;
    let survivors: Vec<&Peer> = peers[..2].iter().collect();
    wait_view(&survivors, &names(&survivors)).await;
    let detected_at = now_ms();
    let detection = detected_at - killed_at;
    // Slots lost: those begun in the last IN_FLIGHT_MS before the kill and until takeover.
    let bound =
        usize::try_from((detection + IN_FLIGHT_MS + INTERVAL_MS - 1) / INTERVAL_MS).unwrap();
    eprintln!(
        "SIGKILL: survivors took over {detection} ms after the kill ({} targets of the dead \
         peer, at most {bound} missing slots each allowed from {IN_FLIGHT_MS} ms before the kill)",
        dead_targets.len()
    );
    assert!(detection < 10_000, "takeover took {detection} ms");

    let to = now_ms() + 3 * INTERVAL_MS;
    let counts = slots_between("sigkill", &s.receiver, &s.fleet.instances(), lost_from, to).await;
    for (t, c) in &counts {
        assert_eq!(c.duplicate, 0, "sigkill: duplicates for {t}: {counts:?}");
        if dead_targets.contains(t) {
            assert!(
                c.missing <= bound,
                "sigkill: {t} missed {c:?} (bound {bound})"
            );
        } else {
            let ts: Vec<i64> = up_slots(&s.receiver.samples())[t]
                .iter()
                .filter(|&&x| x >= killed_at - 2 * INTERVAL_MS)
                .map(|x| x - killed_at)
                .collect();
            assert_eq!(
                c.missing,
                0,
                "sigkill: {t} (owner {:?}) of a survivor missed slots; slots relative to the kill: {ts:?}",
                owners.get(t)
            );
        }
    }

    // The pod comes back on its volume: what the killed peer had scraped but not yet sent
    // is in its WAL and arrives now, so nothing before the kill is missing.
    let spec = peers[2].spec.clone();
    peers[2] = Peer::start(spec, &s.config).await;
    let refs: Vec<&Peer> = peers.iter().collect();
    wait_converged(&refs).await;
    let counts = slots_between(
        "before the kill",
        &s.receiver,
        &s.fleet.instances(),
        from,
        lost_from,
    )
    .await;
    if counts.values().any(|c| c.missing > 0) {
        // Which slots, relative to the kill: tells a lost write from a scrape under way.
        let slots = up_slots(&s.receiver.samples());
        for (t, c) in counts.iter().filter(|(_, c)| c.missing > 0) {
            let near: Vec<i64> = slots[t]
                .iter()
                .filter(|&&x| (killed_at - 3 * INTERVAL_MS..killed_at + INTERVAL_MS).contains(&x))
                .map(|x| x - killed_at)
                .collect();
            eprintln!("{t} {c:?}: its slots near the kill, relative to it: {near:?}");
        }
    }
    assert_clean("before the kill, after the restart", &counts);
    let after = slots_between(
        "from the kill to after the restart",
        &s.receiver,
        &s.fleet.instances(),
        lost_from,
        now_ms(),
    )
    .await;
    assert_eq!(total(&after).duplicate, 0, "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_gives_duplicates_never_gaps_and_heals() {
    let _serial = SERIAL.lock().await;
    let s = setup().await;
    // Every peer advertises a relay, so the test can drop gossip between groups.
    let mut proxy = GossipProxy::new();
    let mut specs = Vec::new();
    for i in 0..3 {
        let mut spec = s.spec(&format!("peer-{i}"), None);
        let listen = SocketAddr::from(([127, 0, 0, 1], spec.gossip));
        spec.advertise = Some(proxy.front(listen).await);
        specs.push(spec);
    }
    let seed = specs[0].gossip_address();
    let mut peers = vec![Peer::start(specs[0].clone(), &s.config).await];
    for spec in &specs[1..] {
        let mut spec = spec.clone();
        spec.join = Some(seed.to_string());
        peers.push(Peer::spawn(spec, &s.config));
    }
    for p in &mut peers[1..] {
        p.wait_ready().await;
    }
    let all: Vec<&Peer> = peers.iter().collect();
    wait_converged(&all).await;
    let from = s.owned_from(&peers[0]).await;

    let listen = |i: usize| SocketAddr::from(([127, 0, 0, 1], specs[i].gossip));
    let cut_at = now_ms();
    proxy.partition(&[listen(0)], &[listen(1), listen(2)]);
    wait_view(&[&peers[0]], &names(&[&peers[0]])).await;
    wait_view(&[&peers[1], &peers[2]], &names(&[&peers[1], &peers[2]])).await;
    eprintln!(
        "partition: both sides dropped the other {} ms after the cut",
        now_ms() - cut_at
    );
    // Both sides scrape everything they believe unowned for a while.
    let split_until = now_ms() + 3 * INTERVAL_MS;
    common::wait_for(common::cluster::TIMEOUT, || now_ms() > split_until).await;

    let healed_at = now_ms();
    proxy.heal();
    let (_, took) = wait_converged(&all).await;
    eprintln!("partition healed: views converged {took:?} after the heal");
    assert_eq!(participants(&peers[0]).await, names(&all));

    let to = now_ms() + 3 * INTERVAL_MS;
    let counts = slots_between("partition", &s.receiver, &s.fleet.instances(), from, to).await;
    let missing: Vec<_> = counts.iter().filter(|(_, c)| c.missing > 0).collect();
    assert!(missing.is_empty(), "partition: gaps {missing:?}");
    assert!(total(&counts).duplicate > 0, "a partition should duplicate");
    // Healed: exactly once again from a few slots after the heal.
    let settled = healed_at + took.as_millis() as i64 + 2 * INTERVAL_MS;
    let after = count_slots(&up_slots(&s.receiver.samples()), settled, to);
    assert_clean("after the heal", &after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_peers_agree_on_a_join_within_three_seconds() {
    let _serial = SERIAL.lock().await;
    let fleet = Fleet::start(10, 10).await;
    let receiver = Receiver::start().await;
    let config = fleet.config(&receiver.url());
    let dir = tempfile::tempdir().unwrap();
    let first = Peer::start(PeerSpec::new("peer-0", dir.path(), None), &config).await;
    // Seeds by DNS name, as a headless Service is given.
    let seed = format!("localhost:{}", first.spec.gossip);
    let spawn = |i: usize| {
        let mut spec = PeerSpec::new(&format!("peer-{i}"), dir.path(), None);
        spec.join = Some(seed.clone());
        Peer::spawn(spec, &config)
    };
    let mut peers = vec![first];
    peers.extend((1..9).map(spawn));
    for p in &mut peers[1..] {
        p.wait_ready().await;
    }
    let refs: Vec<&Peer> = peers.iter().collect();
    wait_converged(&refs).await;
    let rate = gossip_rate(&refs, 10).await;
    eprintln!("gossip at 9 peers: {rate:.0} bytes/s per peer (sent + received)");

    // The 10th peer announces `active_from = now + handoff delay`; every peer must show
    // the same view hash soon after the announcement.
    peers.push(spawn(9));
    let names: BTreeSet<String> = peers.iter().map(|p| p.spec.name.clone()).collect();
    let refs: Vec<&Peer> = peers.iter().collect();
    // Every peer logs the moment its view takes the new participant in; the join was
    // announced `handoff delay` before its `active_from`.
    wait_view(&refs, &names).await;
    let delay_ms = common::cluster::HANDOFF_DELAY
        .trim_end_matches('s')
        .parse::<i64>()
        .unwrap()
        * 1000;
    let announced = peers[9].me().await["active_from"].as_i64().unwrap() - delay_ms;
    let mut seen = BTreeMap::new();
    for p in &peers {
        let at = logged_participant(p, "peer-9").expect("view change logged");
        seen.insert(p.spec.name.clone(), at - announced);
    }
    let took = seen.values().copied().max().unwrap();
    eprintln!("10 peers took the join in {took} ms after it was announced: {seen:?}");
    assert!(took < 3_000, "views converged {took} ms after the join");
    let rate = gossip_rate(&refs, 10).await;
    eprintln!("gossip at 10 peers: {rate:.0} bytes/s per peer (sent + received)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_clustering_the_single_peer_owns_everything() {
    let target = TargetServer::start().await;
    target.set("/metrics", Reply::text("g 1\n"));
    let receiver = Receiver::start().await;
    let cfg = common::basic_config(&target.addr(), &receiver.url());
    let mut shoal = Shoal::start(&cfg).await;
    shoal
        .wait_target(
            "test",
            &target.addr(),
            common::cluster::TIMEOUT,
            "health up",
            |t| t["health"] == "up",
        )
        .await;
    let (status, body) = shoal.get("/api/v1/cluster").await;
    assert_eq!(status, 200, "{body}");
    let st: serde_json::Value = serde_json::from_str(&body).unwrap();
    let peers = st["peers"].as_array().unwrap();
    assert_eq!(peers.len(), 1, "{st}");
    assert_eq!(peers[0]["name"], st["self"]);
    assert_eq!(peers[0]["state"], "participant");
    assert_eq!(peers[0]["owned_targets"], 1);
    assert_eq!(peers[0]["web_address"], shoal.addr.as_str());
    shoal.stop().await;
}
