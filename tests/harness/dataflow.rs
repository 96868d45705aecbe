//! Data flow on real processes: a session container that gets the exit code wrong is named
//! `output-lost` with the code field on both sides, whether or not the program printed anything.

use session_pool_harness::{Hop, Outcome, Scenario};

use crate::helpers::{extending, root, runner, unique};

/// The shared world with `fixtures/exit-code-container` as the session container, answering
/// `EXIT_CODE_ANSWER = answer`, and `rest` appended.
async fn run_with_container(answer: &str, rest: &str) -> Outcome {
    let dir = std::env::temp_dir().join(format!("sph-exit-code-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let app = root("fixtures/exit-code-container/app.py").display().to_string();
    let container = format!(
        "[world.pool.container]\ncommand = [\"{{python}}\", {app:?}]\nenv = {{ EXIT_CODE_ANSWER = {answer:?} }}\nready_path = \"/health\"\n"
    );
    let source = extending("scenarios/bases/coding-engine.toml", &format!("{container}{rest}"));
    std::fs::write(dir.join("exit-code.toml"), source).unwrap();
    let scenario = Scenario::load(dir.join("exit-code.toml")).unwrap();
    let outcome = runner().run(&scenario).await;
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

#[tokio::test]
async fn a_container_answering_code_or_one_turns_success_into_failure_and_is_named_output_lost() {
    let rest = r#"
[[steps]]
name = "print(42)"
request.execute = { language = "python", version = "3.10", code = "print(42)" }
expect = { status = 200, stdout = "42\n", body_contains = ['"code":1'] }

[expect]
diagnoses = ["output-lost"]
"#;

    let outcome = run_with_container("or-one", rest).await;

    assert!(outcome.passed, "{:?}\n{}", outcome.failures, outcome.report_text());
    let finding = &outcome.findings[0];
    assert_eq!(finding.hop, Some(Hop::Container), "{}", finding.explanation);
    assert!(
        finding.explanation.starts_with(
            "Piston produced run.code = 0: the container answered 200 with run.code = 1"
        ),
        "{}",
        finding.explanation
    );
}

#[tokio::test]
async fn an_empty_output_whose_exit_code_3_reaches_the_client_as_0_is_output_lost() {
    let rest = r#"
[[world.piston.programs]]
code = "import sys; sys.exit(3)"
exit_code = 3

[[steps]]
name = "exit 3"
request.execute = { language = "python", version = "3.10", code = "import sys; sys.exit(3)" }
expect = { status = 200, stdout = "", body_contains = ['"code":0'] }

[expect]
diagnoses = ["output-lost"]
"#;

    let outcome = run_with_container("zero", rest).await;

    assert!(outcome.passed, "{:?}\n{}", outcome.failures, outcome.report_text());
    let finding = &outcome.findings[0];
    assert_eq!(finding.hop, Some(Hop::Container), "{}", finding.explanation);
    assert!(
        finding.explanation.contains("Piston produced run.code = 3")
            && finding.explanation.contains("with run.code = 0"),
        "{}",
        finding.explanation
    );
}
