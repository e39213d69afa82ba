//! shoal: a clustered Prometheus scrape agent.
//!
//! The data path, one module per stage: [`discovery`] → [`relabel`] (target labels) →
//! [`cluster`] (who scrapes which slot) → [`scrape`] (with [`exposition`] parsing and
//! metric relabeling) → [`series`] → [`wal`] → [`remote_write`]. [`labels`] is the label
//! set every stage shares; [`config`] reads the Prometheus-compatible file;
//! [`http_client`] builds clients from its settings; [`web`] serves the HTTP API, status
//! page and self-metrics; [`agent`] wires the stages and owns reload and shutdown.
//! `ARCHITECTURE.md` is the contributor's map.

pub mod agent;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod discovery;
pub mod exposition;
pub mod http_client;
pub mod logging;
pub mod model;
pub mod operator;
pub mod receiver;
pub mod relabel;
pub mod remote_write;
pub mod scrape;
#[cfg(test)]
mod test_support;
pub mod wal;
pub mod web;

// The ground floor's label sets and series, at the paths every stage has used.
pub use model::{labels, series};
