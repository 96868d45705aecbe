//! Reports of a run: readable text (one line per hop, the diagnosis, the fix), JSON, JUnit XML
//! ([`junit`](mod@junit)), an HTML page with a sequence diagram per scenario ([`html`](mod@html)) or
//! Markdown with mermaid diagrams for CI summaries ([`markdown`](mod@markdown)).

pub mod html;
pub mod junit;
pub mod markdown;
pub mod sequence;

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::runner::Outcome;

/// The text report of one scenario.
pub fn text(outcome: &Outcome) -> String {
    let mut out = String::new();
    let verdict = if outcome.passed { "PASS" } else { "FAIL" };
    let _ = writeln!(
        out,
        "{verdict} {} ({}) {} ms",
        outcome.name,
        outcome.file.display(),
        outcome.duration.as_millis()
    );
    let _ = writeln!(out, "  {}", outcome.description);
    for exchange in &outcome.exchanges {
        let _ = writeln!(out, "  {}", exchange);
    }
    for finding in &outcome.findings {
        let at = match (finding.hop, finding.seq) {
            (Some(hop), Some(seq)) => format!(" at {hop} (#{seq})"),
            _ => String::new(),
        };
        let _ = writeln!(out, "  diagnosis: {}{at}: {}", finding.id, finding.explanation);
        let _ = writeln!(out, "  fix: {}", finding.fix);
    }
    for failure in &outcome.failures {
        let _ = writeln!(out, "  ✗ {failure}");
    }
    if !outcome.passed && !outcome.backend_output.is_empty() {
        let _ = writeln!(out, "  backend output (last lines):");
        for line in outcome.backend_output.iter().rev().take(20).rev() {
            let _ = writeln!(out, "    {line}");
        }
    }
    out
}

/// `export NAME='value'` lines for a POSIX shell.
pub fn export_lines(env: &[(String, String)]) -> Vec<String> {
    env.iter().map(|(k, v)| format!("export {k}='{}'", v.replace('\'', "'\\''"))).collect()
}

/// The transcript and diagnosis of a `serve` session.
pub fn served_text(served: &crate::runner::ServeSession) -> String {
    let mut out = format!("# transcript ({} exchanges)\n", served.exchanges.len());
    for loss in served.losses.lines() {
        let _ = writeln!(out, "  not shown: {loss}");
    }
    if served.exchanges.is_empty() && served.losses.is_empty() {
        out.push_str(
            "  no request reached the stand-ins: was the backend started with the exports above?\n",
        );
        return out;
    }
    for exchange in &served.exchanges {
        let _ = writeln!(out, "  {}", exchange);
    }
    for finding in &served.findings {
        let _ = writeln!(out, "  diagnosis: {}: {}", finding.id, finding.explanation);
        let _ = writeln!(out, "  fix: {}", finding.fix);
    }
    out
}

/// The summary: `scenarios: N passed, M failed` (a line CI tools recognise), then the time.
pub fn summary(outcomes: &[Outcome], total_ms: u128) -> String {
    let passed = outcomes.iter().filter(|o| o.passed).count();
    format!(
        "scenarios: {passed} passed, {} failed\n{} scenarios in {total_ms} ms",
        outcomes.len() - passed,
        outcomes.len()
    )
}

/// The JSON report of a run:
/// `{"scenarios":[{"name","file","passed","duration_ms","diagnoses","failures","steps":[{"name","status","duration_ms"}],
/// "exchanges":[{"from","to","method","path","status"}]}],"passed","failed"}`.
pub fn json(outcomes: &[Outcome]) -> Value {
    let scenarios: Vec<Value> = outcomes
        .iter()
        .map(|o| {
            json!({
                "name": o.name,
                "file": o.file.display().to_string(),
                "passed": o.passed,
                "duration_ms": o.duration.as_millis() as u64,
                "diagnoses": o.findings,
                "failures": o.failures,
                "steps": o.steps.iter().map(|s| json!({ "name": s.name, "status": s.status, "duration_ms": s.duration.as_millis() as u64 })).collect::<Vec<_>>(),
                "exchanges": o.exchanges.iter().map(|e| json!({ "from": e.from, "to": e.to, "method": e.method, "path": e.path, "status": e.status })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let passed = outcomes.iter().filter(|o| o.passed).count();
    json!({ "scenarios": scenarios, "passed": passed, "failed": outcomes.len() - passed })
}

impl Outcome {
    /// The report `run` prints for it: the transcript, one line per hop, the diagnosis and its fix.
    pub fn report_text(&self) -> String {
        text(self)
    }

    /// The JSON report `run --format json` prints for these outcomes.
    pub fn report_json(outcomes: &[Outcome]) -> serde_json::Value {
        json(outcomes)
    }

    /// The self-contained HTML page `run --format html` prints: an index and a sequence diagram per
    /// scenario (`total_ms`: how long the run took).
    pub fn report_html(outcomes: &[Outcome], total_ms: u128) -> String {
        html::html(outcomes, total_ms)
    }

    /// The Markdown `run --format markdown` prints: a table and mermaid diagrams, within GitHub's
    /// size limits for a job summary or a pull-request comment.
    pub fn report_markdown(outcomes: &[Outcome], total_ms: u128) -> String {
        markdown::markdown(outcomes, total_ms)
    }
}
