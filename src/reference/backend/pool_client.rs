//! Calling the session pool well: bounded time, retries of transient answers only, one token
//! refresh on 401, and every failure turned into a Piston-style message naming the hop and what it answered.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::{Backend, hop_failure};
use crate::transcript::Hop;

impl Backend {
    /// Call the pool with a token; on 401 get a fresh token once and try once more.
    /// `convert` turns a 2xx answer into the backend's answer, or says what is wrong with it.
    pub(super) async fn call_pool(
        &self,
        request: reqwest::RequestBuilder,
        convert: impl Fn(Value) -> Result<Value, String>,
    ) -> Response {
        let mut refreshed = false;
        loop {
            let token = match self.token().await {
                Ok(token) => token,
                Err(response) => return response,
            };
            let Some(this_try) = request.try_clone() else {
                return hop_failure(
                    StatusCode::BAD_GATEWAY,
                    Hop::Pool,
                    "the request could not be repeated".into(),
                );
            };
            let this_try = match &token {
                Some(token) => this_try.bearer_auth(token),
                None => this_try,
            };
            let answer = match self.send_with_retries(this_try).await {
                Ok(answer) => answer,
                Err(response) => return response,
            };
            if answer.status() == reqwest::StatusCode::UNAUTHORIZED && token.is_some() && !refreshed
            {
                refreshed = true;
                self.tokens.invalidate().await;
                self.credential.refresh();
                continue;
            }
            return self.pass_on(answer, &convert).await;
        }
    }

    /// A 2xx answer that `convert` accepts goes back converted; anything else becomes a hop failure.
    async fn pass_on(
        &self,
        answer: reqwest::Response,
        convert: &impl Fn(Value) -> Result<Value, String>,
    ) -> Response {
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        if !status.is_success() {
            return hop_failure(
                StatusCode::BAD_GATEWAY,
                Hop::Pool,
                format!("answered {status}{}", body_excerpt(&text)),
            );
        }
        let body: Value = match serde_json::from_str(&text) {
            Ok(body) => body,
            Err(_) => {
                return hop_failure(
                    StatusCode::BAD_GATEWAY,
                    Hop::Pool,
                    format!(
                        "answered {status} with a body that is not JSON{}",
                        body_excerpt(&text)
                    ),
                );
            }
        };
        match convert(body) {
            Ok(answer) => (StatusCode::OK, axum::Json(answer)).into_response(),
            Err(problem) => hop_failure(
                StatusCode::BAD_GATEWAY,
                Hop::Pool,
                format!("answered {status} but {problem}"),
            ),
        }
    }

    /// Send, retrying transient answers (429, 5xx but 501) and transport errors with doubling delays.
    pub(super) async fn send_with_retries(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, Response> {
        let mut delay = self.config.pool_retry_delay;
        for attempt in 0..=self.config.pool_max_retries {
            let last = attempt == self.config.pool_max_retries;
            let Some(this_try) = request.try_clone() else { break };
            match this_try.send().await {
                Ok(answer) if last || !is_transient(answer.status()) => return Ok(answer),
                Err(error) if last => return Err(self.transport_failure(&error)),
                _ => {}
            }
            tokio::time::sleep(delay).await;
            // The delay comes from the environment: doubling it must not overflow.
            delay = delay.saturating_mul(2);
        }
        Err(hop_failure(
            StatusCode::BAD_GATEWAY,
            Hop::Pool,
            "the request could not be repeated".into(),
        ))
    }

    fn transport_failure(&self, error: &reqwest::Error) -> Response {
        if error.is_timeout() {
            let detail = format!(
                "no answer within {} ms (SESSION_POOL_TIMEOUT_MS)",
                self.config.pool_timeout.as_millis()
            );
            return hop_failure(StatusCode::GATEWAY_TIMEOUT, Hop::Pool, detail);
        }
        hop_failure(StatusCode::BAD_GATEWAY, Hop::Pool, format!("unreachable: {error}"))
    }
}

fn is_transient(status: reqwest::StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
}

fn body_excerpt(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        return " with an empty body".into();
    }
    let mut end = text.len().min(300);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(": {}", &text[..end])
}
