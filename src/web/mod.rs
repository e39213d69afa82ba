//! HTTP API, status page and self-metrics.
//!
//! The web layer knows nothing of scraping internals: it asks an [`AgentView`] for what it
//! shows, and sends reload requests over a channel to the loop that owns the config.

mod api;
mod cluster_targets;
mod status_page;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

pub use api::ApiResponse;

/// What the HTTP layer reads from the running agent.
pub trait AgentView: Send + Sync + 'static {
    /// `Ok` once ready to serve, else the reason (shown by `/-/ready`).
    fn readiness(&self) -> Result<(), String>;
    /// The `data` object of `/api/v1/targets`: `{activeTargets: [...], droppedTargets: [...]}`,
    /// the active ones being the targets this peer scrapes now.
    fn targets(&self) -> serde_json::Value;
    /// Every target with its `owner`, as this peer computes it (same shape as
    /// [`AgentView::targets`]; health and last scrape are this peer's own).
    fn cluster_targets(&self) -> serde_json::Value;
    /// The loaded configuration as YAML, secrets shown as `<secret>`.
    fn config_yaml(&self) -> String;
    /// This peer's view of the cluster (`/api/v1/cluster`, the status page's peers).
    fn cluster(&self) -> crate::cluster::ClusterStatus;
    /// `/api/v1/operator`: the Prometheus Operator objects and what became of each.
    fn operator(&self) -> serde_json::Value {
        serde_json::json!({"enabled": false, "kinds": [], "objects": [], "jobs": 0})
    }
}

/// A reload request: the receiver answers with the outcome.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// Shared state of the handlers.
#[derive(Clone)]
pub struct WebState {
    /// The running agent.
    pub view: Arc<dyn AgentView>,
    /// Self-metrics, encoded on each `/metrics` request.
    pub registry: Arc<Registry>,
    /// Where `POST /-/reload` sends its request.
    pub reload: mpsc::Sender<ReloadRequest>,
}

/// All routes.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(status_page::index))
        .route("/-/healthy", get(api::healthy).head(api::healthy))
        .route("/-/ready", get(api::ready).head(api::ready))
        .route("/-/reload", post(api::reload).put(api::reload))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/targets", get(api::targets))
        .route("/api/v1/cluster", get(api::cluster))
        .route("/api/v1/cluster/targets", get(api::cluster_targets))
        .route("/api/v1/status/config", get(api::config))
        .route("/api/v1/operator", get(api::operator))
        .route("/api/v1/status/buildinfo", get(api::buildinfo))
        .with_state(state)
}

/// Binds the listener; errors here are start-up errors (port taken, bad address).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: WebState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
