//! A decoding remote-write receiver that records every sample (tests and the demo).
//!
//! Serves `POST /api/v1/write`, checks the remote write 1.0 headers, snappy (block) and
//! protobuf decodes the body, and records each sample of an accepted request (with its
//! labels exactly as they came on the wire) and the headers of every request. Behaviour
//! is programmable: a sequence of responses (errors, 429 with `Retry-After`, hangs) and a
//! random delay per request.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use prost::Message;
use rand::Rng;
use tokio::sync::watch;

use crate::remote_write::proto::WriteRequest;

/// Path the receiver serves.
pub const WRITE_PATH: &str = "/api/v1/write";

/// One recorded sample.
#[derive(Clone, Debug, PartialEq)]
pub struct ReceivedSample {
    /// Labels as sent (name → value); a repeated name keeps its last value.
    pub labels: BTreeMap<String, String>,
    /// Labels exactly as sent: wire order, repeated names and empty values kept, so that
    /// checks on order and uniqueness see what the sender did.
    pub wire_labels: Vec<(String, String)>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    /// Value.
    pub value: f64,
}

/// What the receiver answers to one well-formed request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// 204, and the samples are recorded.
    Accept,
    /// This status with this body; samples are not recorded.
    Status(u16, String),
    /// 429 with this `Retry-After` header value; samples are not recorded.
    TooManyRequests(String),
    /// Never answer (the client must time out).
    Hang,
}

#[derive(Default)]
struct Recorded {
    samples: Vec<ReceivedSample>,
    headers: Vec<HeaderMap>,
    requests: usize,
    rejected_malformed: usize,
    /// Samples of each well-formed request answered with an error, one entry per request.
    rejected: Vec<Vec<ReceivedSample>>,
}

struct Shared {
    recorded: Mutex<Recorded>,
    replies: Mutex<VecDeque<Reply>>,
    delay: Mutex<Option<Range<Duration>>>,
    /// Requests holding a sample with this label (name, value) get 503 (see
    /// [`Receiver::reject_label`]).
    reject_label: Mutex<Option<(String, String)>>,
    /// Total samples recorded, for waiting without sleeps.
    count: watch::Sender<usize>,
}

