//! The command line as a user runs it: exit codes, text and JSON reports, errors with locations.

use std::process::{Command, Output};

use crate::helpers::{BIN, extending, root};

fn harness(args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(root("")).output().expect("the harness binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn run_missing_role_shows_the_403_at_the_pool_names_it_and_prints_the_fix() {
    let output = harness(&["run", "scenarios/missing-role.toml"]);

    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("backend → pool") && text.contains("403"), "{text}");
    assert!(text.contains("diagnosis: missing-role at pool"), "{text}");
    assert!(
        text.contains("fix: az role assignment create --assignee 0d9c8b7a-0000-4000-8000-0000000000b1 --role \"Azure ContainerApps Session Executor\" --scope /subscriptions/5f3e2d1c-0000-4000-8000-0000000000aa/resourceGroups/coding-rg/providers/Microsoft.App/sessionPools/code-pool"),
        "{text}"
    );
}

#[test]
fn happy_path_transcript_shows_the_sdk_token_request_and_every_forward() {
    let text = stdout(&harness(&["run", "scenarios/happy-path.toml"]));

    let line = |needle: &str| {
        text.lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{text}"))
            .to_owned()
    };
    let token = line("backend → identity");
    assert!(
        token.contains("api-version=2019-08-01")
            && token.contains("x-identity-header [matches IDENTITY_HEADER]"),
        "{token}"
    );
    assert!(
        line("pool → container").contains("POST /python/execute?identifier=coding-engine  200")
    );
    assert!(line("container → piston").contains("POST /api/v2/execute  200"));
}

#[test]
fn json_report_has_the_documented_shape() {
    let output = harness(&["run", "scenarios/", "--format", "json"]);

    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the report is JSON");
    assert_eq!(output.status.code(), Some(0));
    let scenarios = report["scenarios"].as_array().unwrap();
    assert_eq!(report["passed"].as_u64(), Some(scenarios.len() as u64));
    assert_eq!(report["failed"], 0);
    for scenario in scenarios {
        for key in ["name", "file", "passed", "duration_ms", "diagnoses", "steps", "exchanges"] {
            assert!(scenario.get(key).is_some(), "{key} missing in {scenario}");
        }
        for step in scenario["steps"].as_array().unwrap() {
            for key in ["name", "status", "duration_ms"] {
                assert!(step.get(key).is_some(), "{key} missing in {step}");
            }
        }
        for exchange in scenario["exchanges"].as_array().unwrap() {
            for key in ["from", "to", "method", "path", "status"] {
                assert!(exchange.get(key).is_some(), "{key} missing in {exchange}");
            }
        }
    }
}

#[test]
fn a_failed_expectation_exits_1_and_says_what_came_instead() {
    let dir = tempdir();
    let source = extending("scenarios/missing-role.toml", "[expect]\ndiagnoses = [\"ok\"]\n");
    let file = dir.join("expects-ok.toml");
    std::fs::write(&file, source).unwrap();

    let output = harness(&["run", file.to_str().unwrap()]);

    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("expected diagnoses [ok], got [missing-role]"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn an_invalid_scenario_exits_2_naming_file_line_and_column() {
    let dir = tempdir();
    let file = dir.join("typo.toml");
    std::fs::write(&file, "description = \"x\"\nworld = 3\n").unwrap();

    let output = harness(&["run", file.to_str().unwrap()]);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains(&format!("{}:2:9:", file.display())), "{stderr}");
}

#[rstest::rstest]
#[case::status_zero("[[world.faults]]\nhop = \"pool\"\nstatus = 0\n", 4, "between 100 and 599")]
#[case::lifetime_u64_max(
    "[world.identity_endpoint]\ntoken_lifetime_secs = 18446744073709551615\n",
    3,
    "at most a year"
)]
#[case::busy_sessions_u32_max("[world.pool]\nbusy_sessions = 4294967295\n", 3, "at most 5000")]
fn a_number_out_of_its_bounds_exits_2_at_its_line(
    #[case] rest: &str,
    #[case] line: usize,
    #[case] says: &str,
) {
    let dir = tempdir();
    let file = dir.join("out-of-bounds.toml");
    std::fs::write(&file, extending("scenarios/happy-path.toml", rest)).unwrap();

    let output = harness(&["run", file.to_str().unwrap()]);

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("{}:{line}:", file.display())), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
}

