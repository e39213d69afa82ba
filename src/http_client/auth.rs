//! Per-request authentication: basic auth, `Authorization` header, legacy bearer token.
//!
//! Credentials named by `*_file` settings are re-read when the file changes (Prometheus
//! reads them on every request so that rotated tokens work); a metadata check per request
//! keeps that cheap.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use http::HeaderValue;

use super::HttpClientError;
use crate::config::HttpClientConfig;

/// How a client authenticates; resolved from the config once, applied per request.
#[derive(Clone, Debug)]
pub(super) enum Auth {
    /// No credentials.
    None,
    /// `basic_auth`.
    Basic {
        username: Credential,
        password: Option<Credential>,
    },
    /// `authorization`, or the legacy `bearer_token(_file)`.
    Header {
        scheme: String,
        credentials: Credential,
        what: &'static str,
    },
}

/// A secret given inline or by a file that is re-read when it changes.
#[derive(Clone)]
pub(super) enum Credential {
    Inline(String),
    File(FileCredential),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Inline(_) => f.write_str("Inline(<secret>)"),
            Credential::File(fc) => write!(f, "File({:?})", fc.path),
        }
    }
}

/// A credential file with the last value read, keyed by the file's mtime and length.
#[derive(Clone)]
pub(super) struct FileCredential {
    what: &'static str,
    path: PathBuf,
    cache: Arc<Mutex<Option<Cached>>>,
}

struct Cached {
    modified: Option<SystemTime>,
    len: u64,
    value: String,
}

impl FileCredential {
    fn new(what: &'static str, path: &str) -> Self {
        FileCredential {
            what,
            path: PathBuf::from(path),
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// The file's content, trimmed of surrounding whitespace as Prometheus does.
    fn read(&self) -> Result<String, HttpClientError> {
        let err = |source| HttpClientError::ReadFile {
            what: self.what,
            path: self.path.clone(),
            source,
        };
        let meta = std::fs::metadata(&self.path).map_err(err)?;
        let modified = meta.modified().ok();
        if let Some(c) = lock(&self.cache).as_ref()
            && c.modified.is_some()
            && c.modified == modified
            && c.len == meta.len()
        {
            return Ok(c.value.clone());
        }
        let value = read_trimmed(&self.path).map_err(err)?;
        *lock(&self.cache) = Some(Cached {
            modified,
            len: meta.len(),
            value: value.clone(),
        });
        Ok(value)
    }
}

/// A poisoned cache only means another request panicked mid-update; the data is a cache.
fn lock(m: &Mutex<Option<Cached>>) -> std::sync::MutexGuard<'_, Option<Cached>> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read_trimmed(path: &Path) -> std::io::Result<String> {
    let s = std::fs::read_to_string(path)?;
    Ok(s.trim().to_string())
}

impl Credential {
    fn get(&self) -> Result<String, HttpClientError> {
        match self {
            Credential::Inline(s) => Ok(s.clone()),
            Credential::File(f) => f.read(),
        }
    }
}

fn pick(
    inline: Option<&str>,
    file: Option<&str>,
    what_inline: &str,
    what_file: &'static str,
) -> Result<Option<Credential>, HttpClientError> {
    let inline = inline.filter(|s| !s.is_empty());
    let file = file.filter(|s| !s.is_empty());
    match (inline, file) {
        (Some(_), Some(_)) => Err(HttpClientError::InvalidConfig(format!(
            "at most one of {what_inline} and {what_file} must be configured"
        ))),
        (Some(s), None) => Ok(Some(Credential::Inline(s.to_string()))),
        (None, Some(p)) => Ok(Some(Credential::File(FileCredential::new(what_file, p)))),
        (None, None) => Ok(None),
    }
}

impl Auth {
    /// Resolves the auth settings, refusing the combinations Prometheus refuses.
    pub(super) fn from_config(cfg: &HttpClientConfig) -> Result<Auth, HttpClientError> {
        let bearer = pick(
            cfg.bearer_token.as_ref().map(|s| s.expose()),
            cfg.bearer_token_file.as_deref(),
            "bearer_token",
            "bearer_token_file",
        )?;
        let configured = [
            cfg.basic_auth.is_some(),
            cfg.authorization.is_some(),
            bearer.is_some(),
        ];
        if configured.iter().filter(|c| **c).count() > 1 {
            return Err(HttpClientError::InvalidConfig(
                "at most one of basic_auth, authorization and bearer_token(_file) must be configured"
                    .into(),
            ));
        }
        if let Some(ba) = &cfg.basic_auth {
            let username = pick(
                Some(ba.username.as_str()),
                ba.username_file.as_deref(),
                "basic_auth.username",
                "basic_auth.username_file",
            )?
            .unwrap_or(Credential::Inline(String::new()));
            let password = pick(
                ba.password.as_ref().map(|s| s.expose()),
                ba.password_file.as_deref(),
                "basic_auth.password",
                "basic_auth.password_file",
            )?;
            return Ok(Auth::Basic { username, password });
        }
        if let Some(a) = &cfg.authorization {
            let scheme = a
                .kind
                .clone()
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| "Bearer".into());
            if scheme.eq_ignore_ascii_case("basic") {
                return Err(HttpClientError::InvalidConfig(
                    "authorization type cannot be set to \"basic\", use \"basic_auth\" instead"
                        .into(),
                ));
            }
            let credentials = pick(
                a.credentials.as_ref().map(|s| s.expose()),
                a.credentials_file.as_deref(),
                "authorization.credentials",
                "authorization.credentials_file",
            )?
            .unwrap_or(Credential::Inline(String::new()));
            return Ok(Auth::Header {
                scheme,
                credentials,
                what: "authorization credentials",
            });
        }
        if let Some(credentials) = bearer {
            return Ok(Auth::Header {
                scheme: "Bearer".into(),
                credentials,
                what: "bearer token",
            });
        }
        Ok(Auth::None)
    }

    /// The `Authorization` header value to send, if any; files are read now.
    pub(super) fn header_value(&self) -> Result<Option<HeaderValue>, HttpClientError> {
        let (text, what) = match self {
            Auth::None => return Ok(None),
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                let user = username.get()?;
                let pass = password.as_ref().map(Credential::get).transpose()?;
                let plain = format!("{user}:{}", pass.unwrap_or_default());
                let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
                (format!("Basic {encoded}"), "basic_auth")
            }
            Auth::Header {
                scheme,
                credentials,
                what,
            } => {
                let creds = credentials.get()?;
                // Prometheus sends no header when the credentials are empty.
                if creds.is_empty() {
                    return Ok(None);
                }
                (format!("{scheme} {creds}"), *what)
            }
        };
        let mut value =
            HeaderValue::try_from(text).map_err(|_| HttpClientError::InvalidHeader { what })?;
        value.set_sensitive(true);
        Ok(Some(value))
    }

    /// Adds the `Authorization` header; files are read now, so errors are per request.
    pub(super) fn apply(
        &self,
        rb: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, HttpClientError> {
        Ok(match self.header_value()? {
            Some(value) => rb.header(http::header::AUTHORIZATION, value),
            None => rb,
        })
    }
}
