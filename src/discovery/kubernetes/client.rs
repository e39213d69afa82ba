//! How to reach the API server: in-cluster service account, a kubeconfig file, or an
//! explicit `api_server` with Prometheus' HTTP client settings.
//!
//! In-cluster, kube re-reads the service account token file at least once a minute (bound
//! tokens rotate) and the CA file likewise. TLS is rustls with the ring provider, as the
//! rest of shoal.

use crate::config::{HttpClientConfig, KubernetesSdConfig};

/// The in-cluster namespace file (Prometheus reads the same for `own_namespace`).
pub const NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// Where and how to connect; equal specs share watches.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ClientSpec {
    /// The pod's service account (`KUBERNETES_SERVICE_HOST`/`_PORT`, mounted token and CA).
    InCluster,
    /// A kubeconfig file (its current context).
    Kubeconfig(String),
    /// An explicit URL with HTTP client settings.
    ApiServer {
        /// The API server URL.
        url: String,
        /// Authentication and TLS.
        http: Box<HttpClientConfig>,
    },
}

/// Why a client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// In-cluster configuration is missing (not running in a pod?).
    #[error("in-cluster configuration unavailable: {0}")]
    InCluster(String),
    /// The kubeconfig file could not be read or used.
    #[error("kubeconfig {path:?}: {reason}")]
    Kubeconfig {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The `api_server` URL is not usable.
    #[error("invalid api_server {url:?}: {reason}")]
    Url {
        /// The URL (password redacted).
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// An HTTP client setting that kube's client cannot honour.
    #[error("kubernetes_sd: {0} is not supported by shoal")]
    Unsupported(&'static str),
    /// A credentials file could not be read.
    #[error("cannot read {path:?}: {source}")]
    File {
        /// The file.
        path: String,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// kube refused the configuration.
    #[error("kubernetes client: {0}")]
    Kube(String),
}

impl ClientSpec {
    /// The spec a config asks for. Checks what can be checked without I/O, so that a bad
    /// setting fails the config's apply rather than the background watch.
    pub(crate) fn from_config(cfg: &KubernetesSdConfig) -> Result<ClientSpec, ClientError> {
        if let Some(path) = cfg.kubeconfig_file.as_ref().filter(|p| !p.is_empty()) {
            return Ok(ClientSpec::Kubeconfig(path.clone()));
        }
        let Some(url) = cfg.api_server.as_ref().filter(|u| !u.is_empty()) else {
            return Ok(ClientSpec::InCluster);
        };
        let h = &cfg.http;
        if h.proxy_url.as_ref().is_some_and(|p| !p.is_empty())
            || h.proxy_from_environment == Some(true)
        {
            return Err(ClientError::Unsupported(
                "proxy_url / proxy_from_environment",
            ));
        }
        if let Some(a) = &h.authorization
            && a.kind
                .as_deref()
                .is_some_and(|k| !k.eq_ignore_ascii_case("bearer"))
        {
            return Err(ClientError::Unsupported(
                "an authorization type other than Bearer",
            ));
        }
        if let Some(t) = &h.tls_config
            && (t.ca.is_some() || t.cert.is_some() || t.key.is_some())
        {
            return Err(ClientError::Unsupported(
                "inline tls_config ca/cert/key (use *_file)",
            ));
        }
        url.parse::<http::Uri>().map_err(|e| ClientError::Url {
            url: crate::config::redact_url(url),
            reason: e.to_string(),
        })?;
        Ok(ClientSpec::ApiServer {
            url: url.clone(),
            http: Box::new(h.clone()),
        })
    }

    /// Builds kube's client. Async because kubeconfig loading may be.
    pub(crate) async fn client(&self) -> Result<kube::Client, ClientError> {
        let config = match self {
            ClientSpec::InCluster => {
                kube::Config::incluster().map_err(|e| ClientError::InCluster(e.to_string()))?
            }
            ClientSpec::Kubeconfig(path) => {
                let fail = |reason: String| ClientError::Kubeconfig {
                    path: path.clone(),
                    reason,
                };
                let kc =
                    kube::config::Kubeconfig::read_from(path).map_err(|e| fail(e.to_string()))?;
                kube::Config::from_custom_kubeconfig(
                    kc,
                    &kube::config::KubeConfigOptions::default(),
                )
                .await
                .map_err(|e| fail(e.to_string()))?
            }
            ClientSpec::ApiServer { url, http } => api_server_config(url, http)?,
        };
        kube::Client::try_from(config).map_err(|e| ClientError::Kube(e.to_string()))
    }
}

fn read(path: &str) -> Result<String, ClientError> {
    std::fs::read_to_string(path).map_err(|source| ClientError::File {
        path: path.to_string(),
        source,
    })
}

fn api_server_config(url: &str, h: &HttpClientConfig) -> Result<kube::Config, ClientError> {
    let uri = url.parse::<http::Uri>().map_err(|e| ClientError::Url {
        url: crate::config::redact_url(url),
        reason: e.to_string(),
    })?;
    let mut c = kube::Config::new(uri);
    if let Some(a) = &h.authorization {
        if let Some(cred) = &a.credentials {
            c.auth_info.token = Some(cred.expose().to_string().into());
        }
        if let Some(f) = a.credentials_file.as_ref().filter(|f| !f.is_empty()) {
            let raw = read(f)?;
            if raw.trim() == raw {
                // kube re-reads a token file at least once a minute (rotation).
                c.auth_info.token_file = Some(f.clone());
            } else {
                // kube would send the surrounding whitespace; Prometheus trims it. The
                // trimmed token is read once here, so rotation needs a config reload.
                c.auth_info.token = Some(raw.trim().to_string().into());
            }
        }
    }
    if let Some(b) = &h.basic_auth {
        let user = match &b.username_file {
            Some(f) if !f.is_empty() => read(f)?.trim().to_string(),
            _ => b.username.clone(),
        };
        let password = match (&b.password, &b.password_file) {
            (_, Some(f)) if !f.is_empty() => read(f)?.trim().to_string(),
            (Some(p), _) => p.expose().to_string(),
            _ => String::new(),
        };
        c.auth_info.username = Some(user);
        c.auth_info.password = Some(password.into());
    }
    if let Some(t) = &h.tls_config {
        if let Some(ca) = t.ca_file.as_ref().filter(|f| !f.is_empty()) {
            c.root_cert_file = Some(ca.into());
        }
        c.auth_info.client_certificate = t.cert_file.clone().filter(|f| !f.is_empty());
        c.auth_info.client_key = t.key_file.clone().filter(|f| !f.is_empty());
        c.accept_invalid_certs = t.insecure_skip_verify;
        c.tls_server_name = t.server_name.clone().filter(|s| !s.is_empty());
    }
    Ok(c)
}

/// The namespace shoal runs in, for `namespaces.own_namespace`.
pub(crate) fn own_namespace() -> Result<String, ClientError> {
    let ns = std::fs::read_to_string(NAMESPACE_FILE).map_err(|source| ClientError::File {
        path: NAMESPACE_FILE.into(),
        source,
    })?;
    let ns = ns.trim().to_string();
    if ns.is_empty() {
        return Err(ClientError::InCluster(
            "could not read own namespace name (empty file)".into(),
        ));
    }
    Ok(ns)
}
