//! Pure tests of slot ownership with a simulated clock: joins, leaves, crashes,
//! partitions and rolling restarts, the min-peers gate, the view hash and the ring cache.

use super::member::Lifecycle;
use super::ownership::{ClusterOwnership, MinPeersGate, OwnershipView, PeerSchedule, RingCache};
use super::ring::Ring;
use super::tests::random_targets;

use crate::model::{SlotGrid, SlotOwner, SlotTime, TargetId};

// ---------------------------------------------------------------- ownership per slot

const INTERVAL_MS: u64 = 10_000;

fn participant(name: &str, active_from: i64) -> PeerSchedule {
    PeerSchedule {
        name: name.into(),
        lifecycle: Lifecycle::Participant { active_from },
    }
}

fn leaving(name: &str, active_from: i64, active_until: i64) -> PeerSchedule {
    PeerSchedule {
        name: name.into(),
        lifecycle: Lifecycle::Leaving {
            active_from,
            active_until,
        },
    }
}

fn joining(name: &str) -> PeerSchedule {
    PeerSchedule {
        name: name.into(),
        lifecycle: Lifecycle::Joining,
    }
}

/// One simulated peer: its name and the ownership it computes from its view.
fn peer(name: &str, view: &[PeerSchedule]) -> ClusterOwnership {
    let o = ClusterOwnership::new(name.into(), 0);
    o.update(view);
    o
}

/// Every slot of every target in `[from, to)`, on the target's own grid.
fn slots(targets: &[TargetId], from: i64, to: i64) -> Vec<(TargetId, SlotTime)> {
    let mut out = Vec::new();
    for &t in targets {
        let grid = SlotGrid::new(t, std::time::Duration::from_millis(INTERVAL_MS));
        let mut s = grid.next_at_or_after(SlotTime(from));
        while s.0 < to {
            out.push((t, s));
            s = grid.after(s);
        }
    }
    out
}

/// The peers (of `peers`) that scrape `target` at `slot`.
fn scrapers<'a>(
    peers: &'a [(&'a str, ClusterOwnership)],
    target: TargetId,
    slot: SlotTime,
) -> Vec<&'a str> {
    peers
        .iter()
        .filter(|(_, o)| o.owns(target, slot))
        .map(|(n, _)| *n)
        .collect()
}

#[test]
fn join_hands_off_at_active_from() {
    let (t0, delay) = (1_000_000, 5_000);
    let old_view = vec![
        participant("a", 0),
        participant("b", 0),
        participant("c", 0),
    ];
    let mut new_view = old_view.clone();
    new_view.push(participant("d", t0 + delay));
    let old_ring = Ring::new(["a", "b", "c"]);
    let new_ring = Ring::new(["a", "b", "c", "d"]);
    let peers: Vec<(&str, ClusterOwnership)> = ["a", "b", "c", "d"]
        .into_iter()
        .map(|n| (n, peer(n, &new_view)))
        .collect();
    let before_announce =
        OwnershipView::build("a".into(), &old_view, true, &mut RingCache::default());
    let targets = random_targets(21, 300);
    let mut moved = 0;
    for (t, s) in slots(&targets, t0 - 30_000, t0 + 30_000) {
        let want = if s.0 < t0 + delay {
            old_ring.owner(t)
        } else {
            new_ring.owner(t)
        };
        let got = scrapers(&peers, t, s);
        assert_eq!(got.len(), 1, "{t} at {s:?}: scraped by {got:?}");
        assert_eq!(Some(got[0]), want.map(|w| &**w), "{t} at {s:?}");
        assert_eq!(
            peers[0].1.owner_of(t, s).as_deref(),
            want.map(|w| &**w),
            "owner_of agrees"
        );
        if s.0 < t0 + delay {
            // The announcement changes nothing before active_from: no in-flight switch.
            assert_eq!(
                before_announce.owner(t, s),
                peers[0].1.current().owner(t, s)
            );
        } else if old_ring.owner(t) != new_ring.owner(t) {
            moved += 1;
        }
    }
    assert!(moved > 0, "some targets moved to the joiner");
}

#[test]
fn leave_hands_off_at_active_until() {
    let until = 1_005_000;
    let view = vec![
        participant("a", 0),
        participant("b", 0),
        leaving("c", 0, until),
    ];
    let peers: Vec<(&str, ClusterOwnership)> = ["a", "b", "c"]
        .into_iter()
        .map(|n| (n, peer(n, &view)))
        .collect();
    let targets = random_targets(22, 300);
    let (mut c_before, mut c_after) = (0, 0);
    for (t, s) in slots(&targets, until - 30_000, until + 30_000) {
        let got = scrapers(&peers, t, s);
        assert_eq!(got.len(), 1, "{t} at {s:?}: scraped by {got:?}");
        if got[0] == "c" {
            if s.0 < until {
                c_before += 1;
            } else {
                c_after += 1;
            }
        }
    }
    assert!(c_before > 0, "the leaver scrapes until active_until");
    assert_eq!(c_after, 0, "and nothing from active_until on");
}

