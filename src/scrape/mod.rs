//! Scraping: scheduler on per-target slots, HTTP client, scrape cache, staleness.
//!
//! [`Manager`] (all jobs) → [`pool`] (one job, reconciled by [`TargetId`]) →
//! [`scrape_loop`] (one target, one slot at a time) → [`client`] fetch → [`cache`] (parse,
//! label, staleness, synthetic series) → the [`crate::series::SampleSink`].

pub mod buffers;
pub mod cache;
pub mod client;
pub mod error;
mod http1;
pub mod manager;
pub mod metrics;
pub mod pool;
pub mod report;
pub mod scrape_loop;
mod series_table;
mod shared_labels;
pub mod snapshot;
pub mod target;

pub use cache::{Limits, ScrapeCache, SeriesContext};
pub use client::{HttpScraper, HttpScraperFactory, Scraper, ScraperFactory};
pub use error::ScrapeError;
pub use manager::{JobTargetGroups, Manager, ManagerOptions, Owned, ScrapePlan};
pub use metrics::ScrapeMetrics;
pub use scrape_loop::{Health, StopMode};
pub use snapshot::TargetsSnapshot;
pub use target::{Target, TargetError};
// The ground floor's words this stage speaks, where its users have found them.
pub use crate::model::{Clock, OwnEverything, SlotGrid, SlotOwner, SlotTime, TargetId};

#[cfg(test)]
mod tests;
