//! The status page at `/`: plain server-rendered HTML for people, no JavaScript.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;
use serde_json::Value;

use super::WebState;
use crate::cluster::ClusterStatus;

pub(super) async fn index(State(s): State<WebState>) -> Html<String> {
    let targets = s.view.targets();
    let ready = s.view.readiness();
    let cluster = s.view.cluster();
    // With other peers, the cluster-wide table asks each owner for its targets' state.
    let everyone = match cluster.peers.len() {
        0 | 1 => None,
        _ => Some(super::cluster_targets::collect(s.view.as_ref()).await),
    };
    let mut page = render(&targets, &ready, &cluster, everyone.as_ref());
    let mut op = String::new();
    render_operator(&mut op, &s.view.operator());
    if let Some(at) = page.rfind("</body>") {
        page.insert_str(at, &op);
    }
    Html(page)
}

/// Renders the page from the same data the API serves, so both always agree.
fn render(
    targets: &Value,
    ready: &Result<(), String>,
    cluster: &ClusterStatus,
    everyone: Option<&Value>,
) -> String {
    let mut h = String::with_capacity(16 * 1024);
    h.push_str(concat!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>shoal</title>",
        "<style>body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}",
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}",
        ".up{color:#080}.down{color:#b00}.unknown{color:#888}code{font-size:90%}</style>",
        "</head><body>"
    ));
    let _ = write!(h, "<h1>shoal {}</h1>", env!("CARGO_PKG_VERSION"));
    match ready {
        Ok(()) => h.push_str("<p>Status: <b class=\"up\">ready</b></p>"),
        Err(why) => {
            let _ = write!(
                h,
                "<p>Status: <b class=\"down\">not ready</b>: {}</p>",
                esc(why)
            );
        }
    }
    render_peers(&mut h, cluster);
    let active = targets
        .get("activeTargets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let dropped = targets
        .get("droppedTargets")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let up = active
        .iter()
        .filter(|t| t.get("health").and_then(Value::as_str) == Some("up"))
        .count();
    let _ = write!(
        h,
        "<h2>Targets scraped by this peer</h2><p>{} active ({} up), {} dropped. \
         JSON: <a href=\"/api/v1/targets\">/api/v1/targets</a> · \
         <a href=\"/metrics\">/metrics</a> · \
         <a href=\"/api/v1/status/config\">config</a></p>",
        active.len(),
        up,
        dropped
    );
    h.push_str(
        "<table><tr><th>pool</th><th>endpoint</th><th>health</th><th>labels</th>\
         <th>last scrape</th><th>duration</th><th>owner</th><th>error</th></tr>",
    );
    for t in active {
        let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("");
        let health = s("health");
        let labels = t
            .get("labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{}=\"{}\"", k, v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let dur = t
            .get("lastScrapeDuration")
            .and_then(Value::as_f64)
            .map(|d| format!("{:.3}s", d))
            .unwrap_or_default();
        let _ = write!(
            h,
            "<tr><td>{}</td><td><a href=\"{url}\">{url}</a></td><td class=\"{hc}\">{hc}</td>\
             <td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(s("scrapePool")),
            esc(&labels),
            esc(&last_scrape(t)),
            dur,
            esc(s("owner")),
            esc(s("lastError")),
            url = esc(s("scrapeUrl")),
            hc = esc(health),
        );
    }
    h.push_str("</table>");
    if let Some(all) = everyone {
        render_cluster_targets(&mut h, all);
    }
    h.push_str("</body></html>\n");
    h
}

/// When the target was last scraped, for people: never a zero time.
fn last_scrape(t: &Value) -> String {
    match t.get("lastScrape").and_then(Value::as_str) {
        Some(ts) if !ts.starts_with("0001-") => ts.to_owned(),
        _ => "never".to_owned(),
    }
}

/// Every target of the cluster with its owner and the state the owner reports.
fn render_cluster_targets(h: &mut String, all: &Value) {
    let list = all
        .get("activeTargets")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let _ = write!(
        h,
        "<h2>All targets of the cluster</h2><p>{} targets, each scraped by its owner; \
         state as the owner reports it. JSON: \
         <a href=\"/api/v1/cluster/targets\">/api/v1/cluster/targets</a></p>",
        list.len()
    );
    h.push_str(
        "<table><tr><th>pool</th><th>endpoint</th><th>scraped by</th><th>health</th>\
         <th>last scrape</th><th>error</th></tr>",
    );
    for t in list {
        let s = |k: &str| t.get(k).and_then(Value::as_str).unwrap_or("");
        let owner = s("owner");
        let (health, when) = match t.get("reportedBy").and_then(Value::as_str) {
            Some(_) => (s("health"), last_scrape(t)),
            None => ("unknown", format!("no report from {owner}")),
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{hc}\">{hc}</td><td>{}</td>\
             <td>{}</td></tr>",
            esc(s("scrapePool")),
            esc(s("scrapeUrl")),
            esc(owner),
            esc(&when),
            esc(s("lastError")),
            hc = esc(health),
        );
    }
    h.push_str("</table>");
}

/// The peers table: who is in the cluster, its ring share and what it scrapes.
fn render_peers(h: &mut String, c: &ClusterStatus) {
    let _ = write!(
        h,
        "<h2>Peers</h2><p>This peer: <b>{}</b>{} · view hash <code>{}</code> · \
         JSON: <a href=\"/api/v1/cluster\">/api/v1/cluster</a></p>",
        esc(&c.self_name),
        if c.cluster.is_empty() {
            " (not clustered)".to_string()
        } else {
            format!(" in cluster <b>{}</b>", esc(&c.cluster))
        },
        esc(&c.view_hash),
    );
    let hashes: std::collections::BTreeSet<&str> = c
        .peers
        .iter()
        .map(|p| p.config_hash.as_str())
        .filter(|h| !h.is_empty())
        .collect();
    if hashes.len() > 1 {
        h.push_str(
            "<p class=\"down\"><b>Warning:</b> peers run different configurations \
             (config hash below): a peer that has not yet seen a change of the file or of a \
             Prometheus Operator object scrapes other jobs than the rest.</p>",
        );
    }
    h.push_str(
        "<table><tr><th>name</th><th>state</th><th>ring share</th><th>owned targets</th>\
         <th>owned series</th><th>config hash</th><th>web</th><th>heartbeat age</th></tr>",
    );
    for p in &c.peers {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.1}%</td><td>{}</td><td>{}</td><td><code>{}</code></td>\
             <td><a href=\"http://{web}/\">{web}</a></td><td>{:.1}s</td></tr>",
            esc(&p.name),
            esc(p.state),
            p.ring_share * 100.0,
            p.owned_targets,
            p.owned_series,
            esc(&p.config_hash),
            p.heartbeat_age_seconds,
            web = esc(&p.web_address),
        );
    }
    h.push_str("</table>");
}

