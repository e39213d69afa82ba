//! A scrape target whose answer per path can be changed while shoal scrapes it.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;

/// The text exposition content type.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// One HTTP answer of a target.
#[derive(Clone, Debug)]
pub struct Reply {
    /// HTTP status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The body as sent (already compressed when `gzip` is false and a
    /// `Content-Encoding` header is set by hand).
    pub body: Bytes,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Compress `body` with gzip and say so in `Content-Encoding`.
    pub gzip: bool,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// 200 with a text exposition body.
    pub fn text(body: impl Into<String>) -> Reply {
        Reply {
            status: 200,
            content_type: Some(TEXT_CONTENT_TYPE.to_string()),
            body: Bytes::from(body.into()),
            delay: Duration::ZERO,
            gzip: false,
            headers: Vec::new(),
        }
    }

    /// 200 with raw bytes, labelled as the text format unless changed.
    pub fn bytes(body: impl Into<Bytes>) -> Reply {
        Reply {
            body: body.into(),
            ..Reply::text("")
        }
    }

    /// Sets the status code.
    pub fn status(mut self, status: u16) -> Reply {
        self.status = status;
        self
    }

    /// Sets (or with `None` removes) the content type.
    pub fn content_type(mut self, ct: Option<&str>) -> Reply {
        self.content_type = ct.map(str::to_string);
        self
    }

    /// Delays the answer.
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }

    /// gzip-compresses the body when sending.
    pub fn gzip(mut self) -> Reply {
        self.gzip = true;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// Computes a reply from the 0-based number of the request to that path.
pub type ReplyFn = Arc<dyn Fn(u64) -> Reply + Send + Sync>;

#[derive(Clone)]
enum Route {
    Fixed(Reply),
    Dynamic(ReplyFn),
}

#[derive(Default)]
struct Shared {
    routes: Mutex<HashMap<String, Route>>,
    hits: Mutex<HashMap<String, Arc<AtomicU64>>>,
    /// The `Authorization` header of every request that had one, in arrival order.
    authorizations: Mutex<Vec<String>>,
}

/// An HTTP server on a loopback address answering per path as configured; unknown
/// paths get 404.
pub struct TargetServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl TargetServer {
    /// Starts on `127.0.0.1` with a free port.
    pub async fn start() -> TargetServer {
        TargetServer::start_on("127.0.0.1").await
    }

    /// Starts on `ip` (any 127.0.0.x, so that several targets get distinct instances).
    pub async fn start_on(ip: &str) -> TargetServer {
        let shared = Arc::new(Shared::default());
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .expect("bind target");
        let addr = listener.local_addr().expect("target addr");
        let app = axum::Router::new()
            .fallback(serve)
            .with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TargetServer { addr, shared, task }
    }

    /// `ip:port`, what goes into `static_configs.targets`.
    pub fn addr(&self) -> String {
        self.addr.to_string()
    }

    /// `http://ip:port{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers `path` with `reply` from now on.
    pub fn set(&self, path: &str, reply: Reply) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), Route::Fixed(reply));
    }

    /// Answers `path` with `f(request number)` from now on.
    pub fn set_fn(&self, path: &str, f: impl Fn(u64) -> Reply + Send + Sync + 'static) {
        self.shared
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), Route::Dynamic(Arc::new(f)));
    }

    /// The `Authorization` header of every request that had one, in arrival order.
    pub fn authorizations(&self) -> Vec<String> {
        self.shared.authorizations.lock().unwrap().clone()
    }

    /// How many requests `path` received (answered or still in progress).
    pub fn hits(&self, path: &str) -> u64 {
        self.counter(path).load(Ordering::SeqCst)
    }

    fn counter(&self, path: &str) -> Arc<AtomicU64> {
        counter(&self.shared, path)
    }
}

impl Drop for TargetServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn counter(shared: &Shared, path: &str) -> Arc<AtomicU64> {
    shared
        .hits
        .lock()
        .unwrap()
        .entry(path.to_string())
        .or_default()
        .clone()
}

async fn serve(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    request_headers: axum::http::HeaderMap,
) -> Response {
    if let Some(auth) = request_headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
    {
        shared.authorizations.lock().unwrap().push(auth.to_owned());
    }
    let path = uri.path().to_string();
    let n = counter(&shared, &path).fetch_add(1, Ordering::SeqCst);
    let route = shared.routes.lock().unwrap().get(&path).cloned();
    let reply = match route {
        Some(Route::Fixed(r)) => r,
        Some(Route::Dynamic(f)) => f(n),
        None => Reply::text("not found\n").status(404),
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let body = if reply.gzip {
        gzip(&reply.body)
    } else {
        reply.body.clone()
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).expect("valid status");
    let headers = resp.headers_mut();
    if let Some(ct) = &reply.content_type {
        headers.insert(
            "content-type",
            HeaderValue::from_str(ct).expect("content type"),
        );
    }
    if reply.gzip {
        headers.insert("content-encoding", HeaderValue::from_static("gzip"));
    }
    for (k, v) in &reply.headers {
        headers.insert(
            HeaderName::from_bytes(k.as_bytes()).expect("header name"),
            HeaderValue::from_str(v).expect("header value"),
        );
    }
    resp
}

/// gzip-compresses `data`.
pub fn gzip(data: &[u8]) -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(data).expect("gzip");
    Bytes::from(enc.finish().expect("gzip finish"))
}

/// A gzip stream that inflates to `mib` MiB of zero bytes (a "gzip bomb"): 1 GiB takes
/// about 1 MiB. Built in O(size of output) by repeating one sync-flushed deflate block,
/// which is valid because every repetition sees a window of zeros behind it.
pub fn gzip_zeros(mib: usize) -> Bytes {
    use flate2::{Compress, Compression, Crc, FlushCompress};
    const CHUNK: usize = 1 << 20;
    let zeros = vec![0u8; CHUNK];
    let mut deflate = Compress::new(Compression::best(), false);
    let mut block = |out: &mut Vec<u8>| {
        let before = deflate.total_in();
        out.reserve(64 << 10);
        deflate
            .compress_vec(&zeros, out, FlushCompress::Sync)
            .expect("deflate");
        assert_eq!(
            deflate.total_in() - before,
            CHUNK as u64,
            "deflate consumed the chunk"
        );
    };
    let (mut first, mut repeated) = (Vec::new(), Vec::new());
    block(&mut first);
    block(&mut repeated);

    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(&first);
    for _ in 1..mib {
        out.extend_from_slice(&repeated);
    }
    // An empty, final stored block, then CRC-32 and size mod 2^32.
    out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    let mut one = Crc::new();
    one.update(&zeros);
    let mut crc = Crc::new();
    for _ in 0..mib {
        crc.combine(&one);
    }
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&((mib as u64 * CHUNK as u64) as u32).to_le_bytes());
    Bytes::from(out)
}
