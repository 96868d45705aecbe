//! What `explain` answers: ranked [`Candidate`]s and the [`TokenSummary`], serialised as
//! `{"diagnoses":[…],"token":…}` and rendered as a short text block.

use std::fmt;

use serde::Serialize;
use serde_json::Value;

use crate::azure::DYNAMIC_SESSIONS_AUDIENCE;
use crate::diagnosis::Diagnosis;
use crate::transcript::Hop;

/// How firmly the evidence names a cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    /// A candidate the evidence allows but does not point to.
    Low,
    /// The status alone, or the body alone without a status, names it.
    Medium,
    /// The status together with the body or the token names it.
    High,
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        })
    }
}

/// One named cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Candidate {
    pub id: Diagnosis,
    pub confidence: Confidence,
    pub explanation: String,
    pub fix: String,
}

/// What the token says, read without verifying it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenSummary {
    pub aud: Option<String>,
    pub oid: Option<String>,
    pub appid: Option<String>,
    pub tid: Option<String>,
    pub iss: Option<String>,
    /// Epoch seconds.
    pub exp: Option<u64>,
    pub expired: bool,
    /// Negative once expired; `None` without a well-formed `exp`.
    pub seconds_to_expiry: Option<i64>,
    /// Why `exp` cannot be read as a time, when it is present but malformed or absurd: such a token
    /// is invalid, not expired.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp_invalid: Option<String>,
}

impl TokenSummary {
    pub fn of(claims: &Value, now: u64) -> Self {
        let claim = |name: &str| claims[name].as_str().map(str::to_owned);
        let (exp, exp_invalid) = match crate::tokens::time_claim(claims, "exp") {
            Ok(exp) => (exp, None),
            Err(why) => (None, Some(why.to_string())),
        };
        // Both are at most the year 9999 in seconds: the difference fits.
        let seconds_to_expiry = exp
            .map(|exp| i128::from(exp) - i128::from(now))
            .map(|s| i64::try_from(s).unwrap_or(if s < 0 { i64::MIN } else { i64::MAX }));
        Self {
            aud: claim("aud"),
            oid: claim("oid"),
            appid: claim("appid"),
            tid: claim("tid"),
            iss: claim("iss"),
            exp,
            expired: seconds_to_expiry.is_some_and(|s| s <= 0),
            seconds_to_expiry,
            exp_invalid,
        }
    }

    /// Whether session pools accept the audience (FIDELITY §5, DOC).
    pub fn is_for_session_pools(&self) -> bool {
        self.aud
            .as_deref()
            .is_some_and(|aud| aud.trim_end_matches('/') == DYNAMIC_SESSIONS_AUDIENCE)
    }
}

/// The answer of `explain`: candidates, most likely first, never empty.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub diagnoses: Vec<Candidate>,
    pub token: Option<TokenSummary>,
    /// The hop diagnosed (text output only: the JSON shape is fixed).
    #[serde(skip)]
    pub hop: Hop,
    /// Given, or why it was inferred or assumed.
    #[serde(skip)]
    pub hop_reason: String,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(token) = &self.token {
            write!(f, "{token}")?;
        }
        writeln!(f, "hop: {} ({})", self.hop, self.hop_reason)?;
        for d in &self.diagnoses {
            writeln!(f, "{} ({}): {}", d.id, d.confidence, d.explanation)?;
            writeln!(f, "  fix: {}", d.fix)?;
        }
        Ok(())
    }
}

