//! The pool stand-in as clients see it: tokens, roles, identifiers, ports, sessions, forwarding.

use super::*;
use crate::azure::CLOCK_SKEW_SECS;
use crate::standins::Server;
use crate::test_support::{self, PRINCIPAL, TENANT};
use crate::tokens::{TokenIssuer, TokenSubject, access_token_claims};
use wiremock::matchers::{body_string, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Pool {
    server: Server,
    state: Arc<PoolState>,
}

async fn pool(edit: impl FnOnce(String) -> String) -> Pool {
    let world = Arc::new(test_support::world(edit));
    let jwks = TokenIssuer::test_key().jwk_set().clone();
    let state = Arc::new(PoolState::new(world, jwks, Recorder::new()));
    Pool { server: Server::start(app(state.clone())).await.unwrap(), state }
}

fn token(audience: &str, principal: &str, issued: u64) -> String {
    let subject = TokenSubject {
        tenant_id: TENANT,
        client_id: "c",
        principal_id: principal,
        resource_id: None,
        appidacr: "2",
    };
    TokenIssuer::test_key().mint(&access_token_claims(&subject, audience, issued, 3600))
}

fn good_token() -> String {
    token(DYNAMIC_SESSIONS_AUDIENCE, PRINCIPAL, tokens::now_secs())
}

async fn call(pool: &Pool, path_and_query: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path_and_query}", pool.server.url()))
        .body("{\"properties\":{\"code\":\"1\"}}");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_missing_foreign_expired_or_forged_token_gets_401_with_an_empty_body_and_challenge() {
    let pool = pool(|s| s).await;
    let expired = token(
        DYNAMIC_SESSIONS_AUDIENCE,
        PRINCIPAL,
        tokens::now_secs() - 3600 - CLOCK_SKEW_SECS - 1,
    );
    let foreign = token("https://cognitiveservices.azure.com", PRINCIPAL, tokens::now_secs());
    for token in [None, Some("not-a-jwt"), Some(foreign.as_str()), Some(expired.as_str())] {
        let answer = call(&pool, "/python/execute?identifier=abcd", token).await;
        assert_eq!(answer.status(), 401, "{token:?}");
        assert!(
            answer.headers().contains_key("www-authenticate")
                && answer.headers().contains_key("mise-correlation-id")
        );
        assert_eq!(answer.text().await.unwrap(), "");
    }
}

fn token_with(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let subject = TokenSubject {
        tenant_id: TENANT,
        client_id: "c",
        principal_id: PRINCIPAL,
        resource_id: None,
        appidacr: "2",
    };
    let mut claims =
        access_token_claims(&subject, DYNAMIC_SESSIONS_AUDIENCE, tokens::now_secs(), 3600);
    edit(&mut claims);
    TokenIssuer::test_key().mint(&claims)
}

#[tokio::test]
async fn a_token_not_yet_valid_or_with_an_absurd_exp_gets_401_not_a_session() {
    let pool = pool(|s| s).await;
    let later = tokens::now_secs() + CLOCK_SKEW_SECS + 600;
    let not_yet = token_with(|c| c["nbf"] = serde_json::json!(later));
    let absurd = token_with(|c| c["exp"] = serde_json::json!(u64::MAX));
    let no_exp = token_with(|c| {
        c.as_object_mut().unwrap().remove("exp");
    });
    for token in [&not_yet, &absurd, &no_exp] {
        let answer = call(&pool, "/python/execute?identifier=abcd", Some(token)).await;
        assert_eq!(answer.status(), 401);
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_read_whatever_its_case() {
    let pool = pool(|s| s).await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let answer = reqwest::Client::new()
            .post(format!("{}/python/execute?identifier=abcd", pool.server.url()))
            .header("authorization", format!("{scheme} {}", good_token()))
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_ne!(answer.status(), 401, "{scheme}");
    }
}

#[tokio::test]
async fn a_valid_token_without_the_role_gets_403_in_azures_error_shape() {
    let pool = pool(|s| s).await;
    let answer = call(
        &pool,
        "/python/execute?identifier=abcd",
        Some(&token(DYNAMIC_SESSIONS_AUDIENCE, "someone-else", tokens::now_secs())),
    )
    .await;
    assert_eq!(answer.status(), 403);
    assert_eq!(answer.headers()["x-ms-error-code"], "PermissionDenied");
    let body: serde_json::Value = answer.json().await.unwrap();
    assert!(body["error"]["message"].as_str().unwrap().contains(SESSION_EXECUTE_ACTION));
    assert!(body["error"]["traceId"].is_string());
}

#[tokio::test]
async fn the_role_is_inherited_from_the_subscription() {
    let pool = pool(|s| s.replace("scope = \"/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.App/sessionPools/pool-1\"", "scope = \"/subscriptions/sub-1\"")).await;
    let answer = call(&pool, "/python/execute?identifier=abcd", Some(&good_token())).await;
    assert_ne!(answer.status(), 403, "a subscription-scope assignment covers the pool");
}

#[tokio::test]
async fn identifier_is_required_after_auth_and_before_routing() {
    let pool = pool(|s| s).await;
    let answer = call(&pool, "/python/execute", Some(&good_token())).await;
    assert_eq!(answer.status(), 400);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["error"]["message"], "Missing required parameter 'identifier'");
    assert_eq!(
        call(&pool, "/python/execute?identifier=abc", Some(&good_token())).await.status(),
        400,
        "3 characters is too short (DOC: 4-128)"
    );
}

#[tokio::test]
async fn a_pool_without_target_port_answers_a_bare_404() {
    let pool = pool(|s| s.replace("target_port = 2000\n", "")).await;
    let answer = call(&pool, "/python/execute?identifier=abcd", Some(&good_token())).await;
    assert_eq!(answer.status(), 404);
    assert_eq!(answer.text().await.unwrap(), "Not Found");
}

#[tokio::test]
async fn a_pool_without_a_running_container_reports_an_allocation_error() {
    let pool = pool(|s| s).await;
    let answer = call(&pool, "/python/execute?identifier=abcd", Some(&good_token())).await;
    assert_eq!(answer.status(), 500);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        body["error"]["message"],
        "Error happened when allocating pod for identifier abcd in pool pool-1"
    );
}

#[tokio::test]
async fn requests_are_forwarded_with_path_query_and_body_but_without_the_token() {
    let container = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/python/execute"))
        .and(query_param("identifier", "abcd"))
        .and(body_string("{\"properties\":{\"code\":\"1\"}}"))
        .respond_with(ResponseTemplate::new(418).set_body_string("from the container"))
        .expect(1)
        .mount(&container)
        .await;
    let pool = pool(|s| s).await;
    pool.state.container.write().unwrap().replace(Container { url: container.uri(), routes: &[] });

    let answer = call(&pool, "/python/execute?identifier=abcd", Some(&good_token())).await;

    assert_eq!(
        (answer.status().as_u16(), answer.text().await.unwrap().as_str()),
        (418, "from the container"),
        "status and body unchanged"
    );
    let received = container.received_requests().await.unwrap();
    assert!(
        !received[0].headers.contains_key("authorization"),
        "Authorization is stripped (UNK, modelled)"
    );
    let recorded = pool.state.recorder.exchanges();
    assert_eq!(
        (recorded[0].from, recorded[0].to, recorded[0].status),
        (Hop::Pool, Hop::Container, Some(418))
    );
    assert!(
        pool.state.sessions.lock().unwrap().by_identifier.contains_key("abcd"),
        "the first call allocates a session"
    );
}
