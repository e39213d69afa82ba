//! Who scrapes what, and what moved since the last look: the handoffs made visible.
//! Pure: built from the peers' reports.

use std::collections::{BTreeMap, HashMap};

use super::ledger::TargetKey;
use super::status::PeerReport;

/// The one peer that owns each target, as the peers report it. A target claimed by
/// several peers at once (each answers at a slightly different instant around a
/// handoff) or by none is left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Owners(HashMap<TargetKey, String>);

impl Owners {
    /// From (peer name, report) pairs.
    pub fn from_reports<'a>(
        reports: impl IntoIterator<Item = (&'a str, &'a PeerReport)>,
    ) -> Owners {
        let mut claims: HashMap<TargetKey, Vec<&str>> = HashMap::new();
        for (peer, report) in reports {
            for (job, instances) in &report.instances {
                for instance in instances {
                    let key = TargetKey {
                        job: job.clone(),
                        instance: instance.clone(),
                    };
                    claims.entry(key).or_default().push(peer);
                }
            }
        }
        Owners(
            claims
                .into_iter()
                .filter_map(|(k, peers)| match peers.as_slice() {
                    [one] => Some((k, (*one).to_owned())),
                    _ => None,
                })
                .collect(),
        )
    }

    /// Takes in a newer look: targets whose owner changed are counted per (from, to)
    /// pair and take their new owner; targets the newer look leaves out keep the owner
    /// last seen (a target mid-handoff is a move once its new owner alone claims it).
    pub fn update(&mut self, newer: Owners) -> BTreeMap<(String, String), usize> {
        let mut moves = BTreeMap::new();
        for (target, now) in newer.0 {
            match self.0.insert(target, now.clone()) {
                Some(was) if was != now => *moves.entry((was, now)).or_insert(0) += 1,
                _ => {}
            }
        }
        moves
    }
}

/// `12 targets moved: peer-0→peer-3 5, peer-1→peer-3 7`, or None without moves.
pub fn describe(moves: &BTreeMap<(String, String), usize>) -> Option<String> {
    let total: usize = moves.values().sum();
    if total == 0 {
        return None;
    }
    let pairs: Vec<String> = moves
        .iter()
        .map(|((from, to), n)| format!("{from}->{to}:{n}"))
        .collect();
    Some(format!("moved targets={total} {}", pairs.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(owned: &[(&str, &str)]) -> PeerReport {
        let mut r = PeerReport::default();
        for (job, instance) in owned {
            r.instances
                .entry(job.to_string())
                .or_default()
                .push(instance.to_string());
        }
        r
    }

    #[test]
    fn moves_between_looks() {
        let key = |a: &str, b: &str| (a.to_string(), b.to_string());
        let (a0, b0) = (
            report(&[("node", "x"), ("node", "y")]),
            report(&[("node", "z")]),
        );
        let mut owners = Owners::from_reports([("peer-0", &a0), ("peer-1", &b0)]);
        // y moved to peer-1; z is claimed twice (mid-handoff): not a move yet.
        let (a1, b1) = (
            report(&[("node", "x"), ("node", "z")]),
            report(&[("node", "y"), ("node", "z")]),
        );
        let moves = owners.update(Owners::from_reports([("peer-0", &a1), ("peer-1", &b1)]));
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!(moves[&key("peer-0", "peer-1")], 1);
        assert_eq!(
            describe(&moves).as_deref(),
            Some("moved targets=1 peer-0->peer-1:1")
        );
        // Then z is peer-0's alone: a move from its last unique owner.
        let (a2, b2) = (
            report(&[("node", "x"), ("node", "z")]),
            report(&[("node", "y")]),
        );
        let moves = owners.update(Owners::from_reports([("peer-0", &a2), ("peer-1", &b2)]));
        assert_eq!(moves.len(), 1, "{moves:?}");
        assert_eq!(moves[&key("peer-1", "peer-0")], 1);
        assert_eq!(describe(&BTreeMap::new()), None);
    }
}
