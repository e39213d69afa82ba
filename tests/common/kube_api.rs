//! A local stand-in for the Kubernetes API server that speaks the real list/watch protocol
//! over plain HTTP on 127.0.0.1:0, for `kubernetes_sd_configs` tests.
//!
//! - LIST `/api/v1[/namespaces/NS]/PLURAL` (and the `discovery.k8s.io/v1`,
//!   `networking.k8s.io/v1`, `apps/v1`, `batch/v1` groups; `/api/v1/namespaces` itself
//!   for the cluster-scoped namespaces) answers `{kind: XList, metadata: {resourceVersion,
//!   continue}, items}`, in chunks of `limit` with a `continue` token.
//! - WATCH (`?watch=true&resourceVersion=N`) streams chunked JSON lines `{type, object}`:
//!   every recorded event after N, then live ones; a `BOOKMARK` after the replay when
//!   `allowWatchBookmarks` is set. A version older than the compaction point gets an
//!   `ERROR` event carrying a `Status` with code 410 (Gone), as the real server does.
//! - `labelSelector` (`k=v`, `k!=v`, `k`) and `fieldSelector` (`path=v`, `path!=v` on any
//!   dotted field such as `spec.nodeName`) are applied, and every request is recorded so
//!   tests can assert what reached the server.
//! - `/version` answers a v1.30 server, as client-go's discovery expects.
//! - Tests can pause event delivery, drop every open watch, and compact history.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

