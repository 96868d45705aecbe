//! The reference coding-engine backend: a Piston-compatible API in front of a session pool.
//!
//! A token for the pool comes from a real `azure_identity` credential ([`credential`]), which reads
//! the platform's variables itself (`IDENTITY_ENDPOINT`/`IDENTITY_HEADER`, else IMDS). Each execute
//! request becomes `POST {pool}/{language}/execute?identifier=…` with `{"properties":{…}}`
//! ([`pool_client`]). A failure upstream is a Piston-style `{"message"}` naming the hop, its status
//! and the SDK's text, with 502 (or 504 on timeout): never a 200 with empty output. It names no
//! cause: it is a system under test, not a judge.
//!
//! Environment (all but the first optional; docs/architecture.md has the full table):
//! - `SESSION_POOL_ENDPOINT`: the pool management endpoint.
//! - `SESSION_POOL_TOKEN_SCOPE`: default `https://dynamicsessions.io/.default`.
//! - `SESSION_POOL_IDENTIFIER`: the session identifier, default `coding-engine`; empty: not sent.
//! - `SESSION_POOL_EXECUTE_PATH`: path template, default `{language}/execute`.
//! - `SESSION_POOL_AUTH`: `none` sends no token (to reproduce a missing header).
//! - `SESSION_POOL_TIMEOUT_MS`, `TOKEN_TIMEOUT_MS`: bounds per pool call and per token (default 10000).
//! - `SESSION_POOL_MAX_RETRIES` (default 2), `SESSION_POOL_RETRY_DELAY_MS` (default 200, doubling):
//!   retries of a pool call answered 429/500/502/503/504 or not answered at all.
//! - `IDENTITY_MAX_RETRIES`, `IDENTITY_RETRY_DELAY_MS`: the SDK's retry policy for the Container Apps
//!   identity endpoint (default: the SDK's own; IMDS always uses the SDK's IMDS policy).
//! - `AZURE_TOKEN_CREDENTIALS`, `AZURE_CLIENT_ID`: which credential and identity (see [`credential`]).
//! - `PORT`: listen on `127.0.0.1:$PORT` (default: any free port).

pub mod credential;
pub mod pool_client;
pub mod token_cache;
pub mod validate;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use azure_core::error::ErrorKind;
use reqwest::Url;
use serde_json::{Value, json};

use super::{StartError, piston_error};
use crate::azure::{CODE_EXECUTE_API_VERSION, EXECUTIONS_API_VERSION};
use crate::transcript::Hop;
pub use credential::{Credential, CredentialKind};

/// The default path template of an execution, relative to the pool endpoint.
pub const DEFAULT_EXECUTE_PATH: &str = "{language}/execute";

/// Which session-pool API the backend calls (`SESSION_POOL_API`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolApi {
    /// `custom` (default): a custom-container pool, `POST {language}/execute` with `{"properties":{…}}`.
    CustomContainer,
    /// `code-execute`: a code-interpreter pool, `POST code/execute?api-version=2024-02-02-preview`.
    CodeExecute,
    /// `executions`: a code-interpreter pool, `POST executions?api-version=2024-10-02-preview`, flat body.
    Executions,
    /// `executions-with-properties`: the drift bug of moving to `executions` but keeping the old envelope.
    ExecutionsWithProperties,
}

impl PoolApi {
    fn from_env() -> Result<Self, StartError> {
        match std::env::var("SESSION_POOL_API").as_deref() {
            Err(_) | Ok("" | "custom") => Ok(Self::CustomContainer),
            Ok("code-execute") => Ok(Self::CodeExecute),
            Ok("executions") => Ok(Self::Executions),
            Ok("executions-with-properties") => Ok(Self::ExecutionsWithProperties),
            Ok(other) => Err(StartError::InvalidVar {
                name: "SESSION_POOL_API",
                value: other.into(),
                hint: "custom, code-execute, executions or executions-with-properties",
            }),
        }
    }
}

/// Everything the backend reads from its environment.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub pool_endpoint: Url,
    pub token_scope: String,
    /// Empty: no `identifier` parameter is sent.
    pub identifier: String,
    pub client_id: Option<String>,
    pub pool_timeout: Duration,
    pub token_timeout: Duration,
    pub pool_max_retries: u32,
    pub pool_retry_delay: Duration,
    /// `None`: the SDK's default retry policy.
    pub identity_retry: Option<(u32, Duration)>,
    pub credential: CredentialKind,
    /// Whether to send `Authorization` at all.
    pub send_token: bool,
    /// Path template with `{language}`.
    pub execute_path: String,
    pub pool_api: PoolApi,
}

