//! Fetching a target's exposition over HTTP, behind the [`Scraper`] seam tests replace.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::future::BoxFuture;
use reqwest::header::{ACCEPT, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, HeaderValue};

use crate::config::{ScrapeConfig, redact_url};
use crate::http_client::{
    ClientOptions, HttpClient, HttpClientError, default_user_agent, error_chain,
};

use super::error::ScrapeError;
use super::http1::{self, Http1Error, Http1Target, Outcome};
use super::target::Target;

/// Fetches one target's body.
pub trait Scraper: Send + Sync + 'static {
    /// Fetches the exposition into `body` (cleared first; its allocation is reused) and
    /// returns the response's Content-Type.
    fn scrape<'a>(
        &'a self,
        body: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, Result<Option<String>, ScrapeError>>;
}

/// The client could not be built from the scrape config.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// An unknown name in `scrape_protocols`.
    #[error("unknown scrape protocol {0:?}")]
    UnknownProtocol(String),
    /// The job's HTTP client settings are unusable.
    #[error(transparent)]
    Http(#[from] HttpClientError),
    /// The target URL is not valid.
    #[error("invalid scrape url {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why it is invalid.
        reason: String,
    },
}

/// Number of media types Prometheus knows (its weights start one above).
const KNOWN_PROTOCOLS: usize = 5;

/// The `Accept` header for `protocols`, most wanted first (Prometheus' `acceptHeader`):
/// media types with decreasing q, then `*/*`. `escaping` (`allow-utf-8`, `underscores`,
/// ...) is added to the 1.0.0 formats. `PrometheusProto` is skipped: shoal parses the
/// text formats only.
pub fn accept_header(protocols: &[String], escaping: &str) -> Result<String, ClientError> {
    let mut weight = KNOWN_PROTOCOLS.max(protocols.len()) + 1;
    let mut vals = Vec::with_capacity(protocols.len() + 1);
    for name in protocols {
        let (media, escaped) = match name.as_str() {
            "OpenMetricsText1.0.0" => ("application/openmetrics-text;version=1.0.0", true),
            "OpenMetricsText0.0.1" => ("application/openmetrics-text;version=0.0.1", false),
            "PrometheusText1.0.0" => ("text/plain;version=1.0.0", true),
            "PrometheusText0.0.4" => ("text/plain;version=0.0.4", false),
            "PrometheusProto" => continue,
            other => return Err(ClientError::UnknownProtocol(other.to_owned())),
        };
        if escaped {
            vals.push(format!("{media};escaping={escaping};q=0.{weight}"));
        } else {
            vals.push(format!("{media};q=0.{weight}"));
        }
        weight -= 1;
    }
    vals.push(format!("*/*;q=0.{weight}"));
    Ok(vals.join(","))
}

/// The escaping scheme asked of targets: the configured one, else `underscores` under
/// legacy name validation and `allow-utf-8` otherwise (Prometheus 3 defaults).
pub fn escaping_scheme(cfg: &ScrapeConfig) -> &str {
    match cfg.metric_name_escaping_scheme.as_deref() {
        Some(s) if !s.is_empty() => s,
        _ if cfg.metric_name_validation_scheme.as_deref() == Some("legacy") => "underscores",
        _ => "allow-utf-8",
    }
}

/// The HTTP client of one job: its TLS, auth, proxy and redirect settings. Decompression
/// is ours, to bound the decompressed size while streaming.
pub fn build_client(cfg: &ScrapeConfig) -> Result<HttpClient, ClientError> {
    let opts = ClientOptions {
        timeout: None,
        connect_timeout: None,
        user_agent: default_user_agent(),
        gzip: false,
        // A TLS handshake per scrape costs more than the idle buffer; a TCP connect on
        // plain HTTP costs less (measured with peers.sh: -60 MiB RSS, +0.1 us/sample).
        keep_idle_connections: cfg.scheme() == "https",
    };
    Ok(HttpClient::new(&cfg.http, opts)?)
}

/// Makes the scraper of each target of a job (tests substitute fakes).
pub trait ScraperFactory: Send + Sync + 'static {
    /// Prepares a job (e.g. builds its HTTP client) and returns its per-target maker.
    fn for_job(&self, cfg: &ScrapeConfig) -> Result<TargetScrapers, ClientError>;
}

/// Makes the scraper of one target of a job.
pub type TargetScrapers =
    Box<dyn Fn(&Target) -> Result<Arc<dyn Scraper>, ClientError> + Send + Sync>;

/// The real factory: one reqwest client per job, one [`HttpScraper`] per target.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpScraperFactory;

