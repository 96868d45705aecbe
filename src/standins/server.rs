//! Serving a stand-in: bind `127.0.0.1:0` first, then spawn; record, check and fault every exchange.
//!
//! The bound listener is the readiness signal (mini-redis style): when [`Server::start`] returns,
//! the port accepts connections. Connections are served by hyper directly so that a fault can close
//! one without an answer. A [`Interceptor`] records each exchange as the client saw it (after faults),
//! checks it against the hop's contract and notes the closest route of a request no route serves.
//! A request refused before any handler saw it (body too large, malformed or too slow) is recorded
//! too, with a note. Connections are bounded ([`connections`]). Dropping the server stops it and its
//! connections.

mod connections;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use axum::response::IntoResponse;
use http_body_util::BodyExt as _;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tower::ServiceExt as _;

use super::faults::{Action, Faults, Replacement};
use super::front::Front;
use crate::contracts;
use crate::tokens::Clock;
use crate::transcript::{Hop, RawRequest, RawResponse, Recorder};
pub use connections::Limits;
use connections::{Events, Traffic, Watched};

/// Bodies larger than this are refused with 413 rather than buffered.
pub const BODY_LIMIT: usize = 8 * 1024 * 1024;

/// A running HTTP server on loopback.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// How a stand-in's exchanges are recorded, checked and faulted.
#[derive(Debug, Clone)]
pub struct Interceptor {
    pub recorder: Recorder,
    pub from: Hop,
    pub to: Hop,
    pub faults: Arc<Faults>,
    /// The service's clock, stored with each answer (token expiry is judged against it).
    pub clock: Clock,
    /// `(method, path pattern)` of every route, for near-miss notes.
    pub routes: &'static [(&'static str, &'static str)],
    /// A test's wiremock server asked before the stand-in, when there is one.
    pub front: Front,
}

/// Marks an answer given because no route matched (set by the stand-ins' fallbacks).
#[derive(Debug, Clone, Copy)]
pub struct Unrouted;

/// A stand-in's own remark on its answer, kept on the exchange and never sent on the wire (e.g.
/// why the pool refused a token: Azure answers that 401 with an empty body).
#[derive(Debug, Clone)]
pub struct Remark(pub String);

/// A fault asked for the connection to be closed without an answer.
#[derive(Debug, thiserror::Error)]
#[error("connection closed without a response (fault)")]
pub struct Closed;

