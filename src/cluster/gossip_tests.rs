//! Membership with real chitchat instances on 127.0.0.1 UDP ports, in one process.

use std::net::SocketAddr;
use std::time::Duration;

use super::gossip::{Blocked, Cluster, ClusterOptions};
use super::member::{Lifecycle, Member};
use super::metrics::ClusterMetrics;
use crate::model::{SlotOwner, SlotTime, TargetId};

const DEADLINE: Duration = Duration::from_secs(15);

/// A UDP port free right now on 127.0.0.1.
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

struct Node {
    name: &'static str,
    port: u16,
    generation: u64,
    cluster: &'static str,
    seeds: Vec<String>,
    gossip: Duration,
    lifecycle: Lifecycle,
    blocked: Blocked,
}

impl Node {
    fn new(name: &'static str, port: u16, seeds: &[u16]) -> Node {
        Node {
            name,
            port,
            generation: 1,
            cluster: "shoal",
            seeds: seeds.iter().map(|p| addr(*p).to_string()).collect(),
            gossip: Duration::from_millis(100),
            lifecycle: Lifecycle::Participant { active_from: 0 },
            blocked: Blocked::default(),
        }
    }

    async fn start(self) -> Cluster {
        let member = Member {
            lifecycle: self.lifecycle,
            web_address: addr(self.port),
            version: "test".into(),
            config_hash: "c0ffee".into(),
            owned_series: 0,
        };
        let mut o = ClusterOptions::new(self.name, addr(self.port), member);
        o.generation = self.generation;
        o.cluster_name = self.cluster.into();
        o.seeds = self.seeds;
        o.gossip_interval = self.gossip;
        o.blocked = Some(self.blocked);
        o.metrics = ClusterMetrics::new(&mut prometheus_client::registry::Registry::default());
        Cluster::start(o).await.unwrap()
    }
}

/// Polls `cond` until it holds; panics with `what` after `DEADLINE`. Returns the wait.
async fn wait_for(what: &str, cond: impl FnMut() -> bool) -> Duration {
    crate::test_support::wait_for(what, DEADLINE, cond).await
}

fn names(c: &Cluster) -> Vec<String> {
    c.view().peers.iter().map(|p| p.name.to_string()).collect()
}

fn generation_of(c: &Cluster, name: &str) -> Option<u64> {
    c.view().peer(name).map(|p| p.generation)
}

