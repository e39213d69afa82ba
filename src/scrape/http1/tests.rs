//! The HTTP/1.1 fast path against a scripted server on 127.0.0.1: framing, reuse, a
//! connection closed while idle, redirects, limits and malformed responses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// A server answering every request with the next of `replies` (the last repeats);
/// closes a connection after `per_conn` responses. Returns its address and counters of
/// connections accepted and requests seen, and the last request head.
struct Scripted {
    addr: SocketAddr,
    conns: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

async fn scripted(replies: Vec<Vec<u8>>, per_conn: usize) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let replies = Arc::new(replies);
    let (c, r) = (conns.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            c.fetch_add(1, Ordering::SeqCst);
            let (replies, r) = (replies.clone(), r.clone());
            tokio::spawn(async move {
                for _ in 0..per_conn {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") {
                        if s.read(&mut byte).await.unwrap_or(0) == 0 {
                            return;
                        }
                        head.push(byte[0]);
                    }
                    let n = {
                        let mut r = r.lock().unwrap();
                        r.push(String::from_utf8_lossy(&head).into_owned());
                        r.len()
                    };
                    let reply = &replies[(n - 1).min(replies.len() - 1)];
                    if s.write_all(reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Scripted {
        addr,
        conns,
        requests,
    }
}

fn target(addr: SocketAddr, path: &str) -> Http1Target {
    let url = url::Url::parse(&format!("http://{addr}{path}")).unwrap();
    Http1Target::new(
        &url,
        &[("User-Agent", "shoal/test"), ("Accept", "text/plain")],
    )
    .unwrap()
}

fn ok(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn response(status: u16, ct: Option<&str>) -> Outcome {
    Outcome::Response {
        status,
        content_type: ct.map(str::to_owned),
        gzip: false,
    }
}

const CT: Option<&str> = Some("text/plain; version=0.0.4");

#[tokio::test]
async fn content_length_bodies_reuse_one_connection() {
    let s = scripted(vec![ok("a 1\n"), ok("b 2\n")], 100).await;
    let t = target(s.addr, "/metrics?x=1");
    let mut body = Vec::new();
    assert_eq!(
        t.fetch(None, &mut body, 1 << 20).await.unwrap(),
        response(200, CT)
    );
    assert_eq!(body, b"a 1\n");
    assert_eq!(
        t.fetch(None, &mut body, 1 << 20).await.unwrap(),
        response(200, CT)
    );
    assert_eq!(body, b"b 2\n");
    assert_eq!(s.conns.load(Ordering::SeqCst), 1);
    let req = s.requests.lock().unwrap()[0].clone();
    assert!(
        req.starts_with(&format!(
            "GET /metrics?x=1 HTTP/1.1\r\nHost: {}\r\n",
            s.addr
        )),
        "{req}"
    );
    assert!(
        req.contains("User-Agent: shoal/test\r\nAccept: text/plain\r\n"),
        "{req}"
    );
}

#[tokio::test]
async fn the_authorization_header_is_sent_per_request() {
    let s = scripted(vec![ok("")], 100).await;
    let t = target(s.addr, "/");
    let auth = HeaderValue::from_static("Bearer abc");
    let mut body = Vec::new();
    t.fetch(Some(&auth), &mut body, 1 << 20).await.unwrap();
    t.fetch(None, &mut body, 1 << 20).await.unwrap();
    let reqs = s.requests.lock().unwrap().clone();
    assert!(
        reqs[0].contains("\r\nAuthorization: Bearer abc\r\n"),
        "{}",
        reqs[0]
    );
    assert!(!reqs[1].contains("Authorization"), "{}", reqs[1]);
}

#[tokio::test]
async fn a_connection_closed_while_idle_is_replaced() {
    // One response per connection: the kept connection is closed by the server.
    let s = scripted(vec![ok("a 1\n")], 1).await;
    let t = target(s.addr, "/");
    let mut body = Vec::new();
    for _ in 0..3 {
        assert_eq!(
            t.fetch(None, &mut body, 1 << 20).await.unwrap(),
            response(200, CT)
        );
        assert_eq!(body, b"a 1\n");
    }
    assert_eq!(s.conns.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn chunked_bodies_are_decoded() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
        4\r\na 1\n\r\n6;ext=1\r\nbb 22\n\r\n0\r\nX-Trailer: y\r\n\r\n"
        .to_vec();
    let s = scripted(vec![chunked, ok("c 3\n")], 100).await;
    let t = target(s.addr, "/");
    let mut body = Vec::new();
    assert_eq!(
        t.fetch(None, &mut body, 1 << 20).await.unwrap(),
        response(200, None)
    );
    assert_eq!(body, b"a 1\nbb 22\n");
    // The connection stays usable after a chunked body.
    t.fetch(None, &mut body, 1 << 20).await.unwrap();
    assert_eq!(body, b"c 3\n");
    assert_eq!(s.conns.load(Ordering::SeqCst), 1);
}

#[test]
fn dechunking_works_across_any_split_of_the_input() {
    let raw = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n1\r\nz\r\n0\r\n\r\n";
    for split in 0..raw.len() {
        let mut buf = raw[..split].to_vec();
        let mut d = Dechunk::default();
        assert!(!d.step(&mut buf, 1 << 20).unwrap() || split == raw.len());
        buf.extend_from_slice(&raw[split..]);
        assert!(d.step(&mut buf, 1 << 20).unwrap(), "split {split}");
        assert_eq!(&buf[..d.out], b"abc0123456789abcdefz", "split {split}");
    }
}

#[test]
fn malformed_chunks_are_errors() {
    for raw in [
        &b"zz\r\nabc\r\n0\r\n\r\n"[..],
        b"3\r\nabcX\r\n0\r\n\r\n",
        b"3\r\nabc\r\n0\r\n\r\nextra",
    ] {
        let mut buf = raw.to_vec();
        assert!(
            Dechunk::default().step(&mut buf, 1 << 20).is_err(),
            "{raw:?}"
        );
    }
    let mut buf = b"ff\r\n".to_vec();
    assert!(matches!(
        Dechunk::default().step(&mut buf, 16),
        Err(Http1Error::TooLarge)
    ));
}

#[tokio::test]
async fn a_body_to_the_end_of_the_connection_is_read_and_the_connection_dropped() {
    let s = scripted(vec![b"HTTP/1.0 200 OK\r\n\r\na 1\n".to_vec()], 1).await;
    let t = target(s.addr, "/");
    let mut body = Vec::new();
    // The scripted server keeps the socket until its task ends: close it by `per_conn`.
    assert_eq!(
        t.fetch(None, &mut body, 1 << 20).await.unwrap(),
        response(200, None)
    );
    assert_eq!(body, b"a 1\n");
    t.fetch(None, &mut body, 1 << 20).await.unwrap();
    assert_eq!(s.conns.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn statuses_redirects_and_limits() {
    let redirect = b"HTTP/1.1 302 Found\r\nLocation: /other\r\nContent-Length: 0\r\n\r\n".to_vec();
    let s = scripted(vec![redirect], 100).await;
    let t = target(s.addr, "/");
    let mut body = Vec::new();
    assert_eq!(
        t.fetch(None, &mut body, 1 << 20).await.unwrap(),
        Outcome::Redirect
    );

    let err = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown".to_vec();
    let s = scripted(vec![err], 100).await;
    let t = target(s.addr, "/");
    assert_eq!(
        t.fetch(None, &mut body, 1 << 20).await.unwrap(),
        response(503, None)
    );

    let s = scripted(vec![ok("0123456789")], 100).await;
    let t = target(s.addr, "/");
    assert!(matches!(
        t.fetch(None, &mut body, 10).await,
        Err(Http1Error::TooLarge)
    ));
    assert!(t.fetch(None, &mut body, 11).await.is_ok());

    let gz = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nxx".to_vec();
    let s = scripted(vec![gz], 100).await;
    let t = target(s.addr, "/");
    assert_eq!(
        t.fetch(None, &mut body, 1 << 20).await.unwrap(),
        Outcome::Response {
            status: 200,
            content_type: None,
            gzip: true
        }
    );
}

#[tokio::test]
async fn garbage_and_refused_connections_are_errors() {
    let s = scripted(vec![b"SSH-2.0-OpenSSH\r\n\r\n".to_vec()], 100).await;
    let t = target(s.addr, "/");
    let mut body = Vec::new();
    assert!(matches!(
        t.fetch(None, &mut body, 1 << 20).await,
        Err(Http1Error::Invalid(_))
    ));

    let s = scripted(
        vec![b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n".to_vec()],
        100,
    )
    .await;
    let t = target(s.addr, "/");
    assert!(t.fetch(None, &mut body, 1 << 20).await.is_err());

    let free = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let t = target(free, "/");
    let e = t.fetch(None, &mut body, 1 << 20).await.unwrap_err();
    assert!(e.to_string().contains("connect"), "{e}");
}

#[test]
fn only_plain_http_without_userinfo_takes_this_path() {
    let url = |u: &str| url::Url::parse(u).unwrap();
    assert!(Http1Target::new(&url("http://a:9100/metrics"), &[]).is_some());
    assert!(Http1Target::new(&url("https://a/metrics"), &[]).is_none());
    assert!(Http1Target::new(&url("http://u:p@a/metrics"), &[]).is_none());
    let t = Http1Target::new(&url("http://[::1]:9100/m"), &[]).unwrap();
    assert!(String::from_utf8_lossy(&t.head).contains("Host: [::1]:9100\r\n"));
    let t = Http1Target::new(&url("http://a/m"), &[]).unwrap();
    assert!(String::from_utf8_lossy(&t.head).contains("Host: a\r\n"));
}
