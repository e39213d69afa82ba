//! Provider and manager tests against real files and a local HTTP server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::sync::mpsc;

use super::*;
use crate::config::{Config, FileSdConfig, HttpSdConfig, PromDuration, ScrapeConfig, StaticConfig};
use crate::http_client::test_server::serve;

const DEADLINE: Duration = Duration::from_secs(10);

fn metrics() -> DiscoveryMetrics {
    DiscoveryMetrics::new(&mut prometheus_client::registry::Registry::default())
}

/// Runs a provider; returns its update channel and the handle that stops it.
fn run(p: impl Provider) -> (mpsc::Receiver<SharedGroups>, CancelHandle) {
    let (tx, rx) = mpsc::channel(16);
    let (handle, cancel) = cancel_pair();
    tokio::spawn(Box::new(p).run(tx, cancel));
    (rx, handle)
}

/// The next update satisfying `pred`, failing after the deadline.
async fn next_where(
    rx: &mut mpsc::Receiver<SharedGroups>,
    pred: impl Fn(&[Arc<TargetGroup>]) -> bool,
) -> SharedGroups {
    tokio::time::timeout(DEADLINE, async {
        loop {
            let g = rx.recv().await.expect("provider stopped");
            if pred(&g) {
                return g;
            }
        }
    })
    .await
    .expect("no matching update before the deadline")
}

/// Polls `cond` until true; fails the test after [`DEADLINE`].
async fn eventually(what: &str, cond: impl FnMut() -> bool) {
    crate::test_support::wait_for(what, DEADLINE, cond).await;
}

fn addresses(groups: &[Arc<TargetGroup>]) -> Vec<String> {
    groups
        .iter()
        .flat_map(|g| {
            g.targets
                .iter()
                .map(|t| t.get(ADDRESS_LABEL).unwrap().to_string())
        })
        .collect()
}

fn write(dir: &std::path::Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    // Write then rename, so the provider never sees a half-written file.
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path.to_str().unwrap().to_string()
}

fn file_provider(files: Vec<String>, m: &DiscoveryMetrics) -> FileProvider {
    let cfg = FileSdConfig {
        files,
        refresh_interval: None,
    };
    FileProvider::new(&cfg, Duration::from_millis(20), m.clone()).unwrap()
}

#[tokio::test]
async fn static_provider_sources_and_labels() {
    let cfgs = [
        StaticConfig {
            targets: vec!["a:1".into(), "b:2".into()],
            labels: BTreeMap::from([("env".into(), "prod".into())]),
        },
        StaticConfig {
            targets: vec!["c:3".into()],
            labels: BTreeMap::new(),
        },
    ];
    let (mut rx, _h) = run(StaticProvider::new(&cfgs));
    let groups = next_where(&mut rx, |_| true).await;
    assert_eq!(groups.len(), 2);
    assert_eq!(groups[0].source, "0");
    assert_eq!(groups[1].source, "1");
    assert_eq!(groups[0].labels.get("env").unwrap(), "prod");
    assert_eq!(addresses(&groups), ["a:1", "b:2", "c:3"]);
}

#[tokio::test]
async fn file_sd_yaml_and_json_with_filepath_label() {
    let dir = tempfile::tempdir().unwrap();
    let y = write(
        dir.path(),
        "a.yml",
        "- targets: ['y:1']\n  labels: {team: a}\n",
    );
    let j = write(dir.path(), "b.json", r#"[{"targets": ["j:1", "j:2"]}]"#);
    let m = metrics();
    let (mut rx, _h) = run(file_provider(vec![y.clone(), j.clone()], &m));
    let groups = next_where(&mut rx, |_| true).await;
    assert_eq!(addresses(&groups), ["y:1", "j:1", "j:2"]);
    assert_eq!(groups[0].source, format!("{y}:0"));
    assert_eq!(groups[0].labels.get("__meta_filepath").unwrap(), y);
    assert_eq!(groups[0].labels.get("team").unwrap(), "a");
    assert_eq!(groups[1].labels.get("__meta_filepath").unwrap(), j);
    assert_eq!(m.file_read_errors(), 0);
}

#[tokio::test]
async fn file_sd_edit_delete_and_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.yml", "- targets: ['a:1']\n");
    let b = write(dir.path(), "b.yml", "- targets: ['b:1']\n");
    let m = metrics();
    let (mut rx, _h) = run(file_provider(vec![a.clone(), b.clone()], &m));
    next_where(&mut rx, |g| addresses(g) == ["a:1", "b:1"]).await;

    // Edited: the update appears without waiting for refresh_interval (5m).
    write(dir.path(), "a.yml", "- targets: ['a:1', 'a:2']\n");
    next_where(&mut rx, |g| addresses(g) == ["a:1", "a:2", "b:1"]).await;

    // Invalid: the previous groups of that file stay, and the error is counted.
    write(dir.path(), "a.yml", "- targets: ['a:3'\n");
    eventually("a read error", || m.file_read_errors() >= 1).await;
    // Deleted: its groups go; a's previous groups are still there.
    std::fs::remove_file(&b).unwrap();
    let g = next_where(&mut rx, |g| addresses(g) == ["a:1", "a:2"]).await;
    assert!(
        g.iter()
            .all(|g| g.labels.get("__meta_filepath").unwrap() == a)
    );

    // Fixed again.
    write(dir.path(), "a.yml", "- targets: ['a:3']\n");
    next_where(&mut rx, |g| addresses(g) == ["a:3"]).await;
}

