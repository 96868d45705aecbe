//! Faults declared in a scenario, applied to one hop's answers: status/body/header overrides on
//! chosen calls, delays, a connection closed without answer, malformed JSON, a slow body.
//!
//! Each rule counts the requests it matches (1-based) and fires on the calls it lists, so a list of
//! rules is a sequence (e.g. 500 on call 1, 429 on call 2, the real answer after).
//!
//! A fault with a status replaces the whole answer ([`Action::replacement`]): the real handler does
//! not run, so a faulted identity 500 carries no signed token and a faulted pool call allocates no
//! session. A fault without one edits the real answer.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::transcript::Hop;
use crate::world::Fault;

/// The faults of one hop.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    spec: Fault,
    seen: AtomicU32,
}

/// The answer a status fault gives instead of the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replacement {
    pub status: u16,
    /// `application/json` when the body is JSON (or meant to look like it), text otherwise.
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
}

/// What to do to one answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Action {
    pub delay: Option<Duration>,
    /// Close the connection without answering.
    pub close: bool,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
    /// Set these top-level fields of a JSON body.
    pub set_json: Vec<(String, serde_json::Value)>,
    /// Replace the body with JSON cut in the middle.
    pub malformed_json: bool,
    /// Send the body in small chunks, this long apart.
    pub slow_body: Option<Duration>,
}

impl Faults {
    /// The faults of `hop` among a scenario's.
    pub fn for_hop(all: &[Fault], hop: Hop) -> Self {
        let rules = all
            .iter()
            .filter(|f| f.hop == hop)
            .map(|spec| Rule { spec: spec.clone(), seen: AtomicU32::new(0) })
            .collect();
        Self { rules }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Count this request against every rule it matches; return the merged action of those that fire.
    pub fn decide(&self, path: &str) -> Option<Action> {
        let mut fired: Option<Action> = None;
        for rule in &self.rules {
            if rule.spec.path.as_deref().is_some_and(|prefix| !path.starts_with(prefix)) {
                continue;
            }
            let call = rule.seen.fetch_add(1, Ordering::SeqCst) + 1;
            if rule.spec.calls.is_empty() || rule.spec.calls.contains(&call) {
                merge(fired.get_or_insert_with(Action::default), &rule.spec);
            }
        }
        fired
    }
}

fn merge(action: &mut Action, spec: &Fault) {
    if spec.delay.is_some() {
        action.delay = spec.delay;
    }
    action.close |= spec.close;
    action.status = spec.status.or(action.status);
    if spec.body.is_some() {
        action.body.clone_from(&spec.body);
    }
    action.headers.extend(spec.headers.iter().map(|(k, v)| (k.clone(), v.clone())));
    action.set_json.extend(spec.set_json.iter().map(|(k, v)| (k.clone(), v.clone())));
    action.malformed_json |= spec.malformed_json;
    if spec.slow_body.is_some() {
        action.slow_body = spec.slow_body;
    }
}

impl Action {
    /// The answer to give instead of the real one, when the fault sets a status (a valid one): its
    /// body is the fault's `body`, or empty; `set_json` and `malformed_json` edit `body`, or an
    /// empty object when there is none.
    pub fn replacement(&self) -> Option<Replacement> {
        let status = self.status.filter(|s| (100..=999).contains(s))?;
        let json_edits = !self.set_json.is_empty() || self.malformed_json;
        let base = match &self.body {
            Some(body) => body.clone().into_bytes(),
            None if json_edits => b"{}".to_vec(),
            None => Vec::new(),
        };
        let body = self.edit_json(base);
        let content_type =
            if json_edits || serde_json::from_slice::<serde_json::Value>(&body).is_ok() {
                Some("application/json")
            } else if body.is_empty() {
                None
            } else {
                Some("text/plain; charset=utf-8")
            };
        Some(Replacement { status, content_type, body })
    }

    /// The real answer's body after `body`, `set_json` and `malformed_json`.
    pub fn rewrite_body(&self, body: &[u8]) -> Vec<u8> {
        let out = self.body.as_ref().map_or_else(|| body.to_vec(), |b| b.clone().into_bytes());
        self.edit_json(out)
    }

