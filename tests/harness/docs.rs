//! Documentation generated from code stays equal to it. `UPDATE_DOCS=1 cargo test docs` rewrites it.

use crate::helpers::root;

const START: &str = "<!-- failure-modes:start (generated from src/diagnosis/catalogue.rs; a test keeps it current) -->\n";
const END: &str = "<!-- failure-modes:end -->";

/// Check (or, with UPDATE_DOCS=1, rewrite) the generated block between the markers of `file`.
fn check_generated_block(file: &str, expected: &str) {
    check_block(file, START, END, expected);
}

fn check_block(file: &str, start: &str, end: &str, expected: &str) {
    let path = root(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let (before, rest) =
        text.split_once(start).unwrap_or_else(|| panic!("{file} lacks the start marker {start:?}"));
    let (embedded, after) =
        rest.split_once(end).unwrap_or_else(|| panic!("{file} lacks the end marker {end:?}"));
    if embedded == expected {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{before}{start}{expected}{end}{after}")).unwrap();
        return;
    }
    panic!("{file}'s generated block is stale: run `UPDATE_DOCS=1 cargo test docs`");
}

#[test]
fn the_readme_failure_mode_table_lists_every_diagnosis_the_code_defines() {
    check_generated_block("README.md", &session_pool_harness::Diagnosis::markdown_table());
}

#[test]
fn docs_failure_modes_lists_every_diagnosis_the_code_defines() {
    check_generated_block(
        "docs/failure-modes.md",
        &session_pool_harness::Diagnosis::markdown_table(),
    );
}

const SCENARIOS_START: &str =
    "<!-- scenarios:start (generated from scenarios/*.toml; a test keeps it current) -->\n";
const SCENARIOS_END: &str = "<!-- scenarios:end -->";

/// `| file | what it reproduces | diagnoses |`, one row per scenario file.
fn scenario_table() -> String {
    let scenarios = session_pool_harness::Scenario::load_all(&[root("scenarios")]).unwrap();
    let mut table =
        String::from("| scenario | what it reproduces | expected diagnoses |\n|---|---|---|\n");
    for scenario in scenarios {
        let ids: Vec<String> =
            scenario.expected_diagnoses().iter().map(|d| format!("`{d}`")).collect();
        table.push_str(&format!(
            "| `{}` | {} | {} |\n",
            scenario.name(),
            scenario.description().replace('|', "\\|"),
            ids.join(", ")
        ));
    }
    table
}

#[test]
fn the_readme_scenario_table_lists_every_scenario_file() {
    check_block("README.md", SCENARIOS_START, SCENARIOS_END, &scenario_table());
}

#[test]
fn every_failure_id_is_named_by_some_scenario_expectation() {
    let scenarios = session_pool_harness::Scenario::load_all(&[root("scenarios")]).unwrap();
    assert!(scenarios.len() >= 24, "{} scenarios", scenarios.len());
    for id in session_pool_harness::Diagnosis::ALL {
        if *id == session_pool_harness::Diagnosis::Unexplained
            || session_pool_harness::Diagnosis::STATIC_ONLY.contains(id)
        {
            continue; // the absence of a known cause has no scenario of its own; check finds the static ones
        }
        assert!(
            scenarios.iter().any(|s| s.expected_diagnoses().contains(id)),
            "no scenario expects {id}"
        );
    }
}
