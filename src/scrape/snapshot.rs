//! The `/api/v1/targets` view of the scrape manager, in Prometheus' JSON shape.

use std::collections::BTreeMap;
use std::sync::PoisonError;

use serde::Serialize;

use crate::config::{PromDuration, redact_url};
use crate::labels::Labels;
use crate::model::time::rfc3339_millis;

use super::pool::TargetView;
use super::scrape_loop::Health;
use crate::model::SlotOwner;
use crate::model::{Clock, SlotGrid};

/// `data` of `/api/v1/targets`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetsSnapshot {
    /// Targets this peer runs a loop for.
    pub active_targets: Vec<ActiveTarget>,
    /// Targets dropped by relabeling.
    pub dropped_targets: Vec<DroppedTarget>,
}

/// One active target.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ActiveTarget {
    /// Labels before relabeling.
    pub discovered_labels: BTreeMap<String, String>,
    /// Labels added to the target's series.
    pub labels: BTreeMap<String, String>,
    /// The job.
    pub scrape_pool: String,
    /// The URL scraped.
    pub scrape_url: String,
    /// Same as `scrapeUrl` (Prometheus substitutes its external host name).
    pub global_url: String,
    /// Last scrape's error, empty if it succeeded.
    pub last_error: String,
    /// RFC 3339 start of the last scrape (Go's zero time before the first).
    pub last_scrape: String,
    /// Seconds the last scrape took.
    pub last_scrape_duration: f64,
    /// `up`, `down` or `unknown`.
    pub health: Health,
    /// Interval, Prometheus notation.
    pub scrape_interval: String,
    /// Timeout, Prometheus notation.
    pub scrape_timeout: String,
    /// The peer owning the target's current slot, when known.
    pub owner: Option<String>,
}

/// One dropped target.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DroppedTarget {
    /// Labels before relabeling.
    pub discovered_labels: BTreeMap<String, String>,
}

/// The API entry of a running target.
pub(crate) fn active_target(
    job: &str,
    v: &TargetView,
    clock: &Clock,
    owner: &dyn SlotOwner,
) -> ActiveTarget {
    let st = v
        .status
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let t = &v.target;
    let slot = SlotGrid::new(t.id, t.interval).containing(clock.now());
    ActiveTarget {
        discovered_labels: v.discovered_labels().to_map(),
        labels: t.series_labels.to_map(),
        scrape_pool: job.to_owned(),
        scrape_url: redact_url(&t.url),
        global_url: redact_url(&t.url),
        last_error: st.last_error,
        last_scrape: st.last_scrape.map_or_else(
            || "0001-01-01T00:00:00Z".to_owned(),
            |s| rfc3339_millis(s.0),
        ),
        last_scrape_duration: st.last_duration.as_secs_f64(),
        health: st.health,
        scrape_interval: PromDuration(t.interval).to_string(),
        scrape_timeout: PromDuration(t.timeout).to_string(),
        owner: owner.owner_of(t.id, slot),
    }
}

/// The API entry of a dropped target.
pub(crate) fn dropped_target(l: &Labels) -> DroppedTarget {
    DroppedTarget {
        discovered_labels: l.to_map(),
    }
}
