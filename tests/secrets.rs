//! No secret of the config — passwords, tokens, credentials, passwords inside URLs —
//! may appear in what shoal shows: its log (at debug level, with failing scrapes, a
//! failing http_sd and failing remote writes), `/api/v1/status/config`,
//! `/api/v1/targets`, `/metrics` and the status page.

mod common;

use std::time::Duration;

use common::{Receiver, Reply, Shoal, TargetServer, free_port, wait_for};

const TIMEOUT: Duration = Duration::from_secs(20);

/// Every secret the config below carries; none may be shown.
const SECRETS: &[&str] = &[
    "PW-basic-scrape",
    "CRED-scrape",
    "BEARER-scrape",
    "PW-proxy",
    "PW-httpsd",
    "PW-rwurl",
    "PW-rw-basic",
    "CRED-rw",
    "PW-rw-rejected",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_never_shown() {
    let target = TargetServer::start().await;
    target.set("/metrics", Reply::text("g 1\n"));
    let good = Receiver::start().await;
    let rejecting = Receiver::start().await;
    rejecting.reject_next(1_000, 400);
    let closed = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let with_userinfo = |url: &str, user: &str, pw: &str| {
        url.replacen("http://", &format!("http://{user}:{pw}@"), 1)
    };
    let config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: basic
    basic_auth: {{username: u1, password: PW-basic-scrape}}
    params: {{module: [http]}}
    static_configs:
      - targets: ['{target}']
  - job_name: authz
    authorization: {{credentials: CRED-scrape}}
    static_configs:
      - targets: ['{closed}']
  - job_name: bearer
    bearer_token: BEARER-scrape
    proxy_url: 'http://proxyuser:PW-proxy@{closed}'
    static_configs:
      - targets: ['{target}']
  - job_name: sd
    http_sd_configs:
      - url: 'http://sduser:PW-httpsd@{closed}/sd'
        refresh_interval: 1s
remote_write:
  - url: '{good_url}'
    queue_config: {{batch_send_deadline: 200ms}}
  - url: '{rejecting_url}'
    basic_auth: {{username: u, password: PW-rw-basic}}
    queue_config: {{batch_send_deadline: 200ms}}
  - url: 'http://{closed}/api/v1/write'
    authorization: {{credentials: CRED-rw}}
    queue_config: {{batch_send_deadline: 200ms, min_backoff: 50ms, max_backoff: 100ms}}
"#,
        target = target.addr(),
        good_url = with_userinfo(&good.url(), "rwuser", "PW-rwurl"),
        rejecting_url = with_userinfo(&rejecting.url(), "rwuser", "PW-rw-rejected"),
    );
    let mut shoal = Shoal::start_with_args(
        &config,
        &["--log.level=debug", "--storage.remote.flush-deadline=2s"],
    )
    .await;

    // Wait until every failure path has logged at least once.
    let logged = wait_for(TIMEOUT, || {
        let log = shoal.log();
        [
            "http_sd refresh failed",
            "send failed",
            "receiver rejected batch",
            "scrape failed",
        ]
        .iter()
        .all(|m| log.contains(m))
    })
    .await;
    assert!(
        logged,
        "not every failure was logged:\n{}",
        shoal.log_tail()
    );
    assert!(
        wait_for(TIMEOUT, || !good.samples().is_empty()).await,
        "nothing arrived at the receiver with a password in its URL"
    );

    let mut shown = Vec::new();
    for path in ["/api/v1/status/config", "/api/v1/targets", "/metrics", "/"] {
        let (status, body) = shoal.get(path).await;
        assert_eq!(status, 200, "{path}");
        shown.push((path.to_string(), body));
    }
    shoal.stop().await;
    shown.push(("log".to_string(), shoal.log()));

    for (what, text) in &shown {
        for secret in SECRETS {
            assert!(
                !text.contains(secret),
                "{secret} shown in {what}:\n{}",
                text.lines()
                    .filter(|l| l.contains(secret))
                    .take(5)
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    // The URLs are still recognisable, with the password replaced as Prometheus does.
    let config_api = &shown[0].1;
    assert!(config_api.contains("rwuser:xxxxx@"), "{config_api}");
    assert!(config_api.contains("<secret>"), "{config_api}");
}

/// A config error next to a secret names the file and line, not the secret.
#[test]
fn check_config_errors_do_not_show_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: PW-check}\n    \
         static_configs: [{targets: ['h:1']}]\nremote_write:\n  - url: 'ftp://u:PW-url@recv/'\n",
    )
    .unwrap();
    let (status, out) = common::shoal::check_config(&path);
    assert!(!status.success(), "{out}");
    assert!(out.contains("bad.yml:6"), "{out}");
    assert!(
        !out.contains("PW-check") && !out.contains("PW-url"),
        "{out}"
    );
}
