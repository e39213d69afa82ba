//! The running agent: wires config, discovery, scraping, remote write and the web server,
//! and owns the lifecycle (reload on SIGHUP or `/-/reload`, graceful stop on SIGINT/SIGTERM).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context as _;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cli::AgentArgs;
use crate::config::{self, Config};
use crate::discovery;
use crate::remote_write::{RemoteWrite, RemoteWriteMetrics};
use crate::scrape::{self, StopMode};
use crate::series::SampleSink;
use crate::wal::{self, Wal, WalMetrics, WalOptions, WalSink};
use crate::web::{self, AgentView, ReloadRequest, WebState};

mod operator;
mod peering;
use operator::{OperatorJobs, OperatorMetrics, OperatorReport};
use peering::{PeerStatusSource, Peering};

/// How often this peer republishes what changes at run time (owned series, config hash).
const PUBLISH_INTERVAL: Duration = Duration::from_secs(5);

/// Config reload outcome metrics, named as Prometheus names its own.
#[derive(Clone)]
struct ReloadMetrics {
    last_successful: Gauge,
    last_success_time: Gauge,
    reloads: Family<[(&'static str, &'static str); 1], Counter>,
}

impl ReloadMetrics {
    fn new(reg: &mut Registry) -> Self {
        let m = ReloadMetrics {
            last_successful: Gauge::default(),
            last_success_time: Gauge::default(),
            reloads: Family::default(),
        };
        reg.register(
            "shoal_config_last_reload_successful",
            "Whether the last configuration reload attempt was successful",
            m.last_successful.clone(),
        );
        reg.register(
            "shoal_config_last_reload_success_timestamp_seconds",
            "Timestamp of the last successful configuration reload",
            m.last_success_time.clone(),
        );
        reg.register(
            "shoal_config_reloads",
            "Configuration reload attempts by result",
            m.reloads.clone(),
        );
        m
    }

    fn record(&self, ok: bool) {
        self.last_successful.set(i64::from(ok));
        if ok {
            self.last_success_time
                .set(crate::model::clock::unix_seconds());
        }
        let result = if ok { "success" } else { "failure" };
        self.reloads.get_or_create(&[("result", result)]).inc();
    }
}

/// What the web layer sees of the agent.
struct View {
    ready: RwLock<Result<(), String>>,
    /// The configuration in force as shown (file plus generated jobs, user names from
    /// Secrets hidden), and its hash for gossip, computed once per change.
    config: RwLock<(Arc<Config>, String)>,
    scrape: Arc<scrape::Manager>,
    peer: PeerStatusSource,
    operator: Arc<RwLock<OperatorReport>>,
}

impl AgentView for View {
    fn readiness(&self) -> Result<(), String> {
        self.ready
            .read()
            .map_or_else(|_| Err("internal error".into()), |r| r.clone())?;
        self.peer.joined()
    }

    fn cluster(&self) -> crate::cluster::ClusterStatus {
        self.peer.status()
    }

    fn targets(&self) -> serde_json::Value {
        serde_json::to_value(self.scrape.targets()).unwrap_or_default()
    }

    fn cluster_targets(&self) -> serde_json::Value {
        serde_json::to_value(self.scrape.cluster_targets()).unwrap_or_default()
    }

    fn operator(&self) -> serde_json::Value {
        let Ok(mut report) = self.operator.read().map(|r| r.clone()) else {
            return serde_json::Value::Null;
        };
        if let Ok(cfg) = self.config.read().map(|c| Arc::clone(&c.0)) {
            operator::add_port_warnings(&mut report.objects, &cfg, &self.scrape);
        }
        serde_json::to_value(&report).unwrap_or_default()
    }

    fn config_yaml(&self) -> String {
        let cfg = self.config.read().map(|c| c.0.clone());
        match cfg {
            Ok(c) => serde_yaml_ng::to_string(&*c).unwrap_or_else(|e| format!("# {e}\n")),
            Err(_) => String::new(),
        }
    }
}

