//! The user's own world from their `az` JSON (fixtures/az, written to the documented ARM shapes):
//! `import` writes a scenario that runs and names the cause, `check` lists every misconfiguration,
//! `explain --app --roles` tells whose token a 403 refused. No secret value is ever written.

use std::path::Path;
use std::process::{Command, Output};

use rstest::rstest;
use serde_json::Value;
use session_pool_harness::tokens::{TokenIssuer, TokenSubject, access_token_claims, now_secs};

use crate::helpers::{BIN, root};
use crate::python::python;

fn harness(args: &[&str]) -> Output {
    Command::new(BIN).args(args).current_dir(root("")).output().expect("the harness binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `--app … --pool … --roles …` for a fixture case.
fn files(case: &str) -> Vec<String> {
    ["app", "pool", "roles"]
        .iter()
        .flat_map(|f| [format!("--{f}"), format!("fixtures/az/{case}/{f}.json")])
        .collect()
}

fn args<'a>(command: &'a str, files: &'a [String], rest: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![command];
    all.extend(files.iter().map(String::as_str));
    all.extend(rest);
    all
}

/// Import a fixture case into a temporary file and return its path and text.
fn import(case: &str) -> (std::path::PathBuf, String) {
    let dir = std::env::temp_dir().join(format!("sph-import-{}", crate::helpers::unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{case}.toml"));
    let files = files(case);
    let output = harness(&args("import", &files, &["-o", out.to_str().unwrap()]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let written = std::fs::read_to_string(&out).unwrap();
    (out, written)
}

fn run_json(file: &Path) -> Value {
    let output = harness(&["run", "--format", "json", file.to_str().unwrap()]);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&output.stdout), text(&output.stderr)))
}

fn diagnoses(report: &Value) -> Vec<(String, String)> {
    report["scenarios"][0]["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap().to_owned(), d["fix"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn an_imported_world_with_the_role_on_the_user_assigned_identity_runs_into_role_on_other_identity()
{
    let (file, _) = import("role-on-user-assigned");

    let report = run_json(&file);

    let found = diagnoses(&report);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "role-on-other-identity");
    assert!(
        found[0].1.contains("AZURE_CLIENT_ID=3ceb0525-0db1-4486-8d8d-5fc0bb0d46db"),
        "the fix names the user-assigned identity's client id: {}",
        found[0].1
    );
    assert_eq!(
        report["scenarios"][0]["passed"], true,
        "no [expect]: the run reports, it does not fail"
    );
}

#[test]
fn an_imported_user_assigned_only_world_without_client_id_runs_into_identity_not_specified() {
    let (file, written) = import("user-assigned-only-no-port");

    let report = run_json(&file);

    let world: toml::Value = toml::from_str(&written).unwrap();
    assert!(world["world"]["pool"].get("target_port").is_none(), "the pool has no port: {written}");
    assert_eq!(
        diagnoses(&report).iter().map(|d| d.0.as_str()).collect::<Vec<_>>(),
        ["identity-not-specified"]
    );
}

#[test]
fn an_imported_scenario_keeps_secret_references_and_turns_the_endpoint_into_its_placeholder() {
    let (_, written) = import("role-on-user-assigned");

    assert!(written.contains("secret_ref = \"db-password\""), "{written}");
    assert!(written.contains("POOL_MANAGEMENT_ENDPOINT = \"{pool_endpoint}\""), "{written}");
    assert!(!written.contains("\n[expect]"), "no expectations: {written}");
    assert!(written.contains("code = \"print(42)\""), "{written}");
}

#[test]
fn an_imported_scenario_drives_the_users_own_backend_once_backend_process_is_added() {
    let (file, written) = import("role-on-user-assigned");
    let backend = root("fixtures/python-backend/app.py");
    let own = format!(
        "{written}\n[backend.process]\ncommand = [\"{{python}}\", {:?}]\nready_path = \"/ready\"\n",
        backend.display().to_string()
    );
    std::fs::write(&file, own).unwrap();

    let output = Command::new(BIN)
        .args(["run", "--format", "json", file.to_str().unwrap()])
        .env("SESSION_POOL_HARNESS_PYTHON", python())
        .output()
        .unwrap();

    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", text(&output.stderr)));
    assert_eq!(diagnoses(&report)[0].0, "role-on-other-identity", "{report}");
}

#[rstest]
#[case::role_on_user_assigned("role-on-user-assigned", &["role-on-other-identity"])]
#[case::user_assigned_only_no_port("user-assigned-only-no-port", &["identity-not-specified", "no-target-port"])]
#[case::many_problems("many-problems", &["empty-client-id", "missing-role", "image-tag-uppercase", "wrong-endpoint-shape"])]
#[case::client_id_not_on_app("client-id-not-on-app", &["identity-not-found"])]
fn check_lists_every_misconfiguration_at_once_and_exits_1(
    #[case] case: &str,
    #[case] expected: &[&str],
) {
    let files = files(case);

    let output = harness(&args("check", &files, &["--format", "json"]));

    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let ids: Vec<&str> = findings.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected);
    for finding in findings {
        assert_eq!(
            finding.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["id", "explanation", "fix"]
        );
    }
}

#[test]
fn check_of_a_clean_world_exits_0_and_says_so() {
    let files = files("clean");

    let output = harness(&args("check", &files, &[]));

    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stdout));
    assert!(text(&output.stdout).starts_with("no findings"), "{}", text(&output.stdout));
}

