//! Handlers of the JSON API and the lifecycle endpoints.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio::sync::oneshot;

use super::WebState;

/// Prometheus' API envelope.
#[derive(Debug, Serialize)]
pub struct ApiResponse<T: Serialize> {
    /// `success` or `error`.
    pub status: &'static str,
    /// Payload on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Error class on failure.
    #[serde(rename = "errorType", skip_serializing_if = "Option::is_none")]
    pub error_type: Option<&'static str>,
    /// Error text on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<T: Serialize> ApiResponse<T> {
    /// A success envelope around `data`.
    pub fn ok(data: T) -> Self {
        ApiResponse {
            status: "success",
            data: Some(data),
            error_type: None,
            error: None,
        }
    }
}

pub(super) async fn healthy() -> &'static str {
    "Shoal is Healthy.\n"
}

pub(super) async fn ready(State(s): State<WebState>) -> Response {
    match s.view.readiness() {
        Ok(()) => (StatusCode::OK, "Shoal is Ready.\n").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("Service Unavailable: {why}\n"),
        )
            .into_response(),
    }
}

pub(super) async fn reload(State(s): State<WebState>) -> Response {
    let (tx, rx) = oneshot::channel();
    if s.reload.send(tx).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match rx.await {
        Ok(Ok(())) => (StatusCode::OK, "").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

pub(super) async fn metrics(State(s): State<WebState>) -> Response {
    let mut body = String::with_capacity(16 * 1024);
    if let Err(e) = prometheus_client::encoding::text::encode(&mut body, &s.registry) {
        return (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// `?state=active|dropped|any` and `?scrapePool=NAME`, as Prometheus filters.
pub(super) async fn targets(
    State(s): State<WebState>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<ApiResponse<serde_json::Value>> {
    let mut data = s.view.targets();
    let state = q.get("state").map(|s| s.to_ascii_lowercase());
    if let Some(obj) = data.as_object_mut() {
        match state.as_deref() {
            Some("active") => {
                obj.insert("droppedTargets".into(), serde_json::json!([]));
            }
            Some("dropped") => {
                obj.insert("activeTargets".into(), serde_json::json!([]));
            }
            _ => {}
        }
        if let Some(pool) = q.get("scrapePool") {
            for key in ["activeTargets", "droppedTargets"] {
                if let Some(serde_json::Value::Array(list)) = obj.get_mut(key) {
                    list.retain(|t| {
                        t.get("scrapePool").and_then(|p| p.as_str()) == Some(pool.as_str())
                            || key == "droppedTargets"
                                && t.get("discoveredLabels")
                                    .and_then(|l| l.get("job"))
                                    .and_then(|j| j.as_str())
                                    == Some(pool.as_str())
                    });
                }
            }
        }
    }
    Json(ApiResponse::ok(data))
}

/// The bare object of DESIGN.md (no API envelope): operators compare `view_hash` across
/// peers.
pub(super) async fn cluster(State(s): State<WebState>) -> Json<crate::cluster::ClusterStatus> {
    Json(s.view.cluster())
}

/// Every target of the cluster with its owner, and the owner's report of its state.
pub(super) async fn cluster_targets(
    State(s): State<WebState>,
) -> Json<ApiResponse<serde_json::Value>> {
    Json(ApiResponse::ok(
        super::cluster_targets::collect(s.view.as_ref()).await,
    ))
}

pub(super) async fn config(State(s): State<WebState>) -> Json<ApiResponse<serde_json::Value>> {
    Json(ApiResponse::ok(
        serde_json::json!({ "yaml": s.view.config_yaml() }),
    ))
}

pub(super) async fn buildinfo() -> Json<ApiResponse<serde_json::Value>> {
    Json(ApiResponse::ok(serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("SHOAL_GIT_REVISION").unwrap_or(""),
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    })))
}

/// `GET /api/v1/operator`: the operator objects this peer selected, accepted or rejected.
pub(super) async fn operator(State(s): State<WebState>) -> Json<ApiResponse<serde_json::Value>> {
    Json(ApiResponse::ok(s.view.operator()))
}
