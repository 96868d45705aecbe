//! Diagnosis: the single list of failure ids, how each is recognised, and its fix.
//!
//! [`crate::catalogue`] defines the ids; [`rules`] recognises them in an answer or a transcript; [`fixes`]
//! fills explanations and fixes with real ids. The runner diagnoses from what the stand-ins saw
//! ([`diagnose`]); the reference backend and `explain` use the same [`classify`].

pub mod check;
pub mod dataflow;
pub mod fixes;
pub mod identities;
pub mod rules;

use serde::Serialize;

pub use crate::catalogue::{Description, Diagnosis};
use crate::transcript::{Exchange, Hop};
use crate::world::World;
pub use fixes::FixContext;
pub use rules::{Evidence, classify};

/// A diagnosis with the evidence that led to it and the fix, filled with the scenario's real ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The cause.
    pub id: Diagnosis,
    /// The hop whose answer showed it (`None` for `ok`).
    pub hop: Option<Hop>,
    /// The transcript line that showed it.
    pub seq: Option<u64>,
    /// Why, from what the stand-ins saw (ids, statuses, the world's names).
    pub explanation: String,
    /// What to change, filled with the world's own names and ids.
    pub fix: String,
}

/// What went wrong with the run itself, outside any hop: the runner says, with the process's last
/// output where there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunProblem {
    /// The backend did not start, did not become ready, or exited during the run.
    BackendNotStarted(String),
    /// The session container did not start or did not become ready.
    ContainerNotStarted(String),
    /// The stand-ins, the fake tools or the deadline: the run itself.
    Harness(String),
}

impl RunProblem {
    /// The diagnosis it is.
    pub fn id(&self) -> Diagnosis {
        match self {
            Self::BackendNotStarted(_) => Diagnosis::BackendNotStarted,
            Self::ContainerNotStarted(_) => Diagnosis::ContainerNotStarted,
            Self::Harness(_) => Diagnosis::HarnessError,
        }
    }

    pub(crate) fn finding(&self, context: &FixContext) -> Finding {
        let (id, hop, detail) = match self {
            Self::BackendNotStarted(d) => (Diagnosis::BackendNotStarted, Some(Hop::Backend), d),
            Self::ContainerNotStarted(d) => {
                (Diagnosis::ContainerNotStarted, Some(Hop::Container), d)
            }
            Self::Harness(d) => (Diagnosis::HarnessError, None, d),
        };
        Finding { id, hop, seq: None, explanation: detail.clone(), fix: fixes::fix(id, context) }
    }
}

/// Diagnose a run from the transcript the stand-ins recorded, with the world for the fixes.
pub fn diagnose(exchanges: &[Exchange], world: &World) -> Vec<Finding> {
    diagnose_run(exchanges, world, &[])
}

/// Diagnose a run: what went wrong with the run itself first, then every failing hop once in the
/// order its request started, then each execution whose output did not arrive as the engine
/// produced it. When nothing the stand-ins saw explains a failed answer, a cause its text quotes
/// from the SDK (read as a pasted text) is named. `ok` only when none of these holds.
pub fn diagnose_run(
    exchanges: &[Exchange],
    world: &World,
    problems: &[RunProblem],
) -> Vec<Finding> {
    let context = FixContext::from_world(world);
    let mut findings: Vec<Finding> = problems.iter().map(|p| p.finding(&context)).collect();
    for hit in rules::find(exchanges) {
        let id = identities::refine(hit.diagnosis, hit.exchange, world);
        if findings.iter().any(|f| f.id == id) {
            continue;
        }
        let ctx = context.clone().with_exchange(Some(hit.exchange), Some(world));
        findings.push(Finding {
            id,
            hop: Some(hit.exchange.to),
            seq: Some(hit.exchange.seq),
            explanation: fixes::explanation(id, hit.exchange, &ctx, Some(world)),
            fix: fixes::fix(id, &ctx),
        });
    }
    findings.extend(data_flow_findings(exchanges, &findings, &context));
    if findings.is_empty() {
        let backend_failed = exchanges.iter().any(|e| e.from == Hop::Client && !e.succeeded());
        let finding = match (backend_failed, rules::cause_in_backend_text(exchanges)) {
            (false, _) => match rules::execution_without_pool(exchanges) {
                None => Finding {
                    id: Diagnosis::Ok,
                    hop: None,
                    seq: None,
                    explanation: "every hop answered 2xx and every execution's output reached the client as the engine produced it".into(),
                    fix: fixes::fix(Diagnosis::Ok, &context),
                },
                Some(step) => no_code_ran(step, &context),
            },
            (true, Some((id, exchange, said))) => Finding {
                id,
                hop: Some(Hop::Backend),
                seq: Some(exchange.seq),
                explanation: format!("no stand-in saw a failure; the backend's answer quotes its SDK: {}", excerpt(&said)),
                fix: fixes::fix(id, &context),
            },
            (true, None) => Finding {
                id: Diagnosis::Unexplained,
                hop: None,
                seq: None,
                explanation: "the backend answered an error although every hop behind it succeeded: read its message".into(),
                fix: fixes::fix(Diagnosis::Unexplained, &context),
            },
        };
        findings.push(finding);
    }
    findings
}