#[rstest]
#[case::missing_field(
    "broken/app-missing-identity-type.json",
    "clean/pool.json",
    "app-missing-identity-type.json: at $.identity.type: missing field `type`"
)]
#[case::mistyped_field(
    "clean/app.json",
    "broken/pool-port-as-string.json",
    "at $.properties.customContainerTemplate.ingress.targetPort: invalid type: string"
)]
#[case::not_json("broken/app-not-json.txt", "clean/pool.json", "not JSON")]
fn unusable_files_exit_2_with_the_file_and_json_path(
    #[case] app: &str,
    #[case] pool: &str,
    #[case] expected: &str,
) {
    for command in ["import", "check"] {
        let (app, pool) = (format!("fixtures/az/{app}"), format!("fixtures/az/{pool}"));

        let output = harness(&[
            command,
            "--app",
            &app,
            "--pool",
            &pool,
            "--roles",
            "fixtures/az/clean/roles.json",
        ]);

        assert_eq!(output.status.code(), Some(2), "{command}");
        assert!(text(&output.stderr).contains(expected), "{command}: {}", text(&output.stderr));
    }
}

/// A token of one of the app's identities, as the pool received it.
fn token_of(principal: &str) -> String {
    let subject = TokenSubject {
        tenant_id: "b846f140-16c4-41b3-a93b-0a7750259dc9",
        client_id: "client",
        principal_id: principal,
        resource_id: None,
        appidacr: "2",
    };
    TokenIssuer::test_key().mint(&access_token_claims(
        &subject,
        "https://dynamicsessions.io",
        now_secs(),
        3600,
    ))
}

fn explain_ids(token: &str, with_files: bool) -> Vec<String> {
    let mut args = vec!["explain", "--status", "403", "--token", token, "--format", "json"];
    if with_files {
        args.extend([
            "--app",
            "fixtures/az/role-on-user-assigned/app.json",
            "--roles",
            "fixtures/az/role-on-user-assigned/roles.json",
        ]);
    }
    let output = harness(&args);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    crate::helpers::diagnosis_ids(&report)
}

#[test]
fn explain_with_the_users_files_tells_a_token_of_the_wrong_identity_from_a_missing_role() {
    let system_assigned = token_of("d2789eb9-74d3-4569-a64b-d7eb79a11024");
    let user_assigned = token_of("d939a1eb-bb5f-4a04-ae5a-2eb9ae278520");
    let stranger = token_of("99999999-0000-4000-8000-000000000099");

    assert_eq!(
        explain_ids(&system_assigned, false)[0],
        "missing-role",
        "without the files the wire answer is all there is"
    );
    assert_eq!(explain_ids(&system_assigned, true)[0], "role-on-other-identity");
    assert_eq!(
        explain_ids(&stranger, true)[0],
        "missing-role",
        "a principal that is none of the app's identities"
    );
    assert_eq!(
        explain_ids(&user_assigned, true)[0],
        "missing-role",
        "the holder itself refused: no other identity to blame"
    );
}

#[test]
fn an_imported_world_without_images_names_in_every_format_the_image_each_reference_part_stands_in_for()
 {
    let (file, written) = import("clean");
    let backend = "tutoracr.azurecr.io/tutor-api:3.8.1";
    let session = "tutoracr.azurecr.io/coding-adapter:2.0.3";
    assert!(written.contains(&format!("reference backend stands in for your image {backend}")));

    for format in ["text", "json", "junit", "html", "markdown"] {
        let output = harness(&["run", "--format", format, file.to_str().unwrap()]);

        let report = text(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{format}: {}", text(&output.stderr));
        for (part, image) in [("reference backend", backend), ("reference adapter", session)] {
            assert!(
                report.contains(&format!("the {part}, in place of {image}")),
                "{format} names what stood in for {image}: {report}"
            );
        }
    }
    let report = run_json(&file);
    let substitutes = report["scenarios"][0]["substitutes"].as_array().unwrap();
    assert_eq!(substitutes.len(), 2, "{report}");
    let ok = &report["scenarios"][0]["diagnoses"][0];
    assert_eq!(ok["id"], "ok");
    assert!(
        ok["explanation"].as_str().unwrap().contains("the replaced part was not"),
        "ok says what was not checked: {ok}"
    );
}

#[test]
fn import_with_images_writes_the_apps_and_the_pools_images_to_run_them() {
    let files = files("clean");
    let dir = std::env::temp_dir().join(format!("sph-import-{}", crate::helpers::unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("images.toml");

    let output = harness(&args("import", &files, &["--images", "-o", out.to_str().unwrap()]));

    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let written: toml::Value = toml::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(
        written["backend"]["image"]["name"].as_str(),
        Some("tutoracr.azurecr.io/tutor-api:3.8.1")
    );
    assert_eq!(
        written["backend"]["image"]["port"].as_integer(),
        Some(8080),
        "the ingress target port"
    );
    let container = &written["world"]["pool"]["container"];
    assert_eq!(container["image"].as_str(), Some("tutoracr.azurecr.io/coding-adapter:2.0.3"));
    assert_eq!(container["env"]["ADAPTER_PORT"].as_str(), Some("2000"), "the pool template's env");
    let check = harness(&args("check", &files, &["--format", "json"]));
    let check: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(
        check["substitutes"].as_array().map(Vec::len),
        Some(2),
        "check says what a run would replace: {check}"
    );
}