/// Checks that the data directory exists (creating it) and is writable.
fn prepare_storage(path: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(path)
        .with_context(|| format!("cannot create storage directory {}", path.display()))?;
    let probe = path.join(".shoal-write-test");
    std::fs::write(&probe, b"ok")
        .with_context(|| format!("storage directory {} is not writable", path.display()))?;
    let _ = std::fs::remove_file(probe);
    Ok(())
}

/// Opens the WAL in `<storage.path>/wal` and logs what opening it repaired.
fn open_wal(args: &AgentArgs, metrics: WalMetrics) -> anyhow::Result<Wal> {
    let mut opts = WalOptions::new(&args.storage_path);
    opts.max_bytes = args.max_bytes;
    // Small bounds (tests, tiny volumes) get smaller segments: the bound needs several.
    opts.segment_size =
        (args.max_bytes / 8).clamp(wal::MIN_SEGMENT_SIZE, wal::DEFAULT_SEGMENT_SIZE);
    let (wal, report) = Wal::open(opts, metrics).context("cannot open the write-ahead log")?;
    if let Some(d) = &report.torn_tail {
        tracing::warn!(
            segment = d.at.segment,
            offset = d.at.offset,
            bytes_lost = d.bytes_lost,
            "wal ended in a torn record; cut at the last good record"
        );
    }
    for d in &report.corruptions {
        tracing::warn!(
            segment = d.at.segment,
            offset = d.at.offset,
            bytes_lost = d.bytes_lost,
            "wal segment damaged; readers skip its unreadable rest"
        );
    }
    tracing::info!(
        segments = report.segments,
        samples = report.samples,
        corruptions = report.corruptions.len(),
        torn_tail = report.torn_tail.is_some(),
        "wal replay checked"
    );
    Ok(wal)
}

