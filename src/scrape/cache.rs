//! The per-target scrape cache: raw exposed series → final series, and staleness.
//!
//! Pure: no I/O, no clock. The loop hands it a fetched body (or the fetch error) and gets
//! back, in one `Vec<Sample>`, everything to write for that scrape: the samples, the
//! staleness markers of vanished series and the synthetic series.
//!
//! Steady state, a sample costs one seeded xxh3-64 of its raw series bytes, one hash-map
//! lookup and one `Arc` clone: no allocation. Entries are kept small (a dense 32-byte slot
//! plus a 4-byte index bucket) because a peer holds one per scraped series. Building labels
//! (metric relabeling, honor_labels, limits) happens once per new series.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use super::series_table::KeyedTable;
use super::shared_labels::SharedRuns;
use crate::labels::{Labels, LabelsBuilder, METRIC_NAME};
use crate::series::{NORMAL_NAN_BITS, Sample, Series, stale_nan};

use super::error::{ScrapeError, truncate50};
use super::report::{ReportSeries, ScrapeStats};
use crate::exposition::{Entry, Format, Parser, SampleEntry};
use crate::relabel::Rules;

/// Per-series limits of a job; 0 means no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// `sample_limit`, counted after metric relabeling.
    pub sample_limit: u64,
    /// `label_limit`.
    pub label_limit: u64,
    /// `label_name_length_limit`.
    pub label_name_length_limit: u64,
    /// `label_value_length_limit`.
    pub label_value_length_limit: u64,
}

/// How scraped series are turned into stored series for one target.
#[derive(Clone, Debug)]
pub struct SeriesContext {
    /// The target's labels added to every series (no `__*` labels); series that keep
    /// them unchanged share this one copy.
    pub target_labels: Arc<Labels>,
    /// Exposed labels win over target labels on clash.
    pub honor_labels: bool,
    /// Keep timestamps the target exposes.
    pub honor_timestamps: bool,
    /// `metric_relabel_configs`.
    pub metric_rules: Arc<Rules>,
    /// Limits that fail the scrape.
    pub limits: Limits,
}

/// A fetched body and its Content-Type.
#[derive(Clone, Copy, Debug)]
pub struct Fetched<'a> {
    /// The (decompressed) body.
    pub body: &'a [u8],
    /// The response's Content-Type header.
    pub content_type: Option<&'a str>,
}

/// The result of one scrape, after its samples were appended.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeOutcome {
    /// Counts reported in the synthetic series (zero on failure).
    pub stats: ScrapeStats,
    /// Why the scrape failed, if it did.
    pub error: Option<ScrapeError>,
}

/// Per-process seed of the cache key hash, so that an exporter cannot craft two series
/// whose keys collide (the key is not checked against the raw bytes).
fn key_seed() -> u64 {
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *SEED.get_or_init(rand::random)
}

/// The cache key of a raw series (name and label set as exposed).
fn cache_key(series: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(series, key_seed())
}

struct CacheEntry {
    /// `None`: dropped by metric relabeling, skipped cheaply.
    series: Option<Series>,
    /// Generation of the last scrape that exposed the series.
    last_seen: u32,
    /// `last_seen` before the current scrape (to know, on failure, if it was live).
    prev_seen: u32,
    /// False when the series carries its own timestamps: Prometheus writes no staleness
    /// markers for those.
    track_staleness: bool,
}

/// The scrape cache of one target.
pub struct ScrapeCache {
    entries: KeyedTable<CacheEntry>,
    /// Label runs the target's series share.
    shared: SharedRuns,
    /// Incremented at every scrape; entries seen in a scrape carry its generation.
    generation: u32,
    /// Generation of the last successful scrape, whose series are "live" (written and not
    /// yet marked stale); `None` after a failure (markers already written).
    live: Option<u32>,
    report: ReportSeries,
    /// The synthetic series were written at least once (they need end markers).
    reported: bool,
}

impl ScrapeCache {
    /// An empty cache for a target whose series labels are `target_labels`.
    pub fn new(target_labels: &Arc<Labels>) -> Self {
        ScrapeCache {
            entries: KeyedTable::default(),
            shared: SharedRuns::default(),
            generation: 0,
            live: None,
            report: ReportSeries::new(target_labels),
            reported: false,
        }
    }

