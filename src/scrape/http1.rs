//! Plain-HTTP scrapes over one kept-alive HTTP/1.1 connection per target.
//!
//! Why not the job's reqwest client for these: a scrape of a small target is dominated by
//! what surrounds it. Without keep-alive every scrape pays a TCP connect and teardown
//! (measured: most of the CPU at 5,000 targets of 100 series); with reqwest's keep-alive
//! every idle connection keeps hyper's read buffer and a connection task (~29 KiB each,
//! 145 MiB at 5,000 targets) and every scrape hops between two tasks. Here the idle state
//! of a target is its socket alone, the request is prebuilt bytes, and the response is
//! read straight into the scrape's pooled body buffer by the scrape's own task.
//!
//! Scope, kept small on purpose: `http://` targets without a proxy, `GET` only, responses
//! framed by `Content-Length`, `chunked` or the connection's end, `gzip` decoded by the
//! caller's limits. A redirect is handed back ([`Outcome::Redirect`]) for the reqwest
//! path, which follows it as configured.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use http::HeaderValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head accepted.
const MAX_HEAD: usize = 64 << 10;
/// Headers a response may have.
const MAX_HEADERS: usize = 100;
/// Bytes asked of the socket per read when the size is unknown.
const READ_CHUNK: usize = 64 << 10;
/// First reservation for a response head: most heads fit, and a scrape waiting for its
/// answer (thousands at once when many loops start together) pins no more than this.
const HEAD_CHUNK: usize = 4 << 10;
/// Largest buffer reserved up front from a Content-Length.
const MAX_PRESIZE: u64 = 16 << 20;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Http1Error {
    /// Connecting, writing or reading failed.
    #[error("{0}")]
    Io(String),
    /// The response is not HTTP/1.x as we read it.
    #[error("invalid response: {0}")]
    Invalid(String),
    /// The body (as received, or decompressed) reached the limit.
    #[error("body size limit exceeded")]
    TooLarge,
}

/// What a fetch produced.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A final response: its status, Content-Type and Content-Encoding; the body is in the
    /// caller's buffer (still encoded).
    Response {
        status: u16,
        content_type: Option<String>,
        gzip: bool,
    },
    /// A 3xx with a `Location`: to be followed by the general client.
    Redirect,
}

/// How a target is reached.
#[derive(Debug)]
enum Address {
    Ip(SocketAddr),
    Name(String, u16),
}

/// One target's connection and request.
#[derive(Debug)]
pub(crate) struct Http1Target {
    address: Address,
    /// The request line and `Host` of this target.
    head: Box<[u8]>,
    /// The headers every target of the job sends (shared: a job's thousands of targets
    /// would otherwise each hold the same long `Accept`).
    common: Arc<[u8]>,
    /// The idle connection; taken for a fetch and put back only after a complete response
    /// that allows reuse (a fetch dropped by its timeout drops the connection).
    idle: Mutex<Option<TcpStream>>,
}

impl Http1Target {
    /// A target for `url` if this path can fetch it: `http`, no userinfo (reqwest turns it
    /// into basic auth). `headers` are sent with every request, in order.
    #[cfg(test)]
    pub fn new(url: &url::Url, headers: &[(&str, &str)]) -> Option<Http1Target> {
        Self::with_common(url, common_head(headers))
    }

    /// As `new`, with the headers already rendered by [`common_head`].
    pub fn with_common(url: &url::Url, common: Arc<[u8]>) -> Option<Http1Target> {
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let port = url.port_or_known_default()?;
        let address = match url.host()? {
            url::Host::Ipv4(ip) => Address::Ip(SocketAddr::from((ip, port))),
            url::Host::Ipv6(ip) => Address::Ip(SocketAddr::from((ip, port))),
            url::Host::Domain(d) => Address::Name(d.to_owned(), port),
        };
        let host = url.host_str()?;
        let mut head = Vec::with_capacity(64);
        let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let _ = write!(head, "GET {path} HTTP/1.1\r\nHost: {host}");
        if url.port().is_some() {
            let _ = write!(head, ":{port}");
        }
        head.extend_from_slice(b"\r\n");
        Some(Http1Target {
            address,
            head: head.into_boxed_slice(),
            common,
            idle: Mutex::new(None),
        })
    }

    fn take_idle(&self) -> Option<TcpStream> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put_idle(&self, s: TcpStream) {
        *self.idle.lock().unwrap_or_else(|e| e.into_inner()) = Some(s);
    }

