//! `run --format markdown`: a results table, then for each scenario that failed or whose run found
//! a cause, a mermaid `sequenceDiagram` of its exchanges with the diagnosis and the fix, as GitHub
//! renders them in a job summary (`$GITHUB_STEP_SUMMARY`, 1 MiB at most) or a pull-request comment
//! (65,536 characters at most). The whole stays under [`BUDGET`]: diagrams that do not fit are
//! counted, not cut.

use std::fmt::Write as _;

use super::sequence::{Event, Sequence};
use crate::catalogue::Diagnosis;
use crate::runner::Outcome;
use crate::text::{Medium, into_printable, printable};

/// Characters the report may take: under GitHub's 65,536 for a comment, with room to spare.
pub const BUDGET: usize = 60_000;

/// The Markdown report of a run.
pub fn markdown(outcomes: &[Outcome], total_ms: u128) -> String {
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let mut out = format!(
        "## session-pool-harness: {} scenarios, {passed} passed, {} failed ({total_ms} ms)\n\n",
        outcomes.len(),
        outcomes.len() - passed
    );
    out.push_str("| scenario | result | diagnosis | duration |\n|---|---|---|---|\n");
    for outcome in outcomes {
        let result = match (outcome.passed, outcome.substitutes().next().is_some()) {
            (false, _) => "❌ fail",
            // What ran passed; a reference part stood in for one of the team's.
            (true, true) => "✅ pass (with a stand-in)",
            (true, false) => "✅ pass",
        };
        let ids: Vec<String> = outcome.findings.iter().map(|f| format!("`{}`", f.id)).collect();
        let _ = writeln!(
            out,
            "| `{}` | {result} | {} | {} ms |",
            outcome.name,
            ids.join(", "),
            outcome.duration.as_millis()
        );
    }
    // Failed scenarios first, then those whose run named a cause.
    let worth_a_diagram = |o: &&Outcome| {
        !o.passed
            || o.findings.iter().any(|f| f.id != Diagnosis::Ok)
            || o.substitutes().next().is_some()
    };
    let mut shown: Vec<&Outcome> = outcomes.iter().filter(worth_a_diagram).collect();
    shown.sort_by_key(|o| o.passed);
    let mut omitted = 0;
    for outcome in shown {
        // Made printable before it is measured, so that the budget holds for what is written.
        let section = printable(&section(outcome), Medium::Terminal).into_owned();
        if out.len() + section.len() + 200 > BUDGET {
            omitted += 1;
            continue;
        }
        out.push('\n');
        out.push_str(&section);
    }
    if omitted > 0 {
        let _ = writeln!(
            out,
            "\n_{omitted} more diagram(s) left out to stay within GitHub's size limits: `run --format html` has them all._"
        );
    }
    // Printed to a terminal or shown by GitHub: controls a program printed are written visibly.
    into_printable(out, Medium::Terminal)
}

/// One scenario: heading, description, diagram, diagnosis and fix, failed expectations.
fn section(outcome: &Outcome) -> String {
    let mark = if outcome.passed { "🔎" } else { "❌" };
    let mut out = format!("### {mark} `{}`\n\n{}\n\n", outcome.name, outcome.description);
    if let Some(parts) = super::parts_line(outcome) {
        out.push_str(&format!("{parts}\n\n"));
    }
    out.push_str(&mermaid(&Sequence::of(&outcome.exchanges, &outcome.findings)));
    for finding in &outcome.findings {
        let at = match (finding.hop, finding.seq) {
            (Some(hop), Some(seq)) => format!(" at {hop} (#{seq})"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "\n**diagnosis** `{}`{at}: {}\n",
            finding.id,
            one_line(&finding.explanation)
        );
        let _ = writeln!(out, "**fix**\n\n```text\n{}\n```", finding.fix);
    }
    for failure in &outcome.failures {
        let _ = writeln!(out, "\n- ✗ {}", one_line(&failure.to_string()));
    }
    out
}

/// The mermaid diagram: a request arrow and an answer arrow per exchange; a refused answer is a
/// cross (`--x`), and the exchange a diagnosis names gets a note.
pub fn mermaid(sequence: &Sequence) -> String {
    let mut out = String::from("```mermaid\nsequenceDiagram\n");
    for hop in &sequence.participants {
        let _ = writeln!(out, "    participant {hop}");
    }
    for event in sequence.events() {
        match event {
            Event::Request(i) => {
                let arrow = &sequence.arrows[i];
                let request = escape(&format!("#{} {}", arrow.seq, arrow.request));
                let _ = writeln!(out, "    {}->>{}: {request}", arrow.from, arrow.to);
            }
            Event::Answer(i) => {
                let arrow = &sequence.arrows[i];
                let back = if arrow.refused { "--x" } else { "-->>" };
                let answer = escape(&short(&arrow.answer));
                let _ = writeln!(out, "    {}{back}{}: {answer}", arrow.to, arrow.from);
                if arrow.diagnosed {
                    let _ = writeln!(
                        out,
                        "    Note over {}: diagnosed here (#{})",
                        arrow.to, arrow.seq
                    );
                }
            }
        }
    }
    out.push_str("```\n");
    out
}

/// Mermaid message text: `;` ends a statement and `#` starts an entity, so both become entities;
/// `<` and `>` too, so that nothing is read as HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn short(text: &str) -> String {
    crate::text::excerpt(text, 90)
}

fn one_line(text: &str) -> String {
    crate::text::excerpt(text, 600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_text_cannot_end_a_statement_or_open_an_entity() {
        assert_eq!(escape("a;b #1 <x>"), "a#59;b #35;1 #lt;x#gt;");
    }
}
