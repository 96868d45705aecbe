//! `explain`'s ranking, hop inference and fixes, on evidence built here.

use serde_json::json;

use super::*;
use crate::test_support::{CLIENT_ID, PRINCIPAL, TENANT};
use crate::tokens::{TokenSubject, access_token_claims};

const NOW: u64 = 1_700_000_000;
const APP_ID: &str =
    "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.App/containerApps/app-1";

fn claims(aud: &str, exp_in: i64) -> Value {
    let subject = TokenSubject {
        tenant_id: TENANT,
        client_id: CLIENT_ID,
        principal_id: PRINCIPAL,
        resource_id: Some(APP_ID),
        appidacr: "2",
    };
    let mut claims = access_token_claims(&subject, aud, NOW, 0);
    claims["exp"] = json!(NOW.checked_add_signed(exp_in).unwrap());
    claims
}

fn captured(hop: Option<Hop>, status: Option<u16>, body: &str, claims: Option<Value>) -> Captured {
    Captured { hop, status, body: body.into(), claims, ..Captured::default() }
}

fn ranked(report: &Report) -> Vec<(&'static str, Confidence)> {
    report.diagnoses.iter().map(|d| (d.id.id(), d.confidence)).collect()
}

#[test]
fn a_pool_403_to_a_good_token_is_missing_role_for_that_principal_then_maybe_propagation() {
    let evidence =
        captured(Some(Hop::Pool), Some(403), "", Some(claims("https://dynamicsessions.io", 3600)));

    let report = explain(&evidence, NOW);

    assert_eq!(
        ranked(&report),
        [("missing-role", Confidence::High), ("role-propagation-delay", Confidence::Low)]
    );
    assert!(
        report.diagnoses[0].fix.contains(&format!("--assignee {PRINCIPAL} ")),
        "{}",
        report.diagnoses[0].fix
    );
    assert!(report.diagnoses[0].explanation.contains(&format!("principal {PRINCIPAL}")));
}

#[test]
fn a_pool_403_without_a_token_is_missing_role_on_the_status_alone() {
    let report = explain(&captured(Some(Hop::Pool), Some(403), "", None), NOW);

    assert_eq!(report.diagnoses[0].id, Diagnosis::MissingRole);
    assert_eq!(report.diagnoses[0].confidence, Confidence::Medium);
    assert!(report.diagnoses[0].fix.contains("--assignee <principal-id>"));
}

#[test]
fn a_pool_401_is_told_apart_by_the_token_audience_and_expiry() {
    let foreign = explain(
        &captured(
            Some(Hop::Pool),
            Some(401),
            "",
            Some(claims("https://management.azure.com", 3600)),
        ),
        NOW,
    );
    let expired = explain(
        &captured(
            Some(Hop::Pool),
            Some(401),
            "",
            Some(claims("https://dynamicsessions.io", -3600)),
        ),
        NOW,
    );

    assert_eq!(ranked(&foreign), [("wrong-audience", Confidence::High)]);
    assert!(foreign.diagnoses[0].explanation.contains("https://management.azure.com"));
    assert!(foreign.diagnoses[0].fix.contains("instead of https://management.azure.com/.default"));
    assert_eq!(ranked(&expired), [("token-expired", Confidence::High)]);
}

#[test]
fn a_bare_pool_401_lists_every_401_cause_at_low_confidence_and_asks_for_the_token() {
    let report = explain(&captured(Some(Hop::Pool), Some(401), "", None), NOW);

    assert_eq!(
        ranked(&report),
        [
            ("no-authorization-header", Confidence::Low),
            ("wrong-audience", Confidence::Low),
            ("token-expired", Confidence::Low)
        ]
    );
    assert!(report.diagnoses.iter().all(|d| d.explanation.contains("pass --token")));
}

#[test]
fn a_token_expired_within_the_clock_skew_is_only_a_low_candidate() {
    let report = explain(
        &captured(Some(Hop::Pool), Some(401), "", Some(claims("https://dynamicsessions.io", -10))),
        NOW,
    );

    assert_eq!(ranked(&report), [("token-expired", Confidence::Low)]);
}

