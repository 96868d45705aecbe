//! The session pool management endpoint of a custom-container pool (FIDELITY §5).
//!
//! Order of checks: bearer token (signature against Entra's JWKS, `exp` on the pool's clock, `aud`,
//! issuer) -> 401; Session Executor role at the pool or an enclosing scope, once propagated -> 403;
//! the regional code-interpreter form of the URL -> 400 DynamicApisNotAllowed; `identifier` -> 400;
//! target port -> 404; a free session (maxConcurrentSessions) -> 429; then the request is forwarded
//! over real HTTP to the session container and its answer returned unchanged. Each forward is
//! recorded as a `pool -> container` hop, with the container's faults applied and its contract checked.
//! Code-interpreter pools answer themselves ([`code_interpreter`]).

pub mod code_interpreter;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jsonwebtoken::jwk::JwkSet;
use serde_json::json;

use super::faults::Faults;
use super::server::Remark;
use crate::azure::{DYNAMIC_SESSIONS_AUDIENCE, SESSION_EXECUTE_ACTION};
use crate::tokens;
use crate::transcript::{Hop, RawRequest, RawResponse, Recorder};
use crate::world::ContainerType;
use crate::world::World;

/// Where the session container listens, and the routes it is known to serve (for near-miss notes on
/// its 404s; none for a program the harness does not know).
#[derive(Debug, Clone)]
pub struct Container {
    pub url: String,
    pub routes: &'static [(&'static str, &'static str)],
}

/// The pool's state: its world, the keys it trusts, where its container listens, its sessions.
#[derive(Debug)]
pub struct PoolState {
    pub world: Arc<World>,
    pub jwks: JwkSet,
    /// The running session container, once started.
    pub container: RwLock<Option<Container>>,
    /// Live sessions by identifier, with their last use. Other callers' sessions have no identifier.
    pub sessions: Mutex<Sessions>,
    /// Calls seen per principal (for role propagation measured in calls).
    calls: Mutex<HashMap<String, u32>>,
    started: Instant,
    container_faults: Faults,
    /// A test's wiremock server asked before the container, when there is one.
    pub(crate) container_front: super::front::Front,
    pub recorder: Recorder,
    pub client: reqwest::Client,
}

/// The pool's sessions: ours by identifier, and those other callers hold.
#[derive(Debug, Default)]
pub struct Sessions {
    pub by_identifier: HashMap<String, Instant>,
    /// How many sessions other callers hold: all taken when the scenario started, so a count
    /// (never a list as long as a number from the scenario).
    pub others: u32,
    /// Allocations refused so far (for `busy_until_refusals`).
    pub refusals: u32,
}

impl PoolState {
    pub fn new(world: Arc<World>, jwks: JwkSet, recorder: Recorder) -> Self {
        let client = super::loopback_client();
        let started = Instant::now();
        let sessions = Sessions {
            by_identifier: HashMap::new(),
            others: world.pool.busy_sessions,
            refusals: 0,
        };
        let container_faults = Faults::for_hop(&world.faults, Hop::Container);
        Self {
            world,
            jwks,
            container: RwLock::new(None),
            sessions: Mutex::new(sessions),
            calls: Mutex::default(),
            started,
            container_faults,
            container_front: super::front::Front::default(),
            recorder,
            client,
        }
    }

    /// Whether `principal`'s role on the pool is in effect for this call (propagation modelled).
    fn role_in_effect(&self, principal: &str) -> bool {
        let call = {
            let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
            let n = calls.entry(principal.to_owned()).or_default();
            *n += 1;
            *n
        };
        let elapsed = self.started.elapsed();
        self.world.access(principal).granting.iter().map(|v| v.assignment).any(|a| {
            a.effective_after_calls.is_none_or(|n| call > n)
                && a.effective_after_ms.is_none_or(|ms| elapsed.as_millis() >= u128::from(ms))
        })
    }

