//! Pure tests of the cluster core: ring (golden values and properties), member keys,
//! lifecycle, views and changes. Ownership per slot is in `ownership_tests.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::member::{Key, Lifecycle, Member, MemberError};
use super::ring::{Ring, token};
use super::view::{ClusterView, PeerInfo};
use super::{ViewChange, diff};
use crate::model::TargetId;

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("shoal-{i}")).collect()
}

pub(super) fn random_targets(seed: u64, n: usize) -> Vec<TargetId> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| TargetId(rng.random())).collect()
}

fn owners(ring: &Ring, targets: &[TargetId]) -> Vec<Arc<str>> {
    targets
        .iter()
        .map(|&t| ring.owner(t).unwrap().clone())
        .collect()
}

// ---------------------------------------------------------------- ring: golden values

#[test]
fn golden_tokens() {
    // Pinned: every build of shoal, on every platform, must agree on these.
    let cases: [(&str, u32, u64); 4] = [
        ("shoal-0", 0, 0xbdb8_bec8_ce9c_2ddc),
        ("shoal-0", 1, 0x07f6_fd93_94f3_ab6e),
        ("shoal-1", 0, 0xa757_2d89_ff7a_5efc),
        ("", 511, 0x74fa_3e79_b644_7d75),
    ];
    for (name, vnode, want) in cases {
        assert_eq!(token(name, vnode), want, "token({name:?}, {vnode})");
    }
}

#[test]
fn golden_owners() {
    let node_exporter = TargetId::of(&crate::labels::Labels::from_pairs([(
        "__address__",
        "localhost:9100",
    )]));
    assert_eq!(node_exporter, TargetId(0xb06d_eb9b_ab45_9d2e));
    let ring = Ring::new(names(3));
    let cases: [(u64, &str); 7] = [
        (0, "shoal-0"),
        (1, "shoal-0"),
        (u64::MAX, "shoal-0"),
        (0x4000_0000_0000_0000, "shoal-2"),
        (0x9f3a_0000_0000_0000, "shoal-2"),
        (0xc000_0000_0000_0000, "shoal-2"),
        (node_exporter.0, "shoal-1"),
    ];
    for (target, want) in cases {
        assert_eq!(
            ring.owner(TargetId(target))
                .map(|o| o.to_string())
                .as_deref(),
            Some(want),
            "owner of {target:016x}"
        );
    }
}

// ---------------------------------------------------------------- ring: properties

#[test]
fn ring_balance_hash_space_10_peers() {
    // The share of the hash space each peer owns, probed at evenly spaced positions.
    let ring = Ring::new(names(10));
    let probes: u64 = 200_000;
    let step = u64::MAX / probes;
    let mut counts: HashMap<Arc<str>, u64> = HashMap::new();
    for i in 0..probes {
        *counts
            .entry(ring.owner(TargetId(i * step)).unwrap().clone())
            .or_default() += 1;
    }
    let max = *counts.values().max().unwrap() as f64;
    let ratio = max / (probes as f64 / 10.0);
    assert!(ratio <= 1.05, "hash-space max/mean {ratio:.4}");
}

#[test]
fn ring_balance_10k_targets_10_peers() {
    // Random targets add binomial noise (~3% per peer) on top of the ring's own imbalance.
    let ring = Ring::new(names(10));
    for seed in [1, 2, 3] {
        let targets = random_targets(seed, 10_000);
        let mut counts: HashMap<Arc<str>, usize> = HashMap::new();
        for o in owners(&ring, &targets) {
            *counts.entry(o).or_default() += 1;
        }
        assert_eq!(counts.len(), 10, "every peer owns something");
        let max = *counts.values().max().unwrap() as f64;
        let ratio = max / (10_000.0 / 10.0);
        assert!(ratio <= 1.10, "seed {seed}: max/mean {ratio:.4}");
    }
}

#[test]
fn ring_minimal_movement_on_join() {
    let targets = random_targets(7, 10_000);
    for n in [1, 2, 3, 5, 9, 20] {
        let before = owners(&Ring::new(names(n)), &targets);
        let after_ring = Ring::new(names(n + 1));
        let after = owners(&after_ring, &targets);
        let newcomer = format!("shoal-{n}");
        let moved: Vec<_> = before.iter().zip(&after).filter(|(b, a)| b != a).collect();
        for (_, to) in &moved {
            assert_eq!(
                &***to,
                newcomer.as_str(),
                "{n} -> {}: moved only to the new peer",
                n + 1
            );
        }
        let share = moved.len() as f64 / targets.len() as f64;
        assert!(
            share <= 1.2 / (n + 1) as f64,
            "{n} -> {}: moved {share:.4} > {:.4}",
            n + 1,
            1.2 / (n + 1) as f64
        );
    }
}

