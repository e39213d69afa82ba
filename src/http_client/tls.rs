//! Our own rustls `ClientConfig` from Prometheus' `tls_config`.
//!
//! reqwest's builder cannot verify against a different server name than the URL's host,
//! so we build the config ourselves: roots (configured CA only, or the system's),
//! client identity, TLS versions, ALPN, and verifier wrappers for `server_name` and
//! `insecure_skip_verify`.

use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme, SupportedProtocolVersion};

use super::HttpClientError;
use crate::config::TlsConfig;

fn provider() -> Arc<CryptoProvider> {
    static P: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// Builds the rustls config for a client; `http2` decides the ALPN offer.
pub(super) fn client_config(
    tls: Option<&TlsConfig>,
    http2: bool,
) -> Result<rustls::ClientConfig, HttpClientError> {
    let default = TlsConfig::default();
    let tls = tls.unwrap_or(&default);
    if *tls == default {
        // Most jobs set no TLS option: they share one config (and its session cache)
        // instead of building one each.
        static PLAIN_H1: OnceLock<rustls::ClientConfig> = OnceLock::new();
        static PLAIN_H2: OnceLock<rustls::ClientConfig> = OnceLock::new();
        let cell = if http2 { &PLAIN_H2 } else { &PLAIN_H1 };
        if let Some(c) = cell.get() {
            return Ok(c.clone());
        }
        let c = build_client_config(tls, http2)?;
        let _ = cell.set(c.clone());
        return Ok(c);
    }
    build_client_config(tls, http2)
}

fn build_client_config(
    tls: &TlsConfig,
    http2: bool,
) -> Result<rustls::ClientConfig, HttpClientError> {
    let versions = versions(tls.min_version.as_deref(), tls.max_version.as_deref())?;
    let verifier = verifier(tls)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&versions)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity(tls)? {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key)?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// Prometheus' names `TLS10`..`TLS13`; rustls speaks only 1.2 and 1.3, so a minimum below
/// 1.2 allows 1.2 and up, and a maximum below 1.2 cannot be met.
fn versions(
    min: Option<&str>,
    max: Option<&str>,
) -> Result<Vec<&'static SupportedProtocolVersion>, HttpClientError> {
    fn rank(name: &str, which: &str) -> Result<u8, HttpClientError> {
        match name {
            "TLS10" => Ok(10),
            "TLS11" => Ok(11),
            "TLS12" => Ok(12),
            "TLS13" => Ok(13),
            other => Err(HttpClientError::InvalidConfig(format!(
                "unknown TLS version for {which}: {other:?} (use TLS10, TLS11, TLS12 or TLS13)"
            ))),
        }
    }
    let lo = min
        .filter(|s| !s.is_empty())
        .map(|s| rank(s, "min_version"))
        .transpose()?
        .unwrap_or(12);
    let hi = max
        .filter(|s| !s.is_empty())
        .map(|s| rank(s, "max_version"))
        .transpose()?
        .unwrap_or(13);
    let mut out = Vec::new();
    if lo <= 12 && hi >= 12 {
        out.push(&rustls::version::TLS12);
    }
    if lo <= 13 && hi >= 13 {
        out.push(&rustls::version::TLS13);
    }
    if out.is_empty() {
        return Err(HttpClientError::InvalidConfig(format!(
            "no supported TLS version between min_version {lo} and max_version {hi} (only TLS12 and TLS13 are supported)"
        )));
    }
    Ok(out)
}

/// PEM text and where it came from, for error messages.
struct PemInput {
    bytes: Vec<u8>,
    /// The file path, or `inline`.
    origin: String,
    /// The setting that gave it.
    what: &'static str,
}

/// PEM text from a file or inline.
fn pem_source(
    inline: Option<&str>,
    file: Option<&str>,
    what_inline: &'static str,
    what_file: &'static str,
) -> Result<Option<PemInput>, HttpClientError> {
    let inline = inline.filter(|s| !s.is_empty());
    let file = file.filter(|s| !s.is_empty());
    match (inline, file) {
        (Some(_), Some(_)) => Err(HttpClientError::InvalidConfig(format!(
            "at most one of {what_inline} and {what_file} must be configured"
        ))),
        (Some(s), None) => Ok(Some(PemInput {
            bytes: s.as_bytes().to_vec(),
            origin: "inline".into(),
            what: what_inline,
        })),
        (None, Some(p)) => {
            let bytes = std::fs::read(p).map_err(|source| HttpClientError::ReadFile {
                what: what_file,
                path: p.into(),
                source,
            })?;
            Ok(Some(PemInput {
                bytes,
                origin: format!("{p:?}"),
                what: what_file,
            }))
        }
        (None, None) => Ok(None),
    }
}

