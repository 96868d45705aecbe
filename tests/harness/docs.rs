//! Documentation that is generated from code stays equal to it.

use crate::helpers::root;

const START: &str = "<!-- failure-modes:start (generated from src/diagnosis.rs; a test keeps it current) -->\n";
const END: &str = "<!-- failure-modes:end -->";

#[test]
fn the_readme_failure_mode_table_lists_every_diagnosis_the_code_defines() {
    let readme = std::fs::read_to_string(root("README.md")).unwrap();
    let expected = session_pool_harness::diagnosis::markdown_table();
    let embedded = readme.split_once(START).and_then(|(_, rest)| rest.split_once(END)).map(|(table, _)| table);
    assert!(embedded == Some(expected.as_str()), "README.md's failure-mode table is stale; put this between the markers:\n{START}{expected}{END}");
}
