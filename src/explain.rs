//! `explain`: name the cause of an answer a user captured from real Azure (status, body, headers and
//! the bearer token that was sent) with the runner's own [`classify`] and fixes, without running
//! anything. [`Captured::gather`] reads and decodes the inputs; [`explain`] is pure and returns a
//! [`Report`] ranked by confidence, whose JSON is `{"diagnoses":[…],"token":…}`. With the user's
//! own `az` files ([`explain_with`]) causes that share one answer are told apart: whose token it
//! was, which identity of the app holds the role, what `AZURE_CLIENT_ID` says.

mod ambiguity;
mod input;
mod report;
pub mod text;

use serde_json::Value;

use crate::diagnosis::fixes::{self, FixContext, Observed};
use crate::diagnosis::{Diagnosis, Evidence, classify, identities};
use crate::evidence::import::Parts;
use crate::transcript::Hop;
use crate::world::IdentityProtocol;
pub use input::{Captured, ExplainError, Request, read_pasted};
pub use report::{Candidate, Confidence, Report, TokenSummary};
pub use text::explain_text;

/// Diagnose captured evidence against the clock `now` (epoch seconds).
#[cfg(test)]
pub fn explain(captured: &Captured, now: u64) -> Report {
    explain_with(captured, now, None)
}

/// Diagnose captured evidence with the user's own app, role assignments and pool, when given.
pub fn explain_with(captured: &Captured, now: u64, user: Option<&Parts>) -> Report {
    let (hop, hop_reason) = infer_hop(captured);
    let claims = captured.claims.as_ref();
    let ctx = match user {
        Some(user) => FixContext::for_app_rbac(
            &user.app,
            user.rbac(),
            user.roles_given,
            user.pool.as_ref(),
            IdentityProtocol::ContainerApps,
        )
        .with_claims(claims, Some(&user.app)),
        None => FixContext::from_claims(claims),
    };
    let mut found = hypotheses(hop, captured, now);
    ambiguity::resolve(&mut found, hop, captured, user);
    if let Some(user) = user {
        for h in &mut found {
            h.id = identities::refine_by_app(
                h.id,
                claims,
                &user.app,
                user.rbac(),
                user.pool.as_ref().map(|p| &p.resource_id),
            );
        }
        found.dedup_by_key(|h| h.id);
    }
    let diagnoses = found
        .into_iter()
        .map(|h| {
            let seen =
                Observed { hop, status: captured.status, claims: captured.claims.as_ref(), now };
            let mut explanation = fixes::explanation_of(h.id, &seen, &ctx);
            if let Some(note) = h.note {
                explanation.push_str("; ");
                explanation.push_str(&note);
            }
            Candidate { id: h.id, confidence: h.confidence, explanation, fix: fix(h.id, &ctx) }
        })
        .collect();
    Report {
        diagnoses,
        token: captured.claims.as_ref().map(|c| TokenSummary::of(c, now)),
        hop,
        hop_reason,
    }
}

/// The runner's fix, except for `unexplained`, whose generic fix points at a transcript that a
/// user with a pasted answer does not have.
fn fix(id: Diagnosis, ctx: &FixContext) -> String {
    match id {
        Diagnosis::Unexplained => "compare the answer with the failure-mode table in docs/failure-modes.md, or reproduce it locally with a scenario (session-pool-harness run)".into(),
        other => fixes::fix(other, ctx),
    }
}