/// Runs the agent until SIGINT or SIGTERM. Errors are start-up failures.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    // Handlers first: a signal that arrives while starting (or right after /-/ready turns
    // 200) is then a graceful stop, not the default action that kills the process.
    let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
    let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
    let config_path: PathBuf = args
        .config_file
        .clone()
        .context("--config.file is required")?;
    let cfg = Arc::new(config::load(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?);
    prepare_storage(&args.storage_path)?;
    // Before anything starts, so that a taken port fails fast and alone.
    let listener = web::bind(args.web_listen_address)
        .await
        .with_context(|| format!("cannot listen on {}", args.web_listen_address))?;
    crate::http_client::install_crypto_provider();

    let mut registry = Registry::default();
    let reload_metrics = ReloadMetrics::new(&mut registry);
    let rw_metrics = RemoteWriteMetrics::new(&mut registry);
    let scrape_metrics = scrape::ScrapeMetrics::new(&mut registry);
    let sd_metrics = discovery::DiscoveryMetrics::new(&mut registry);
    let wal_metrics = WalMetrics::new(&mut registry);
    let mut op = OperatorJobs::new(OperatorMetrics::new(&mut registry), sd_metrics.clone());
    let peering = Peering::start(&args, &cfg, &mut registry).await?;

    let wal = match args.wal() {
        true => Some(Arc::new(open_wal(&args, wal_metrics.clone())?)),
        false => None,
    };
    let (remote, sink): (Arc<RemoteWrite>, Arc<dyn SampleSink>) = match &wal {
        Some(wal) => {
            let remote = RemoteWrite::with_wal(
                &cfg.remote_write,
                &cfg.global.external_labels,
                rw_metrics,
                wal.clone(),
            )
            .context("remote_write")?;
            let sink = Arc::new(WalSink::new(wal.clone(), wal_metrics));
            (Arc::new(remote), sink)
        }
        None => {
            let remote = Arc::new(
                RemoteWrite::new(&cfg.remote_write, &cfg.global.external_labels, rw_metrics)
                    .context("remote_write")?,
            );
            (remote.clone(), remote)
        }
    };
    let scrapes = Arc::new(scrape::Manager::new(sink, scrape_metrics, peering.owner()));
    scrapes
        .apply_config(&cfg)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let discovery = discovery::Manager::new(discovery::ManagerOptions::default(), sd_metrics);
    op.configure(&cfg);
    let mut file_cfg = cfg.clone();
    if let Err(e) = discovery.apply_config(&cfg) {
        // Other providers keep running; the failing ones are logged and counted.
        tracing::error!(error = %e, "some service discovery configs could not start");
    }

    let view = Arc::new(View {
        ready: RwLock::new(Err("starting".into())),
        config: RwLock::new((cfg.clone(), peering::config_hash(&cfg))),
        scrape: scrapes.clone(),
        peer: peering.status_source(scrapes.clone()),
        operator: op.report.clone(),
    });
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let (stop_web_tx, stop_web_rx) = tokio::sync::oneshot::channel::<()>();
    let web_state = WebState {
        view: view.clone(),
        registry: Arc::new(registry),
        reload: reload_tx,
    };
    let web_task = tokio::spawn(web::serve(listener, web_state, async {
        let _ = stop_web_rx.await;
    }));

    // Discovery results flow into the scrape manager until shutdown.
    let targets_rx = discovery.subscribe();
    let scrapes_for_sd = scrapes.clone();
    let sd_task = tokio::spawn(async move { scrapes_for_sd.run(targets_rx).await });

    if let Ok(mut r) = view.ready.write() {
        *r = Ok(());
    }
    reload_metrics.record(true);
    // Hear from the cluster before claiming slots; a stop request meanwhile wins.
    let early_stop = tokio::select! {
        () = peering.wait_for_peers() => None,
        _ = int.recv() => Some("SIGINT"),
        _ = term.recv() => Some("SIGTERM"),
    };
    if early_stop.is_none() {
        peering.join().await;
    }
    tracing::info!(
        config = %config_path.display(),
        listen = %args.web_listen_address,
        jobs = cfg.scrape_configs.len(),
        endpoints = cfg.remote_write.len(),
        "shoal started"
    );

    let mut first_sync_done = false;
    // When a change of operator objects is applied: a quiet period after the first change.
    let mut regenerate_at: Option<tokio::time::Instant> = None;
    let reload = async |reason: &'static str, file_cfg: &mut Arc<Config>, op: &mut OperatorJobs| {
        let outcome = reload_config(
            &config_path,
            file_cfg,
            op,
            &view,
            &remote,
            &scrapes,
            &discovery,
        )
        .await;
        reload_metrics.record(outcome.is_ok());
        match &outcome {
            Ok(()) => tracing::info!(trigger = reason, "configuration reloaded"),
            Err(e) => {
                tracing::error!(trigger = reason, error = %e, "configuration reload failed; keeping the running configuration")
            }
        }
        outcome
    };
    let mut publish = tokio::time::interval(PUBLISH_INTERVAL);
    let signal_name = if let Some(name) = early_stop {
        name
    } else {
        loop {
            tokio::select! {
                _ = publish.tick() => peering.publish(&scrapes, &current_hash(&view)).await,
                _ = hup.recv() => { let _ = reload("SIGHUP", &mut file_cfg, &mut op).await; }
                Some(reply) = reload_rx.recv() => { let _ = reply.send(reload("http", &mut file_cfg, &mut op).await); }
                () = op.first_sync(), if !first_sync_done => {
                    first_sync_done = true;
                    apply_jobs(&file_cfg, &op, &view, &scrapes, &discovery).await;
                }
                () = op.changed(), if first_sync_done => {
                    regenerate_at.get_or_insert(crate::model::clock::monotonic_now() + operator::DEBOUNCE);
                }
                () = sleep_until_some(regenerate_at), if regenerate_at.is_some() => {
                    regenerate_at = None;
                    apply_jobs(&file_cfg, &op, &view, &scrapes, &discovery).await;
                }
                _ = int.recv() => break "SIGINT",
                _ = term.recv() => break "SIGTERM",
            }
        }
    };

    tracing::info!(signal = signal_name, flush_deadline = ?args.flush_deadline, "shutting down");
    if let Ok(mut r) = view.ready.write() {
        *r = Err("shutting down".into());
    }
    // Scrape our share until the others take over; discovery keeps running meanwhile.
    peering.leave(&current_config(&view)).await;
    sd_task.abort();
    drop(discovery);
    // Stopping the process is not the end of the targets: no staleness markers.
    scrapes.stop(StopMode::Silent).await;
    // Readers send what the WAL holds, up to the head; the rest stays for the next start.
    remote.shutdown(args.flush_deadline).await;
    peering.shutdown().await;
    if let Some(Err(e)) = wal.as_ref().map(|w| w.sync()) {
        tracing::warn!(error = %e, "final wal fsync failed");
    }
    let _ = stop_web_tx.send(());
    match tokio::time::timeout(Duration::from_secs(5), web_task).await {
        Ok(Ok(Err(e))) => tracing::warn!(error = %e, "web server ended with an error"),
        Err(_) => tracing::warn!("web server did not stop in time"),
        _ => {}
    }
    tracing::info!("shoal stopped");
    Ok(())
}

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The configuration in force.
fn current_config(view: &View) -> Arc<Config> {
    view.config
        .read()
        .map_or_else(|e| e.into_inner().0.clone(), |c| c.0.clone())
}

