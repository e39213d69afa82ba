//! Sends one compressed `WriteRequest` and classifies the outcome (retry or drop), as
//! Prometheus' `storage/remote/client.go` does.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::StatusCode;

use super::backoff::parse_retry_after;
use crate::config::{RESERVED_HEADERS, RemoteWriteConfig, redact_url};
use crate::http_client::{ClientOptions, HttpClient, default_user_agent, error_chain};

/// Longest excerpt of an error response body kept for logs.
const MAX_ERROR_BODY: usize = 1024;
/// Most of a success response read to let the connection be reused; a receiver sending
/// more gets its connection dropped instead (receivers answer 204 with no body).
const MAX_DRAIN: usize = 64 << 10;

/// A configuration the client cannot be built from.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `url` is not an absolute http(s) URL.
    #[error("invalid remote write url {url:?}: {reason}")]
    Url {
        /// The configured URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A configured header has an invalid or reserved name, or an invalid value.
    #[error("invalid remote write header {name:?}: {reason}")]
    Header {
        /// The header name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// TLS, auth or proxy settings the HTTP client refused.
    #[error("remote write HTTP client: {0}")]
    Http(#[from] crate::http_client::HttpClientError),
}

/// Outcome of a failed attempt, shaped by what the shard does next.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Retry later (5xx, 429 when allowed, network error, timeout).
    #[error("recoverable: {reason}")]
    Recoverable {
        /// HTTP status, if a response came back.
        status: Option<u16>,
        /// The server's `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// What happened.
        reason: String,
    },
    /// Drop the batch: the receiver will not accept it.
    #[error("non-recoverable: HTTP {status}: {body}")]
    NonRecoverable {
        /// HTTP status.
        status: u16,
        /// Start of the response body.
        body: String,
    },
}

impl SendError {
    /// The HTTP status of the attempt, if a response came back.
    pub fn status(&self) -> Option<u16> {
        match self {
            SendError::Recoverable { status, .. } => *status,
            SendError::NonRecoverable { status, .. } => Some(*status),
        }
    }
}

/// The client an endpoint's shards send with. A reload that changes only credentials
/// replaces it; the queue, its shards and its WAL position stay.
#[derive(Debug)]
pub(crate) struct SharedClient(std::sync::RwLock<std::sync::Arc<WriteClient>>);

impl SharedClient {
    /// Shares `client`.
    pub fn new(client: WriteClient) -> Self {
        SharedClient(std::sync::RwLock::new(std::sync::Arc::new(client)))
    }

    /// The client for the next send.
    pub fn get(&self) -> std::sync::Arc<WriteClient> {
        std::sync::Arc::clone(&self.0.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Sends from now on go through `client` (sends in flight finish with the old one).
    pub fn set(&self, client: WriteClient) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(client);
    }
}

/// An HTTP client bound to one remote-write endpoint.
#[derive(Debug, Clone)]
pub struct WriteClient {
    http: HttpClient,
    url: reqwest::Url,
    headers: HeaderMap,
    timeout: Duration,
    retry_on_429: bool,
}

impl WriteClient {
    /// Builds the client for `cfg`; validates the URL and headers.
    pub fn new(cfg: &RemoteWriteConfig) -> Result<Self, ClientError> {
        let url = reqwest::Url::parse(&cfg.url).map_err(|e| ClientError::Url {
            url: redact_url(&cfg.url),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::Url {
                url: redact_url(&cfg.url),
                reason: format!("scheme {:?} is not http or https", url.scheme()),
            });
        }
        Ok(Self {
            http: HttpClient::new(
                &cfg.http,
                ClientOptions {
                    // `store` bounds the whole attempt with remote_timeout itself.
                    timeout: None,
                    connect_timeout: None,
                    user_agent: default_user_agent(),
                    gzip: false,
                    keep_idle_connections: true,
                },
            )?,
            url,
            headers: request_headers(&cfg.headers)?,
            timeout: cfg.remote_timeout.map_or(Duration::from_secs(30), |d| d.0),
            retry_on_429: cfg.queue_config.retry_on_http_429,
        })
    }

    /// Sends one snappy-compressed `WriteRequest`; the whole attempt is bounded by
    /// `remote_timeout`.
    /// Returns the (2xx) status on success.
    pub async fn store(&self, body: Bytes) -> Result<u16, SendError> {
        match tokio::time::timeout(self.timeout, self.attempt(body)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Recoverable {
                status: None,
                retry_after: None,
                reason: format!("timed out after {:?}", self.timeout),
            }),
        }
    }

    async fn attempt(&self, body: Bytes) -> Result<u16, SendError> {
        let network = |e: reqwest::Error| SendError::Recoverable {
            status: None,
            retry_after: None,
            reason: error_chain(&e),
        };
        // An unreadable credentials file may be fixed by the operator: retry.
        let req = self
            .http
            .request(reqwest::Method::POST, self.url.as_str())
            .map_err(|e| SendError::Recoverable {
                status: None,
                retry_after: None,
                reason: e.to_string(),
            })?
            .headers(self.headers.clone())
            .body(body);
        let resp = req.send().await.map_err(network)?;
        let status = resp.status();
        if status.is_success() {
            // Drain a short body so the connection can be reused.
            let _ = read_at_most(resp, MAX_DRAIN).await;
            return Ok(status.as_u16());
        }
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, crate::model::clock::wall_now()));
        let body = body_excerpt(resp).await;
        classify(status, retry_after, body, self.retry_on_429)
    }
}

