//! RBAC as Azure evaluates it, from the team's own `az` files (fixtures/az): custom role
//! definitions and their data actions, roles that grant none (Contributor), assignments to groups,
//! and assignments too young to be in effect. `check` and a run of the imported world agree.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::{BIN, root, unique};

fn harness(args: &[String]) -> Output {
    Command::new(BIN).args(args).current_dir(root("")).output().expect("the harness binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `--app … --pool … --roles …` for a fixture case, with its role definitions when it has them.
fn files(case: &str, roles: Option<&Path>) -> Vec<String> {
    let mut args = Vec::new();
    for f in ["app", "pool", "roles"] {
        args.push(format!("--{f}"));
        args.push(format!("fixtures/az/{case}/{f}.json"));
    }
    if let Some(roles) = roles {
        args[5] = roles.display().to_string();
    }
    if root(&format!("fixtures/az/{case}/role-definitions.json")).exists() {
        args.push("--role-definitions".into());
        args.push(format!("fixtures/az/{case}/role-definitions.json"));
    }
    args
}

fn command(name: &str, files: Vec<String>, rest: &[&str]) -> Vec<String> {
    let mut all = vec![name.to_owned()];
    all.extend(files);
    all.extend(rest.iter().map(|s| (*s).to_owned()));
    all
}

/// `check --format json`: its exit code and the ids it found.
fn check_ids(files: Vec<String>) -> (Option<i32>, Vec<String>, Value) {
    let output = harness(&command("check", files, &["--format", "json"]));
    let report: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&output.stdout), text(&output.stderr)));
    let ids = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_owned())
        .collect();
    (output.status.code(), ids, report)
}