    /// Number of cached series (including ones dropped by relabeling).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Turns one scrape into samples in `out` (cleared first): on success the scraped
    /// samples and markers for vanished series, on failure markers for every live series;
    /// then the synthetic series. `ts` is the slot time; `duration` how long it took.
    pub fn process(
        &mut self,
        ctx: &SeriesContext,
        fetched: Result<Fetched<'_>, ScrapeError>,
        ts: i64,
        duration: impl FnOnce() -> Duration,
        out: &mut Vec<Sample>,
    ) -> ScrapeOutcome {
        out.clear();
        // u32: 136 years of scrapes at 1 s; wrapping would only mis-mark one scrape.
        self.generation = self.generation.wrapping_add(1);
        let result = fetched.and_then(|f| self.append_body(ctx, f, ts, out));
        let outcome = match result {
            Ok(stats) => {
                self.sweep_vanished(ts, out);
                ScrapeOutcome { stats, error: None }
            }
            Err(e) => {
                // No partial scrape: drop what this body produced.
                out.clear();
                self.mark_live_stale(ts, out);
                self.live = None;
                ScrapeOutcome {
                    stats: ScrapeStats::default(),
                    error: Some(e),
                }
            }
        };
        self.report
            .append(ts, outcome.error.is_none(), duration(), outcome.stats, out);
        self.reported = true;
        outcome
    }

    /// The target left discovery: markers at `ts` for every live series and for the
    /// synthetic ones. The cache is emptied.
    pub fn end_of_target(&mut self, ts: i64, out: &mut Vec<Sample>) {
        out.clear();
        self.mark_live_stale(ts, out);
        if self.reported {
            self.report.append_stale(ts, out);
        }
        self.entries.clear();
        self.shared.clear();
        self.live = None;
        self.reported = false;
    }

    fn append_body(
        &mut self,
        ctx: &SeriesContext,
        fetched: Fetched<'_>,
        slot_ts: i64,
        out: &mut Vec<Sample>,
    ) -> Result<ScrapeStats, ScrapeError> {
        let g = self.generation;
        let mut stats = ScrapeStats::default();
        let mut parser = Parser::new(
            fetched.body,
            Format::from_content_type(fetched.content_type),
        );
        while let Some(entry) = parser.next_entry()? {
            let Entry::Sample(s) = entry else { continue };
            stats.scraped += 1;
            let (ts, track_staleness) = match s.timestamp_ms {
                Some(t) if ctx.honor_timestamps => (t, false),
                _ => (slot_ts, true),
            };
            // A NaN from the target must never look like a staleness marker.
            let value = if s.value.is_nan() {
                f64::from_bits(NORMAL_NAN_BITS)
            } else {
                s.value
            };
            let key = cache_key(s.series);
            let found = self.entries.position(key);
            let series = match found.and_then(|p| self.entries.at_mut(p)) {
                Some(e) => {
                    if e.last_seen == g {
                        // Same series twice in one exposition: keep the first.
                        continue;
                    }
                    e.prev_seen = e.last_seen;
                    e.last_seen = g;
                    e.track_staleness = track_staleness;
                    e.series.as_ref()
                }
                None => {
                    let series =
                        build_labels(&s, ctx)?.map(|l| self.shared.series(l, &ctx.target_labels));
                    if series.is_some() {
                        stats.series_added += 1;
                    }
                    self.entries
                        .insert(
                            key,
                            CacheEntry {
                                series,
                                last_seen: g,
                                prev_seen: 0,
                                track_staleness,
                            },
                        )
                        .series
                        .as_ref()
                }
            };
            let Some(series) = series else { continue };
            stats.post_relabel += 1;
            if ctx.limits.sample_limit > 0 && stats.post_relabel > ctx.limits.sample_limit {
                return Err(ScrapeError::SampleLimit(ctx.limits.sample_limit));
            }
            out.push(Sample {
                series: series.clone(),
                timestamp: ts,
                value,
            });
        }
        Ok(stats)
    }

    /// After a successful scrape: markers for series of the previous live scrape that this
    /// one did not expose; forget every series not exposed now.
    fn sweep_vanished(&mut self, ts: i64, out: &mut Vec<Sample>) {
        let g = self.generation;
        let live = self.live;
        let before = self.entries.len();
        self.entries.retain(|e| {
            if e.last_seen == g {
                return true;
            }
            if Some(e.last_seen) == live
                && e.track_staleness
                && let Some(series) = &e.series
            {
                out.push(Sample {
                    series: series.clone(),
                    timestamp: ts,
                    value: stale_nan(),
                });
            }
            false
        });
        if self.entries.len() != before {
            // The markers in `out` still hold their series' runs: pruned next time.
            self.shared.prune();
        }
        self.live = Some(g);
    }