impl Shared {
    fn lock_recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Binds `addr` (use `127.0.0.1:0` for a free port) and serves in the background.
    pub async fn start(addr: SocketAddr) -> std::io::Result<Receiver> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            recorded: Mutex::default(),
            replies: Mutex::default(),
            delay: Mutex::default(),
            reject_label: Mutex::default(),
            count: watch::Sender::new(0),
        });
        let app = Router::new()
            .route(WRITE_PATH, post(write))
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "receiver stopped");
            }
        });
        Ok(Receiver {
            addr,
            shared,
            server,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The write URL, e.g. `http://127.0.0.1:1234/api/v1/write`.
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, WRITE_PATH)
    }

    /// Answers the next requests with `replies`, in order, then accepts again.
    pub fn push_replies(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared
            .replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(replies);
    }

    /// Forgets the replies not used yet: accepts from the next request on (ends an outage
    /// simulated with many `Status(503, ..)` replies).
    pub fn clear_replies(&self) {
        self.shared
            .replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Answers 503 to every request holding a sample with label `name="value"` (None:
    /// none), before the programmed replies: one series' sender fails while others go on.
    pub fn reject_label(&self, label: Option<(&str, &str)>) {
        *self
            .shared
            .reject_label
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = label.map(|(n, v)| (n.to_owned(), v.to_owned()));
    }

    /// Delays every request by a uniformly random duration in `range` (None: no delay).
    pub fn set_delay(&self, range: Option<Range<Duration>>) {
        *self.shared.delay.lock().unwrap_or_else(|e| e.into_inner()) = range;
    }

    /// Every recorded sample, in arrival order.
    pub fn samples(&self) -> Vec<ReceivedSample> {
        self.shared.lock_recorded().samples.clone()
    }

    /// Removes and returns the samples recorded so far, in arrival order (a long-running
    /// reader such as `shoal demo` keeps memory bounded this way; [`Receiver::samples`]
    /// then sees only what arrived since, and [`Receiver::wait_for_samples`] counts only
    /// what is still held).
    pub fn take_samples(&self) -> Vec<ReceivedSample> {
        std::mem::take(&mut self.shared.lock_recorded().samples)
    }

    /// Recorded (timestamp, value) of the series with exactly these labels.
    pub fn series(&self, labels: &BTreeMap<String, String>) -> Vec<(i64, f64)> {
        self.shared
            .lock_recorded()
            .samples
            .iter()
            .filter(|s| &s.labels == labels)
            .map(|s| (s.timestamp, s.value))
            .collect()
    }

    /// Headers of every request (well-formed or not, whatever the reply), in arrival order.
    pub fn headers(&self) -> Vec<HeaderMap> {
        self.shared.lock_recorded().headers.clone()
    }

    /// Requests received (well-formed or not, whatever the reply).
    pub fn request_count(&self) -> usize {
        self.shared.lock_recorded().requests
    }

    /// The samples of each well-formed request that was answered with an error status
    /// (not recorded as accepted), one entry per request in arrival order.
    pub fn rejected_requests(&self) -> Vec<Vec<ReceivedSample>> {
        self.shared.lock_recorded().rejected.clone()
    }

    /// Requests refused with 400 because headers or body were malformed.
    pub fn malformed_count(&self) -> usize {
        self.shared.lock_recorded().rejected_malformed
    }

    /// Waits until at least `n` samples are recorded; false if `timeout` elapses first.
    pub async fn wait_for_samples(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.count.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn write(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    {
        let mut rec = shared.lock_recorded();
        rec.requests += 1;
        rec.headers.push(headers.clone());
    }
    let delay = shared
        .delay
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    if let Some(r) = delay.filter(|r| !r.is_empty()) {
        let d = rand::rng().random_range(r);
        tokio::time::sleep(d).await;
    }
    let req = match decode(&headers, &body) {
        Ok(r) => r,
        Err(msg) => {
            shared.lock_recorded().rejected_malformed += 1;
            return (StatusCode::BAD_REQUEST, msg).into_response();
        }
    };
    let samples = flatten(req);
    let rejected = shared
        .reject_label
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .is_some_and(|(n, v)| samples.iter().any(|s| s.labels.get(n) == Some(v)));
    let reply = if rejected {
        Reply::Status(503, "label rejected".into())
    } else {
        shared
            .replies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
            .unwrap_or(Reply::Accept)
    };
    if !matches!(reply, Reply::Accept | Reply::Hang) {
        shared.lock_recorded().rejected.push(samples.clone());
    }
    match reply {
        Reply::Accept => {
            let total = {
                let mut rec = shared.lock_recorded();
                rec.samples.extend(samples);
                rec.samples.len()
            };
            shared.count.send_replace(total);
            StatusCode::NO_CONTENT.into_response()
        }
        Reply::Status(code, msg) => {
            let code = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            (code, msg).into_response()
        }
        Reply::TooManyRequests(retry_after) => (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, retry_after)],
            "slow down",
        )
            .into_response(),
        Reply::Hang => std::future::pending().await,
    }
}

/// One [`ReceivedSample`] per sample of `req`, in request order.
fn flatten(req: WriteRequest) -> Vec<ReceivedSample> {
    let mut out = Vec::new();
    for ts in req.timeseries {
        let wire_labels: Vec<(String, String)> =
            ts.labels.into_iter().map(|l| (l.name, l.value)).collect();
        let labels: BTreeMap<String, String> = wire_labels.iter().cloned().collect();
        for s in ts.samples {
            out.push(ReceivedSample {
                labels: labels.clone(),
                wire_labels: wire_labels.clone(),
                timestamp: s.timestamp,
                value: s.value,
            });
        }
    }
    out
}

/// Checks the protocol headers and decodes the body; the error is the 400 message.
fn decode(headers: &HeaderMap, body: &[u8]) -> Result<WriteRequest, String> {
    let expect = [
        ("content-encoding", "snappy"),
        ("content-type", "application/x-protobuf"),
        ("x-prometheus-remote-write-version", "0.1.0"),
    ];
    for (name, want) in expect {
        let got = headers.get(name).and_then(|v| v.to_str().ok());
        if got != Some(want) {
            return Err(format!("header {name}: want {want:?}, got {got:?}"));
        }
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| format!("snappy decode: {e}"))?;
    WriteRequest::decode(raw.as_slice()).map_err(|e| format!("protobuf decode: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    type Headers<'a> = &'a [(&'a str, &'a str)];

    #[tokio::test]
    async fn malformed_requests_get_400_with_a_message() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = Receiver::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let client = reqwest::Client::new();
        let good_headers = [
            ("content-encoding", "snappy"),
            ("content-type", "application/x-protobuf"),
            ("x-prometheus-remote-write-version", "0.1.0"),
        ];
        let valid = snap::raw::Encoder::new()
            .compress_vec(&WriteRequest::default().encode_to_vec())
            .unwrap();
        let cases: &[(&str, Headers, Vec<u8>, u16, &str)] = &[
            ("no headers", &[], valid.clone(), 400, "content-encoding"),
            (
                "not snappy",
                &good_headers,
                b"garbage".to_vec(),
                400,
                "snappy",
            ),
            (
                "not protobuf",
                &good_headers,
                snap::raw::Encoder::new().compress_vec(b"\xff\xff").unwrap(),
                400,
                "protobuf",
            ),
            ("valid", &good_headers, valid, 204, ""),
        ];
        for (name, headers, body, status, msg) in cases {
            let mut req = client.post(r.url()).body(body.clone());
            for (n, v) in *headers {
                req = req.header(*n, *v);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status().as_u16(), *status, "{name}");
            assert!(resp.text().await.unwrap().contains(msg), "{name}");
        }
        assert_eq!(r.malformed_count(), 3);
        assert_eq!(r.request_count(), 4);
        // Headers are recorded for rejected requests too.
        assert_eq!(r.headers().len(), 4);
        assert!(r.headers()[0].get("content-encoding").is_none());
    }

    #[tokio::test]
    async fn records_labels_in_wire_order_with_repeats() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let r = Receiver::start("127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let label = |n: &str, v: &str| crate::remote_write::proto::Label {
            name: n.into(),
            value: v.into(),
        };
        let req = WriteRequest {
            timeseries: vec![crate::remote_write::proto::TimeSeries {
                labels: vec![label("b", "2"), label("a", "1"), label("a", "")],
                samples: vec![crate::remote_write::proto::Sample {
                    value: 1.0,
                    timestamp: 5,
                }],
            }],
            ..Default::default()
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&req.encode_to_vec())
            .unwrap();
        let resp = reqwest::Client::new()
            .post(r.url())
            .header("content-encoding", "snappy")
            .header("content-type", "application/x-protobuf")
            .header("x-prometheus-remote-write-version", "0.1.0")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 204);
        let got = r.samples();
        assert_eq!(got.len(), 1);
        let pairs: Vec<(&str, &str)> = got[0]
            .wire_labels
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(pairs, [("b", "2"), ("a", "1"), ("a", "")]);
        assert_eq!(got[0].labels.len(), 2);
    }
}