impl ScraperFactory for HttpScraperFactory {
    fn for_job(&self, cfg: &ScrapeConfig) -> Result<TargetScrapers, ClientError> {
        let client = build_client(cfg)?;
        let accept = accept_header(&cfg.scrape_protocols(), escaping_scheme(cfg))?;
        let body_size_limit = cfg.body_size_limit();
        let compression = cfg.enable_compression.unwrap_or(true);
        // Targets of a job nearly always share one timeout, hence one set of headers.
        let last: Mutex<Option<Arc<RequestHeaders>>> = Mutex::new(None);
        Ok(Box::new(move |t: &Target| {
            let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
            let headers = match &*last {
                Some(h) if h.timeout == t.timeout => Arc::clone(h),
                _ => {
                    let h = RequestHeaders::new(&accept, t.timeout, compression)
                        .map_err(|e| naming_url(e, &t.url))?;
                    let h = Arc::new(h);
                    *last = Some(Arc::clone(&h));
                    h
                }
            };
            drop(last);
            let scraper =
                HttpScraper::with_headers(client.clone(), &t.url, headers, body_size_limit)?;
            Ok(Arc::new(scraper) as Arc<dyn Scraper>)
        }))
    }
}

/// The request headers of a scrape, shared by the targets of a job that have the same
/// timeout.
#[derive(Debug)]
pub struct RequestHeaders {
    accept: HeaderValue,
    timeout_header: HeaderValue,
    accept_encoding: HeaderValue,
    timeout: Duration,
    /// The same, rendered for the kept-alive HTTP/1.1 path.
    direct: Arc<[u8]>,
}

impl RequestHeaders {
    /// Headers announcing `accept`, the scrape `timeout` and gzip (or `identity`).
    pub fn new(accept: &str, timeout: Duration, compression: bool) -> Result<Self, ClientError> {
        let invalid = |reason: String| ClientError::Url {
            url: String::new(),
            reason,
        };
        let timeout_secs = format!("{}", timeout.as_secs_f64());
        let encoding = if compression { "gzip" } else { "identity" };
        let user_agent = default_user_agent();
        // The headers the reqwest path sends (its client sets `User-Agent`).
        let direct = http1::common_head(&[
            ("User-Agent", user_agent.as_str()),
            ("Accept", accept),
            ("Accept-Encoding", encoding),
            ("X-Prometheus-Scrape-Timeout-Seconds", timeout_secs.as_str()),
        ]);
        Ok(RequestHeaders {
            accept: HeaderValue::from_str(accept).map_err(|e| invalid(e.to_string()))?,
            timeout_header: HeaderValue::from_str(&timeout_secs)
                .map_err(|e| invalid(e.to_string()))?,
            accept_encoding: HeaderValue::from_static(encoding),
            timeout,
            direct,
        })
    }
}

/// `e` naming the target `url` (without its password): header errors know no URL.
fn naming_url(e: ClientError, url: &str) -> ClientError {
    match e {
        ClientError::Url { reason, .. } => ClientError::Url {
            url: redact_url(url),
            reason,
        },
        e => e,
    }
}

/// Scrapes one target over HTTP.
pub struct HttpScraper {
    client: HttpClient,
    /// The kept-alive HTTP/1.1 path for plain-HTTP targets without a proxy; `None` for the
    /// others, and from the first redirect on (reqwest follows redirects as configured).
    direct: Option<Http1Target>,
    /// Set once the target redirected: `direct` is no longer used.
    redirected: AtomicBool,
    url: Box<str>,
    /// `url` without its password, for errors (shown in the targets API and logs), when
    /// it differs from `url`.
    redacted_url: Option<Box<str>>,
    headers: Arc<RequestHeaders>,
    /// 0 = none.
    body_size_limit: u64,
}

/// Settings of one target's [`HttpScraper`].
#[derive(Clone, Debug)]
pub struct HttpScraperOptions {
    /// URL to fetch.
    pub url: String,
    /// `Accept` header value (see [`accept_header`]).
    pub accept: String,
    /// Whole-scrape timeout, also announced in `X-Prometheus-Scrape-Timeout-Seconds`.
    pub timeout: Duration,
    /// Limit on the decompressed body in bytes; 0 = none.
    pub body_size_limit: u64,
    /// `enable_compression`: ask for gzip, else for `identity` (as Prometheus).
    pub compression: bool,
}

impl HttpScraper {
    /// A scraper using `client` (shared by the job's targets).
    pub fn new(client: HttpClient, opts: HttpScraperOptions) -> Result<Self, ClientError> {
        let headers = RequestHeaders::new(&opts.accept, opts.timeout, opts.compression)
            .map_err(|e| naming_url(e, &opts.url))?;
        Self::with_headers(client, &opts.url, Arc::new(headers), opts.body_size_limit)
    }