impl BackendConfig {
    pub fn from_env() -> Result<Self, StartError> {
        let endpoint = super::required_var(
            "SESSION_POOL_ENDPOINT",
            "the pool's management endpoint (properties.poolManagementEndpoint)",
        )?;
        let pool_endpoint = Url::parse(&endpoint).map_err(|_| StartError::InvalidVar {
            name: "SESSION_POOL_ENDPOINT",
            value: endpoint.clone(),
            hint: "an absolute http(s) URL",
        })?;
        let var =
            |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Ok(Self {
            pool_endpoint,
            token_scope: var("SESSION_POOL_TOKEN_SCOPE", "https://dynamicsessions.io/.default"),
            identifier: var("SESSION_POOL_IDENTIFIER", "coding-engine"),
            client_id: std::env::var("AZURE_CLIENT_ID").ok().filter(|id| !id.is_empty()),
            pool_timeout: super::millis_var("SESSION_POOL_TIMEOUT_MS", 10_000)?,
            token_timeout: super::millis_var("TOKEN_TIMEOUT_MS", 10_000)?,
            pool_max_retries: super::count_var("SESSION_POOL_MAX_RETRIES", 2)?,
            pool_retry_delay: super::millis_var("SESSION_POOL_RETRY_DELAY_MS", 200)?,
            identity_retry: match std::env::var_os("IDENTITY_MAX_RETRIES") {
                None => None,
                Some(_) => Some((
                    super::count_var("IDENTITY_MAX_RETRIES", 0)?,
                    super::millis_var("IDENTITY_RETRY_DELAY_MS", 200)?,
                )),
            },
            credential: CredentialKind::from_env()?,
            send_token: var("SESSION_POOL_AUTH", "bearer") != "none",
            execute_path: var("SESSION_POOL_EXECUTE_PATH", DEFAULT_EXECUTE_PATH),
            pool_api: PoolApi::from_env()?,
        })
    }
}

struct Backend {
    config: BackendConfig,
    credential: Credential,
    tokens: token_cache::TokenCache,
    client: reqwest::Client,
}

/// Run the backend until the process is stopped.
pub async fn serve() -> Result<(), StartError> {
    let config = BackendConfig::from_env()?;
    let credential = Credential::new(&config)?;
    let listener = super::bind_from_env().await?;
    super::announce(&listener).map_err(StartError::Serve)?;
    axum::serve(listener, app(config, credential)).await.map_err(StartError::Serve)
}

/// The backend's routes, for any credential.
pub fn app(config: BackendConfig, credential: Credential) -> Router {
    let client = reqwest::Client::builder()
        .timeout(config.pool_timeout)
        .build()
        .expect("an HTTP client with a timeout builds");
    let state = Arc::new(Backend {
        config,
        credential,
        tokens: token_cache::TokenCache::default(),
        client,
    });
    Router::new()
        .route("/api/v2/runtimes", get(runtimes))
        .route("/api/v2/execute", post(execute))
        .fallback(|| async { piston_error(StatusCode::NOT_FOUND, "Not Found") })
        .with_state(state)
}

async fn runtimes(State(backend): State<Arc<Backend>>) -> Response {
    if backend.config.pool_api != PoolApi::CustomContainer {
        // Code-interpreter pools have no runtimes operation: the backend states what it offers.
        return axum::Json(
            json!([{ "language": "python", "version": "3", "aliases": ["py", "python3"] }]),
        )
        .into_response();
    }
    let url = backend.pool_url("runtimes");
    backend.call_pool(backend.client.get(url), Ok).await
}

async fn execute(
    State(backend): State<Arc<Backend>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    let Some(body) = read_limited(body).await else {
        return piston_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body exceeds the limit of {} bytes", validate::MAX_BODY),
        );
    };
    let request = match validate::execute_request(&headers, &body) {
        Ok(request) => request,
        Err((status, message)) => return piston_error(status, message),
    };
    let (language, version, code) = (request.language, request.version, request.code.as_str());
    let (path, body) = match backend.config.pool_api {
        PoolApi::CustomContainer => (
            backend.execute_path(&language),
            json!({ "properties": { "code": code, "stdin": request.stdin, "version": version } }),
        ),
        PoolApi::CodeExecute => (
            "code/execute".to_owned(),
            json!({ "properties": { "codeInputType": "inline", "executionType": "synchronous", "code": code } }),
        ),
        PoolApi::Executions => (
            "executions".to_owned(),
            json!({ "codeInputType": "Inline", "executionType": "Synchronous", "code": code, "timeoutInSeconds": 60 }),
        ),
        PoolApi::ExecutionsWithProperties => (
            "executions".to_owned(),
            json!({ "properties": { "codeInputType": "inline", "executionType": "synchronous", "code": code } }),
        ),
    };
    let mut url = backend.pool_url(&path);
    match backend.config.pool_api {
        PoolApi::CustomContainer => {}
        PoolApi::CodeExecute => {
            url.query_pairs_mut().append_pair("api-version", CODE_EXECUTE_API_VERSION);
        }
        PoolApi::Executions | PoolApi::ExecutionsWithProperties => {
            url.query_pairs_mut().append_pair("api-version", EXECUTIONS_API_VERSION);
        }
    }
    let api = backend.config.pool_api;
    backend
        .call_pool(backend.client.post(url).json(&body), move |answer| {
            to_piston_answer(api, &language, &version, answer)
        })
        .await
}