impl Server {
    #[cfg(test)]
    /// Bind `127.0.0.1:0` and serve `router` until the server is dropped.
    pub async fn start(router: Router) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), router, None).await
    }

    /// Bind `127.0.0.1:0` and serve `router` through `tap`.
    pub async fn start_tapped(router: Router, tap: Interceptor) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), router, Some(tap)).await
    }

    /// Bind `127.0.0.1:0`, then build the router knowing its own URL (e.g. for discovery documents);
    /// serve https when given a TLS configuration.
    pub async fn start_knowing_url(
        make: impl FnOnce(String) -> Router,
        tap: Option<Interceptor>,
        tls: Option<Arc<ServerConfig>>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let router = make(format!("{scheme}://{}", listener.local_addr()?));
        Self::serve(listener, router, tap, tls, Limits::default())
    }

    /// Bind a given loopback address (port 0 for any) and serve `router`.
    pub async fn start_on(
        addr: SocketAddr,
        router: Router,
        tap: Option<Interceptor>,
    ) -> std::io::Result<Self> {
        if !addr.ip().is_loopback() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("stand-ins listen on loopback only, not {addr}"),
            ));
        }
        Self::serve(TcpListener::bind(addr).await?, router, tap, None, Limits::default())
    }

    #[cfg(test)]
    /// Bind `127.0.0.1:0` and serve `router` through `tap` within `limits`.
    pub async fn start_limited(
        router: Router,
        tap: Option<Interceptor>,
        limits: Limits,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        Self::serve(listener, router, tap, None, limits)
    }

    fn serve(
        listener: TcpListener,
        router: Router,
        tap: Option<Interceptor>,
        tls: Option<Arc<ServerConfig>>,
        limits: Limits,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let secure = tls.is_some();
        let acceptor = tls.map(TlsAcceptor::from);
        let (shutdown, signal) = oneshot::channel::<()>();
        let events =
            tap.as_ref().map_or_else(Events::default, |t| Events::to(t.recorder.clone(), t.to));
        let accept_events = events.clone();
        let serve = move |stream: tokio::net::TcpStream| {
            let (router, tap, acceptor, events) =
                (router.clone(), tap.clone(), acceptor.clone(), events.clone());
            async move {
                let Some(acceptor) = acceptor else {
                    return serve_connection(stream, router, tap, limits, events).await;
                };
                // The handshake is part of the head: a client that stalls in it is cut alike.
                match tokio::time::timeout(limits.header_read, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, router, tap, limits, events).await,
                    Ok(Err(_)) => {}
                    Err(_) => events.note(crate::transcript::ConnectionEvent::HeaderTimeout),
                }
            }
        };
        let task =
            tokio::spawn(connections::accept(listener, limits, accept_events, signal, serve));
        Ok(Self { addr, tls: secure, shutdown: Some(shutdown), task: Some(task) })
    }

    /// Stop serving and wait until the port is released (a scenario pinning a fixed port may bind it
    /// right after).
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// `http://127.0.0.1:<port>` (`https://` when serving TLS).
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn serve_connection(
    io: impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    router: Router,
    tap: Option<Interceptor>,
    limits: Limits,
    events: Events,
) {
    let traffic = Traffic::new();
    let service = hyper::service::service_fn(move |request| {
        handle(request, router.clone(), tap.clone(), limits.body_read)
    });
    let io = Watched { io, traffic: traffic.clone() };
    let result = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .serve_connection(TokioIo::new(io), service)
        .await;
    events.ended(result, &traffic);
}

async fn handle(
    request: Request<hyper::body::Incoming>,
    router: Router,
    tap: Option<Interceptor>,
    body_read: Duration,
) -> Result<Response<Body>, Closed> {
    let Some(tap) = tap else {
        let response = router.oneshot(request.map(Body::new)).await;
        return Ok(response.unwrap_or_else(|never: Infallible| match never {}));
    };
    let (parts, body) = request.into_parts();
    let bytes = match read_body(body, body_read).await {
        Ok(bytes) => bytes,
        Err(unread) => return Ok(refuse(&tap, &parts, &unread)),
    };
    let headers = header_pairs(&parts.headers);
    let pending = tap.recorder.begin(tap.from, tap.to, &raw_request(&parts, &headers, &bytes));
    let request_violations =
        contracts::check_request(tap.to, parts.method.as_str(), parts.uri.path(), &bytes);
    let (method, path) = (parts.method.to_string(), parts.uri.path().to_owned());
    let action = tap.faults.decide(&path);
    if let Some(delay) = action.as_ref().and_then(|a| a.delay) {
        tokio::time::sleep(delay).await;
    }
    if action.as_ref().is_some_and(|a| a.close) {
        tap.recorder.fail(pending, Closed.to_string());
        return Err(Closed);
    }
    let replacement = action.as_ref().and_then(Action::replacement);
    let edits_real_answer = replacement.is_none();
    let (mut parts, mut bytes, unrouted, remark) = match replacement {
        // The real handler does not run: no token signed, no session allocated.
        Some(replacement) => (replaced(&replacement), Bytes::from(replacement.body), false, None),
        None => answer(&tap, parts, bytes, router).await,
    };
    if let Some(action) = &action {
        if edits_real_answer {
            bytes = Bytes::from(action.rewrite_body(&bytes));
        }
        set_headers(action, &mut parts.headers);
    }
    let headers = header_pairs(&parts.headers);
    let mut violations = request_violations;
    violations.extend(contracts::check_response(
        tap.to,
        &method,
        &path,
        parts.status.as_u16(),
        &bytes,
    ));
    let note = unrouted.then(|| near_miss(&method, &path, tap.routes)).or(remark);
    let raw = RawResponse {
        status: parts.status.as_u16(),
        headers: pairs(&headers),
        body: &bytes,
        clock: Some(tap.clock.now()),
    };
    tap.recorder.finish_checked(pending, &raw, violations, note);
    let slow = action.and_then(|a| a.slow_body);
    let body = match slow {
        Some(gap) => drip(bytes, gap),
        None => Body::from(bytes),
    };
    Ok(Response::from_parts(parts, body))
}