#[test]
fn ring_is_independent_of_insertion_order() {
    let targets = random_targets(11, 2_000);
    let reference = owners(&Ring::new(names(7)), &targets);
    let mut rng = StdRng::seed_from_u64(5);
    for _ in 0..5 {
        let mut shuffled = names(7);
        // Fisher-Yates with the seeded rng; duplicates must not matter either.
        for i in (1..shuffled.len()).rev() {
            let j = rng.random_range(0..=i);
            shuffled.swap(i, j);
        }
        shuffled.push(shuffled[0].clone());
        assert_eq!(owners(&Ring::new(shuffled), &targets), reference);
    }
}

#[test]
fn empty_ring_owns_nothing() {
    let ring = Ring::new(Vec::<String>::new());
    assert!(ring.is_empty());
    assert_eq!(ring.owner(TargetId(42)), None);
}

// ---------------------------------------------------------------- member keys

fn member(lifecycle: Lifecycle) -> Member {
    Member {
        lifecycle,
        web_address: "10.0.0.5:9464".parse().unwrap(),
        version: "0.1.0".into(),
        config_hash: "abc123".into(),
        owned_series: 48_210,
    }
}

#[test]
fn member_round_trips_through_published_keys() {
    for lifecycle in [
        Lifecycle::Joining,
        Lifecycle::Participant {
            active_from: 1_763_780_005_000,
        },
        Lifecycle::Leaving {
            active_from: 5,
            active_until: 1_763_780_099_000,
        },
    ] {
        let m = member(lifecycle);
        let keys: HashMap<&str, String> = m.published_keys().into_iter().collect();
        assert_eq!(keys.len(), Key::ALL.len());
        assert!(keys.values().all(|v| v.len() < 100), "small values only");
        let parsed = Member::parse(|k| keys.get(k).map(String::as_str)).unwrap();
        assert_eq!(parsed, m);
    }
    let keys: HashMap<&str, String> = member(Lifecycle::Joining)
        .published_keys()
        .into_iter()
        .collect();
    assert_eq!(keys["state"], "joining");
    assert_eq!(keys["active_from"], "");
    assert_eq!(keys["owned_series"], "48210");
}

#[test]
fn member_parse_errors() {
    struct Case {
        name: &'static str,
        set: &'static [(&'static str, &'static str)],
        want: MemberError,
    }
    let cases = [
        Case {
            name: "nothing published yet",
            set: &[],
            want: MemberError::Missing { key: "state" },
        },
        Case {
            name: "unknown state",
            set: &[("state", "dancing")],
            want: MemberError::Invalid {
                key: "state",
                value: "dancing".into(),
            },
        },
        Case {
            name: "participant without active_from",
            set: &[("state", "participant"), ("active_from", "")],
            want: MemberError::Invalid {
                key: "active_from",
                value: String::new(),
            },
        },
        Case {
            name: "leaving without active_until",
            set: &[
                ("state", "leaving"),
                ("active_from", "1"),
                ("active_until", ""),
            ],
            want: MemberError::Invalid {
                key: "active_until",
                value: String::new(),
            },
        },
        Case {
            name: "active_from not a number",
            set: &[("state", "participant"), ("active_from", "soon")],
            want: MemberError::Invalid {
                key: "active_from",
                value: "soon".into(),
            },
        },
        Case {
            name: "bad web address",
            set: &[("web_address", "nowhere")],
            want: MemberError::Invalid {
                key: "web_address",
                value: "nowhere".into(),
            },
        },
        Case {
            name: "owned_series negative",
            set: &[("owned_series", "-1")],
            want: MemberError::Invalid {
                key: "owned_series",
                value: "-1".into(),
            },
        },
    ];
    for c in cases {
        let mut keys: HashMap<&str, String> = member(Lifecycle::Joining)
            .published_keys()
            .into_iter()
            .collect();
        if c.set.is_empty() {
            keys.clear();
        }
        for (k, v) in c.set {
            keys.insert(k, v.to_string());
        }
        let got = Member::parse(|k| keys.get(k).map(String::as_str));
        assert_eq!(got, Err(c.want), "{}", c.name);
    }
}

