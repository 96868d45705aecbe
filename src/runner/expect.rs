//! Expectations: compare what happened with what the scenario says must happen.
//!
//! Each failed check is one sentence saying what was expected and what came instead.

use serde_json::Value;

use crate::diagnosis::{Diagnosis, Finding};
use crate::scenario::format::StepExpect;
use crate::transcript::Hop;

/// Check the backend's answer to one step.
pub fn check_step(expect: &StepExpect, status: Option<u16>, body: Option<&Value>) -> Vec<String> {
    let mut failures = Vec::new();
    let text = match body {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    if let Some(want) = expect.status
        && status != Some(want)
    {
        let got = status.map_or("no answer".to_owned(), |s| s.to_string());
        failures.push(format!("expected status {want}, got {got} with body {}", excerpt(&text)));
    }
    if let Some(want) = &expect.stdout {
        match body.and_then(|b| b.pointer("/run/stdout")) {
            Some(Value::String(got)) if got == want => {}
            Some(got) => failures.push(format!("expected run.stdout {want:?}, got {got}")),
            None => failures.push(format!(
                "expected run.stdout {want:?}, but the answer has no run.stdout: {}",
                excerpt(&text)
            )),
        }
    }
    for fragment in &expect.body_contains {
        if !text.contains(fragment.as_str()) {
            failures
                .push(format!("expected the body to contain {fragment:?}, got {}", excerpt(&text)));
        }
    }
    failures
}

/// Why a scenario did not pass. Its text (`Display`, and its JSON form) is one sentence saying what
/// was expected and what came instead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// A step's answer was not what its `expect` says.
    Step {
        /// The step's name.
        step: String,
        /// What was expected and what came.
        problem: String,
    },
    /// The run's diagnoses, as sets.
    Diagnoses {
        /// What the scenario expects.
        expected: Vec<Diagnosis>,
        /// What the run gave.
        got: Vec<Diagnosis>,
    },
    /// Requests a hop received.
    Calls {
        /// The hop.
        hop: Hop,
        /// Requests expected.
        expected: usize,
        /// Requests received.
        got: usize,
    },
    /// The run itself could not be carried out (a process, the stand-ins, the deadline).
    Run(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Step { step, problem } => write!(f, "step '{step}': {problem}"),
            Self::Diagnoses { expected, got } => {
                write!(f, "expected diagnoses [{}], got [{}]", join(expected), join(got))
            }
            Self::Calls { hop, expected, got } => {
                write!(f, "expected {expected} request(s) to {hop}, got {got}")
            }
            Self::Run(text) => f.write_str(text),
        }
    }
}

impl serde::Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Check the run's diagnoses (as a set) when the scenario names any.
pub fn check_diagnoses(expected: &[Diagnosis], findings: &[Finding]) -> Option<Failure> {
    if expected.is_empty() {
        return None;
    }
    let mut want: Vec<Diagnosis> = expected.to_vec();
    let mut got: Vec<Diagnosis> = findings.iter().map(|f| f.id).collect();
    want.sort();
    want.dedup();
    got.sort();
    got.dedup();
    (want != got).then_some(Failure::Diagnoses { expected: want, got })
}

/// Check how many requests each named hop received.
pub fn check_calls(
    expected: &[(Hop, usize)],
    exchanges: &[crate::transcript::Exchange],
) -> Vec<Failure> {
    expected
        .iter()
        .filter_map(|(hop, want)| {
            let got = exchanges.iter().filter(|e| e.to == *hop).count();
            (got != *want).then_some(Failure::Calls { hop: *hop, expected: *want, got })
        })
        .collect()
}

fn join(ids: &[Diagnosis]) -> String {
    ids.iter().map(|d| d.id()).collect::<Vec<_>>().join(", ")
}

fn excerpt(text: &str) -> String {
    if text.is_empty() {
        return "(empty)".into();
    }
    crate::text::excerpt(text, 400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_mismatch_is_reported_with_what_came_instead() {
        let expect = StepExpect {
            status: Some(200),
            stdout: Some("42\n".into()),
            body_contains: vec!["ok".into()],
        };
        let failures = check_step(&expect, Some(502), Some(&json!({"message": "pool hop failed"})));
        assert_eq!(failures.len(), 3, "{failures:?}");
        assert!(failures[0].contains("expected status 200, got 502"));
        assert!(failures[1].contains("no run.stdout"));
    }

    #[test]
    fn a_matching_answer_has_no_failures() {
        let expect = StepExpect {
            status: Some(200),
            stdout: Some("42\n".into()),
            body_contains: vec!["42".into()],
        };
        assert!(
            check_step(&expect, Some(200), Some(&json!({"run": {"stdout": "42\n"}}))).is_empty()
        );
    }

    #[test]
    fn diagnoses_compare_as_sets() {
        let finding = |id| Finding {
            id,
            hop: None,
            seq: None,
            explanation: String::new(),
            fix: String::new(),
        };
        assert_eq!(
            check_diagnoses(&[Diagnosis::MissingRole], &[finding(Diagnosis::MissingRole)]),
            None
        );
        let failure =
            check_diagnoses(&[Diagnosis::Ok], &[finding(Diagnosis::MissingRole)]).unwrap();
        assert_eq!(failure.to_string(), "expected diagnoses [ok], got [missing-role]");
    }
}