#[tokio::test]
async fn file_sd_globs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "b.yml", "- targets: ['b:1']\n");
    write(d, "a.yml", "- targets: ['a:1']\n");
    write(d, "c.json", r#"[{"targets": ["c:1"]}]"#);
    write(d, "ignored.txt", "- targets: ['x:1']\n");
    let pattern = |p: &str| format!("{}/{p}", d.to_str().unwrap());
    let m = metrics();
    let (mut rx, _h) = run(file_provider(vec![pattern("*.yml"), pattern("*.json")], &m));
    // Sorted within a pattern, patterns in order.
    next_where(&mut rx, |g| addresses(g) == ["a:1", "b:1", "c:1"]).await;
    // A new file matching the glob is picked up.
    write(d, "0.yml", "- targets: ['z:1']\n");
    next_where(&mut rx, |g| addresses(g) == ["z:1", "a:1", "b:1", "c:1"]).await;
}

#[test]
fn file_sd_refuses_bad_patterns() {
    for files in [vec![], vec!["a.txt".into()], vec!["x/*/a.yml".into()]] {
        let cfg = FileSdConfig {
            files: files.clone(),
            refresh_interval: None,
        };
        assert!(
            FileProvider::new(&cfg, Duration::from_secs(1), metrics()).is_err(),
            "{files:?}"
        );
    }
}