/// The answer of the test's wiremock server in front, or else of the stand-in's router; and whether
/// no route served the request.
async fn answer(
    tap: &Interceptor,
    parts: axum::http::request::Parts,
    bytes: Bytes,
    router: Router,
) -> (axum::http::response::Parts, Bytes, bool, Option<String>) {
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    if let Some(answer) = tap.front.ask(&parts.method, path_and_query, &parts.headers, &bytes).await
    {
        let mut response = Response::new(());
        *response.status_mut() = answer.status;
        *response.headers_mut() = answer.headers;
        return (response.into_parts().0, answer.body, false, None);
    }
    let response = router
        .oneshot(Request::from_parts(parts, Body::from(bytes)))
        .await
        .unwrap_or_else(|never: Infallible| match never {});
    let unrouted = response.extensions().get::<Unrouted>().is_some();
    let remark = response.extensions().get::<Remark>().map(|r| r.0.clone());
    let (parts, body) = response.into_parts();
    (parts, to_bytes(body, BODY_LIMIT).await.unwrap_or_default(), unrouted, remark)
}

/// Why a request's body was not read, so no handler saw the request.
#[derive(Debug)]
enum Unread {
    /// Over [`BODY_LIMIT`]; the length it declared, when it declared one.
    TooLarge(Option<u64>),
    Broken(String),
    Slow(Duration),
}

impl Unread {
    fn status(&self) -> StatusCode {
        match self {
            Unread::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Unread::Broken(_) => StatusCode::BAD_REQUEST,
            Unread::Slow(_) => StatusCode::REQUEST_TIMEOUT,
        }
    }

    /// The answer's body, and the note on the exchange.
    fn say(&self) -> (&'static str, String) {
        let answered = format!("answered {} before the stand-in saw it", self.status().as_u16());
        match self {
            Unread::TooLarge(declared) => (
                "request body too large for the harness",
                format!(
                    "request body over the harness's {BODY_LIMIT}-byte limit{}: {answered}",
                    declared.map(|n| format!(" (content-length {n})")).unwrap_or_default()
                ),
            ),
            Unread::Broken(error) => (
                "malformed request body",
                format!("request body could not be read ({error}): {answered}"),
            ),
            Unread::Slow(within) => (
                "request body too slow",
                format!("request body not complete within {} ms: {answered}", within.as_millis()),
            ),
        }
    }
}

/// The whole body, unless it is over [`BODY_LIMIT`], malformed (e.g. bad chunking) or too slow.
async fn read_body(body: hyper::body::Incoming, within: Duration) -> Result<Bytes, Unread> {
    use hyper::body::Body as _;
    let declared = body.size_hint().exact();
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        // Refused unread: neither the wait nor the memory for a body that will not be served.
        return Err(Unread::TooLarge(declared));
    }
    let limited = http_body_util::Limited::new(body, BODY_LIMIT);
    match tokio::time::timeout(within, limited.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            Err(Unread::TooLarge(None))
        }
        Ok(Err(error)) => Err(Unread::Broken(error_chain(&*error))),
        Err(_) => Err(Unread::Slow(within)),
    }
}

