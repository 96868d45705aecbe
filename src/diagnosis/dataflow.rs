//! Data flow: for every execution, what the execution engine produced (Piston's `run`, or a
//! code-interpreter pool's result) against what the client received, hop by hop.
//!
//! The containers' envelopes are not fixed: a value is followed wherever it sits in each hop's
//! answer (`run.stdout`, `properties.stdout`, …). Output lost or changed on the way is named at the
//! first hop whose answer no longer carries it, with the fields on both sides.

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

/// One output value of the engine, for following it.
#[derive(Debug, Clone, PartialEq)]
enum Output {
    Text(String),
    Code(i64),
}

impl Output {
    fn show(&self) -> String {
        match self {
            Self::Text(text) => format!("{text:?}"),
            Self::Code(code) => code.to_string(),
        }
    }
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
/// successful code-interpreter execution the pool ran itself.
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
    window.iter().rev().find_map(|e| {
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
    })
}

fn flow(step: &Exchange, window: &[&Exchange]) -> Flow {
    let Some((source, prefix)) = engine(window) else {
        let reached_engine_side = window.iter().any(|e| e.to == Hop::Pool);
        return if step.succeeded() && reached_engine_side { Flow::NoEngine } else { Flow::Failed };
    };
    let produced = source.response_body.as_ref().map(|b| &b[prefix]).cloned().unwrap_or_default();
    let received = step.response_body.as_ref().map(|b| b["run"].clone()).unwrap_or_default();
    // The value to follow: stdout, else stderr, else the exit code (a code interpreter has none).
    let followed = ["stdout", "stderr"]
        .iter()
        .find_map(|f| {
            produced[*f]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(|s| (*f, Output::Text(s.to_owned())))
        })
        .or_else(|| produced["code"].as_i64().map(|c| ("code", Output::Code(c))));
    let intact = step.succeeded()
        && ["stdout", "stderr"].iter().all(|f| produced[*f] == received[*f])
        && (prefix != "run" || produced["code"] == received["code"]);
    if intact {
        return Flow::Intact;
    }
    let Some((field, value)) = followed else { return Flow::Intact };
    trace(step, window, source, prefix, field, &value)
}

/// Follow `value` from the engine's answer through each hop's answer to the client's.
fn trace(
    step: &Exchange,
    window: &[&Exchange],
    source: &Exchange,
    prefix: &str,
    field: &str,
    value: &Output,
) -> Flow {
    // The answers between the engine and the client, engine first: the container's to the pool,
    // then the pool's to the backend (for a code interpreter the pool is the engine itself).
    let mut carriers: Vec<&Exchange> = Vec::new();
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
    let mut story =
        vec![format!("{} produced {prefix}.{field} = {}", engine_name(source), value.show())];
    let mut last_seen = format!("{prefix}.{field}");
    for carrier in carriers {
        let answer = carrier.response_body.clone().unwrap_or_default();
        match find(&answer, value) {
            Some(Found::Same(path)) => {
                story.push(format!(
                    "{} answered {} with it in {path}",
                    answerer(carrier),
                    carrier.status.map_or("no status".into(), |s| s.to_string())
                ));
                last_seen = path;
            }
            found => {
                let got = match (carrier.to, &found) {
                    (_, Some(Found::Cut(path, len))) => format!("{path} cut to {len} bytes"),
                    (Hop::Backend, None) => describe_client_answer(carrier, field),
                    (_, None) => format!(
                        "{} without it (keys: {})",
                        carrier.status.map_or("no answer".into(), |s| s.to_string()),
                        keys(&answer)
                    ),
                    (_, Some(Found::Same(_))) => unreachable!("handled above"),
                };
                let explanation = format!(
                    "{}: {} answered {got}; the value was last seen in {last_seen}, so {} did not carry it on",
                    story.join("; "),
                    answerer(carrier),
                    answerer(carrier)
                );
                return Flow::Lost { hop: carrier.to, seq: carrier.seq, explanation };
            }
        }
    }
    Flow::Intact
}

fn engine_name(source: &Exchange) -> &'static str {
    if source.to == Hop::Piston { "Piston" } else { "the code interpreter" }
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

    /// client → backend → pool → container → Piston, each answering its body.
    fn chain(container: &str, pool: &str, client: (u16, &str)) -> Vec<Exchange> {
        let recorder = Recorder::new();
        let step = client_request(&recorder);
        hop(&recorder, Hop::Backend, Hop::Pool, "/python/execute", 200, pool);
        hop(&recorder, Hop::Pool, Hop::Container, "/python/execute", 200, container);
        hop(
            &recorder,
            Hop::Container,
            Hop::Piston,
            "/api/v2/execute",
            200,
            r#"{"language":"python","version":"3.10.0","run":{"stdout":"42\n","stderr":"","code":0}}"#,
        );
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
}