/// Executions whose output was lost on the way, and successes no execution engine produced.
fn data_flow_findings(
    exchanges: &[Exchange],
    known: &[Finding],
    context: &FixContext,
) -> Vec<Finding> {
    let mut found: Vec<Finding> = Vec::new();
    for (step, flow) in dataflow::executions(exchanges) {
        let finding = match flow {
            // The hop that dropped it already failed: that failure says why.
            dataflow::Flow::Lost { seq, .. } if known.iter().any(|f| f.seq == Some(seq)) => {
                continue;
            }
            dataflow::Flow::Lost { hop, seq, explanation } => Finding {
                id: Diagnosis::OutputLost,
                hop: Some(hop),
                seq: Some(seq),
                explanation,
                fix: fixes::fix(Diagnosis::OutputLost, context),
            },
            dataflow::Flow::NoEngine if known.is_empty() => Finding {
                id: Diagnosis::Unexplained,
                hop: Some(Hop::Backend),
                seq: Some(step.seq),
                explanation: format!(
                    "the backend answered {} to an execution that reached the pool, but no execution engine (Piston, a code interpreter) ran for it: the output did not come from running the code",
                    step.status.unwrap_or_default()
                ),
                fix: fixes::fix(Diagnosis::Unexplained, context),
            },
            _ => continue,
        };
        if !found.iter().chain(known).any(|f| f.id == finding.id) {
            found.push(finding);
        }
    }
    found
}

/// A successful answer to an execution that never reached the pool: whatever it says, no code ran.
/// When its text quotes a cause (an SDK's "Azure CLI not found on path"), that cause is named.
fn no_code_ran(step: &Exchange, context: &FixContext) -> Finding {
    let stderr = step.response_str("/run/stderr").unwrap_or("(none)");
    if let Some(id) = rules::cause_in_text(stderr) {
        return Finding {
            id,
            hop: Some(Hop::Backend),
            seq: Some(step.seq),
            explanation: format!(
                "the backend answered {} to an execution that never reached the pool (an error-swallowing backend answers a failure this way); its run.stderr quotes its SDK: {}",
                step.status.unwrap_or_default(),
                excerpt(stderr)
            ),
            fix: fixes::fix(id, context),
        };
    }
    Finding {
        id: Diagnosis::Unexplained,
        hop: Some(Hop::Backend),
        seq: Some(step.seq),
        explanation: format!(
            "the backend answered {} to an execution that never reached the pool, so no code ran (an error-swallowing backend answers a failure this way); its run.stderr: {}",
            step.status.unwrap_or_default(),
            excerpt(stderr)
        ),
        fix: fixes::fix(Diagnosis::Unexplained, context),
    }
}