#[test]
fn a_fifo_in_a_scenario_folder_is_refused_at_once_instead_of_hanging_the_run() {
    let dir = tempdir();
    std::fs::write(dir.join("a.toml"), extending("scenarios/happy-path.toml", "")).unwrap();
    let fifo = dir.join("pipe.toml");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());

    // `timeout` bounds the test if the harness did hang; it must not come to that.
    let output =
        Command::new("timeout").args(["20", BIN, "run", dir.to_str().unwrap()]).output().unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("pipe.toml") && stderr.contains("not a regular file"), "{stderr}");
}

#[test]
fn list_names_every_shipped_scenario() {
    let text = stdout(&harness(&["list"]));
    for name in [
        "happy-path",
        "missing-role",
        "wrong-audience",
        "no-target-port",
        "role-at-resource-group-scope",
        "role-on-another-pool",
        "identity-not-enabled",
        "wrong-client-id",
    ] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{name} not listed:\n{text}");
    }
}

/// A fresh folder under the target dir (no extra dependency for temp dirs).
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sph-cli-{}-{}",
        std::process::id(),
        crate::helpers::unique()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn serve_prints_working_exports_and_the_transcript_at_exit() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    // Arrange: serve the missing-role world for a bounded time.
    let report = tempdir().join("serve.html");
    let mut serve = Command::new(BIN)
        .args(["serve", "scenarios/missing-role.toml", "--for", "3s", "--report"])
        .arg(&report)
        .current_dir(root(""))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(serve.stdout.take().unwrap());
    let env = crate::helpers::serve_exports(&mut stdout);
    assert!(env.contains_key("IDENTITY_ENDPOINT"), "{env:?}");

    // Act: a backend started by hand with exactly those variables, and one request to it.
    let mut backend = Command::new(BIN)
        .arg("backend")
        .env_clear()
        .envs(&env)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(backend.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().trim_start_matches("listening on ").to_owned();
    let request = serde_json::json!({"language": "python", "version": "3", "files": [{"content": "print(42)"}]});
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let answer = runtime.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/api/v2/execute"))
            .json(&request)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    let _ = backend.kill();
    let _ = backend.wait();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let status = serve.wait().unwrap();

    // Assert
    assert!(answer.contains("pool hop failed: answered 403 Forbidden"), "{answer}");
    assert!(status.success());
    assert!(
        rest.contains("backend → pool")
            && rest.contains("403")
            && rest.contains("diagnosis: missing-role"),
        "{rest}"
    );
    let page = std::fs::read_to_string(&report).expect("serve --report writes the page at exit");
    assert!(page.contains("data-to=\"pool\" data-status=\"403\""), "the 403 arrow is drawn");
    assert!(page.contains("data-diagnosis=\"missing-role\""));
}

#[test]
fn a_scenario_that_points_a_program_off_the_machine_is_refused_unless_allowed() {
    let dir = tempdir();
    let source = extending(
        "scenarios/external-backend-process.toml",
        "[backend.process.env]\nUPSTREAM = \"https://pool.eastus.azurecontainerapps.io\"\n",
    );
    let file = dir.join("off-machine.toml");
    std::fs::write(&file, source).unwrap();

    let refused = harness(&["run", file.to_str().unwrap()]);
    let allowed = harness(&["run", "--allow-non-loopback", file.to_str().unwrap()]);

    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stdout(&refused)
            .contains("https://pool.eastus.azurecontainerapps.io, which is not loopback"),
        "{}",
        stdout(&refused)
    );
    assert_eq!(allowed.status.code(), Some(0), "{}", stdout(&allowed));
}
