//! Service discovery: each provider yields target groups; the [`Manager`] merges them per job.
//!
//! Shaped like Prometheus' `discovery/` package, with one simplification: a provider always
//! sends the *full* list of its groups (never a delta), so the manager just replaces what it
//! had from that provider. Providers: [`StaticProvider`] (`static_configs`), [`FileProvider`]
//! (`file_sd_configs`), [`HttpProvider`] (`http_sd_configs`),
//! [`kubernetes::KubernetesProvider`] (`kubernetes_sd_configs`).

mod cancel;
mod file_sd;
mod glob;
mod http_sd;
pub mod kubernetes;
mod manager;
mod metrics;
mod static_sd;
mod target_group;

#[cfg(test)]
mod tests;

use futures::future::BoxFuture;
use tokio::sync::mpsc;

pub use cancel::{Cancel, CancelHandle, cancel_pair};
pub use file_sd::{FileProvider, FileSdError};
pub use http_sd::{HttpProvider, HttpSdError};
pub use manager::{ApplyError, Manager, ManagerOptions, TargetsByJob};
pub use metrics::DiscoveryMetrics;
pub use static_sd::StaticProvider;
pub use target_group::{ADDRESS_LABEL, ParseError, SharedGroups, TargetGroup, labels_of, share};

/// What every discovery mechanism implements.
///
/// `run` sends the provider's complete current list of groups on `tx` whenever it changes
/// (the first send is its initial state, possibly empty), and returns once `cancel` fires
/// or `tx` is closed. It never panics on bad input: errors are logged and counted, and the
/// last good groups stay in effect.
pub trait Provider: Send + 'static {
    /// Mechanism name for logs and metrics: `static`, `file`, `http`, `kubernetes`, ...
    fn mechanism(&self) -> &'static str;

    /// Runs until cancelled, sending full updates of this provider's groups.
    fn run(
        self: Box<Self>,
        tx: mpsc::Sender<SharedGroups>,
        cancel: Cancel,
    ) -> BoxFuture<'static, ()>;
}
