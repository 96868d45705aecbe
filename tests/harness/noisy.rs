//! Whatever a backend prints: colour codes, control bytes, a line that is not UTF-8, its own token and
//! the identity header. Every report stays well-formed for what it claims to be, prints nothing raw
//! to a terminal, and holds neither the token nor the header.

use session_pool_harness::{Normalizer, Outcome, Scenario};

use crate::helpers::{extending, root, runner, unique};

/// XML 1.0's `Char` production: what may appear in a document at all.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Control characters a terminal would act on (everything but tab and newline).
fn raw_controls(text: &str) -> Vec<char> {
    text.chars().filter(|c| c.is_control() && !matches!(c, '\t' | '\n')).collect()
}

/// Parse `xml` with quick-xml to the end, and check every character against XML's `Char`.
fn check_xml(xml: &str) -> Result<(), String> {
    let forbidden: Vec<char> = xml.chars().filter(|c| !is_xml_char(*c)).collect();
    if !forbidden.is_empty() {
        return Err(format!("characters XML forbids: {forbidden:?}"));
    }
    let mut reader = quick_xml::Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) => return Ok(()),
            Ok(_) => {}
            Err(e) => return Err(format!("not well-formed at {}: {e}", reader.buffer_position())),
        }
    }
}

/// The noisy backend in the happy path's world: its answers fail the steps, so every report shows
/// its output.
async fn noisy_outcome() -> Outcome {
    let dir = std::env::temp_dir().join(format!("sph-noisy-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let app = root("fixtures/noisy-backend/app.py");
    let rest = format!(
        "[backend.process]\ncommand = [\"{{python}}\", {:?}]\nready_path = \"/\"\n",
        app.display().to_string()
    );
    std::fs::write(dir.join("noisy.toml"), extending("scenarios/happy-path.toml", &rest)).unwrap();
    let scenario = Scenario::load(dir.join("noisy.toml")).unwrap();
    let outcome = runner().run(&scenario).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

#[tokio::test]
async fn a_backend_printing_controls_its_token_and_its_identity_header_leaves_every_report_well_formed_and_secret_free()
 {
    let outcome = noisy_outcome().await;
    let one = std::slice::from_ref(&outcome);

    let text = outcome.report_text();
    let json = Outcome::report_json(one).to_string();
    let junit = Outcome::report_junit(one, 0.0);
    let html = Outcome::report_html(one, 0);
    let markdown = Outcome::report_markdown(one, 0);
    let normalized = Normalizer::new(&outcome.endpoints).outcome(&outcome).to_string();

    assert!(!outcome.passed, "the backend answers 500: {:?}", outcome.failures);
    let output = outcome.backend_output.join("\n");
    assert!(
        output.contains("after the bad line"),
        "nothing after a non-UTF-8 line is lost: {output}"
    );
    assert!(output.contains("got token [JWT aud=https://dynamicsessions.io"), "{output}");
    assert!(output.contains("identity header [redacted]"), "{output}");
    let header = outcome.secrets.first().expect("the run's identity header is among its secrets");
    let reports = [
        ("text", &text),
        ("json", &json),
        ("junit", &junit),
        ("html", &html),
        ("markdown", &markdown),
        ("normalized", &normalized),
    ];
    for (format, report) in reports {
        assert!(!report.contains("eyJ"), "{format}: a raw JWT\n{report}");
        assert!(!report.contains(header.as_str()), "{format}: the identity header\n{report}");
        for secret in outcome.secrets.iter().filter(|s| s.len() >= 8) {
            assert!(!report.contains(secret.as_str()), "{format}: secret {secret:.4}…");
        }
    }
    for (format, report) in [("text", &text), ("markdown", &markdown)] {
        assert_eq!(raw_controls(report), Vec::<char>::new(), "{format}:\n{report}");
        assert!(report.contains("\\x1b[31mERROR\\x1b[0m"), "{format} shows the output, escaped");
    }
    check_xml(&junit).unwrap_or_else(|e| panic!("junit: {e}\n{junit}"));
    assert!(junit.contains("\\x1b[31mERROR"), "{junit}");
    let in_html: Vec<char> =
        html.chars().filter(|c| !is_xml_char(*c) || ('\u{7f}'..='\u{9f}').contains(c)).collect();
    assert!(in_html.is_empty(), "html: {in_html:?}");
    assert!(html.contains("\\x1b[31mERROR"), "the html shows the output, escaped");
}

#[tokio::test]
async fn a_session_container_that_prints_a_token_as_it_dies_is_reported_with_the_tokens_claims_only()
 {
    let token = session_pool_harness::tokens::TokenIssuer::test_key()
        .mint(&serde_json::json!({"aud": "https://dynamicsessions.io", "oid": "leaked-oid"}));
    let dir = std::env::temp_dir().join(format!("sph-noisy-container-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let rest = format!(
        "[world.pool.container]\ncommand = [\"sh\", \"-c\", \"echo 'bearer {token}' >&2; exit 1\"]\n\n[expect]\ndiagnoses = [\"container-not-started\"]\n"
    );
    std::fs::write(dir.join("dies.toml"), extending("scenarios/bases/coding-engine.toml", &rest))
        .unwrap();
    let scenario = Scenario::load(dir.join("dies.toml")).unwrap();

    let outcome = runner().run(&scenario).await;

    let _ = std::fs::remove_dir_all(&dir);
    assert!(outcome.passed, "{:?}", outcome.failures);
    let explanation = &outcome.findings[0].explanation;
    assert!(
        explanation.contains("stderr: bearer [JWT aud=https://dynamicsessions.io oid=leaked-oid]"),
        "{explanation}"
    );
    for report in
        [outcome.report_text(), Outcome::report_json(std::slice::from_ref(&outcome)).to_string()]
    {
        assert!(!report.contains("eyJ"), "{report}");
    }
}

#[test]
fn the_xml_check_refuses_a_control_character_and_a_broken_document() {
    assert!(check_xml("<a>\u{1b}[31m</a>").is_err());
    assert!(check_xml("<a><b></a>").is_err());
    assert_eq!(check_xml("<a>\tok\r\n</a>"), Ok(()));
}
