//! Scenario behaviour beyond the snapshots (which `tests/scenarios.rs` takes, one test per file).

use session_pool_harness::Scenario;

use crate::helpers::runner;

#[tokio::test]
async fn without_identity_variables_the_sdk_reaches_imds_only_through_the_stand_in() {
    let scenario =
        Scenario::load(crate::helpers::root("scenarios/identity-not-enabled.toml")).unwrap();

    let outcome = runner().run(&scenario).await;

    let imds = outcome
        .exchanges
        .iter()
        .find(|e| e.path == "/metadata/identity/oauth2/token")
        .expect("the SDK asked IMDS");
    assert_eq!(
        imds.request_headers["host"], "169.254.169.254",
        "it was addressed to IMDS and routed to the stand-in by HTTP_PROXY"
    );
    assert_eq!(imds.to, session_pool_harness::Hop::Identity);
}

#[tokio::test]
async fn a_backend_posting_its_own_payload_shape_to_its_container_gets_the_statuss_diagnosis() {
    let scenario = Scenario::load(crate::helpers::root("scenarios/missing-role.toml")).unwrap();
    let stand_ins = session_pool_harness::StandIns::start(scenario.world()).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let token: serde_json::Value =
        crate::helpers::request_token(&stand_ins).await.json().await.unwrap();

    // Not the reference adapter's envelope: a custom container's payload is its own business.
    let answer = client
        .post(format!("{}/run?identifier=own-shape", stand_ins.pool_endpoint()))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&serde_json::json!({"source": "print(42)", "lang": "py"}))
        .send()
        .await
        .unwrap();

    assert_eq!(answer.status(), 403);
    let exchanges = stand_ins.exchanges();
    assert!(exchanges.iter().all(|e| e.contract_violations.is_empty()), "{exchanges:?}");
    let ids: Vec<_> = stand_ins.diagnose().iter().map(|f| f.id.id()).collect();
    assert_eq!(ids, ["missing-role"]);
}
