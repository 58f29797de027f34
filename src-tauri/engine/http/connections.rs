//! Accepting connections: a header read timeout (which also ends kept-alive connections idle
//! between requests), a pause limit while a request body arrives, and a cap on
//! open connections that closes the oldest one with nothing in flight, so slow or idle clients
//! cannot keep `/health`, the page or agents out. It must not know routes: it serves the
//! `Router` it is given.
//!
//! hyper answers a request head it cannot parse (400), a URI too long (414) and headers too large
//! (431) itself, with an empty body, before any service runs; hyper 1 has no hook to render them,
//! so those three cannot carry the OpenAI error shape.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// How long clients may take and how many may be connected at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A new connection, or a kept-alive one between requests, must send a whole request head
    /// within this, or it is closed.
    pub header_read: Duration,
    /// The longest pause while a request body arrives.
    pub body_read: Duration,
    /// Open connections at most; past it the oldest one with no request in flight is closed.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(5),
            body_read: Duration::from_secs(30),
            max_connections: 256,
        }
    }
}

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Slot {
    /// Requests whose response has not been fully sent (streams included).
    in_flight: AtomicUsize,
    /// Request heads that have arrived.
    requests: AtomicU64,
    close: CancellationToken,
}

/// The open connections, oldest first.
#[derive(Default)]
struct Book {
    slots: Mutex<BTreeMap<u64, Arc<Slot>>>,
    next: AtomicU64,
    freed: Notify,
}

impl Book {
    fn open(&self) -> (u64, Arc<Slot>) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot::default());
        self.lock().insert(id, slot.clone());
        (id, slot)
    }

    fn close(&self, id: u64) {
        self.lock().remove(&id);
        self.freed.notify_one();
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    /// Closes the oldest connection with nothing in flight; false when every one is busy.
    fn evict_idle(&self) -> bool {
        let slots = self.lock();
        let idle = slots
            .values()
            .find(|slot| !slot.close.is_cancelled() && slot.in_flight.load(Ordering::Acquire) == 0);
        idle.inspect(|slot| slot.close.cancel()).is_some()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Slot>>> {
        // The map stays consistent even if a holder panicked: every change is one call.
        self.slots
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Counts a request as in flight until its response body is dropped.
struct Busy(Arc<Slot>);

impl Busy {
    fn new(slot: &Arc<Slot>) -> Self {
        slot.in_flight.fetch_add(1, Ordering::AcqRel);
        slot.requests.fetch_add(1, Ordering::AcqRel);
        Self(slot.clone())
    }

    fn touch(&self) {}
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish (the caller
/// bounds that wait by aborting this future's task, which closes every connection).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let book = Arc::new(Book::default());
    // No hyper timer, hence no hyper `header_read_timeout`: hyper 1.12 also runs that timer
    // while a response is pending and cuts slow answers; `connection` keeps its own.
    let builder = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let mut connections = JoinSet::new();
    loop {
        while book.len() >= limits.max_connections.max(1) {
            book.evict_idle();
            tokio::select! {
                () = book.freed.notified() => {}
                () = shutdown.cancelled() => break,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        while connections.try_join_next().is_some() {}
        match accepted {
            Ok((stream, _)) => {
                let (id, slot) = book.open();
                let (book, builder, app) = (book.clone(), builder.clone(), app.clone());
                let shutdown = shutdown.clone();
                connections.spawn(async move {
                    connection(stream, &builder, app, &slot, limits, shutdown).await;
                    book.close(id);
                });
            }
            // Out of file descriptors: make room rather than spin on the same error.
            Err(error)
                if error
                    .raw_os_error()
                    .is_some_and(|code| code == 24 || code == 23)
                    || error.kind() == ErrorKind::OutOfMemory =>
            {
                tracing::warn!("accept error: {error}; closing an idle connection");
                book.evict_idle();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(error) => {
                tracing::debug!("accept error: {error}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

async fn connection(
    stream: TcpStream,
    builder: &auto::Builder<TokioExecutor>,
    app: Router,
    slot: &Arc<Slot>,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    // Small SSE chunks must leave at once, not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let service_slot = slot.clone();
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let busy = Busy::new(&service_slot);
        let request: Request =
            request.map(|body| Body::new(TimeoutBody::new(limits.body_read, body)));
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await?;
            Ok::<_, std::convert::Infallible>(response.map(|body| {
                Body::new(body.map_frame(move |frame| {
                    busy.touch();
                    frame
                }))
            }))
        }
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);
    // With nothing in flight, a connection must start a request within one `header_read`
    // window (two at most after a response ends): this closes slow request heads, stalled
    // HTTP/2 prefaces and idle kept-alive connections alike.
    let idle = tokio::time::sleep(limits.header_read);
    tokio::pin!(idle);
    let mut seen = 0;
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!("connection ended: {error}");
                }
                return;
            }
            () = slot.close.cancelled() => return,
            () = &mut idle, if !draining => {
                let requests = slot.requests.load(Ordering::Acquire);
                if requests == seen && slot.in_flight.load(Ordering::Acquire) == 0 {
                    return;
                }
                seen = requests;
                idle.as_mut().reset(tokio::time::Instant::now() + limits.header_read);
            }
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}
