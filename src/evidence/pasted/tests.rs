//! Extraction from texts as real clients print them: samples produced against the stand-ins
//! (`fixtures/clients/samples/`) and texts of clients that cannot run here (`fixtures/pasted/`).

use super::*;

fn fixture(path: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(path),
    )
    .unwrap()
}

/// The one error in a fixture.
fn one(path: &str) -> Pasted {
    let found = read(&fixture(path));
    assert_eq!(found.len(), 1, "{path}: {found:#?}");
    found.into_iter().next().unwrap()
}

#[test]
fn a_requests_line_gives_status_url_and_the_body_printed_after_it() {
    let p = one("clients/samples/missing-role--requests-pool.txt");
    assert_eq!((p.format, p.status), (PastedFormat::RequestsError, Some(403)));
    assert!(p.url.as_deref().unwrap().ends_with("/python/execute?identifier=coding-engine"));
    assert!(p.body.starts_with(r#"{"error":{"code":"PermissionDenied""#), "{}", p.body);
}

#[test]
fn azure_core_texts_give_the_error_code_or_the_reason_but_never_a_number() {
    let coded = one("clients/samples/missing-role--azure-core-pool.txt");
    assert_eq!((coded.error_code.as_deref(), coded.status), (Some("PermissionDenied"), Some(403)));
    assert_eq!(coded.status_implied_by.as_deref(), Some("error code PermissionDenied"));
    let reason = one("clients/samples/no-target-port--azure-core-pool.txt");
    assert_eq!((reason.status, reason.body.as_str()), (Some(404), "Not Found"));
}

#[test]
fn a_curl_verbose_transcript_gives_the_url_from_its_request_lines_and_drops_curls_own_notes() {
    let p = one("clients/samples/missing-role--curl-v-pool.txt");
    assert_eq!(
        (p.format, p.status, p.method.as_deref()),
        (PastedFormat::CurlVerbose, Some(403), Some("POST"))
    );
    assert!(
        p.url.as_deref().unwrap().starts_with("http://127.0.0.1:")
            && p.url.as_deref().unwrap().ends_with("/python/execute?identifier=coding-engine")
    );
    assert!(p.headers.contains(&("x-ms-error-code".into(), "PermissionDenied".into())));
    assert!(p.body.starts_with(r#"{"error""#), "{}", p.body);
}

#[test]
fn curl_i_and_raw_responses_give_status_headers_and_body() {
    let p = one("clients/samples/identity-not-specified--curl-i-identity.txt");
    assert_eq!((p.format, p.status), (PastedFormat::RawHttpResponse, Some(400)));
    assert!(p.headers.contains(&("server".into(), "Kestrel".into())));
    assert!(p.body.contains("Unable to load the proper Managed Identity."));
    let raw = one("pasted/raw-http-404.txt");
    assert_eq!((raw.status, raw.body.as_str()), (Some(404), "Not Found"));
}

#[test]
fn a_python_credential_chain_keeps_every_credential_line() {
    let p = one("clients/samples/identity-not-specified--default-credential.txt");
    assert_eq!(p.format, PastedFormat::CredentialChain);
    let names: Vec<&str> = p.attempts.iter().map(|a| a.credential.as_str()).collect();
    assert_eq!(
        names[..3],
        ["EnvironmentCredential", "WorkloadIdentityCredential", "ManagedIdentityCredential"]
    );
    assert_eq!(names.len(), 9, "{names:?}");
    let mi = &p.attempts[2];
    assert_eq!(
        (mi.status, mi.body.as_str()),
        (Some(400), "Unable to load the proper Managed Identity.")
    );
    assert!(
        p.attempts[0].message.contains("Visit https://aka.ms"),
        "a wrapped message is joined: {}",
        p.attempts[0].message
    );
    assert!(p.attempts.iter().any(|a| a.tool_missing), "Azure CLI not found on path");
}

#[test]
fn a_javascript_chain_names_credentials_from_their_messages() {
    let p = one("pasted/azure-identity-js-chain-400.txt");
    assert_eq!(p.format, PastedFormat::CredentialChain);
    let mi = p.attempts.iter().find(|a| a.kind == CredentialKind::ManagedIdentity).unwrap();
    assert_eq!(mi.body, "Unable to load the proper Managed Identity.");
    assert!(p.attempts.iter().any(|a| a.credential == "AzureCliCredential" && a.tool_missing));
    let empty = one("pasted/azure-identity-js-chain-403-empty.txt");
    assert_eq!(
        empty.attempts.iter().find(|a| a.kind == CredentialKind::ManagedIdentity).unwrap().status,
        Some(403)
    );
}

#[test]
fn dotnet_and_go_errors_give_status_code_body_and_headers() {
    let net = one("pasted/dotnet-requestfailed-pool-403.txt");
    assert_eq!(
        (net.format, net.status, net.error_code.as_deref()),
        (PastedFormat::DotNetRequestFailed, Some(403), Some("PermissionDenied"))
    );
    assert!(
        net.body.contains("PermissionDenied")
            && net.headers.iter().any(|(n, _)| n == "mise-correlation-id")
    );
    let identity = one("pasted/dotnet-managed-identity-400.txt");
    assert_eq!(
        identity.status,
        Some(400),
        "the inner exception repeats the same answer: one error"
    );
    let go = one("pasted/go-azcore-pool-404.txt");
    assert_eq!(
        (go.format, go.status, go.error_code.as_deref(), go.body.as_str()),
        (PastedFormat::GoResponseError, Some(404), None, "Not Found")
    );
    assert_eq!(
        go.url.as_deref(),
        Some(
            "https://coding-pool.kindmeadow-7c1e2f3a.westeurope.azurecontainerapps.io/python/execute"
        )
    );
}

#[test]
fn axios_fetch_and_log_lines_give_their_status() {
    let axios = one("pasted/axios-pool-403.txt");
    assert_eq!((axios.format, axios.status), (PastedFormat::AxiosError, Some(403)));
    assert!(axios.body.contains("PermissionDenied"), "{}", axios.body);
    let fetch = one("clients/samples/no-target-port--fetch-pool.txt");
    assert_eq!((fetch.format, fetch.status), (PastedFormat::StatusLine, Some(404)));
    let log = one("pasted/python-log-requests-403-identifier.txt");
    assert_eq!((log.format, log.status), (PastedFormat::RequestsError, Some(403)));
}

#[test]
fn single_credential_errors_quote_the_answer_they_got() {
    let empty = one("clients/samples/identity-header-mismatch--mi-credential.txt");
    assert_eq!(
        (empty.format, empty.status, empty.body.as_str()),
        (PastedFormat::CredentialError, Some(403), "")
    );
    let msal = one("pasted/dotnet-managed-identity-400-msal.txt");
    assert_eq!(
        (msal.status, msal.body.as_str()),
        (Some(400), "Unable to load the proper Managed Identity.")
    );
    let aadsts = one("clients/samples/entra-unknown-resource--mi-credential.txt");
    assert!(aadsts.body.starts_with("AADSTS500011"), "{}", aadsts.body);
}

#[test]
fn a_connection_error_has_no_status() {
    let p = one("clients/samples/identity-endpoint-unreachable--mi-credential.txt");
    assert_eq!((p.format, p.status), (PastedFormat::NoAnswer, None));
}

#[test]
fn several_errors_in_one_text_are_each_found_in_order() {
    let text = format!(
        "{}\n\n{}",
        fixture("clients/samples/missing-role--requests-pool.txt"),
        fixture("pasted/raw-http-404.txt")
    );
    let found = read(&text);
    assert_eq!(found.iter().map(|p| p.status).collect::<Vec<_>>(), [Some(403), Some(404)]);
}

#[test]
fn text_with_no_error_in_it_gives_nothing() {
    assert!(read("the build took 403 ms and everything passed").is_empty());
}
