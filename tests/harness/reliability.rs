//! Reliability: the real backend process under bad input, and the harness under faults.

use session_pool_harness::Scenario;
use session_pool_harness::transcript::Recorder;

use crate::helpers::{root, runner};

/// Bodies that must each get a 4xx with a `message`, sent to the running backend process.
fn bad_requests() -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    let json = Some("application/json");
    vec![
        ("invalid JSON", json, b"{".to_vec()),
        ("not UTF-8", json, b"{\"language\":\"\xff\xfe\"}".to_vec()),
        ("wrong content type", Some("text/plain"), br#"{"language":"python","version":"3","files":[{"content":"1"}]}"#.to_vec()),
        ("no content type", None, br#"{"language":"python","version":"3","files":[{"content":"1"}]}"#.to_vec()),
        ("missing files", json, br#"{"language":"python","version":"3"}"#.to_vec()),
        ("empty files", json, br#"{"language":"python","version":"3","files":[]}"#.to_vec()),
        ("path in language", json, br#"{"language":"../../admin","version":"3","files":[{"content":"1"}]}"#.to_vec()),
        ("query in language", json, br#"{"language":"python?identifier=victim","version":"3","files":[{"content":"1"}]}"#.to_vec()),
        ("query in version", json, br#"{"language":"python","version":"3&api-version=x","files":[{"content":"1"}]}"#.to_vec()),
        ("huge body", json, vec![b' '; 2 * 1024 * 1024]),
    ]
}

#[tokio::test]
async fn the_backend_refuses_every_bad_request_with_a_message_and_stays_up() {
    // Arrange: the reference backend in the happy-path world.
    let scenario = Scenario::load(root("scenarios/happy-path.toml")).unwrap();
    let stage = runner().start(&scenario, &Recorder::new()).await.unwrap();
    let url = format!("{}/api/v2/execute", stage.backend().unwrap().url());
    let client = reqwest::Client::new();

    // Act + Assert: each bad request is a 4xx with a Piston-style message.
    let cases = bad_requests();
    for (name, content_type, body) in &cases {
        let mut request = client.post(&url).body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", *ct);
        }
        let answer = request.send().await.unwrap_or_else(|e| panic!("{name}: the backend must answer: {e}"));
        let status = answer.status().as_u16();
        let body: serde_json::Value = answer.json().await.unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert!((400..500).contains(&status), "{name}: {status} {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {body}");
    }
    let good = serde_json::json!({"language": "python", "version": "3.10", "files": [{"content": "print(42)"}]});
    let after: serde_json::Value = client.post(&url).json(&good).send().await.unwrap().json().await.unwrap();
    stage.stop().await;
    assert_eq!(after["run"]["stdout"], "42\n", "the backend still serves after the bad requests");
    println!("reliability: {} bad requests refused over HTTP by the backend process, then a good one served", cases.len());
}
