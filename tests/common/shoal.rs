//! The shoal binary under test, as a real process.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use serde_json::Value;

use super::{Daemon, free_port, http_client};

/// How long shoal may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default bound for a graceful exit (flush timeout plus slack).
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// Start attempts, in case another process took the free port first.
const START_ATTEMPTS: usize = 3;

/// Path of the binary cargo built for these tests.
pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_shoal"))
}

/// A running shoal agent with its config file, WAL dir and web address.
pub struct Shoal {
    daemon: Daemon,
    /// `127.0.0.1:PORT` of the HTTP API.
    pub addr: String,
    config_path: PathBuf,
    client: reqwest::Client,
}

impl Shoal {
    /// Starts shoal with `config_yaml` and waits until `/-/ready` answers 200.
    pub async fn start(config_yaml: &str) -> Shoal {
        Shoal::start_with_args(config_yaml, &[]).await
    }

    /// Like [`Shoal::start`], with extra flags (e.g. `--log.level=debug`).
    pub async fn start_with_args(config_yaml: &str, extra: &[&str]) -> Shoal {
        for attempt in 1..=START_ATTEMPTS {
            let mut shoal = Shoal::spawn(config_yaml, extra);
            if shoal.wait_ready(READY_TIMEOUT).await {
                return shoal;
            }
            let log = shoal.log();
            let exited = shoal.daemon.try_exit();
            let port_taken = log.contains("in use") || log.contains("AddrInUse");
            if exited.is_some() && port_taken && attempt < START_ATTEMPTS {
                continue;
            }
            panic!("shoal did not become ready (exit: {exited:?}); log:\n{log}");
        }
        unreachable!("the loop returns or panics")
    }

    /// Spawns shoal without waiting for readiness.
    pub fn spawn(config_yaml: &str, extra: &[&str]) -> Shoal {
        let dir = tempfile::Builder::new()
            .prefix("shoal-test")
            .tempdir()
            .expect("temp dir");
        let config_path = dir.path().join("shoal.yml");
        std::fs::write(&config_path, config_yaml).expect("write config");
        let storage = dir.path().join("data");
        let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
        let mut args = vec![
            format!("--config.file={}", config_path.display()),
            format!("--web.listen-address={addr}"),
        ];
        // SHOAL_TEST_REFERENCE=prometheus runs Prometheus in agent mode instead of shoal,
        // to check the tests themselves against the reference sender.
        let program = if std::env::var("SHOAL_TEST_REFERENCE").as_deref() == Ok("prometheus") {
            args.push("--enable-feature=agent".into());
            args.push(format!("--storage.agent.path={}", storage.display()));
            PathBuf::from("prometheus")
        } else {
            // A caller that restarts a peer on the same WAL passes its own storage path.
            if !extra.iter().any(|a| a.starts_with("--storage.path=")) {
                args.push(format!("--storage.path={}", storage.display()));
            }
            if let Ok(level) = std::env::var("SHOAL_TEST_LOG_LEVEL") {
                args.push(format!("--log.level={level}"));
            }
            args.extend(extra.iter().map(|s| s.to_string()));
            binary()
        };
        let daemon = Daemon::spawn("shoal", &program, &args, dir);
        Shoal {
            daemon,
            addr,
            config_path,
            client: http_client(),
        }
    }

    /// Polls `/-/ready` until 200; false on timeout or if the process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) -> bool {
        let url = self.url("/-/ready");
        let client = self.client.clone();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.daemon.try_exit().is_some() {
                return false;
            }
            if let Ok(resp) = client.get(&url).send().await
                && resp.status().as_u16() == 200
            {
                return true;
            }
            if std::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The config file shoal reads (rewrite it, then reload).
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Replaces the config file's contents (does not reload).
    pub fn write_config(&self, yaml: &str) {
        std::fs::write(&self.config_path, yaml).expect("write config");
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Everything shoal logged so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// The last lines of the log, for assertion messages.
    pub fn log_tail(&self) -> String {
        self.daemon.log_tail(60)
    }

    /// Sends SIGINT.
    pub fn sigint(&self) {
        self.daemon.signal("INT");
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.daemon.signal("TERM");
    }

    /// Sends SIGKILL (a crash: nothing is flushed, nothing handed over).
    pub fn sigkill(&self) {
        self.daemon.signal("KILL");
    }

    /// Sends SIGHUP (reload).
    pub fn sighup(&self) {
        self.daemon.signal("HUP");
    }

    /// Waits for the process to exit (panics with the log after `timeout`).
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        self.daemon.wait_exit(timeout).await
    }

    /// SIGINT, then waits for exit and asserts it was 0, like the compliance suite does.
    pub async fn stop(&mut self) {
        self.sigint();
        let status = self.wait_exit(EXIT_TIMEOUT).await;
        assert!(
            status.success(),
            "shoal exited with {status} after SIGINT; log tail:\n{}",
            self.log_tail()
        );
    }

    /// The exit status if shoal has ended.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.daemon.try_exit()
    }

    /// GET `path`; (status, body). Panics if the request cannot be sent.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self
            .client
            .get(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}; log tail:\n{}", self.log_tail()));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// POST `path` with an empty body; (status, body).
    pub async fn post(&self, path: &str) -> (u16, String) {
        let resp = self
            .client
            .post(self.url(path))
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}; log tail:\n{}", self.log_tail()));
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    /// `data.activeTargets` of `/api/v1/targets` (empty if the call fails).
    pub async fn active_targets(&self) -> Vec<Value> {
        let (status, body) = self.get("/api/v1/targets").await;
        if status != 200 {
            return Vec::new();
        }
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        v["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The active target of `pool` (job) whose scrape URL contains `url_part`.
    pub async fn target(&self, pool: &str, url_part: &str) -> Option<Value> {
        self.active_targets().await.into_iter().find(|t| {
            t["scrapePool"].as_str() == Some(pool)
                && t["scrapeUrl"]
                    .as_str()
                    .is_some_and(|u| u.contains(url_part))
        })
    }

    /// Waits until the target of `pool` matching `url_part` satisfies `pred`; returns it,
    /// or panics with what was seen and the log.
    pub async fn wait_target(
        &self,
        pool: &str,
        url_part: &str,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let seen = self.target(pool, url_part).await;
            if let Some(t) = seen.as_ref().filter(|t| pred(t)) {
                return t.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "target {pool}/{url_part}: {what} not seen within {timeout:?}; last seen: {}\nlog tail:\n{}",
                seen.map(|v| v.to_string()).unwrap_or_else(|| "none".into()),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Runs `shoal check config FILE`: (exit status, stdout + stderr).
pub fn check_config(path: &Path) -> (ExitStatus, String) {
    let out = std::process::Command::new(binary())
        .args(["check", "config"])
        .arg(path)
        .output()
        .expect("run shoal check config");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status, text)
}