/// Body text that only one hop writes (FIDELITY §1 REP, §2 DOC/REP, §3 DOC, §5 DOC/REP, §6 DOC).
const HOP_MARKERS: &[(&str, Hop)] = &[
    ("Unable to load the proper Managed Identity", Hop::Identity),
    // REP (spelling as observed, and as it would be spelt right): the identity endpoint's own 500.
    ("An unexpected error occured while fetching the AAD Token", Hop::Identity),
    ("An unexpected error occurred while fetching the AAD Token", Hop::Identity),
    ("169.254.169.254", Hop::Identity),
    ("/metadata/identity/", Hop::Identity),
    ("IMDS", Hop::Identity),
    ("ManagedIdentityCredential", Hop::Identity),
    ("Identity not found", Hop::Identity),
    ("Multiple user assigned identities", Hop::Identity),
    ("Required metadata header", Hop::Identity),
    ("AADSTS", Hop::Entra),
    ("\"error_codes\"", Hop::Entra),
    ("DynamicApisNotAllowed", Hop::Pool),
    ("SessionTypeNotSupportedInRegion", Hop::Pool),
    ("SessionMCPServerNotEnabled", Hop::Pool),
    ("SessionPropertiesMissing", Hop::Pool),
    ("allocating pod", Hop::Pool),
    ("runtime is unknown", Hop::Piston),
    ("is required as a string", Hop::Piston),
];

/// The hop and why: given, named by the body or headers, or the pool by default.
fn infer_hop(captured: &Captured) -> (Hop, String) {
    if let Some(hop) = captured.hop {
        return (hop, "given with --hop".into());
    }
    if let Some((marker, hop)) =
        HOP_MARKERS.iter().find(|(marker, _)| captured.body.contains(marker))
    {
        return (*hop, format!("inferred: the body mentions {marker:?}"));
    }
    if captured.header("server").is_some_and(|s| s.eq_ignore_ascii_case("Kestrel")) {
        // REP: the Container Apps identity endpoint answers with `Server: Kestrel` (FIDELITY §1).
        return (Hop::Identity, "inferred: the answer carries Server: Kestrel, as the Container Apps identity endpoint's do".into());
    }
    let body: Option<Value> = serde_json::from_str(&captured.body).ok();
    if body.as_ref().and_then(|b| b.pointer("/error/code")).is_some_and(Value::is_string) {
        return (
            Hop::Pool,
            "inferred: the body has the session-pool error shape {\"error\":{\"code\":…}}".into(),
        );
    }
    if captured.header("x-ms-error-code").is_some() {
        return (
            Hop::Pool,
            "inferred: the answer carries x-ms-error-code, which session pools send".into(),
        );
    }
    (Hop::Pool, "assumed: nothing names a hop, and the pool is the hop people most often paste (give --hop to choose)".into())
}

/// A cause before its explanation is written.
struct Hypothesis {
    id: Diagnosis,
    confidence: Confidence,
    note: Option<String>,
}

impl Hypothesis {
    fn new(id: Diagnosis, confidence: Confidence, note: Option<String>) -> Self {
        Self { id, confidence, note }
    }
}

/// Statuses tried when none was given: every status the catalogue tells apart.
const STATUSES_TO_TRY: &[u16] = &[200, 400, 401, 403, 404, 429, 500];

fn hypotheses(hop: Hop, captured: &Captured, now: u64) -> Vec<Hypothesis> {
    if captured.no_answer {
        // No HTTP answer: only the hop says what that means (an identity endpoint down, a container
        // not listening, …).
        let id = classify(hop, None, "", Evidence::default()).unwrap_or(Diagnosis::Unexplained);
        let (confidence, note) = match captured.hop {
            Some(_) => (Confidence::Medium, None),
            None => (
                Confidence::Low,
                Some("the text does not say which hop did not answer: pass --hop".to_owned()),
            ),
        };
        return vec![Hypothesis::new(id, confidence, note)];
    }
    let mut found: Vec<Hypothesis> = match captured.status {
        Some(status) => {
            let judged = diagnose_capture(hop, status, captured, now);
            let mut found =
                vec![Hypothesis::new(judged.id, judged.confidence(true), judged.note())];
            found.extend(look_alikes(hop, status, judged.id, captured, now));
            found
        }
        None => STATUSES_TO_TRY
            .iter()
            .map(|&status| (status, diagnose_capture(hop, status, captured, now)))
            .filter(|(_, j)| j.body_mattered || j.token_mattered)
            .map(|(status, j)| {
                Hypothesis::new(
                    j.id,
                    j.confidence(false),
                    Some(format!("the status was not given: this is the cause if it was {status}")),
                )
            })
            .collect(),
    };
    found.sort_by_key(|h| std::cmp::Reverse(h.confidence));
    let mut ranked: Vec<Hypothesis> = Vec::new();
    for hypothesis in found {
        if !ranked.iter().any(|h| h.id == hypothesis.id) {
            ranked.push(hypothesis);
        }
    }
    if ranked.iter().any(|h| h.id != Diagnosis::Unexplained) {
        ranked.retain(|h| h.id != Diagnosis::Unexplained);
    } else {
        let note = if captured.status.is_some() {
            "nothing in this evidence matches a failure the harness models"
        } else {
            "give --status (and --body, --token) for a firmer answer"
        };
        ranked = vec![Hypothesis::new(Diagnosis::Unexplained, Confidence::Low, Some(note.into()))];
    }
    ranked
}

