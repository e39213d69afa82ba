//! The configuration file's shape: Prometheus' YAML fields for `global`, `scrape_configs`
//! and `remote_write`, plus the top-level sections an agent accepts and ignores.
//!
//! Invariant: after [`super::load`] / [`super::load_str`], every `Option` field that has a
//! Prometheus default (or inherits from `global`) is `Some`: `scrape_interval`,
//! `scrape_timeout`, `scrape_protocols`, `metrics_path`, `scheme`, `honor_timestamps`, the
//! limits, `body_size_limit`, `enable_compression`, `http.follow_redirects`,
//! `http.enable_http2`, sd `refresh_interval`s, `remote_timeout`, `protobuf_message`. Values
//! built by hand (e.g. in tests) may leave them `None`; the accessors apply the defaults.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::http::with_http_client;
use super::values::{ByteSize, PromDuration};
use crate::relabel::RelabelConfig;

/// A whole configuration file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Defaults for every scrape config, and external labels.
    #[serde(default)]
    pub global: GlobalConfig,
    /// One entry per job; after loading, also the jobs of `scrape_config_files`. Shared:
    /// the scrape pools hold the same jobs (thousands when generated from operator objects).
    #[serde(default)]
    pub scrape_configs: Vec<Arc<ScrapeConfig>>,
    /// Globs of files holding more `scrape_configs` (after loading: resolved paths).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scrape_config_files: Vec<String>,
    /// Remote-write endpoints; each receives every sample independently.
    #[serde(default)]
    pub remote_write: Vec<RemoteWriteConfig>,
    /// Rule files: not allowed in agent mode (must be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_files: Vec<String>,
    /// Alerting: allowed only when empty, as in Prometheus' agent mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<AlertingConfig>,
    /// Remote read: not allowed in agent mode (must be empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote_read: Vec<serde_yaml_ng::Value>,
    /// TSDB and exemplar storage settings: accepted, ignored (with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<serde_yaml_ng::Value>,
    /// Tracing settings: accepted, ignored (with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracing: Option<serde_yaml_ng::Value>,
    /// Go runtime settings: accepted, ignored (with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<serde_yaml_ng::Value>,
    /// OTLP receiver settings: accepted, ignored (with a warning).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<serde_yaml_ng::Value>,
    /// shoal extension: jobs generated from Prometheus Operator objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus_operator: Option<super::OperatorConfig>,
    /// Things the loader accepted but shoal does not act on, one sentence each.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

/// `alerting`: an agent accepts the section only without alertmanagers and rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingConfig {
    /// Must be empty.
    #[serde(default)]
    pub alert_relabel_configs: Vec<serde_yaml_ng::Value>,
    /// Must be empty.
    #[serde(default)]
    pub alertmanagers: Vec<serde_yaml_ng::Value>,
}

/// The `global` section.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalConfig {
    /// Default scrape interval (Prometheus: 1m).
    #[serde(default = "default_scrape_interval")]
    pub scrape_interval: PromDuration,
    /// Default scrape timeout (Prometheus: 10s, capped at the interval).
    #[serde(default)]
    pub scrape_timeout: Option<PromDuration>,
    /// Accepted for compatibility; rules are not evaluated by an agent.
    #[serde(default)]
    pub evaluation_interval: Option<PromDuration>,
    /// Accepted for compatibility; rules are not evaluated by an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_query_offset: Option<PromDuration>,
    /// Accepted for compatibility; an agent runs no queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_log_file: Option<String>,
    /// Accepted, ignored with a warning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_failure_log_file: Option<String>,
    /// Labels added to every series sent by remote write (unless the series has them).
    /// `${VAR}` references are expanded from the environment at load, as Prometheus does.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// Default `body_size_limit` for every job.
    #[serde(default)]
    pub body_size_limit: Option<ByteSize>,
    /// Default `sample_limit` for every job (0 = none).
    #[serde(default)]
    pub sample_limit: Option<u64>,
    /// Default `label_limit` for every job (0 = none).
    #[serde(default)]
    pub label_limit: Option<u64>,
    /// Default `label_name_length_limit` (0 = none).
    #[serde(default)]
    pub label_name_length_limit: Option<u64>,
    /// Default `label_value_length_limit` (0 = none).
    #[serde(default)]
    pub label_value_length_limit: Option<u64>,
    /// Default `target_limit` (0 = none).
    #[serde(default)]
    pub target_limit: Option<u64>,
    /// Default `keep_dropped_targets` (0 = none).
    #[serde(default)]
    pub keep_dropped_targets: Option<u64>,
    /// Default `scrape_protocols`.
    #[serde(default)]
    pub scrape_protocols: Option<Vec<String>>,
    /// `utf8` (default) or `legacy`: which label names are valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name_validation_scheme: Option<String>,
    /// Accepted for compatibility (escaping requested from targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name_escaping_scheme: Option<String>,
    /// Accepted, ignored with a warning when true: shoal does not scrape native histograms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scrape_native_histograms: Option<bool>,
    /// Accepted, ignored with a warning when true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert_classic_histograms_to_nhcb: Option<bool>,
    /// Accepted for compatibility.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub always_scrape_classic_histograms: Option<bool>,
    /// Accepted, ignored with a warning when true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_scrape_metrics: Option<bool>,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        GlobalConfig {
            scrape_interval: default_scrape_interval(),
            scrape_timeout: None,
            evaluation_interval: None,
            rule_query_offset: None,
            query_log_file: None,
            scrape_failure_log_file: None,
            external_labels: BTreeMap::new(),
            body_size_limit: None,
            sample_limit: None,
            label_limit: None,
            label_name_length_limit: None,
            label_value_length_limit: None,
            target_limit: None,
            keep_dropped_targets: None,
            scrape_protocols: None,
            metric_name_validation_scheme: None,
            metric_name_escaping_scheme: None,
            scrape_native_histograms: None,
            convert_classic_histograms_to_nhcb: None,
            always_scrape_classic_histograms: None,
            extra_scrape_metrics: None,
        }
    }
}