    /// Use or allocate the session for `identifier`; `false` when the pool is full.
    fn allocate(&self, identifier: &str) -> bool {
        let pool = &self.world.pool;
        let now = Instant::now();
        let mut sessions = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cooldown) = pool.cooldown {
            sessions.by_identifier.retain(|_, used| now.duration_since(*used) < cooldown);
            if now.duration_since(self.started) >= cooldown {
                sessions.others = 0;
            }
        }
        if pool.busy_until_refusals.is_some_and(|n| sessions.refusals >= n) {
            sessions.others = 0;
        }
        if !sessions.by_identifier.contains_key(identifier) {
            let live = sessions.by_identifier.len() as u64 + u64::from(sessions.others);
            if pool.max_concurrent_sessions.is_some_and(|max| live >= u64::from(max)) {
                sessions.refusals += 1;
                return false;
            }
        }
        sessions.by_identifier.insert(identifier.to_owned(), now);
        true
    }
}

/// The pool stand-in's routes: every path is the container's.
pub fn app(state: Arc<PoolState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

async fn handle(State(state): State<Arc<PoolState>>, request: Request) -> Response {
    let world = &state.world;
    let bearer =
        request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer);
    let Some(token) = bearer else {
        let mut response = unauthorized(); // absent-header body: UNK, modelled like a bad token
        let why = "the pool refused the call: no `Authorization: Bearer` token";
        response.extensions_mut().insert(Remark(why.into()));
        return response;
    };
    let now = world.pool.clock.now();
    let claims = match tokens::verify(
        token.trim(),
        &state.jwks,
        DYNAMIC_SESSIONS_AUDIENCE,
        world.pool.tenant_id.as_deref().unwrap_or(&world.tenant_id),
        now,
        world.pool.token_clock_skew_secs,
    ) {
        Ok(claims) => claims,
        Err(why) => {
            let mut response = unauthorized();
            response.extensions_mut().insert(Remark(format!("the pool refused the token: {why}")));
            return response;
        }
    };
    let principal = claims["oid"].as_str().unwrap_or_default();
    if !state.role_in_effect(principal) {
        return forbidden(principal, &world.pool.name);
    }
    let code_interpreter = world.pool.container_type != ContainerType::CustomContainer;
    let regional_rest = regional_rest(request.uri().path(), &world.pool.name);
    match (code_interpreter, &regional_rest) {
        (false, Some(_)) => {
            // DOC/REP: the message; the status is assumed.
            let message = format!(
                "Dynamic API calls are not allowed for session pool '{}': 'the pool is not dynamic'.",
                world.pool.name
            );
            return pool_error(StatusCode::BAD_REQUEST, "DynamicApisNotAllowed", message);
        }
        // assumed: a code-interpreter pool has no custom-container domain to call.
        (true, None) => return (StatusCode::NOT_FOUND, "Not Found").into_response(),
        _ => {}
    }
    let identifier = query_param(request.uri().query(), "identifier");
    let Some(identifier) = identifier.filter(|id| !id.is_empty()) else {
        return pool_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Missing required parameter 'identifier'".into(),
        );
    };
    if !(4..=128).contains(&identifier.chars().count()) {
        // DOC: 4-128 characters; the error code is REP, the text assumed.
        return pool_error(
            StatusCode::BAD_REQUEST,
            "SessionRequestValidationFailed",
            format!("The identifier '{identifier}' must be 4 to 128 characters long."),
        );
    }
    if world.pool.target_port.is_none() && !code_interpreter {
        return (StatusCode::NOT_FOUND, "Not Found").into_response(); // REP
    }
    if !state.allocate(&identifier) {
        // REP: users saw 429 with the allocation message (DOC says 404).
        return allocation_failed(StatusCode::TOO_MANY_REQUESTS, &identifier, &world.pool.name);
    }
    if let (true, Some(rest)) = (code_interpreter, regional_rest) {
        let api_version = query_param(request.uri().query(), "api-version");
        let Ok(body) = axum::body::to_bytes(request.into_body(), super::server::BODY_LIMIT).await
        else {
            return StatusCode::PAYLOAD_TOO_LARGE.into_response();
        };
        return code_interpreter::handle(
            &rest,
            api_version.as_deref(),
            world.pool.api_versions.as_deref(),
            &identifier,
            &body,
            &world.piston,
        );
    }
    let container = state.container.read().unwrap_or_else(|p| p.into_inner()).clone();
    let Some(container) = container else {
        return allocation_failed(StatusCode::INTERNAL_SERVER_ERROR, &identifier, &world.pool.name);
    };
    forward(&state, &container, &identifier, request).await
}

