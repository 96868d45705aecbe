//! `explain` as a user runs it on evidence captured from real Azure: the bodies quoted in
//! docs/fidelity.md, tokens minted here (never a committed JWT), text and JSON output, exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use rstest::rstest;
use serde_json::Value;
use session_pool_harness::tokens::{TokenIssuer, TokenSubject, access_token_claims, now_secs};

use crate::helpers::BIN;

const PRINCIPAL: &str = "0d9c8b7a-0000-4000-8000-0000000000b1";

/// A token as a managed identity gets it, for `aud`, expiring `exp_in` seconds from now.
fn token(aud: &str, exp_in: i64) -> String {
    let subject = TokenSubject {
        tenant_id: "tenant-1",
        client_id: "client-1",
        principal_id: PRINCIPAL,
        resource_id: None,
        appidacr: "2",
    };
    let mut claims = access_token_claims(&subject, aud, now_secs() - 60, 0);
    claims["exp"] = Value::from(now_secs().checked_add_signed(exp_in).unwrap());
    TokenIssuer::test_key().mint(&claims)
}

/// Run `explain` with `args`, `stdin` piped to it.
fn explain(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("explain")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the harness binary runs");
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The diagnosis ids of the JSON report, in rank order (asserts exit code 0).
fn ids(args: &[&str], stdin: &str) -> Vec<String> {
    let output = explain(&[args, &["--format", "json"]].concat(), stdin);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("the report is JSON");
    crate::helpers::diagnosis_ids(&report)
}

const DYNAMIC_APIS_NOT_ALLOWED: &str = r#"{"error":{"code":"DynamicApisNotAllowed","message":"Dynamic API calls are not allowed for session pool 'p': 'the pool is not dynamic'."}}"#;

#[test]
fn a_pool_403_to_a_dynamicsessions_token_names_missing_role_first_with_the_tokens_principal() {
    let token = token("https://dynamicsessions.io", 3600);

    let output = explain(&["--hop", "pool", "--status", "403", "--token", &token], "");

    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        text.starts_with("token: aud https://dynamicsessions.io (the session-pool audience)"),
        "{text}"
    );
    let diagnoses: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" (high):") || l.contains(" (medium):") || l.contains(" (low):"))
        .collect();
    assert!(diagnoses[0].starts_with("missing-role (high): the pool refused principal"), "{text}");
    assert!(diagnoses[1].starts_with("role-propagation-delay (low):"), "{text}");
    assert!(text.contains(&format!("fix: az role assignment create --assignee {PRINCIPAL} --role \"Azure ContainerApps Session Executor\"")), "{text}");
}

#[test]
fn a_401_to_a_token_for_another_resource_names_wrong_audience() {
    let token = format!("Bearer {}", token("https://management.azure.com", 3600));

    assert_eq!(ids(&["--status", "401", "--token", &token], ""), ["wrong-audience"]);
}

#[test]
fn a_401_to_an_expired_token_names_token_expired_and_says_how_long_ago() {
    let token = token("https://dynamicsessions.io", -3600);

    let output = explain(&["--hop", "pool", "--status", "401", "--token", &token], "");

    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("token-expired (high):"), "{text}");
    assert!(text.contains(" s ago)"), "{text}");
}

#[rstest]
#[case::with_the_hop(&["--hop", "pool", "--status", "400", "--body", "-"])]
#[case::with_the_hop_inferred(&["--status", "400", "--body", "-"])]
#[case::with_neither_hop_nor_status(&["--body", "-"])]
fn the_dynamic_apis_not_allowed_body_names_wrong_endpoint_shape(#[case] args: &[&str]) {
    assert_eq!(ids(args, DYNAMIC_APIS_NOT_ALLOWED), ["wrong-endpoint-shape"]);
}