impl GlobalConfig {
    /// Whether label names follow the legacy `[a-zA-Z_][a-zA-Z0-9_]*` rule (else any UTF-8).
    pub fn legacy_label_names(&self) -> bool {
        self.metric_name_validation_scheme.as_deref() == Some("legacy")
    }
}

pub(crate) fn default_scrape_interval() -> PromDuration {
    PromDuration(Duration::from_secs(60))
}

with_http_client! {
    /// One `scrape_configs` entry (a job).
    pub struct ScrapeConfig via RawScrapeConfig = "RawScrapeConfig" {
        /// Job name; unique across the file; the `job` label's default value.
        #[serde(default)]
        pub job_name: String,
        /// Falls back to `global.scrape_interval`.
        #[serde(default)]
        pub scrape_interval: Option<PromDuration>,
        /// Falls back to `global.scrape_timeout`, capped at the interval.
        #[serde(default)]
        pub scrape_timeout: Option<PromDuration>,
        /// Accept-header preference, e.g. `[OpenMetricsText1.0.0, PrometheusText0.0.4]`.
        #[serde(default)]
        pub scrape_protocols: Option<Vec<String>>,
        /// Protocol assumed when the target's Content-Type is missing or unknown.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub fallback_scrape_protocol: Option<String>,
        /// Default `/metrics`.
        #[serde(default)]
        pub metrics_path: Option<String>,
        /// `http` (default) or `https`.
        #[serde(default)]
        pub scheme: Option<String>,
        /// URL query parameters sent with every scrape.
        #[serde(default)]
        pub params: BTreeMap<String, Vec<String>>,
        /// Keep the target's own labels on clash (default false: rename to `exported_*`).
        #[serde(default)]
        pub honor_labels: bool,
        /// Use timestamps the target exposes (default true).
        #[serde(default)]
        pub honor_timestamps: Option<bool>,
        /// Accepted; shoal always aligns to its slot grid.
        #[serde(default)]
        pub track_timestamps_staleness: Option<bool>,
        /// Fail the scrape above this many samples after metric relabeling (0 = none).
        #[serde(default)]
        pub sample_limit: Option<u64>,
        /// Fail the scrape when a series has more labels than this (0 = none).
        #[serde(default)]
        pub label_limit: Option<u64>,
        /// Fail the scrape when a label name is longer than this (0 = none).
        #[serde(default)]
        pub label_name_length_limit: Option<u64>,
        /// Fail the scrape when a label value is longer than this (0 = none).
        #[serde(default)]
        pub label_value_length_limit: Option<u64>,
        /// Fail the scrape when the uncompressed body is larger than this (0 = none).
        #[serde(default)]
        pub body_size_limit: Option<ByteSize>,
        /// Keep at most this many targets after relabeling (0 = none).
        #[serde(default)]
        pub target_limit: Option<u64>,
        /// Keep at most this many dropped targets for the targets API (0 = all).
        #[serde(default)]
        pub keep_dropped_targets: Option<u64>,
        /// Request compressed responses (default true).
        #[serde(default)]
        pub enable_compression: Option<bool>,
        /// Accepted, ignored with a warning when true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub scrape_native_histograms: Option<bool>,
        /// Accepted for compatibility.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub always_scrape_classic_histograms: Option<bool>,
        /// Accepted, ignored with a warning when true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub convert_classic_histograms_to_nhcb: Option<bool>,
        /// Accepted for compatibility (native histograms are not scraped).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub native_histogram_bucket_limit: Option<u64>,
        /// Accepted for compatibility (native histograms are not scraped).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub native_histogram_min_bucket_factor: Option<f64>,
        /// Accepted, ignored with a warning.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub scrape_failure_log_file: Option<String>,
        /// `utf8` or `legacy` (default: the global one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub metric_name_validation_scheme: Option<String>,
        /// Accepted for compatibility.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub metric_name_escaping_scheme: Option<String>,
        /// Accepted, ignored with a warning when true.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub extra_scrape_metrics: Option<bool>,
        /// Static target groups.
        #[serde(default)]
        pub static_configs: Vec<StaticConfig>,
        /// File-based discovery.
        #[serde(default)]
        pub file_sd_configs: Vec<FileSdConfig>,
        /// HTTP-based discovery.
        #[serde(default)]
        pub http_sd_configs: Vec<HttpSdConfig>,
        /// Kubernetes discovery.
        #[serde(default)]
        pub kubernetes_sd_configs: Vec<super::KubernetesSdConfig>,
        /// DNS discovery (kept as raw YAML until the dns provider exists).
        #[serde(default)]
        pub dns_sd_configs: Vec<serde_yaml_ng::Value>,
        /// Target relabeling.
        #[serde(default)]
        pub relabel_configs: Vec<RelabelConfig>,
        /// Relabeling of scraped series before they are stored.
        #[serde(default)]
        pub metric_relabel_configs: Vec<RelabelConfig>,
    }
    unsupported {
        oauth2, http_headers, proxy_connect_header,
        azure_sd_configs, consul_sd_configs, digitalocean_sd_configs, docker_sd_configs,
        dockerswarm_sd_configs, ec2_sd_configs, eureka_sd_configs, gce_sd_configs,
        hetzner_sd_configs, ionos_sd_configs, kuma_sd_configs, lightsail_sd_configs,
        linode_sd_configs, marathon_sd_configs, nerve_sd_configs, nomad_sd_configs,
        openstack_sd_configs, ovhcloud_sd_configs, puppetdb_sd_configs, scaleway_sd_configs,
        serverset_sd_configs, stackit_sd_configs, triton_sd_configs, uyuni_sd_configs,
        vultr_sd_configs,
    }
}

