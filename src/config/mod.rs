//! Prometheus-compatible configuration: parsing, defaults, validation with line numbers,
//! and what a reload needs (content hashes, per-section diffs).
//!
//! [`load`] reads a Prometheus (agent-mode) config file; every error names the file, line
//! and column. After loading, defaulted fields are filled (see the invariant documented in
//! `types.rs`).

mod check;
mod error;
pub(crate) mod glob;
mod hash;
mod http;
mod kubernetes;
mod load;
mod locate;
mod operator;
mod resolve;
mod types;
mod validate;
mod validate_client;
mod values;

pub use check::{CheckReport, check, check_output};
pub use error::ConfigError;
pub use hash::ConfigDiff;
pub use http::{Authorization, BasicAuth, HttpClientConfig, TlsConfig};
pub use kubernetes::{
    KubernetesAttachMetadata, KubernetesNamespaces, KubernetesRole, KubernetesSdConfig,
    KubernetesSelector,
};
pub use load::{generated_job, load, load_str};
pub use locate::Position;
pub use operator::{
    ArbitraryFsAccess, LabelSelector, LabelSelectorRequirement, ObjectReference, OperatorConfig,
};
pub use types::*;
pub(crate) use validate::valid_label_name;
pub(crate) use validate_client::RESERVED_HEADERS;
pub(crate) use values::with_secrets_exposed;
pub use values::{ByteSize, PromDuration, Secret, redact_url};

#[cfg(test)]
mod tests;
