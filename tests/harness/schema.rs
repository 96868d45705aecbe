//! The committed JSON Schema of the scenario format stays equal to the code's.

use crate::helpers::root;

#[test]
fn docs_scenario_schema_json_is_current() {
    let committed = std::fs::read_to_string(root("docs/scenario.schema.json"))
        .expect("docs/scenario.schema.json exists");
    let current = serde_json::to_string_pretty(&session_pool_harness::Scenario::json_schema())
        .unwrap()
        + "\n";
    assert!(
        committed == current,
        "docs/scenario.schema.json is stale: run `cargo run -- schema > docs/scenario.schema.json`"
    );
}