/// One line of at most 200 characters.
fn excerpt(text: &str) -> String {
    crate::text::excerpt(text, 200)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_id_is_unique_kebab_case_and_round_trips_through_serde() {
        let mut seen = std::collections::HashSet::new();
        for d in Diagnosis::ALL {
            let id = d.id();
            assert!(seen.insert(id), "duplicate id {id}");
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id} is not kebab-case"
            );
            assert_eq!(serde_json::to_value(d).unwrap(), json!(id));
            assert_eq!(serde_json::from_value::<Diagnosis>(json!(id)).unwrap(), *d);
        }
    }

    #[test]
    fn a_401_with_a_foreign_audience_is_wrong_audience() {
        let claims = json!({"aud": "https://cognitiveservices.azure.com"});
        let evidence =
            Evidence { token_claims: Some(&claims), had_authorization: true, ..Default::default() };
        assert_eq!(classify(Hop::Pool, Some(401), "", evidence), Some(Diagnosis::WrongAudience));
        let right = json!({"aud": "https://dynamicsessions.io/", "exp": 1000});
        let fresh = Evidence {
            token_claims: Some(&right),
            had_authorization: true,
            via_imds: false,
            now: Some(1000),
            refusal: None,
        };
        assert_eq!(classify(Hop::Pool, Some(401), "", fresh), Some(Diagnosis::Unexplained));
        let expired = Evidence { now: Some(1000 + crate::azure::CLOCK_SKEW_SECS), ..fresh };
        assert_eq!(classify(Hop::Pool, Some(401), "", expired), Some(Diagnosis::TokenExpired));
        assert_eq!(
            classify(Hop::Pool, Some(401), "", Evidence::default()),
            Some(Diagnosis::NoAuthorizationHeader)
        );
    }

    #[test]
    fn a_401_for_a_token_with_an_absurd_exp_is_not_called_expired_and_does_not_overflow() {
        for exp in [json!(u64::MAX), json!(i64::MAX), json!(-1), json!("soon"), json!(1e300)] {
            let claims = json!({"aud": "https://dynamicsessions.io", "exp": exp});
            let evidence = Evidence {
                token_claims: Some(&claims),
                had_authorization: true,
                via_imds: false,
                now: Some(u64::MAX),
                refusal: None,
            };
            assert_eq!(
                classify(Hop::Pool, Some(401), "", evidence),
                Some(Diagnosis::Unexplained),
                "{exp}"
            );
        }
    }

    #[test]
    fn identity_errors_are_told_apart_by_body_and_protocol() {
        let aca = r#"{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"x"}"#;
        assert_eq!(
            classify(Hop::Identity, Some(400), aca, Evidence::default()),
            Some(Diagnosis::IdentityNotFound)
        );
        let imds = r#"{"error":"invalid_request","error_description":"Identity not found"}"#;
        assert_eq!(
            classify(
                Hop::Identity,
                Some(400),
                imds,
                Evidence { via_imds: true, ..Default::default() }
            ),
            Some(Diagnosis::IdentityNotEnabled)
        );
        assert_eq!(
            classify(Hop::Identity, Some(403), "", Evidence::default()),
            Some(Diagnosis::IdentityHeaderMismatch)
        );
        assert_eq!(
            classify(Hop::Identity, Some(500), "", Evidence::default()),
            Some(Diagnosis::IdentityEndpointUnavailable)
        );
        assert_eq!(
            classify(Hop::Identity, None, "", Evidence::default()),
            Some(Diagnosis::IdentityEndpointUnavailable)
        );
    }

    #[test]
    fn only_the_bare_not_found_of_a_portless_pool_is_no_target_port() {
        assert_eq!(
            classify(Hop::Pool, Some(404), "Not Found", Evidence::default()),
            Some(Diagnosis::NoTargetPort)
        );
        assert_eq!(
            classify(Hop::Pool, Some(404), r#"{"message":"Not Found"}"#, Evidence::default()),
            None,
            "the container's own 404 speaks for itself"
        );
        assert_eq!(
            classify(Hop::Container, Some(404), r#"{"message":"Not Found"}"#, Evidence::default()),
            Some(Diagnosis::ContainerPathNotFound)
        );
        assert_eq!(classify(Hop::Pool, Some(200), "", Evidence::default()), None);
    }

    #[test]
    fn pool_allocation_errors_are_told_apart_by_status() {
        let body = r#"{"error":{"code":"x","message":"Error happened when allocating pod for identifier abcd in pool p"}}"#;
        assert_eq!(
            classify(Hop::Pool, Some(429), body, Evidence::default()),
            Some(Diagnosis::PoolFull)
        );
        assert_eq!(
            classify(Hop::Pool, Some(500), body, Evidence::default()),
            Some(Diagnosis::ContainerNotReady)
        );
        let dynamic = r#"{"error":{"code":"DynamicApisNotAllowed","message":"Dynamic API calls are not allowed for session pool 'p': 'the pool is not dynamic'."}}"#;
        assert_eq!(
            classify(Hop::Pool, Some(400), dynamic, Evidence::default()),
            Some(Diagnosis::WrongEndpointShape)
        );
        let missing = r#"{"error":{"code":"BadRequest","message":"Missing required parameter 'identifier'"}}"#;
        assert_eq!(
            classify(Hop::Pool, Some(400), missing, Evidence::default()),
            Some(Diagnosis::MissingIdentifier)
        );
        assert_ne!(
            classify(Hop::Pool, Some(400), body, Evidence::default()),
            Some(Diagnosis::MissingIdentifier),
            "the allocation message names an identifier that is there"
        );
    }

    #[test]
    fn piston_runtime_and_timeout_answers_are_named() {
        assert_eq!(
            classify(
                Hop::Piston,
                Some(400),
                r#"{"message":"ruby-3 runtime is unknown"}"#,
                Evidence::default()
            ),
            Some(Diagnosis::RuntimeUnknown)
        );
        let timeout =
            r#"{"run":{"stdout":"","stderr":"","code":null,"signal":"SIGKILL","status":"TO"}}"#;
        assert_eq!(
            classify(Hop::Piston, Some(200), timeout, Evidence::default()),
            Some(Diagnosis::ExecutionTimeout)
        );
        assert_eq!(
            classify(Hop::Piston, Some(200), r#"{"run":{"status":null}}"#, Evidence::default()),
            None
        );
    }

    #[test]
    fn entra_errors_are_named_by_their_error_field() {
        assert_eq!(
            classify(Hop::Entra, Some(401), r#"{"error":"invalid_client"}"#, Evidence::default()),
            Some(Diagnosis::EntraInvalidClient)
        );
        assert_eq!(
            classify(Hop::Entra, Some(400), r#"{"error":"invalid_resource"}"#, Evidence::default()),
            Some(Diagnosis::EntraUnknownResource)
        );
    }
}
