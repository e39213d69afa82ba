//! Loop, pool and manager tests with a fake scraper and a recording sink (paused tokio
//! time), and HTTP client tests against a local axum target.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;

use super::client::{ClientError, TargetScrapers};
use super::*;
use crate::config::{Config, PromDuration, ScrapeConfig};
use crate::discovery::{SharedGroups, TargetGroup};
use crate::labels::Labels;
use crate::series::{Sample, SampleSink, is_stale_nan};

mod http;

const T0: i64 = 1_763_780_000_000;

/// One written sample, owned.
#[derive(Clone, Debug, PartialEq)]
struct Rec {
    name: String,
    instance: String,
    ts: i64,
    value: f64,
}

impl Rec {
    fn stale(&self) -> bool {
        is_stale_nan(self.value)
    }
}

/// Records every `append` call as one batch.
#[derive(Default)]
struct RecordingSink {
    batches: Mutex<Vec<Vec<Rec>>>,
}

impl SampleSink for RecordingSink {
    fn append(&self, samples: &[Sample]) {
        let batch = samples
            .iter()
            .map(|s| Rec {
                name: s
                    .series
                    .labels()
                    .metric_name()
                    .unwrap_or_default()
                    .to_owned(),
                instance: s
                    .series
                    .labels()
                    .get("instance")
                    .unwrap_or_default()
                    .to_owned(),
                ts: s.timestamp,
                value: s.value,
            })
            .collect();
        self.batches.lock().unwrap().push(batch);
    }
}

impl RecordingSink {
    fn batches(&self) -> Vec<Vec<Rec>> {
        self.batches.lock().unwrap().clone()
    }
    fn count(&self) -> usize {
        self.batches.lock().unwrap().len()
    }
}

/// Answers scripted bodies (the last one repeats), or errors.
#[derive(Default)]
struct FakeScraper {
    script: Mutex<VecDeque<Result<String, ScrapeError>>>,
    last: Mutex<Option<Result<String, ScrapeError>>>,
    calls: AtomicUsize,
}

impl FakeScraper {
    fn push(&self, r: Result<&str, ScrapeError>) {
        self.script.lock().unwrap().push_back(r.map(str::to_owned));
    }
}

impl Scraper for FakeScraper {
    fn scrape<'a>(
        &'a self,
        body: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, Result<Option<String>, ScrapeError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let next = self.script.lock().unwrap().pop_front();
            let r = match next {
                Some(r) => {
                    *self.last.lock().unwrap() = Some(r.clone());
                    r
                }
                None => self
                    .last
                    .lock()
                    .unwrap()
                    .clone()
                    .unwrap_or(Ok(String::new())),
            };
            body.clear();
            body.extend_from_slice(r?.as_bytes());
            Ok(Some("text/plain; version=0.0.4".to_owned()))
        })
    }
}

/// One [`FakeScraper`] per target URL, shared with the test.
#[derive(Default)]
struct FakeFactory {
    scrapers: Mutex<HashMap<String, Arc<FakeScraper>>>,
}

impl FakeFactory {
    fn get(&self, url: &str) -> Arc<FakeScraper> {
        Arc::clone(
            self.scrapers
                .lock()
                .unwrap()
                .entry(url.to_owned())
                .or_default(),
        )
    }
}

impl ScraperFactory for Arc<FakeFactory> {
    fn for_job(&self, _cfg: &ScrapeConfig) -> Result<TargetScrapers, ClientError> {
        let me = Arc::clone(self);
        Ok(Box::new(move |t: &Target| {
            Ok(me.get(&t.url) as Arc<dyn Scraper>)
        }))
    }
}

/// Owns everything while `on` is true.
struct Switch {
    on: AtomicBool,
}

impl SlotOwner for Switch {
    fn owns(&self, _t: TargetId, _s: SlotTime) -> bool {
        self.on.load(Ordering::SeqCst)
    }
    fn owner_of(&self, _t: TargetId, _s: SlotTime) -> Option<String> {
        Some("peer-0".into())
    }
}

struct Harness {
    manager: Manager,
    sink: Arc<RecordingSink>,
    fakes: Arc<FakeFactory>,
    owner: Arc<Switch>,
}

fn harness() -> Harness {
    let sink = Arc::new(RecordingSink::default());
    let fakes = Arc::new(FakeFactory::default());
    let owner = Arc::new(Switch {
        on: AtomicBool::new(true),
    });
    let manager = Manager::with_options(ManagerOptions {
        sink: Arc::clone(&sink) as Arc<dyn SampleSink>,
        metrics: ScrapeMetrics::new(&mut Default::default()),
        owner: Arc::clone(&owner) as Arc<dyn SlotOwner>,
        factory: Arc::new(Arc::clone(&fakes)),
        clock: Clock::anchored_at(SlotTime(T0)),
    });
    Harness {
        manager,
        sink,
        fakes,
        owner,
    }
}