impl ScrapeConfig {
    /// Scrape interval (the loader copies `global.scrape_interval` into unset fields).
    pub fn interval(&self) -> Duration {
        self.scrape_interval
            .map_or(default_scrape_interval().0, |d| d.0)
    }
    /// Scrape timeout: the configured one (default 10s), never above the interval.
    pub fn timeout(&self) -> Duration {
        let t = self.scrape_timeout.map_or(Duration::from_secs(10), |d| d.0);
        t.min(self.interval())
    }
    /// Path scraped when `__metrics_path__` is not relabeled (default `/metrics`).
    pub fn metrics_path(&self) -> &str {
        self.metrics_path.as_deref().unwrap_or("/metrics")
    }
    /// `http` or `https` (default `http`).
    pub fn scheme(&self) -> &str {
        self.scheme.as_deref().unwrap_or("http")
    }
    /// Whether exposed timestamps are kept (default true).
    pub fn honor_timestamps(&self) -> bool {
        self.honor_timestamps.unwrap_or(true)
    }
    /// Body size limit in bytes; 0 means none.
    pub fn body_size_limit(&self) -> u64 {
        self.body_size_limit.map_or(0, |b| b.0)
    }
    /// Sample limit; 0 means none.
    pub fn sample_limit(&self) -> u64 {
        self.sample_limit.unwrap_or(0)
    }
    /// Accept-header preference, most wanted first (default: Prometheus' list).
    pub fn scrape_protocols(&self) -> Vec<String> {
        self.scrape_protocols
            .clone()
            .unwrap_or_else(super::validate::default_scrape_protocols)
    }
    /// Whether compressed responses are requested (default true).
    pub fn enable_compression(&self) -> bool {
        self.enable_compression.unwrap_or(true)
    }
}

/// `static_configs` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticConfig {
    /// `host:port` addresses.
    #[serde(default)]
    pub targets: Vec<String>,
    /// Labels attached to every target of the group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `file_sd_configs` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    /// Paths or globs of `.json`, `.yml`, `.yaml` files (resolved against the config file's
    /// directory by the loader).
    pub files: Vec<String>,
    /// Re-read interval (default 5m); files are also watched.
    #[serde(default)]
    pub refresh_interval: Option<PromDuration>,
}