/// `error: cause: cause`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Answer a request whose body was not read, and record it with a note saying why. Faults do not
/// count it: the stand-in never saw it.
fn refuse(
    tap: &Interceptor,
    parts: &axum::http::request::Parts,
    unread: &Unread,
) -> Response<Body> {
    let headers = header_pairs(&parts.headers);
    let pending = tap.recorder.begin(tap.from, tap.to, &raw_request(parts, &headers, &[]));
    let (status, (text, note)) = (unread.status(), unread.say());
    let answer = RawResponse {
        status: status.as_u16(),
        headers: vec![("content-type", "text/plain; charset=utf-8")],
        body: text.as_bytes(),
        clock: Some(tap.clock.now()),
    };
    tap.recorder.finish_checked(pending, &answer, Vec::new(), Some(note));
    (status, text).into_response()
}

/// The head of the answer a status fault gives instead of the real one.
fn replaced(replacement: &Replacement) -> axum::http::response::Parts {
    let mut response = Response::new(());
    *response.status_mut() =
        StatusCode::from_u16(replacement.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(content_type) = replacement.content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response.into_parts().0
}

/// Set the fault's headers (the body changed: its length is computed again).
fn set_headers(action: &Action, headers: &mut HeaderMap) {
    for (name, value) in &action.headers {
        if let (Ok(name), Ok(value)) =
            (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
        {
            headers.insert(name, value);
        }
    }
    headers.remove(axum::http::header::CONTENT_LENGTH);
}

/// A body sent in chunks of 16 bytes, `gap` apart.
fn drip(bytes: Bytes, gap: Duration) -> Body {
    let chunks: Vec<Bytes> = bytes.chunks(16).map(Bytes::copy_from_slice).collect();
    let stream = futures_util::stream::unfold(chunks.into_iter(), move |mut rest| async move {
        let chunk = rest.next()?;
        tokio::time::sleep(gap).await;
        Some((Ok::<_, Infallible>(chunk), rest))
    });
    Body::from_stream(stream)
}

/// `no route for GET /msi/tokens; closest: GET /msi/token (path differs)`.
pub fn near_miss(method: &str, path: &str, routes: &[(&str, &str)]) -> String {
    let scored = routes.iter().map(|(m, pattern)| {
        let distance =
            path_distance(path, pattern) + usize::from(!m.eq_ignore_ascii_case(method)) * 3;
        (distance, *m, *pattern)
    });
    match scored.min_by_key(|(d, _, _)| *d) {
        Some((_, m, pattern)) => {
            let mut differs = Vec::new();
            if !m.eq_ignore_ascii_case(method) {
                differs.push("method");
            }
            if path_distance(path, pattern) > 0 {
                differs.push("path");
            }
            format!(
                "no route for {method} {path}; closest: {m} {pattern} ({} differs)",
                differs.join(" and ")
            )
        }
        None => format!("no route for {method} {path}"),
    }
}

/// Edit distance between a path and a route pattern, `{param}` segments matching any one segment.
fn path_distance(path: &str, pattern: &str) -> usize {
    let segments: Vec<&str> = path.split('/').collect();
    let template: Vec<&str> = pattern.split('/').collect();
    let filled: Vec<&str> = template
        .iter()
        .enumerate()
        .map(|(i, t)| if t.starts_with('{') { segments.get(i).copied().unwrap_or(t) } else { t })
        .collect();
    crate::suggest::levenshtein(path, &filled.join("/"))
}

/// Headers as owned strings (non-UTF-8 values shown lossily).
pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect()
}

/// A request as the transcript records it (`headers` from [`header_pairs`]).
fn raw_request<'a>(
    parts: &'a axum::http::request::Parts,
    headers: &'a [(String, String)],
    body: &'a [u8],
) -> RawRequest<'a> {
    RawRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: pairs(headers),
        body,
    }
}

fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[cfg(test)]
mod tests;