#[test]
fn the_hop_is_inferred_from_the_body_and_said_so() {
    let cases = [
        (r#"{"error":{"code":"DynamicApisNotAllowed","message":"x"}}"#, Hop::Pool),
        (
            r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#,
            Hop::Entra,
        ),
        (
            r#"{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"c"}"#,
            Hop::Identity,
        ),
        (r#"{"message":"ruby-3 runtime is unknown"}"#, Hop::Piston),
        (r#"{"error":{"code":"SessionWithIdentifierNotFound","message":"x"}}"#, Hop::Pool),
        ("", Hop::Pool),
    ];
    for (body, hop) in cases {
        let report = explain(&captured(None, Some(400), body, None), NOW);

        assert_eq!(report.hop, hop, "{body}");
        assert!(
            report.hop_reason.starts_with(if body.is_empty() { "assumed" } else { "inferred" }),
            "{}",
            report.hop_reason
        );
    }
}

#[test]
fn an_imds_identity_not_found_is_an_app_without_identity_and_the_app_is_named_from_xms_mirid() {
    let body = r#"{"error":"invalid_request","error_description":"Identity not found"}"#;
    let mut evidence = captured(
        Some(Hop::Identity),
        Some(400),
        body,
        Some(claims("https://dynamicsessions.io", 3600)),
    );

    let report = explain(&evidence, NOW);
    evidence.body = r#"{"statusCode":400,"message":"Identity not found"}"#.into();
    let container_apps = explain(&evidence, NOW);

    assert_eq!(
        ranked(&report),
        [("identity-not-enabled", Confidence::High), ("identity-not-found", Confidence::Low)]
    );
    assert_eq!(
        report.diagnoses[0].fix,
        "az containerapp identity assign --name app-1 --resource-group rg-1 --system-assigned (or --user-assigned <identity resource id>)"
    );
    assert_eq!(
        ranked(&container_apps),
        [
            ("identity-not-found", Confidence::Medium),
            ("identity-not-specified", Confidence::Medium)
        ],
        "one answer, two causes without the app: both at medium, never one at high"
    );
    assert!(container_apps.diagnoses[1].explanation.contains("client_id="));
}

#[test]
fn a_visible_token_request_url_tells_the_two_causes_of_unable_to_load_apart() {
    let body = r#"{"statusCode":400,"message":"Unable to load the proper Managed Identity."}"#;
    let mut named = captured(Some(Hop::Identity), Some(400), body, None);
    named.named_identity = Some(true);
    let mut unnamed = named.clone();
    unnamed.named_identity = Some(false);

    assert_eq!(ranked(&explain(&named, NOW)), [("identity-not-found", Confidence::High)]);
    assert_eq!(ranked(&explain(&unnamed, NOW)), [("identity-not-specified", Confidence::High)]);
}

#[test]
fn a_pool_404_without_its_body_lists_both_sources_at_medium() {
    let report = explain(&captured(Some(Hop::Pool), Some(404), "", None), NOW);

    assert_eq!(
        ranked(&report),
        [("no-target-port", Confidence::Medium), ("container-path-not-found", Confidence::Medium)]
    );
    assert!(report.diagnoses[0].explanation.contains("--pool"));
}

#[test]
fn the_x_ms_error_code_header_stands_in_for_a_body_that_was_not_kept() {
    let mut evidence = captured(Some(Hop::Pool), Some(400), "", None);
    evidence.headers.push(("x-ms-error-code".into(), "DynamicApisNotAllowed".into()));

    let report = explain(&evidence, NOW);

    assert_eq!(ranked(&report), [("wrong-endpoint-shape", Confidence::High)]);
}

#[test]
fn without_a_status_every_status_the_body_pins_down_is_a_medium_candidate() {
    let body = r#"{"error":{"code":"x","message":"Error happened when allocating pod for identifier abcd in pool p"}}"#;

    let report = explain(&captured(None, None, body, None), NOW);

    assert_eq!(
        ranked(&report),
        [("pool-full", Confidence::Medium), ("container-not-ready", Confidence::Medium)]
    );
    assert!(report.diagnoses[0].explanation.contains("if it was 429"));
}

#[test]
fn evidence_that_names_nothing_is_unexplained_never_an_empty_list() {
    let bare = explain(&captured(None, None, "", None), NOW);
    let odd = explain(&captured(Some(Hop::Entra), Some(418), "teapot", None), NOW);

    assert_eq!(ranked(&bare), [("unexplained", Confidence::Low)]);
    assert!(bare.diagnoses[0].explanation.contains("give --status"));
    assert_eq!(ranked(&odd), [("unexplained", Confidence::Low)]);
}

#[test]
fn a_pool_404_names_both_sources_of_not_found_with_the_body_deciding_the_order() {
    let portless = explain(&captured(Some(Hop::Pool), Some(404), "Not Found", None), NOW);
    let container =
        explain(&captured(Some(Hop::Pool), Some(404), r#"{"message":"Not Found"}"#, None), NOW);

    assert_eq!(
        ranked(&portless),
        [("no-target-port", Confidence::High), ("container-path-not-found", Confidence::Low)]
    );
    assert_eq!(container.diagnoses[0].id, Diagnosis::ContainerPathNotFound);
    assert_eq!(container.diagnoses[1].id, Diagnosis::NoTargetPort);
}

#[test]
fn a_success_is_ok() {
    let report = explain(&captured(Some(Hop::Pool), Some(200), "{}", None), NOW);

    assert_eq!(ranked(&report), [("ok", Confidence::Medium)]);
}
