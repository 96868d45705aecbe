//! `run --format html`: one self-contained page (no script, no external style, font or image) with an
//! index of the scenarios and, per scenario, its sequence diagram as inline SVG, the diagnosis, the
//! fix, the failed expectations and the transcript. It shows what the text report shows, from the
//! same redacted exchanges: tokens appear as their claims (on hover over their arrow), secrets never.
//! Sections off screen are not rendered until scrolled to (`content-visibility: auto`), so a report of
//! hundreds of scenarios opens quickly.

use std::fmt::Write as _;

use quick_xml::escape::escape;

use super::sequence::Sequence;
use crate::diagnosis::Finding;
use crate::runner::{Outcome, ServeSession};
use crate::text::{Medium, into_printable};
use crate::transcript::Exchange;

/// Width of one participant's column, and the diagram's margins, in SVG units.
const COLUMN: usize = 190;
const MARGIN: usize = 20;
/// Height of the participants' heads and of one exchange's row.
const HEAD: usize = 44;
const ROW: usize = 46;

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1f2328; background: #fff; }
section.scenario { content-visibility: auto; contain-intrinsic-size: auto 900px; }
h1 { font-size: 20px; } h2 { font-size: 17px; margin-top: 36px; border-top: 1px solid #d0d7de; padding-top: 16px; }
table.index { border-collapse: collapse; } table.index td, table.index th { border: 1px solid #d0d7de; padding: 3px 8px; text-align: left; }
.result-pass, .result-served { color: #1a7f37; font-weight: 600; } .result-fail { color: #cf222e; font-weight: 600; }
code, pre { font: 12.5px/1.4 ui-monospace, monospace; }
pre { background: #f6f8fa; padding: 8px; overflow-x: auto; white-space: pre-wrap; }
pre.fix { user-select: all; border-left: 4px solid #0969da; }
.finding { border-left: 4px solid #bf8700; padding-left: 10px; }
.failures li { color: #cf222e; }
svg.sequence { display: block; max-width: 100%; height: auto; background: #fff; }
svg .head rect { fill: #ddf4ff; stroke: #0969da; } svg .head text { font: 600 13px system-ui, sans-serif; text-anchor: middle; }
svg .lifeline { stroke: #8c959f; stroke-dasharray: 4 4; }
svg .arrow line { stroke: #1f2328; stroke-width: 1.5; }
svg .arrow text { font: 11.5px ui-monospace, monospace; }
svg .arrow .answer { fill: #1a7f37; } svg .arrow.refused .answer { fill: #cf222e; }
svg .arrow.refused line { stroke: #cf222e; }
svg .arrow.diagnosed line { stroke-width: 4; } svg .diagnosed-mark { fill: #ffebe9; stroke: #cf222e; }
"#;

/// What one section of the page shows: a scenario's outcome, or a `serve` session.
struct Entry<'a> {
    name: &'a str,
    description: &'a str,
    /// `pass`, `fail` or `served`.
    result: &'static str,
    duration_ms: u128,
    exchanges: &'a [Exchange],
    findings: &'a [Finding],
    failures: Vec<String>,
    backend_output: &'a [String],
    /// Which parts were the team's own and which reference part stood in for one of theirs.
    parts: Option<String>,
}

impl<'a> Entry<'a> {
    fn of(outcome: &'a Outcome) -> Self {
        Self {
            name: &outcome.name,
            description: &outcome.description,
            result: if outcome.passed { "pass" } else { "fail" },
            duration_ms: outcome.duration.as_millis(),
            exchanges: &outcome.exchanges,
            findings: &outcome.findings,
            failures: outcome.failures.iter().map(ToString::to_string).collect(),
            backend_output: &outcome.backend_output,
            parts: super::parts_line(outcome),
        }
    }
}

/// The HTML report of a run.
pub fn html(outcomes: &[Outcome], total_ms: u128) -> String {
    let passed = outcomes.iter().filter(|o| o.passed).count();
    let title = format!(
        "session-pool-harness: {} scenarios, {passed} passed, {} failed ({total_ms} ms)",
        outcomes.len(),
        outcomes.len() - passed
    );
    page(&title, &outcomes.iter().map(Entry::of).collect::<Vec<_>>())
}

/// The HTML report of a `serve` session of scenario `name`.
pub fn served(name: &str, description: &str, session: &ServeSession, total_ms: u128) -> String {
    let entry = Entry {
        name,
        description,
        result: "served",
        duration_ms: total_ms,
        exchanges: &session.exchanges,
        findings: &session.findings,
        failures: Vec::new(),
        backend_output: &[],
        parts: None,
    };
    let title =
        format!("session-pool-harness serve: {name} ({} exchanges)", session.exchanges.len());
    page(&title, &[entry])
}

fn page(title: &str, entries: &[Entry<'_>]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        escape(title),
        escape(title)
    );
    out.push_str("<table class=\"index\"><thead><tr><th>scenario</th><th>result</th><th>diagnosis</th><th>duration</th></tr></thead><tbody>\n");
    for (i, entry) in entries.iter().enumerate() {
        let ids: Vec<String> =
            entry.findings.iter().map(|f| format!("<code>{}</code>", f.id)).collect();
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#s{i}\">{}</a></td><td class=\"result-{}\">{}</td><td>{}</td><td>{} ms</td></tr>",
            escape(entry.name),
            entry.result,
            entry.result.to_uppercase(),
            ids.join(", "),
            entry.duration_ms
        );
    }
    out.push_str("</tbody></table>\n");
    for (i, entry) in entries.iter().enumerate() {
        section(&mut out, i, entry);
    }
    out.push_str("</body></html>\n");
    // Escaping covers markup, not control characters: what a program printed may hold ESC or NUL,
    // which HTML (like XML) does not allow. Written visibly instead (`\x1b`).
    into_printable(out, Medium::Markup)
}

fn section(out: &mut String, index: usize, entry: &Entry<'_>) {
    let _ = writeln!(
        out,
        "<section class=\"scenario\" id=\"s{index}\" data-scenario=\"{}\" data-result=\"{}\">\n<h2>{} <span class=\"result-{}\">{}</span></h2>\n<p>{}</p>",
        escape(entry.name),
        entry.result,
        escape(entry.name),
        entry.result,
        entry.result.to_uppercase(),
        escape(entry.description)
    );
    if let Some(parts) = &entry.parts {
        let _ = writeln!(out, "<p class=\"parts\">{}</p>", escape(parts));
    }
    let sequence = Sequence::of(entry.exchanges, entry.findings);
    out.push_str(&svg(&sequence));
    for finding in entry.findings {
        let at = match (finding.hop, finding.seq) {
            (Some(hop), Some(seq)) => format!(" at {hop} (#{seq})"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "<div class=\"finding\" data-diagnosis=\"{}\"><h3>diagnosis: <code>{}</code>{}</h3><p>{}</p><p>fix:</p><pre class=\"fix\">{}</pre></div>",
            finding.id,
            finding.id,
            escape(&at),
            escape(&finding.explanation),
            escape(&finding.fix)
        );
    }
    if !entry.failures.is_empty() {
        out.push_str("<ul class=\"failures\">");
        for failure in &entry.failures {
            let _ = write!(out, "<li>{}</li>", escape(failure));
        }
        out.push_str("</ul>\n");
    }
    let transcript: Vec<String> = entry.exchanges.iter().map(ToString::to_string).collect();
    let _ = writeln!(
        out,
        "<details><summary>transcript ({} exchanges)</summary><pre>{}</pre></details>",
        transcript.len(),
        escape(transcript.join("\n"))
    );
    if entry.result == "fail" && !entry.backend_output.is_empty() {
        let tail: Vec<&String> = entry.backend_output.iter().rev().take(20).rev().collect();
        let lines: Vec<&str> = tail.iter().map(|l| l.as_str()).collect();
        let _ = writeln!(
            out,
            "<details><summary>backend output (last lines)</summary><pre>{}</pre></details>",
            escape(lines.join("\n"))
        );
    }
    out.push_str("</section>\n");
}

/// The sequence diagram: a head and a dashed lifeline per participant, an arrow per exchange with
/// the request above and the answer below; refusals red, the exchange a diagnosis names thick and
/// framed. Hovering an arrow shows its token's claims (`<title>`).
pub fn svg(sequence: &Sequence) -> String {
    let columns = sequence.participants.len().max(1);
    let width = MARGIN * 2 + COLUMN * columns;
    let height = HEAD + ROW * sequence.arrows.len() + MARGIN * 2;
    let x = |column: usize| MARGIN + COLUMN * column + COLUMN / 2;
    let mut out = format!(
        "<svg class=\"sequence\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" data-participants=\"{}\" data-arrows=\"{}\">\n",
        sequence.participants.len(),
        sequence.arrows.len()
    );
    out.push_str("<defs><marker id=\"head\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"10\" markerHeight=\"10\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\"/></marker></defs>\n");
    for (column, hop) in sequence.participants.iter().enumerate() {
        let cx = x(column);
        let _ = writeln!(
            out,
            "<g class=\"head\" data-hop=\"{hop}\"><rect x=\"{}\" y=\"{MARGIN}\" width=\"{}\" height=\"28\" rx=\"4\"/><text x=\"{cx}\" y=\"{}\">{hop}</text><line class=\"lifeline\" x1=\"{cx}\" y1=\"{}\" x2=\"{cx}\" y2=\"{}\"/></g>",
            cx - COLUMN / 2 + 12,
            COLUMN - 24,
            MARGIN + 19,
            MARGIN + 28,
            height - MARGIN / 2
        );
    }
    for (row, arrow) in sequence.arrows.iter().enumerate() {
        let y = MARGIN + HEAD + ROW * row + ROW / 2;
        let (from, to) = (x(sequence.column(arrow.from)), x(sequence.column(arrow.to)));
        let tip = if to > from { to - 2 } else { to + 2 };
        let mut classes = String::from("arrow");
        if arrow.refused {
            classes.push_str(" refused");
        }
        if arrow.diagnosed {
            classes.push_str(" diagnosed");
        }
        let label_x = from.min(to) + from.abs_diff(to) / 2;
        let title = arrow
            .claims
            .as_ref()
            .map(|c| format!("<title>token claims: {}</title>", escape(c.to_string())))
            .unwrap_or_default();
        let status = arrow.status.map_or_else(|| "none".to_owned(), |s| s.to_string());
        let _ = write!(
            out,
            "<g class=\"{classes}\" data-seq=\"{}\" data-from=\"{}\" data-to=\"{}\" data-status=\"{status}\">{title}",
            arrow.seq, arrow.from, arrow.to
        );
        if arrow.diagnosed {
            let _ = write!(
                out,
                "<rect class=\"diagnosed-mark\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"6\"/>",
                from.min(to) - 6,
                y - ROW / 2 + 2,
                from.abs_diff(to) + 12,
                ROW - 4
            );
        }
        let _ = writeln!(
            out,
            "<line x1=\"{from}\" y1=\"{y}\" x2=\"{tip}\" y2=\"{y}\" marker-end=\"url(#head)\"/><text class=\"request\" x=\"{label_x}\" y=\"{}\" text-anchor=\"middle\">#{} {}</text><text class=\"answer\" x=\"{label_x}\" y=\"{}\" text-anchor=\"middle\">{}</text></g>",
            y - 6,
            arrow.seq,
            escape(fit(&arrow.request, from.abs_diff(to))),
            y + 15,
            escape(fit(&arrow.answer, from.abs_diff(to))),
        );
    }
    out.push_str("</svg>\n");
    out
}

/// `text` cut to what fits in `span` SVG units of 11.5 px monospace (about 7 units a character).
fn fit(text: &str, span: usize) -> String {
    crate::text::excerpt(text, (span / 7).max(24))
}
