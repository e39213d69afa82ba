//! The demo's own targets, served in-process on 127.0.0.1 with free ports: plain
//! exporters, a web site whose pages are probed, a blackbox-style exporter and one
//! centralized exporter. Metric values move with time so the data looks alive.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use tokio::task::JoinHandle;

use super::config::TargetAddrs;

/// Plain exporters started.
pub const EXPORTERS: usize = 10;
/// URLs the blackbox job probes.
pub const PROBES: usize = 20;
/// Pods the centralized exporter reports on.
const CENTRAL_PODS: usize = 12;
/// Budget of one probe (below the 1 s scrape timeout).
const PROBE_TIMEOUT: Duration = Duration::from_millis(700);
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Running target servers; they stop when dropped.
pub struct Targets {
    addrs: TargetAddrs,
    servers: Vec<JoinHandle<()>>,
}

impl Targets {
    /// Starts every server.
    pub async fn start() -> std::io::Result<Targets> {
        let started = crate::model::clock::thread_now();
        let mut servers = Vec::new();
        let mut exporters = Vec::new();
        for i in 0..EXPORTERS {
            let app = Router::new()
                .route("/metrics", get(exporter_metrics))
                .with_state(Exporter { index: i, started });
            let (addr, task) = serve(app).await?;
            exporters.push(addr);
            servers.push(task);
        }
        let (site, task) = serve(Router::new().route("/page/{n}", get(site_page))).await?;
        servers.push(task);
        let probes: Vec<String> = (0..PROBES)
            .map(|n| format!("http://{site}/page/{n}"))
            .collect();
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(PROBE_TIMEOUT)
            .build()
            .map_err(std::io::Error::other)?;
        let prober = Prober {
            client,
            allowed: Arc::new(probes.clone()),
        };
        let app = Router::new().route("/probe", get(probe)).with_state(prober);
        let (blackbox, task) = serve(app).await?;
        servers.push(task);
        let app = Router::new()
            .route("/metrics", get(central_metrics))
            .with_state(started);
        let (central, task) = serve(app).await?;
        servers.push(task);
        Ok(Targets {
            addrs: TargetAddrs {
                exporters,
                blackbox,
                probes,
                central,
            },
            servers,
        })
    }

    /// Where they listen.
    pub fn addrs(&self) -> &TargetAddrs {
        &self.addrs
    }
}

impl Drop for Targets {
    fn drop(&mut self) {
        for s in &self.servers {
            s.abort();
        }
    }
}

async fn serve(app: Router) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(%addr, error = %e, "demo target stopped");
        }
    });
    Ok((addr, task))
}

#[derive(Clone)]
struct Exporter {
    index: usize,
    started: Instant,
}

/// A small node-exporter-like page: CPU, load, memory, requests by code.
async fn exporter_metrics(
    State(e): State<Exporter>,
) -> ([(&'static str, &'static str); 1], String) {
    let secs = e.started.elapsed().as_secs_f64();
    let i = e.index as f64;
    let mut out = String::new();
    out.push_str("# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n");
    out.push_str("# TYPE node_cpu_seconds_total counter\n");
    for cpu in 0..2 {
        for (mode, share) in [("idle", 0.8), ("system", 0.05), ("user", 0.15)] {
            let v = 1000.0 * (i + 1.0) + secs * share;
            let _ = writeln!(
                out,
                "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{mode}\"}} {v:.3}"
            );
        }
    }
    let load = 0.5 + 0.4 * (secs / 30.0 + i).sin();
    out.push_str("# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\n");
    let _ = writeln!(out, "node_load1 {load:.3}");
    out.push_str("# HELP node_memory_MemAvailable_bytes Memory available.\n");
    out.push_str("# TYPE node_memory_MemAvailable_bytes gauge\n");
    let mem = 4.0e9 + 1.0e8 * (secs / 45.0 + i).cos();
    let _ = writeln!(out, "node_memory_MemAvailable_bytes {mem:.0}");
    out.push_str(
        "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n",
    );
    for (code, rate) in [("200", 20.0), ("404", 0.5), ("500", 0.1)] {
        let v = (secs * rate * (1.0 + i / 10.0)).floor();
        let _ = writeln!(
            out,
            "http_requests_total{{code=\"{code}\",method=\"GET\"}} {v}"
        );
    }
    ([("content-type", TEXT_FORMAT)], out)
}

/// A page of the probed site: most answer 200, a few fail, so probes differ.
async fn site_page(Path(n): Path<u32>) -> (StatusCode, String) {
    match n % 7 {
        3 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "down for maintenance\n".into(),
        ),
        _ => (StatusCode::OK, format!("page {n}\n")),
    }
}