#[test]
fn lifecycle_activity() {
    let p = Lifecycle::Participant { active_from: 10 };
    let l = Lifecycle::Leaving {
        active_from: 10,
        active_until: 20,
    };
    for (t, want_p, want_l) in [
        (9, false, false),
        (10, true, true),
        (19, true, true),
        (20, true, false),
    ] {
        assert_eq!(p.is_active_at(t), want_p, "participant at {t}");
        assert_eq!(l.is_active_at(t), want_l, "leaving at {t}");
    }
    assert!(!Lifecycle::Joining.is_active_at(i64::MAX));
}

#[test]
fn lifecycle_transitions() {
    use Lifecycle::*;
    let cases = [
        (
            "join then ready",
            Joining.ready_from(5),
            Participant { active_from: 5 },
        ),
        (
            "ready twice keeps the first instant",
            Participant { active_from: 5 }.ready_from(9),
            Participant { active_from: 5 },
        ),
        (
            "participant leaves",
            Participant { active_from: 5 }.leaving_at(20),
            Leaving {
                active_from: 5,
                active_until: 20,
            },
        ),
        (
            "second stop keeps the earlier instant",
            Leaving {
                active_from: 5,
                active_until: 20,
            }
            .leaving_at(30),
            Leaving {
                active_from: 5,
                active_until: 20,
            },
        ),
        (
            "a joiner never owned: stays joining",
            Joining.leaving_at(20),
            Joining,
        ),
        (
            "no re-join after leaving",
            Leaving {
                active_from: 5,
                active_until: 20,
            }
            .ready_from(40),
            Leaving {
                active_from: 5,
                active_until: 20,
            },
        ),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
}

// ---------------------------------------------------------------- views and changes

fn info(name: &str, generation: u64, lifecycle: Lifecycle) -> PeerInfo {
    PeerInfo {
        name: name.into(),
        generation,
        gossip_address: "127.0.0.1:7946".parse().unwrap(),
        member: member(lifecycle),
        heartbeat_age: std::time::Duration::ZERO,
    }
}

#[test]
fn view_keeps_the_newest_generation_of_each_name() {
    let view = ClusterView::from_candidates(
        "a".into(),
        "shoal".into(),
        vec![
            info("b", 1, Lifecycle::Joining),
            info("a", 7, Lifecycle::Participant { active_from: 0 }),
            info("b", 3, Lifecycle::Participant { active_from: 9 }),
            info("b", 2, Lifecycle::Joining),
        ],
    );
    let got: Vec<(&str, u64)> = view
        .peers
        .iter()
        .map(|p| (&*p.name, p.generation))
        .collect();
    assert_eq!(got, [("a", 7), ("b", 3)]);
    assert_eq!(view.peer("b").map(|p| p.generation), Some(3));
    assert_eq!(view.participants(), 2);
}

#[test]
fn diff_reports_added_updated_removed() {
    let old = ClusterView::from_candidates(
        "a".into(),
        "shoal".into(),
        vec![
            info("a", 1, Lifecycle::Joining),
            info("b", 1, Lifecycle::Joining),
            info("c", 1, Lifecycle::Joining),
        ],
    );
    let mut aged = info("a", 1, Lifecycle::Joining);
    aged.heartbeat_age = std::time::Duration::from_secs(3);
    aged.member.owned_series += 1000;
    let new = ClusterView::from_candidates(
        "a".into(),
        "shoal".into(),
        vec![
            aged,
            info("c", 2, Lifecycle::Joining),
            info("d", 1, Lifecycle::Joining),
        ],
    );
    let got: Vec<String> = diff(&old, &new)
        .iter()
        .map(|c| match c {
            ViewChange::Added(p) => format!("+{}", p.name),
            ViewChange::Updated { new, .. } => format!("~{}@{}", new.name, new.generation),
            ViewChange::Removed(p) => format!("-{}", p.name),
        })
        .collect();
    assert_eq!(
        got,
        ["-b", "~c@2", "+d"],
        "heartbeat age and owned series alone are no change"
    );
    assert!(!old.same_membership(&new));
    assert!(diff(&new, &new).is_empty());
}

// ---------------------------------------------------------------- status

#[test]
fn ring_shares_sum_to_one_and_match_probes() {
    let ring = Ring::new(names(4));
    let shares = ring.shares();
    assert_eq!(shares.len(), 4);
    let sum: f64 = shares.iter().sum();
    assert!((sum - 1.0).abs() < 1e-9, "sum {sum}");
    for s in &shares {
        assert!((s - 0.25).abs() < 0.02, "share {s}");
    }
    // Agrees with the owners of evenly spaced positions.
    let probes: u64 = 100_000;
    let step = u64::MAX / probes;
    let first = ring.peers()[0].clone();
    let hits = (0..probes)
        .filter(|i| ring.owner(TargetId(i * step)) == Some(&first))
        .count() as f64;
    assert!((hits / probes as f64 - shares[0]).abs() < 0.01);
    assert_eq!(Ring::new(names(1)).shares(), vec![1.0]);
}

#[test]
fn status_lists_every_peer_with_shares_and_owned_counts() {
    use super::ownership::{OwnershipView, RingCache};
    use super::status::{ClusterStatus, SinglePeer};
    use crate::model::SlotTime;

    let mut leaving = info(
        "shoal-1",
        2,
        Lifecycle::Leaving {
            active_from: 0,
            active_until: 5_000,
        },
    );
    leaving.heartbeat_age = std::time::Duration::from_millis(400);
    let view = ClusterView::from_candidates(
        "shoal-0".into(),
        "shoal".into(),
        vec![
            info("shoal-0", 1, Lifecycle::Participant { active_from: 0 }),
            leaving,
            info("shoal-2", 3, Lifecycle::Joining),
        ],
    );
    let ownership = OwnershipView::build(
        "shoal-0".into(),
        &view.schedule(),
        true,
        &mut RingCache::default(),
    );
    let owned = HashMap::from([("shoal-0".to_string(), 7), ("shoal-1".to_string(), 5)]);
    let st = ClusterStatus::clustered(&view, &ownership, SlotTime(1_000), &owned, 99);
    assert_eq!(st.self_name, "shoal-0");
    assert_eq!(st.view_hash, format!("{:016x}", ownership.view_hash()));
    let by_name = |n: &str| st.peers.iter().find(|p| p.name == n).unwrap();
    assert_eq!(
        by_name("shoal-0").owned_series,
        99,
        "self: the fresh local count"
    );
    assert_eq!(by_name("shoal-0").owned_targets, 7);
    assert_eq!(by_name("shoal-1").state, "leaving");
    assert_eq!(by_name("shoal-1").active_until, Some(5_000));
    assert_eq!(by_name("shoal-1").heartbeat_age_seconds, 0.4);
    assert_eq!(
        by_name("shoal-1").owned_series,
        48_210,
        "others: as published"
    );
    assert_eq!(
        by_name("shoal-2").ring_share,
        0.0,
        "joining: not on the ring"
    );
    let shares = by_name("shoal-0").ring_share + by_name("shoal-1").ring_share;
    assert!((shares - 1.0).abs() < 1e-9);
    // After shoal-1 left, shoal-0 holds the whole ring.
    let later = ClusterStatus::clustered(&view, &ownership, SlotTime(6_000), &owned, 99);
    assert_eq!(later.peers[0].ring_share, 1.0);

    let json = serde_json::to_value(&st).unwrap();
    for key in ["self", "cluster", "view_hash", "peers"] {
        assert!(json.get(key).is_some(), "{key}");
    }
    let peer = &json["peers"][1];
    for key in [
        "name",
        "generation",
        "state",
        "gossip_address",
        "web_address",
        "active_from",
        "active_until",
        "heartbeat_age_seconds",
        "owned_targets",
        "owned_series",
    ] {
        assert!(peer.get(key).is_some(), "{key}");
    }

    let single = ClusterStatus::single(
        SinglePeer {
            name: "solo".into(),
            generation: 1,
            started_ms: 2,
            web_address: "127.0.0.1:9464".into(),
        },
        3,
        4,
    );
    assert_eq!(single.peers.len(), 1);
    assert_eq!(single.peers[0].owned_targets, 3);
    assert_eq!(single.peers[0].state, "participant");
}