#[rstest]
#[case::identity_endpoint_unknown_client_id(
    "400",
    r#"{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"7f3c1a2b-0000-4000-8000-000000000001"}"#,
    "identity-not-found"
)]
#[case::imds_without_identity(
    "400",
    r#"{"error":"invalid_request","error_description":"Identity not found"}"#,
    "identity-not-enabled"
)]
#[case::entra_bad_secret(
    "401",
    r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: t\r\nCorrelation ID: c\r\nTimestamp: 2025-01-01 00:00:00Z","error_codes":[7000215],"timestamp":"2025-01-01 00:00:00Z","trace_id":"t","correlation_id":"c","error_uri":"https://login.microsoftonline.com/error?code=7000215"}"#,
    "entra-invalid-client"
)]
#[case::entra_unknown_resource(
    "400",
    r#"{"error":"invalid_resource","error_description":"AADSTS500011: The resource principal named https://dynamicsession.io was not found in the tenant named contoso.\r\nTrace ID: t","error_codes":[500011]}"#,
    "entra-unknown-resource"
)]
#[case::piston_unknown_runtime(
    "400",
    r#"{"message":"ruby-3 runtime is unknown"}"#,
    "runtime-unknown"
)]
fn azure_bodies_quoted_in_fidelity_name_their_diagnosis_without_a_hop(
    #[case] status: &str,
    #[case] body: &str,
    #[case] expected: &str,
) {
    let ranked = ids(&["--status", status, "--body", "-"], body);

    assert_eq!(ranked.first().map(String::as_str), Some(expected), "{ranked:?}");
}

#[test]
fn a_bare_401_with_an_empty_body_lists_the_401_causes_and_asks_for_the_token() {
    let output = explain(&["--hop", "pool", "--status", "401"], "");

    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0));
    assert!(text.starts_with("hop: pool (given with --hop)"), "{text}");
    for id in ["no-authorization-header (low)", "wrong-audience (low)", "token-expired (low)"] {
        assert!(text.contains(id), "{id} missing:\n{text}");
    }
    assert!(text.contains("pass --token"), "{text}");
}

#[test]
fn evidence_that_names_nothing_is_unexplained_with_exit_code_0() {
    assert_eq!(ids(&[], ""), ["unexplained"]);
}

#[test]
fn json_output_has_exactly_the_documented_keys() {
    let token = token("https://dynamicsessions.io", 3600);

    let output = explain(&["--status", "403", "--token", &token, "--format", "json"], "");

    let report: Value = serde_json::from_slice(&output.stdout).expect("the report is JSON");
    let keys: Vec<&String> = report.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["diagnoses", "token"]);
    for diagnosis in report["diagnoses"].as_array().unwrap() {
        let keys: Vec<&String> = diagnosis.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["id", "confidence", "explanation", "fix"]);
    }
    let token_keys: Vec<&String> = report["token"].as_object().unwrap().keys().collect();
    assert_eq!(
        token_keys,
        ["aud", "oid", "appid", "tid", "iss", "exp", "expired", "seconds_to_expiry"]
    );
    assert_eq!(report["token"]["expired"], false);
    assert!(report["token"]["seconds_to_expiry"].as_i64().unwrap() > 3500);
}

#[test]
fn without_a_token_the_json_token_is_null() {
    let output = explain(&["--status", "404", "--format", "json"], "");

    let report: Value = serde_json::from_slice(&output.stdout).expect("the report is JSON");
    assert_eq!(report["token"], Value::Null);
}

#[rstest]
#[case::a_token_that_is_not_a_jwt(&["--status", "401", "--token", "Bearer not-a-jwt"], "is not a JWT")]
#[case::a_body_file_that_does_not_exist(&["--status", "400", "--body", "/no/such/dir/body.json"], "cannot read the body from /no/such/dir/body.json")]
#[case::a_header_without_a_colon(&["--status", "400", "--header", "x-ms-error-code"], "is not name:value")]
fn unusable_input_exits_2_saying_what_to_do(#[case] args: &[&str], #[case] message: &str) {
    let output = explain(args, "");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(message), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn without_a_token_the_teams_files_say_which_identity_the_sdk_asked_for() {
    // The role is on the user-assigned identity and the app sets no AZURE_CLIENT_ID: the SDK asked for
    // the system-assigned one. A backend that swallows errors never shows its token; its files do.
    let case = "fixtures/az/role-on-user-assigned";
    let (app, roles) = (format!("{case}/app.json"), format!("{case}/roles.json"));

    let found = ids(&["--status", "403", "--app", &app, "--roles", &roles], "");

    assert_eq!(found.first().map(String::as_str), Some("role-on-other-identity"), "{found:?}");
}