/// The Prometheus Operator objects and what became of each (`/api/v1/operator`).
fn render_operator(h: &mut String, op: &Value) {
    if op.get("enabled").and_then(Value::as_bool) != Some(true) {
        return;
    }
    let objects = op
        .get("objects")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let rejected = objects
        .iter()
        .filter(|o| o.get("state").and_then(Value::as_str) == Some("rejected"))
        .count();
    let _ = write!(
        h,
        "<h2>Prometheus Operator objects</h2><p>{} selected, {} rejected, {} jobs. \
         JSON: <a href=\"/api/v1/operator\">/api/v1/operator</a></p><p>",
        objects.len(),
        rejected,
        op.get("jobs").and_then(Value::as_u64).unwrap_or(0)
    );
    for k in op
        .get("kinds")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let s = |f: &str| k.get(f).and_then(Value::as_str).unwrap_or("");
        let selected = k.get("selected").and_then(Value::as_bool) == Some(true);
        let _ = write!(
            h,
            "{}: {}{} · ",
            esc(s("kind")),
            esc(s("state")),
            if selected { "" } else { " (not selected)" }
        );
    }
    h.push_str(
        "</p><table><tr><th>kind</th><th>namespace</th><th>name</th><th>state</th>\
         <th>jobs / reason</th></tr>",
    );
    for o in objects {
        let s = |f: &str| o.get(f).and_then(Value::as_str).unwrap_or("");
        let list = |f: &str| {
            o.get(f)
                .and_then(Value::as_array)
                .map(|j| j.iter().filter_map(Value::as_str).collect::<Vec<_>>())
                .unwrap_or_default()
        };
        let warnings = list("warnings");
        let detail = if s("state") == "rejected" {
            s("reason").to_string()
        } else if warnings.is_empty() {
            list("jobs").join(", ")
        } else {
            format!(
                "{} (warning: {})",
                list("jobs").join(", "),
                warnings.join("; ")
            )
        };
        let class = if s("state") == "rejected" {
            "down"
        } else if warnings.is_empty() {
            "up"
        } else {
            "unknown"
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"{class}\">{}</td><td>{}</td></tr>",
            esc(s("kind")),
            esc(s("namespace")),
            esc(s("name")),
            esc(s("state")),
            esc(&detail)
        );
    }
    h.push_str("</table>");
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_targets_escaped() {
        let t = serde_json::json!({
            "activeTargets": [{
                "scrapePool": "job<1>", "scrapeUrl": "http://a:1/metrics", "health": "down",
                "labels": {"instance": "a:1", "job": "job<1>"}, "lastScrape": "2026-01-01T00:00:00Z",
                "lastScrapeDuration": 0.012, "owner": "self", "lastError": "connection refused \"x\""
            }],
            "droppedTargets": [{}]
        });
        let cluster = ClusterStatus::single(
            crate::cluster::SinglePeer {
                name: "peer<0>".into(),
                generation: 1,
                started_ms: 0,
                web_address: "127.0.0.1:9464".into(),
            },
            1,
            10,
        );
        let page = render(&t, &Ok(()), &cluster, None);
        assert!(
            page.contains("<td>peer&lt;0&gt;</td><td>participant</td><td>100.0%</td><td>1</td>")
        );
        assert!(page.contains("job&lt;1&gt;"));
        assert!(page.contains("1 active (0 up), 1 dropped"));
        assert!(page.contains("connection refused &quot;x&quot;"));
        assert!(!page.contains("<1>"));
    }

    #[test]
    fn cluster_targets_show_the_owners_report_and_never_a_zero_time() {
        let all = serde_json::json!({"activeTargets": [
            {"scrapePool": "j", "scrapeUrl": "http://a/metrics", "owner": "peer-1",
             "reportedBy": "peer-1", "health": "up", "lastScrape": "2026-01-01T00:00:00Z"},
            {"scrapePool": "j", "scrapeUrl": "http://b/metrics", "owner": "peer-2",
             "reportedBy": null, "health": "unknown", "lastScrape": null},
        ]});
        let mut h = String::new();
        render_cluster_targets(&mut h, &all);
        assert!(h.contains("<td>peer-1</td><td class=\"up\">up</td><td>2026-01-01T00:00:00Z</td>"));
        assert!(h.contains(
            "<td>peer-2</td><td class=\"unknown\">unknown</td><td>no report from peer-2</td>"
        ));
        assert!(!h.contains("0001-01-01"));
        let never = serde_json::json!({"lastScrape": "0001-01-01T00:00:00Z"});
        assert_eq!(last_scrape(&never), "never");
    }
}
