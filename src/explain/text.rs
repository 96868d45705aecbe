//! `explain --text`: every error in a pasted text (FIDELITY §9), each diagnosed with the same rules
//! as a captured answer, and a report that says what was read from where ("status 403 from a
//! requests error line; hop pool from the URL").

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use super::report::{Candidate, Confidence, TokenSummary};
use super::{Captured, explain_with, fix};
use crate::diagnosis::Diagnosis;
use crate::diagnosis::fixes::FixContext;
use crate::evidence::import::Parts;
use crate::evidence::pasted::{
    self, Attempt, Clean, CredentialKind, Encoding, Normalization, Pasted, PastedFormat, location,
};
use crate::transcript::Hop;

/// What one error of the text said, as read.
#[derive(Debug, Clone, Serialize)]
pub struct Extracted {
    pub format: PastedFormat,
    /// 1-based, inclusive.
    pub first_line: usize,
    pub last_line: usize,
    pub status: Option<u16>,
    /// Why the status is what it is when the text did not print the number.
    pub status_implied_by: Option<String>,
    pub url: Option<String>,
    pub error_code: Option<String>,
    pub hop: Hop,
    pub hop_reason: String,
    /// What was done to its lines before they were read (log prefixes, JSON records, …).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub normalized: Vec<Normalization>,
}

/// A credential of a chain and what its line means.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialLine {
    pub credential: String,
    pub meaning: String,
}

/// One error of the text and its diagnosis.
#[derive(Debug, Clone, Serialize)]
pub struct TextError {
    pub extracted: Extracted,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub credentials: Vec<CredentialLine>,
    pub diagnoses: Vec<Candidate>,
}

/// `{"errors":[…],"token":…,"encoding":…}`; no error found is an empty `errors`, never `ok`.
#[derive(Debug, Clone, Serialize)]
pub struct TextReport {
    pub errors: Vec<TextError>,
    pub token: Option<TokenSummary>,
    /// How the bytes were decoded.
    pub encoding: Encoding,
}

/// Diagnose every error in `text` (bytes as pasted: UTF-8, UTF-16 with its BOM, or Latin-1);
/// `claims` of the token the user says was sent; `hop` for errors whose text does not say which
/// hop answered (`--hop`).
pub fn explain_text(
    text: &[u8],
    claims: Option<Value>,
    hop: Option<Hop>,
    now: u64,
    user: Option<&Parts>,
) -> TextReport {
    let (decoded, encoding) = pasted::clean::decode(text);
    let errors = pasted::read_clean(&Clean::new(&decoded))
        .iter()
        .map(|p| explain_one(p, claims.as_ref(), hop, now, user))
        .filter(|e| !e.diagnoses.is_empty())
        .collect();
    TextReport { errors, token: claims.as_ref().map(|c| TokenSummary::of(c, now)), encoding }
}

fn explain_one(
    pasted: &Pasted,
    claims: Option<&Value>,
    given: Option<Hop>,
    now: u64,
    user: Option<&Parts>,
) -> TextError {
    let located = pasted.url.as_deref().and_then(location::locate);
    let mi = pasted.attempts.iter().find(|a| a.got_an_answer());
    let hop = located.as_ref().map(|l| l.hop).or(mi.map(|_| Hop::Identity)).or(given);
    let identity_url =
        pasted.url.as_deref().filter(|_| located.as_ref().is_some_and(|l| l.hop == Hop::Identity));
    let imds = identity_url.is_some_and(location::is_imds)
        || pasted.attempts.iter().any(|a| a.message.contains("IMDS"))
        || pasted.body.contains("IMDS");
    let mut captured = match mi {
        Some(attempt) => Captured {
            hop,
            status: attempt.status,
            body: attempt.body.clone(),
            claims: claims.cloned(),
            ..Captured::default()
        },
        None => Captured {
            hop,
            status: pasted.status,
            body: pasted.body.clone(),
            headers: pasted.headers.clone(),
            claims: claims.cloned(),
            no_answer: pasted.format == PastedFormat::NoAnswer,
            ..Captured::default()
        },
    };
    captured.named_identity = identity_url.map(location::names_identity);
    captured.imds = imds;
    let report = explain_with(&captured, now, user);
    let hop_reason_from_body = report.hop_reason.clone();
    let hop_reason = match (&located, mi) {
        (Some(l), _) => format!("from the URL: {}", l.reason),
        (None, Some(a)) => format!("{} quotes the identity endpoint's answer", a.credential),
        (None, None) => hop_reason_from_body,
    };
    let mut diagnoses =
        if pasted.attempts.is_empty() || mi.is_some() { report.diagnoses } else { Vec::new() };
    // A success is not a diagnosis of a pasted error (the answer was read as one by mistake).
    diagnoses.retain(|d| d.id != Diagnosis::Ok);
    if diagnoses.is_empty() && pasted.attempts.is_empty() {
        return TextError {
            extracted: extracted(
                pasted,
                pasted.status,
                pasted.status_implied_by.clone(),
                report.hop,
                hop_reason,
            ),
            credentials: Vec::new(),
            diagnoses,
        };
    }
    add_credential_findings(&mut diagnoses, &pasted.attempts, mi.is_some(), user);
    if diagnoses.is_empty() {
        diagnoses.push(Candidate {
            id: Diagnosis::Unexplained,
            confidence: Confidence::Low,
            explanation: "no credential in the text got an answer or names a known cause".into(),
            fix: fix(Diagnosis::Unexplained, &FixContext::default()),
        });
    }
    let status = if mi.is_some() { captured.status } else { pasted.status };
    let implied_by = if mi.is_some() && status.is_some() && pasted.status.is_none() {
        Some(format!("the {} message", mi.map_or("", |a| a.credential.as_str())))
    } else {
        pasted.status_implied_by.clone()
    };
    TextError {
        extracted: extracted(pasted, status, implied_by, report.hop, hop_reason),
        credentials: pasted
            .attempts
            .iter()
            .map(|a| CredentialLine { credential: a.credential.clone(), meaning: meaning(a) })
            .collect(),
        diagnoses,
    }
}