#[test]
fn crash_hands_slots_to_the_others_from_the_next_slot() {
    let now = 2_000_000;
    let full = vec![
        participant("a", 0),
        participant("b", 0),
        participant("c", 0),
    ];
    let without_c = vec![participant("a", 0), participant("b", 0)];
    let targets = random_targets(23, 300);
    // Before the failure detector fires, a and b still leave c's share to c.
    let before: Vec<(&str, ClusterOwnership)> = ["a", "b"]
        .into_iter()
        .map(|n| (n, peer(n, &full)))
        .collect();
    let after: Vec<(&str, ClusterOwnership)> = ["a", "b"]
        .into_iter()
        .map(|n| (n, peer(n, &without_c)))
        .collect();
    let c_ring = Ring::new(["a", "b", "c"]);
    let mut taken_over = 0;
    for (t, s) in slots(&targets, now, now + 30_000) {
        let got = scrapers(&after, t, s);
        assert_eq!(got.len(), 1, "{t} at {s:?}: scraped by {got:?}");
        if c_ring.owner(t).map(|o| &**o) == Some("c") {
            assert!(scrapers(&before, t, s).is_empty());
            taken_over += 1;
        }
    }
    assert!(taken_over > 0);
}

#[test]
fn partition_gives_duplicates_never_gaps() {
    let full = vec![
        participant("a", 0),
        participant("b", 0),
        participant("c", 0),
    ];
    // Each side has dropped the other after failure detection.
    let side_ab = vec![participant("a", 0), participant("b", 0)];
    let side_c = vec![participant("c", 0)];
    let peers = vec![
        ("a", peer("a", &side_ab)),
        ("b", peer("b", &side_ab)),
        ("c", peer("c", &side_c)),
    ];
    let targets = random_targets(24, 300);
    let mut duplicates = 0;
    for (t, s) in slots(&targets, 3_000_000, 3_030_000) {
        let got = scrapers(&peers, t, s);
        assert!(!got.is_empty(), "gap: {t} at {s:?}");
        duplicates += usize::from(got.len() > 1);
    }
    assert!(duplicates > 0);
    // Healed: exactly one again.
    let healed: Vec<(&str, ClusterOwnership)> = ["a", "b", "c"]
        .into_iter()
        .map(|n| (n, peer(n, &full)))
        .collect();
    for (t, s) in slots(&targets, 3_000_000, 3_030_000) {
        assert_eq!(scrapers(&healed, t, s).len(), 1);
    }
}

#[test]
fn rolling_restart_of_every_peer_never_leaves_a_slot_unowned() {
    // Each step: one peer leaves at `until`, its successor (same name, new generation)
    // announces active_from = until (restart + handoff delay, ending at the same instant).
    let names3 = ["a", "b", "c"];
    let targets = random_targets(25, 200);
    let mut view: Vec<PeerSchedule> = names3.iter().map(|n| participant(n, 0)).collect();
    for (step, name) in names3.iter().enumerate() {
        let until = 1_000_000 + step as i64 * 60_000;
        // Phase 1: the old generation leaves.
        let i = view.iter().position(|p| &*p.name == *name).unwrap();
        view[i] = leaving(name, 0, until);
        let peers: Vec<(&str, ClusterOwnership)> =
            names3.iter().map(|n| (*n, peer(n, &view))).collect();
        for (t, s) in slots(&targets, until - 20_000, until + 20_000) {
            let n = scrapers(&peers, t, s).len();
            // From `until` until the new generation is active, the others own everything.
            assert_eq!(n, 1, "step {step}: {t} at {s:?}");
        }
        // Phase 2: the new generation replaces it (view keeps one entry per name).
        view[i] = participant(name, until + 5_000);
        let peers: Vec<(&str, ClusterOwnership)> =
            names3.iter().map(|n| (*n, peer(n, &view))).collect();
        for (t, s) in slots(&targets, until + 5_000, until + 40_000) {
            assert_eq!(scrapers(&peers, t, s).len(), 1, "step {step}: {t} at {s:?}");
        }
    }
}

#[test]
fn joining_peers_own_nothing_and_an_empty_cluster_owns_nothing() {
    let view = vec![joining("a"), joining("b")];
    let a = peer("a", &view);
    assert!(!a.owns(TargetId(1), SlotTime(0)));
    assert_eq!(a.owner_of(TargetId(1), SlotTime(0)), None);
    let fresh = ClusterOwnership::new("a".into(), 0);
    assert!(
        !fresh.owns(TargetId(1), SlotTime(0)),
        "nothing before the first view"
    );
}

