//! Scrape targets built from discovered target groups, with Prometheus' `PopulateLabels`
//! semantics, and the stable identity every peer computes for a target.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{PromDuration, ScrapeConfig};
use crate::labels::{Labels, LabelsBuilder};
pub use crate::model::TargetId;

use crate::discovery::TargetGroup;
use crate::relabel::Rules;

/// Label holding `host:port` of the target.
pub const ADDRESS_LABEL: &str = "__address__";
/// Label holding the URL scheme.
pub const SCHEME_LABEL: &str = "__scheme__";
/// Label holding the URL path.
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
/// Label holding the per-target scrape interval.
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
/// Label holding the per-target scrape timeout.
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
/// Prefix of labels that become URL query parameters.
pub const PARAM_LABEL_PREFIX: &str = "__param_";
/// Prefix of discovery metadata labels, removed after relabeling.
pub use crate::model::labels::META_LABEL_PREFIX;
/// Prefix of internal labels, never part of a series.
pub const RESERVED_LABEL_PREFIX: &str = "__";

/// Why a discovered target could not become a scrape target (Prometheus' messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// `__address__` missing or empty after relabeling.
    #[error("no address")]
    NoAddress,
    /// `__address__` looks like a URL.
    #[error("{0:?} is not a valid hostname")]
    InvalidAddress(String),
    /// `__scrape_interval__` is not a duration.
    #[error("error parsing scrape interval: {0}")]
    BadInterval(String),
    /// `__scrape_interval__` is zero.
    #[error("scrape interval cannot be 0")]
    ZeroInterval,
    /// `__scrape_timeout__` is not a duration.
    #[error("error parsing scrape timeout: {0}")]
    BadTimeout(String),
    /// `__scrape_timeout__` is zero.
    #[error("scrape timeout cannot be 0")]
    ZeroTimeout,
    /// Timeout above interval.
    #[error("scrape timeout cannot be greater than scrape interval ({timeout:?} > {interval:?})")]
    TimeoutAboveInterval {
        /// The timeout label's value.
        timeout: String,
        /// The interval label's value.
        interval: String,
    },
    /// The scheme, address and path do not form a URL.
    #[error("invalid scrape url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as assembled.
        url: String,
        /// The URL parser's complaint.
        reason: String,
    },
}

/// A target ready to scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Stable identity.
    pub id: TargetId,
    /// Labels after relabeling, `__meta_*` removed, internal `__*` labels kept.
    pub labels: Labels,
    /// The labels every scraped series gets: [`Target::labels`] without `__*` labels.
    pub series_labels: Labels,
    /// Labels before relabeling (for the targets API): kept only until the target's
    /// position in its group is known ([`Target::discovered_at`]), then recomputed on
    /// demand, since they repeat the group's labels.
    pub discovered_labels: Arc<Labels>,
    /// Where the target was discovered, once built from groups.
    pub discovered_at: Option<Discovered>,
    /// The URL scraped.
    pub url: String,
    /// Scrape interval (from `__scrape_interval__`).
    pub interval: Duration,
    /// Scrape timeout (from `__scrape_timeout__`).
    pub timeout: Duration,
}

/// A discovered target's place in its (immutable, shared) group.
#[derive(Clone, Debug, PartialEq)]
pub struct Discovered {
    /// The group.
    pub group: Arc<TargetGroup>,
    /// Index of the target within the group.
    pub index: usize,
}

impl Discovered {
    /// The target's labels before relabeling under `cfg`.
    pub fn labels(&self, cfg: &ScrapeConfig) -> Labels {
        match self.group.targets.get(self.index) {
            Some(t) => discovered_labels(&self.group.labels, t, cfg),
            None => Labels::default(),
        }
    }
}

/// What became of one discovered target.
#[derive(Clone, Debug, PartialEq)]
pub enum TargetOutcome {
    /// Kept by relabeling.
    Active(Target),
    /// Dropped by relabeling; its labels before relabeling.
    Dropped(Labels),
}

/// A run of consecutive targets dropped by relabeling, as positions in the job's groups
/// taken as one sequence (every target of group 0, then of group 1, ...): their labels are
/// recomputed from the (immutable, shared) groups when the targets API asks. A job whose
/// relabeling keeps a few targets of many (a generated ServiceMonitor job selecting one
/// service among thousands) holds a couple of runs, not one entry per dropped target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DroppedRun {
    /// Position of the first dropped target.
    pub start: usize,
    /// How many consecutive targets are dropped.
    pub len: usize,
}

/// Dropped runs: the number of targets they cover.
pub fn dropped_count(runs: &[DroppedRun]) -> usize {
    runs.iter().map(|r| r.len).sum()
}

