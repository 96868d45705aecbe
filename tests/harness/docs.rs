//! Documentation generated from code stays equal to it.
//! `UPDATE_DOCS=1 cargo test --test harness docs -- --test-threads=1` rewrites it.

use crate::helpers::root;

const START: &str =
    "<!-- failure-modes:start (generated from src/catalogue.rs; a test keeps it current) -->\n";
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
    panic!(
        "{file}'s generated block is stale: run `UPDATE_DOCS=1 cargo test --test harness docs -- --test-threads=1`"
    );
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
fn the_scenario_guide_lists_every_scenario_file() {
    check_block("docs/scenarios.md", SCENARIOS_START, SCENARIOS_END, &scenario_table());
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
        if session_pool_harness::Diagnosis::PASTED_ONLY.contains(id) {
            // No run shows these: an explain test of a pasted text must name each.
            assert!(
                crate::pasted::EXPECTED_FIRST.iter().any(|(_, expected)| *expected == id.id()),
                "no pasted text is expected to name {id}"
            );
            continue;
        }
        assert!(
            scenarios.iter().any(|s| s.expected_diagnoses().contains(id)),
            "no scenario expects {id}"
        );
    }
}

const MODULES_START: &str = "<!-- modules:start (generated from the `crate::` paths in src/; a test keeps it current) -->\n";
const MODULES_END: &str = "<!-- modules:end -->";

/// Each top-level module of the crate and the modules its code (not its comments or tests) names.
fn module_graph() -> Vec<(String, std::collections::BTreeSet<String>)> {
    let lib = std::fs::read_to_string(root("src/lib.rs")).unwrap();
    let declared = regex::Regex::new(r"(?m)^(?:pub(?:\(crate\))? )?mod (\w+);").unwrap();
    let modules: Vec<String> = declared
        .captures_iter(&lib)
        .map(|c| c[1].to_owned())
        .filter(|m| m != "test_support")
        .collect();
    // `crate::Diagnosis` and the like are the facade's re-exports: they belong to their module.
    let reexport =
        regex::Regex::new(r"(?m)^pub use (\w+)(?:::\w+)*::(?:\{([^}]*)\}|(\w+));").unwrap();
    let mut owner = std::collections::BTreeMap::new();
    for c in reexport.captures_iter(&lib) {
        let names = c.get(2).or(c.get(3)).unwrap().as_str();
        for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            owner.insert(name.to_owned(), c[1].to_owned());
        }
    }
    let path = regex::Regex::new(r"crate::(\w+)").unwrap();
    modules
        .iter()
        .map(|module| {
            let mut files: Vec<std::path::PathBuf> = vec![root(&format!("src/{module}.rs"))];
            let nested = format!("{}/src/{module}/**/*.rs", env!("CARGO_MANIFEST_DIR"));
            files.extend(glob::glob(&nested).unwrap().filter_map(Result::ok));
            let mut uses = std::collections::BTreeSet::new();
            for file in files.iter().filter(|f| f.exists()) {
                let text = std::fs::read_to_string(file).unwrap();
                let code = text.split("#[cfg(test)]\nmod tests").next().unwrap();
                for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                    for c in path.captures_iter(line) {
                        let target = owner.get(&c[1]).cloned().unwrap_or_else(|| c[1].to_owned());
                        if modules.contains(&target) && &target != module {
                            uses.insert(target);
                        }
                    }
                }
            }
            (module.clone(), uses)
        })
        .collect()
}

#[test]
fn the_module_graph_has_no_cycle_and_the_architecture_guide_shows_it() {
    let graph = module_graph();
    // Kahn: repeatedly remove modules that use nothing left; what remains is on a cycle.
    let mut left: Vec<(String, std::collections::BTreeSet<String>)> = graph.clone();
    while let Some(leaf) = left.iter().position(|(_, uses)| uses.is_empty()) {
        let (name, _) = left.remove(leaf);
        for (_, uses) in &mut left {
            uses.remove(&name);
        }
    }
    assert!(left.is_empty(), "modules on a dependency cycle: {left:?}");
    for (module, uses) in &graph {
        for judged in ["diagnosis", "explain", "runner", "cli"] {
            if ["world", "scenario", "standins", "reference"].contains(&module.as_str()) {
                assert!(!uses.contains(judged), "{module} must not depend on {judged}");
            }
        }
    }
    let width = graph.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut block = String::from("```text\n");
    for (module, uses) in &graph {
        let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
        let uses =
            if uses.is_empty() { "(leaf)".to_owned() } else { format!("→ {}", uses.join(", ")) };
        block.push_str(&format!("{module:<width$}  {uses}\n"));
    }
    block.push_str("```\n");
    check_block("docs/architecture.md", MODULES_START, MODULES_END, &block);
}

#[test]
fn the_rust_guides_example_is_the_user_crates_test() {
    let file = std::fs::read_to_string(root("examples/user-crate/tests/full_pool.rs")).unwrap();
    check_block(
        "docs/rust.md",
        "<!-- user-crate:start (examples/user-crate/tests/full_pool.rs; a test keeps it current) -->\n",
        "<!-- user-crate:end -->",
        &format!("```rust\n{file}```\n"),
    );
}

#[test]
fn the_readme_is_short_and_links_every_guide() {
    let readme = std::fs::read_to_string(root("README.md")).unwrap();
    assert!(readme.lines().count() <= 200, "README.md has {} lines", readme.lines().count());
    for entry in std::fs::read_dir(root("docs")).unwrap().filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            assert!(
                readme.contains(&format!("](docs/{name})")),
                "README.md does not link docs/{name}"
            );
        }
    }
}

#[test]
fn nothing_in_the_repository_points_outside_it() {
    let files = std::process::Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(root(""))
        .output()
        .expect("git lists the repository's files");
    // Spelled in pieces so that this file does not match itself.
    let outside =
        [["../", "shared"].concat(), ["/work/", "shared"].concat(), ["FIDELITY", ".md"].concat()];
    for file in String::from_utf8_lossy(&files.stdout).split('\0').filter(|f| !f.is_empty()) {
        if file.starts_with(".ci/") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root(file)) else { continue };
        for pattern in &outside {
            assert!(
                !text.contains(pattern.as_str()),
                "{file} points outside the repository ({pattern})"
            );
        }
    }
}

#[test]
fn every_relative_link_of_the_guides_names_a_file_that_exists() {
    let link = regex::Regex::new(r"\]\(([^)#:]+)(#[^)]*)?\)").unwrap();
    let mut pages = vec![root("README.md")];
    pages.extend(
        std::fs::read_dir(root("docs"))
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "md")),
    );
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for target in link.captures_iter(&text).map(|c| c[1].to_owned()) {
            assert!(
                dir.join(&target).exists(),
                "{}: link to {target}, which does not exist",
                page.display()
            );
        }
    }
}

#[test]
fn no_source_file_is_over_600_lines() {
    fn walk(dir: &std::path::Path, long: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, long);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let lines = std::fs::read_to_string(&path).unwrap().lines().count();
                if lines > 600 {
                    long.push(format!("{} ({lines} lines)", path.display()));
                }
            }
        }
    }
    let mut long = Vec::new();
    walk(&root("src"), &mut long);
    assert!(long.is_empty(), "split these by what they do: {long:?}");
}
