//! Normalisation: make an outcome stable across runs, for snapshots and diffs.
//!
//! Ports become hop names (`http://127.0.0.1:41234` -> `http://[pool]`), times and random ids become
//! markers, and any loopback port that slipped through becomes `[port]`. Tokens are already claims
//! (the recorder never stores them raw); their time and random claims are replaced here.

use serde_json::{Value, json};

use crate::runner::Outcome;
use crate::transcript::Hop;

/// Keys whose values are times.
const TIME_KEYS: &[&str] = &["exp", "iat", "nbf", "expires_on", "not_before", "timestamp"];
/// Keys whose values are random per run.
const RANDOM_KEYS: &[&str] = &[
    "id",
    "uti",
    "aio",
    "rh",
    "correlationId",
    "traceId",
    "trace_id",
    "correlation_id",
    "mise-correlation-id",
];

/// Rewrites run-specific text. Build one per outcome.
#[derive(Debug, Clone)]
pub struct Normalizer {
    /// Port of each known endpoint and whose it is.
    ports: Vec<(u16, Hop)>,
    /// Values seen under random keys, scrubbed wherever else they appear (e.g. quoted in a message).
    randoms: Vec<String>,
}

impl Normalizer {
    /// `endpoints`: the run's base URLs (`http://127.0.0.1:<port>`) and whose they are.
    pub fn new(endpoints: &[(String, Hop)]) -> Self {
        let ports = endpoints
            .iter()
            .filter_map(|(url, hop)| {
                url.rsplit_once(':')
                    .and_then(|(_, port)| port.trim_end_matches('/').parse().ok())
                    .map(|port| (port, *hop))
            })
            .collect();
        Self { ports, randoms: Vec::new() }
    }

    /// Learn the random values in `value` (under the random keys: `uti`, `traceId`, …) so that copies of them embedded in
    /// other strings are scrubbed too.
    pub fn learn_randoms(&mut self, value: &Value) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| self.learn_randoms(v)),
            Value::Object(map) => {
                for (key, field) in map {
                    match field.as_str() {
                        Some(random)
                            if RANDOM_KEYS.contains(&key.as_str()) && random.len() >= 8 =>
                        {
                            self.randoms.push(random.to_owned())
                        }
                        _ => self.learn_randoms(field),
                    }
                }
            }
            _ => {}
        }
    }

    /// Normalise a string: `127.0.0.1:<port>` becomes `[hop]` for known ports, `127.0.0.1:[port]` otherwise.
    pub fn text(&self, text: &str) -> String {
        const HOST: &str = "127.0.0.1:";
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(HOST) {
            let after = &rest[at + HOST.len()..];
            let digits = after.chars().take_while(char::is_ascii_digit).count();
            out.push_str(&rest[..at]);
            let known = after[..digits]
                .parse::<u16>()
                .ok()
                .and_then(|port| self.ports.iter().find(|(p, _)| *p == port));
            match (known, digits) {
                (Some((_, hop)), _) => out.push_str(&format!("[{hop}]")),
                (None, 0) => out.push_str(HOST),
                (None, _) => out.push_str("127.0.0.1:[port]"),
            }
            rest = &after[digits..];
        }
        out.push_str(rest);
        for random in &self.randoms {
            out = out.replace(random.as_str(), "[random]");
        }
        out
    }

    /// Normalise a JSON value in place: strings rewritten, time and random keys replaced.
    pub fn value(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = scrub_aadsts_trailer(&self.text(s)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                for (key, field) in map.iter_mut() {
                    if TIME_KEYS.contains(&key.as_str()) {
                        *field = json!("[timestamp]");
                    } else if RANDOM_KEYS.contains(&key.as_str()) {
                        *field = json!("[random]");
                    } else {
                        self.value(field);
                    }
                }
            }
            _ => {}
        }
    }

    /// Normalise every string in a JSON value, whatever its key (no time or random key rules).
    pub fn strings(&self, value: &mut Value) {
        match value {
            Value::String(s) => *s = scrub_aadsts_trailer(&self.text(s)),
            Value::Array(items) => items.iter_mut().for_each(|v| self.strings(v)),
            Value::Object(map) => map.values_mut().for_each(|v| self.strings(v)),
            _ => {}
        }
    }

    /// The snapshot of an outcome: transcript, the backend's answers, the diagnosis.
    ///
    /// The diagnoses are the harness's own verdict, stable by construction: their `id` is a
    /// diagnosis id, not a random one, so only the text inside them is normalised (and nothing is
    /// learned from them that would scrub an id wherever else it appears).
    pub fn outcome(mut self, outcome: &Outcome) -> Value {
        let mut value = json!({
            "scenario": outcome.name,
            "passed": outcome.passed,
            "failures": outcome.failures,
            "transcript": outcome.exchanges,
            "responses": outcome.steps.iter().map(|s| json!({ "step": s.name, "status": s.status, "body": s.body })).collect::<Vec<_>>(),
        });
        self.learn_randoms(&value);
        self.value(&mut value);
        let mut diagnoses = json!(outcome.findings);
        self.strings(&mut diagnoses);
        value["diagnoses"] = diagnoses;
        value
    }
}