/// What the test SD server answers: status, content type, body.
type Reply = Arc<Mutex<(StatusCode, &'static str, String)>>;

async fn sd_handler(State(reply): State<Reply>) -> impl IntoResponse {
    let (status, ct, body) = reply.lock().unwrap().clone();
    (status, [(header::CONTENT_TYPE, ct)], body)
}

fn set(reply: &Reply, status: StatusCode, ct: &'static str, body: &str) {
    *reply.lock().unwrap() = (status, ct, body.to_string());
}

fn http_sd_cfg(url: String, refresh: Duration) -> HttpSdConfig {
    HttpSdConfig {
        url,
        refresh_interval: Some(PromDuration(refresh)),
        http: Default::default(),
    }
}

#[tokio::test]
async fn http_sd_success_failures_keep_last_groups() {
    let reply: Reply = Arc::new(Mutex::new((
        StatusCode::OK,
        "application/json",
        r#"[{"targets": ["h:1"], "labels": {"dc": "x"}}, {"targets": ["h:2"]}]"#.into(),
    )));
    let srv = serve(
        Router::new()
            .route("/sd", get(sd_handler))
            .with_state(reply.clone()),
    )
    .await;
    let url = srv.url("/sd");
    let m = metrics();
    let p = HttpProvider::new(
        &http_sd_cfg(url.clone(), Duration::from_millis(30)),
        m.clone(),
    )
    .unwrap();
    let (mut rx, _h) = run(p);
    let g = next_where(&mut rx, |_| true).await;
    assert_eq!(addresses(&g), ["h:1", "h:2"]);
    assert_eq!(g[0].source, format!("{url}:0"));
    assert_eq!(g[1].source, format!("{url}:1"));
    assert_eq!(g[0].labels.get("__meta_url").unwrap(), url);
    assert_eq!(g[0].labels.get("dc").unwrap(), "x");

    let cases = [
        (
            "status 500",
            StatusCode::INTERNAL_SERVER_ERROR,
            "application/json",
            "[]",
        ),
        ("invalid json", StatusCode::OK, "application/json", "[{"),
        ("wrong content type", StatusCode::OK, "text/plain", "[]"),
    ];
    for (name, status, ct, body) in cases {
        let before = m.refresh_failures("http");
        set(&reply, status, ct, body);
        eventually(name, || m.refresh_failures("http") >= before + 2).await;
        assert!(
            rx.try_recv().is_err(),
            "case {name}: no update may be sent on failure"
        );
    }

    set(
        &reply,
        StatusCode::OK,
        "application/json; charset=utf-8",
        r#"[{"targets": ["h:3"]}]"#,
    );
    next_where(&mut rx, |g| addresses(g) == ["h:3"]).await;
}

/// A password in the SD URL is sent (as basic auth) but never shown: `__meta_url`, the
/// group source and errors carry the redacted URL.
#[tokio::test]
async fn http_sd_url_password_is_redacted() {
    let reply: Reply = Arc::new(Mutex::new((
        StatusCode::OK,
        "application/json",
        r#"[{"targets": ["h:1"]}]"#.into(),
    )));
    let srv = serve(
        Router::new()
            .route("/sd", get(sd_handler))
            .with_state(reply.clone()),
    )
    .await;
    let url = srv.url("/sd").replace("http://", "http://user:hunter2@");
    let p = HttpProvider::new(&http_sd_cfg(url, Duration::from_millis(30)), metrics()).unwrap();
    let (mut rx, _h) = run(p);
    let g = next_where(&mut rx, |_| true).await;
    let shown = srv.url("/sd").replace("http://", "http://user:xxxxx@");
    assert_eq!(g[0].labels.get("__meta_url").unwrap(), shown);
    assert!(!format!("{g:?}").contains("hunter2"), "{g:?}");

    let bad = http_sd_cfg("ftp://user:hunter2@x/sd".into(), Duration::from_secs(1));
    let err = HttpProvider::new(&bad, metrics()).unwrap_err().to_string();
    assert!(!err.contains("hunter2"), "{err}");
}

/// A response over the limit is refused without reading it all.
#[tokio::test]
async fn http_sd_body_is_bounded() {
    let reply: Reply = Arc::new(Mutex::new((
        StatusCode::OK,
        "application/json",
        "x".repeat(4096),
    )));
    let srv = serve(
        Router::new()
            .route("/sd", get(sd_handler))
            .with_state(reply.clone()),
    )
    .await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let get = || client.get(srv.url("/sd")).send();
    let err = http_sd::read_limited(get().await.unwrap(), 1024).await;
    assert!(
        matches!(err, Err(http_sd::HttpSdError::TooLarge { limit: 1024 })),
        "{err:?}"
    );
    let ok = http_sd::read_limited(get().await.unwrap(), 4096)
        .await
        .unwrap();
    assert_eq!(ok.len(), 4096);
}

#[test]
fn http_sd_refuses_bad_urls() {
    for url in ["ftp://x/sd", "not a url", "/sd", "http://"] {
        let cfg = http_sd_cfg(url.into(), Duration::from_secs(1));
        assert!(HttpProvider::new(&cfg, metrics()).is_err(), "{url}");
    }
}

fn job(name: &str) -> ScrapeConfig {
    ScrapeConfig {
        job_name: name.into(),
        ..Default::default()
    }
}

fn static_job(name: &str, targets: &[&str]) -> ScrapeConfig {
    ScrapeConfig {
        static_configs: vec![StaticConfig {
            targets: targets.iter().map(|s| s.to_string()).collect(),
            labels: BTreeMap::new(),
        }],
        ..job(name)
    }
}

fn fast() -> ManagerOptions {
    ManagerOptions {
        first_sync_wait: Duration::from_millis(200),
        update_interval: Duration::from_millis(50),
        file_poll_interval: Duration::from_millis(20),
    }
}

type Published = tokio::sync::watch::Receiver<Arc<TargetsByJob>>;

async fn published_where(
    rx: &mut Published,
    pred: impl Fn(&TargetsByJob) -> bool,
) -> Arc<TargetsByJob> {
    tokio::time::timeout(DEADLINE, rx.wait_for(|t| pred(t)))
        .await
        .expect("no matching publish before the deadline")
        .expect("manager gone")
        .clone()
}

fn job_addresses(t: &TargetsByJob, job: &str) -> Vec<String> {
    t.get(job).map(|g| addresses(g)).unwrap_or_default()
}

#[tokio::test]
async fn manager_publishes_static_groups_per_job() {
    let m = metrics();
    let mgr = Manager::new(fast(), m.clone());
    let mut rx = mgr.subscribe();
    let cfg = Config {
        scrape_configs: vec![
            static_job("a", &["a:1", "a:2"]).into(),
            static_job("b", &["b:1"]).into(),
            job("empty").into(),
        ],
        ..Default::default()
    };
    mgr.apply_config(&cfg).unwrap();
    let t = published_where(&mut rx, |t| t.len() == 3).await;
    assert_eq!(job_addresses(&t, "a"), ["a:1", "a:2"]);
    assert_eq!(job_addresses(&t, "b"), ["b:1"]);
    assert!(t.get("empty").unwrap().is_empty());
    let gauge = m
        .targets
        .get_or_create(&vec![("job", "a".to_string())])
        .get();
    assert_eq!(gauge, 2);
}

#[tokio::test]
async fn manager_reload_keeps_unchanged_providers_and_swaps_changed_ones() {
    let hits = Arc::new(Mutex::new(0u32));
    let counter = hits.clone();
    let srv = serve(Router::new().route(
        "/sd",
        get(move || {
            *counter.lock().unwrap() += 1;
            async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"[{"targets": ["h:1"]}]"#,
                )
            }
        }),
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "t.yml", "- targets: ['f:1']\n");

    let http_job = ScrapeConfig {
        // Long interval: a kept provider does not fetch again, a restarted one does at once.
        http_sd_configs: vec![http_sd_cfg(srv.url("/sd"), Duration::from_secs(3600))],
        ..job("http")
    };
    let file_job = ScrapeConfig {
        file_sd_configs: vec![FileSdConfig {
            files: vec![f.clone()],
            refresh_interval: None,
        }],
        ..job("file")
    };
    let mgr = Manager::new(fast(), metrics());
    let mut rx = mgr.subscribe();
    let cfg1 = Config {
        scrape_configs: vec![
            http_job.clone().into(),
            file_job.clone().into(),
            static_job("old", &["o:1"]).into(),
        ],
        ..Default::default()
    };
    mgr.apply_config(&cfg1).unwrap();
    published_where(&mut rx, |t| {
        job_addresses(t, "http") == ["h:1"]
            && job_addresses(t, "file") == ["f:1"]
            && t.contains_key("old")
    })
    .await;
    assert_eq!(*hits.lock().unwrap(), 1);
    let ids1 = mgr.provider_ids();

    // Reload: http and file unchanged, "old" removed, "new" added, and the same config
    // applied twice changes nothing.
    let cfg2 = Config {
        scrape_configs: vec![
            http_job.clone().into(),
            file_job.clone().into(),
            static_job("new", &["n:1"]).into(),
        ],
        ..Default::default()
    };
    mgr.apply_config(&cfg2).unwrap();
    mgr.apply_config(&cfg2).unwrap();
    let t = published_where(&mut rx, |t| t.contains_key("new") && t.get("old").is_none()).await;
    assert_eq!(job_addresses(&t, "http"), ["h:1"]);
    assert_eq!(job_addresses(&t, "file"), ["f:1"]);
    let ids2 = mgr.provider_ids();
    for kept in ["http", "file"] {
        let id = |ids: &[(String, u64)]| ids.iter().find(|(j, _)| j == kept).map(|(_, i)| *i);
        assert_eq!(id(&ids1), id(&ids2), "{kept} provider was restarted");
    }
    assert_eq!(*hits.lock().unwrap(), 1, "kept http provider fetched again");

    // Changing the http_sd config restarts that provider: it fetches at once.
    let mut changed = http_job.clone();
    changed.http_sd_configs[0].refresh_interval = Some(PromDuration(Duration::from_secs(1800)));
    let cfg3 = Config {
        scrape_configs: vec![changed.into(), file_job.into()],
        ..Default::default()
    };
    mgr.apply_config(&cfg3).unwrap();
    eventually("a fetch by the new provider", || *hits.lock().unwrap() == 2).await;
    let t = published_where(&mut rx, |t| t.get("new").is_none()).await;
    assert_eq!(job_addresses(&t, "http"), ["h:1"]);
    let ids3 = mgr.provider_ids();
    assert_eq!(ids3.len(), 2);
    assert!(!ids2.contains(ids3.iter().find(|(j, _)| j == "http").unwrap()));
}

