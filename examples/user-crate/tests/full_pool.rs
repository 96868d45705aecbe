use session_pool_harness::world::{RoleScope, SYSTEM_ASSIGNED};
use session_pool_harness::{Diagnosis, Hop, Runner, StandIns, World};
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn a_full_pool_is_named_from_what_the_pool_answered() {
    // A world: the backend's system-assigned identity holds Session Executor on the pool.
    let world = World::builder()
        .system_assigned()
        .session_executor(SYSTEM_ASSIGNED, RoleScope::Pool)
        .build()
        .unwrap();
    let stand_ins = StandIns::start(&world).await.unwrap();

    // A wiremock mock in front of the pool: every execution finds the pool full.
    let pool = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path_regex("/execute$"))
        .respond_with(ResponseTemplate::new(429).set_body_json(serde_json::json!({
            "error": {
                "code": "SessionAllocationFailed",
                "message": "Error happened when allocating pod for identifier demo in pool code-pool"
            }
        })))
        .expect(1..) // the backend retries a full pool
        .mount(&pool)
        .await;
    stand_ins.front(Hop::Pool, &pool).await.unwrap();
    stand_ins.expect(Hop::Identity, 1);

    // The reference backend (a real process using the Azure SDK), started against the stand-ins.
    let live = Runner::find().unwrap().start_on(stand_ins).await.unwrap();
    let answer = reqwest::Client::new()
        .post(format!("{}/api/v2/execute", live.backend_url().unwrap()))
        .json(&serde_json::json!({
            "language": "python", "version": "3.10", "files": [{"content": "print(42)"}]
        }))
        .send()
        .await
        .unwrap();

    assert!(!answer.status().is_success());
    let diagnoses: Vec<Diagnosis> = live.diagnose().iter().map(|f| f.id).collect();
    assert_eq!(diagnoses, [Diagnosis::PoolFull]);
    live.stop().await;
}
