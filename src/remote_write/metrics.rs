//! Self-metrics of remote write, labelled by endpoint.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Identifies an endpoint in metrics: its URL and its configured name (empty if unset).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// Receiver URL.
    pub url: String,
    /// `remote_write[].name`, empty when not configured.
    pub name: String,
}

/// Why samples were not delivered.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum DropReason {
    /// The shard's queue was full when the sample was appended.
    queue_full,
    /// The receiver answered 4xx (other than a retried 429).
    http_4xx,
    /// Still queued or being retried when shutdown's timeout elapsed.
    shutdown,
    /// Dropped by `write_relabel_configs`.
    relabel,
    /// The request could not be encoded.
    encode,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DroppedLabels {
    url: String,
    name: String,
    reason: DropReason,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    url: String,
    name: String,
    /// HTTP status code, or `error` for network errors and timeouts.
    code: String,
}

/// Remote-write metrics shared by every queue (Arc-based, cheap to clone).
#[derive(Clone, Debug)]
pub struct RemoteWriteMetrics {
    samples_sent: Family<EndpointLabels, Counter>,
    samples_failed: Family<EndpointLabels, Counter>,
    samples_retried: Family<EndpointLabels, Counter>,
    samples_dropped: Family<DroppedLabels, Counter>,
    requests: Family<RequestLabels, Counter>,
    bytes_sent: Family<EndpointLabels, Counter>,
    queue_length: Family<EndpointLabels, Gauge>,
    shards: Family<EndpointLabels, Gauge>,
    desired_shards: Family<EndpointLabels, Gauge<f64, AtomicU64>>,
    highest_sent: Family<EndpointLabels, Gauge<f64, AtomicU64>>,
    send_duration: Family<EndpointLabels, Histogram>,
}

impl RemoteWriteMetrics {
    /// Registers the metrics under `shoal_remote_write_*`.
    pub fn new(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        let r = registry.sub_registry_with_prefix("shoal_remote_write");
        r.register(
            "samples_sent",
            "Samples accepted by the receiver",
            m.samples_sent.clone(),
        );
        r.register(
            "samples_failed",
            "Samples in requests that failed with a non-recoverable error",
            m.samples_failed.clone(),
        );
        r.register(
            "samples_retried",
            "Samples in requests retried after a recoverable error",
            m.samples_retried.clone(),
        );
        r.register(
            "samples_dropped",
            "Samples never delivered, by reason",
            m.samples_dropped.clone(),
        );
        r.register(
            "requests",
            "Requests sent, by HTTP status code",
            m.requests.clone(),
        );
        r.register(
            "sent_bytes",
            "Compressed request bytes sent",
            m.bytes_sent.clone(),
        );
        r.register(
            "queue_length",
            "Samples waiting in the shards' queues",
            m.queue_length.clone(),
        );
        r.register("shards", "Running shards", m.shards.clone());
        r.register(
            "shards_desired",
            "Shards the observed throughput and send latency call for (before hysteresis and bounds)",
            m.desired_shards.clone(),
        );
        r.register(
            "highest_sent_timestamp_seconds",
            "Highest sample timestamp accepted by the receiver",
            m.highest_sent.clone(),
        );
        r.register(
            "send_duration_seconds",
            "Duration of one request attempt",
            m.send_duration.clone(),
        );
        m
    }

    /// Metrics not registered anywhere (tests, benches).
    pub fn unregistered() -> Self {
        Self {
            samples_sent: Family::default(),
            samples_failed: Family::default(),
            samples_retried: Family::default(),
            samples_dropped: Family::default(),
            requests: Family::default(),
            bytes_sent: Family::default(),
            queue_length: Family::default(),
            shards: Family::default(),
            desired_shards: Family::default(),
            highest_sent: Family::default(),
            send_duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 14))
            }),
        }
    }

    /// The metrics of one endpoint.
    pub(crate) fn endpoint(&self, labels: EndpointLabels) -> EndpointMetrics {
        let dropped = |reason| {
            self.samples_dropped
                .get_or_create(&DroppedLabels {
                    url: labels.url.clone(),
                    name: labels.name.clone(),
                    reason,
                })
                .clone()
        };
        EndpointMetrics {
            samples_sent: self.samples_sent.get_or_create(&labels).clone(),
            samples_failed: self.samples_failed.get_or_create(&labels).clone(),
            samples_retried: self.samples_retried.get_or_create(&labels).clone(),
            dropped_queue_full: dropped(DropReason::queue_full),
            dropped_http_4xx: dropped(DropReason::http_4xx),
            dropped_shutdown: dropped(DropReason::shutdown),
            dropped_relabel: dropped(DropReason::relabel),
            dropped_encode: dropped(DropReason::encode),
            bytes_sent: self.bytes_sent.get_or_create(&labels).clone(),
            queue_length: self.queue_length.get_or_create(&labels).clone(),
            shards: self.shards.get_or_create(&labels).clone(),
            desired_shards: self.desired_shards.get_or_create(&labels).clone(),
            send_nanos: std::sync::Arc::new(AtomicU64::new(0)),
            highest_sent: self.highest_sent.get_or_create(&labels).clone(),
            highest_sent_ms: std::sync::Arc::new(AtomicI64::new(i64::MIN)),
            send_duration: self.send_duration.get_or_create(&labels).clone(),
            requests: self.requests.clone(),
            labels,
        }
    }
}

/// One endpoint's metric handles, resolved once so the hot path does no label lookups.
#[derive(Clone, Debug)]
pub(crate) struct EndpointMetrics {
    pub samples_sent: Counter,
    pub samples_failed: Counter,
    pub samples_retried: Counter,
    pub dropped_queue_full: Counter,
    pub dropped_http_4xx: Counter,
    pub dropped_shutdown: Counter,
    pub dropped_relabel: Counter,
    pub dropped_encode: Counter,
    pub bytes_sent: Counter,
    pub queue_length: Gauge,
    pub shards: Gauge,
    pub desired_shards: Gauge<f64, AtomicU64>,
    /// Time spent in request attempts, summed (resharding reads it).
    pub send_nanos: std::sync::Arc<AtomicU64>,
    highest_sent: Gauge<f64, AtomicU64>,
    highest_sent_ms: std::sync::Arc<AtomicI64>,
    pub send_duration: Histogram,
    requests: Family<RequestLabels, Counter>,
    labels: EndpointLabels,
}

impl EndpointMetrics {
    /// Counts one request attempt by status code (`None`: no response).
    pub fn request(&self, status: Option<u16>) {
        let code = status.map_or_else(|| "error".to_owned(), |s| s.to_string());
        self.requests
            .get_or_create(&RequestLabels {
                url: self.labels.url.clone(),
                name: self.labels.name.clone(),
                code,
            })
            .inc();
    }

    /// Highest sample timestamp accepted so far, ms (`i64::MIN` before the first).
    pub fn highest_sent_ms(&self) -> i64 {
        self.highest_sent_ms
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Raises the highest-sent-timestamp gauge to `ts_ms` if it is higher.
    pub fn sent_timestamp(&self, ts_ms: i64) {
        let prev = self
            .highest_sent_ms
            .fetch_max(ts_ms, std::sync::atomic::Ordering::Relaxed);
        if ts_ms > prev {
            self.highest_sent.set(ts_ms as f64 / 1000.0);
        }
    }
}
