//! Data flow: for every execution, what the execution engine produced (Piston's `run`, or a
//! code-interpreter pool's result) against what the client received, hop by hop.
//!
//! Follow the data, not the contract: every field of the engine's answer the client gets back in
//! Piston's `run` object ([`FIELDS`]: stdout, stderr, the exit code) is compared with what the client
//! received, and each one that differs is followed hop by hop. The containers' envelopes are not
//! fixed: a value is looked for wherever it sits in each hop's answer (`run.stdout`,
//! `properties.exitCode`, …). Output lost or changed on the way is named at the first hop whose answer
//! no longer carries it, with the fields on both sides. An empty output is no reason to call a run
//! intact: its exit code is still followed.

use serde_json::Value;

use crate::transcript::{Exchange, Hop};

/// What one execution's output did on its way to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// The client received what the engine produced.
    Intact,
    /// It was lost or changed; `hop` is the first whose answer no longer carries it.
    Lost { hop: Hop, seq: u64, explanation: String },
    /// The client got a successful answer, but no execution engine ran for it.
    NoEngine,
    /// Neither an engine output nor a successful answer: the hops' own failures say why.
    Failed,
}

/// The fields of Piston's `run` object (DOC: Piston's API, which the client reads) that data flow
/// follows, each with the names an engine or a container may give it.
pub(crate) const FIELDS: &[(&str, &[&str])] = &[
    ("stdout", &["stdout"]),
    ("stderr", &["stderr"]),
    // `exitCode` in the `{"properties":{…}}` envelope some teams' adapters answer (REP).
    ("code", &["code", "exitCode", "exit_code"]),
];

/// One output value of the engine, for following it.
#[derive(Debug, Clone, PartialEq)]
enum Output {
    Text(String),
    Code(i64),
    /// An explicit `null`: a killed program's exit code (Piston answers `code: null` with its
    /// signal), which no hop may turn into a number.
    Nothing,
}

impl Output {
    /// A field of an answer as an output: a text, an integer exit code, or `null` (an absent field
    /// is `None`: there is nothing to follow).
    fn of(value: Option<&Value>) -> Option<Self> {
        match value? {
            Value::String(text) => Some(Self::Text(text.clone())),
            Value::Number(n) => n.as_i64().map(Self::Code),
            Value::Null => Some(Self::Nothing),
            _ => None,
        }
    }

    /// Whether a leaf of an answer holds exactly this output.
    fn is(&self, value: &Value) -> bool {
        match self {
            Self::Text(text) => value.as_str() == Some(text.as_str()),
            Self::Code(code) => value.as_i64() == Some(*code),
            Self::Nothing => value.is_null(),
        }
    }

    /// An empty text or `null`: not told apart from any other empty field on the way, only followed
    /// by its name.
    fn is_empty(&self) -> bool {
        matches!(self, Self::Text(text) if text.is_empty()) || *self == Self::Nothing
    }

    fn show(&self) -> String {
        match self {
            Self::Text(text) => format!("{text:?}"),
            Self::Code(code) => code.to_string(),
            Self::Nothing => "null".to_owned(),
        }
    }
}

/// A value of the engine's answer on its way to the client.
struct Followed {
    /// Where the engine put it: `run.code`, `properties.stdout`.
    source: String,
    /// Its field in the client's `run` object, and the names it may have on the way ([`FIELDS`]).
    field: &'static str,
    names: &'static [&'static str],
    value: Output,
}

/// Every execution step (client → backend `POST …/execute`) and what its output did.
pub fn executions(exchanges: &[Exchange]) -> Vec<(&Exchange, Flow)> {
    let steps: Vec<&Exchange> = exchanges.iter().filter(|e| e.from == Hop::Client).collect();
    steps
        .iter()
        .enumerate()
        .filter(|(_, step)| step.method == "POST" && step.path.ends_with("/execute"))
        .map(|(i, step)| {
            let end = steps.get(i + 1).map_or(u64::MAX, |next| next.seq);
            let window: Vec<&Exchange> =
                exchanges.iter().filter(|e| e.seq > step.seq && e.seq < end).collect();
            (*step, flow(step, &window))
        })
        .collect()
}

