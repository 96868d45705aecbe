//! One test per scenario file: run it and snapshot the normalised transcript, the backend's answers
//! and the diagnosis. `scenarios/*.toml` run with the reference system; `scenarios/python/*.toml` with
//! the Python backend fixture in the repository's `.venv` (snapshots named `python-<scenario>`).

use std::path::PathBuf;

use rstest::rstest;
use session_pool_harness::normalize::Normalizer;
use session_pool_harness::{Outcome, Scenario};

use crate::helpers::runner;
use crate::python::python;

#[rstest]
#[tokio::test]
async fn every_scenario_meets_its_expectations_and_matches_its_snapshot(#[files("scenarios/*.toml")] path: PathBuf) {
    let scenario = Scenario::load(&path).expect("a shipped scenario is valid");

    let outcome = runner().run(&scenario).await;

    assert_snapshot_and_expectations(&scenario, &outcome, &scenario.name);
}

#[rstest]
#[tokio::test]
async fn every_python_scenario_meets_its_expectations_and_matches_its_snapshot(#[files("scenarios/python/*.toml")] path: PathBuf) {
    let scenario = Scenario::load(&path).expect("a shipped scenario is valid");
    let python = python();

    let outcome = runner().with_python(python).run(&scenario).await;

    assert_snapshot_and_expectations(&scenario, &outcome, &format!("python-{}", scenario.name));
}

/// The snapshot matches, every expectation held, and no request left loopback.
fn assert_snapshot_and_expectations(scenario: &Scenario, outcome: &Outcome, snapshot_name: &str) {
    let snapshot = Normalizer::new(&outcome.endpoints).outcome(outcome);
    insta::with_settings!({ prepend_module_to_snapshot => false, description => scenario.description.as_str() }, {
        insta::assert_yaml_snapshot!(snapshot_name, snapshot);
    });
    assert!(outcome.passed, "{}", session_pool_harness::report::text(outcome));
    for exchange in &outcome.exchanges {
        let host = exchange.request_headers.get("host").and_then(|h| h.as_str());
        assert!(host.is_none_or(|h| h == "169.254.169.254"), "#{} tried to leave loopback for {host:?}", exchange.seq);
    }
}

#[tokio::test]
async fn without_identity_variables_the_sdk_reaches_imds_only_through_the_stand_in() {
    let scenario = Scenario::load(crate::helpers::root("scenarios/identity-not-enabled.toml")).unwrap();

    let outcome = runner().run(&scenario).await;

    let imds = outcome.exchanges.iter().find(|e| e.path == "/metadata/identity/oauth2/token").expect("the SDK asked IMDS");
    assert_eq!(imds.request_headers["host"], "169.254.169.254", "it was addressed to IMDS and routed to the stand-in by HTTP_PROXY");
    assert_eq!(imds.to, session_pool_harness::Hop::Identity);
}

#[tokio::test]
async fn a_backend_posting_its_own_payload_shape_to_its_container_gets_the_statuss_diagnosis() {
    let scenario = Scenario::load(crate::helpers::root("scenarios/missing-role.toml")).unwrap();
    let stand_ins = session_pool_harness::StandIns::start(&scenario.world).await.unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let token: serde_json::Value = client
        .get(stand_ins.identity_endpoint())
        .query(&[("api-version", "2019-08-01"), ("resource", "https://dynamicsessions.io")])
        .header("x-identity-header", stand_ins.identity_header())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

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
    let ids: Vec<_> = session_pool_harness::diagnosis::diagnose(&exchanges, &scenario.world).iter().map(|f| f.id.id()).collect();
    assert_eq!(ids, ["missing-role"]);
}
