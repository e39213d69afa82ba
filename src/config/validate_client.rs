//! Checks of the HTTP client settings and of remote-write endpoints (Prometheus'
//! `HTTPClientConfig.Validate`, `TLSConfig.Validate` and `RemoteWriteConfig` checks).

use std::collections::BTreeMap;

use super::http::{BasicAuth, HttpClientConfig, TlsConfig};
use super::types::{QueueConfig, RemoteWriteConfig};
use super::validate::{Check, Issue, Seg, check_http_url, set};
use super::values::Secret;
use super::values::redact_url;

fn secret_set(s: &Option<Secret>) -> bool {
    s.as_ref().is_some_and(|v| !v.expose().is_empty())
}

/// Prometheus' `HTTPClientConfig.Validate` plus TLS and proxy checks. Paths are relative to
/// the struct that inlines the HTTP fields.
pub(crate) fn check_http(h: &HttpClientConfig) -> Check {
    let bearer = secret_set(&h.bearer_token);
    let bearer_file = set(&h.bearer_token_file);
    if bearer && bearer_file {
        return Err(Issue::at(
            &["bearer_token_file"],
            "at most one of bearer_token & bearer_token_file must be configured",
        ));
    }
    if h.basic_auth.is_some() && (bearer || bearer_file) {
        return Err(Issue::at(
            &["basic_auth"],
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        ));
    }
    if let Some(b) = &h.basic_auth {
        check_basic_auth(b).map_err(|e| e.then(Seg::Key("basic_auth".into())))?;
    }
    if let Some(a) = &h.authorization {
        if bearer || bearer_file {
            return Err(Issue::at(
                &["authorization"],
                "authorization is not compatible with bearer_token & bearer_token_file",
            ));
        }
        if secret_set(&a.credentials) && set(&a.credentials_file) {
            return Err(Issue::at(
                &["authorization", "credentials_file"],
                "at most one of authorization credentials & credentials_file must be configured",
            ));
        }
        if a.kind
            .as_deref()
            .is_some_and(|k| k.trim().eq_ignore_ascii_case("basic"))
        {
            return Err(Issue::at(
                &["authorization", "type"],
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            ));
        }
        if h.basic_auth.is_some() {
            return Err(Issue::at(
                &["authorization"],
                "at most one of basic_auth, oauth2 & authorization must be configured",
            ));
        }
    }
    if let Some(t) = &h.tls_config {
        check_tls(t).map_err(|e| e.then(Seg::Key("tls_config".into())))?;
    }
    if h.proxy_from_environment == Some(true) {
        if set(&h.proxy_url) {
            return Err(Issue::at(
                &["proxy_url"],
                "if proxy_from_environment is configured, proxy_url must not be configured",
            ));
        }
        if set(&h.no_proxy) {
            return Err(Issue::at(
                &["no_proxy"],
                "if proxy_from_environment is configured, no_proxy must not be configured",
            ));
        }
    }
    if set(&h.no_proxy) && !set(&h.proxy_url) {
        return Err(Issue::at(
            &["no_proxy"],
            "if no_proxy is configured, proxy_url must also be configured",
        ));
    }
    if let Some(p) = h.proxy_url.as_deref().filter(|p| !p.is_empty()) {
        url::Url::parse(p).map_err(|e| {
            Issue::at(
                &["proxy_url"],
                format!("invalid proxy_url {:?}: {e}", redact_url(p)),
            )
        })?;
    }
    Ok(())
}

fn check_basic_auth(b: &BasicAuth) -> Check {
    if !b.username.is_empty() && set(&b.username_file) {
        return Err(Issue::at(
            &["username_file"],
            "at most one of basic_auth username & username_file must be configured",
        ));
    }
    if secret_set(&b.password) && set(&b.password_file) {
        return Err(Issue::at(
            &["password_file"],
            "at most one of basic_auth password & password_file must be configured",
        ));
    }
    Ok(())
}

