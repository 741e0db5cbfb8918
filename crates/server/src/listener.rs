//! The HTTP listener: accepts connections up to a cap and bounds how long a client may hold
//! one (docs/configuration.md#http-connections), so slow, silent or half-open clients cannot
//! exhaust the service or hold up its shutdown.
//!
//! Each connection is in one of three phases: idle (waiting for a request: just opened, or
//! kept alive after an answer; closed after the idle timeout), reading a request head
//! (from its first byte; closed after the header timeout), or busy with a request (its body
//! must arrive within the body timeout, else 408). On shutdown idle connections close at
//! once, requests in progress get the grace period, and whatever is left then is closed.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::http::{HeaderValue, Request, Response, header};
use axum::response::IntoResponse;
use domain::HttpSettings;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tower::ServiceExt as _;

use crate::error::ApiError;

/// The bounds of [`HttpSettings`] as durations.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl From<&HttpSettings> for Limits {
    fn from(s: &HttpSettings) -> Limits {
        Limits {
            header_timeout: Duration::from_millis(s.header_timeout_ms),
            body_timeout: Duration::from_millis(s.body_timeout_ms),
            idle_timeout: Duration::from_millis(s.idle_timeout_ms),
            max_connections: s.max_connections.max(1),
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits::from(&HttpSettings::default())
    }
}

/// Serves `app` on `listener` until `stop` turns true, then closes idle connections, gives
/// requests in progress up to `grace`, and closes the rest.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (close_tx, close_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        // At the cap, further connections wait in the listen queue until one closes.
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = stop.wait_for(|s| *s) => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        while connections.try_join_next().is_some() {}
        let tcp = match accepted {
            Ok((tcp, _peer)) => tcp,
            Err(e) => {
                // Out of file descriptors and the like are passing: pause instead of spinning.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let (app, close) = (app.clone(), close_rx.clone());
        connections.spawn(async move {
            connection(tcp, app, limits, close).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = close_tx.send(true);
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            open = connections.len(),
            "connections still open when the shutdown grace ran out: closing them"
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}

/// One connection, served until it ends, a timeout closes it, or shutdown does.
async fn connection(tcp: TcpStream, app: Router, limits: Limits, mut close: watch::Receiver<bool>) {
    let phase = Arc::new(Phase::new());
    let io = TokioIo::new(Watched {
        inner: tcp,
        phase: phase.clone(),
    });
    let service = {
        let phase = phase.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            answer(app.clone(), phase.clone(), limits.body_timeout, req)
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        // The phases below time the head (hyper's own timer would also run while idle).
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(conn);
    let mut closing = false;
    loop {
        let deadline = phase.deadline(&limits);
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                return;
            }
            () = phase.changed.notified() => {}
            () = sleep_until(deadline) => {
                if phase.deadline(&limits).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(phase = phase.name(), "closing a connection that timed out");
                    return;
                }
            }
            _ = close.wait_for(|c| *c), if !closing => {
                closing = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One request through the app, its body under the body timeout; a body that did not
/// arrive in time is answered 408 and the connection closed.
async fn answer(
    app: Router,
    phase: Arc<Phase>,
    body_timeout: Duration,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    phase.set(State::Busy);
    let timed_out = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let req = req.map(|b| {
        Body::new(Timed {
            inner: Body::new(b),
            deadline: Box::pin(tokio::time::sleep(body_timeout)),
            timed_out: timed_out.clone(),
        })
    });
    let response = match app.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let mut response = if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
        ApiError::RequestTimeout.into_response()
    } else {
        response
    };
    if timed_out.load(std::sync::atomic::Ordering::SeqCst) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    Ok(response.map(|b| Body::new(Sent { inner: b, phase })))
}

/// Where a connection is; see the module's description.
#[derive(Debug, Clone, Copy)]
enum State {
    Idle(Instant),
    Head(Instant),
    Busy,
}

struct Phase {
    state: Mutex<State>,
    /// Wakes the connection's task to re-read its deadline.
    changed: Notify,
}

impl Phase {
    fn new() -> Phase {
        Phase {
            state: Mutex::new(State::Idle(Instant::now())),
            changed: Notify::new(),
        }
    }

    fn get(&self) -> State {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, s: State) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = s;
        self.changed.notify_one();
    }

    /// Bytes arrived: an idle connection starts a request head.
    fn bytes_read(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let State::Idle(_) = *state {
            *state = State::Head(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        match self.get() {
            State::Idle(since) => Some(since + limits.idle_timeout),
            State::Head(since) => Some(since + limits.header_timeout),
            State::Busy => None,
        }
    }

    fn name(&self) -> &'static str {
        match self.get() {
            State::Idle(_) => "idle",
            State::Head(_) => "reading a request head",
            State::Busy => "busy",
        }
    }
}

/// The socket, telling [`Phase`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    phase: Arc<Phase>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.phase.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The request body must be complete by its deadline; after it, reading fails.
struct Timed {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timed_out: Arc<std::sync::atomic::AtomicBool>,
}

/// The error a body read past its deadline ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within the body timeout")]
pub struct BodyTimedOut;

impl HttpBody for Timed {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.timed_out
                .store(true, std::sync::atomic::Ordering::SeqCst);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The response body; once hyper has sent (and dropped) it, the connection is idle again.
struct Sent {
    inner: Body,
    phase: Arc<Phase>,
}

impl Drop for Sent {
    fn drop(&mut self) {
        self.phase.set(State::Idle(Instant::now()));
    }
}

impl HttpBody for Sent {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