/// The runs cut to the first `limit` targets (`keep_dropped_targets`).
pub fn truncate_dropped(runs: &mut Vec<DroppedRun>, limit: usize) {
    let mut left = limit;
    runs.retain_mut(|r| {
        if left == 0 {
            return false;
        }
        r.len = r.len.min(left);
        left -= r.len;
        true
    });
}

/// Each dropped target's `(group, target)` within `groups`, in order.
pub fn dropped_positions<'a>(
    groups: &'a [Arc<TargetGroup>],
    runs: &'a [DroppedRun],
) -> impl Iterator<Item = (&'a Arc<TargetGroup>, usize)> + 'a {
    // Runs ascend, so one walk over the groups serves them all.
    let mut g = 0usize;
    let mut base = 0usize;
    runs.iter()
        .flat_map(|r| r.start..r.start + r.len)
        .filter_map(move |flat| {
            while let Some(group) = groups.get(g) {
                if flat < base + group.targets.len() {
                    return Some((group, flat - base));
                }
                base += group.targets.len();
                g += 1;
            }
            None
        })
}

/// The targets of one job built from its target groups.
#[derive(Clone, Debug, Default)]
pub struct JobTargets {
    /// Targets to scrape, de-duplicated by [`TargetId`] (first wins).
    pub active: Vec<Target>,
    /// Targets dropped by relabeling.
    pub dropped: Vec<DroppedRun>,
    /// Targets that could not be built, with the group they came from.
    pub errors: Vec<String>,
}

/// Builds every target of `groups` for the job `cfg` (Prometheus `TargetsFromGroup`).
pub fn targets_from_groups(
    groups: &[Arc<TargetGroup>],
    cfg: &ScrapeConfig,
    rules: &Rules,
) -> JobTargets {
    let mut out = JobTargets::default();
    let mut seen = std::collections::HashSet::new();
    let mut flat = 0usize;
    for group in groups {
        if group_dropped(group, rules) {
            let (at, n) = (flat, group.targets.len());
            flat += n;
            match out.dropped.last_mut() {
                Some(r) if r.start + r.len == at => r.len += n,
                _ if n > 0 => out.dropped.push(DroppedRun { start: at, len: n }),
                _ => {}
            }
            continue;
        }
        for (i, target_labels) in group.targets.iter().enumerate() {
            let at = flat;
            flat += 1;
            match populate_labels(&group.labels, target_labels, cfg, rules) {
                Ok(TargetOutcome::Active(mut t)) => {
                    if seen.insert(t.id) {
                        t.discovered_labels = empty_labels();
                        t.discovered_at = Some(Discovered {
                            group: Arc::clone(group),
                            index: i,
                        });
                        out.active.push(t);
                    }
                }
                Ok(TargetOutcome::Dropped(_)) => match out.dropped.last_mut() {
                    Some(r) if r.start + r.len == at => r.len += 1,
                    _ => out.dropped.push(DroppedRun { start: at, len: 1 }),
                },
                Err(e) => out
                    .errors
                    .push(format!("instance {i} in group {}: {e}", group.source)),
            }
        }
    }
    out
}

/// Whether relabeling drops every target of `group` on its group labels alone: the leading
/// keep/drop rules read only `__meta_*` labels of the group that no target overrides.
/// Saves relabeling each target when a job selects a few groups of many (a ServiceMonitor
/// job over a namespace's Endpoints). Exact: a target it skips would have been dropped.
fn group_dropped(group: &TargetGroup, rules: &Rules) -> bool {
    if group.targets.is_empty() || rules.is_empty() {
        return false;
    }
    let shared = |name: &str| {
        name.starts_with("__meta_")
            && group.labels.get(name).is_some()
            && group.targets.iter().all(|t| t.get(name).is_none())
    };
    // A `__meta_` label absent from the group reads as empty for every target only if no
    // target has it either.
    let absent = |name: &str| {
        name.starts_with("__meta_")
            && group.labels.get(name).is_none()
            && group.targets.iter().all(|t| t.get(name).is_none())
    };
    rules.drops_all_sharing(&|n| group.labels.get(n), &|n| shared(n) || absent(n))
}

/// Prometheus `PopulateLabels`: group labels overridden by target labels, defaults from the
/// scrape config, relabeling, then validation.
pub fn populate_labels(
    group_labels: &Labels,
    target_labels: &Labels,
    cfg: &ScrapeConfig,
    rules: &Rules,
) -> Result<TargetOutcome, TargetError> {
    let mut lb = discovered_builder(group_labels, target_labels, cfg);
    let discovered = lb.build();
    if !rules.process(&mut lb) {
        return Ok(TargetOutcome::Dropped(discovered));
    }
    let addr = lb.get(ADDRESS_LABEL).unwrap_or_default().to_owned();
    if addr.is_empty() {
        return Err(TargetError::NoAddress);
    }
    if addr.contains('/') {
        return Err(TargetError::InvalidAddress(addr));
    }
    let interval_s = lb.get(SCRAPE_INTERVAL_LABEL).unwrap_or_default().to_owned();
    let interval = PromDuration::parse(&interval_s)
        .map_err(TargetError::BadInterval)?
        .0;
    if interval.is_zero() {
        return Err(TargetError::ZeroInterval);
    }
    let timeout_s = lb.get(SCRAPE_TIMEOUT_LABEL).unwrap_or_default().to_owned();
    let timeout = PromDuration::parse(&timeout_s)
        .map_err(TargetError::BadTimeout)?
        .0;
    if timeout.is_zero() {
        return Err(TargetError::ZeroTimeout);
    }
    if timeout > interval {
        return Err(TargetError::TimeoutAboveInterval {
            timeout: timeout_s,
            interval: interval_s,
        });
    }
    lb.retain(|n, _| !n.starts_with(META_LABEL_PREFIX));
    if lb.get("instance").is_none() {
        lb.set("instance", &addr);
    }
    let labels = lb.build();
    let url = scrape_url(&labels, &cfg.params)?;
    let series_labels = Labels::from_pairs(
        labels
            .iter()
            .filter(|l| !l.name.starts_with(RESERVED_LABEL_PREFIX))
            .map(|l| (l.name, l.value)),
    );
    Ok(TargetOutcome::Active(Target {
        id: TargetId::of(&labels),
        labels,
        series_labels,
        discovered_labels: Arc::new(discovered),
        discovered_at: None,
        url,
        interval,
        timeout,
    }))
}

/// One shared empty label set.
fn empty_labels() -> Arc<Labels> {
    static EMPTY: std::sync::OnceLock<Arc<Labels>> = std::sync::OnceLock::new();
    Arc::clone(EMPTY.get_or_init(|| Arc::new(Labels::default())))
}

/// Labels of a target before relabeling: what the targets API shows as `discoveredLabels`.
pub fn discovered_labels(
    group_labels: &Labels,
    target_labels: &Labels,
    cfg: &ScrapeConfig,
) -> Labels {
    discovered_builder(group_labels, target_labels, cfg).build()
}

/// Group labels overridden by target labels, then the scrape config's defaults.
fn discovered_builder(
    group_labels: &Labels,
    target_labels: &Labels,
    cfg: &ScrapeConfig,
) -> LabelsBuilder {
    let mut lb = LabelsBuilder::with_capacity(group_labels.len() + target_labels.len() + 8);
    for l in group_labels.iter().chain(target_labels.iter()) {
        lb.set(l.name, l.value);
    }
    let interval = PromDuration(cfg.interval()).to_string();
    let timeout = PromDuration(cfg.timeout()).to_string();
    for (name, value) in [
        ("job", cfg.job_name.as_str()),
        (SCRAPE_INTERVAL_LABEL, &interval),
        (SCRAPE_TIMEOUT_LABEL, &timeout),
        (METRICS_PATH_LABEL, cfg.metrics_path()),
        (SCHEME_LABEL, cfg.scheme()),
    ] {
        if lb.get(name).is_none() {
            lb.set(name, value);
        }
    }
    for (k, v) in &cfg.params {
        let name = format!("{PARAM_LABEL_PREFIX}{k}");
        if let Some(first) = v.first()
            && lb.get(&name).is_none()
        {
            lb.set(&name, first);
        }
    }
    lb
}

/// The URL of a target: `__scheme__://__address____metrics_path__?params`, where every
/// `__param_<name>` label replaces the first value of `params[name]`.
fn scrape_url(
    labels: &Labels,
    params: &BTreeMap<String, Vec<String>>,
) -> Result<String, TargetError> {
    let mut query: BTreeMap<&str, Vec<&str>> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    for l in labels.iter() {
        if let Some(k) = l.name.strip_prefix(PARAM_LABEL_PREFIX) {
            let values = query.entry(k).or_default();
            match values.first_mut() {
                Some(first) => *first = l.value,
                None => values.push(l.value),
            }
        }
    }
    let scheme = labels.get(SCHEME_LABEL).unwrap_or_default();
    let addr = labels.get(ADDRESS_LABEL).unwrap_or_default();
    let raw = format!("{scheme}://{addr}");
    let invalid = |reason: String| TargetError::InvalidUrl {
        url: raw.clone(),
        reason,
    };
    let mut url = url::Url::parse(&raw).map_err(|e| invalid(e.to_string()))?;
    url.set_path(labels.get(METRICS_PATH_LABEL).unwrap_or_default());
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, values) in &query {
        for v in values {
            ser.append_pair(k, v);
        }
    }
    let q = ser.finish();
    url.set_query((!q.is_empty()).then_some(q.as_str()));
    Ok(url.to_string())
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
