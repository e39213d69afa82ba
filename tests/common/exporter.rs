//! Real exporters from Debian's packages as child processes.

use std::time::Duration;

use super::{Daemon, free_port, http_client, wait_for_async};

/// How long an exporter may take to answer.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Spawns an exporter listening on a free port; waits until `probe_path` answers. A
/// `blackbox` exporter gets `<dir>/blackbox.yml` with an `http_2xx` module.
pub async fn start_exporter(
    bin: &std::path::Path,
    name: &str,
    mut args: Vec<String>,
    probe_path: &str,
) -> (Daemon, String) {
    let dir = tempfile::Builder::new().prefix(name).tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    args.push(format!("--web.listen-address={addr}"));
    let args = args
        .into_iter()
        .map(|a| a.replace("{dir}", &dir.path().display().to_string()))
        .collect::<Vec<_>>();
    // The blackbox config has to exist before the process starts.
    if name == "blackbox" {
        std::fs::write(
            dir.path().join("blackbox.yml"),
            "modules:\n  http_2xx:\n    prober: http\n    timeout: 2s\n",
        )
        .unwrap();
    }
    let mut daemon = Daemon::spawn(name, bin, &args, dir);
    let client = http_client();
    let url = format!("http://{addr}{probe_path}");
    let ready = wait_for_async(TIMEOUT, || {
        let req = client.get(&url).send();
        async move { req.await.is_ok_and(|r| r.status().is_success()) }
    })
    .await;
    assert!(
        ready,
        "{name} not answering on {url}: exit {:?}\n{}",
        daemon.try_exit(),
        daemon.log()
    );
    (daemon, addr)
}

/// Starts Debian's blackbox exporter (`None` when it is not installed outside CI);
/// returns it and its `ip:port`.
pub async fn start_blackbox() -> Option<(Daemon, String)> {
    let bin = super::require_binary(
        "prometheus-blackbox-exporter",
        "prometheus-blackbox-exporter",
    )?;
    let args = vec!["--config.file={dir}/blackbox.yml".to_string()];
    Some(start_exporter(&bin, "blackbox", args, "/-/healthy").await)
}

/// The YAML of a scrape job (a `scrape_configs` item, indented for it) that probes each of
/// `urls` with module `http_2xx` through the blackbox exporter at `exporter`, with the
/// classic relabeling: `__param_target` from the URL, `instance` = the URL.
pub fn blackbox_job(job: &str, urls: &[String], exporter: &str) -> String {
    let targets: Vec<String> = urls.iter().map(|u| format!("'{u}'")).collect();
    format!(
        r#"  - job_name: {job}
    metrics_path: /probe
    params:
      module: [http_2xx]
    static_configs:
      - targets: [{}]
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: '{exporter}'
"#,
        targets.join(", ")
    )
}