    async fn connect(&self) -> Result<TcpStream, Http1Error> {
        let stream = match &self.address {
            Address::Ip(a) => TcpStream::connect(a).await,
            Address::Name(host, port) => TcpStream::connect((host.as_str(), *port)).await,
        }
        .map_err(|e| Http1Error::Io(format!("connect: {e}")))?;
        // Requests are one small write: send at once.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    /// Sends the request and reads the response into `body` (cleared first): the body as
    /// received (still gzip-encoded if so), at most `limit` bytes.
    pub async fn fetch(
        &self,
        authorization: Option<&HeaderValue>,
        body: &mut Vec<u8>,
        limit: u64,
    ) -> Result<Outcome, Http1Error> {
        let mut request = Vec::with_capacity(self.head.len() + self.common.len() + 64);
        request.extend_from_slice(&self.head);
        request.extend_from_slice(&self.common);
        if let Some(a) = authorization {
            request.extend_from_slice(b"Authorization: ");
            request.extend_from_slice(a.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"\r\n");
        // A kept connection the target has closed meanwhile fails before any byte of a
        // response: then once more on a new connection.
        if let Some(mut stream) = self.take_idle() {
            body.clear();
            match exchange(&mut stream, &request, body, limit).await {
                Ok((outcome, keep)) => {
                    if keep {
                        self.put_idle(stream);
                    }
                    return Ok(outcome);
                }
                Err(Failure::BeforeResponse(_)) => {}
                Err(Failure::Other(e)) => return Err(e),
            }
        }
        let mut stream = self.connect().await?;
        body.clear();
        match exchange(&mut stream, &request, body, limit).await {
            Ok((outcome, keep)) => {
                if keep {
                    self.put_idle(stream);
                }
                Ok(outcome)
            }
            Err(Failure::BeforeResponse(e) | Failure::Other(e)) => Err(e),
        }
    }
}

/// `headers` rendered as request header lines, for [`Http1Target::with_common`].
pub fn common_head(headers: &[(&str, &str)]) -> Arc<[u8]> {
    let mut out = Vec::new();
    for (name, value) in headers {
        let _ = write!(out, "{name}: {value}\r\n");
    }
    out.into()
}

/// A failed exchange: before any response byte (retryable on a reused connection), or not.
enum Failure {
    BeforeResponse(Http1Error),
    Other(Http1Error),
}

/// The parts of a response head the fetch needs.
struct Head {
    len: usize,
    status: u16,
    content_type: Option<String>,
    gzip: bool,
    chunked: bool,
    content_length: Option<u64>,
    close: bool,
    location: bool,
}

/// Writes `request`, reads one response; returns it and whether the connection may be
/// reused.
async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    body: &mut Vec<u8>,
    limit: u64,
) -> Result<(Outcome, bool), Failure> {
    let io = |what: &str, e: std::io::Error| Http1Error::Io(format!("{what}: {e}"));
    stream
        .write_all(request)
        .await
        .map_err(|e| Failure::BeforeResponse(io("write request", e)))?;
    let head = loop {
        if body.len() == body.capacity() {
            // Doubles from HEAD_CHUNK: a large head costs a few more reads, not memory.
            body.reserve(body.capacity().clamp(HEAD_CHUNK, READ_CHUNK));
        }
        let n = stream.read_buf(body).await.map_err(|e| {
            let e = io("read response", e);
            if body.is_empty() {
                Failure::BeforeResponse(e)
            } else {
                Failure::Other(e)
            }
        })?;
        if n == 0 {
            let e = Http1Error::Io("connection closed before the response".into());
            return Err(if body.is_empty() {
                Failure::BeforeResponse(e)
            } else {
                Failure::Other(e)
            });
        }
        if let Some(h) = parse_head(body).map_err(Failure::Other)? {
            break h;
        }
        if body.len() > MAX_HEAD {
            return Err(Failure::Other(Http1Error::Invalid(
                "response head too large".into(),
            )));
        }
    };
    body.drain(..head.len);
    let fail = Failure::Other;
    let mut keep = !head.close;
    if head.status < 200 || head.status == 204 || head.status == 304 {
        // No body; a 1xx is not expected for a GET: give up the connection.
        keep &= head.status >= 200;
        if !body.is_empty() {
            keep = false;
        }
        body.clear();
    } else if head.chunked {
        read_chunked(stream, body, limit).await.map_err(fail)?;
    } else if let Some(len) = head.content_length {
        if len >= limit {
            return Err(fail(Http1Error::TooLarge));
        }
        keep &= read_exact_len(stream, body, len).await.map_err(fail)?;
    } else {
        read_to_end(stream, body, limit).await.map_err(fail)?;
        keep = false;
    }
    if (300..400).contains(&head.status) && head.location {
        return Ok((Outcome::Redirect, keep));
    }
    Ok((
        Outcome::Response {
            status: head.status,
            content_type: head.content_type,
            gzip: head.gzip,
        },
        keep,
    ))
}

/// The response head at the start of `buf`, if complete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, Http1Error> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(Http1Error::Invalid(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let mut head = Head {
        len,
        status,
        content_type: None,
        gzip: false,
        chunked: false,
        content_length: None,
        // HTTP/1.0 closes unless told otherwise; we do not ask it to keep.
        close: resp.version != Some(1),
        location: false,
    };
    for h in resp.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("content-encoding") {
            head.gzip = value.eq_ignore_ascii_case("gzip");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            // `chunked` must be the last coding; anything else is read to the end.
            let last = value.rsplit(',').next().unwrap_or("").trim();
            head.chunked = last.eq_ignore_ascii_case("chunked");
            if !head.chunked {
                head.close = true;
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .parse::<u64>()
                .map_err(|_| Http1Error::Invalid(format!("content-length {value:?}")))?;
            if head.content_length.is_some_and(|m| m != n) {
                return Err(Http1Error::Invalid("conflicting content-length".into()));
            }
            head.content_length = Some(n);
        } else if name.eq_ignore_ascii_case("connection") {
            if value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                head.close = true;
            }
        } else if name.eq_ignore_ascii_case("location") {
            head.location = !value.is_empty();
        }
    }
    if head.chunked {
        // RFC 9112 6.3: chunked wins over a length, and such a message is suspect.
        if head.content_length.is_some() {
            head.close = true;
        }
        head.content_length = None;
    }
    Ok(Some(head))
}