#[tokio::test]
async fn manager_reports_providers_it_cannot_start() {
    let m = metrics();
    let mgr = Manager::new(fast(), m.clone());
    let mut rx = mgr.subscribe();
    let bad = ScrapeConfig {
        file_sd_configs: vec![FileSdConfig {
            files: vec!["targets.txt".into()],
            refresh_interval: None,
        }],
        ..static_job("mixed", &["s:1"])
    };
    let cfg = Config {
        scrape_configs: vec![bad.into()],
        ..Default::default()
    };
    let err = mgr.apply_config(&cfg).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.to_string().contains("targets.txt"), "{err}");
    assert_eq!(m.failed_configs.get(), 1);
    // The rest of the job still works.
    published_where(&mut rx, |t| job_addresses(t, "mixed") == ["s:1"]).await;
}

#[tokio::test]
async fn manager_keeps_other_providers_groups_when_one_of_a_job_changes() {
    // Groups are moved into the published map, not kept twice: a job's unchanged provider
    // must still be there, in config order, after its sibling reports a change.
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "t.yml", "- targets: ['f:1']\n");
    let mixed = ScrapeConfig {
        file_sd_configs: vec![FileSdConfig {
            files: vec![f.clone()],
            refresh_interval: None,
        }],
        ..static_job("mixed", &["s:1"])
    };
    let mgr = Manager::new(fast(), metrics());
    let mut rx = mgr.subscribe();
    let cfg = Config {
        scrape_configs: vec![mixed.into(), static_job("other", &["o:1"]).into()],
        ..Default::default()
    };
    mgr.apply_config(&cfg).unwrap();
    published_where(&mut rx, |t| job_addresses(t, "mixed") == ["s:1", "f:1"]).await;
    for round in 2..5 {
        write(dir.path(), "t.yml", &format!("- targets: ['f:{round}']\n"));
        let want = ["s:1".to_string(), format!("f:{round}")];
        let t = published_where(&mut rx, |t| job_addresses(t, "mixed") == want).await;
        assert_eq!(job_addresses(&t, "other"), ["o:1"]);
    }
}