/// The hash of the configuration in force, as gossiped.
fn current_hash(view: &View) -> String {
    view.config
        .read()
        .map_or_else(|e| e.into_inner().1.clone(), |c| c.1.clone())
}

/// Puts `shown` in force for the API and gossip.
fn show_config(view: &View, shown: Arc<Config>) {
    let hash = peering::config_hash(&shown);
    if let Ok(mut c) = view.config.write() {
        *c = (shown, hash);
    }
}

/// The file's config plus the jobs generated from operator objects, applied like a reload
/// (unchanged jobs keep their loops and caches). A generated job the scrape manager cannot
/// build rejects its object; the others are applied.
async fn apply_jobs(
    file: &Config,
    op: &OperatorJobs,
    view: &View,
    scrapes: &scrape::Manager,
    discovery: &discovery::Manager,
) {
    let mut rejected: Vec<(String, String)> = Vec::new();
    loop {
        let (merged, shown) = op.compose(file, &rejected);
        match scrapes.prepare(&merged).await {
            Ok(plan) => {
                scrapes.commit(plan).await;
                if let Err(e) = discovery.apply_config(&merged) {
                    tracing::error!(error = %e, "some service discovery configs could not start");
                }
                show_config(view, shown);
                return;
            }
            Err(e)
                if crate::operator::is_generated_name(e.job())
                    && !rejected.iter().any(|(j, _)| j == e.job()) =>
            {
                rejected.push((e.job().to_string(), format!("invalid: {e}")));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot apply the jobs generated from operator objects");
                return;
            }
        }
    }
}

/// Loads the file again and applies it as one transaction: every component prepares from
/// the new config (fallible, no side effect), then all commit (infallible). On any error
/// nothing changes: scraping, remote write and `/api/v1/status/config` stay on the old
/// file. Jobs generated from operator objects are composed with the new file.
async fn reload_config(
    path: &Path,
    file_cfg: &mut Arc<Config>,
    op: &mut OperatorJobs,
    view: &View,
    remote: &RemoteWrite,
    scrapes: &scrape::Manager,
    discovery: &discovery::Manager,
) -> Result<(), String> {
    let cfg = Arc::new(config::load(path).map_err(|e| e.to_string())?);
    let remote_plan = remote
        .prepare(&cfg.remote_write, &cfg.global.external_labels)
        .map_err(|e| e.to_string())?;
    op.configure(&cfg);
    let (merged, shown) = op.compose(&cfg, &[]);
    let scrape_plan = match scrapes.prepare(&merged).await {
        Ok(p) => p,
        Err(e) => {
            op.configure(file_cfg);
            return Err(e.to_string());
        }
    };
    remote.commit(remote_plan);
    scrapes.commit(scrape_plan).await;
    // Discovery reports its own failures per config and keeps the others running.
    if let Err(e) = discovery.apply_config(&merged) {
        tracing::error!(error = %e, "some service discovery configs could not start");
    }
    show_config(view, shown);
    *file_cfg = cfg;
    Ok(())
}
