//! The session-container adapter: what runs inside the pool's custom container on its target port.
//!
//! `POST /{language}/execute` with `{"properties":{"code","stdin"?,"version"?}}` becomes a Piston
//! `POST /api/v2/execute`; Piston's status and body come back unchanged (or, with
//! `ADAPTER_ENVELOPE=properties`, as `{"properties":{"stdout","stderr","exitCode"}}`: the container's
//! answer is its own contract with its backend). `GET /runtimes` passes Piston's runtimes through;
//! `GET /health` answers 200. Environment: `PISTON_URL` (required), `ADAPTER_ENVELOPE`, `PORT`
//! (default: any free loopback port).

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{StartError, piston_error};

/// The adapter's routes (its contract), for near-miss notes on the `pool -> container` hop.
pub const ROUTES: &[(&str, &str)] =
    &[("POST", "/{language}/execute"), ("GET", "/runtimes"), ("GET", "/health")];

/// The adapter's configuration.
#[derive(Debug, Clone)]
pub struct AdapterConfig {
    /// Piston's base URL, e.g. `http://127.0.0.1:2000`.
    pub piston_url: String,
    /// How a successful execution is answered (`ADAPTER_ENVELOPE`).
    pub envelope: AnswerEnvelope,
}

/// The shape of the adapter's answer to an execution: the container's own contract with its backend.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AnswerEnvelope {
    /// Piston's answer as it is (`piston`, the default).
    #[default]
    Piston,
    /// `{"properties":{"stdout","stderr","exitCode"}}` (`properties`), as some teams' adapters answer.
    Properties,
}

impl AdapterConfig {
    pub fn from_env() -> Result<Self, StartError> {
        let piston_url =
            super::required_var("PISTON_URL", "Piston's base URL, e.g. http://127.0.0.1:2000")?;
        let envelope = match std::env::var("ADAPTER_ENVELOPE").as_deref() {
            Err(_) | Ok("" | "piston") => AnswerEnvelope::Piston,
            Ok("properties") => AnswerEnvelope::Properties,
            Ok(other) => {
                return Err(StartError::InvalidVar {
                    name: "ADAPTER_ENVELOPE",
                    value: other.to_owned(),
                    hint: "piston (Piston's answer as it is) or properties ({\"properties\":{stdout,stderr,exitCode}})",
                });
            }
        };
        Ok(Self { piston_url: piston_url.trim_end_matches('/').to_owned(), envelope })
    }
}

struct AdapterState {
    config: AdapterConfig,
    client: reqwest::Client,
}

/// The adapter's routes.
pub fn app(config: AdapterConfig) -> Router {
    let state = Arc::new(AdapterState { config, client: reqwest::Client::new() });
    Router::new()
        .route("/health", get(|| async { axum::Json(json!({ "status": "ok" })) }))
        .route("/runtimes", get(runtimes))
        .route("/{language}/execute", post(execute))
        .fallback(|| async { piston_error(StatusCode::NOT_FOUND, "Not Found") })
        .with_state(state)
}

/// Run the adapter until the process is stopped.
pub async fn serve() -> Result<(), StartError> {
    let config = AdapterConfig::from_env()?;
    let listener = super::bind_from_env().await?;
    super::announce(&listener).map_err(StartError::Serve)?;
    axum::serve(listener, app(config)).await.map_err(StartError::Serve)
}

/// The envelope the backend sends through the pool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    properties: Properties,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Properties {
    code: String,
    #[serde(default)]
    stdin: Option<String>,
    #[serde(default)]
    version: Option<String>,
}

