//! The HTML and Markdown reports: self-contained, parsed as what they claim to be, and (with
//! Chromium) rendered in a real browser.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::helpers::{BIN, root};

/// The scenarios of the README's screenshot: a refused pool, an identity failure, the happy path.
const REPORTED: [&str; 3] = [
    "scenarios/missing-role.toml",
    "scenarios/identity-not-specified.toml",
    "scenarios/happy-path.toml",
];

/// `run <files> --format <format>`: its standard output.
fn report(format: &str, files: &[&str]) -> String {
    let output = Command::new(BIN)
        .current_dir(root(""))
        .arg("run")
        .args(files)
        .args(["--format", format])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

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

/// Chromium, or why the browser test cannot run.
fn chromium() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("SESSION_POOL_HARNESS_CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            if dir.join(name).is_file() {
                return Ok(dir.join(name));
            }
        }
    }
    Err("no Chromium on PATH: install it (`apt-get install chromium`; .ci/run does) or set SESSION_POOL_HARNESS_CHROMIUM to its path".into())
}

fn headless(chromium: &Path, args: &[&str]) -> std::process::Output {
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromium.display()))
}

/// Share of pixels that differ from the top-left one.
fn ink(png_file: &Path) -> f64 {
    let decoder =
        png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_file).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let step = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    let background = &pixels[..step];
    let differing = pixels.chunks(step).filter(|p| *p != background).count();
    differing as f64 / (pixels.len() / step) as f64
}

#[test]
fn the_html_report_renders_in_chromium_with_the_failing_hop_marked() {
    let chromium = match chromium() {
        Ok(path) => path,
        Err(why) if std::env::var_os("SESSION_POOL_HARNESS_NO_BROWSER").is_some() => {
            eprintln!("SKIPPED the browser test (SESSION_POOL_HARNESS_NO_BROWSER is set): {why}");
            return;
        }
        Err(why) => panic!(
            "the browser test cannot run: {why}; set SESSION_POOL_HARNESS_NO_BROWSER=1 to skip it knowingly"
        ),
    };
    let dir = std::env::temp_dir().join(format!("sph-browser-{}", crate::helpers::unique()));
    std::fs::create_dir_all(&dir).unwrap();
    // The whole suite, as `run scenarios/ --format html > report.html` writes it.
    std::fs::write(dir.join("report.html"), report("html", &["scenarios/"])).unwrap();
    std::fs::copy(root("fixtures/browser/probe.html"), dir.join("probe.html")).unwrap();
    let scenarios = session_pool_harness::Scenario::load_all(&[root("scenarios")]).unwrap();

    // What Chromium laid out, measured by the probe page around the report.
    let probe = format!("file://{}", dir.join("probe.html").display());
    let dom = headless(
        &chromium,
        &["--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", &probe],
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let json = dom
        .split_once("<pre id=\"result\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(json, _)| {
            json.replace("&quot;", "\"")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
        })
        .unwrap_or_else(|| panic!("the probe wrote no result:\n{dom}"));
    let seen: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!((seen["scripts"].as_u64(), seen["external"].as_u64()), (Some(0), Some(0)), "{seen}");
    assert_eq!(seen["index_rows"], scenarios.len(), "{seen}");
    let sections = seen["sections"].as_array().unwrap();
    assert_eq!(sections.len(), scenarios.len());
    assert!(sections.iter().all(|s| s["diagrams"] == 1), "one diagram per scenario: {seen}");
    let section = |name: &str| {
        seen["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {seen}"))
    };
    let happy = section("happy-path");
    assert_eq!(happy["diagrams"], 1);
    assert_eq!(
        happy["participants"],
        serde_json::json!(["client", "backend", "identity", "pool", "container", "piston"])
    );
    assert_eq!(happy["arrows"], 9, "{happy}");
    assert_eq!(happy["marked"], serde_json::json!([]));
    let missing_role = section("missing-role");
    assert_eq!(
        missing_role["participants"],
        serde_json::json!(["client", "backend", "identity", "pool"])
    );
    assert_eq!(missing_role["arrows"], 3);
    assert_eq!(missing_role["marked"], serde_json::json!(["backend->pool 403"]));
    assert_eq!(
        missing_role["marked_colour"],
        serde_json::json!(["rgb(207, 34, 46)"]),
        "the refused arrow is red"
    );
    assert!(
        missing_role["fix"].as_str().unwrap().starts_with("az role assignment create --assignee")
    );
    let identity = section("identity-not-specified");
    assert_eq!(identity["marked"], serde_json::json!(["backend->identity 400"]));
    assert_eq!(identity["diagnoses"], serde_json::json!(["identity-not-specified"]));

    // And it is a picture, not a blank page (three scenarios: the README shows this screenshot).
    let three = dir.join("three.html");
    std::fs::write(&three, report("html", &REPORTED)).unwrap();
    let shot = dir.join("report.png");
    let screenshot = format!("--screenshot={}", shot.display());
    let report_url = format!("file://{}", three.display());
    let taken = headless(&chromium, &["--window-size=1280,1500", &screenshot, &report_url]);
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&taken.stderr));
    let ink = ink(&shot);
    assert!(ink > 0.03, "the screenshot is nearly blank ({:.1} % ink)", ink * 100.0);
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        std::fs::copy(&shot, root("docs/report.png")).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