fn job(name: &str) -> ScrapeConfig {
    ScrapeConfig {
        job_name: name.into(),
        scrape_interval: Some(PromDuration(Duration::from_secs(10))),
        scrape_timeout: Some(PromDuration(Duration::from_secs(5))),
        ..Default::default()
    }
}

fn groups(job: &str, addrs: &[&str]) -> JobTargetGroups {
    let targets = addrs
        .iter()
        .map(|a| Labels::from_pairs([("__address__", *a)]))
        .collect();
    let g = TargetGroup {
        source: "static/0".into(),
        targets,
        labels: Labels::empty(),
    };
    Arc::new(BTreeMap::from([(
        job.to_string(),
        SharedGroups::from(vec![Arc::new(g)]),
    )]))
}

/// Polls `f` until true (200 s of tokio time: with paused time each poll advances the
/// virtual clock).
async fn wait_for(what: &str, f: impl FnMut() -> bool) {
    crate::test_support::wait_for(what, Duration::from_secs(200), f).await;
}

async fn started(h: &Harness, cfg: ScrapeConfig, addrs: &[&str]) {
    let name = cfg.job_name.clone();
    let config = Config {
        scrape_configs: vec![cfg.into()],
        ..Default::default()
    };
    h.manager.apply_config(&config).await.unwrap();
    h.manager.update_targets(groups(&name, addrs)).await;
}

#[tokio::test(start_paused = true)]
async fn samples_carry_slot_times_on_the_targets_grid() {
    let h = harness();
    h.fakes.get("http://a:1/metrics").push(Ok("m 1\n"));
    started(&h, job("j"), &["a:1"]).await;
    wait_for("3 scrapes", || h.sink.count() >= 3).await;
    let b = h.sink.batches();
    let phase = target_id("j", "a:1").0 as i64 % 10_000;
    for (i, batch) in b.iter().take(3).enumerate() {
        // Every sample of a scrape, synthetic ones included, carries the slot time.
        assert!(batch.iter().all(|r| r.ts == batch[0].ts));
        assert_eq!(batch[0].ts.rem_euclid(10_000), phase);
        assert_eq!(batch[0].ts, b[0][0].ts + 10_000 * i as i64);
        assert_eq!(batch.len(), 6, "m + 5 synthetic series");
    }
    assert!(b[0][0].ts >= T0 && b[0][0].ts < T0 + 10_000);
    h.manager.stop(StopMode::Silent).await;
}

fn target_id(job_name: &str, addr: &str) -> TargetId {
    let t = target::populate_labels(
        &Labels::empty(),
        &Labels::from_pairs([("__address__", addr)]),
        &job(job_name),
        &crate::relabel::Rules::compile(&[]).unwrap(),
    );
    match t {
        Ok(target::TargetOutcome::Active(t)) => t.id,
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn slots_not_owned_are_skipped_without_markers() {
    let h = harness();
    h.fakes.get("http://a:1/metrics").push(Ok("m 1\n"));
    started(&h, job("j"), &["a:1"]).await;
    wait_for("first scrape", || h.sink.count() >= 1).await;
    h.owner.on.store(false, Ordering::SeqCst);
    let calls = h
        .fakes
        .get("http://a:1/metrics")
        .calls
        .load(Ordering::SeqCst);
    let n = h.sink.count();
    tokio::time::sleep(Duration::from_secs(60)).await;
    // Six slots passed, none scraped, nothing written (no staleness markers).
    assert_eq!(h.sink.count(), n);
    assert_eq!(
        h.fakes
            .get("http://a:1/metrics")
            .calls
            .load(Ordering::SeqCst),
        calls
    );
    h.owner.on.store(true, Ordering::SeqCst);
    wait_for("scrapes resume", || h.sink.count() > n).await;
    let b = h.sink.batches();
    assert!(b.iter().flatten().all(|r| !r.stale()));
    h.manager.stop(StopMode::Silent).await;
}

#[tokio::test(start_paused = true)]
async fn target_leaving_discovery_gets_end_markers() {
    let h = harness();
    h.fakes.get("http://a:1/metrics").push(Ok("m 1\n"));
    h.fakes.get("http://b:1/metrics").push(Ok("m 2\n"));
    started(&h, job("j"), &["a:1", "b:1"]).await;
    wait_for("both scraped", || h.sink.count() >= 2).await;
    h.manager.update_targets(groups("j", &["b:1"])).await;
    let b = h.sink.batches();
    let last = b.last().unwrap();
    assert!(
        last.iter().all(|r| r.stale() && r.instance == "a:1"),
        "{last:?}"
    );
    let mut names: Vec<_> = last.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "m",
            "scrape_duration_seconds",
            "scrape_samples_post_metric_relabeling",
            "scrape_samples_scraped",
            "scrape_series_added",
            "up"
        ]
    );
    let snap = h.manager.targets();
    assert_eq!(snap.active_targets.len(), 1);
    assert_eq!(snap.active_targets[0].scrape_url, "http://b:1/metrics");
    h.manager.stop(StopMode::Silent).await;
}

