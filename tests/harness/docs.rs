//! Documentation generated from code stays equal to it. `UPDATE_DOCS=1 cargo test docs` rewrites it.

use crate::helpers::root;

const START: &str = "<!-- failure-modes:start (generated from src/diagnosis/catalogue.rs; a test keeps it current) -->\n";
const END: &str = "<!-- failure-modes:end -->";

/// Check (or, with UPDATE_DOCS=1, rewrite) the generated block between the markers of `file`.
fn check_generated_block(file: &str, expected: &str) {
    let path = root(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{file}: {e}"));
    let (before, rest) = text.split_once(START).unwrap_or_else(|| panic!("{file} lacks the start marker {START:?}"));
    let (embedded, after) = rest.split_once(END).unwrap_or_else(|| panic!("{file} lacks the end marker {END:?}"));
    if embedded == expected {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{before}{START}{expected}{END}{after}")).unwrap();
        return;
    }
    panic!("{file}'s generated block is stale: run `UPDATE_DOCS=1 cargo test docs`");
}

#[test]
fn the_readme_failure_mode_table_lists_every_diagnosis_the_code_defines() {
    check_generated_block("README.md", &session_pool_harness::diagnosis::markdown_table());
}

#[test]
fn docs_failure_modes_lists_every_diagnosis_the_code_defines() {
    check_generated_block("docs/failure-modes.md", &session_pool_harness::diagnosis::markdown_table());
}
