//! HTTP clients built from Prometheus `HttpClientConfig`: TLS, auth, redirects, proxy.
//!
//! The one place that turns a config's client settings into a [`reqwest::Client`] for
//! scraping, http_sd and remote write. TLS is configured by building our own
//! [`rustls::ClientConfig`] (CA, client identity, server name, versions, insecure mode)
//! and handing it to reqwest. Authentication is applied per request by
//! [`HttpClient::request`], re-reading credential files when they change, as Prometheus
//! does, so rotated tokens are picked up without a reload.

mod auth;
mod tls;

#[cfg(test)]
pub(crate) mod test_server;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Once;
use std::time::Duration;

use crate::config::HttpClientConfig;

use auth::Auth;

/// Prometheus (through Go's `net/http`) follows at most 10 redirects.
pub const MAX_REDIRECTS: usize = 10;

/// Installs rustls' ring crypto provider as the process default, once.
///
/// reqwest is built without a provider; our own TLS configs name ring explicitly, but any
/// other rustls user in the process needs a default. Calling it again, or after another
/// provider was installed, does nothing.
pub fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err only means some provider is already installed, which is what we want.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// What the caller decides about a client, beyond the config file.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Whole-request timeout (connect, send, read the body); `None` = no limit.
    pub timeout: Option<Duration>,
    /// Connection timeout; `None` = only the whole-request timeout applies.
    pub connect_timeout: Option<Duration>,
    /// `User-Agent` header sent with every request.
    pub user_agent: String,
    /// Ask for gzip and decompress transparently (Prometheus does, for scrapes and SD).
    pub gzip: bool,
    /// Keep idle connections for reuse. hyper keeps each idle connection's read buffer,
    /// which grows to ~400 KiB after a large response; a scraper with thousands of
    /// targets pays that per target, so plain-HTTP scrapes reconnect instead.
    pub keep_idle_connections: bool,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: None,
            connect_timeout: None,
            user_agent: default_user_agent(),
            gzip: true,
            keep_idle_connections: true,
        }
    }
}

/// An error and its causes, `a: b: c` (reqwest's own message omits the cause, which is
/// often the useful part: "connection refused", "certificate expired").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}

/// `shoal/<version>`.
pub fn default_user_agent() -> String {
    format!("shoal/{}", env!("CARGO_PKG_VERSION"))
}