#[tokio::test(start_paused = true)]
async fn shutdown_writes_no_markers() {
    let h = harness();
    h.fakes.get("http://a:1/metrics").push(Ok("m 1\n"));
    started(&h, job("j"), &["a:1"]).await;
    wait_for("first scrape", || h.sink.count() >= 1).await;
    let n = h.sink.count();
    h.manager.stop(StopMode::Silent).await;
    assert_eq!(h.sink.count(), n);
    assert!(h.manager.targets().active_targets.is_empty());
}

#[tokio::test(start_paused = true)]
async fn failing_target_reports_down_and_last_error() {
    let h = harness();
    let fake = h.fakes.get("http://a:1/metrics");
    fake.push(Ok("m 1\n"));
    fake.push(Err(ScrapeError::Status("500 Internal Server Error".into())));
    started(&h, job("j"), &["a:1"]).await;
    wait_for("two scrapes", || h.sink.count() >= 2).await;
    let b = h.sink.batches();
    let failed = &b[1];
    let up = failed.iter().find(|r| r.name == "up").unwrap();
    assert_eq!(up.value, 0.0);
    assert!(failed.iter().any(|r| r.name == "m" && r.stale()));
    let t = &h.manager.targets().active_targets[0];
    assert_eq!(t.health, Health::Down);
    assert_eq!(
        t.last_error,
        "server returned HTTP status 500 Internal Server Error"
    );
    h.manager.stop(StopMode::Silent).await;
}

#[tokio::test(start_paused = true)]
async fn reload_keeps_unchanged_jobs_and_rebuilds_changed_ones() {
    let h = harness();
    h.fakes.get("http://a:1/metrics").push(Ok("m 1\n"));
    h.fakes.get("http://b:1/metrics").push(Ok("m 2\n"));
    let both = |b_interval: u64| Config {
        scrape_configs: vec![
            job("ja").into(),
            ScrapeConfig {
                scrape_interval: Some(PromDuration(Duration::from_secs(b_interval))),
                ..job("jb")
            }
            .into(),
        ],
        ..Default::default()
    };
    h.manager.apply_config(&both(10)).await.unwrap();
    let mut tg = (*groups("ja", &["a:1"])).clone();
    tg.extend((*groups("jb", &["b:1"])).clone());
    h.manager.update_targets(Arc::new(tg)).await;
    wait_for("both scraped", || h.sink.count() >= 2).await;
    let before = h.sink.count();
    h.manager.apply_config(&both(20)).await.unwrap();
    let b = h.sink.batches();
    // Only jb's loop ended (with markers); ja kept running.
    let new: Vec<&Rec> = b[before..].iter().flatten().collect();
    assert!(
        new.iter().all(|r| r.stale() && r.instance == "b:1"),
        "{new:?}"
    );
    let snap = h.manager.targets();
    assert_eq!(snap.active_targets.len(), 2);
    let jb = snap
        .active_targets
        .iter()
        .find(|t| t.scrape_pool == "jb")
        .unwrap();
    assert_eq!(jb.scrape_interval, "20s");
    assert_eq!(jb.health, Health::Unknown);
    h.manager.stop(StopMode::Silent).await;
}

#[tokio::test(start_paused = true)]
async fn targets_snapshot_has_prometheus_shape() {
    let h = harness();
    h.fakes.get("http://a:1/metrics").push(Ok("m 1\n"));
    started(&h, job("j"), &["a:1"]).await;
    wait_for("first scrape", || h.sink.count() >= 1).await;
    let v = serde_json::to_value(h.manager.targets()).unwrap();
    let t = &v["activeTargets"][0];
    assert_eq!(t["scrapePool"], "j");
    assert_eq!(t["scrapeUrl"], "http://a:1/metrics");
    assert_eq!(t["globalUrl"], "http://a:1/metrics");
    assert_eq!(t["health"], "up");
    assert_eq!(t["lastError"], "");
    assert_eq!(
        t["labels"],
        serde_json::json!({"instance": "a:1", "job": "j"})
    );
    assert_eq!(t["discoveredLabels"]["__address__"], "a:1");
    assert_eq!(t["scrapeInterval"], "10s");
    assert_eq!(t["scrapeTimeout"], "5s");
    assert_eq!(t["owner"], "peer-0");
    assert!(
        t["lastScrape"]
            .as_str()
            .unwrap()
            .starts_with("2025-11-22T02:53:")
    );
    assert!(t["lastScrapeDuration"].is_number());
    assert_eq!(v["droppedTargets"], serde_json::json!([]));
    h.manager.stop(StopMode::Silent).await;
}
