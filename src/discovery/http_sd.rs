//! `http_sd_configs`: target groups fetched from a URL, as Prometheus' `discovery/http`.
//!
//! A refresh succeeds only on status 200 with `Content-Type: application/json` (optionally
//! `; charset=utf-8`) and a JSON list of `{targets, labels}`. Any failure is logged and
//! counted, and the last good groups stay in effect.

use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::{MissedTickBehavior, interval_at};

use super::target_group::{self, ParseError};
use super::{Cancel, DiscoveryMetrics, Provider, SharedGroups, TargetGroup, share};
use crate::config::{HttpSdConfig, redact_url};
use crate::http_client::{ClientOptions, HttpClient, HttpClientError, default_user_agent};

/// Prometheus' default `refresh_interval` for http_sd.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Largest response accepted: far above any real target list, low enough that a broken
/// or hostile endpoint cannot make shoal allocate without bound.
pub const MAX_BODY_BYTES: usize = 64 << 20;
/// The label naming the URL a group came from.
pub const URL_LABEL: &str = "__meta_url";

/// Why a refresh failed (or the provider could not be built).
#[derive(Debug, thiserror::Error)]
pub enum HttpSdError {
    /// The URL is not an absolute http(s) URL.
    #[error("invalid http_sd url {url:?}: {reason}")]
    InvalidUrl {
        /// The configured URL.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The client could not be built or the request prepared (e.g. a credentials file).
    #[error(transparent)]
    Client(#[from] HttpClientError),
    /// Connection, timeout, or body read failure.
    #[error("request failed: {0}")]
    Request(#[source] reqwest::Error),
    /// A status other than 200.
    #[error("server returned HTTP status {0}")]
    Status(reqwest::StatusCode),
    /// The response is larger than [`MAX_BODY_BYTES`].
    #[error("response larger than {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// Not JSON by its `Content-Type`.
    #[error("unsupported content type {0:?}")]
    ContentType(String),
    /// The body is not a valid list of target groups.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Polls one http_sd URL.
#[derive(Debug)]
pub struct HttpProvider {
    url: String,
    /// `url` without its password: for `__meta_url`, logs and errors.
    shown_url: String,
    client: HttpClient,
    interval: Duration,
    metrics: DiscoveryMetrics,
}

impl HttpProvider {
    /// Builds the client (timeout = refresh interval, as Prometheus).
    pub fn new(cfg: &HttpSdConfig, metrics: DiscoveryMetrics) -> Result<Self, HttpSdError> {
        let invalid = |reason: &str| HttpSdError::InvalidUrl {
            url: redact_url(&cfg.url),
            reason: reason.into(),
        };
        let parsed = url::Url::parse(&cfg.url).map_err(|e| invalid(&e.to_string()))?;
        if parsed.scheme() != "http" && parsed.scheme() != "https" {
            return Err(invalid("URL scheme must be 'http' or 'https'"));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(invalid("host is missing in URL"));
        }
        let interval = cfg
            .refresh_interval
            .map(|d| d.0)
            .filter(|d| !d.is_zero())
            .unwrap_or(DEFAULT_REFRESH_INTERVAL);
        let client = HttpClient::new(
            &cfg.http,
            ClientOptions {
                timeout: Some(interval),
                user_agent: default_user_agent(),
                ..ClientOptions::default()
            },
        )?;
        Ok(HttpProvider {
            url: cfg.url.clone(),
            shown_url: redact_url(&cfg.url),
            client,
            interval,
            metrics,
        })
    }

    /// One fetch: the groups, or why there are none this time.
    async fn refresh(&self) -> Result<Vec<TargetGroup>, HttpSdError> {
        let resp = self
            .client
            .get(&self.url)?
            .header(reqwest::header::ACCEPT, "application/json")
            .header(
                "X-Prometheus-Refresh-Interval-Seconds",
                self.interval.as_secs_f64().to_string(),
            )
            .send()
            .await
            .map_err(HttpSdError::Request)?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(HttpSdError::Status(resp.status()));
        }
        let ct = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default();
        if !is_json_content_type(&ct) {
            return Err(HttpSdError::ContentType(ct));
        }
        let body = read_limited(resp, MAX_BODY_BYTES).await?;
        Ok(target_group::parse_json(
            &body,
            &self.shown_url,
            (URL_LABEL, &self.shown_url),
        )?)
    }
}

/// The body of `resp`, refused as soon as it exceeds `limit` bytes.
pub(super) async fn read_limited(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, HttpSdError> {
    let too_large = HttpSdError::TooLarge { limit };
    let announced = resp.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(too_large);
    }
    // The announced length is only a hint (it may lie), so the reads are bounded too.
    let mut body = Vec::with_capacity(usize::try_from(announced).unwrap_or(0));
    while let Some(chunk) = resp.chunk().await.map_err(HttpSdError::Request)? {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Prometheus accepts `application/json`, optionally with `charset=utf-8` (quoted or not),
/// case-insensitively.
fn is_json_content_type(raw: &str) -> bool {
    let ct = raw.trim().to_ascii_lowercase();
    let Some(rest) = ct.strip_prefix("application/json") else {
        return false;
    };
    if rest.is_empty() {
        return true;
    }
    let Some(param) = rest.strip_prefix(';') else {
        return false;
    };
    matches!(
        param.trim_start_matches([' ', '\t', '\n', '\r', '\x0c']),
        "charset=utf-8" | "charset=\"utf-8\""
    )
}

impl Provider for HttpProvider {
    fn mechanism(&self) -> &'static str {
        "http"
    }

    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<SharedGroups>,
        cancel: Cancel,
    ) -> BoxFuture<'static, ()> {
        async move {
            let mut tick = interval_at(crate::model::clock::monotonic_now(), self.interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut last_sent: Option<SharedGroups> = None;
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let result = tokio::select! {
                    _ = cancel.cancelled() => return,
                    r = self.refresh() => r,
                };
                let groups = match result {
                    Ok(g) => share(g),
                    Err(error) => {
                        self.metrics.refresh_failed("http");
                        tracing::error!(url = %self.shown_url, %error, "http_sd refresh failed; keeping last targets");
                        continue;
                    }
                };
                if last_sent.as_ref() == Some(&groups) {
                    continue;
                }
                tokio::select! {
                    _ = cancel.cancelled() => return,
                    sent = tx.send(groups.clone()) => if sent.is_err() { return },
                }
                last_sent = Some(groups);
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn content_types() {
        let cases = [
            ("application/json", true),
            (" Application/JSON ", true),
            ("application/json; charset=utf-8", true),
            ("application/json;charset=\"UTF-8\"", true),
            ("application/json; charset=latin1", false),
            ("application/jsonx", false),
            ("text/plain", false),
            ("", false),
        ];
        for (ct, want) in cases {
            assert_eq!(super::is_json_content_type(ct), want, "{ct:?}");
        }
    }
}