/// The pool's answer as Piston's execute answer (the custom container already speaks Piston).
fn to_piston_answer(
    api: PoolApi,
    language: &str,
    version: &str,
    answer: Value,
) -> Result<Value, String> {
    let (result, succeeded) = match api {
        PoolApi::CustomContainer => {
            check_piston_answer(&answer)?;
            return Ok(answer);
        }
        PoolApi::CodeExecute => {
            let props = answer.get("properties").ok_or("the answer has no `properties` object")?;
            (props, props["status"] == "Success")
        }
        PoolApi::Executions | PoolApi::ExecutionsWithProperties => (
            answer.get("result").ok_or("the answer has no `result` object")?,
            answer["status"] == "Succeeded",
        ),
    };
    let text = |field: &str| {
        result
            .get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("`{field}` is missing or not a string"))
    };
    let (stdout, stderr) = (text("stdout")?, text("stderr")?);
    Ok(json!({
        "language": language,
        "version": version,
        "run": {
            "stdout": stdout, "stderr": stderr, "output": format!("{stdout}{stderr}"),
            "code": if succeeded { 0 } else { 1 }, "signal": null, "message": null,
            "status": if succeeded { Value::Null } else { json!("RE") },
        }
    }))
}

/// The container must answer Piston's execute response; anything else is a contract mismatch.
fn check_piston_answer(body: &Value) -> Result<(), String> {
    let run = body.get("run").and_then(Value::as_object).ok_or("the answer has no `run` object")?;
    for field in ["stdout", "stderr"] {
        if !run.get(field).is_some_and(Value::is_string) {
            return Err(format!("`run.{field}` is missing or not a string"));
        }
    }
    Ok(())
}

impl Backend {
    fn execute_path(&self, language: &str) -> String {
        self.config.execute_path.replace("{language}", language)
    }

    /// `{endpoint}/{path}?identifier=…` (the identifier left out when configured empty).
    fn pool_url(&self, path: &str) -> Url {
        let mut url = self.config.pool_endpoint.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path.split('/').filter(|s| !s.is_empty()));
        }
        if !self.config.identifier.is_empty() {
            url.query_pairs_mut().append_pair("identifier", &self.config.identifier);
        }
        url
    }

    /// A token for the pool (`None` when configured to send none), or the error answer naming the
    /// identity hop.
    async fn token(&self) -> Result<Option<String>, Response> {
        if !self.config.send_token {
            return Ok(None);
        }
        let scope = self.config.token_scope.as_str();
        let credential = self.credential.get();
        let attempt = tokio::time::timeout(
            self.config.token_timeout,
            self.tokens.get(credential.as_ref(), scope),
        )
        .await;
        match attempt {
            Ok(Ok(token)) => Ok(Some(token)),
            Ok(Err(error)) => Err(self.identity_failure(&error)),
            Err(_) => Err(hop_failure(
                StatusCode::GATEWAY_TIMEOUT,
                Hop::Identity,
                format!(
                    "no token within {} ms (TOKEN_TIMEOUT_MS)",
                    self.config.token_timeout.as_millis()
                ),
            )),
        }
    }

    fn identity_failure(&self, error: &azure_core::Error) -> Response {
        let text = error.to_string();
        let hop = self.config.credential.hop();
        let detail = match http_failure(error) {
            Some((status, _)) => format!("answered {status}: {text}"),
            None => text,
        };
        hop_failure(StatusCode::BAD_GATEWAY, hop, detail)
    }
}

