//! Secrets never leak: tokens, identity headers, client secrets and a caller's credentials appear in
//! no artifact of the suite (every report format, the normalised snapshot, the transcript, backend
//! output and answers) nor in the committed snapshots.

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

/// The artifacts of one run, as `run --format …` and the snapshot test write them, with their names.
fn artifacts_of(outcome: &Outcome) -> [(&'static str, String); 8] {
    let one = std::slice::from_ref(outcome);
    [
        ("text", outcome.report_text()),
        ("JSON", Outcome::report_json(one).to_string()),
        ("JUnit", Outcome::report_junit(one, 0.0)),
        ("HTML", Outcome::report_html(one, 0)),
        ("Markdown", Outcome::report_markdown(one, 0)),
        ("normalised snapshot", Normalizer::new(&outcome.endpoints).outcome(outcome).to_string()),
        ("transcript JSON", serde_json::to_string(&outcome.exchanges).unwrap()),
        ("backend output", outcome.backend_output.join("\n")),
    ]
}

#[tokio::test]
async fn no_secret_appears_in_any_artifact_of_the_suite() {
    let scenarios = Scenario::load_all(&[root("scenarios")]).unwrap();
    let outcomes = runner().run_all(scenarios, 2).await;
    let (mut artifacts_checked, mut secret_checks) = (0, 0);
    for outcome in &outcomes {
        for (format, artifact) in artifacts_of(outcome) {
            artifacts_checked += 1;
            assert!(!holds_raw_jwt(&artifact), "{}: a raw JWT in its {format}", outcome.name);
            for secret in outcome.secrets.iter().filter(|s| s.len() >= 8) {
                secret_checks += 1;
                assert!(
                    !artifact.contains(secret.as_str()),
                    "{}: secret {:.4}… leaked into its {format}",
                    outcome.name,
                    secret
                );
            }
        }
    }
    // The committed snapshots are not artifacts of these runs: checked once each, counted apart,
    // against every secret of every run (the scenarios' fixed secrets are the ones that could be
    // there; an identity header is new each run).
    let secrets: std::collections::BTreeSet<&str> = outcomes
        .iter()
        .flat_map(|o| o.secrets.iter().map(String::as_str))
        .filter(|s| s.len() >= 8)
        .collect();
    let (mut snapshots, mut snapshot_checks) = (0, 0);
    for entry in std::fs::read_dir(root("tests/harness/snapshots")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "snap") {
            continue;
        }
        let snapshot = std::fs::read_to_string(&path).unwrap();
        snapshots += 1;
        assert!(!holds_raw_jwt(&snapshot), "{}: a raw JWT", path.display());
        for secret in &secrets {
            snapshot_checks += 1;
            assert!(!snapshot.contains(secret), "{}: secret {secret:.4}… leaked", path.display());
        }
    }
    let formats = artifacts_of(&outcomes[0]).map(|(format, _)| format).join(", ");
    println!(
        "secrets: {} runs produced {artifacts_checked} artifacts ({formats}), each checked for a raw JWT and \
         for its run's secrets ({secret_checks} artifact-secret pairs), 0 leaks; apart from them, \
         {snapshots} committed snapshots checked against the {} distinct secrets of all runs \
         ({snapshot_checks} snapshot-secret pairs), 0 leaks",
        outcomes.len(),
        secrets.len()
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
