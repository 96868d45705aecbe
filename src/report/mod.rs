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
use crate::text::{Medium, into_printable};

/// The text report of one scenario, safe to print to a terminal (controls written visibly).
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
    if let Some(line) = parts_line(outcome) {
        let _ = writeln!(out, "  {line}");
    }
    for exchange in &outcome.exchanges {
        let _ = writeln!(out, "  {}", exchange);
    }
    for loss in &outcome.losses {
        let _ = writeln!(out, "  not shown: {loss}");
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
    terminal_safe(out)
}

/// What a program printed may hold escape sequences and control bytes: written visibly, so that
/// nothing raw reaches the terminal the report is printed to.
fn terminal_safe(report: String) -> String {
    into_printable(report, Medium::Terminal)
}

/// `parts: backend: your image …; session container: the reference adapter, in place of …`, when
/// the world names any part of the team's (an image, a program): which parts are theirs and which
/// reference part stands in for one of theirs. `None` when every part is the reference one and the
/// world names none of theirs.
pub fn parts_line(outcome: &Outcome) -> Option<String> {
    let named = outcome.players.iter().any(|p| p.own || p.in_place_of.is_some());
    let players: Vec<String> = outcome.players.iter().map(ToString::to_string).collect();
    named.then(|| format!("parts: {}", players.join("; ")))
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
    terminal_safe(out)
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
                "parts": o.players,
                "substitutes": o.substitutes().collect::<Vec<_>>(),
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

    /// The JUnit XML `run --format junit` prints (`total_secs`: how long the run took).
    pub fn report_junit(outcomes: &[Outcome], total_secs: f64) -> String {
        junit::junit(outcomes, total_secs)
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::runner::Failure;

    /// A failed outcome whose backend printed colour codes, a bell, NUL, a C1 CSI and a noncharacter.
    fn noisy_outcome() -> Outcome {
        let noise = "\x1b[31mred\x1b[0m bell\x07 nul\x00 csi\u{9b}2J \u{fffe}";
        Outcome {
            name: "noisy".into(),
            file: "scenarios/noisy.toml".into(),
            description: "a backend that prints controls".into(),
            passed: false,
            duration: Duration::from_millis(3),
            steps: Vec::new(),
            exchanges: Vec::new(),
            findings: Vec::new(),
            failures: vec![Failure::Run(format!("the backend exited; its last output: {noise}"))],
            endpoints: Vec::new(),
            backend_output: vec![noise.to_owned(), format!("stderr: {noise}")],
            secrets: Vec::new(),
            players: Vec::new(),
            losses: Vec::new(),
        }
    }

    /// XML 1.0's `Char` production: what may appear in a document at all.
    fn is_xml_char(c: char) -> bool {
        matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
    }

    #[test]
    fn the_text_report_of_a_noisy_backend_holds_no_raw_control_character() {
        let outcome = noisy_outcome();

        let text = text(&outcome);

        let raw: Vec<char> =
            text.chars().filter(|c| c.is_control() && !matches!(c, '\t' | '\n')).collect();
        assert!(raw.is_empty(), "raw controls {raw:?} in {text}");
        assert!(
            text.contains("\\x1b[31mred\\x1b[0m bell\\x07 nul\\x00 csi\\x9b2J \\u{fffe}"),
            "{text}"
        );
    }

    #[test]
    fn the_junit_report_of_a_noisy_backend_is_well_formed_xml() {
        let outcome = noisy_outcome();

        let xml = junit::junit(std::slice::from_ref(&outcome), 0.0);

        let forbidden: Vec<char> = xml.chars().filter(|c| !is_xml_char(*c)).collect();
        assert!(forbidden.is_empty(), "characters XML forbids: {forbidden:?}");
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut texts = String::new();
        loop {
            match reader.read_event().expect("well-formed XML") {
                quick_xml::events::Event::Eof => break,
                quick_xml::events::Event::Text(t) => texts.push_str(&t.decode().unwrap()),
                _ => {}
            }
        }
        assert!(texts.contains("\\x1b[31mred"), "the output is there, escaped: {texts}");
    }

    #[test]
    fn the_html_and_markdown_reports_of_a_noisy_backend_hold_no_forbidden_character() {
        let outcome = noisy_outcome();

        let html = html::html(std::slice::from_ref(&outcome), 0);
        let markdown = markdown::markdown(std::slice::from_ref(&outcome), 0);

        let in_html: Vec<char> = html
            .chars()
            .filter(|c| !is_xml_char(*c) || ('\u{7f}'..='\u{9f}').contains(c))
            .collect();
        assert!(in_html.is_empty(), "{in_html:?}");
        assert!(html.contains("\\x1b[31mred"), "the backend output is shown, escaped");
        let in_markdown: Vec<char> =
            markdown.chars().filter(|c| c.is_control() && !matches!(c, '\t' | '\n')).collect();
        assert!(in_markdown.is_empty(), "{in_markdown:?}");
    }
}