    /// A scraper of `url` sending `headers` (shared with the job's other targets).
    pub fn with_headers(
        client: HttpClient,
        url: &str,
        headers: Arc<RequestHeaders>,
        body_size_limit: u64,
    ) -> Result<Self, ClientError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| ClientError::Url {
            url: redact_url(url),
            reason: e.to_string(),
        })?;
        let url = parsed.to_string();
        let direct = (!client.proxied())
            .then(|| Http1Target::with_common(&parsed, Arc::clone(&headers.direct)))
            .flatten();
        let redacted = redact_url(&url);
        Ok(HttpScraper {
            client,
            direct,
            redirected: AtomicBool::new(false),
            redacted_url: (redacted != url).then(|| redacted.into_boxed_str()),
            url: url.into_boxed_str(),
            headers,
            body_size_limit,
        })
    }

    /// The URL as errors show it (no password).
    fn shown_url(&self) -> String {
        self.redacted_url
            .as_deref()
            .unwrap_or(&self.url)
            .to_string()
    }

    async fn fetch(&self, body: &mut Vec<u8>) -> Result<Option<String>, ScrapeError> {
        if let Some(direct) = self
            .direct
            .as_ref()
            .filter(|_| !self.redirected.load(Ordering::Relaxed))
        {
            match self.fetch_direct(direct, body).await? {
                Some(content_type) => return Ok(content_type),
                // Redirected: reqwest follows it (or not) as configured, from now on.
                None => self.redirected.store(true, Ordering::Relaxed),
            }
        }
        self.fetch_general(body).await
    }

    /// Fetches over the kept connection; `Ok(None)` on a redirect.
    async fn fetch_direct(
        &self,
        direct: &Http1Target,
        body: &mut Vec<u8>,
    ) -> Result<Option<Option<String>>, ScrapeError> {
        let req_err = |message: String| ScrapeError::Request {
            url: self.shown_url(),
            message,
        };
        let auth = self
            .client
            .authorization()
            .map_err(|e| req_err(error_chain(&e)))?;
        let limit = effective_body_limit(self.body_size_limit);
        let outcome = direct
            .fetch(auth.as_ref(), body, limit)
            .await
            .map_err(|e| match e {
                Http1Error::TooLarge => ScrapeError::BodySizeLimit(limit),
                e => req_err(e.to_string()),
            })?;
        let (status, content_type, gzip) = match outcome {
            Outcome::Redirect => return Ok(None),
            Outcome::Response {
                status,
                content_type,
                gzip,
            } => (status, content_type, gzip),
        };
        if !(200..300).contains(&status) {
            let code = reqwest::StatusCode::from_u16(status).ok();
            return Err(ScrapeError::Status(
                match code.and_then(|c| c.canonical_reason()) {
                    Some(reason) => format!("{status} {reason}"),
                    None => status.to_string(),
                },
            ));
        }
        if gzip {
            let mut plain = Vec::with_capacity(body.len().saturating_mul(4));
            let mut dec = flate2::write::MultiGzDecoder::new(LimitedWriter {
                buf: &mut plain,
                limit,
                exceeded: false,
            });
            let written = dec.write_all(body).and_then(|()| dec.try_finish());
            if let Err(e) = written {
                return Err(gzip_error(dec.get_ref().exceeded, limit, &e));
            }
            drop(dec);
            std::mem::swap(body, &mut plain);
        }
        Ok(Some(content_type))
    }

    /// Fetches through the job's reqwest client (TLS, proxies, redirects).
    async fn fetch_general(&self, body: &mut Vec<u8>) -> Result<Option<String>, ScrapeError> {
        body.clear();
        let req_err = |e: &dyn std::error::Error| ScrapeError::Request {
            url: self.shown_url(),
            message: error_chain(e),
        };
        let mut resp = self
            .client
            .get(&self.url)
            .map_err(|e| req_err(&e))?
            .header(ACCEPT, self.headers.accept.clone())
            .header(ACCEPT_ENCODING, self.headers.accept_encoding.clone())
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                self.headers.timeout_header.clone(),
            )
            .send()
            .await
            .map_err(|e| req_err(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(ScrapeError::Status(match status.canonical_reason() {
                Some(reason) => format!("{} {reason}", status.as_u16()),
                None => status.as_u16().to_string(),
            }));
        }
        let content_type = header_str(&resp, CONTENT_TYPE);
        let gzip =
            header_str(&resp, CONTENT_ENCODING).is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
        let limit = effective_body_limit(self.body_size_limit);
        if gzip {
            let mut dec = flate2::write::MultiGzDecoder::new(LimitedWriter {
                buf: body,
                limit,
                exceeded: false,
            });
            while let Some(chunk) = resp.chunk().await.map_err(|e| req_err(&e))? {
                if let Err(e) = dec.write_all(&chunk) {
                    return Err(gzip_error(dec.get_ref().exceeded, limit, &e));
                }
            }
            if let Err(e) = dec.try_finish() {
                return Err(gzip_error(dec.get_ref().exceeded, limit, &e));
            }
        } else {
            // Size the (pooled) buffer once from Content-Length instead of doubling past it;
            // capped, so a lying header cannot make us reserve much before data arrives.
            if let Some(len) = resp.content_length() {
                let want = usize::try_from(len.min(limit).min(MAX_PRESIZE)).unwrap_or(0);
                body.reserve_exact(want.saturating_sub(body.len()));
            }
            let mut w = LimitedWriter {
                buf: body,
                limit,
                exceeded: false,
            };
            while let Some(chunk) = resp.chunk().await.map_err(|e| req_err(&e))? {
                if w.write_all(&chunk).is_err() {
                    return Err(ScrapeError::BodySizeLimit(limit));
                }
            }
        }
        Ok(content_type)
    }
}