/// The engine's answer in a step's window: the last successful Piston run, else the last
/// successful code-interpreter execution the pool ran itself, else the session container's own
/// answer (an image that bundles its engine, as real session images do: the harness sees no Piston
/// call, and the container's answer is the first it sees of the output).
fn engine<'a>(window: &[&'a Exchange]) -> Option<(&'a Exchange, &'static str)> {
    let piston = window.iter().rev().find(|e| {
        e.to == Hop::Piston
            && e.path == "/api/v2/execute"
            && e.succeeded()
            && e.response_body.as_ref().is_some_and(|b| b["run"].is_object())
    });
    if let Some(e) = piston {
        return Some((e, "run"));
    }
    let interpreter = window.iter().rev().find_map(|e| {
        let interpreter = e.to == Hop::Pool
            && e.succeeded()
            && (e.path.ends_with("/code/execute") || e.path.ends_with("/executions"));
        let body = e.response_body.as_ref()?;
        match () {
            _ if interpreter && body["properties"]["stdout"].is_string() => {
                Some((*e, "properties"))
            }
            _ if interpreter && body["result"]["stdout"].is_string() => Some((*e, "result")),
            _ => None,
        }
    });
    interpreter.or_else(|| {
        window.iter().rev().find_map(|e| {
            let execution = e.to == Hop::Container && e.method == "POST" && e.succeeded();
            let body = e.response_body.as_ref().filter(|_| execution)?;
            ["run", "properties"]
                .into_iter()
                .find(|envelope| {
                    FIELDS
                        .iter()
                        .any(|(_, names)| names.iter().any(|n| !body[*envelope][*n].is_null()))
                })
                .map(|envelope| (*e, envelope))
        })
    })
}

fn flow(step: &Exchange, window: &[&Exchange]) -> Flow {
    let Some((source, prefix)) = engine(window) else {
        let reached_engine_side = window.iter().any(|e| e.to == Hop::Pool);
        return if step.succeeded() && reached_engine_side { Flow::NoEngine } else { Flow::Failed };
    };
    let produced = source.response_body.as_ref().map(|b| &b[prefix]).cloned().unwrap_or_default();
    let received = step.response_body.as_ref().map(|b| b["run"].clone()).unwrap_or_default();
    for (field, names) in FIELDS {
        let found =
            names.iter().find_map(|name| Output::of(produced.get(*name)).map(|v| (*name, v)));
        let Some((name, value)) = found else { continue };
        if step.succeeded() && value.is(&received[*field]) {
            continue;
        }
        let followed = Followed { source: format!("{prefix}.{name}"), field, names, value };
        if let lost @ Flow::Lost { .. } = trace(step, window, source, &followed) {
            return lost;
        }
    }
    Flow::Intact
}

/// Follow a value from the engine's answer through each hop's answer to the client's.
fn trace(step: &Exchange, window: &[&Exchange], source: &Exchange, followed: &Followed) -> Flow {
    let value = &followed.value;
    let mut story =
        vec![format!("{} produced {} = {}", engine_name(source), followed.source, value.show())];
    let mut last_seen = followed.source.clone();
    for carrier in carriers(step, window, source) {
        let answer = carrier.response_body.clone().unwrap_or_default();
        let at_client = carrier.seq == step.seq;
        let found = match at_client {
            true => at_the_client(&answer, followed),
            false if value.is_empty() => match namesake(&answer, followed) {
                // An empty value is found by its name only: any empty field would match it.
                Some((path, held)) if value.is(&held) || held.is_null() => Some(Found::Same(path)),
                Some(_) => None,
                None => continue,
            },
            false => find(&answer, value),
        };
        let status = carrier.status.map_or("no answer".to_owned(), |s| s.to_string());
        let got = match found {
            Some(Found::Same(path)) => {
                story.push(format!("{} answered {status} with it in {path}", answerer(carrier)));
                last_seen = path;
                continue;
            }
            Some(Found::Cut(path, len)) => format!("{path} cut to {len} bytes"),
            None if at_client => describe_client_answer(carrier, followed.field),
            None => match namesake(&answer, followed) {
                Some((path, other)) => format!("{status} with {path} = {other}"),
                None => format!("{status} without it (keys: {})", keys(&answer)),
            },
        };
        let explanation = format!(
            "{}: {} answered {got}; the value was last seen in {last_seen}, so {} did not carry it on",
            story.join("; "),
            answerer(carrier),
            answerer(carrier)
        );
        return Flow::Lost { hop: carrier.to, seq: carrier.seq, explanation };
    }
    Flow::Intact
}