/// What [`classify`] says about one status, and which evidence changed its answer.
struct CaptureDiagnosis {
    id: Diagnosis,
    body_mattered: bool,
    token_mattered: bool,
    /// The answer rests on assuming no token was sent, because none was given.
    assumed_no_token: bool,
}

impl CaptureDiagnosis {
    fn confidence(&self, status_given: bool) -> Confidence {
        match (status_given, self.body_mattered || self.token_mattered) {
            _ if self.assumed_no_token => Confidence::Low,
            (true, true) => Confidence::High,
            (true, false) | (false, true) => Confidence::Medium,
            (false, false) => Confidence::Low,
        }
    }

    fn note(&self) -> Option<String> {
        self.assumed_no_token.then(|| NO_TOKEN_NOTE.to_owned())
    }
}

const NO_TOKEN_NOTE: &str = "no token was given, so this is one of several candidates: pass --token (the bearer token that was sent) to tell them apart";

fn diagnose_capture(hop: Hop, status: u16, captured: &Captured, now: u64) -> CaptureDiagnosis {
    let text = answer_text(captured);
    let evidence = Evidence {
        token_claims: captured.claims.as_ref(),
        had_authorization: captured.claims.is_some(),
        via_imds: hop == Hop::Identity
            && (is_imds_error(&captured.body) || captured.imds)
            && captured.named_identity != Some(true),
        now: Some(now),
        refusal: None,
    };
    let id = diagnosis_for(hop, status, &text, evidence);
    CaptureDiagnosis {
        id,
        body_mattered: diagnosis_for(hop, status, "", Evidence { via_imds: false, ..evidence })
            != id,
        token_mattered: captured.claims.is_some()
            && (diagnosis_for(hop, status, &text, Evidence { token_claims: None, ..evidence })
                != id
                || token_corroborates(id, captured, now)),
        assumed_no_token: captured.claims.is_none()
            && diagnosis_for(hop, status, &text, Evidence { had_authorization: true, ..evidence })
                != id,
    }
}

/// [`classify`] as a verdict: a pool failure the pool itself does not explain is the container's
/// answer forwarded as it is (FIDELITY §5, DOC); any other success is `ok`.
fn diagnosis_for(hop: Hop, status: u16, text: &str, evidence: Evidence<'_>) -> Diagnosis {
    let success = (200..300).contains(&status);
    classify(hop, Some(status), text, evidence)
        .or_else(|| {
            (hop == Hop::Pool && !success)
                .then(|| classify(Hop::Container, Some(status), text, evidence))
                .flatten()
        })
        .unwrap_or(if success { Diagnosis::Ok } else { Diagnosis::Unexplained })
}

/// The body, plus the pool's `x-ms-error-code` when the body does not already name it: the header
/// carries the same code as `error.code` (FIDELITY §5, DOC), so a user who kept only the headers
/// still gets e.g. `DynamicApisNotAllowed` recognised.
fn answer_text(captured: &Captured) -> String {
    match captured.header("x-ms-error-code") {
        Some(code) if !code.is_empty() && !captured.body.contains(code) => {
            format!("{}\n{code}", captured.body)
        }
        _ => captured.body.clone(),
    }
}

