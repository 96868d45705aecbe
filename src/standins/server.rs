//! Serving a stand-in: bind `127.0.0.1:0` first, then spawn, and record every exchange.
//!
//! The bound listener is the readiness signal (mini-redis style): when [`Server::start`] returns,
//! the port accepts connections. Dropping the server stops it.

use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::transcript::{Hop, RawRequest, RawResponse, Recorder};

/// Bodies larger than this are refused with 413 rather than buffered.
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// A running HTTP server on loopback.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Server {
    /// Bind `127.0.0.1:0` and serve `router` until the server is dropped.
    pub async fn start(router: Router) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), router).await
    }

    /// Bind `127.0.0.1:0`, then build the router knowing its own URL (e.g. for discovery documents).
    pub async fn start_knowing_url(make: impl FnOnce(String) -> Router) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let router = make(format!("http://{}", listener.local_addr()?));
        Self::serve(listener, router)
    }

    /// Bind a given loopback address (port 0 for any) and serve `router`.
    pub async fn start_on(addr: SocketAddr, router: Router) -> std::io::Result<Self> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("stand-ins listen on loopback only, not {addr}")));
        }
        Self::serve(TcpListener::bind(addr).await?, router)
    }

    fn serve(listener: TcpListener, router: Router) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (shutdown, signal) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let serve = axum::serve(listener, router).with_graceful_shutdown(async {
                let _ = signal.await;
            });
            if let Err(error) = serve.await {
                tracing::warn!(%addr, %error, "stand-in server stopped with an error");
            }
        });
        Ok(Self { addr, shutdown: Some(shutdown) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Wrap `router` so that every request it receives from `from` is recorded as a hop to `to`.
pub fn recorded(router: Router, recorder: Recorder, from: Hop, to: Hop) -> Router {
    router.layer(middleware::from_fn_with_state((recorder, from, to), record))
}

async fn record(State((recorder, from, to)): State<(Recorder, Hop, Hop)>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let headers = header_pairs(&parts.headers);
    let bytes = match to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => bytes,
        Err(_) => return (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "request body too large for the harness").into_response(),
    };
    let raw = RawRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        body: &bytes,
    };
    let pending = recorder.begin(from, to, &raw);
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.unwrap_or_default();
    let headers = header_pairs(&parts.headers);
    recorder.finish(
        pending,
        &RawResponse { status: parts.status.as_u16(), headers: headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(), body: &bytes },
    );
    Response::from_parts(parts, Body::from(bytes))
}

/// Headers as owned strings (non-UTF-8 values shown lossily).
pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers.iter().map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned())).collect()
}