/// The body when it is within [`validate::MAX_BODY`]; `None` when larger. A larger body is still read
/// (up to 16 times the limit) so that the client, still sending, receives the 413 instead of a reset.
async fn read_limited(body: axum::body::Body) -> Option<Vec<u8>> {
    use futures_util::StreamExt as _;
    let mut stream = body.into_data_stream();
    let (mut kept, mut seen) = (Vec::new(), 0usize);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.ok()?;
        seen += chunk.len();
        if seen > validate::MAX_BODY * 16 {
            return None;
        }
        if seen <= validate::MAX_BODY {
            kept.extend_from_slice(&chunk);
        }
    }
    (seen <= validate::MAX_BODY).then_some(kept)
}

/// `{"message": "<hop> hop failed: <detail>"}`: the hop and what it answered, in the SDK's words.
/// The backend names no cause: the harness judges from what the stand-ins saw.
fn hop_failure(status: StatusCode, hop: Hop, detail: String) -> Response {
    piston_error(status, format!("{hop} hop failed: {detail}"))
}

/// The HTTP status and body behind an SDK error, searching its cause chain.
fn http_failure(error: &azure_core::Error) -> Option<(u16, String)> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        if let Some(azure) = err.downcast_ref::<azure_core::Error>()
            && let ErrorKind::HttpResponse { status, raw_response, .. } = azure.kind()
        {
            let body = raw_response
                .as_ref()
                .map(|r| String::from_utf8_lossy(r.body()).into_owned())
                .unwrap_or_default();
            return Some((u16::from(*status), body));
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_properties_envelope_is_not_a_piston_answer() {
        assert!(check_piston_answer(&json!({"run": {"stdout": "42\n", "stderr": ""}})).is_ok());
        let err = check_piston_answer(&json!({"properties": {"stdout": "42\n"}})).unwrap_err();
        assert!(err.contains("run"), "{err}");
    }

    fn backend(endpoint: &str, max_retries: u32) -> Backend {
        let config = BackendConfig {
            pool_endpoint: Url::parse(endpoint).unwrap(),
            token_scope: String::new(),
            identifier: "a b&c".into(),
            client_id: None,
            pool_timeout: Duration::from_secs(5),
            token_timeout: Duration::from_secs(1),
            pool_max_retries: max_retries,
            pool_retry_delay: Duration::from_millis(1),
            identity_retry: None,
            credential: CredentialKind::ManagedIdentity,
            send_token: true,
            execute_path: DEFAULT_EXECUTE_PATH.into(),
            pool_api: PoolApi::CustomContainer,
        };
        // Never asked for a token in these tests; built from this process's (unmodified) environment.
        let credential = Credential::new(&config).unwrap();
        Backend {
            config,
            credential,
            tokens: token_cache::TokenCache::default(),
            client: reqwest::Client::new(),
        }
    }

    #[test]
    fn the_execute_path_template_takes_the_language_and_an_empty_identifier_is_omitted() {
        let mut backend = backend("http://127.0.0.1:1/", 0);
        backend.config.identifier = String::new();
        backend.config.execute_path = "/run/{language}".into();
        assert_eq!(
            backend.pool_url(&backend.execute_path("python")).as_str(),
            "http://127.0.0.1:1/run/python"
        );
    }

    #[test]
    fn the_pool_url_keeps_the_endpoint_path_and_encodes_the_identifier() {
        let backend = backend("http://127.0.0.1:1/base/", 0);
        assert_eq!(
            backend.pool_url("python/execute").as_str(),
            "http://127.0.0.1:1/base/python/execute?identifier=a+b%26c"
        );
    }

    #[tokio::test]
    async fn transient_pool_answers_are_retried_up_to_the_limit_and_others_are_not() {
        use wiremock::matchers::{method, path};
        use wiremock::{Mock, MockServer, ResponseTemplate};
        let pool = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/busy"))
            .respond_with(ResponseTemplate::new(503))
            .up_to_n_times(2)
            .mount(&pool)
            .await;
        Mock::given(method("GET"))
            .and(path("/busy"))
            .respond_with(ResponseTemplate::new(200))
            .mount(&pool)
            .await;
        Mock::given(method("GET"))
            .and(path("/denied"))
            .respond_with(ResponseTemplate::new(403))
            .mount(&pool)
            .await;
        let backend = backend(&pool.uri(), 2);

        let busy = backend
            .send_with_retries(backend.client.get(format!("{}/busy", pool.uri())))
            .await
            .unwrap();
        let denied = backend
            .send_with_retries(backend.client.get(format!("{}/denied", pool.uri())))
            .await
            .unwrap();

        assert_eq!((busy.status().as_u16(), denied.status().as_u16()), (200, 403));
        let paths: Vec<String> = pool
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.url.path().to_owned())
            .collect();
        assert_eq!(
            paths,
            ["/busy", "/busy", "/busy", "/denied"],
            "two retries of 503, none of 403"
        );
    }
}