impl fmt::Display for TokenSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
        let verdict = if self.is_for_session_pools() {
            "the session-pool audience"
        } else {
            "NOT https://dynamicsessions.io: session pools refuse it"
        };
        writeln!(f, "token: aud {} ({verdict})", or_dash(&self.aud))?;
        writeln!(
            f,
            "  principal (oid) {}, app id (appid) {}, tenant (tid) {}",
            or_dash(&self.oid),
            or_dash(&self.appid),
            or_dash(&self.tid)
        )?;
        writeln!(f, "  issuer {}", or_dash(&self.iss))?;
        if let Some(why) = &self.exp_invalid {
            return writeln!(f, "  exp invalid: {why}: no resource accepts this token");
        }
        match (self.exp, self.seconds_to_expiry) {
            (Some(exp), Some(s)) if s <= 0 => {
                writeln!(f, "  exp {exp} (expired {} s ago)", s.unsigned_abs())
            }
            (Some(exp), Some(s)) => writeln!(f, "  exp {exp} (expires in {s} s)"),
            _ => writeln!(f, "  exp - (the token has no exp claim)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_token_summary_counts_seconds_to_expiry_both_ways() {
        let claims = json!({"aud": "https://dynamicsessions.io/", "oid": "o", "appid": "a", "tid": "t", "iss": "https://sts.windows.net/t/", "exp": 1000});

        let fresh = TokenSummary::of(&claims, 900);
        let stale = TokenSummary::of(&claims, 1030);

        assert_eq!((fresh.expired, fresh.seconds_to_expiry), (false, Some(100)));
        assert_eq!((stale.expired, stale.seconds_to_expiry), (true, Some(-30)));
        assert!(fresh.is_for_session_pools(), "a trailing slash is the same audience");
        assert!(fresh.to_string().contains("expires in 100 s"));
        assert!(stale.to_string().contains("expired 30 s ago"));
    }

    #[test]
    fn a_token_with_an_absurd_exp_is_invalid_not_expired_and_does_not_overflow() {
        for exp in [json!(u64::MAX), json!(1u64 << 63), json!(-5), json!(1.5)] {
            let summary = TokenSummary::of(&json!({ "exp": exp }), u64::MAX);

            assert_eq!((summary.expired, summary.seconds_to_expiry), (false, None), "{exp}");
            assert!(summary.to_string().contains("exp invalid"), "{summary}");
        }
        let far = TokenSummary::of(&json!({ "exp": crate::tokens::MAX_TIME_CLAIM }), 0);
        assert_eq!(far.seconds_to_expiry, Some(253_402_300_799));
    }

    #[test]
    fn a_token_without_claims_is_summarised_with_dashes_and_no_expiry() {
        let summary = TokenSummary::of(&json!({"aud": "https://vault.azure.net"}), 0);

        assert_eq!((summary.expired, summary.seconds_to_expiry), (false, None));
        assert!(!summary.is_for_session_pools());
        assert!(summary.to_string().contains("NOT https://dynamicsessions.io"), "{summary}");
        assert!(summary.to_string().contains("principal (oid) -"));
    }

    #[test]
    fn the_json_report_has_exactly_diagnoses_and_token() {
        let report = Report {
            diagnoses: vec![Candidate {
                id: Diagnosis::MissingRole,
                confidence: Confidence::High,
                explanation: "e".into(),
                fix: "f".into(),
            }],
            token: Some(TokenSummary::of(&json!({"exp": 5}), 10)),
            hop: Hop::Pool,
            hop_reason: "given with --hop".into(),
        };

        let value = serde_json::to_value(&report).unwrap();

        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["diagnoses", "token"]);
        assert_eq!(
            value["diagnoses"][0],
            json!({"id": "missing-role", "confidence": "high", "explanation": "e", "fix": "f"})
        );
        assert_eq!(value["token"]["seconds_to_expiry"], -5);
        let token_keys: Vec<&String> = value["token"].as_object().unwrap().keys().collect();
        assert_eq!(
            token_keys,
            ["aud", "oid", "appid", "tid", "iss", "exp", "expired", "seconds_to_expiry"]
        );
    }

    #[test]
    fn the_text_report_says_the_hop_then_each_diagnosis_with_its_fix() {
        let report = Report {
            diagnoses: vec![Candidate {
                id: Diagnosis::WrongAudience,
                confidence: Confidence::Medium,
                explanation: "why".into(),
                fix: "how".into(),
            }],
            token: None,
            hop: Hop::Pool,
            hop_reason: "given with --hop".into(),
        };

        assert_eq!(
            report.to_string(),
            "hop: pool (given with --hop)\nwrong-audience (medium): why\n  fix: how\n"
        );
    }
}