fn converged(nodes: &[&Cluster], want: &[&str]) -> bool {
    let h = nodes[0].ownership().view_hash();
    nodes
        .iter()
        .all(|n| names(n) == want && n.ownership().view_hash() == h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_peers_converge_restart_and_drop_the_dead() {
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let a = Node::new("a", pa, &[]).start().await;
    let b = Node::new("b", pb, &[pa]).start().await;
    let c = Node::new("c", pc, &[pa]).start().await;
    let mut changes = a.subscribe();

    let took = wait_for("3 peers with one view hash", || {
        converged(&[&a, &b, &c], &["a", "b", "c"])
    })
    .await;
    println!("converged in {took:?}");
    assert!(changes.has_changed().unwrap(), "subscribers are notified");
    let seen_c = a.view().peer("c").cloned().unwrap();
    assert_eq!(seen_c.gossip_address, addr(pc));
    assert_eq!(seen_c.member.web_address, addr(pc));
    assert!(seen_c.heartbeat_age < Duration::from_secs(5));
    changes.mark_unchanged();

    // A published state change reaches the others, and their ownership follows.
    let until = c.start_leaving(SlotTime(0), Duration::from_secs(1)).await;
    assert_eq!(until, Some(SlotTime(1_000)));
    wait_for("c leaving, seen by a and b", || {
        [&a, &b]
            .iter()
            .all(|n| n.view().peer("c").map(|p| p.member.lifecycle.name()) == Some("leaving"))
            && a.ownership().view_hash() == c.ownership().view_hash()
    })
    .await;

    // Restart c: same name and address, newer generation; it replaces the old one at once.
    c.shutdown().await.unwrap();
    let mut again = Node::new("c", pc, &[pa]);
    again.generation = 2;
    let c = again.start().await;
    wait_for("c's new generation everywhere", || {
        [&a, &b, &c]
            .iter()
            .all(|n| generation_of(n, "c") == Some(2))
            && converged(&[&a, &b, &c], &["a", "b", "c"])
    })
    .await;

    // b dies without a word: a and c drop it after failure detection.
    b.shutdown().await.unwrap();
    let detection = wait_for("b dropped", || converged(&[&a, &c], &["a", "c"])).await;
    println!("dead peer dropped after {detection:?} (gossip interval 100 ms)");
    assert!(detection < Duration::from_secs(10));

    let stats = a.gossip_stats();
    assert!(stats.bytes_sent > 0 && stats.bytes_received > 0);
    assert!(stats.messages_sent > 0 && stats.messages_received > 0);
    a.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_of_another_cluster_are_ignored_and_dns_seeds_work() {
    let (pa, px, py) = (free_port(), free_port(), free_port());
    let a = Node::new("a", pa, &[]).start().await;
    let mut stranger = Node::new("x", px, &[pa]);
    stranger.cluster = "other";
    let x = stranger.start().await;
    // y's seed is a DNS name.
    let mut joiner = Node::new("y", py, &[]);
    joiner.seeds = vec![format!("localhost:{pa}")];
    let y = joiner.start().await;
    // y joins through the same seed after x started: once a sees y, x has had its chance.
    wait_for("y joined", || converged(&[&a, &y], &["a", "y"])).await;
    tokio::task::yield_now().await;
    assert_eq!(names(&a), ["a", "y"]);
    assert_eq!(names(&x), ["x"]);
    for c in [a, x, y] {
        c.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joining_peer_owns_nothing_until_participant() {
    let (pa, pb) = (free_port(), free_port());
    let a = Node::new("a", pa, &[]).start().await;
    let mut joiner = Node::new("b", pb, &[pa]);
    joiner.lifecycle = Lifecycle::Joining;
    let b = joiner.start().await;
    wait_for("b joining seen by a", || {
        a.view().peer("b").map(|p| p.member.lifecycle) == Some(Lifecycle::Joining)
    })
    .await;
    // Only a is active: a owns every target.
    let slot = SlotTime(5_000);
    assert!((0..100).all(|i| a.ownership().owns(TargetId(i * 7919), slot)));
    let from = b
        .become_participant(SlotTime(5_000), Duration::from_secs(5))
        .await;
    assert_eq!(from, SlotTime(10_000));
    wait_for("same view hash", || {
        a.ownership().view_hash() == b.ownership().view_hash()
    })
    .await;
    let later = SlotTime(10_000);
    let (mut by_a, mut by_b) = (0, 0);
    for i in 0..1_000u64 {
        let t = TargetId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        assert!(
            a.ownership().owns(t, slot),
            "before active_from a still owns all"
        );
        let (oa, ob) = (a.ownership().owns(t, later), b.ownership().owns(t, later));
        assert!(oa ^ ob, "exactly one owner");
        by_a += usize::from(oa);
        by_b += usize::from(ob);
    }
    assert!(by_a > 300 && by_b > 300, "split {by_a}/{by_b}");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partition_gives_duplicates_never_gaps_and_heals() {
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let (na, nb, nc) = (
        Node::new("a", pa, &[]),
        Node::new("b", pb, &[pa]),
        Node::new("c", pc, &[pa]),
    );
    let (ba, bb, bc) = (na.blocked.clone(), nb.blocked.clone(), nc.blocked.clone());
    let (a, b, c) = (na.start().await, nb.start().await, nc.start().await);
    wait_for("3 peers", || converged(&[&a, &b, &c], &["a", "b", "c"])).await;

    ba.block(addr(pc));
    bb.block(addr(pc));
    bc.block(addr(pa));
    bc.block(addr(pb));
    wait_for("two sides", || {
        converged(&[&a, &b], &["a", "b"]) && names(&c) == ["c"]
    })
    .await;
    let slot = SlotTime(1_000_000);
    let mut duplicates = 0;
    for i in 0..1_000u64 {
        let t = TargetId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (oa, ob, oc) = (
            a.ownership().owns(t, slot),
            b.ownership().owns(t, slot),
            c.ownership().owns(t, slot),
        );
        assert!(oa || ob || oc, "gap for {t}");
        assert!(!(oa && ob), "one side agrees with itself");
        duplicates += usize::from(oc && (oa || ob));
    }
    assert_eq!(
        duplicates, 1_000,
        "c alone owns everything, so does side a+b"
    );

    for blocked in [&ba, &bb, &bc] {
        blocked.heal();
    }
    wait_for("healed", || converged(&[&a, &b, &c], &["a", "b", "c"])).await;
    for i in 0..1_000u64 {
        let t = TargetId(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let owners = [&a, &b, &c]
            .iter()
            .filter(|n| n.ownership().owns(t, slot))
            .count();
        assert_eq!(owners, 1, "{t}");
    }
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

/// Gossip traffic per peer at the default 500 ms interval. Run by hand:
/// `cargo test --lib cluster::gossip_tests::gossip_bandwidth -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, about 25 s"]
async fn gossip_bandwidth() {
    for n in [3usize, 10] {
        let ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let all: Vec<&'static str> = (0..n)
            .map(|i| &*Box::leak(format!("p{i:02}").into_boxed_str()))
            .collect();
        let mut nodes = Vec::new();
        for (i, name) in all.iter().enumerate() {
            let mut node = Node::new(name, ports[i], &ports[..1]);
            node.gossip = Duration::from_millis(500);
            nodes.push(node.start().await);
        }
        let refs: Vec<&Cluster> = nodes.iter().collect();
        wait_for("convergence", || converged(&refs, &all)).await;
        let before: Vec<_> = nodes.iter().map(|c| c.gossip_stats()).collect();
        let window = Duration::from_secs(10);
        tokio::time::sleep(window).await;
        let (mut sent, mut recv, mut msgs) = (0u64, 0u64, 0u64);
        for (c, b) in nodes.iter().zip(&before) {
            let s = c.gossip_stats();
            sent += s.bytes_sent - b.bytes_sent;
            recv += s.bytes_received - b.bytes_received;
            msgs += s.messages_sent - b.messages_sent;
        }
        let per = |x: u64| x as f64 / n as f64 / window.as_secs_f64();
        println!(
            "{n} peers: per peer {:.0} B/s sent, {:.0} B/s received, {:.1} msg/s sent",
            per(sent),
            per(recv),
            per(msgs)
        );
        for c in nodes {
            c.shutdown().await.unwrap();
        }
    }
}

/// Time from a peer's death to its removal from the others' views at the default 500 ms
/// gossip interval. Run by hand:
/// `cargo test --lib cluster::gossip_tests::detection_time -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, about 10 s"]
async fn detection_time_at_default_interval() {
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes = Vec::new();
    for (i, name) in ["a", "b", "c"].into_iter().enumerate() {
        let mut node = Node::new(name, ports[i], &ports[..1]);
        node.gossip = Duration::from_millis(500);
        nodes.push(node.start().await);
    }
    let refs: Vec<&Cluster> = nodes.iter().collect();
    wait_for("convergence", || converged(&refs, &["a", "b", "c"])).await;
    // Let the failure detector learn the heartbeat rhythm, as in a long-running cluster.
    let settle = crate::model::clock::monotonic_now() + Duration::from_secs(5);
    wait_for("settled", || crate::model::clock::monotonic_now() >= settle).await;
    let c = nodes.pop().unwrap();
    c.shutdown().await.unwrap();
    let took = wait_for("c dropped", || nodes.iter().all(|n| names(n) == ["a", "b"])).await;
    println!("dead peer dropped after {took:?} at the default gossip interval");
    assert!(took < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_peers_returns_once_a_seed_answered_or_after_the_bound() {
    let (pa, pb, pc, silent) = (free_port(), free_port(), free_port(), free_port());
    // No seeds: alone by design, no wait.
    let a = Node::new("a", pa, &[]).start().await;
    let start = crate::model::clock::monotonic_now();
    assert_eq!(a.wait_for_peers(Duration::from_secs(10)).await, 0);
    assert!(start.elapsed() < Duration::from_secs(1));

    // A seed that answers: returns as soon as its peer is in the view.
    let b = Node::new("b", pb, &[pa]).start().await;
    let start = crate::model::clock::monotonic_now();
    assert_eq!(b.wait_for_peers(Duration::from_secs(10)).await, 1);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(b.view().peer("a").is_some());

    // Only a silent seed (the first pod of a StatefulSet): gives up after the bound.
    let c = Node::new("c", pc, &[silent]).start().await;
    let start = crate::model::clock::monotonic_now();
    assert_eq!(c.wait_for_peers(Duration::from_millis(400)).await, 0);
    assert!(start.elapsed() >= Duration::from_millis(400));
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_changes_leave_ownership_matching_the_view() {
    // Published changes refresh the view while the view loop refreshes it too; whatever
    // the interleaving, the ownership in force must be the one the final view gives.
    let (pa, pb) = (free_port(), free_port());
    let a = std::sync::Arc::new(Node::new("a", pa, &[]).start().await);
    let b = Node::new("b", pb, &[pa]).start().await;
    wait_for("a and b", || converged(&[&a, &b], &["a", "b"])).await;
    for round in 0..300_i64 {
        let tasks: Vec<_> = (0..8_i64)
            .map(|i| {
                let a = a.clone();
                tokio::spawn(async move {
                    let from = round * 100 + i;
                    a.update_member(|m| m.lifecycle = Lifecycle::Participant { active_from: from })
                        .await;
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let fresh = super::ownership::ClusterOwnership::new("a".into(), 0);
        let want = fresh.update(&a.view().schedule()).view_hash();
        assert_eq!(a.ownership().view_hash(), want, "round {round}");
    }
    b.shutdown().await.unwrap();
}
