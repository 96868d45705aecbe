//! The serving loop: faults, near-miss notes, bounds on connections and bodies, and what is
//! recorded when a request is refused before any handler saw it.

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

const ROUTES: &[(&str, &str)] = &[("GET", "/msi/token"), ("POST", "/{tenant}/oauth2/v2.0/token")];

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

/// A stand-in on `/x` that counts the calls its handler runs and answers a token.
async fn counting(faults: Vec<Fault>, limits: Limits) -> (Server, Recorder, Arc<AtomicUsize>) {
    let recorder = Recorder::new();
    let runs = Arc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let token = move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            axum::Json(serde_json::json!({"access_token": "signed-token"}))
        }
    };
    let router = Router::new().route("/x", get(token.clone()).post(token));
    let tap = Interceptor {
        recorder: recorder.clone(),
        from: Hop::Backend,
        to: Hop::Identity,
        faults: Arc::new(Faults::for_hop(&faults, Hop::Identity)),
        clock: Clock::default(),
        routes: &[("GET", "/x")],
        front: Front::default(),
    };
    (Server::start_limited(router, Some(tap), limits).await.unwrap(), recorder, runs)
}

fn quick() -> Limits {
    Limits { header_read: Duration::from_millis(200), ..Limits::default() }
}

/// Connect to `server` and send `bytes` as they are.
async fn raw(server: &Server, bytes: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt as _;
    let mut stream =
        tokio::net::TcpStream::connect(server.url().trim_start_matches("http://")).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Everything the server sends until it closes the connection (at most 10 s).
async fn until_closed(mut stream: tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept the connection open: {answer:?}");
    String::from_utf8_lossy(&answer).into_owned()
}

/// The connection counts of the identity hop, once `done` holds of them (polled for at most 5 s:
/// a connection is counted just after its socket closes).
async fn counted(
    recorder: &Recorder,
    done: impl Fn(&ConnectionCounts) -> bool,
) -> ConnectionCounts {
    for _ in 0..500 {
        let counts = recorder.losses().connections.get(&Hop::Identity).cloned().unwrap_or_default();
        if done(&counts) {
            return counts;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never counted: {:?}", recorder.losses())
}

use crate::transcript::ConnectionCounts;
use std::sync::atomic::{AtomicUsize, Ordering};

#[tokio::test]
async fn a_status_fault_answers_instead_of_the_handler_so_no_token_is_signed() {
    let (server, recorder, runs) =
        counting(vec![Fault { status: Some(500), ..fault() }], Limits::default()).await;

    let answer = reqwest::get(format!("{}/x", server.url())).await.unwrap();

    assert_eq!(answer.status(), 500);
    assert_eq!(answer.text().await.unwrap(), "", "no body unless the fault gives one");
    assert_eq!(runs.load(Ordering::SeqCst), 0, "the real handler did not run");
    let exchange = &recorder.exchanges()[0];
    assert_eq!((exchange.status, &exchange.response_body), (Some(500), &None));
}

#[tokio::test]
async fn a_status_fault_with_fields_answers_them_on_an_empty_object() {
    let set_json = [("error".to_owned(), serde_json::json!("busy"))].into();
    let (server, _, _) =
        counting(vec![Fault { status: Some(429), set_json, ..fault() }], Limits::default()).await;

    let answer = reqwest::get(format!("{}/x", server.url())).await.unwrap();

    assert_eq!(answer.headers()["content-type"], "application/json");
    assert_eq!(answer.text().await.unwrap(), r#"{"error":"busy"}"#);
}

#[tokio::test]
async fn a_partial_head_is_cut_by_the_header_read_timeout_and_counted() {
    let (server, recorder, _) = counting(Vec::new(), quick()).await;

    let stream = raw(&server, b"GET /x HTTP/1.1\r\nHost: a\r\n").await;

    assert_eq!(until_closed(stream).await, "", "closed without an answer");
    assert_eq!(counted(&recorder, |c| c.header_timeouts > 0).await.header_timeouts, 1);
    assert!(recorder.exchanges().is_empty(), "no request was read");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_by_the_same_timer_but_not_counted() {
    let (server, recorder, _) = counting(Vec::new(), quick()).await;

    let idle = until_closed(raw(&server, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").await).await;
    let slow = until_closed(raw(&server, b"GET /x HTTP/1.1\r\n").await).await;

    assert!(idle.starts_with("HTTP/1.1 200"), "answered, then closed when idle: {idle}");
    assert_eq!(slow, "");
    assert_eq!(
        counted(&recorder, |c| c.header_timeouts > 0).await.header_timeouts,
        1,
        "only the slow connection is a loss"
    );
}

#[tokio::test]
async fn past_the_connection_limit_a_connection_is_closed_at_once_and_counted() {
    let limits = Limits { max_connections: 1, ..Limits::default() };
    let (server, recorder, _) = counting(Vec::new(), limits).await;
    let _holding = raw(&server, b"GET /x HTTP/1.1\r\n").await;

    let refused = until_closed(raw(&server, b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n").await).await;

    assert_eq!(refused, "", "closed at once, long before the 5 s header-read timeout");
    assert_eq!(counted(&recorder, |c| c.refused > 0).await.refused, 1);
}

#[tokio::test]
async fn a_body_over_the_limit_is_answered_413_and_recorded_with_a_note() {
    let (server, recorder, runs) = counting(Vec::new(), Limits::default()).await;

    let head = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 9000000\r\n\r\n";
    let answer = until_closed(raw(&server, head).await).await;

    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(runs.load(Ordering::SeqCst), 0);
    let exchange = &recorder.exchanges()[0];
    assert_eq!((exchange.method.as_str(), exchange.status), ("POST", Some(413)));
    assert_eq!(
        exchange.note.as_deref(),
        Some(
            "request body over the harness's 8388608-byte limit (content-length 9000000): answered 413 before the stand-in saw it"
        )
    );
}

#[tokio::test]
async fn a_malformed_chunked_body_is_answered_400_not_413_and_recorded_with_a_note() {
    let (server, recorder, _) = counting(Vec::new(), Limits::default()).await;

    let request =
        b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n";
    let answer = until_closed(raw(&server, request).await).await;

    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let exchange = &recorder.exchanges()[0];
    assert_eq!(exchange.status, Some(400));
    let note = exchange.note.as_deref().unwrap_or_default();
    assert!(
        note.starts_with("request body could not be read (") && note.contains("chunk"),
        "{note}"
    );
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408_and_recorded() {
    let limits = Limits { body_read: Duration::from_millis(100), ..Limits::default() };
    let (server, recorder, _) = counting(Vec::new(), limits).await;

    let head = b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc";
    let answer = until_closed(raw(&server, head).await).await;

    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(
        recorder.exchanges()[0].note.as_deref(),
        Some("request body not complete within 100 ms: answered 408 before the stand-in saw it")
    );
}