/// The path after `/subscriptions/<sub>/resourceGroups/<rg>/sessionPools/<pool>` when the request
/// uses that regional (code-interpreter) form, e.g. `/code/execute`.
fn regional_rest(path: &str, pool: &str) -> Option<String> {
    let lower = path.to_ascii_lowercase();
    if !lower.starts_with("/subscriptions/") {
        return None;
    }
    let marker = format!("/sessionpools/{}", pool.to_ascii_lowercase());
    let at = lower.find(&marker)?;
    Some(path[at + marker.len()..].to_owned())
}

/// Forward to the container: same method, path, query and body; `Authorization` stripped (UNK).
async fn forward(
    state: &PoolState,
    container: &Container,
    identifier: &str,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, super::server::BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
    let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let raw = RawRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: content_type.map(|ct| vec![("content-type", ct)]).unwrap_or_default(),
        body: &body,
    };
    let pending = state.recorder.begin(Hop::Pool, Hop::Container, &raw);
    let fault = state.container_faults.decide(parts.uri.path());
    if let Some(delay) = fault.as_ref().and_then(|f| f.delay.or(f.slow_body)) {
        tokio::time::sleep(delay).await;
    }
    let replacement = fault.as_ref().and_then(super::faults::Action::replacement);
    let answer = match (fault.as_ref().filter(|f| f.close), replacement) {
        (Some(_), _) => {
            Err("the container closed the connection without an answer (fault)".to_owned())
        }
        // A status fault answers for the container: nothing reaches it, nothing runs there.
        (None, Some(replacement)) => Ok(replaced(replacement)),
        (None, None) => {
            let target = (container.url.as_str(), path_and_query);
            let answer = ask_container(state, &parts.method, target, content_type, body).await;
            answer.map(|(status, content_type, bytes)| match &fault {
                Some(fault) => (status, content_type, Bytes::from(fault.rewrite_body(&bytes))),
                None => (status, content_type, bytes),
            })
        }
    };
    let (status, content_type, bytes) = match answer {
        Ok(answer) => answer,
        Err(error) => {
            state.recorder.fail(pending, error);
            // assumed: a container that drops requests looks like one that is not ready.
            return allocation_failed(
                StatusCode::INTERNAL_SERVER_ERROR,
                identifier,
                &state.world.pool.name,
            );
        }
    };
    let ct = content_type.as_ref().and_then(|v| v.to_str().ok());
    let violations = crate::contracts::check_response(
        Hop::Container,
        parts.method.as_str(),
        parts.uri.path(),
        status.as_u16(),
        &bytes,
    );
    let raw = RawResponse {
        status: status.as_u16(),
        headers: ct.map(|c| vec![("content-type", c)]).unwrap_or_default(),
        body: &bytes,
        clock: None,
    };
    // A 404 gets the closest of the routes the container is known to serve.
    let note = (status == StatusCode::NOT_FOUND && !container.routes.is_empty()).then(|| {
        super::server::near_miss(parts.method.as_str(), parts.uri.path(), container.routes)
    });
    state.recorder.finish_checked(pending, &raw, violations, note);
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    if let Some(ct) = content_type {
        response.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    response
}

