//! Real exporters from Debian as targets: node_exporter (a large, real exposition) and
//! blackbox_exporter (probes with the classic `__param_target` relabeling, one target per
//! probed URL). Skipped outside CI when the packages are not installed.

mod common;

use std::time::Duration;

use common::exporter::{blackbox_job, start_blackbox, start_exporter};
use common::samples::{dump, matching};
use common::{Receiver, Reply, Shoal, TargetServer, free_port, require_binary, wait_for};

const TIMEOUT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_exporter_is_scraped_completely() {
    let Some(bin) = require_binary("prometheus-node-exporter", "prometheus-node-exporter") else {
        return;
    };
    let (_node, addr) = start_exporter(&bin, "node-exporter", Vec::new(), "/metrics").await;
    let receiver = Receiver::start().await;
    let config = format!(
        "global:\n  scrape_interval: 2s\nscrape_configs:\n  - job_name: node\n    static_configs:\n      - targets: ['{addr}']\nremote_write:\n  - url: '{}'\n    queue_config: {{batch_send_deadline: 500ms}}\n",
        receiver.url()
    );
    let mut shoal = Shoal::start(&config).await;
    let t = shoal
        .wait_target("node", &addr, TIMEOUT, "health up", |t| t["health"] == "up")
        .await;
    assert_eq!(t["lastError"], "", "{t}");

    let arrived = wait_for(TIMEOUT, || {
        let s = receiver.samples();
        !matching(
            &s,
            &[("__name__", "scrape_samples_scraped"), ("job", "node")],
        )
        .is_empty()
            && !matching(&s, &[("__name__", "node_cpu_seconds_total")]).is_empty()
    })
    .await;
    let samples = receiver.samples();
    assert!(
        arrived,
        "node_exporter samples missing:\n{}",
        dump(&samples, 30)
    );
    shoal.stop().await;

    // What shoal counted as scraped is what it wrote for that scrape.
    let scraped = matching(
        &samples,
        &[("__name__", "scrape_samples_scraped"), ("job", "node")],
    );
    let first = scraped[0];
    let written = samples
        .iter()
        .filter(|s| s.timestamp == first.timestamp && s.get("job") == Some("node"))
        .filter(|s| !s.name().starts_with("scrape_") && s.name() != "up")
        .count();
    assert!(
        first.value > 100.0,
        "node_exporter exposes hundreds of samples: {first}"
    );
    assert_eq!(
        written as f64, first.value,
        "samples written for one scrape vs scrape_samples_scraped"
    );
    for s in matching(&samples, &[("job", "node")]) {
        assert_eq!(s.get("instance"), Some(addr.as_str()), "{s}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackbox_probes_are_one_target_per_url() {
    let Some((_bb, bb_addr)) = start_blackbox().await else {
        return;
    };
    let site = TargetServer::start().await;
    site.set("/", Reply::text("hello\n"));
    let up_url = site.url("/");
    let down_url = format!("http://127.0.0.1:{}/", free_port("127.0.0.1"));
    let receiver = Receiver::start().await;
    let config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
{}remote_write:
  - url: '{}'
    queue_config: {{batch_send_deadline: 500ms}}
"#,
        blackbox_job("blackbox", &[up_url.clone(), down_url.clone()], &bb_addr),
        receiver.url()
    );
    let mut shoal = Shoal::start(&config).await;

    let probed = wait_for(TIMEOUT, || {
        let s = receiver.samples();
        let ok = |i: &str, v: f64| {
            matching(&s, &[("__name__", "probe_success"), ("instance", i)])
                .iter()
                .any(|s| s.value == v)
        };
        ok(&up_url, 1.0) && ok(&down_url, 0.0)
    })
    .await;
    assert!(
        probed,
        "probe results missing:\n{}",
        dump(&receiver.samples(), 40)
    );
    assert!(site.hits("/") > 0, "the probed site was never requested");

    let targets = shoal.active_targets().await;
    let urls: Vec<&str> = targets
        .iter()
        .filter_map(|t| t["scrapeUrl"].as_str())
        .collect();
    assert_eq!(urls.len(), 2, "one target per probed URL: {urls:?}");
    for u in &urls {
        assert!(
            u.contains("/probe?") && u.contains("module=http_2xx") && u.contains("target="),
            "{u}"
        );
    }
    shoal.stop().await;
}
