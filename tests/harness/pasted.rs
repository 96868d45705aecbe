//! `explain --text` on texts real clients print: each client (Python `requests`, azure-core and
//! azure-identity; node's `fetch`; curl) runs against the stand-ins of a failure world and its
//! output is fed to `explain`, as a user pastes it. Texts of clients that cannot run here come from
//! `fixtures/pasted/`. Table-driven: text → expected ids, and ids a URL must never produce.

use std::io::Write;
use std::process::{Command, Stdio};

use rstest::rstest;
use serde_json::Value;
use session_pool_harness::{Scenario, StandIns};

use crate::helpers::{BIN, root};
use crate::python::python;

/// The text a client prints when run against the stand-ins of `world` (`scenarios/<world>.toml`).
async fn produce(world: &str, client: &str, extra_env: &[(&str, &str)]) -> String {
    let scenario = Scenario::load(root(&format!("scenarios/{world}.toml"))).unwrap();
    let stand_ins = StandIns::start(scenario.world()).await.unwrap();
    let mut env = stand_ins.backend_env_for(&scenario);
    env.extend(extra_env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env.push(("PATH".into(), "/usr/local/bin:/usr/bin:/bin".into()));
    let (program, args): (String, Vec<&str>) = match client.split_once(':') {
        Some(("python", case)) => {
            (python().display().to_string(), vec!["fixtures/clients/errors.py", case])
        }
        Some(("node", case)) => ("node".into(), vec!["fixtures/clients/fetch.mjs", case]),
        Some(("curl", case)) => ("bash".into(), vec!["fixtures/clients/curl.sh", case]),
        _ => panic!("unknown client {client}"),
    };
    let output = tokio::process::Command::new(&program)
        .args(&args)
        .current_dir(root(""))
        .env_clear()
        .envs(env)
        .output()
        .await
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{client} in {world}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `explain --text -` on `bytes` with `args` (exit code 0 asserted): its standard output.
fn explain_output(bytes: &[u8], args: &[&str]) -> String {
    let mut child = Command::new(BIN)
        .args(["explain", "--text", "-"])
        .args(args)
        .current_dir(root(""))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = bytes.to_vec();
    // Written from a thread: a 5 MB text does not fit a pipe while the child writes its answer.
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The JSON report of `explain --text -` on `bytes`.
fn explain_json(bytes: &[u8], args: &[&str]) -> Value {
    let output = explain_output(bytes, &[args, &["--format", "json"]].concat());
    serde_json::from_str(&output).unwrap()
}

/// `explain --text -` on `text` (with `args`): every error's diagnosis ids, in rank order.
fn explain(text: &str, args: &[&str]) -> Vec<Vec<String>> {
    let report = explain_json(text.as_bytes(), args);
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            e["diagnoses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

/// The first diagnosis of the only error in the text.
fn first(text: &str, args: &[&str]) -> String {
    let errors = explain(text, args);
    assert_eq!(errors.len(), 1, "one error expected in:\n{text}\n{errors:?}");
    errors[0][0].clone()
}

#[rstest]
#[case::requests_pool_403("missing-role", "python:requests-pool", &[], "missing-role")]
#[case::azure_core_pool_403("missing-role", "python:azure-core-pool", &[], "missing-role")]
#[case::fetch_pool_403("missing-role", "node:fetch-pool", &[], "missing-role")]
#[case::curl_pool_403("missing-role", "curl:curl-v-pool", &[], "missing-role")]
#[case::msal_bad_secret("entra-invalid-client", "python:msal-client-secret", &[], "entra-invalid-client")]
#[case::httpx_pool_403("missing-role", "python:httpx-pool", &[], "missing-role")]
#[case::httpx_pool_404("no-target-port", "python:httpx-pool", &[], "no-target-port")]
#[case::requests_pool_404("no-target-port", "python:requests-pool", &[], "no-target-port")]
#[case::azure_core_pool_404("no-target-port", "python:azure-core-pool", &[], "no-target-port")]
#[case::curl_pool_404("no-target-port", "curl:curl-v-pool", &[], "no-target-port")]
#[case::requests_regional("wrong-endpoint-shape", "python:requests-pool", &[], "wrong-endpoint-shape")]
#[case::requests_identifier("missing-identifier", "python:requests-pool", &[], "missing-identifier")]
#[case::requests_pool_full("pool-full", "python:requests-pool", &[], "pool-full")]
#[case::mi_unable_to_load("wrong-client-id", "python:mi-credential", &[], "identity-not-found")]
#[case::chain_unable_to_load("wrong-client-id", "python:default-credential", &[], "identity-not-found")]
#[case::curl_unable_to_load("identity-not-specified", "curl:curl-i-identity", &[], "identity-not-found")]
#[case::requests_identity_header("identity-header-mismatch", "python:requests-identity", &[("IDENTITY_HEADER", "wrong")], "identity-header-mismatch")]
#[case::mi_empty_answer("identity-header-mismatch", "python:mi-credential", &[("IDENTITY_HEADER", "wrong")], "identity-header-mismatch")]
#[case::curl_identity_header("identity-header-mismatch", "curl:curl-i-identity", &[("IDENTITY_HEADER", "wrong")], "identity-header-mismatch")]
#[case::curl_v_identity_header("identity-header-mismatch", "curl:curl-v-identity", &[("IDENTITY_HEADER", "wrong")], "identity-header-mismatch")]
#[case::requests_egress_blocked("identity-egress-blocked", "python:requests-identity", &[], "identity-egress-blocked")]
#[case::imds_identity_not_found("identity-not-enabled", "python:mi-credential", &[], "identity-not-enabled")]
#[case::chain_imds("identity-not-enabled", "python:default-credential", &[], "identity-not-enabled")]
#[case::chain_without_az("credential-chain-unavailable", "python:default-credential", &[], "credential-chain-unavailable")]
#[case::aadsts_through_identity("entra-unknown-resource", "python:mi-credential", &[], "entra-unknown-resource")]
#[tokio::test]
async fn a_real_clients_error_text_names_the_worlds_cause(
    #[case] world: &str,
    #[case] client: &str,
    #[case] env: &[(&str, &str)],
    #[case] expected: &str,
) {
    let text = produce(world, client, env).await;

    let id = first(&text, &[]);

    assert_eq!(id, expected, "{client} in {world} printed:\n{text}");
}

#[tokio::test]
async fn with_the_users_app_the_same_400_is_identity_not_specified() {
    let text = produce("identity-not-specified", "python:default-credential", &[]).await;

    let without = first(&text, &[]);
    let with = first(&text, &["--app", "fixtures/az/user-assigned-only-no-port/app.json"]);

    assert_eq!((without.as_str(), with.as_str()), ("identity-not-found", "identity-not-specified"));
    assert!(
        explain(&text, &[])[0].contains(&"identity-not-specified".to_owned()),
        "named as the look-alike without --app"
    );
}

#[tokio::test]
async fn a_connection_error_names_a_cause_only_once_the_hop_is_given() {
    let text = produce("identity-endpoint-unreachable", "python:requests-identity", &[]).await;

    assert_eq!(first(&text, &[]), "unexplained", "the text names no hop:\n{text}");
    assert_eq!(first(&text, &["--hop", "identity"]), "identity-endpoint-unavailable");
}

/// Each text of `fixtures/pasted/` and the cause `explain --text` must name first (the README there
/// says where each text comes from).
pub const EXPECTED_FIRST: &[(&str, &str)] = &[
    ("dotnet-requestfailed-pool-403.txt", "missing-role"),
    ("dotnet-managed-identity-400.txt", "identity-not-found"),
    ("dotnet-managed-identity-400-msal.txt", "identity-not-found"),
    ("go-azcore-pool-403.txt", "missing-role"),
    ("go-azcore-pool-404.txt", "no-target-port"),
    ("axios-pool-403.txt", "missing-role"),
    ("azure-identity-js-chain-400.txt", "identity-not-found"),
    ("azure-identity-js-chain-403-empty.txt", "identity-header-mismatch"),
    ("python-log-requests-403-identifier.txt", "missing-role"),
    ("axios-pool-429.txt", "pool-full"),
    ("identity-500-egress.txt", "identity-egress-blocked"),
    ("raw-http-404.txt", "no-target-port"),
    ("aspnet-core-log-pool-403.txt", "missing-role"),
    ("httpx-pool-403.txt", "missing-role"),
    ("openai-mcp-not-enabled.txt", "mcp-not-enabled"),
    ("msal-aadsts90002.txt", "entra-tenant-not-found"),
    ("az-login-guest-disabled.txt", "developer-login-blocked"),
    ("az-login-conditional-access.txt", "developer-login-blocked"),
    ("az-sessionpool-create-region.txt", "session-type-not-in-region"),
    ("java-httpurlconnection-pool-403.txt", "missing-role"),
    ("java-azure-identity-imds-400.txt", "identity-not-enabled"),
    ("go-azidentity-chain-400.txt", "identity-not-found"),
    ("pino-json-pool-403.txt", "missing-role"),
    ("az-containerapp-logs-egress.txt", "identity-egress-blocked"),
    ("structlog-json-identity-400.txt", "identity-not-enabled"),
    ("rich-wrapped-requests-403.txt", "missing-role"),
    ("requests-imds-timeout.txt", "identity-endpoint-unavailable"),
    ("identity-500-body-only.txt", "identity-egress-blocked"),
    ("go-workload-identity-70021.txt", "federated-credential-mismatch"),
];

fn pasted_fixture(file: &str) -> String {
    std::fs::read_to_string(root(&format!("fixtures/pasted/{file}"))).unwrap()
}

#[test]
fn a_text_of_a_client_that_cannot_run_here_names_its_cause() {
    let mut wrong = Vec::new();

    for (file, expected) in EXPECTED_FIRST {
        let errors = explain(&pasted_fixture(file), &[]);
        let firsts: Vec<&str> = errors.iter().map(|e| e[0].as_str()).collect();
        if firsts != [*expected] {
            wrong.push(format!("{file}: expected [{expected}], got {errors:?}"));
        }
    }

    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_requests_404_on_a_custom_pool_url_is_the_missing_target_port_not_the_identifier() {
    let text = "404 Client Error: Not Found for url: https://coding-pool.kindmeadow-7c1e2f3a.westeurope.azurecontainerapps.io/python/execute?identifier=abcd\nNot Found";

    assert_eq!(explain(text, &[]), [["no-target-port", "container-path-not-found"]]);
}

#[test]
fn a_go_401_from_a_pool_with_the_token_that_was_sent_is_the_wrong_audience() {
    let text = std::fs::read_to_string(root("fixtures/pasted/go-azcore-pool-401.txt")).unwrap();
    let subject = session_pool_harness::tokens::TokenSubject {
        tenant_id: "t",
        client_id: "c",
        principal_id: "p",
        resource_id: None,
        appidacr: "2",
    };
    let now = session_pool_harness::tokens::now_secs();
    let token = session_pool_harness::tokens::TokenIssuer::test_key().mint(
        &session_pool_harness::tokens::access_token_claims(
            &subject,
            "https://cognitiveservices.azure.com",
            now,
            3600,
        ),
    );

    assert_eq!(first(&text, &["--token", &token]), "wrong-audience");
    assert_eq!(
        explain(&text, &[])[0].len(),
        3,
        "without the token: three causes share an empty 401"
    );
}

#[rstest]
#[case::identifier_in_the_query(
    "403 Client Error: Forbidden for url: https://p.env.westeurope.azurecontainerapps.io/python/execute?identifier=missing-identifier",
    "missing-identifier"
)]
#[case::token_path_in_the_query(
    "GET https://api.example.com/run?next=/msi/token&identifier=x failed: 400 Bad Request: {\"message\":\"bad input\"}",
    "missing-identifier"
)]
#[case::entra_words_in_the_query(
    "502 Server Error: Bad Gateway for url: https://pool.env.eastus.azurecontainerapps.io/python/execute?identifier=AADSTS500011-invalid_client",
    "entra-invalid-client"
)]
fn words_in_a_url_never_name_a_cause(#[case] text: &str, #[case] forbidden: &str) {
    let errors = explain(text, &[]);

    assert_eq!(errors.len(), 1, "{text}");
    assert!(
        !errors[0].contains(&forbidden.to_owned()),
        "{forbidden} read out of a URL: {errors:?}"
    );
}

