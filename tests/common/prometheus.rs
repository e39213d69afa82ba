//! Debian's Prometheus as a real remote-write receiver, queried through its HTTP API.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::{Daemon, free_port, http_client, require_binary};

/// How long Prometheus may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// A running Prometheus with the remote-write receiver enabled and no scrape jobs.
pub struct Prometheus {
    daemon: Daemon,
    addr: String,
    client: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus, or returns `None` (after printing why) when the binary is
    /// missing outside CI.
    pub async fn start() -> Option<Prometheus> {
        // No scrape jobs: everything it stores comes from shoal.
        Self::start_with_config("global:\n  scrape_interval: 1m\n").await
    }

    /// Starts Prometheus on `config` (a whole `prometheus.yml`), or `None` as [`start`].
    ///
    /// [`start`]: Prometheus::start
    pub async fn start_with_config(config_text: &str) -> Option<Prometheus> {
        let bin = require_binary("prometheus", "prometheus")?;
        let dir = tempfile::Builder::new()
            .prefix("prometheus-test")
            .tempdir()
            .expect("temp dir");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(&config, config_text).expect("write config");
        let tsdb = dir.path().join("tsdb");
        let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
        let args = vec![
            "--web.enable-remote-write-receiver".to_string(),
            format!("--config.file={}", config.display()),
            format!("--storage.tsdb.path={}", tsdb.display()),
            format!("--web.listen-address={addr}"),
            "--log.level=warn".to_string(),
        ];
        let mut daemon = Daemon::spawn("prometheus", &bin, &args, dir);
        let client = http_client();
        let url = format!("http://{addr}/-/ready");
        let deadline = std::time::Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = daemon.try_exit() {
                panic!(
                    "prometheus exited with {status} before ready; log:\n{}",
                    daemon.log()
                );
            }
            if let Ok(resp) = client.get(&url).send().await
                && resp.status().is_success()
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "prometheus not ready within {READY_TIMEOUT:?}; log:\n{}",
                daemon.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Some(Prometheus {
            daemon,
            addr,
            client,
        })
    }

    /// The remote-write URL.
    pub fn write_url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Prometheus' log, for assertion messages.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// `data` of a GET of Prometheus' HTTP API (`/api/v1/targets`, ...).
    pub async fn api(&self, path: &str, params: &[(&str, &str)]) -> Value {
        let url = format!("http://{}{path}", self.addr);
        let resp = self
            .client
            .get(&url)
            .query(params)
            .send()
            .await
            .expect("query prometheus");
        let v: Value = resp.json().await.expect("prometheus json");
        assert_eq!(v["status"], "success", "prometheus {path} {params:?}: {v}");
        v["data"].clone()
    }

    /// An instant query: the `result` vector, each `{metric: {..}, value: [ts, "v"]}`.
    pub async fn query(&self, promql: &str) -> Vec<Value> {
        let data = self.api("/api/v1/query", &[("query", promql)]).await;
        data["result"].as_array().cloned().unwrap_or_default()
    }

    /// An instant query reduced to (labels, value) pairs.
    pub async fn query_values(&self, promql: &str) -> Vec<(BTreeMap<String, String>, f64)> {
        self.query(promql)
            .await
            .iter()
            .map(|r| {
                let labels = to_labels(&r["metric"]);
                let value = r["value"][1]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(f64::NAN);
                (labels, value)
            })
            .collect()
    }

    /// `/api/v1/series` for one matcher, over the last hour.
    pub async fn series(&self, matcher: &str) -> Vec<BTreeMap<String, String>> {
        let start = (super::now_ms() / 1000 - 3600).to_string();
        let data = self
            .api("/api/v1/series", &[("match[]", matcher), ("start", &start)])
            .await;
        data.as_array()
            .map(|a| a.iter().map(to_labels).collect())
            .unwrap_or_default()
    }
}

fn to_labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}