#[derive(Clone)]
struct Prober {
    client: reqwest::Client,
    /// Only the demo's own URLs are probed (the exporter is no open proxy).
    allowed: Arc<Vec<String>>,
}

/// `/probe?target=URL&module=http_2xx`: GETs the URL and reports like the blackbox
/// exporter (`probe_success`, `probe_duration_seconds`, `probe_http_status_code`, ...).
async fn probe(
    State(p): State<Prober>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    let Some(target) = q.get("target").filter(|t| p.allowed.contains(t)) else {
        let msg = format!("unknown probe target {:?}\n", q.get("target"));
        return (
            StatusCode::BAD_REQUEST,
            [("content-type", TEXT_FORMAT)],
            msg,
        );
    };
    let start = crate::model::clock::thread_now();
    let (status, length) = match p.client.get(target).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.bytes().await.map(|b| b.len()).unwrap_or(0);
            (status, body)
        }
        Err(_) => (0, 0),
    };
    let took = start.elapsed().as_secs_f64();
    let success = u8::from((200..300).contains(&status));
    let mut out = String::new();
    let gauges: [(&str, &str, f64); 4] = [
        (
            "probe_success",
            "Whether the probe succeeded",
            f64::from(success),
        ),
        ("probe_duration_seconds", "How long the probe took", took),
        (
            "probe_http_status_code",
            "Response HTTP status code",
            f64::from(status),
        ),
        (
            "probe_http_content_length",
            "Length of the response body",
            length as f64,
        ),
    ];
    for (name, help, v) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    (StatusCode::OK, [("content-type", TEXT_FORMAT)], out)
}

/// A kube-state-metrics-like page about many pods: one target, many series.
async fn central_metrics(
    State(started): State<Instant>,
) -> ([(&'static str, &'static str); 1], String) {
    let minute = started.elapsed().as_secs() / 60;
    let mut out = String::new();
    out.push_str("# HELP kube_pod_status_phase The pods' current phase.\n");
    out.push_str("# TYPE kube_pod_status_phase gauge\n");
    for pod in 0..CENTRAL_PODS as u64 {
        // One pod at a time is Pending, changing every minute.
        let pending = (pod + minute) % CENTRAL_PODS as u64 == 0;
        for phase in ["Pending", "Running"] {
            let v = u8::from((phase == "Pending") == pending);
            let _ = writeln!(
                out,
                "kube_pod_status_phase{{namespace=\"shop\",pod=\"web-{pod}\",phase=\"{phase}\"}} {v}"
            );
        }
    }
    out.push_str("# HELP kube_deployment_status_replicas Replicas of each deployment.\n");
    out.push_str("# TYPE kube_deployment_status_replicas gauge\n");
    for (d, n) in [("web", CENTRAL_PODS), ("api", 3), ("worker", 2)] {
        let _ = writeln!(
            out,
            "kube_deployment_status_replicas{{namespace=\"shop\",deployment=\"{d}\"}} {n}"
        );
    }
    ([("content-type", TEXT_FORMAT)], out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn targets_answer() {
        crate::http_client::install_crypto_provider();
        let t = Targets::start().await.unwrap();
        let a = t.addrs().clone();
        assert_eq!(a.count(), EXPORTERS + PROBES + 1);
        let c = reqwest::Client::builder().no_proxy().build().unwrap();
        let get = |url: String| {
            let c = c.clone();
            async move {
                let r = c.get(url).send().await.unwrap();
                (r.status().as_u16(), r.text().await.unwrap())
            }
        };
        let (s, body) = get(format!("http://{}/metrics", a.exporters[0])).await;
        assert_eq!(s, 200);
        assert!(body.contains("node_load1 "), "{body}");
        let (s, body) = get(format!("http://{}/metrics", a.central)).await;
        assert_eq!(s, 200);
        assert!(body.contains("kube_pod_status_phase{"), "{body}");
        let probe = |n: usize| {
            let url = url::Url::parse_with_params(
                &format!("http://{}/probe", a.blackbox),
                [("module", "http_2xx"), ("target", a.probes[n].as_str())],
            )
            .unwrap();
            get(url.to_string())
        };
        let (s, body) = probe(0).await;
        assert_eq!(s, 200);
        assert!(body.contains("probe_success 1\n"), "{body}");
        assert!(body.contains("probe_http_status_code 200\n"), "{body}");
        let (_, body) = probe(3).await;
        assert!(body.contains("probe_success 0\n"), "{body}");
        let (s, _) = get(format!(
            "http://{}/probe?target=http://example.com/",
            a.blackbox
        ))
        .await;
        assert_eq!(s, 400);
    }
}