async fn execute(
    State(state): State<Arc<AdapterState>>,
    Path(language): Path<String>,
    body: Bytes,
) -> Response {
    let envelope: Envelope = match serde_json::from_slice(&body) {
        Ok(envelope) => envelope,
        Err(error) => {
            return piston_error(
                StatusCode::BAD_REQUEST,
                format!(
                    "expected {{\"properties\":{{\"code\":<string>,\"stdin\"?:<string>,\"version\"?:<string>}}}}: {error}"
                ),
            );
        }
    };
    let props = envelope.properties;
    let request = json!({
        "language": language,
        "version": props.version.unwrap_or_else(|| "*".into()),
        "files": [{ "content": props.code }],
        "stdin": props.stdin.unwrap_or_default(),
    });
    let url = format!("{}/api/v2/execute", state.config.piston_url);
    let answer = pass_through(state.client.post(url).json(&request).send().await).await;
    match state.config.envelope {
        AnswerEnvelope::Piston => answer,
        AnswerEnvelope::Properties => into_properties(answer).await,
    }
}

/// A successful Piston answer as `{"properties":{"stdout","stderr","exitCode"}}`; errors unchanged.
async fn into_properties(answer: Response) -> Response {
    if !answer.status().is_success() {
        return answer;
    }
    let Ok(bytes) = axum::body::to_bytes(answer.into_body(), usize::MAX).await else {
        return piston_error(StatusCode::BAD_GATEWAY, "piston's answer could not be read");
    };
    let piston: Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let run = &piston["run"];
    axum::Json(json!({ "properties": { "stdout": run["stdout"], "stderr": run["stderr"], "exitCode": run["code"] } })).into_response()
}

async fn runtimes(State(state): State<Arc<AdapterState>>) -> Response {
    let url = format!("{}/api/v2/runtimes", state.config.piston_url);
    pass_through(state.client.get(url).send().await).await
}

/// Piston's answer as it is, or 502 naming Piston when it cannot be reached.
async fn pass_through(answer: reqwest::Result<reqwest::Response>) -> Response {
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            return piston_error(StatusCode::BAD_GATEWAY, format!("piston unreachable: {error}"));
        }
    };
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    match answer.bytes().await {
        Ok(bytes) => {
            let mut response = Response::new(Body::from(bytes));
            *response.status_mut() = status;
            if let Some(ct) = content_type {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            response
        }
        Err(error) => piston_error(
            StatusCode::BAD_GATEWAY,
            format!("piston closed the connection mid-answer: {error}"),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiremock::matchers::{body_json, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// The adapter served on a loopback port for a wiremock Piston; its base URL.
    async fn adapter_for(piston: &MockServer) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let config = AdapterConfig { piston_url: piston.uri(), envelope: AnswerEnvelope::Piston };
        tokio::spawn(async move { axum::serve(listener, app(config)).await });
        url
    }

    #[tokio::test]
    async fn the_envelope_becomes_a_piston_request_and_the_answer_comes_back_unchanged() {
        let piston = MockServer::start().await;
        let expected = json!({"language": "python", "version": "*", "files": [{"content": "print(42)"}], "stdin": ""});
        let answer = json!({"language": "python", "version": "3.10.0", "run": {"stdout": "42\n"}});
        Mock::given(method("POST"))
            .and(path("/api/v2/execute"))
            .and(body_json(&expected))
            .respond_with(ResponseTemplate::new(200).set_body_json(&answer))
            .expect(1)
            .mount(&piston)
            .await;

        let adapter = adapter_for(&piston).await;
        let got = reqwest::Client::new()
            .post(format!("{adapter}/python/execute"))
            .json(&json!({"properties": {"code": "print(42)"}}))
            .send()
            .await
            .unwrap();

        assert_eq!(got.status(), 200);
        assert_eq!(got.json::<serde_json::Value>().await.unwrap(), answer);
    }

    #[tokio::test]
    async fn a_flat_body_is_refused_with_a_piston_style_message() {
        let piston = MockServer::start().await;
        let adapter = adapter_for(&piston).await;
        let got = reqwest::Client::new()
            .post(format!("{adapter}/python/execute"))
            .json(&json!({"code": "print(42)"}))
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 400);
        let body: serde_json::Value = got.json().await.unwrap();
        assert!(body["message"].as_str().unwrap().contains("properties"), "{body}");
    }
}