/// The answers between the engine and the client, engine first: the container's to the pool, then
/// the pool's to the backend (for a code interpreter the pool is the engine itself), then the
/// backend's to the client.
fn carriers<'a>(
    step: &'a Exchange,
    window: &[&'a Exchange],
    source: &Exchange,
) -> Vec<&'a Exchange> {
    let mut carriers: Vec<&Exchange> = Vec::new();
    if source.to == Hop::Container {
        // The pool forwarded the container's answer to the backend.
        carriers.extend(
            window
                .iter()
                .rev()
                .find(|e| e.to == Hop::Pool && e.method == "POST" && e.seq < source.seq)
                .copied(),
        );
    }
    if source.to == Hop::Piston {
        let container = window
            .iter()
            .rev()
            .find(|e| e.to == Hop::Container && e.method == "POST" && e.seq < source.seq)
            .copied();
        let before = container.map_or(source.seq, |c| c.seq);
        carriers.extend(container);
        carriers.extend(
            window
                .iter()
                .rev()
                .find(|e| e.to == Hop::Pool && e.method == "POST" && e.seq < before)
                .copied(),
        );
    }
    carriers.push(step);
    carriers
}

/// Where the client's answer carries the value: its `run` field (Piston's API, what the client
/// reads), or, when it has none, wherever else it sits. A `run` field holding something else is a
/// change, whatever the rest of the answer holds; an empty text counts as carried by an absent field.
fn at_the_client(answer: &Value, followed: &Followed) -> Option<Found> {
    let at = &answer["run"][followed.field];
    let path = format!("run.{}", followed.field);
    match (&followed.value, at) {
        (value, at) if value.is(at) => Some(Found::Same(path)),
        (value, Value::Null) if value.is_empty() => Some(Found::Same(path)),
        (value, Value::Null) => find(answer, value),
        (Output::Text(text), Value::String(cut)) if !cut.is_empty() && text.starts_with(cut) => {
            Some(Found::Cut(path, cut.len()))
        }
        _ => None,
    }
}

/// A field of `answer` named as the followed value may be named (`stdout`, `exitCode`, …), with
/// what it holds instead: `run.code = 1`.
fn namesake(answer: &Value, followed: &Followed) -> Option<(String, Value)> {
    let mut held = None;
    walk(answer, String::new(), &mut |path, leaf| {
        let name = path.rsplit('.').next().unwrap_or(path);
        let named = followed.names.iter().any(|n| n.eq_ignore_ascii_case(name));
        if named && held.is_none() {
            held = Some((path.to_owned(), leaf.clone()));
        }
        None
    });
    held
}

fn engine_name(source: &Exchange) -> &'static str {
    match source.to {
        Hop::Piston => "Piston",
        Hop::Container => "the session container",
        _ => "the code interpreter",
    }
}

/// Who gave an answer, named by the hop that answered.
fn answerer(e: &Exchange) -> String {
    match e.to {
        Hop::Backend => "the backend".into(),
        Hop::Container => "the container".into(),
        Hop::Pool => "the pool".into(),
        other => format!("the {other}"),
    }
}

