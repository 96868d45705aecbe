//! One test per scenario file: run it with the reference system and snapshot the normalised
//! transcript, the backend's answers and the diagnosis.

use std::path::PathBuf;

use rstest::rstest;
use session_pool_harness::Scenario;
use session_pool_harness::normalize::Normalizer;

use crate::helpers::runner;

#[rstest]
#[tokio::test]
async fn every_scenario_meets_its_expectations_and_matches_its_snapshot(#[files("scenarios/*.toml")] path: PathBuf) {
    let scenario = Scenario::load(&path).expect("a shipped scenario is valid");

    let outcome = runner().run(&scenario).await;

    let snapshot = Normalizer::new(&outcome.endpoints).outcome(&outcome);
    insta::with_settings!({ prepend_module_to_snapshot => false, description => scenario.description.as_str() }, {
        insta::assert_yaml_snapshot!(scenario.name.as_str(), snapshot);
    });
    assert!(outcome.passed, "{}", session_pool_harness::report::text(&outcome));
}
