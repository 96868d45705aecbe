//! `run --format junit`: the outcomes as JUnit XML, which CI systems read. One `<testsuite>` per
//! folder, one `<testcase>` per scenario (`classname` = its folder, `name` = the scenario, `time` in
//! seconds); a failed scenario has a `<failure>` with the failed expectations and the diagnosis;
//! `<system-out>` holds the transcript (already free of secrets, as every report is). Well-formed
//! whatever the programs printed: characters XML forbids are written visibly (`\x1b`).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::runner::Outcome;
use crate::text::{Medium, into_printable};

/// The JUnit XML document of a run.
pub fn junit(outcomes: &[Outcome], total_secs: f64) -> String {
    let mut writer = Writer::new_with_indent(Vec::new(), b' ', 2);
    let write = |writer: &mut Writer<Vec<u8>>, event: Event<'_>| {
        writer.write_event(event).expect("writing XML to memory cannot fail")
    };
    write(&mut writer, Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    let failures = outcomes.iter().filter(|o| !o.passed).count();
    let mut root = BytesStart::new("testsuites");
    root.push_attribute(("name", "session-pool-harness"));
    root.push_attribute(("tests", outcomes.len().to_string().as_str()));
    root.push_attribute(("failures", failures.to_string().as_str()));
    root.push_attribute(("time", format!("{total_secs:.3}").as_str()));
    write(&mut writer, Event::Start(root));
    let mut folders: Vec<String> = outcomes.iter().map(folder).collect();
    folders.dedup();
    folders.sort();
    folders.dedup();
    for name in folders {
        let members: Vec<&Outcome> = outcomes.iter().filter(|o| folder(o) == name).collect();
        let mut suite = BytesStart::new("testsuite");
        suite.push_attribute(("name", name.as_str()));
        suite.push_attribute(("tests", members.len().to_string().as_str()));
        suite.push_attribute((
            "failures",
            members.iter().filter(|o| !o.passed).count().to_string().as_str(),
        ));
        suite.push_attribute((
            "time",
            format!("{:.3}", members.iter().map(|o| o.duration.as_secs_f64()).sum::<f64>())
                .as_str(),
        ));
        write(&mut writer, Event::Start(suite));
        for outcome in members {
            testcase(&mut writer, outcome, &name);
        }
        write(&mut writer, Event::End(BytesEnd::new("testsuite")));
    }
    write(&mut writer, Event::End(BytesEnd::new("testsuites")));
    let document = String::from_utf8(writer.into_inner()).expect("the writer wrote UTF-8");
    // quick-xml escapes markup but writes a control character as it is, which makes the document
    // ill-formed (XML 1.0 allows tab, LF and CR only): a backend's colour codes would break CI's parser.
    into_printable(document, Medium::Markup) + "\n"
}

fn folder(outcome: &Outcome) -> String {
    outcome
        .file
        .parent()
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| ".".into())
}

fn testcase(writer: &mut Writer<Vec<u8>>, outcome: &Outcome, classname: &str) {
    let write = |writer: &mut Writer<Vec<u8>>, event: Event<'_>| {
        writer.write_event(event).expect("writing XML to memory cannot fail")
    };
    let mut case = BytesStart::new("testcase");
    case.push_attribute(("classname", classname));
    case.push_attribute(("name", outcome.name.as_str()));
    case.push_attribute(("time", format!("{:.3}", outcome.duration.as_secs_f64()).as_str()));
    write(writer, Event::Start(case));
    if outcome.players.iter().any(|p| p.own || p.in_place_of.is_some()) {
        // Which parts were the team's, and each reference part that stood in for one of theirs.
        write(writer, Event::Start(BytesStart::new("properties")));
        for player in &outcome.players {
            let name = if player.is_substitute() { "substitute" } else { "part" };
            let mut property = BytesStart::new("property");
            property.push_attribute(("name", name));
            property.push_attribute(("value", player.to_string().as_str()));
            write(writer, Event::Empty(property));
        }
        write(writer, Event::End(BytesEnd::new("properties")));
    }
    if !outcome.passed {
        let diagnoses: Vec<String> = outcome
            .findings
            .iter()
            .map(|f| format!("diagnosis: {}: {}\nfix: {}", f.id, f.explanation, f.fix))
            .collect();
        let mut failure = BytesStart::new("failure");
        failure.push_attribute((
            "message",
            outcome
                .failures
                .first()
                .map_or_else(|| "failed".to_owned(), ToString::to_string)
                .as_str(),
        ));
        failure.push_attribute(("type", "expectation"));
        write(writer, Event::Start(failure));
        let failures: Vec<String> = outcome.failures.iter().map(ToString::to_string).collect();
        let body = format!("{}\n{}", failures.join("\n"), diagnoses.join("\n"));
        write(writer, Event::Text(BytesText::new(&body)));
        write(writer, Event::End(BytesEnd::new("failure")));
    }
    write(writer, Event::Start(BytesStart::new("system-out")));
    write(writer, Event::Text(BytesText::new(&super::text(outcome))));
    write(writer, Event::End(BytesEnd::new("system-out")));
    write(writer, Event::End(BytesEnd::new("testcase")));
}