with_http_client! {
    /// `http_sd_configs` entry.
    pub struct HttpSdConfig via RawHttpSdConfig = "RawHttpSdConfig" {
        /// URL returning Prometheus' HTTP SD JSON (its password is redacted when shown).
        #[serde(default, serialize_with = "crate::config::values::serialize_url")]
        pub url: String,
        /// Re-fetch interval (default 1m).
        #[serde(default)]
        pub refresh_interval: Option<PromDuration>,
    }
    unsupported { oauth2, http_headers, proxy_connect_header }
}

with_http_client! {
    /// One `remote_write` entry.
    pub struct RemoteWriteConfig via RawRemoteWriteConfig = "RawRemoteWriteConfig" {
        /// Receiver URL (its password is redacted when shown).
        #[serde(default, serialize_with = "crate::config::values::serialize_url")]
        pub url: String,
        /// Optional name (metrics and logs); unique among named endpoints.
        #[serde(default)]
        pub name: Option<String>,
        /// Per-request timeout (default 30s).
        #[serde(default)]
        pub remote_timeout: Option<PromDuration>,
        /// Extra HTTP headers.
        #[serde(default)]
        pub headers: BTreeMap<String, String>,
        /// Relabeling applied to each series before it is sent to this endpoint.
        #[serde(default)]
        pub write_relabel_configs: Vec<RelabelConfig>,
        /// Protobuf message to send; only `prometheus.WriteRequest` (1.0) is supported.
        #[serde(default)]
        pub protobuf_message: Option<String>,
        /// Accepted for compatibility; exemplars are not sent.
        #[serde(default)]
        pub send_exemplars: Option<bool>,
        /// Accepted for compatibility; native histograms are not sent.
        #[serde(default)]
        pub send_native_histograms: Option<bool>,
        /// Accepted for compatibility.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub round_robin_dns: Option<bool>,
        /// Queue tuning.
        #[serde(default)]
        pub queue_config: QueueConfig,
        /// Accepted for compatibility; metadata is not sent.
        #[serde(default)]
        pub metadata_config: Option<MetadataConfig>,
    }
    unsupported { oauth2, http_headers, proxy_connect_header, sigv4, azuread, google_iam }
}

impl RemoteWriteConfig {
    /// Per-request timeout (default 30s).
    pub fn remote_timeout(&self) -> Duration {
        self.remote_timeout.map_or(Duration::from_secs(30), |d| d.0)
    }
}

/// `metadata_config` of a remote write endpoint (accepted; shoal sends no metadata).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataConfig {
    /// Whether metadata would be sent.
    #[serde(default)]
    pub send: Option<bool>,
    /// How often metadata would be sent.
    #[serde(default)]
    pub send_interval: Option<PromDuration>,
    /// Metadata entries per request.
    #[serde(default)]
    pub max_samples_per_send: Option<u64>,
}

/// `queue_config`, with Prometheus' names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// Samples buffered per shard (default 10000).
    #[serde(default = "d_capacity")]
    pub capacity: usize,
    /// Upper bound on parallel senders (default 50).
    #[serde(default = "d_max_shards")]
    pub max_shards: usize,
    /// Lower bound on parallel senders (default 1).
    #[serde(default = "d_min_shards")]
    pub min_shards: usize,
    /// Samples per request (default 2000).
    #[serde(default = "d_max_samples")]
    pub max_samples_per_send: usize,
    /// Send a partial batch after this long (default 5s).
    #[serde(default = "d_deadline")]
    pub batch_send_deadline: PromDuration,
    /// First retry delay (default 30ms).
    #[serde(default = "d_min_backoff")]
    pub min_backoff: PromDuration,
    /// Retry delay cap (default 5s).
    #[serde(default = "d_max_backoff")]
    pub max_backoff: PromDuration,
    /// Retry on 429 (default false: 429 is dropped like other 4xx).
    #[serde(default)]
    pub retry_on_http_429: bool,
    /// Accepted for compatibility (Prometheus: sample_age_limit, 0 = none).
    #[serde(default)]
    pub sample_age_limit: Option<PromDuration>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            capacity: d_capacity(),
            max_shards: d_max_shards(),
            min_shards: d_min_shards(),
            max_samples_per_send: d_max_samples(),
            batch_send_deadline: d_deadline(),
            min_backoff: d_min_backoff(),
            max_backoff: d_max_backoff(),
            retry_on_http_429: false,
            sample_age_limit: None,
        }
    }
}

fn d_capacity() -> usize {
    10_000
}
fn d_max_shards() -> usize {
    50
}
fn d_min_shards() -> usize {
    1
}
fn d_max_samples() -> usize {
    2_000
}
fn d_deadline() -> PromDuration {
    PromDuration(Duration::from_secs(5))
}
fn d_min_backoff() -> PromDuration {
    PromDuration(Duration::from_millis(30))
}
fn d_max_backoff() -> PromDuration {
    PromDuration(Duration::from_secs(5))
}