/// Retry on 5xx (and 429 when allowed); drop on anything else.
fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    body: String,
    retry_on_429: bool,
) -> Result<u16, SendError> {
    if status.is_server_error() || (retry_on_429 && status == StatusCode::TOO_MANY_REQUESTS) {
        Err(SendError::Recoverable {
            status: Some(status.as_u16()),
            retry_after,
            reason: format!("HTTP {status}: {body}"),
        })
    } else {
        Err(SendError::NonRecoverable {
            status: status.as_u16(),
            body,
        })
    }
}

/// The start of an error response's body, never reading more than [`MAX_ERROR_BODY`]
/// (a receiver may send an endless body).
async fn body_excerpt(resp: reqwest::Response) -> String {
    match read_at_most(resp, MAX_ERROR_BODY).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_owned(),
        Err(e) => format!("<reading body failed: {e}>"),
    }
}

/// Up to `limit` bytes of `resp`'s body; the rest is left unread.
async fn read_at_most(mut resp: reqwest::Response, limit: usize) -> reqwest::Result<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < limit {
        let Some(chunk) = resp.chunk().await? else {
            break;
        };
        let take = chunk.len().min(limit - out.len());
        out.extend_from_slice(chunk.get(..take).unwrap_or_default());
    }
    Ok(out)
}

/// The protocol's headers plus the configured ones.
fn request_headers(
    configured: &std::collections::BTreeMap<String, String>,
) -> Result<HeaderMap, ClientError> {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_ENCODING,
        HeaderValue::from_static("snappy"),
    );
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    h.insert(
        HeaderName::from_static("x-prometheus-remote-write-version"),
        HeaderValue::from_static("0.1.0"),
    );
    h.insert(
        http::header::USER_AGENT,
        HeaderValue::from_static(concat!("shoal/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, value) in configured {
        let bad = |reason: String| ClientError::Header {
            name: name.clone(),
            reason,
        };
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| bad(e.to_string()))?;
        if RESERVED_HEADERS.contains(&n.as_str()) {
            return Err(bad("reserved header; it is set by shoal".into()));
        }
        let v = HeaderValue::from_str(value).map_err(|e| bad(e.to_string()))?;
        h.insert(n, v);
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let cases: &[(&str, u16, bool, bool)] = &[
            ("500 retried", 500, false, true),
            ("503 retried", 503, false, true),
            ("400 dropped", 400, false, false),
            ("404 dropped", 404, true, false),
            ("429 dropped by default", 429, false, false),
            ("429 retried when enabled", 429, true, true),
        ];
        for (name, code, on429, recoverable) in cases {
            let st = StatusCode::from_u16(*code).unwrap();
            let r = classify(st, None, "x".into(), *on429);
            assert_eq!(
                matches!(r, Err(SendError::Recoverable { .. })),
                *recoverable,
                "{name}"
            );
        }
    }

    #[test]
    fn reserved_and_invalid_headers_are_refused() {
        let one = |n: &str, v: &str| {
            request_headers(&[(n.to_owned(), v.to_owned())].into_iter().collect())
        };
        assert!(one("X-Scope-OrgID", "tenant").is_ok());
        assert!(matches!(
            one("Content-Type", "x"),
            Err(ClientError::Header { .. })
        ));
        assert!(matches!(
            one("Authorization", "x"),
            Err(ClientError::Header { .. })
        ));
        assert!(matches!(
            one("bad header", "x"),
            Err(ClientError::Header { .. })
        ));
        assert!(matches!(
            one("X-Ok", "a\nb"),
            Err(ClientError::Header { .. })
        ));
    }

    /// A receiver answering 500 with an endless body: the excerpt stops at the limit.
    #[tokio::test]
    async fn endless_error_body_is_read_only_to_the_limit() {
        use axum::body::Body;
        use axum::routing::post;
        let _ = rustls::crypto::ring::default_provider().install_default();
        let endless = || {
            let chunk = bytes::Bytes::from(vec![b'e'; 64 << 10]);
            Body::from_stream(futures::stream::repeat_with(move || {
                Ok::<_, std::io::Error>(chunk.clone())
            }))
        };
        let app = axum::Router::new().route(
            "/w",
            post(move || async move { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, endless()) }),
        );
        let srv = crate::http_client::test_server::serve(app).await;
        let cfg = RemoteWriteConfig {
            url: srv.url("/w"),
            ..RemoteWriteConfig::default()
        };
        let client = WriteClient::new(&cfg).unwrap();
        let err = tokio::time::timeout(Duration::from_secs(10), client.store(Bytes::new()))
            .await
            .expect("bounded read returns");
        match err {
            Err(SendError::Recoverable { reason, .. }) => {
                assert!(reason.len() < MAX_ERROR_BODY + 100, "{}", reason.len());
            }
            other => panic!("{other:?}"),
        }
    }
}
