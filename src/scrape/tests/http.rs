//! The real HTTP client against a local axum target.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::get;

use crate::scrape::ScrapeError;
use crate::scrape::client::{
    HttpScraper, HttpScraperOptions, Scraper, accept_header, build_client,
};

const EXPOSITION: &str = "# TYPE m gauge\nm{a=\"1\"} 1\n";

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// 16 MiB of zeros, gzipped to about 16 KiB (built once).
fn bomb() -> &'static [u8] {
    static BOMB: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BOMB.get_or_init(|| gzip(&vec![0u8; 16 << 20]))
}

struct Server {
    addr: SocketAddr,
    seen: Arc<Mutex<Option<HeaderMap>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server() -> Server {
    let seen: Arc<Mutex<Option<HeaderMap>>> = Arc::default();
    let record = Arc::clone(&seen);
    let gz = gzip(EXPOSITION.as_bytes());
    let app = Router::new()
        .route(
            "/metrics",
            get(move |h: HeaderMap| async move {
                *record.lock().unwrap() = Some(h);
                (
                    [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    EXPOSITION,
                )
            }),
        )
        .route(
            "/gzip",
            get(move || async move { ([(header::CONTENT_ENCODING, "gzip")], gz) }),
        )
        .route(
            "/bomb",
            get(|| async { ([(header::CONTENT_ENCODING, "gzip")], bomb().to_vec()) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                EXPOSITION
            }),
        )
        .route(
            "/500",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "boom") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { addr, seen, task }
}

fn scraper(url: String, timeout: Duration, body_size_limit: u64) -> HttpScraper {
    scraper_with(url, timeout, body_size_limit, true)
}

fn scraper_with(
    url: String,
    timeout: Duration,
    body_size_limit: u64,
    compression: bool,
) -> HttpScraper {
    let cfg = crate::config::ScrapeConfig::default();
    HttpScraper::new(
        build_client(&cfg).unwrap(),
        HttpScraperOptions {
            url,
            accept: accept_header(&["PrometheusText0.0.4".to_string()], "underscores").unwrap(),
            timeout,
            body_size_limit,
            compression,
        },
    )
    .unwrap()
}

#[tokio::test]
async fn plain_body_and_request_headers() {
    let s = server().await;
    let sc = scraper(
        format!("http://{}/metrics", s.addr),
        Duration::from_secs(5),
        0,
    );
    let mut body = Vec::new();
    let ct = sc.scrape(&mut body).await.unwrap();
    assert_eq!(body, EXPOSITION.as_bytes());
    assert_eq!(ct.as_deref(), Some("text/plain; version=0.0.4"));
    let h = s.seen.lock().unwrap().clone().unwrap();
    assert_eq!(
        h["accept"],
        accept_header(&["PrometheusText0.0.4".to_string()], "underscores")
            .unwrap()
            .as_str()
    );
    assert_eq!(h["accept-encoding"], "gzip");
    assert_eq!(h["x-prometheus-scrape-timeout-seconds"], "5");
    assert_eq!(
        h["user-agent"],
        concat!("shoal/", env!("CARGO_PKG_VERSION"))
    );
    // The buffer is reused: a second scrape replaces the body.
    sc.scrape(&mut body).await.unwrap();
    assert_eq!(body, EXPOSITION.as_bytes());
}

#[tokio::test]
async fn enable_compression_false_asks_for_identity() {
    let s = server().await;
    let sc = scraper_with(
        format!("http://{}/metrics", s.addr),
        Duration::from_secs(5),
        0,
        false,
    );
    let mut body = Vec::new();
    sc.scrape(&mut body).await.unwrap();
    let h = s.seen.lock().unwrap().clone().unwrap();
    assert_eq!(h["accept-encoding"], "identity");
}

#[tokio::test]
async fn gzip_body_is_decompressed() {
    let s = server().await;
    let sc = scraper(
        format!("http://{}/gzip", s.addr),
        Duration::from_secs(5),
        1 << 20,
    );
    let mut body = Vec::new();
    sc.scrape(&mut body).await.unwrap();
    assert_eq!(body, EXPOSITION.as_bytes());
}

#[tokio::test]
async fn gzip_bomb_stops_at_body_size_limit() {
    let s = server().await;
    let limit = 1 << 20;
    let sc = scraper(
        format!("http://{}/bomb", s.addr),
        Duration::from_secs(10),
        limit,
    );
    let mut body = Vec::new();
    let err = sc.scrape(&mut body).await.unwrap_err();
    assert_eq!(err, ScrapeError::BodySizeLimit(limit));
    assert!((body.len() as u64) < limit);
    assert_eq!(
        err.to_string(),
        "body size limit exceeded (limit: 1048576 bytes)"
    );
}

#[tokio::test]
async fn plain_body_over_the_limit_fails() {
    let s = server().await;
    let limit = EXPOSITION.len() as u64;
    let sc = scraper(
        format!("http://{}/metrics", s.addr),
        Duration::from_secs(5),
        limit,
    );
    let err = sc.scrape(&mut Vec::new()).await.unwrap_err();
    assert_eq!(err, ScrapeError::BodySizeLimit(limit));
}

#[tokio::test]
async fn slow_target_times_out() {
    let s = server().await;
    let url = format!("http://{}/slow", s.addr);
    let sc = scraper(url.clone(), Duration::from_millis(200), 0);
    let err = sc.scrape(&mut Vec::new()).await.unwrap_err();
    assert_eq!(
        err,
        ScrapeError::Timeout {
            url,
            timeout: Duration::from_millis(200)
        }
    );
    assert_eq!(err.reason(), "timeout");
}

#[tokio::test]
async fn http_500_is_an_error() {
    let s = server().await;
    let sc = scraper(format!("http://{}/500", s.addr), Duration::from_secs(5), 0);
    let err = sc.scrape(&mut Vec::new()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "server returned HTTP status 500 Internal Server Error"
    );
}

#[tokio::test]
async fn unreachable_target() {
    // A port that was free a moment ago and has no listener now.
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{addr}/metrics");
    let sc = scraper(url.clone(), Duration::from_secs(5), 0);
    let err = sc.scrape(&mut Vec::new()).await.unwrap_err();
    match &err {
        ScrapeError::Request { url: u, message } => {
            assert_eq!(u, &url);
            assert!(!message.is_empty());
        }
        other => panic!("expected a request error, got {other:?}"),
    }
    assert!(err.to_string().starts_with(&format!("Get \"{url}\": ")));
}
