//! A shoal process on a storage directory that outlives it (WAL tests: restarts, damage).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use shoal::receiver::Receiver;

use super::{Daemon, Reply, TargetServer, free_port, http_client, wait_for_async};

/// How long a start may take.
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a graceful stop may take.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(40);

/// One shoal process on a storage dir that outlives it.
pub struct Agent {
    /// The process.
    pub daemon: Daemon,
    /// `127.0.0.1:PORT` of the HTTP API.
    pub addr: String,
}

impl Agent {
    /// Starts shoal on `storage` (flush deadline 20 s) and waits until it is ready.
    pub async fn start(config_yaml: &str, storage: &Path) -> Agent {
        Agent::start_with(config_yaml, storage, "20s").await
    }

    /// Starts shoal on `storage` and waits until it is ready.
    pub async fn start_with(config_yaml: &str, storage: &Path, flush_deadline: &str) -> Agent {
        Agent::start_opts(config_yaml, storage, flush_deadline, "256KB").await
    }

    /// Starts shoal on `storage` with a WAL disk bound of `max_bytes` (segments of an
    /// eighth of it) and waits until it is ready.
    pub async fn start_opts(
        config_yaml: &str,
        storage: &Path,
        flush_deadline: &str,
        max_bytes: &str,
    ) -> Agent {
        let dir = tempfile::Builder::new()
            .prefix("shoal-wal-test")
            .tempdir()
            .unwrap();
        let config_path = dir.path().join("shoal.yml");
        std::fs::write(&config_path, config_yaml).unwrap();
        let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
        let args = vec![
            format!("--config.file={}", config_path.display()),
            format!("--web.listen-address={addr}"),
            format!("--storage.path={}", storage.display()),
            "--storage.wal.enabled".to_string(),
            format!("--storage.max-bytes={max_bytes}"),
            format!("--storage.remote.flush-deadline={flush_deadline}"),
        ];
        let daemon = Daemon::spawn("shoal", &super::shoal::binary(), &args, dir);
        let mut agent = Agent { daemon, addr };
        let client = http_client();
        let url = format!("http://{}/-/ready", agent.addr);
        let ready = wait_for_async(READY_TIMEOUT, || {
            let (client, url) = (client.clone(), url.clone());
            async move {
                client
                    .get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200)
            }
        })
        .await;
        assert!(
            ready && agent.daemon.try_exit().is_none(),
            "shoal not ready:\n{}",
            agent.daemon.log()
        );
        agent
    }

    /// SIGTERM, and the exit must be 0.
    pub async fn stop(&mut self) {
        self.daemon.signal("TERM");
        let status = self.daemon.wait_exit(EXIT_TIMEOUT).await;
        assert!(status.success(), "exit {status:?}:\n{}", self.daemon.log());
    }

    /// The value of a counter or gauge on `/metrics` (summed over label sets), 0 if absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let body = match http_client()
            .get(format!("http://{}/metrics", self.addr))
            .send()
            .await
        {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => return 0.0,
        };
        body.lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

/// The WAL tests' config: job `job` scraping `targets` (`ip:port`) every second, one
/// remote write to `write_url` whose entry also gets each of `write_lines` (e.g.
/// `"queue_config: {max_backoff: 1s}"`).
pub fn config(job: &str, targets: &[String], write_url: &str, write_lines: &[&str]) -> String {
    let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    let mut yaml = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: {job}\n    \
         static_configs:\n      - targets: [{}]\nremote_write:\n  - url: '{write_url}'\n",
        list.join(", ")
    );
    for line in write_lines {
        yaml.push_str(&format!("    {line}\n"));
    }
    yaml
}

/// A target with `series` gauges `<metric>{i="<k>"}` whose value is the scrape count.
pub async fn gauge_target(metric: &'static str, series: usize) -> TargetServer {
    let t = TargetServer::start().await;
    t.set_fn("/metrics", move |n| {
        let body: String = (0..series)
            .map(|i| format!("{metric}{{i=\"{i}\"}} {n}\n"))
            .collect();
        Reply::text(body)
    });
    t
}

/// The recording remote-write receiver on a free loopback port.
pub async fn receiver() -> Receiver {
    Receiver::start(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

/// Timestamps per series, in arrival order.
pub fn per_series(r: &Receiver) -> HashMap<BTreeMap<String, String>, Vec<i64>> {
    let mut out: HashMap<_, Vec<i64>> = HashMap::new();
    for s in r.samples() {
        out.entry(s.labels).or_default().push(s.timestamp);
    }
    out
}
