//! wiremock in front of a hop: a request reaches the user's [`wiremock::MockServer`] first; a
//! mock that matches answers it, anything unmatched falls through to the stand-in. Either way the
//! exchange is recorded, checked against its contract and diagnosed like any other.
//!
//! wiremock answers 404 when no mock matches, which cannot be told from a mock answering 404. So
//! [`mount_fall_through`] mounts a catch-all at the lowest priority whose answer carries
//! [`FALL_THROUGH`]: that answer, and only that one, means "ask the stand-in".

use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};

/// The header of the catch-all's answer.
pub(crate) const FALL_THROUGH: &str = "x-session-pool-harness-fall-through";

/// Hop-by-hop headers a forwarder does not pass on (RFC 9110 §7.6.1), plus the ones reqwest and
/// hyper compute themselves.
const NOT_FORWARDED: &[&str] =
    &["host", "connection", "content-length", "transfer-encoding", "keep-alive", "upgrade"];

/// Where one hop's requests go first, when a test put a mock server there. Shared by the hop's
/// server and [`super::StandIns`], which sets it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Front(Arc<RwLock<Option<String>>>);

/// What the mock server answered.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Front {
    /// Send this hop's requests to `url` first.
    pub fn set(&self, url: String) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Some(url);
    }

    /// The mock server's answer to the request, or `None` when no mock matched (or no mock server
    /// is in front). A mock server that does not answer at all is a 502 saying so.
    pub async fn ask(
        &self,
        method: &Method,
        path_and_query: &str,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> Option<Answer> {
        let url = self.0.read().unwrap_or_else(|p| p.into_inner()).clone()?;
        let mut request = super::loopback_client()
            .request(method.clone(), format!("{url}{path_and_query}"))
            .body(body.clone());
        for (name, value) in headers {
            if !NOT_FORWARDED.contains(&name.as_str()) {
                request = request.header(name, value);
            }
        }
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(error) => return Some(unreachable(&url, &error)),
        };
        if answer.headers().contains_key(FALL_THROUGH) {
            return None;
        }
        let status = answer.status();
        let mut headers = answer.headers().clone();
        for name in NOT_FORWARDED {
            headers.remove(*name);
        }
        match answer.bytes().await {
            Ok(body) => Some(Answer { status, headers, body }),
            Err(error) => Some(unreachable(&url, &error)),
        }
    }
}

fn unreachable(url: &str, error: &reqwest::Error) -> Answer {
    Answer {
        status: StatusCode::BAD_GATEWAY,
        headers: HeaderMap::new(),
        body: Bytes::from(format!(
            "the wiremock server in front of this hop ({url}) did not answer: {error}; keep the MockServer alive while the stand-ins run"
        )),
    }
}

/// Mount the catch-all that sends unmatched requests on to the stand-in.
pub(crate) async fn mount_fall_through(mock: &wiremock::MockServer) {
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(wiremock::ResponseTemplate::new(299).insert_header(FALL_THROUGH, "1"))
        .with_priority(u8::MAX)
        .named("session-pool-harness: fall through to the stand-in")
        .mount(mock)
        .await;
}
