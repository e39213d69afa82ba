//! What each peer says about itself: its own view of the cluster (`/api/v1/cluster`) and
//! the targets it owns (`/api/v1/targets`, whose entries carry `owner`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;

/// Budget of one peer's answers: about the refresh period; a busy machine may stretch a
/// refresh, a peer that does not answer in time shows its last answer.
const POLL_TIMEOUT: Duration = Duration::from_millis(1500);

/// One peer's answer (all `None`/empty while it does not answer yet).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PeerReport {
    /// Its own state: `joining`, `participant`, `leaving`.
    pub state: Option<String>,
    /// Its view hash.
    pub view_hash: Option<String>,
    /// Participants in its view.
    pub participants: usize,
    /// Targets whose current slot it owns, per job.
    pub owned: BTreeMap<String, u64>,
    /// The instances it owns, per job.
    pub instances: BTreeMap<String, Vec<String>>,
}

impl PeerReport {
    /// Whether the peer answered (a report with its state).
    pub fn answered(&self) -> bool {
        self.state.is_some()
    }

    /// Targets it owns in all.
    pub fn owned_total(&self) -> u64 {
        self.owned.values().sum()
    }
}

/// Asks the peer at `web`; a peer that does not answer yields an empty report.
pub async fn poll(client: &reqwest::Client, web: SocketAddr) -> PeerReport {
    let get = |path: &'static str| async move {
        let resp = client
            .get(format!("http://{web}{path}"))
            .timeout(POLL_TIMEOUT)
            .send()
            .await
            .ok()?;
        resp.json::<Value>().await.ok()
    };
    let (cluster, targets) = tokio::join!(get("/api/v1/cluster"), get("/api/v1/targets"));
    let mut report = PeerReport::default();
    let Some(c) = cluster else { return report };
    let me = read_cluster(&c, &mut report);
    if let Some(t) = targets {
        read_targets(&t, &me, &mut report);
    }
    report
}

/// Fills state, view hash and participants; returns the peer's own name.
fn read_cluster(c: &Value, r: &mut PeerReport) -> String {
    let me = c["self"].as_str().unwrap_or_default();
    let peers = c["peers"].as_array().map(Vec::as_slice).unwrap_or_default();
    r.state = peers
        .iter()
        .find(|p| p["name"] == me)
        .and_then(|p| p["state"].as_str())
        .map(str::to_owned);
    r.view_hash = c["view_hash"].as_str().map(str::to_owned);
    r.participants = peers.iter().filter(|p| p["state"] == "participant").count();
    me.to_owned()
}

fn read_targets(t: &Value, me: &str, r: &mut PeerReport) {
    let active = t
        .pointer("/data/activeTargets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for target in active.iter().filter(|x| x["owner"] == me) {
        let job = target["scrapePool"].as_str().unwrap_or("?").to_owned();
        let instance = target
            .pointer("/labels/instance")
            .unwrap_or(&Value::Null)
            .as_str()
            .unwrap_or("?")
            .to_owned();
        *r.owned.entry(job.clone()).or_insert(0) += 1;
        r.instances.entry(job).or_default().push(instance);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_state_and_targets() {
        let cluster = serde_json::json!({
            "self": "peer-1", "view_hash": "ab12",
            "peers": [
                {"name": "peer-0", "state": "participant"},
                {"name": "peer-1", "state": "participant"},
                {"name": "peer-2", "state": "joining"}
            ]
        });
        let targets = serde_json::json!({"data": {"activeTargets": [
            {"scrapePool": "node", "owner": "peer-1", "labels": {"instance": "a:1"}},
            {"scrapePool": "node", "owner": "peer-0", "labels": {"instance": "b:1"}},
            {"scrapePool": "central", "owner": "peer-1", "labels": {"instance": "c:1"}}
        ]}});
        let mut r = PeerReport::default();
        let me = read_cluster(&cluster, &mut r);
        read_targets(&targets, &me, &mut r);
        assert_eq!(me, "peer-1");
        assert_eq!(r.state.as_deref(), Some("participant"));
        assert_eq!(r.view_hash.as_deref(), Some("ab12"));
        assert_eq!(r.participants, 2);
        assert_eq!(r.owned_total(), 2);
        assert_eq!(r.instances["central"], ["c:1"]);
    }
}
