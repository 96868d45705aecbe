//! Secrets never leak: tokens, identity headers, client secrets and a caller's credentials appear in
//! no artifact of the suite (reports, JSON, snapshots, backend output, backend answers).

use session_pool_harness::{Hop, Normalizer, Outcome, Scenario};

use crate::helpers::{root, runner};

/// A raw JWT: `eyJ` (base64 of `{"`) followed by two more dot-separated base64url parts.
fn holds_raw_jwt(text: &str) -> bool {
    text.match_indices("eyJ").any(|(at, _)| {
        let token: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            .collect();
        token.split('.').filter(|part| !part.is_empty()).count() >= 3
    })
}

#[tokio::test]
async fn no_secret_appears_in_any_artifact_of_the_suite() {
    let scenarios = Scenario::load_all(&[root("scenarios")]).unwrap();
    let outcomes = runner().run_all(scenarios, 2).await;
    let snapshots: Vec<String> = std::fs::read_dir(root("tests/harness/snapshots"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    let (mut artifacts_checked, mut secrets_checked) = (0, 0);
    for outcome in &outcomes {
        let artifacts = [
            outcome.report_text(),
            Outcome::report_json(std::slice::from_ref(outcome)).to_string(),
            serde_json::to_string(&outcome.exchanges).unwrap(),
            Normalizer::new(&outcome.endpoints).outcome(outcome).to_string(),
            outcome.backend_output.join("\n"),
            Outcome::report_html(std::slice::from_ref(outcome), 0),
            Outcome::report_markdown(std::slice::from_ref(outcome), 0),
        ];
        for artifact in artifacts.iter().chain(&snapshots) {
            artifacts_checked += 1;
            assert!(!holds_raw_jwt(artifact), "{}: a raw JWT in an artifact", outcome.name);
            for secret in outcome.secrets.iter().filter(|s| s.len() >= 8) {
                secrets_checked += 1;
                assert!(
                    !artifact.contains(secret.as_str()),
                    "{}: secret {:.4}… leaked",
                    outcome.name,
                    secret
                );
            }
        }
    }
    println!(
        "secrets: {} runs, {artifacts_checked} artifacts and {secrets_checked} secret checks, 0 leaks",
        outcomes.len()
    );
}

#[tokio::test]
async fn the_backend_never_forwards_the_callers_authorization() {
    let scenario =
        Scenario::load(root("scenarios/caller-authorization-not-forwarded.toml")).unwrap();

    let outcome = runner().run(&scenario).await;

    assert!(outcome.passed, "{:?}", outcome.failures);
    let pool =
        outcome.exchanges.iter().find(|e| e.to == Hop::Pool).expect("the backend called the pool");
    let claims = pool.bearer_claims().expect("with a JWT, not the caller's opaque token");
    assert_eq!(
        claims["oid"],
        scenario.world().principal_id_of(session_pool_harness::world::SYSTEM_ASSIGNED).unwrap(),
        "the backend's own identity"
    );
    let downstream = serde_json::to_string(
        &outcome.exchanges.iter().filter(|e| e.from != Hop::Client).collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(!downstream.contains("caller-token"), "the caller's credential went past the backend");
}

#[test]
fn the_jwt_detector_finds_tokens_and_ignores_prose() {
    let token =
        session_pool_harness::tokens::TokenIssuer::test_key().mint(&serde_json::json!({"a": 1}));
    assert!(holds_raw_jwt(&format!("x {token} y")));
    assert!(!holds_raw_jwt("eyJ alone, eyJhbGc.only-two"));
}