/// Jobs with an equal discovery config share one provider, as in Prometheus: one fetch,
/// and every job publishes the very same groups (thousands of jobs generated from
/// ServiceMonitors of one namespace hold one copy of its targets).
#[tokio::test]
async fn equal_configs_of_different_jobs_share_one_provider() {
    let hits = Arc::new(Mutex::new(0));
    let counter = hits.clone();
    let srv = serve(Router::new().route(
        "/sd",
        get(move || {
            *counter.lock().unwrap() += 1;
            async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    r#"[{"targets": ["h:1", "h:2"]}]"#,
                )
            }
        }),
    ))
    .await;
    let sd = http_sd_cfg(srv.url("/sd"), Duration::from_secs(3600));
    let jobs: Vec<ScrapeConfig> = (0..3)
        .map(|i| ScrapeConfig {
            http_sd_configs: vec![sd.clone()],
            ..job(&format!("job-{i}"))
        })
        .collect();
    let mgr = Manager::new(fast(), metrics());
    let mut rx = mgr.subscribe();
    let cfg = Config {
        scrape_configs: jobs.into_iter().map(Arc::new).collect(),
        ..Default::default()
    };
    mgr.apply_config(&cfg).unwrap();
    let t = published_where(&mut rx, |t| {
        (0..3).all(|i| job_addresses(t, &format!("job-{i}")) == ["h:1", "h:2"])
    })
    .await;
    assert_eq!(*hits.lock().unwrap(), 1, "one provider, one fetch");
    let first = t.get("job-0").unwrap();
    for i in 1..3 {
        assert!(Arc::ptr_eq(first, t.get(&format!("job-{i}")).unwrap()));
    }
    let ids = mgr.provider_ids();
    assert_eq!(ids.len(), 3);
    assert!(ids.iter().all(|(_, id)| *id == ids[0].1), "{ids:?}");
}