    /// `set_json` fields set on a JSON object body, then `malformed_json`.
    fn edit_json(&self, mut out: Vec<u8>) -> Vec<u8> {
        if !self.set_json.is_empty()
            && let Ok(serde_json::Value::Object(mut map)) =
                serde_json::from_slice::<serde_json::Value>(&out)
        {
            for (key, value) in &self.set_json {
                map.insert(key.clone(), value.clone());
            }
            out = serde_json::Value::Object(map).to_string().into_bytes();
        }
        if self.malformed_json {
            out = malform(&out);
        }
        out
    }
}

/// JSON cut in the middle (never valid): what a crashed or truncating peer sends.
pub fn malform(body: &[u8]) -> Vec<u8> {
    let keep = (body.len() / 2).max(1).min(body.len());
    let mut cut = body[..keep].to_vec();
    if cut.is_empty() || serde_json::from_slice::<serde_json::Value>(&cut).is_ok() {
        cut = b"{\"truncated\":".to_vec();
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    fn fault(calls: Vec<u32>, status: u16) -> Fault {
        Fault { calls, status: Some(status), ..Fault::on(Hop::Identity) }
    }

    #[test]
    fn rules_fire_on_their_calls_so_a_list_is_a_sequence() {
        let faults = Faults::for_hop(&[fault(vec![1], 500), fault(vec![2], 429)], Hop::Identity);
        let statuses: Vec<Option<u16>> =
            (0..3).map(|_| faults.decide("/msi/token").and_then(|a| a.status)).collect();
        assert_eq!(statuses, [Some(500), Some(429), None]);
    }

    #[test]
    fn a_path_prefix_limits_what_a_rule_counts() {
        let mut rule = fault(vec![1], 503);
        rule.path = Some("/python/".into());
        let faults = Faults::for_hop(&[rule], Hop::Identity);
        assert_eq!(faults.decide("/runtimes"), None, "not counted");
        assert_eq!(faults.decide("/python/execute").and_then(|a| a.status), Some(503));
    }

    #[test]
    fn faults_of_other_hops_are_ignored() {
        assert!(Faults::for_hop(&[fault(vec![], 500)], Hop::Pool).is_empty());
    }

    #[test]
    fn set_json_changes_a_field_type_and_keeps_the_rest() {
        let action = Action {
            set_json: vec![("expires_on".into(), serde_json::json!(1700000000))],
            ..Action::default()
        };
        let body = action.rewrite_body(br#"{"access_token":"t","expires_on":"1700000000"}"#);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"access_token":"t","expires_on":1700000000}"#
        );
    }

    #[test]
    fn a_status_fault_replaces_the_body_with_its_own_or_nothing() {
        let status_only = Action { status: Some(500), ..Action::default() };
        let with_body = Action {
            status: Some(403),
            body: Some("{\"detail\":\"no\"}".into()),
            ..status_only.clone()
        };
        let with_fields = Action {
            set_json: vec![("error".into(), serde_json::json!("busy"))],
            ..status_only.clone()
        };

        let [empty, own, fields] =
            [status_only, with_body, with_fields].map(|a| a.replacement().unwrap());

        assert_eq!((empty.status, empty.content_type, empty.body), (500, None, Vec::new()));
        assert_eq!(
            (own.content_type, own.body),
            (Some("application/json"), br#"{"detail":"no"}"#.to_vec())
        );
        assert_eq!(fields.body, br#"{"error":"busy"}"#.to_vec(), "fields set on an empty object");
    }

    #[test]
    fn a_fault_without_a_status_edits_the_real_answer_instead() {
        let action = Action { malformed_json: true, ..Action::default() };

        assert_eq!(action.replacement(), None);
        assert!(
            serde_json::from_slice::<serde_json::Value>(&action.rewrite_body(b"{\"a\":1}"))
                .is_err()
        );
    }

    #[test]
    fn malformed_json_never_parses() {
        for body in [&b"{\"a\":1}"[..], b"[]", b"1", b""] {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&malform(body)).is_err(),
                "{body:?}"
            );
        }
    }
}