/// What the report says was read for one error.
fn extracted(
    pasted: &Pasted,
    status: Option<u16>,
    status_implied_by: Option<String>,
    hop: Hop,
    hop_reason: String,
) -> Extracted {
    Extracted {
        format: pasted.format,
        first_line: pasted.lines.start + 1,
        last_line: pasted.lines.end.max(pasted.lines.start + 1),
        status,
        status_implied_by,
        url: pasted.url.clone(),
        error_code: pasted.error_code.clone(),
        hop,
        hop_reason,
        normalized: pasted.normalized.clone(),
    }
}

/// A chain whose developer tool is missing: the cause when no credential got an answer; beside an
/// answer, a note that it matters only where no managed identity is expected.
fn add_credential_findings(
    diagnoses: &mut Vec<Candidate>,
    attempts: &[Attempt],
    answered: bool,
    user: Option<&Parts>,
) {
    let Some(cli) = attempts.iter().find(|a| a.tool_missing) else { return };
    let ctx = user.map_or_else(FixContext::default, |u| {
        FixContext::for_app(
            &u.app,
            &u.role_assignments,
            u.roles_given,
            u.pool.as_ref(),
            crate::world::IdentityProtocol::ContainerApps,
        )
    });
    let (confidence, explanation) = if answered {
        (
            Confidence::Low,
            format!(
                "{} also failed ({}): it matters only where no managed identity is expected, e.g. on a developer machine",
                cli.credential, cli.message
            ),
        )
    } else {
        (
            Confidence::High,
            format!(
                "no credential of the chain reached an endpoint, and {} says: {}",
                cli.credential, cli.message
            ),
        )
    };
    diagnoses.push(Candidate {
        id: Diagnosis::CredentialChainUnavailable,
        confidence,
        explanation,
        fix: fix(Diagnosis::CredentialChainUnavailable, &ctx),
    });
}

fn meaning(attempt: &Attempt) -> String {
    match (attempt.kind, attempt.got_an_answer(), attempt.tool_missing) {
        (CredentialKind::ManagedIdentity, true, _) => {
            match (attempt.status, attempt.body.is_empty()) {
                (Some(status), true) => {
                    format!("the identity endpoint answered {status} with an empty body")
                }
                (Some(status), false) => {
                    format!("the identity endpoint answered {status}: {}", attempt.body)
                }
                (None, _) => format!("the identity endpoint answered: {}", attempt.body),
            }
        }
        (CredentialKind::ManagedIdentity, false, _) => {
            format!("no answer from an identity endpoint: {}", attempt.message)
        }
        (_, _, true) => "the Azure CLI is not installed or not signed in".into(),
        _ => "not configured here (a chain tries it and moves on)".into(),
    }
}

impl fmt::Display for TextReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.encoding != Encoding::Utf8 {
            writeln!(f, "read as {}", self.encoding.describe())?;
        }
        if self.errors.is_empty() {
            return writeln!(
                f,
                "no error found in the text: paste the whole message (status line, body, or credential chain), or use --status/--body"
            );
        }
        if let Some(token) = &self.token {
            write!(f, "{token}")?;
        }
        let count = self.errors.len();
        for (n, error) in self.errors.iter().enumerate() {
            let x = &error.extracted;
            let lines = if x.first_line == x.last_line {
                format!("line {}", x.first_line)
            } else {
                format!("lines {}-{}", x.first_line, x.last_line)
            };
            let status = match (x.status, &x.status_implied_by) {
                (Some(s), Some(why)) => format!("status {s} (implied by {why})"),
                (Some(s), None) => format!("status {s}"),
                (None, _) => "no status".into(),
            };
            let numbering =
                if count > 1 { format!("error {} of {count}: ", n + 1) } else { String::new() };
            let read_after = if x.normalized.is_empty() {
                String::new()
            } else {
                let done: Vec<&str> = x.normalized.iter().map(|n| n.describe()).collect();
                format!("; read after: {}", done.join(", "))
            };
            writeln!(
                f,
                "{numbering}{status} from {} ({lines}{read_after}); hop {} ({})",
                x.format.describe(),
                x.hop,
                x.hop_reason
            )?;
            for line in &error.credentials {
                writeln!(f, "  {}: {}", line.credential, line.meaning)?;
            }
            for d in &error.diagnoses {
                writeln!(f, "{} ({}): {}", d.id, d.confidence, d.explanation)?;
                writeln!(f, "  fix: {}", d.fix)?;
            }
        }
        Ok(())
    }
}