fn check_tls(t: &TlsConfig) -> Check {
    let pairs = [
        ("ca", set(&t.ca), "ca_file", set(&t.ca_file)),
        ("cert", set(&t.cert), "cert_file", set(&t.cert_file)),
        ("key", secret_set(&t.key), "key_file", set(&t.key_file)),
    ];
    for (a, a_set, b, b_set) in pairs {
        if a_set && b_set {
            return Err(Issue::at(
                &[b],
                format!("at most one of {a} and {b} must be configured"),
            ));
        }
    }
    let has_cert = set(&t.cert) || set(&t.cert_file);
    let has_key = secret_set(&t.key) || set(&t.key_file);
    if has_cert && !has_key {
        return Err(Issue::at(
            &[if set(&t.cert) { "cert" } else { "cert_file" }],
            "exactly one of key or key_file must be configured when a client certificate is configured",
        ));
    }
    if has_key && !has_cert {
        return Err(Issue::at(
            &[if secret_set(&t.key) {
                "key"
            } else {
                "key_file"
            }],
            "exactly one of cert or cert_file must be configured when a client key is configured",
        ));
    }
    for (k, v) in [
        ("min_version", &t.min_version),
        ("max_version", &t.max_version),
    ] {
        if let Some(v) = v
            && !["TLS10", "TLS11", "TLS12", "TLS13"].contains(&v.as_str())
        {
            return Err(Issue::at(&[k], format!("unknown TLS version: {v}")));
        }
    }
    Ok(())
}

/// Headers Prometheus refuses to let a remote-write config set (lowercase); the remote
/// write client enforces the same list.
pub(crate) const RESERVED_HEADERS: [&str; 17] = [
    "host",
    "content-encoding",
    "content-length",
    "content-type",
    "user-agent",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "www-authenticate",
    "accept-encoding",
    "x-prometheus-remote-write-version",
    "x-prometheus-remote-read-version",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
    "authorization",
];

/// Checks one remote_write entry. Paths are relative to the entry.
pub(crate) fn check_remote_write(rw: &RemoteWriteConfig) -> Check {
    if rw.url.is_empty() {
        return Err(Issue::at(&["url"], "url for remote_write is empty"));
    }
    check_http_url(&rw.url, "remote_write url").map_err(|m| Issue::at(&["url"], m))?;
    check_headers(&rw.headers)?;
    match rw.protobuf_message.as_deref() {
        None | Some("prometheus.WriteRequest") => {}
        Some("io.prometheus.write.v2.Request") => {
            return Err(Issue::at(
                &["protobuf_message"],
                "protobuf_message io.prometheus.write.v2.Request (remote write 2.0) is not supported by shoal; use prometheus.WriteRequest",
            ));
        }
        Some(other) => {
            return Err(Issue::at(
                &["protobuf_message"],
                format!(
                    "invalid protobuf_message value: unknown remote write protobuf message {other}, supported: prometheus.WriteRequest, io.prometheus.write.v2.Request"
                ),
            ));
        }
    }
    check_http(&rw.http)?;
    check_queue(&rw.queue_config).map_err(|e| e.then(Seg::Key("queue_config".into())))
}

fn check_headers(headers: &BTreeMap<String, String>) -> Check {
    for h in headers.keys() {
        let lower = h.to_ascii_lowercase();
        if lower == "authorization" {
            return Err(Issue::at(
                &["headers", h],
                "authorization header must be changed via the basic_auth, authorization, oauth2, sigv4, azuread or google_iam parameter",
            ));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(Issue::at(
                &["headers", h],
                format!("{h} is a reserved header. It must not be changed"),
            ));
        }
    }
    Ok(())
}

fn check_queue(q: &QueueConfig) -> Check {
    let positive = [
        ("capacity", q.capacity),
        ("max_shards", q.max_shards),
        ("min_shards", q.min_shards),
        ("max_samples_per_send", q.max_samples_per_send),
    ];
    for (k, v) in positive {
        if v == 0 {
            return Err(Issue::at(&[k], format!("{k} must be greater than 0")));
        }
    }
    if q.min_shards > q.max_shards {
        return Err(Issue::at(
            &["min_shards"],
            format!(
                "min_shards ({}) must not be greater than max_shards ({})",
                q.min_shards, q.max_shards
            ),
        ));
    }
    for (k, v) in [
        ("batch_send_deadline", q.batch_send_deadline),
        ("min_backoff", q.min_backoff),
        ("max_backoff", q.max_backoff),
    ] {
        if v.0.is_zero() {
            return Err(Issue::at(&[k], format!("{k} must be greater than 0")));
        }
    }
    if q.min_backoff > q.max_backoff {
        return Err(Issue::at(
            &["min_backoff"],
            format!(
                "min_backoff ({}) must not be greater than max_backoff ({})",
                q.min_backoff, q.max_backoff
            ),
        ));
    }
    Ok(())
}