fn describe_client_answer(step: &Exchange, field: &str) -> String {
    let status = step.status.map_or("no answer".to_owned(), |s| s.to_string());
    match step.response_body.as_ref().map(|b| &b["run"][field]) {
        Some(Value::String(s)) => format!("{status} with run.{field} = {s:?}"),
        Some(Value::Null) | None => format!(
            "{status} without run.{field} ({})",
            crate::diagnosis::excerpt(&step.response_text())
        ),
        Some(other) => format!("{status} with run.{field} = {other}"),
    }
}

enum Found {
    Same(String),
    Cut(String, usize),
}

/// Where `value` sits in `answer`: the same value, or a text cut short.
fn find(answer: &Value, value: &Output) -> Option<Found> {
    let mut cut = None;
    let found = walk(answer, String::new(), &mut |path, leaf| match (value, leaf) {
        (Output::Text(text), Value::String(s)) if s == text => Some(path.to_owned()),
        (Output::Text(text), Value::String(s)) if !s.is_empty() && text.starts_with(s.as_str()) => {
            cut.get_or_insert((path.to_owned(), s.len()));
            None
        }
        (Output::Code(code), Value::Number(n))
            if n.as_i64() == Some(*code) && path.to_ascii_lowercase().contains("code") =>
        {
            Some(path.to_owned())
        }
        _ => None,
    });
    found.map(Found::Same).or(cut.map(|(path, len)| Found::Cut(path, len)))
}

fn walk(
    value: &Value,
    path: String,
    visit: &mut dyn FnMut(&str, &Value) -> Option<String>,
) -> Option<String> {
    match value {
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            walk(v, if path.is_empty() { k.clone() } else { format!("{path}.{k}") }, visit)
        }),
        Value::Array(items) => {
            items.iter().enumerate().find_map(|(i, v)| walk(v, format!("{path}[{i}]"), visit))
        }
        leaf => visit(&path, leaf),
    }
}