/// Why a client could not be built, or a request could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum HttpClientError {
    /// The config is contradictory or names something unknown; fix the config.
    #[error("invalid http client config: {0}")]
    InvalidConfig(String),
    /// A file named by the config (CA, certificate, key, credentials) cannot be read.
    #[error("cannot read {what} file {path:?}: {source}")]
    ReadFile {
        /// Which setting named the file, e.g. `password_file`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// PEM data (from a file or inline) is not what the setting needs.
    #[error("invalid {what} from {origin}: {reason}")]
    Pem {
        /// Which setting, e.g. `ca_file`.
        what: &'static str,
        /// The file path, or `inline`.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// rustls refused the TLS settings (e.g. a key that does not match the certificate).
    #[error("invalid tls_config: {0}")]
    Tls(#[from] rustls::Error),
    /// `proxy_url` or `no_proxy` is not usable.
    #[error("invalid proxy_url {url:?}: {source}")]
    Proxy {
        /// The configured proxy URL.
        url: String,
        /// reqwest's reason.
        source: reqwest::Error,
    },
    /// Credentials contain bytes that cannot be sent in an HTTP header.
    #[error("{what} cannot be sent in an HTTP header")]
    InvalidHeader {
        /// Which setting, e.g. `authorization.credentials_file`; never the value.
        what: &'static str,
    },
    /// reqwest could not build the client.
    #[error("cannot build http client: {0}")]
    Build(#[source] reqwest::Error),
}

/// An HTTP client for one config: shared connection pool, TLS and auth. Cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    auth: Auth,
    /// Requests may go through a proxy (`proxy_url` or `proxy_from_environment`).
    proxied: bool,
}

impl HttpClient {
    /// Builds a client; reads CA, certificate and key files now, credential files per request.
    pub fn new(cfg: &HttpClientConfig, opts: ClientOptions) -> Result<HttpClient, HttpClientError> {
        install_crypto_provider();
        let http2 = cfg.enable_http2.unwrap_or(true);
        let tls = tls::client_config(cfg.tls_config.as_ref(), http2)?;
        let auth = Auth::from_config(cfg)?;

        let redirect = if cfg.follow_redirects.unwrap_or(true) {
            reqwest::redirect::Policy::limited(MAX_REDIRECTS)
        } else {
            reqwest::redirect::Policy::none()
        };
        let mut builder = reqwest::Client::builder()
            .tls_backend_preconfigured(tls)
            .redirect(redirect)
            .user_agent(opts.user_agent)
            .gzip(opts.gzip);
        if !http2 {
            builder = builder.http1_only();
        }
        if !opts.keep_idle_connections {
            builder = builder.pool_max_idle_per_host(0);
        }
        if let Some(t) = opts.timeout {
            builder = builder.timeout(t);
        }
        if let Some(t) = opts.connect_timeout {
            builder = builder.connect_timeout(t);
        }
        builder = apply_proxy(builder, cfg)?;
        let client = builder.build().map_err(HttpClientError::Build)?;
        let proxied = cfg.proxy_from_environment.unwrap_or(false)
            || cfg.proxy_url.as_deref().is_some_and(|u| !u.is_empty());
        Ok(HttpClient {
            client,
            auth,
            proxied,
        })
    }

    /// Starts a request with authentication applied (credential files are read here).
    ///
    /// reqwest drops the `Authorization` header when a redirect leaves the origin; Prometheus
    /// would send it again to the new host.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, HttpClientError> {
        let rb = self.client.request(method, url);
        self.auth.apply(rb)
    }

    /// A GET request with authentication applied.
    pub fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, HttpClientError> {
        self.request(reqwest::Method::GET, url)
    }

    /// The `Authorization` header value a request carries now (credential files are read
    /// here), for requests not built by this client.
    pub fn authorization(&self) -> Result<Option<http::HeaderValue>, HttpClientError> {
        self.auth.header_value()
    }

    /// True when requests may go through a proxy.
    pub fn proxied(&self) -> bool {
        self.proxied
    }

    /// The underlying reqwest client, without authentication.
    pub fn inner(&self) -> &reqwest::Client {
        &self.client
    }
}

/// Prometheus uses no proxy unless told: `proxy_url`, or the environment when
/// `proxy_from_environment` is set.
fn apply_proxy(
    builder: reqwest::ClientBuilder,
    cfg: &HttpClientConfig,
) -> Result<reqwest::ClientBuilder, HttpClientError> {
    if cfg.proxy_from_environment.unwrap_or(false) {
        if cfg.proxy_url.is_some() {
            return Err(HttpClientError::InvalidConfig(
                "use either proxy_url or proxy_from_environment, not both".into(),
            ));
        }
        // reqwest reads HTTP_PROXY, HTTPS_PROXY and NO_PROXY by default.
        return Ok(builder);
    }
    let Some(url) = cfg.proxy_url.as_deref().filter(|u| !u.is_empty()) else {
        if cfg.no_proxy.is_some() {
            return Err(HttpClientError::InvalidConfig(
                "no_proxy requires proxy_url".into(),
            ));
        }
        return Ok(builder.no_proxy());
    };
    let mut proxy = reqwest::Proxy::all(url).map_err(|source| HttpClientError::Proxy {
        url: crate::config::redact_url(url),
        source,
    })?;
    if let Some(np) = cfg.no_proxy.as_deref() {
        proxy = proxy.no_proxy(reqwest::NoProxy::from_string(np));
    }
    Ok(builder.proxy(proxy))
}