/// One request as the server saw it.
#[derive(Clone, Debug, Default)]
pub struct ApiRequest {
    /// `list` or `watch`.
    pub verb: String,
    /// Resource plural (`pods`, `endpointslices`, ...).
    pub plural: String,
    /// The namespace in the path, if any.
    pub namespace: Option<String>,
    /// `labelSelector` query parameter.
    pub label_selector: String,
    /// `fieldSelector` query parameter.
    pub field_selector: String,
    /// `resourceVersion` query parameter.
    pub resource_version: String,
    /// `limit` query parameter.
    pub limit: Option<usize>,
    /// `continue` query parameter.
    pub continue_token: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    rv: u64,
    /// plural → (namespace, name) → object.
    objects: BTreeMap<String, BTreeMap<(String, String), Value>>,
    /// (rv, plural, event type, object) in order.
    history: Vec<(u64, String, &'static str, Value)>,
    /// Watches from a version below this get 410 Gone.
    compacted: u64,
    requests: Vec<ApiRequest>,
    paused: bool,
    gone_sent: usize,
    open_watches: usize,
    /// Resources answered with 404, as a CRD that is not installed.
    uninstalled: Vec<String>,
}

/// The running fake API server.
pub struct KubeApi {
    addr: std::net::SocketAddr,
    inner: Arc<Mutex<Inner>>,
    /// Bumped on every change; the second field counts `drop_watches` calls.
    signal: watch::Sender<(u64, u64)>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for KubeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[derive(Clone)]
struct Ctx {
    inner: Arc<Mutex<Inner>>,
    signal: watch::Sender<(u64, u64)>,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl KubeApi {
    /// Starts the server on a free loopback port.
    pub async fn start() -> KubeApi {
        let inner = Arc::new(Mutex::new(Inner {
            rv: 100,
            ..Inner::default()
        }));
        let (signal, _) = watch::channel((0, 0));
        let ctx = Ctx {
            inner: inner.clone(),
            signal: signal.clone(),
        };
        let app = axum::Router::new().fallback(handle).with_state(ctx);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        KubeApi {
            addr,
            inner,
            signal,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Creates or replaces an object (an `ADDED` or `MODIFIED` event). `plural` is the
    /// resource (`pods`); the object needs `metadata.name` (and `namespace` if namespaced).
    pub fn apply(&self, plural: &str, mut obj: Value) {
        let mut g = lock(&self.inner);
        g.rv += 1;
        let rv = g.rv;
        let (ns, name) = key_of(&obj);
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
            m.entry("uid")
                .or_insert_with(|| json!(format!("uid-{ns}-{name}")));
        }
        let old = g
            .objects
            .entry(plural.to_string())
            .or_default()
            .insert((ns, name), obj.clone());
        let ty = if old.is_some() { "MODIFIED" } else { "ADDED" };
        g.history.push((rv, plural.to_string(), ty, obj));
        drop(g);
        self.signal.send_modify(|s| s.0 += 1);
    }

    /// Deletes an object (a `DELETED` event); unknown objects are ignored.
    pub fn delete(&self, plural: &str, namespace: &str, name: &str) {
        let mut g = lock(&self.inner);
        let key = (namespace.to_string(), name.to_string());
        let Some(mut obj) = g.objects.get_mut(plural).and_then(|m| m.remove(&key)) else {
            return;
        };
        g.rv += 1;
        let rv = g.rv;
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        g.history.push((rv, plural.to_string(), "DELETED", obj));
        drop(g);
        self.signal.send_modify(|s| s.0 += 1);
    }

    /// Stops (or resumes) delivering events on open watches; lists still see everything.
    pub fn pause_watches(&self, paused: bool) {
        lock(&self.inner).paused = paused;
        self.signal.send_modify(|s| s.0 += 1);
    }

    /// Ends every open watch response (the connection closes cleanly mid-watch).
    pub fn drop_watches(&self) {
        self.signal.send_modify(|s| s.1 += 1);
    }

    /// Forgets history up to now: a watch from an older version gets 410 Gone.
    pub fn compact(&self) {
        let mut g = lock(&self.inner);
        g.compacted = g.rv;
        let keep = g.rv;
        g.history.retain(|(rv, ..)| *rv > keep);
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<ApiRequest> {
        lock(&self.inner).requests.clone()
    }

    /// How many `verb` (`list`/`watch`) requests for `plural` arrived.
    pub fn count(&self, verb: &str, plural: &str) -> usize {
        lock(&self.inner)
            .requests
            .iter()
            .filter(|r| r.verb == verb && r.plural == plural)
            .count()
    }

    /// How many 410 Gone errors were sent.
    pub fn gone_sent(&self) -> usize {
        lock(&self.inner).gone_sent
    }

    /// Answers 404 for `plural` (a custom resource whose CRD is not installed) or serves
    /// it again.
    pub fn set_installed(&self, plural: &str, installed: bool) {
        let mut g = lock(&self.inner);
        g.uninstalled.retain(|p| p != plural);
        if !installed {
            g.uninstalled.push(plural.to_string());
        }
    }

    /// Watches currently streaming.
    pub fn open_watches(&self) -> usize {
        lock(&self.inner).open_watches
    }
}

fn key_of(obj: &Value) -> (String, String) {
    let m = &obj["metadata"];
    (
        m["namespace"].as_str().unwrap_or("").to_string(),
        m["name"].as_str().unwrap_or("").to_string(),
    )
}

/// `(plural, namespace, list kind)` of a request path.
fn parse_path(path: &str) -> Option<(String, Option<String>)> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let rest: &[&str] = match parts.as_slice() {
        ["api", "v1", rest @ ..] => rest,
        ["apis", _, _version, rest @ ..] => rest,
        _ => return None,
    };
    match rest {
        [plural] => Some((plural.to_string(), None)),
        ["namespaces", ns, plural] => Some((plural.to_string(), Some(ns.to_string()))),
        _ => None,
    }
}

fn list_kind(plural: &str) -> &'static str {
    match plural {
        "pods" => "PodList",
        "services" => "ServiceList",
        "endpoints" => "EndpointsList",
        "endpointslices" => "EndpointSliceList",
        "nodes" => "NodeList",
        "ingresses" => "IngressList",
        "namespaces" => "NamespaceList",
        "replicasets" => "ReplicaSetList",
        "jobs" => "JobList",
        _ => "List",
    }
}

fn field(obj: &Value, path: &str) -> String {
    let mut v = obj;
    for part in path.split('.') {
        v = &v[part];
    }
    v.as_str().map(str::to_string).unwrap_or_default()
}

/// Applies simple label and field selectors (`k=v`, `k==v`, `k!=v`, and `k` for labels).
fn matches(obj: &Value, label: &str, fieldsel: &str) -> bool {
    let labels = &obj["metadata"]["labels"];
    let label_ok = label.split(',').filter(|t| !t.is_empty()).all(|t| {
        if let Some((k, v)) = t.split_once("!=") {
            labels[k.trim()].as_str() != Some(v.trim())
        } else if let Some((k, v)) = t.split_once('=') {
            labels[k.trim()].as_str() == Some(v.trim_start_matches('=').trim())
        } else {
            !labels[t.trim()].is_null()
        }
    });
    let field_ok = fieldsel.split(',').filter(|t| !t.is_empty()).all(|t| {
        if let Some((k, v)) = t.split_once("!=") {
            field(obj, k.trim()) != v.trim()
        } else if let Some((k, v)) = t.split_once('=') {
            field(obj, k.trim()) == v.trim_start_matches('=').trim()
        } else {
            true
        }
    });
    label_ok && field_ok
}

async fn handle(
    State(ctx): State<Ctx>,
    uri: Uri,
    headers: axum::http::HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if uri.path() == "/version" {
        // client-go asks this before using discovery.k8s.io/v1 (Prometheus' endpointslice role).
        return axum::Json(json!({"major": "1", "minor": "30", "gitVersion": "v1.30.0",
            "platform": "linux/amd64"}))
        .into_response();
    }
    let Some((plural, namespace)) = parse_path(uri.path()) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    let is_watch = matches!(get("watch").as_str(), "true" | "1");
    let req = ApiRequest {
        verb: if is_watch { "watch" } else { "list" }.into(),
        plural: plural.clone(),
        namespace: namespace.clone(),
        label_selector: get("labelSelector"),
        field_selector: get("fieldSelector"),
        resource_version: get("resourceVersion"),
        limit: get("limit").parse().ok(),
        continue_token: get("continue"),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    lock(&ctx.inner).requests.push(req.clone());
    if lock(&ctx.inner).uninstalled.contains(&plural) {
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "message": "the server could not find the requested resource", "reason": "NotFound", "code": 404});
        return (StatusCode::NOT_FOUND, axum::Json(status)).into_response();
    }
    if is_watch {
        watch_response(ctx, req, get("allowWatchBookmarks") == "true")
    } else {
        list_response(&ctx, &req)
    }
}

fn list_response(ctx: &Ctx, req: &ApiRequest) -> Response {
    let g = lock(&ctx.inner);
    let all: Vec<&Value> = g
        .objects
        .get(&req.plural)
        .map(|m| {
            m.iter()
                .filter(|((ns, _), _)| req.namespace.as_ref().is_none_or(|want| want == ns))
                .map(|(_, v)| v)
                .filter(|v| matches(v, &req.label_selector, &req.field_selector))
                .collect()
        })
        .unwrap_or_default();
    // continue token: "<list rv>:<offset>", so every chunk shows the same version.
    let (rv, offset) = match req.continue_token.split_once(':') {
        Some((rv, off)) => (rv.parse().unwrap_or(g.rv), off.parse().unwrap_or(0)),
        None => (g.rv, 0),
    };
    let limit = req.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
    let items: Vec<&Value> = all.iter().skip(offset).take(limit).copied().collect();
    let next = offset.saturating_add(items.len());
    let mut metadata = json!({"resourceVersion": rv.to_string()});
    if next < all.len() {
        metadata["continue"] = json!(format!("{rv}:{next}"));
    }
    let body = json!({
        "kind": list_kind(&req.plural),
        "apiVersion": "v1",
        "metadata": metadata,
        "items": items,
    });
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn watch_response(ctx: Ctx, req: ApiRequest, bookmarks: bool) -> Response {
    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    tokio::spawn(async move {
        lock(&ctx.inner).open_watches += 1;
        stream_events(&ctx, &req, bookmarks, tx).await;
        lock(&ctx.inner).open_watches -= 1;
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

fn line(ty: &str, obj: &Value) -> Result<Bytes, Infallible> {
    let mut s = json!({"type": ty, "object": obj}).to_string();
    s.push('\n');
    Ok(Bytes::from(s))
}

async fn stream_events(
    ctx: &Ctx,
    req: &ApiRequest,
    bookmarks: bool,
    tx: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let mut signal = ctx.signal.subscribe();
    let dropped_at = signal.borrow_and_update().1;
    let mut cursor: u64 = req.resource_version.parse().unwrap_or(0);
    let gone = {
        let mut g = lock(&ctx.inner);
        if cursor < g.compacted {
            g.gone_sent += 1;
            Some(json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {},
                "status": "Failure", "reason": "Expired", "code": 410,
                "message": format!("too old resource version: {cursor} ({})", g.compacted),
            }))
        } else {
            None
        }
    };
    if let Some(status) = gone {
        let _ = tx.send(line("ERROR", &status)).await;
        return;
    }
    let mut first = true;
    loop {
        let batch: Vec<(u64, &'static str, Value)> = {
            let g = lock(&ctx.inner);
            if g.paused {
                Vec::new()
            } else {
                let mut out: Vec<(u64, &'static str, Value)> =
                    g.history
                        .iter()
                        .filter(|(rv, p, _, obj)| {
                            *rv > cursor
                                && *p == req.plural
                                && req.namespace.as_ref().is_none_or(|ns| {
                                    obj["metadata"]["namespace"].as_str() == Some(ns)
                                })
                                && matches(obj, &req.label_selector, &req.field_selector)
                        })
                        .map(|(rv, _, ty, obj)| (*rv, *ty, obj.clone()))
                        .collect();
                if first && bookmarks {
                    let bm = json!({"kind": "Bookmark", "apiVersion": "v1",
                        "metadata": {"resourceVersion": g.rv.to_string()}});
                    out.push((g.rv, "BOOKMARK", bm));
                }
                // Everything up to now has been considered for this watch.
                cursor = cursor.max(g.rv);
                out
            }
        };
        if !batch.is_empty() {
            first = false;
        }
        for (_, ty, obj) in batch {
            if tx.send(line(ty, &obj)).await.is_err() {
                return;
            }
        }
        if signal.changed().await.is_err() {
            return;
        }
        if signal.borrow_and_update().1 != dropped_at {
            return;
        }
    }
}
