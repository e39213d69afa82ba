//! `GET /api/v1/cluster/targets`: every target of the cluster with its owner, and its
//! health and last scrape as the owner reports them.
//!
//! This peer knows every target and computes every owner, but only the owner scrapes: the
//! others' health and last scrape would be stale (a target handed away) or empty (never
//! scraped here). So each target owned by another peer takes its state from that peer's
//! `/api/v1/targets`; when the owner does not answer, the entry says so (`health`
//! `unknown`, `lastScrape` null) instead of showing a zero time.

use std::collections::HashMap;
use std::sync::LazyLock;
use std::time::Duration;

use serde_json::{Map, Value};

use super::AgentView;

/// How long the owners may take to answer.
const OWNER_TIMEOUT: Duration = Duration::from_secs(2);

/// Plain HTTP to the peers' web ports (the gossiped `web_address`).
static CLIENT: LazyLock<Option<reqwest::Client>> = LazyLock::new(|| {
    reqwest::Client::builder()
        .timeout(OWNER_TIMEOUT)
        .build()
        .ok()
});

/// Identity of a target across peers: pool, URL and final labels.
fn key(t: &Value) -> String {
    format!(
        "{}\u{0}{}\u{0}{}",
        t["scrapePool"], t["scrapeUrl"], t["labels"]
    )
}

/// The `data` object: `{activeTargets: [...]}`, each entry in `/api/v1/targets`' shape
/// with `owner`, and `reportedBy`: the peer whose state it shows (null: no answer).
pub(super) async fn collect(view: &dyn AgentView) -> Value {
    let local = view.cluster_targets();
    let cluster = view.cluster();
    let me = cluster.self_name.clone();
    let mut active: Vec<Value> = local
        .get("activeTargets")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Ask each other owner once, all at the same time.
    let owners: Vec<(String, String)> = cluster
        .peers
        .iter()
        .filter(|p| p.name != me)
        .filter(|p| active.iter().any(|t| t["owner"] == p.name.as_str()))
        .map(|p| (p.name.clone(), p.web_address.clone()))
        .collect();
    let answers = futures::future::join_all(owners.iter().map(|(_, web)| owned_by(web))).await;
    let reports: HashMap<&str, HashMap<String, Value>> = owners
        .iter()
        .zip(answers)
        .filter_map(|((name, _), a)| Some((name.as_str(), a?)))
        .collect();
    for t in &mut active {
        let owner = t["owner"].as_str().unwrap_or_default().to_owned();
        if owner == me {
            set(t, "reportedBy", Value::String(me.clone()));
            continue;
        }
        match reports.get(owner.as_str()).and_then(|r| r.get(&key(t))) {
            Some(reported) => {
                for k in ["health", "lastError", "lastScrape", "lastScrapeDuration"] {
                    set(t, k, reported[k].clone());
                }
                set(t, "reportedBy", Value::String(owner));
            }
            None => {
                set(t, "health", Value::String("unknown".into()));
                set(t, "lastError", Value::String(String::new()));
                set(t, "lastScrape", Value::Null);
                set(t, "lastScrapeDuration", Value::Null);
                set(t, "reportedBy", Value::Null);
            }
        }
    }
    let mut data = Map::new();
    data.insert("activeTargets".into(), Value::Array(active));
    Value::Object(data)
}

fn set(t: &mut Value, k: &str, v: Value) {
    if let Some(o) = t.as_object_mut() {
        o.insert(k.to_owned(), v);
    }
}

/// The active targets a peer reports, by identity; None when it does not answer.
async fn owned_by(web: &str) -> Option<HashMap<String, Value>> {
    let client = CLIENT.as_ref()?;
    let url = format!("http://{web}/api/v1/targets?state=active");
    let body: Value = client.get(url).send().await.ok()?.json().await.ok()?;
    let list = body.pointer("/data/activeTargets")?.as_array()?;
    Some(list.iter().map(|t| (key(t), t.clone())).collect())
}