    /// Markers for every series written by the last successful scrape.
    fn mark_live_stale(&mut self, ts: i64, out: &mut Vec<Sample>) {
        let Some(live) = self.live else { return };
        let g = self.generation;
        for e in self.entries.values() {
            let was_live = e.last_seen == live || (e.last_seen == g && e.prev_seen == live);
            if !was_live || !e.track_staleness {
                continue;
            }
            if let Some(series) = &e.series {
                out.push(Sample {
                    series: series.clone(),
                    timestamp: ts,
                    value: stale_nan(),
                });
            }
        }
    }
}

/// The final labels of a newly seen series, or `None` when metric relabeling drops it.
fn build_labels(s: &SampleEntry<'_>, ctx: &SeriesContext) -> Result<Option<Labels>, ScrapeError> {
    let series_str = || truncate50(&String::from_utf8_lossy(s.series));
    let mut exposed: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(8);
    exposed.push((Cow::Borrowed(METRIC_NAME), s.name()));
    for (name, value) in s.labels() {
        if exposed.iter().any(|(n, _)| *n == name) {
            return Err(ScrapeError::RepeatedLabelName {
                series: series_str(),
                name: name.into_owned(),
            });
        }
        exposed.push((name, value));
    }
    let mut lb = LabelsBuilder::with_capacity(exposed.len() + ctx.target_labels.len());
    for (n, v) in &exposed {
        lb.set(n, v);
    }
    merge_target_labels(&mut lb, &exposed, &ctx.target_labels, ctx.honor_labels);
    if !ctx.metric_rules.is_empty() && !ctx.metric_rules.process(&mut lb) {
        return Ok(None);
    }
    let labels = lb.build();
    if labels.is_empty() {
        return Ok(None);
    }
    if labels.metric_name().is_none() {
        return Err(ScrapeError::MissingMetricName);
    }
    check_limits(&labels, &ctx.limits, series_str)?;
    Ok(Some(labels))
}

/// Adds the target labels to an exposed series (Prometheus `mutateSampleLabels`).
///
/// honor_labels: exposed labels win. Otherwise target labels win and a clashing exposed
/// label is kept as `exported_<name>` (prefix repeated until free), shortest names first.
pub(crate) fn merge_target_labels(
    lb: &mut LabelsBuilder,
    exposed: &[(Cow<'_, str>, Cow<'_, str>)],
    target: &Labels,
    honor_labels: bool,
) {
    if honor_labels {
        for l in target.iter() {
            if !exposed.iter().any(|(n, _)| n == l.name) {
                lb.set(l.name, l.value);
            }
        }
        return;
    }
    let mut clashes: Vec<(&str, String)> = Vec::new();
    for l in target.iter() {
        if let Some(v) = lb.get(l.name) {
            clashes.push((l.name, v.to_owned()));
        }
        lb.set(l.name, l.value);
    }
    clashes.sort_by_key(|(n, _)| n.len());
    for (name, value) in clashes {
        let mut new_name = name.to_owned();
        loop {
            new_name.insert_str(0, "exported_");
            if lb.get(&new_name).is_none() {
                lb.set(&new_name, &value);
                break;
            }
        }
    }
}

fn check_limits(
    labels: &Labels,
    limits: &Limits,
    series: impl Fn() -> String,
) -> Result<(), ScrapeError> {
    let count = labels.len();
    if limits.label_limit > 0 && count as u64 > limits.label_limit {
        return Err(ScrapeError::LabelLimit {
            metric: series(),
            count,
            limit: limits.label_limit,
        });
    }
    for l in labels.iter() {
        let limit = limits.label_name_length_limit;
        if limit > 0 && l.name.len() as u64 > limit {
            return Err(ScrapeError::LabelNameLength {
                metric: series(),
                name: truncate50(l.name),
                len: l.name.len(),
                limit,
            });
        }
        let limit = limits.label_value_length_limit;
        if limit > 0 && l.value.len() as u64 > limit {
            return Err(ScrapeError::LabelValueLength {
                metric: series(),
                name: truncate50(l.name),
                value: truncate50(l.value),
                len: l.value.len(),
                limit,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
