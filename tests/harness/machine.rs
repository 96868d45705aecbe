//! The harness on the user's machine and in CI: any scenario path, the user's `PATH`, fixed ports,
//! JUnit, partitions and filters, process groups, an isolated network.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::helpers::{BIN, extending, root};

fn harness_in(dir: &Path, args: &[&str], path_env: Option<&str>) -> Output {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(dir);
    if let Some(path) = path_env {
        command.env("PATH", path);
    }
    command.output().expect("the harness binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn temp_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sph-{what}-{}", crate::helpers::unique()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Scenario names of a JSON report.
fn names(output: &Output) -> Vec<String> {
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&output.stdout), text(&output.stderr)));
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_bare_scenario_file_name_runs_from_its_own_folder() {
    let output = harness_in(&root("scenarios"), &["run", "external-backend-process.toml"], None);

    assert_eq!(output.status.code(), Some(0), "{}{}", text(&output.stdout), text(&output.stderr));
}

#[test]
fn a_backend_found_only_on_the_users_path_starts() {
    let bin = temp_dir("path");
    let name = format!("my-backend-{}", std::process::id());
    let script = bin.join(&name);
    std::fs::write(&script, format!("#!/bin/sh\nexec '{BIN}' backend\n")).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let scenario = bin.join("own.toml");
    std::fs::write(
        &scenario,
        extending(
            "scenarios/happy-path.toml",
            &format!("[backend.process]\ncommand = [\"{name}\"]\nready_path = \"/\"\n"),
        ),
    )
    .unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let output = harness_in(&bin, &["run", "own.toml"], Some(&path));
    let without = harness_in(&bin, &["run", "own.toml"], Some("/usr/bin:/bin"));

    assert_eq!(output.status.code(), Some(0), "{}{}", text(&output.stdout), text(&output.stderr));
    let refused = text(&without.stdout);
    assert!(
        refused.contains(&format!("cannot start the backend: `{name}`"))
            && refused.contains(":/usr/bin:/bin")
            && refused.contains("working directory"),
        "{refused}"
    );
}

#[test]
fn scenarios_pinning_one_fixed_port_take_turns() {
    let dir = temp_dir("ports");
    let port = free_port();
    for n in 1..=2 {
        std::fs::write(
            dir.join(format!("pinned-{n}.toml")),
            extending("scenarios/happy-path.toml", &format!("[world.piston]\nport = {port}\n")),
        )
        .unwrap();
    }

    let output = harness_in(&dir, &["run", "--jobs", "2", "."], None);

    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
}

#[test]
fn a_fixed_port_held_by_another_program_is_named_with_the_scenario() {
    let dir = temp_dir("taken");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    std::fs::write(
        dir.join("taken.toml"),
        extending("scenarios/happy-path.toml", &format!("[world.piston]\nport = {port}\n")),
    )
    .unwrap();

    let output = harness_in(&dir, &["run", "taken.toml"], None);

    let report = text(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(
        report.contains(&format!("fixed port 127.0.0.1:{port}")) && report.contains("taken.toml"),
        "{report}"
    );
    drop(holder);
}

#[test]
fn junit_output_has_one_testcase_per_scenario_and_failures_inside_them() {
    let dir = temp_dir("junit");
    std::fs::write(
        dir.join("fails.toml"),
        extending("scenarios/missing-role.toml", "[expect]\ndiagnoses = [\"ok\"]\n"),
    )
    .unwrap();
    std::fs::write(dir.join("happy-path.toml"), extending("scenarios/happy-path.toml", ""))
        .unwrap();

    let output = harness_in(&dir, &["run", "--format", "junit", "."], None);

    assert_eq!(output.status.code(), Some(1));
    let mut reader = quick_xml::Reader::from_reader(output.stdout.as_slice());
    let (mut cases, mut failures, mut outs) = (Vec::new(), 0, 0);
    let mut buffer = Vec::new();
    loop {
        match reader.read_event_into(&mut buffer).expect("well-formed XML") {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"testcase" => {
                let attribute = |name: &[u8]| {
                    e.attributes()
                        .flatten()
                        .find(|a| a.key.as_ref() == name)
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                };
                cases.push((
                    attribute(b"classname").unwrap(),
                    attribute(b"name").unwrap(),
                    attribute(b"time").unwrap().parse::<f64>().unwrap(),
                ));
            }
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"failure" => failures += 1,
            quick_xml::events::Event::Start(e) if e.name().as_ref() == b"system-out" => outs += 1,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
        buffer.clear();
    }
    assert_eq!(cases.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["fails", "happy-path"]);
    assert_eq!((failures, outs), (1, 2));
    assert!(cases.iter().all(|c| c.0 == "." && c.2 > 0.0), "{cases:?}");
}

#[test]
fn partitions_are_disjoint_and_together_complete_and_filters_select() {
    let all = names(&harness_in(&root(""), &["run", "--format", "json", "scenarios/"], None));
    let first = names(&harness_in(
        &root(""),
        &["run", "--format", "json", "--partition", "1/2", "scenarios/"],
        None,
    ));
    let second = names(&harness_in(
        &root(""),
        &["run", "--format", "json", "--partition", "2/2", "scenarios/"],
        None,
    ));
    let filtered = names(&harness_in(
        &root(""),
        &["run", "--format", "json", "--filter", "*-role", "--filter", "happy", "scenarios/"],
        None,
    ));

    assert!(first.iter().all(|n| !second.contains(n)), "disjoint");
    let mut union: Vec<String> = first.iter().chain(&second).cloned().collect();
    union.sort();
    let mut expected = all.clone();
    expected.sort();
    assert_eq!(union, expected, "together complete");
    assert!(first.len().abs_diff(second.len()) <= 1);
    let wanted: Vec<String> =
        all.iter().filter(|n| n.ends_with("-role") || n.contains("happy")).cloned().collect();
    assert_eq!(filtered, wanted);
    assert!(
        filtered.contains(&"missing-role".to_owned())
            && !filtered.contains(&"role-on-other-identity".to_owned())
    );
}

#[test]
fn an_isolated_run_passes_with_loopback_only() {
    let output = harness_in(&root(""), &["run", "--isolate", "scenarios/happy-path.toml"], None);

    assert_eq!(output.status.code(), Some(0), "{}{}", text(&output.stdout), text(&output.stderr));
}