#[test]
fn the_old_body_flag_does_not_read_causes_out_of_urls_either() {
    let file = std::env::temp_dir().join(format!("sph-body-{}", crate::helpers::unique()));
    std::fs::write(&file, "400 Client Error: Bad Request for url: https://p.env.westeurope.azurecontainerapps.io/python/execute?identifier=abcd").unwrap();

    let output = Command::new(BIN)
        .args(["explain", "--status", "400", "--body", file.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();

    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_ne!(report["diagnoses"][0]["id"], "missing-identifier", "{report}");
}

#[tokio::test]
async fn several_errors_in_one_text_are_diagnosed_each_and_the_report_says_what_was_read() {
    let pool = produce("missing-role", "python:requests-pool", &[]).await;
    let identity = produce("identity-not-enabled", "python:mi-credential", &[]).await;
    let text = format!("first attempt:\n{pool}\nthen, from the other replica:\n{identity}");

    let ids = explain(&text, &[]);
    let human = Command::new(BIN)
        .args(["explain", "--text", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        });

    assert_eq!(
        ids.iter().map(|e| e[0].as_str()).collect::<Vec<_>>(),
        ["missing-role", "identity-not-enabled"]
    );
    let human = String::from_utf8(human.unwrap().stdout).unwrap();
    assert!(
        human.contains("error 1 of 2: status 403 from a requests error line (lines 2-3)"),
        "{human}"
    );
    assert!(human.contains("error 2 of 2: status 400"), "{human}");
}

#[test]
fn a_utf16_file_with_its_bom_and_a_latin1_byte_are_read_not_refused() {
    let text = pasted_fixture("python-log-requests-403-identifier.txt");
    let utf16: Vec<u8> = [0xFF, 0xFE]
        .into_iter()
        .chain(text.replace('\n', "\r\n").encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let latin1 = [b"caf\xe9: ".as_slice(), text.as_bytes()].concat();

    let from_utf16 = explain_json(&utf16, &[]);
    let from_latin1 = explain_json(&latin1, &[]);
    let human = explain_output(&utf16, &[]);

    assert_eq!(from_utf16["encoding"], "utf16-le");
    assert_eq!(from_utf16["errors"][0]["diagnoses"][0]["id"], "missing-role");
    assert_eq!(from_latin1["encoding"], "latin1");
    assert_eq!(from_latin1["errors"][0]["diagnoses"][0]["id"], "missing-role");
    assert!(human.starts_with("read as UTF-16LE (byte-order mark)\n"), "{human}");
    assert!(human.contains("read after: CRLF line ends"), "{human}");
}

#[test]
fn a_text_without_an_error_says_no_error_found_and_never_ok() {
    let healthy = "2025-01-14 10:22:31,482 INFO uvicorn.access: 10.0.0.1:5000 - \"GET /health HTTP/1.1\" 200 OK\nstatus 200, all good\nHTTP/1.1 200 OK\n\nok";

    let report = explain_json(healthy.as_bytes(), &[]);
    let human = explain_output(healthy.as_bytes(), &[]);

    assert_eq!(report["errors"], serde_json::json!([]), "{report}");
    assert!(human.starts_with("no error found"), "{human}");
}

#[test]
fn a_5_mb_log_with_one_error_among_a_thousand_200_lines_reports_exactly_that_error() {
    let mut log = String::new();
    for n in 0..1000 {
        log.push_str(&format!("2025-01-14 10:22:{:02},482 INFO uvicorn.access: 10.0.0.1:5000 - \"POST /execute HTTP/1.1\" 200 OK\n", n % 60));
        if n == 617 {
            log.push_str(&pasted_fixture("python-log-requests-403-identifier.txt"));
        }
        while log.len() < (n + 1) * 5_000 {
            log.push_str("2025-01-14 10:22:31,482 DEBUG coding_engine.pool: session kept warm, nothing to report here\n");
        }
    }
    assert!(log.len() >= 5_000_000, "{} bytes", log.len());

    let report = explain_json(log.as_bytes(), &[]);

    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(errors[0]["diagnoses"][0]["id"], "missing-role");
    let x = &errors[0]["extracted"];
    assert_eq!(x["first_line"], x["last_line"], "the next log records are not its body: {x}");
}

#[tokio::test]
async fn a_pool_403_line_and_a_credential_chain_are_both_reported_in_either_order() {
    let pool = "2025-01-14 10:22:31,482 ERROR coding_engine.pool: 403 Client Error: Forbidden for url: https://coding-pool.kindmeadow-7c1e2f3a.westeurope.azurecontainerapps.io/python/execute?identifier=abcd";
    let chain = produce("identity-not-enabled", "python:default-credential", &[]).await;

    let pool_first = explain(&format!("{pool}\n{chain}"), &[]);
    let chain_first = explain(&format!("{chain}{pool}\n"), &[]);

    let firsts = |errors: &[Vec<String>]| errors.iter().map(|e| e[0].clone()).collect::<Vec<_>>();
    assert_eq!(firsts(&pool_first), ["missing-role", "identity-not-enabled"]);
    assert_eq!(firsts(&chain_first), ["identity-not-enabled", "missing-role"]);
}

#[test]
fn explain_says_for_each_error_its_format_lines_and_the_normalisations_applied() {
    let text = pasted_fixture("pino-json-pool-403.txt");

    let human = explain_output(text.as_bytes(), &[]);
    let report = explain_json(text.as_bytes(), &[]);

    assert!(
        human.contains("status 403 from a status and reason in the text (line 3; read after: JSON log record's message unescaped)"),
        "{human}"
    );
    let extracted = &report["errors"][0]["extracted"];
    assert_eq!(
        (extracted["first_line"].as_u64(), extracted["last_line"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(extracted["normalized"], serde_json::json!(["json-log-line"]));
}

#[test]
fn the_hop_comes_from_the_body_when_the_text_has_no_url() {
    let report = explain_json(
        &std::fs::read(root("fixtures/pasted/identity-500-body-only.txt")).unwrap(),
        &[],
    );
    let imds = explain_json(
        &std::fs::read(root("fixtures/pasted/requests-imds-timeout.txt")).unwrap(),
        &[],
    );

    assert_eq!(report["errors"][0]["extracted"]["hop"], "identity", "{report}");
    assert_eq!(imds["errors"][0]["extracted"]["hop"], "identity", "{imds}");
}

#[test]
fn a_pool_404_is_the_missing_target_port_only_while_the_pool_has_none() {
    let text = "POST https://coding-pool.kindmeadow-7c1e2f3a.westeurope.azurecontainerapps.io/python/execute?identifier=abcd failed: 404 Not Found";
    let with_port =
        ["--app", "fixtures/az/clean/app.json", "--pool", "fixtures/az/clean/pool.json"];
    let without = [
        "--app",
        "fixtures/az/user-assigned-only-no-port/app.json",
        "--pool",
        "fixtures/az/user-assigned-only-no-port/pool.json",
    ];

    let bare = explain(text, &[]);
    let ported = explain(text, &with_port);
    let portless = explain(text, &without);

    assert_eq!(bare, [["no-target-port", "container-path-not-found"]], "both at medium");
    assert!(!ported[0].contains(&"no-target-port".to_owned()), "{ported:?}");
    assert_eq!(portless, [["no-target-port"]]);
}
