//! shoal: a clustered Prometheus scrape agent.
//!
//! The data path, one module per stage: [`discovery`] → [`relabel`] → [`scrape`]
//! (with [`exposition`] parsing) → [`series`] sink → [`remote_write`]. [`config`] reads the
//! Prometheus-compatible file; [`web`] serves the HTTP API and self-metrics.

pub mod agent;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod discovery;
pub mod exposition;
pub mod http_client;
pub mod labels;
pub mod logging;
pub mod receiver;
pub mod relabel;
pub mod remote_write;
pub mod scrape;
pub mod series;
pub mod wal;
pub mod web;