/// Import a case and run it: the run's diagnosis ids.
fn imported_run_ids(case: &str) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("sph-rbac-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(format!("{case}.toml"));
    let output = harness(&command("import", files(case, None), &["-o", out.to_str().unwrap()]));
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let run = harness(&["run".into(), "--format".into(), "json".into(), out.display().to_string()]);
    let report: Value = serde_json::from_slice(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", text(&run.stdout), text(&run.stderr)));
    std::fs::remove_dir_all(&dir).ok();
    report["scenarios"][0]["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_custom_role_granting_the_execute_data_action_by_wildcard_at_resource_group_scope_is_clean_and_runs_ok()
 {
    // Arrange: "Tutor pool runner" grants Microsoft.App/sessionPools/*/action on the pool's group.
    let files = files("custom-role-at-resource-group", None);

    // Act
    let (code, ids, _) = check_ids(files);
    let run = imported_run_ids("custom-role-at-resource-group");

    // Assert
    assert_eq!((code, ids), (Some(0), vec![]));
    assert_eq!(run, ["ok"]);
}

#[test]
fn a_custom_role_without_the_data_action_is_role_lacks_data_action_in_check_and_in_the_run() {
    // Arrange: the same role, with the control-plane actions only.
    let files = files("custom-role-without-data-action", None);

    // Act
    let (code, ids, report) = check_ids(files);
    let run = imported_run_ids("custom-role-without-data-action");

    // Assert
    assert_eq!((code, ids), (Some(1), vec!["role-lacks-data-action".to_owned()]));
    let fix = report["findings"][0]["fix"].as_str().unwrap();
    assert!(
        fix.contains("Azure ContainerApps Session Executor") && fix.contains("dataActions"),
        "{fix}"
    );
    assert_eq!(run, ["role-lacks-data-action"]);
}

#[test]
fn contributor_alone_is_role_lacks_data_action_and_not_missing_role() {
    // Arrange / Act
    let (code, ids, report) = check_ids(files("contributor-only", None));

    // Assert
    assert_eq!((code, ids), (Some(1), vec!["role-lacks-data-action".to_owned()]));
    let explanation = report["findings"][0]["explanation"].as_str().unwrap();
    assert!(explanation.contains("'Contributor'"), "{explanation}");
}

#[test]
fn a_custom_role_whose_definition_was_not_given_says_to_pass_the_definitions() {
    // Arrange: the custom-role assignments without --role-definitions.
    let mut files = files("custom-role-at-resource-group", None);
    files.truncate(6);

    // Act
    let (_, ids, report) = check_ids(files);

    // Assert
    assert_eq!(ids, ["missing-role"]);
    let explanation = report["findings"][0]["explanation"].as_str().unwrap();
    assert!(explanation.contains("--role-definitions"), "{explanation}");
}

#[test]
fn a_role_held_by_a_group_counts_for_its_members_and_without_the_members_check_says_how_to_list_them()
 {
    // Arrange
    let without = files("role-held-by-group", None);
    let mut with = without.clone();
    with.extend([
        "--group-members".into(),
        "fixtures/az/role-held-by-group/group-members.json".into(),
    ]);

    // Act
    let (unknown_code, unknown_ids, unknown) = check_ids(without);
    let (known_code, known_ids, _) = check_ids(with);

    // Assert
    assert_eq!((unknown_code, unknown_ids), (Some(1), vec!["missing-role".to_owned()]));
    let explanation = unknown["findings"][0]["explanation"].as_str().unwrap();
    assert!(explanation.contains("az ad group member list --group 3e8d1f20"), "{explanation}");
    assert_eq!((known_code, known_ids), (Some(0), vec![]));
}

/// The clean case's roles, with the Session Executor assignment created `age` ago.
fn roles_created(age: std::time::Duration) -> PathBuf {
    let mut roles: Value = serde_json::from_str(
        &std::fs::read_to_string(root("fixtures/az/clean/roles.json")).unwrap(),
    )
    .unwrap();
    let created = time::OffsetDateTime::now_utc() - age;
    let created = created.format(&time::format_description::well_known::Rfc3339).unwrap();
    for assignment in roles.as_array_mut().unwrap() {
        if assignment["roleDefinitionName"] == "Azure ContainerApps Session Executor" {
            assignment["createdOn"] = Value::String(created.clone());
        }
    }
    let dir = std::env::temp_dir().join(format!("sph-rbac-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("roles.json");
    std::fs::write(&path, roles.to_string()).unwrap();
    path
}

#[test]
fn an_assignment_created_three_minutes_ago_is_role_propagation_delay_with_its_age_and_an_old_one_is_clean()
 {
    // Arrange
    let young = roles_created(std::time::Duration::from_secs(3 * 60 + 5));
    let old = roles_created(std::time::Duration::from_secs(3600));

    // Act
    let (young_code, young_ids, report) = check_ids(files("clean", Some(&young)));
    let (old_code, old_ids, _) = check_ids(files("clean", Some(&old)));

    // Assert
    assert_eq!((young_code, young_ids), (Some(1), vec!["role-propagation-delay".to_owned()]));
    let explanation = report["findings"][0]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("assigned 3 minutes ago") && explanation.contains("retry after"),
        "{explanation}"
    );
    assert_eq!((old_code, old_ids), (Some(0), vec![]));
    for path in [young, old] {
        std::fs::remove_dir_all(path.parent().unwrap()).ok();
    }
}

#[test]
fn check_for_cpp_on_a_user_assigned_only_world_with_azure_client_id_is_sdk_ignores_client_id_and_python_is_clean()
 {
    // Arrange: clean/ has only a user-assigned identity and AZURE_CLIENT_ID set to its client id.
    let cpp = command("check", files("clean", None), &["--sdk", "cpp", "--format", "json"]);
    let python = command("check", files("clean", None), &["--sdk", "python"]);

    // Act
    let cpp = harness(&cpp);
    let python = harness(&python);

    // Assert
    assert_eq!(cpp.status.code(), Some(1), "{}", text(&cpp.stderr));
    let report: Value = serde_json::from_slice(&cpp.stdout).unwrap();
    assert_eq!(report["findings"][0]["id"], "sdk-ignores-client-id", "{report}");
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(1), "{report}");
    let fix = report["findings"][0]["fix"].as_str().unwrap();
    assert!(
        fix.contains("ManagedIdentityCredential(\"4cc2e88f-78ab-4888-a824-50cf2ba71307\")"),
        "{fix}"
    );
    assert!(report["findings"][0]["explanation"].as_str().unwrap().contains("affects C++"));
    assert_eq!(python.status.code(), Some(0), "{}", text(&python.stdout));
}

#[test]
fn check_without_sdk_notes_that_cpp_ignores_azure_client_id_without_a_finding() {
    // Arrange / Act
    let output = harness(&command("check", files("clean", None), &[]));

    // Assert
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text(&output.stdout).contains("note: C++ DefaultAzureCredential ignores AZURE_CLIENT_ID")
    );
}
