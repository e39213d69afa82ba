//! Three clustered peers reading the same operator objects from the local API server:
//! every monitor target is scraped by exactly one peer (no missing, no duplicate slot)
//! while a Probe is added and removed and a PodMonitor is changed, and all peers publish
//! the same configuration hash.
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
use std::time::Duration;

use common::cluster::{
    INTERVAL_MS, Peer, PeerSpec, assert_clean, count_slots, total, wait_converged,
    wait_samples_until,
};
use common::kube_api::KubeApi;
use common::{Receiver, Reply, TargetServer, is_stale_nan, now_ms, wait_for_async};
use serde_json::{Value, json};

const PODS: usize = 12;
const ENDPOINTS: usize = 6;

fn port_of(t: &TargetServer) -> u16 {
    t.addr().rsplit(':').next().unwrap().parse().unwrap()
}

fn pod(name: &str, port: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "apps", "uid": format!("uid-{name}"), "labels": {"app": "web"}},
        "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "web:1",
            "ports": [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1", "hostIP": "10.0.0.1"}})
}

fn pod_monitor(sample_limit: Option<u64>) -> Value {
    let mut spec = json!({"selector": {"matchLabels": {"app": "web"}},
        "podMetricsEndpoints": [{"port": "metrics", "interval": "1s"}]});
    if let Some(l) = sample_limit {
        spec["sampleLimit"] = json!(l);
    }
    json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
        "metadata": {"name": "web", "namespace": "apps"}, "spec": spec})
}

fn probe(prober: &str, targets: &[String]) -> Value {
    json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "Probe",
        "metadata": {"name": "sites", "namespace": "apps"},
        "spec": {"prober": {"url": prober}, "module": "http_2xx", "interval": "1s",
            "targets": {"staticConfig": {"static": targets}}}})
}

fn config(api: &KubeApi, receiver: &Receiver) -> String {
    format!(
        r#"global:
  scrape_interval: 1s
scrape_configs: []
prometheus_operator:
  api_server: {api}
  namespace: apps
  service_monitor_selector: {{}}
  pod_monitor_selector: {{}}
  probe_selector: {{}}
remote_write:
  - url: '{rw}'
    queue_config: {{batch_send_deadline: 200ms}}
"#,
        api = api.url(),
        rw = receiver.url()
    )
}

/// `up` sample timestamps per `instance`, staleness markers left out.
fn up_slots_live(receiver: &Receiver) -> BTreeMap<String, Vec<i64>> {
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for s in receiver.samples() {
        if s.name() == "up" && !is_stale_nan(s.value) {
            out.entry(s.get("instance").unwrap_or("").to_string())
                .or_default()
                .push(s.timestamp);
        }
    }
    out
}