async fn read_more(
    stream: &mut TcpStream,
    body: &mut Vec<u8>,
    want: usize,
) -> Result<usize, Http1Error> {
    if body.capacity() - body.len() < want.min(READ_CHUNK) {
        body.reserve(want.clamp(1, READ_CHUNK));
    }
    stream
        .read_buf(body)
        .await
        .map_err(|e| Http1Error::Io(format!("read body: {e}")))
}

/// Reads a body of `len` bytes; false if the peer sent more (the connection is then not
/// reused: those bytes answer nothing we asked).
async fn read_exact_len(
    stream: &mut TcpStream,
    body: &mut Vec<u8>,
    len: u64,
) -> Result<bool, Http1Error> {
    let len = usize::try_from(len).map_err(|_| Http1Error::TooLarge)?;
    let presize = len.min(usize::try_from(MAX_PRESIZE).unwrap_or(usize::MAX));
    body.reserve_exact(presize.saturating_sub(body.len()));
    while body.len() < len {
        if read_more(stream, body, len - body.len()).await? == 0 {
            return Err(Http1Error::Io("connection closed in the body".into()));
        }
    }
    let exact = body.len() == len;
    body.truncate(len);
    Ok(exact)
}

async fn read_to_end(
    stream: &mut TcpStream,
    body: &mut Vec<u8>,
    limit: u64,
) -> Result<(), Http1Error> {
    loop {
        if body.len() as u64 >= limit {
            return Err(Http1Error::TooLarge);
        }
        if read_more(stream, body, READ_CHUNK).await? == 0 {
            return Ok(());
        }
    }
}

/// Reads a chunked body, decoding it in place: `body` holds the raw bytes read after the
/// head; on return it holds the data alone.
async fn read_chunked(
    stream: &mut TcpStream,
    body: &mut Vec<u8>,
    limit: u64,
) -> Result<(), Http1Error> {
    let mut dechunk = Dechunk::default();
    loop {
        if dechunk.step(body, limit)? {
            body.truncate(dechunk.out);
            return Ok(());
        }
        if read_more(stream, body, READ_CHUNK).await? == 0 {
            return Err(Http1Error::Io("connection closed in a chunked body".into()));
        }
    }
}

/// In-place decoder of a chunked body: data is moved down to `out` as it is parsed at
/// `pos` (always `out <= pos`).
#[derive(Debug, Default)]
struct Dechunk {
    pos: usize,
    out: usize,
    /// Data bytes left in the current chunk, then its CRLF.
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Trailers,
}

impl Dechunk {
    /// Parses what `buf` holds past `pos`; true once the body ended.
    fn step(&mut self, buf: &mut [u8], limit: u64) -> Result<bool, Http1Error> {
        let invalid = |what: &str| Http1Error::Invalid(format!("chunked body: {what}"));
        loop {
            let rest = buf.get(self.pos..).unwrap_or_default();
            match self.state {
                ChunkState::Size => {
                    let Some(eol) = find_crlf(rest) else {
                        if rest.len() > 1024 {
                            return Err(invalid("chunk size line too long"));
                        }
                        return Ok(false);
                    };
                    let line = rest.get(..eol).unwrap_or_default();
                    let hex = line.split(|&b| b == b';').next().unwrap_or_default();
                    let hex = std::str::from_utf8(hex)
                        .map_err(|_| invalid("size"))?
                        .trim();
                    let size = usize::from_str_radix(hex, 16).map_err(|_| invalid("size"))?;
                    self.pos += eol + 2;
                    self.state = if size == 0 {
                        ChunkState::Trailers
                    } else {
                        if self.out.saturating_add(size) as u64 >= limit {
                            return Err(Http1Error::TooLarge);
                        }
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    let n = left.min(rest.len());
                    if n == 0 {
                        return Ok(false);
                    }
                    buf.copy_within(self.pos..self.pos + n, self.out);
                    self.pos += n;
                    self.out += n;
                    self.state = match left - n {
                        0 => ChunkState::DataEnd,
                        more => ChunkState::Data(more),
                    };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        return Ok(false);
                    }
                    if rest.get(..2) != Some(b"\r\n") {
                        return Err(invalid("missing CRLF after data"));
                    }
                    self.pos += 2;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(eol) = find_crlf(rest) else {
                        return Ok(false);
                    };
                    self.pos += eol + 2;
                    if eol == 0 {
                        if self.pos != buf.len() {
                            return Err(invalid("data after the last chunk"));
                        }
                        return Ok(true);
                    }
                }
            }
        }
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests;
