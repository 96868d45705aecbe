//! Serving a stand-in: bind `127.0.0.1:0` first, then spawn; record, check and fault every exchange.
//!
//! The bound listener is the readiness signal (mini-redis style): when [`Server::start`] returns,
//! the port accepts connections. Connections are served by hyper directly so that a fault can close
//! one without an answer. A [`Interceptor`] records each exchange as the client saw it (after faults),
//! checks it against the hop's contract and notes the closest route of a request no route serves.
//! Dropping the server stops it and its connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tower::ServiceExt as _;

use super::faults::{Action, Faults};
use super::front::Front;
use crate::contracts;
use crate::tokens::Clock;
use crate::transcript::{Hop, RawRequest, RawResponse, Recorder};

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
        Self::serve(listener, router, tap, tls)
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
        Self::serve(TcpListener::bind(addr).await?, router, tap, None)
    }

    fn serve(
        listener: TcpListener,
        router: Router,
        tap: Option<Interceptor>,
        tls: Option<Arc<ServerConfig>>,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let secure = tls.is_some();
        let acceptor = tls.map(TlsAcceptor::from);
        let (shutdown, mut signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            // Dropping the set at shutdown aborts every open connection.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = &mut signal => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let (router, tap, acceptor) = (router.clone(), tap.clone(), acceptor.clone());
                        connections.spawn(async move {
                            match acceptor {
                                None => serve_connection(stream, router, tap).await,
                                Some(acceptor) => {
                                    if let Ok(stream) = acceptor.accept(stream).await {
                                        serve_connection(stream, router, tap).await;
                                    }
                                }
                            }
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        });
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
) {
    let service =
        hyper::service::service_fn(move |request| handle(request, router.clone(), tap.clone()));
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

async fn handle(
    request: Request<hyper::body::Incoming>,
    router: Router,
    tap: Option<Interceptor>,
) -> Result<Response<Body>, Closed> {
    let Some(tap) = tap else {
        let response = router.oneshot(request.map(Body::new)).await;
        return Ok(response.unwrap_or_else(|never: Infallible| match never {}));
    };
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(Body::new(body), BODY_LIMIT).await else {
        return Ok((StatusCode::PAYLOAD_TOO_LARGE, "request body too large for the harness")
            .into_response());
    };
    let headers = header_pairs(&parts.headers);
    let raw = RawRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: pairs(&headers),
        body: &bytes,
    };
    let pending = tap.recorder.begin(tap.from, tap.to, &raw);
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
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut remark = None;
    let (mut parts, mut bytes, unrouted) =
        match tap.front.ask(&parts.method, path_and_query, &parts.headers, &bytes).await {
            Some(answer) => {
                let mut response = Response::new(());
                *response.status_mut() = answer.status;
                *response.headers_mut() = answer.headers;
                (response.into_parts().0, answer.body, false)
            }
            None => {
                let response = router
                    .oneshot(Request::from_parts(parts, Body::from(bytes)))
                    .await
                    .unwrap_or_else(|never: Infallible| match never {});
                let unrouted = response.extensions().get::<Unrouted>().is_some();
                remark = response.extensions().get::<Remark>().map(|r| r.0.clone());
                let (parts, body) = response.into_parts();
                (parts, to_bytes(body, BODY_LIMIT).await.unwrap_or_default(), unrouted)
            }
        };
    if let Some(action) = &action {
        apply(action, &mut parts.status, &mut parts.headers, &mut bytes);
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

/// Override status, headers and body as the fault says.
fn apply(action: &Action, status: &mut StatusCode, headers: &mut HeaderMap, body: &mut Bytes) {
    if let Some(code) = action.status.and_then(|s| StatusCode::from_u16(s).ok()) {
        *status = code;
    }
    *body = Bytes::from(action.rewrite_body(body));
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

fn pairs(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Fault;
    use axum::routing::get;

    async fn faulty(fault: Fault) -> (Server, Recorder) {
        let recorder = Recorder::new();
        let router = Router::new().route(
            "/x",
            get(|| async { axum::Json(serde_json::json!({"access_token": "t", "n": 1})) }),
        );
        let tap = Interceptor {
            recorder: recorder.clone(),
            from: Hop::Backend,
            to: Hop::Identity,
            faults: Arc::new(Faults::for_hop(&[fault], Hop::Identity)),
            clock: Clock::default(),
            routes: &[("GET", "/x")],
            front: Front::default(),
        };
        (Server::start_tapped(router, tap).await.unwrap(), recorder)
    }

    fn fault() -> Fault {
        Fault::on(Hop::Identity)
    }

    #[tokio::test]
    async fn a_close_fault_drops_the_connection_without_any_answer_and_says_so() {
        let (server, recorder) = faulty(Fault { close: true, ..fault() }).await;
        let result = reqwest::get(format!("{}/x", server.url())).await;
        assert!(result.is_err(), "no HTTP answer at all: {result:?}");
        let exchange = &recorder.exchanges()[0];
        assert_eq!(
            (exchange.status, exchange.error.as_deref()),
            (None, Some("connection closed without a response (fault)"))
        );
    }

    #[tokio::test]
    async fn status_header_and_malformed_json_faults_change_what_the_client_gets_and_the_transcript_shows_it()
     {
        let mut headers = std::collections::BTreeMap::new();
        headers.insert("retry-after".to_owned(), "7".to_owned());
        let (server, recorder) = faulty(Fault {
            calls: vec![2],
            status: Some(503),
            headers,
            malformed_json: true,
            ..fault()
        })
        .await;
        let first = reqwest::get(format!("{}/x", server.url())).await.unwrap();
        assert_eq!(first.status(), 200, "only the second call is faulted");
        let second = reqwest::get(format!("{}/x", server.url())).await.unwrap();
        assert_eq!(
            (second.status().as_u16(), second.headers()["retry-after"].to_str().unwrap()),
            (503, "7")
        );
        assert!(serde_json::from_str::<serde_json::Value>(&second.text().await.unwrap()).is_err());
        assert_eq!(recorder.exchanges()[1].status, Some(503));
    }

    #[tokio::test]
    async fn a_slow_body_arrives_whole_after_its_drip() {
        let (server, _) =
            faulty(Fault { slow_body: Some(std::time::Duration::from_millis(5)), ..fault() }).await;
        let started = std::time::Instant::now();
        let body = reqwest::get(format!("{}/x", server.url())).await.unwrap().text().await.unwrap();
        assert_eq!(body, r#"{"access_token":"t","n":1}"#);
        assert!(started.elapsed() >= Duration::from_millis(5), "at least one chunk waited");
    }

    #[tokio::test]
    async fn an_unrouted_request_is_noted_with_its_closest_route() {
        let recorder = Recorder::new();
        let router = Router::new().route("/x", get(|| async { "ok" })).fallback(|| async {
            let mut response = StatusCode::NOT_FOUND.into_response();
            response.extensions_mut().insert(Unrouted);
            response
        });
        let tap = Interceptor {
            recorder: recorder.clone(),
            from: Hop::Backend,
            to: Hop::Identity,
            faults: Arc::default(),
            clock: Clock::default(),
            routes: &[("GET", "/x")],
            front: Front::default(),
        };
        let server = Server::start_tapped(router, tap).await.unwrap();
        let answer = reqwest::get(format!("{}/xy", server.url())).await.unwrap();
        assert_eq!(answer.status(), 404);
        assert_eq!(
            recorder.exchanges()[0].note.as_deref(),
            Some("no route for GET /xy; closest: GET /x (path differs)")
        );
    }

    const ROUTES: &[(&str, &str)] =
        &[("GET", "/msi/token"), ("POST", "/{tenant}/oauth2/v2.0/token")];

    #[test]
    fn a_near_miss_names_the_closest_route_and_what_differs() {
        assert_eq!(
            near_miss("GET", "/msi/tokens", ROUTES),
            "no route for GET /msi/tokens; closest: GET /msi/token (path differs)"
        );
        assert_eq!(
            near_miss("GET", "/t1/oauth2/v2.0/token", ROUTES),
            "no route for GET /t1/oauth2/v2.0/token; closest: POST /{tenant}/oauth2/v2.0/token (method differs)"
        );
    }
}
