//! Serving connections: the accept loop and the limits that keep one slow, idle or hostile client
//! from holding the server — a deadline for a request's headers, one for its body, an idle
//! timeout between keep-alive requests, and a cap on open connections. Each limit is logged when
//! it is hit (`warn`; idle closes at `debug`).
//!
//! | limit | default | `cloudid serve` flag |
//! |---|---|---|
//! | request headers complete, from their first byte | 10 s | `--header-timeout-seconds` |
//! | request body complete, from the headers | 30 s | `--body-timeout-seconds` |
//! | keep-alive connection with no request | 60 s | `--idle-timeout-seconds` |
//! | open connections | 4096, or the open-file limit less 64 | `--max-connections` |
//!
//! A handler's own time is not limited: a `hang` fault holds its request as long as it says.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// How long a connection may take, and how many may be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// From the first byte of a request to the end of its headers.
    pub header_timeout: Duration,
    /// From the end of the headers to the end of the body.
    pub body_timeout: Duration,
    /// A keep-alive connection with no request in flight and no bytes moving.
    pub idle_timeout: Duration,
    /// Connections open at once; one more is answered `503` and closed.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header_timeout: Duration::from_secs(10), body_timeout: Duration::from_secs(30), idle_timeout: Duration::from_secs(60), max_connections: default_max_connections() }
    }
}

impl Limits {
    /// These limits with other timeouts (for tests and the CLI).
    pub fn with_timeouts(mut self, header: Duration, body: Duration, idle: Duration) -> Self {
        self.header_timeout = header;
        self.body_timeout = body;
        self.idle_timeout = idle;
        self
    }

    /// These limits with another connection cap (at least 1).
    pub fn with_max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }
}

/// 4096, or fewer when the process may open fewer files (the soft `RLIMIT_NOFILE`, read from
/// `/proc/self/limits`), leaving 64 for everything else.
pub fn default_max_connections() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with("Max open files")).and_then(|l| l.split_whitespace().nth(3)).and_then(|n| n.parse::<usize>().ok()));
    match soft {
        Some(n) => n.saturating_sub(64).clamp(16, 4096),
        None => 4096,
    }
}

/// Serves `router` on `listener` under `limits` until `shutdown` resolves; then stops accepting
/// and asks open connections to finish their request and close.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let full_logged = Arc::new(AtomicU64::new(0));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}; retrying in 100 ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refuse_over_limit(stream, peer, limits.max_connections, &full_logged);
            continue;
        };
        let router = router.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            serve_io(stream, peer, router, limits, stop).await;
            drop(permit);
        });
    }
    let _ = stop_tx.send(true);
    Ok(())
}

fn refuse_over_limit(mut stream: tokio::net::TcpStream, peer: SocketAddr, max: usize, logged: &AtomicU64) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let second = START.get_or_init(Instant::now).elapsed().as_secs() + 1;
    if logged.swap(second, Ordering::Relaxed) != second {
        tracing::warn!("connection limit ({max}) reached: answering {peer} 503 and closing (raise it with --max-connections)");
    }
    tokio::spawn(async move {
        let body = format!("cloudid: the connection limit ({max}) is reached; try again when connections close\n");
        let head = format!("HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nconnection: close\r\ncontent-length: {}\r\n\r\n", body.len());
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.write_all(body.as_bytes()).await;
            let _ = stream.shutdown().await;
        })
        .await;
    });
}

/// What a connection is doing, for its watchdog.
#[derive(Debug)]
struct Activity {
    start: Instant,
    phase: AtomicU8,
    /// Milliseconds after `start` the phase began (or, when idle, bytes last moved).
    since: AtomicU64,
}

const IDLE: u8 = 0;
const HEAD: u8 = 1;
const BUSY: u8 = 2;

impl Activity {
    fn new() -> Self {
        Self { start: Instant::now(), phase: AtomicU8::new(IDLE), since: AtomicU64::new(0) }
    }

    fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn enter(&self, phase: u8) {
        self.since.store(self.now_ms(), Ordering::Relaxed);
        self.phase.store(phase, Ordering::Relaxed);
    }

    fn bytes_moved(&self, read: bool) {
        if self.phase.load(Ordering::Relaxed) != IDLE {
            return;
        }
        if read {
            self.enter(HEAD);
        } else {
            self.since.store(self.now_ms(), Ordering::Relaxed);
        }
    }

    /// When the current phase runs out, and what that is called.
    fn deadline(&self, limits: &Limits) -> Option<(Instant, &'static str)> {
        let since = self.start + Duration::from_millis(self.since.load(Ordering::Relaxed));
        match self.phase.load(Ordering::Relaxed) {
            IDLE => Some((since + limits.idle_timeout, "idle")),
            HEAD => Some((since + limits.header_timeout, "header")),
            _ => None,
        }
    }
}

/// The connection's socket, reporting bytes moved to its [`Activity`].
struct Tracked<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_moved(true);
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.bytes_moved(false);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request body that fails once its deadline passes, flagging that it did.
struct TimedBody<B> {
    inner: B,
    sleep: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<AtomicBool>,
}

impl<B> http_body::Body for TimedBody<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err("request body timeout".into())));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Serves one connection (plain or TLS) until it closes, times out, or `stop` asks it to finish.
pub async fn serve_io<I>(io: I, peer: SocketAddr, router: Router, limits: Limits, mut stop: watch::Receiver<bool>)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Tracked { inner: io, activity: activity.clone() });
    let watched = activity.clone();
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let router = router.clone();
        let activity = watched.clone();
        activity.enter(BUSY);
        async move {
            use http_body::Body as _;
            let timed_out = Arc::new(AtomicBool::new(false));
            let mut req = req;
            if !req.headers().contains_key(header::HOST)
                && let Some(authority) = req.uri().authority().and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            {
                // HTTP/2 carries the host as `:authority` (RFC 9113 §8.3.1); every service reads `Host`.
                req.headers_mut().insert(header::HOST, authority);
            }
            let req = if req.body().is_end_stream() {
                req.map(axum::body::Body::new)
            } else {
                req.map(|inner| axum::body::Body::new(TimedBody { inner, sleep: Box::pin(tokio::time::sleep(limits.body_timeout)), timed_out: timed_out.clone() }))
            };
            let mut response = router.oneshot(req).await.unwrap_or_else(|e: Infallible| match e {});
            if timed_out.load(Ordering::Relaxed) {
                tracing::warn!("request body from {peer} not complete within {:?} (body timeout): answered 408 and closed", limits.body_timeout);
                response = body_timeout_response(limits.body_timeout);
            }
            activity.enter(IDLE);
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(None).keep_alive(true);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let deadline = activity.deadline(&limits);
        let wake = deadline.map_or_else(|| Instant::now() + limits.header_timeout, |(at, _)| at);
        tokio::select! {
            _ = conn.as_mut() => return,
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_ok() {
                    conn.as_mut().graceful_shutdown();
                }
            }
            () = tokio::time::sleep_until(wake) => {
                match activity.deadline(&limits) {
                    Some((at, "header")) if at <= Instant::now() => {
                        tracing::warn!("request headers from {peer} not complete within {:?} (header timeout): connection closed", limits.header_timeout);
                        return;
                    }
                    Some((at, _)) if at <= Instant::now() => {
                        tracing::debug!("connection from {peer} idle for {:?}: closed", limits.idle_timeout);
                        return;
                    }
                    _ => {}
                }
            }
        }
    }
}

fn body_timeout_response(after: Duration) -> Response<axum::body::Body> {
    let mut r = Response::new(axum::body::Body::from(format!("cloudid: the request body did not arrive within {after:?}\n")));
    *r.status_mut() = StatusCode::REQUEST_TIMEOUT;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}