fn certificates(
    pem: &[u8],
    origin: &str,
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, HttpClientError> {
    let bad = |reason: String| HttpClientError::Pem {
        what,
        origin: origin.to_string(),
        reason,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate found".into()));
    }
    Ok(certs)
}

fn verifier(tls: &TlsConfig) -> Result<Arc<dyn ServerCertVerifier>, HttpClientError> {
    let ca = pem_source(tls.ca.as_deref(), tls.ca_file.as_deref(), "ca", "ca_file")?;
    if tls.insecure_skip_verify {
        return Ok(Arc::new(NoVerification(provider())));
    }
    let base: Arc<dyn ServerCertVerifier> = match ca {
        // A configured CA replaces the system roots, as in Prometheus.
        Some(PemInput {
            bytes,
            origin,
            what,
        }) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(&bytes, &origin, what)? {
                roots.add(cert).map_err(|e| HttpClientError::Pem {
                    what,
                    origin: origin.clone(),
                    reason: e.to_string(),
                })?;
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| HttpClientError::InvalidConfig(format!("{what}: {e}")))?
        }
        None => system_verifier(),
    };
    match tls.server_name.as_deref().filter(|s| !s.is_empty()) {
        Some(name) => {
            let name = ServerName::try_from(name.to_string()).map_err(|e| {
                HttpClientError::InvalidConfig(format!("server_name {name:?}: {e}"))
            })?;
            Ok(Arc::new(OverrideName { inner: base, name }))
        }
        None => Ok(base),
    }
}

/// The system roots, loaded once per process: parsing the bundle for each of hundreds of
/// clients would be slow. Without any system root, https works only with `ca`/`ca_file`.
fn system_verifier() -> Arc<dyn ServerCertVerifier> {
    static V: OnceLock<Arc<dyn ServerCertVerifier>> = OnceLock::new();
    V.get_or_init(
        || match rustls_platform_verifier::Verifier::new(provider()) {
            Ok(v) => Arc::new(v),
            Err(error) => {
                tracing::warn!(%error, "no system ca certificates; https needs tls_config.ca_file");
                let empty = Arc::new(RootCertStore::empty());
                match WebPkiServerVerifier::builder_with_provider(empty, provider()).build() {
                    Ok(v) => v,
                    // Building over an empty store fails; then nothing can be verified.
                    Err(_) => Arc::new(RejectAll(provider())),
                }
            }
        },
    )
    .clone()
}

fn identity(
    tls: &TlsConfig,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, HttpClientError> {
    let cert = pem_source(
        tls.cert.as_deref(),
        tls.cert_file.as_deref(),
        "cert",
        "cert_file",
    )?;
    let key = pem_source(
        tls.key.as_ref().map(|k| k.expose()),
        tls.key_file.as_deref(),
        "key",
        "key_file",
    )?;
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(HttpClientError::InvalidConfig(
            "client certificate specified without client key".into(),
        )),
        (None, Some(_)) => Err(HttpClientError::InvalidConfig(
            "client key specified without client certificate".into(),
        )),
        (Some(cert), Some(key)) => {
            let certs = certificates(&cert.bytes, &cert.origin, cert.what)?;
            let key_der =
                PrivateKeyDer::from_pem_slice(&key.bytes).map_err(|e| HttpClientError::Pem {
                    what: key.what,
                    origin: key.origin,
                    reason: e.to_string(),
                })?;
            Ok(Some((certs, key_der)))
        }
    }
}

/// Verifies the chain against `name` instead of the URL's host (`server_name`).
#[derive(Debug)]
struct OverrideName {
    inner: Arc<dyn ServerCertVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for OverrideName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `insecure_skip_verify`: any certificate is accepted; handshake signatures are still
/// checked so the peer must hold the certificate's key.
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Used only when no root store can be built at all: every certificate is refused.
#[derive(Debug)]
struct RejectAll(Arc<CryptoProvider>);

impl ServerCertVerifier for RejectAll {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("no trusted roots".into()))
    }
    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("no trusted roots".into()))
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
