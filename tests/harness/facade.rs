//! The library as a Rust user meets it: a world from the builder, call expectations verified on
//! drop, wiremock mocks in front of a hop, the reference backend found and run, typed diagnoses.

use session_pool_harness::world::{RoleScope, SYSTEM_ASSIGNED};
use session_pool_harness::{Diagnosis, Hop, StandIns, World};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::runner;

fn role_on_pool() -> World {
    World::builder()
        .system_assigned()
        .session_executor(SYSTEM_ASSIGNED, RoleScope::Pool)
        .build()
        .unwrap()
}

/// A token from the identity stand-in, as the Azure SDKs ask for it: its status.
async fn token(stand_ins: &StandIns) -> reqwest::StatusCode {
    crate::helpers::request_token(stand_ins).await.status()
}

/// The text a task panicked with.
fn panic_text(error: tokio::task::JoinError) -> String {
    let payload = error.into_panic();
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[tokio::test]
async fn an_unmet_expectation_fails_on_drop_listing_every_exchange() {
    let dropped = tokio::spawn(async {
        let stand_ins = StandIns::start(&role_on_pool()).await.unwrap();
        stand_ins.expect(Hop::Identity, 1).expect(Hop::Pool, 1);
        assert_eq!(token(&stand_ins).await, 200);
        drop(stand_ins);
    })
    .await;

    let text = panic_text(dropped.expect_err("dropping unmet stand-ins must panic"));
    assert!(text.contains("expected 1 request(s) to pool, got 0"), "{text}");
    assert!(!text.contains("to identity"), "the met expectation is not listed: {text}");
    assert!(text.contains("Requests the stand-ins received (1):"), "{text}");
    assert!(text.contains("backend → identity") && text.contains("GET /msi/token"), "{text}");
}

#[tokio::test]
async fn met_expectations_pass_on_stop_and_verify_checks_them_early() {
    let stand_ins = StandIns::start(&role_on_pool()).await.unwrap();
    stand_ins.expect(Hop::Identity, 1).expect(Hop::Pool, 0);
    assert_eq!(token(&stand_ins).await, 200);
    stand_ins.verify();
    stand_ins.stop().await;
}

#[tokio::test]
async fn a_mock_answers_what_it_matches_and_the_rest_falls_through_to_the_stand_in() {
    let stand_ins = StandIns::start(&role_on_pool()).await.unwrap();
    let mock = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/msi/token"))
        .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&mock)
        .await;
    stand_ins.front(Hop::Identity, &mock).await.unwrap();

    let (first, second) = (token(&stand_ins).await, token(&stand_ins).await);

    assert_eq!((first.as_u16(), second.as_u16()), (503, 200), "the mock once, then the stand-in");
    let statuses: Vec<_> = stand_ins.exchanges().iter().map(|e| (e.to, e.status)).collect();
    assert_eq!(statuses, [(Hop::Identity, Some(503)), (Hop::Identity, Some(200))]);
    assert!(stand_ins.front(Hop::Backend, &mock).await.is_err(), "no stand-in serves the backend");
}

#[tokio::test]
async fn a_mock_on_the_pool_reproduces_a_full_pool_through_the_reference_backend() {
    // Arrange: a world where everything is granted; the pool, mocked, is full (FIDELITY §8).
    let stand_ins = StandIns::start(&role_on_pool()).await.unwrap();
    let mock = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("/execute$"))
        .respond_with(ResponseTemplate::new(429).insert_header("x-ms-error-code", "SessionAllocationFailed").set_body_json(
            serde_json::json!({"error": {"code": "SessionAllocationFailed", "message": "Error happened when allocating pod for identifier demo in pool code-pool"}}),
        ))
        .mount(&mock)
        .await;
    stand_ins.front(Hop::Pool, &mock).await.unwrap();
    stand_ins.expect(Hop::Container, 0);
    let live = runner().start_on(stand_ins).await.unwrap();

    // Act: one execution through the real backend process.
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v2/execute", live.backend_url().unwrap()))
        .json(&serde_json::json!({"language": "python", "version": "3.10", "files": [{"content": "print(42)"}]}))
        .send()
        .await
        .unwrap();

    // Assert: the backend failed, and the diagnosis names the pool from what it answered.
    assert!(!answer.status().is_success(), "{}", answer.status());
    let ids: Vec<Diagnosis> = live.diagnose().iter().map(|f| f.id).collect();
    assert_eq!(ids, [Diagnosis::PoolFull]);
    live.stop().await;
}
