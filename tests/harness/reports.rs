//! The HTML and Markdown reports: self-contained, and parsed as what they claim to be (the browser
//! test, which needs Chromium, is `tests/browser.rs`).

use crate::helpers::{REPORTED, report, root};

#[test]
fn the_html_report_is_one_self_contained_page_with_a_diagram_per_scenario() {
    let html = report("html", &REPORTED);
    for outside in ["<script", "<link", " src=", "@import", "url(http"] {
        assert!(!html.contains(outside), "the report loads nothing: found {outside}");
    }
    assert_eq!(html.matches("<svg class=\"sequence\"").count(), REPORTED.len());
    assert!(html.contains("data-to=\"pool\" data-status=\"403\""), "missing-role's 403 arrow");
    assert!(html.contains("az role assignment create"), "missing-role's fix");
}

/// A mermaid sequence diagram as far as these reports write them: participants declared first,
/// then messages between declared participants and notes over them.
fn check_mermaid(diagram: &str) -> Result<(usize, usize), String> {
    let mut lines = diagram.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("sequenceDiagram") {
        return Err("does not start with sequenceDiagram".into());
    }
    let (mut participants, mut messages) = (Vec::new(), 0);
    let arrow = regex::Regex::new(r"^(\w+)(->>|-->>|--x)(\w+): (.+)$").unwrap();
    let note = regex::Regex::new(r"^Note over (\w+): .+$").unwrap();
    let entity = regex::Regex::new(r"#\w+;").unwrap();
    for line in lines {
        if let Some(name) = line.strip_prefix("participant ") {
            if messages > 0 {
                return Err(format!("participant after a message: {line}"));
            }
            participants.push(name.to_owned());
        } else if let Some(c) = arrow.captures(line) {
            for end in [&c[1], &c[3]] {
                if !participants.iter().any(|p| p == end) {
                    return Err(format!("undeclared participant {end}: {line}"));
                }
            }
            let bare = entity.replace_all(&c[4], "");
            if bare.contains([';', '#']) {
                return Err(format!("unescaped ; or # in a message: {line}"));
            }
            messages += 1;
        } else if let Some(c) = note.captures(line) {
            if !participants.iter().any(|p| p == &c[1]) {
                return Err(format!("note over an undeclared participant: {line}"));
            }
        } else {
            return Err(format!("not a sequence diagram statement: {line}"));
        }
    }
    Ok((participants.len(), messages))
}

#[test]
fn the_markdown_report_is_a_table_and_mermaid_diagrams_within_githubs_limits() {
    let markdown = report("markdown", &["scenarios/"]);
    let scenarios = session_pool_harness::Scenario::load_all(&[root("scenarios")]).unwrap();

    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
    let (mut rows, mut in_table, mut in_mermaid) = (0, false, false);
    let mut diagrams: Vec<String> = Vec::new();
    for event in Parser::new_ext(&markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Table(_)) => in_table = true,
            Event::End(TagEnd::Table) => in_table = false,
            Event::Start(Tag::TableRow) if in_table => rows += 1,
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(lang))) if &*lang == "mermaid" => {
                in_mermaid = true;
                diagrams.push(String::new());
            }
            Event::End(TagEnd::CodeBlock) => in_mermaid = false,
            Event::Text(text) if in_mermaid => diagrams.last_mut().unwrap().push_str(&text),
            _ => {}
        }
    }

    assert_eq!(rows, scenarios.len(), "one table row per scenario (the header is not a row)");
    let with_a_cause =
        scenarios.iter().filter(|s| s.expected_diagnoses().iter().any(|d| d.id() != "ok")).count();
    let omitted = regex::Regex::new(r"_(\d+) more diagram").unwrap();
    let left_out: usize = omitted.captures(&markdown).map_or(0, |c| c[1].parse().unwrap());
    assert_eq!(
        diagrams.len() + left_out,
        with_a_cause,
        "a diagram per scenario that found a cause"
    );
    assert!(diagrams.len() >= 10, "{} diagrams", diagrams.len());
    for diagram in &diagrams {
        check_mermaid(diagram).unwrap_or_else(|e| panic!("{e}\n{diagram}"));
    }
    assert!(markdown.chars().count() < 65_536, "fits a pull-request comment");
    let missing_role = markdown.split("### ").find(|s| s.starts_with("🔎 `missing-role`")).unwrap();
    assert!(missing_role.contains("pool--xbackend: 403"), "{missing_role}");
    assert!(missing_role.contains("Note over pool: diagnosed here"), "{missing_role}");
}

#[test]
fn the_mermaid_checker_refuses_what_mermaid_would_refuse() {
    assert!(check_mermaid("sequenceDiagram\n participant a\n a->>b: x").is_err());
    assert!(check_mermaid("sequenceDiagram\n participant a\n participant b\n a->>b: x;y").is_err());
    assert_eq!(
        check_mermaid("sequenceDiagram\n participant a\n participant b\n a->>b: x\n b--xa: 403"),
        Ok((2, 2))
    );
}