#[test]
fn min_peers_gate_opens_at_n_participants_and_stays_open() {
    let o = ClusterOwnership::new("a".into(), 3);
    let two = vec![participant("a", 0), participant("b", 0), joining("c")];
    o.update(&two);
    assert!(!o.current().gate_open());
    assert!(!o.owns(TargetId(1), SlotTime(10)));
    // The ring is known (for owner_of) even while the gate is closed.
    assert!(o.owner_of(TargetId(1), SlotTime(10)).is_some());
    let three = vec![
        participant("a", 0),
        participant("b", 0),
        participant("c", 0),
    ];
    o.update(&three);
    assert!(o.current().gate_open());
    o.update(&[participant("a", 0)]);
    assert!(
        o.current().gate_open(),
        "scale-down below min-peers keeps scraping"
    );
    assert!(o.owns(TargetId(1), SlotTime(10)));

    let mut gate = MinPeersGate::new(0);
    assert!(gate.observe(0));
    let mut gate = MinPeersGate::new(2);
    assert!(!gate.observe(1));
    assert!(gate.observe(2));
    assert!(gate.observe(0));
}

#[test]
fn view_hash_tracks_exactly_the_inputs_of_ownership() {
    let build = |self_name: &str, peers: &[PeerSchedule], open: bool| {
        OwnershipView::build(self_name.into(), peers, open, &mut RingCache::default()).view_hash()
    };
    let base = vec![participant("a", 0), participant("b", 5)];
    let h = build("a", &base, true);
    struct Case {
        name: &'static str,
        self_name: &'static str,
        peers: Vec<PeerSchedule>,
        open: bool,
        equal: bool,
    }
    let cases = [
        Case {
            name: "other self",
            self_name: "b",
            peers: base.clone(),
            open: true,
            equal: true,
        },
        Case {
            name: "other order",
            self_name: "a",
            peers: vec![participant("b", 5), participant("a", 0)],
            open: true,
            equal: true,
        },
        Case {
            name: "a joining peer owns nothing",
            self_name: "a",
            peers: vec![participant("a", 0), participant("b", 5), joining("c")],
            open: true,
            equal: true,
        },
        Case {
            name: "active_from differs",
            self_name: "a",
            peers: vec![participant("a", 0), participant("b", 6)],
            open: true,
            equal: false,
        },
        Case {
            name: "active_until announced",
            self_name: "a",
            peers: vec![participant("a", 0), leaving("b", 5, 100)],
            open: true,
            equal: false,
        },
        Case {
            name: "a peer missing",
            self_name: "a",
            peers: vec![participant("a", 0)],
            open: true,
            equal: false,
        },
        Case {
            name: "gate closed",
            self_name: "a",
            peers: base.clone(),
            open: false,
            equal: false,
        },
    ];
    for c in cases {
        assert_eq!(
            build(c.self_name, &c.peers, c.open) == h,
            c.equal,
            "{}",
            c.name
        );
    }
    // Pinned: peers of different builds must agree.
    assert_eq!(h, GOLDEN_VIEW_HASH);
}

const GOLDEN_VIEW_HASH: u64 = 3_378_888_019_640_652_332;

#[test]
fn rings_are_cached_per_active_set_and_pruned() {
    let mut cache = RingCache::default();
    let view = vec![
        participant("a", 0),
        participant("b", 0),
        participant("c", 100),
    ];
    let v = OwnershipView::build("a".into(), &view, true, &mut cache);
    assert_eq!(
        v.epochs(),
        3,
        "before 0: none; [0,100): a,b; from 100: a,b,c"
    );
    assert_eq!(cache.len(), 2);
    let v2 = OwnershipView::build("a".into(), &view, true, &mut cache);
    assert_eq!(v.view_hash(), v2.view_hash());
    assert_eq!(cache.len(), 2);
    let _ = OwnershipView::build("a".into(), &[participant("a", 0)], true, &mut cache);
    assert_eq!(cache.len(), 1, "rings of old views are dropped");
}

#[test]
fn tmp_epoch_rings_match_plain_rings() {
    let view = [
        participant("peer-0", 100),
        participant("peer-1", 200),
        participant("peer-2", 300),
    ];
    let o = peer("peer-0", &view);
    let all = Ring::new(["peer-0", "peer-1", "peer-2"]);
    let mut diff = 0;
    for t in random_targets(3, 3000) {
        if o.current().owner(t, SlotTime(1000)) != all.owner(t) {
            diff += 1;
        }
    }
    assert_eq!(diff, 0);
}