/// The answer of the container at `(base URL, path and query)`, or of the test's wiremock server
/// in front of it.
async fn ask_container(
    state: &PoolState,
    method: &axum::http::Method,
    (base, path_and_query): (&str, &str),
    content_type: Option<&str>,
    body: Bytes,
) -> Result<(StatusCode, Option<HeaderValue>, Bytes), String> {
    let mut forwarded = HeaderMap::new();
    if let Some(value) = content_type.and_then(|ct| HeaderValue::from_str(ct).ok()) {
        forwarded.insert(header::CONTENT_TYPE, value);
    }
    if let Some(mock) = state.container_front.ask(method, path_and_query, &forwarded, &body).await {
        return Ok((mock.status, mock.headers.get(header::CONTENT_TYPE).cloned(), mock.body));
    }
    let url = format!("{base}{path_and_query}");
    let outgoing = state.client.request(method.clone(), url).headers(forwarded).body(body);
    read_answer(outgoing).await
}

/// The answer a status fault gives for the container.
fn replaced(replacement: super::faults::Replacement) -> (StatusCode, Option<HeaderValue>, Bytes) {
    let status =
        StatusCode::from_u16(replacement.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let content_type = replacement.content_type.map(HeaderValue::from_static);
    (status, content_type, Bytes::from(replacement.body))
}

/// The container's answer, read up to [`super::server::BODY_LIMIT`]: a container streaming
/// without end must not fill the harness's memory.
async fn read_answer(
    outgoing: reqwest::RequestBuilder,
) -> Result<(StatusCode, Option<HeaderValue>, Bytes), String> {
    let mut answer = outgoing.send().await.map_err(|e| format!("container unreachable: {e}"))?;
    let status = answer.status();
    let content_type = answer.headers().get(header::CONTENT_TYPE).cloned();
    let mut bytes = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|e| format!("container closed the connection mid-answer: {e}"))?
    {
        if bytes.len() + chunk.len() > super::server::BODY_LIMIT {
            return Err(format!(
                "the container's answer ({status}) is over the harness's {}-byte limit",
                super::server::BODY_LIMIT
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((status, content_type, Bytes::from(bytes)))
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| crate::transcript::percent_decode(v))
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive (RFC 9110
/// §11.1; DOC: Microsoft.IdentityModel and ASP.NET Core's JwtBearer compare it so).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim_start())
}

/// REP: 401 with an empty body, `WWW-Authenticate` and `mise-correlation-id`.
fn unauthorized() -> Response {
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let headers = response.headers_mut();
    // assumed: the exact challenge text is not documented.
    headers.insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer error=\"invalid_token\""),
    );
    if let Ok(id) = HeaderValue::from_str(&crate::ids::guid()) {
        headers.insert("mise-correlation-id", id);
    }
    response
}

/// REP: 403 for a valid token without the role; body shape DOC, code and text assumed.
fn forbidden(principal: &str, pool: &str) -> Response {
    pool_error(
        StatusCode::FORBIDDEN,
        "PermissionDenied",
        format!(
            "The principal '{principal}' does not have permission to perform action '{SESSION_EXECUTE_ACTION}' on session pool '{pool}'."
        ),
    )
}

/// REP: what users see when no session can be allocated (429 when full, 500 when it will not start).
fn allocation_failed(status: StatusCode, identifier: &str, pool: &str) -> Response {
    pool_error(
        status,
        "SessionAllocationFailed",
        format!("Error happened when allocating pod for identifier {identifier} in pool {pool}"),
    )
}

/// `{"error":{"code","message","traceId"}}` with `x-ms-error-code` (DOC, REP).
pub(crate) fn pool_error(status: StatusCode, code: &'static str, message: String) -> Response {
    let body =
        json!({ "error": { "code": code, "message": message, "traceId": crate::ids::guid() } });
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert("x-ms-error-code", HeaderValue::from_static(code));
    response
}

#[cfg(test)]
mod tests;