fn keys(answer: &Value) -> String {
    answer.as_object().map_or_else(
        || "not a JSON object".into(),
        |o| o.keys().cloned().collect::<Vec<_>>().join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{RawRequest, RawResponse, Recorder};

    fn hop(recorder: &Recorder, from: Hop, to: Hop, path: &str, status: u16, body: &str) {
        let request = RawRequest {
            method: "POST",
            path,
            query: None,
            headers: vec![("content-type", "application/json")],
            body: b"{}",
        };
        let pending = recorder.begin(from, to, &request);
        recorder
            .finish(pending, &RawResponse { status, body: body.as_bytes(), ..Default::default() });
    }

    /// The client's execute request to the backend, begun.
    fn client_request(recorder: &Recorder) -> crate::transcript::Pending {
        let request = RawRequest {
            method: "POST",
            path: "/api/v2/execute",
            query: None,
            headers: vec![],
            body: b"{}",
        };
        recorder.begin(Hop::Client, Hop::Backend, &request)
    }

    /// client → backend → pool → container → Piston, each answering its body (Piston: 42, code 0).
    fn chain(container: &str, pool: &str, client: (u16, &str)) -> Vec<Exchange> {
        chain_from(PISTON, container, pool, client)
    }

    /// [`chain`] with Piston answering `piston`.
    fn chain_from(piston: &str, container: &str, pool: &str, client: (u16, &str)) -> Vec<Exchange> {
        let recorder = Recorder::new();
        let step = client_request(&recorder);
        hop(&recorder, Hop::Backend, Hop::Pool, "/python/execute", 200, pool);
        hop(&recorder, Hop::Pool, Hop::Container, "/python/execute", 200, container);
        hop(&recorder, Hop::Container, Hop::Piston, "/api/v2/execute", 200, piston);
        recorder.finish(
            step,
            &RawResponse { status: client.0, body: client.1.as_bytes(), ..Default::default() },
        );
        // The pool and container answers end after Piston's: order them as the recorder does.
        recorder.exchanges()
    }

    const PISTON: &str =
        r#"{"language":"python","version":"3.10.0","run":{"stdout":"42\n","stderr":"","code":0}}"#;
    const PROPERTIES: &str = r#"{"properties":{"stdout":"42\n","stderr":"","exitCode":0}}"#;

    /// client → backend → pool → container, the container running the code itself (no Piston call
    /// the harness sees: an image that bundles its engine).
    fn chain_without_piston(container: &str, client: (u16, &str)) -> Vec<Exchange> {
        let recorder = Recorder::new();
        let step = client_request(&recorder);
        hop(&recorder, Hop::Backend, Hop::Pool, "/python/execute", 200, container);
        hop(&recorder, Hop::Pool, Hop::Container, "/python/execute", 200, container);
        recorder.finish(
            step,
            &RawResponse { status: client.0, body: client.1.as_bytes(), ..Default::default() },
        );
        recorder.exchanges()
    }

    #[test]
    fn a_session_containers_own_answer_is_followed_when_no_engine_call_was_seen() {
        let intact = chain_without_piston(PROPERTIES, (200, PISTON));
        assert_eq!(executions(&intact)[0].1, Flow::Intact);

        let unread = r#"{"run":{"stdout":"","stderr":"","code":1}}"#;
        let lost = chain_without_piston(PROPERTIES, (200, unread));
        let Flow::Lost { hop, explanation, .. } = &executions(&lost)[0].1 else { panic!() };
        assert_eq!(*hop, Hop::Backend, "{explanation}");
        assert!(
            explanation.contains("the session container produced properties.stdout")
                && explanation.contains("run.stdout"),
            "{explanation}"
        );
    }

    #[test]
    fn output_carried_in_any_envelope_and_returned_intact_is_intact() {
        let exchanges = chain(PROPERTIES, PROPERTIES, (200, PISTON));
        assert_eq!(executions(&exchanges)[0].1, Flow::Intact);
    }

    #[test]
    fn output_the_backend_does_not_read_is_lost_at_the_backend_naming_both_fields() {
        let exchanges =
            chain(PROPERTIES, PROPERTIES, (200, r#"{"run":{"stdout":"","stderr":"","code":0}}"#));
        let Flow::Lost { hop, explanation, .. } = &executions(&exchanges)[0].1 else {
            panic!("{:?}", executions(&exchanges))
        };
        assert_eq!(*hop, Hop::Backend);
        assert!(explanation.contains("Piston produced run.stdout = \"42\\n\""), "{explanation}");
        assert!(
            explanation.contains("with it in properties.stdout")
                && explanation.contains("run.stdout = \"\""),
            "{explanation}"
        );
    }

    #[test]
    fn output_dropped_by_the_container_is_lost_at_the_container() {
        let exchanges =
            chain(r#"{"ok":true}"#, r#"{"ok":true}"#, (502, r#"{"message":"pool hop failed"}"#));
        let Flow::Lost { hop, explanation, .. } = &executions(&exchanges)[0].1 else { panic!() };
        assert_eq!(*hop, Hop::Container, "{explanation}");
        assert!(explanation.contains("keys: ok"), "{explanation}");
    }

    #[test]
    fn a_success_without_any_engine_run_is_no_engine() {
        let recorder = Recorder::new();
        let step = client_request(&recorder);
        hop(&recorder, Hop::Backend, Hop::Pool, "/python/execute", 200, PISTON);
        recorder.finish(
            step,
            &RawResponse { status: 200, body: PISTON.as_bytes(), ..Default::default() },
        );
        assert_eq!(executions(&recorder.exchanges())[0].1, Flow::NoEngine);
    }

    /// Piston's answer to a program that prints nothing and exits 3.
    const SILENT_EXIT_3: &str =
        r#"{"language":"python","version":"3.10.0","run":{"stdout":"","stderr":"","code":3}}"#;

    fn lost(exchanges: &[Exchange]) -> (Hop, String) {
        match &executions(exchanges)[0].1 {
            Flow::Lost { hop, explanation, .. } => (*hop, explanation.clone()),
            other => panic!("expected output-lost, got {other:?}"),
        }
    }

    #[test]
    fn an_exit_code_a_container_changes_is_lost_at_the_container_naming_both_fields() {
        // An adapter answering `code || 1`: Piston's 0 becomes 1, the output itself is intact.
        let changed = r#"{"run":{"stdout":"42\n","stderr":"","code":1}}"#;

        let (hop, explanation) = lost(&chain(changed, changed, (200, changed)));

        assert_eq!(hop, Hop::Container, "{explanation}");
        assert!(
            explanation.starts_with(
                "Piston produced run.code = 0: the container answered 200 with run.code = 1"
            ),
            "{explanation}"
        );
    }

    #[test]
    fn an_empty_output_is_followed_by_its_exit_code_to_the_hop_that_changed_it() {
        let zero = r#"{"run":{"stdout":"","stderr":"","code":0}}"#;

        let (hop, explanation) =
            lost(&chain_from(SILENT_EXIT_3, SILENT_EXIT_3, SILENT_EXIT_3, (200, zero)));

        assert_eq!(hop, Hop::Backend, "{explanation}");
        assert!(explanation.contains("Piston produced run.code = 3"), "{explanation}");
        assert!(explanation.contains("the pool answered 200 with it in run.code"), "{explanation}");
        assert!(
            explanation.contains("the backend answered 200 with run.code = 0"),
            "{explanation}"
        );
    }

    #[test]
    fn an_empty_output_whose_exit_code_reaches_the_client_through_another_envelope_is_intact() {
        let properties = r#"{"properties":{"stdout":"","stderr":"","exitCode":3}}"#;

        let exchanges = chain_from(SILENT_EXIT_3, properties, properties, (200, SILENT_EXIT_3));

        let flows = executions(&exchanges);

        assert_eq!(flows[0].1, Flow::Intact);
    }

    #[test]
    fn output_the_engine_never_produced_is_a_change_at_the_hop_that_made_it() {
        let invented = r#"{"run":{"stdout":"made up","stderr":"","code":3}}"#;

        let (hop, explanation) =
            lost(&chain_from(SILENT_EXIT_3, SILENT_EXIT_3, SILENT_EXIT_3, (200, invented)));

        assert_eq!(hop, Hop::Backend);
        assert!(
            explanation.contains("run.stdout = \"\"") && explanation.contains("\"made up\""),
            "{explanation}"
        );
    }

    #[test]
    fn an_exit_code_lost_in_a_properties_envelope_names_the_envelope_field() {
        let wrong = r#"{"properties":{"stdout":"42\n","stderr":"","exitCode":1}}"#;
        let client = r#"{"run":{"stdout":"42\n","stderr":"","code":1}}"#;

        let (hop, explanation) = lost(&chain(wrong, wrong, (200, client)));

        assert_eq!(hop, Hop::Container);
        assert!(explanation.contains("with properties.exitCode = 1"), "{explanation}");
    }

    #[test]
    fn a_killed_programs_null_exit_code_a_container_turns_into_0_is_lost_at_the_container() {
        let killed = r#"{"run":{"stdout":"","stderr":"","code":null,"signal":"SIGKILL"}}"#;
        let zero = r#"{"run":{"stdout":"","stderr":"","code":0,"signal":"SIGKILL"}}"#;

        let (hop, explanation) = lost(&chain_from(killed, zero, zero, (200, zero)));

        assert_eq!(hop, Hop::Container, "{explanation}");
        assert!(
            explanation.starts_with(
                "Piston produced run.code = null: the container answered 200 with run.code = 0"
            ),
            "{explanation}"
        );
    }
}