async fn config_hashes(peers: &[Peer]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for p in peers {
        for peer in p.status().await["peers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            out.insert(peer["config_hash"].as_str().unwrap_or("").to_string());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_scrape_every_monitor_target_once_through_monitor_changes() {
    let api = KubeApi::start().await;
    let receiver = Receiver::start().await;
    let mut servers = Vec::new();
    for i in 0..PODS {
        let t = TargetServer::start().await;
        t.set("/metrics", Reply::text("g 1\n"));
        api.apply("pods", pod(&format!("web-{i:02}"), port_of(&t)));
        servers.push(t);
    }
    // A Service whose Endpoints hold one address per subset, each on its own port.
    let mut subsets = Vec::new();
    for _ in 0..ENDPOINTS {
        let t = TargetServer::start().await;
        t.set("/metrics", Reply::text("h 1\n"));
        subsets.push(json!({"addresses": [{"ip": "127.0.0.1"}],
            "ports": [{"name": "metrics", "port": port_of(&t)}]}));
        servers.push(t);
    }
    api.apply(
        "services",
        json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "api", "namespace": "apps", "labels": {"app": "api"}},
            "spec": {"type": "ClusterIP", "ports": [{"name": "metrics", "port": 80}]}}),
    );
    api.apply(
        "endpoints",
        json!({"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "api", "namespace": "apps"}, "subsets": subsets}),
    );
    api.apply(
        "servicemonitors",
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "api", "namespace": "apps"},
            "spec": {"selector": {"matchLabels": {"app": "api"}},
                "endpoints": [{"port": "metrics", "interval": "1s"}]}}),
    );
    api.apply("podmonitors", pod_monitor(None));
    let prober = TargetServer::start().await;
    prober.set("/probe", Reply::text("probe_success 1\n"));
    let sites: Vec<String> = (0..6)
        .map(|i| format!("https://site-{i}.example/"))
        .collect();

    let dir = tempfile::tempdir().unwrap();
    let cfg = config(&api, &receiver);
    let first = Peer::start(PeerSpec::new("peer-0", dir.path(), None), &cfg).await;
    let seed = first.spec.gossip_address();
    let mut peers = vec![first];
    for i in 1..3 {
        peers.push(Peer::spawn(
            PeerSpec::new(&format!("peer-{i}"), dir.path(), Some(seed)),
            &cfg,
        ));
    }
    for p in &mut peers[1..] {
        p.wait_ready().await;
    }
    let refs: Vec<&Peer> = peers.iter().collect();
    wait_converged(&refs).await;
    let steady: BTreeSet<String> = servers.iter().map(TargetServer::addr).collect();
    // Every peer has generated the jobs and the cluster scrapes each target.
    let all_seen = wait_for_async(Duration::from_secs(60), || async {
        let slots = up_slots_live(&receiver);
        steady.iter().all(|i| slots.contains_key(i))
    })
    .await;
    assert!(all_seen, "not every monitor target reached the receiver");
    let same = wait_for_async(Duration::from_secs(30), || async {
        config_hashes(&peers).await.len() == 1
    })
    .await;
    assert!(
        same,
        "config hashes differ: {:?}",
        config_hashes(&peers).await
    );
    let from = now_ms() + 2 * INTERVAL_MS;

    // Add a Probe, change the PodMonitor (a limit: its loops keep running), remove the
    // Probe: each peer applies each change on its own.
    api.apply("probes", probe(&prober.addr(), &sites));
    let probed = wait_for_async(Duration::from_secs(30), || async {
        let slots = up_slots_live(&receiver);
        sites.iter().all(|s| slots.contains_key(s))
    })
    .await;
    assert!(probed, "probe targets not scraped");
    api.apply("podmonitors", pod_monitor(Some(1000)));
    let changed = wait_for_async(Duration::from_secs(30), || async {
        let hashes = config_hashes(&peers).await;
        let mut all = true;
        for p in &peers {
            let (_, body) = p.shoal.get("/api/v1/status/config").await;
            all &= body.contains("sample_limit: 1000");
        }
        all && hashes.len() == 1
    })
    .await;
    assert!(changed, "the PodMonitor change did not reach every peer");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let probe_window_end = now_ms();
    api.delete("probes", "apps", "sites");
    let removed = wait_for_async(Duration::from_secs(30), || async {
        let mut gone = true;
        for p in &peers {
            let (_, body) = p.shoal.get("/api/v1/status/config").await;
            gone &= !body.contains("probe/apps/sites");
        }
        gone
    })
    .await;
    assert!(removed, "the Probe removal did not reach every peer");
    let to = now_ms() + 2 * INTERVAL_MS;

    wait_samples_until(&receiver, &steady, to + INTERVAL_MS).await;
    // Peers send on their own: a slot's sample can arrive after a later one. Count again
    // until clean or settled.
    let steady_counts = || {
        let slots: BTreeMap<String, Vec<i64>> = up_slots_live(&receiver)
            .into_iter()
            .filter(|(k, _)| steady.contains(k))
            .collect();
        count_slots(&slots, from, to)
    };
    let mut counts = steady_counts();
    let settled = std::time::Instant::now() + Duration::from_secs(5);
    while total(&counts).missing > 0 && std::time::Instant::now() < settled {
        tokio::time::sleep(Duration::from_millis(200)).await;
        counts = steady_counts();
    }
    let t = total(&counts);
    eprintln!(
        "monitor targets: {} missing, {} duplicate slots over {} targets and {} s",
        t.missing,
        t.duplicate,
        counts.len(),
        (to - from) / 1000
    );
    assert_eq!(counts.len(), steady.len());
    assert_clean("monitor targets", &counts);
    // The probe's targets: never twice, and every slot while the Probe was there (from
    // the first slot the whole cluster had it to before its removal).
    let slots = up_slots_live(&receiver);
    let probe_slots: BTreeMap<String, Vec<i64>> = slots
        .into_iter()
        .filter(|(k, _)| sites.contains(k))
        .collect();
    let first_common = probe_slots
        .values()
        .filter_map(|ts| ts.iter().min().copied())
        .max()
        .unwrap()
        + 3 * INTERVAL_MS;
    let c = total(&count_slots(&probe_slots, first_common, probe_window_end));
    eprintln!(
        "probe targets: {} missing, {} duplicate",
        c.missing, c.duplicate
    );
    assert_eq!(c.duplicate, 0, "a probe target scraped twice");
    assert_eq!(c.missing, 0, "a probe slot missing");
    let lo = probe_slots.values().flatten().min().copied().unwrap();
    let hi = probe_slots.values().flatten().max().copied().unwrap();
    let all_probe = total(&count_slots(&probe_slots, lo, hi + 1));
    assert_eq!(
        all_probe.duplicate, 0,
        "probe duplicates over its whole life"
    );
    for p in &mut peers {
        p.stop().await;
    }
}