impl Scraper for HttpScraper {
    fn scrape<'a>(
        &'a self,
        body: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, Result<Option<String>, ScrapeError>> {
        Box::pin(async move {
            match tokio::time::timeout(self.headers.timeout, self.fetch(body)).await {
                Ok(r) => r,
                Err(_) => Err(ScrapeError::Timeout {
                    url: self.shown_url(),
                    timeout: self.headers.timeout,
                }),
            }
        })
    }
}

/// Ceiling on a (decompressed) body when `body_size_limit` is 0 ("no limit"): far above
/// any real exposition, but a gzip bomb or an endless body fails the scrape instead of
/// growing memory until the process is killed. An explicit `body_size_limit` replaces it.
pub const UNLIMITED_BODY_CEILING: u64 = 1 << 30;

/// The limit a scrape enforces for the configured `body_size_limit` (0 = none).
fn effective_body_limit(configured: u64) -> u64 {
    if configured == 0 {
        UNLIMITED_BODY_CEILING
    } else {
        configured
    }
}

fn header_str(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn gzip_error(exceeded: bool, limit: u64, e: &std::io::Error) -> ScrapeError {
    if exceeded {
        ScrapeError::BodySizeLimit(limit)
    } else {
        ScrapeError::Gzip(e.to_string())
    }
}

/// Largest buffer reserved up front from a response's Content-Length.
const MAX_PRESIZE: u64 = 16 << 20;

/// Appends to a buffer and fails once the total would reach `limit` bytes (Prometheus
/// fails a body whose size reaches `body_size_limit`).
struct LimitedWriter<'a> {
    buf: &'a mut Vec<u8>,
    limit: u64,
    exceeded: bool,
}

impl Write for LimitedWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let total = self.buf.len() as u64 + data.len() as u64;
        if total >= self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("body size limit exceeded"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn no_body_size_limit_still_has_a_ceiling() {
        assert_eq!(effective_body_limit(0), UNLIMITED_BODY_CEILING);
        assert_eq!(effective_body_limit(1024), 1024);
        assert_eq!(effective_body_limit(u64::MAX), u64::MAX);
    }

    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn accept_header_defaults_match_prometheus() {
        let defaults = ScrapeConfig::default().scrape_protocols();
        assert_eq!(
            accept_header(&defaults, "allow-utf-8").unwrap(),
            "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
             application/openmetrics-text;version=0.0.1;q=0.5,\
             text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
             text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
        );
    }

    #[test]
    fn accept_header_honours_scrape_protocols() {
        let p = names(&["PrometheusText0.0.4", "PrometheusProto"]);
        assert_eq!(
            accept_header(&p, "underscores").unwrap(),
            "text/plain;version=0.0.4;q=0.6,*/*;q=0.5"
        );
        assert!(matches!(
            accept_header(&names(&["Nope"]), "underscores"),
            Err(ClientError::UnknownProtocol(n)) if n == "Nope"
        ));
    }

    #[test]
    fn escaping_follows_validation_scheme() {
        let mut cfg = ScrapeConfig::default();
        assert_eq!(escaping_scheme(&cfg), "allow-utf-8");
        cfg.metric_name_validation_scheme = Some("legacy".into());
        assert_eq!(escaping_scheme(&cfg), "underscores");
        cfg.metric_name_escaping_scheme = Some("dots".into());
        assert_eq!(escaping_scheme(&cfg), "dots");
    }

    #[test]
    fn limited_writer_stops_at_the_limit() {
        let mut buf = Vec::new();
        let mut w = LimitedWriter {
            buf: &mut buf,
            limit: 4,
            exceeded: false,
        };
        assert!(w.write_all(b"abc").is_ok());
        assert!(w.write_all(b"d").is_err());
        assert!(w.exceeded);
        assert_eq!(buf, b"abc");
    }
}