/// IMDS errors are `{"error":"invalid_request",…}` (FIDELITY §2, DOC/REP); the Container Apps
/// endpoint answers `{"statusCode",…,"message"}` (§1, REP). The shape tells which protocol the SDK
/// used, which `classify` needs to tell an app without identity from an unassigned client id.
fn is_imds_error(body: &str) -> bool {
    let compact: String = body.split_whitespace().collect();
    compact.contains(r#""error":"invalid_request""#)
}

/// A 403 to a token the pool would accept (right audience, not expired) can only be authorization:
/// the 401 causes are ruled out (FIDELITY §5, REP).
fn token_corroborates(id: Diagnosis, captured: &Captured, now: u64) -> bool {
    let Some(claims) = captured.claims.as_ref() else { return false };
    let token = TokenSummary::of(claims, now);
    id == Diagnosis::MissingRole && token.is_for_session_pools() && !token.expired
}

/// Other causes that produce the same answer, at low confidence.
fn look_alikes(
    hop: Hop,
    status: u16,
    primary: Diagnosis,
    captured: &Captured,
    now: u64,
) -> Vec<Hypothesis> {
    let low = |id, note: &str| Hypothesis::new(id, Confidence::Low, Some(note.to_owned()));
    let token = captured.claims.as_ref().map(|c| TokenSummary::of(c, now));
    match (hop, status) {
        // REP: the same 403 comes for 30-60 s after a new assignment.
        (Hop::Pool, 403) if captured.body.trim().is_empty() && captured.hop.is_none() => vec![
            low(Diagnosis::RolePropagationDelay, "likely if the role was assigned in the last minute"),
            low(Diagnosis::IdentityHeaderMismatch, "the identity endpoint also answers 403 with an empty body (a wrong X-IDENTITY-HEADER): if this was the token request, pass --hop identity"),
        ],
        (Hop::Pool, 403) => vec![low(Diagnosis::RolePropagationDelay, "likely if the role was assigned in the last minute")],
        (Hop::Pool, 401) if token.is_none() => vec![low(Diagnosis::WrongAudience, NO_TOKEN_NOTE), low(Diagnosis::TokenExpired, NO_TOKEN_NOTE)],
        (Hop::Pool, 401) if token.as_ref().is_some_and(|t| t.expired) && primary != Diagnosis::TokenExpired => {
            let note = if primary == Diagnosis::WrongAudience { "the token has expired as well" } else { "it expired within the 5 min clock skew servers are assumed to allow" };
            vec![low(Diagnosis::TokenExpired, note)]
        }
        // REP: a portless pool answers a bare "Not Found"; a container may answer 404 itself.
        (Hop::Pool, 404) => [Diagnosis::NoTargetPort, Diagnosis::ContainerPathNotFound]
            .into_iter()
            .filter(|id| *id != primary)
            .map(|id| low(id, "a 404 through the pool comes from the pool when it has no target port, otherwise from the container"))
            .collect(),
        (Hop::Pool, 429) => vec![low(Diagnosis::PoolFull, "a full pool answers 429 with \"Error happened when allocating pod\" (REP)")],
        (Hop::Pool, 500 | 502 | 503) => vec![low(Diagnosis::ContainerNotReady, "a container that does not start answers 500 with \"Error happened when allocating pod\" (REP)")],
        // REP: on a VM, or with a client_id, IMDS says the same for an identity that is not assigned.
        // REP: one answer, two causes (FIDELITY §7); the user's app (--app) tells them apart.
        // REP: one answer, two causes (FIDELITY §7): [`ambiguity`] weighs them by what the text shows.
        (Hop::Identity, 400) if primary == Diagnosis::IdentityNotFound && !is_imds_error(&captured.body) => vec![low(
            Diagnosis::IdentityNotSpecified,
            ambiguity::IDENTITY_TELL_APART,
        )],
        (Hop::Identity, 400) if primary == Diagnosis::IdentityNotEnabled => {
            vec![low(Diagnosis::IdentityNotFound, "on a VM, or when a client_id was requested, IMDS says the same for an unassigned identity")]
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