/// AADSTS descriptions end with `Trace ID`, `Correlation ID` and `Timestamp` lines: random per call.
fn scrub_aadsts_trailer(text: &str) -> String {
    if !text.starts_with("AADSTS") {
        return text.to_owned();
    }
    text.split("\r\n")
        .map(|line| match line.split_once(": ") {
            Some((label @ ("Trace ID" | "Correlation ID" | "Timestamp"), _)) => {
                format!("{label}: [random]")
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalizer() -> Normalizer {
        Normalizer::new(&[
            ("http://127.0.0.1:4100".into(), Hop::Pool),
            ("http://127.0.0.1:41001".into(), Hop::Backend),
        ])
    }

    #[test]
    fn known_endpoints_become_hop_names_and_other_ports_are_masked() {
        let n = normalizer();
        assert_eq!(
            n.text("POST http://127.0.0.1:41001/x then http://127.0.0.1:4100/y"),
            "POST http://[backend]/x then http://[pool]/y"
        );
        assert_eq!(n.text("connect 127.0.0.1:9 refused"), "connect 127.0.0.1:[port] refused");
        assert_eq!(n.text("127.0.0.1: no port"), "127.0.0.1: no port");
        assert_eq!(
            n.text("127.0.0.1:41005"),
            "127.0.0.1:[port]",
            "a known port's prefix is not that port"
        );
    }

    #[test]
    fn times_and_random_ids_become_markers_at_any_depth() {
        let mut value =
            json!({"a": [{"exp": 1, "uti": "x", "oid": "kept"}], "expires_on": "1700000000"});
        normalizer().value(&mut value);
        assert_eq!(
            value,
            json!({"a": [{"exp": "[timestamp]", "uti": "[random]", "oid": "kept"}], "expires_on": "[timestamp]"})
        );
    }

    #[test]
    fn a_random_value_quoted_inside_another_string_is_scrubbed_too() {
        let mut value = json!({"error": {"traceId": "0123-4567-89ab"}, "message": "pool said {\"traceId\":\"0123-4567-89ab\"}"});
        let mut n = normalizer();
        n.learn_randoms(&value);
        n.value(&mut value);
        assert_eq!(value["message"], "pool said {\"traceId\":\"[random]\"}");
    }

    #[test]
    fn strings_are_normalised_whatever_their_key_and_ids_stay() {
        let mut value = json!({"id": "missing-role", "explanation": "pool at http://127.0.0.1:4100 said no", "seq": 3});
        normalizer().strings(&mut value);
        assert_eq!(
            value,
            json!({"id": "missing-role", "explanation": "pool at http://[pool] said no", "seq": 3})
        );
    }

    #[test]
    fn aadsts_trailers_lose_their_random_parts() {
        let text = "AADSTS7000215: Invalid client secret.\r\nTrace ID: abc\r\nCorrelation ID: def\r\nTimestamp: 2026-01-01";
        assert_eq!(
            scrub_aadsts_trailer(text),
            "AADSTS7000215: Invalid client secret.\r\nTrace ID: [random]\r\nCorrelation ID: [random]\r\nTimestamp: [random]"
        );
    }
}
