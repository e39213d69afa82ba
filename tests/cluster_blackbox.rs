//! The real `prometheus-blackbox-exporter` from Debian behind a 3-peer cluster: each
//! probed URL is its own target (identity includes `__param_target`), the probes spread
//! over the peers, and every probe runs once per slot — the probed sites see one request
//! per interval, not one per peer. Skipped outside CI when the package is missing.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::cluster::{
    INTERVAL_MS, Peer, PeerSpec, assert_clean, settle, slots_between, wait_converged,
};
use common::exporter::{blackbox_job, start_blackbox};
use common::samples::matching;
use common::{Receiver, Reply, TargetServer, now_ms};

const SITES: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_blackbox_probes_are_split_over_three_peers() {
    let Some((_bb, bb_addr)) = start_blackbox().await else {
        return;
    };
    let mut sites = Vec::new();
    for _ in 0..SITES {
        let site = TargetServer::start().await;
        site.set("/", Reply::text("hello\n"));
        sites.push(site);
    }
    let urls: Vec<String> = sites.iter().map(|s| s.url("/")).collect();
    let receiver = Receiver::start().await;
    let config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
{}remote_write:
  - url: '{}'
    queue_config: {{batch_send_deadline: 200ms}}
"#,
        blackbox_job("blackbox", &urls, &bb_addr),
        receiver.url()
    );

    let dir = tempfile::tempdir().unwrap();
    let first = Peer::start(PeerSpec::new("peer-0", dir.path(), None), &config).await;
    let seed = Some(first.spec.gossip_address());
    let mut peers = vec![first];
    for i in 1..3 {
        let spec = PeerSpec::new(&format!("peer-{i}"), dir.path(), seed);
        peers.push(Peer::spawn(spec, &config));
    }
    for p in &mut peers[1..] {
        p.wait_ready().await;
    }
    let refs: Vec<&Peer> = peers.iter().collect();
    wait_converged(&refs).await;
    settle(&peers[0]).await;

    // Each probe URL is one target with one owner, and the owners differ.
    let owners = peers[0].owners().await;
    let want: BTreeSet<String> = urls.iter().cloned().collect();
    assert_eq!(owners.keys().cloned().collect::<BTreeSet<_>>(), want);
    let mut per_peer: BTreeMap<&str, usize> = BTreeMap::new();
    for o in owners.values() {
        *per_peer.entry(o.as_str()).or_default() += 1;
    }
    eprintln!("probes per peer: {per_peer:?}");
    assert!(per_peer.len() > 1, "every probe on one peer: {owners:?}");

    // A steady window: once per slot per probe at the receiver, and about one request
    // per interval at each probed site (three peers probing each would triple it).
    let hits_before: Vec<u64> = sites.iter().map(|s| s.hits("/")).collect();
    let counting_since = now_ms();
    let from = now_ms() + INTERVAL_MS;
    let to = from + 6 * INTERVAL_MS;
    let counts = slots_between("real blackbox", &receiver, &want, from, to).await;
    assert_clean("real blackbox", &counts);
    let samples = receiver.samples();
    for u in &urls {
        let ok = matching(&samples, &[("__name__", "probe_success"), ("instance", u)])
            .iter()
            .filter(|s| s.timestamp >= from && s.timestamp < to)
            .all(|s| s.value == 1.0);
        assert!(ok, "probe_success of {u} not 1");
    }
    let elapsed = now_ms() - counting_since;
    let slots = u64::try_from(elapsed / INTERVAL_MS).unwrap() + 2;
    for (site, before) in sites.iter().zip(hits_before) {
        let hits = site.hits("/") - before;
        assert!(
            hits <= slots,
            "{} probed {hits} times in {elapsed} ms",
            site.addr()
        );
    }
    for p in &mut peers {
        p.stop().await;
    }
}
