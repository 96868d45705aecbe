//! Recognising a diagnosis: from one answer ([`classify`]) and from a whole transcript ([`find`]).
//!
//! [`classify`] is shared by the runner, the reference backend and `explain`, so the same evidence
//! gets the same name everywhere.

use serde_json::Value;

use super::Diagnosis;
use crate::azure::{CLOCK_SKEW_SECS, DYNAMIC_SESSIONS_AUDIENCE};
use crate::transcript::{Exchange, Hop};

/// What is known about an answer besides its status and body.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    /// Claims of the bearer token the request carried.
    pub token_claims: Option<&'a Value>,
    /// Whether the request carried an `Authorization` header at all.
    pub had_authorization: bool,
    /// The token request went to IMDS for the host's default identity (no identity variables, no
    /// `client_id` selector): "Identity not found" then means no identity is enabled at all.
    pub via_imds: bool,
    /// The answering service's clock (epoch seconds), to judge `exp`.
    pub now: Option<u64>,
    /// The reason the answering stand-in gave for a refusal (the pool's 401: issuer or tenant,
    /// signature, expiry, audience, not yet valid), never sent on the wire.
    pub refusal: Option<&'a str>,
}

/// Name the cause of one answer of `hop`. `status` `None` means no HTTP answer came.
/// Returns `None` for an answer that is not a failure.
pub fn classify(
    hop: Hop,
    status: Option<u16>,
    body: &str,
    evidence: Evidence<'_>,
) -> Option<Diagnosis> {
    // A URL in a body (an error message quoting the request) is a location: words in it
    // (`identifier=`, `/token`, `AADSTS…`) never name a cause.
    let without_urls = strip_urls(body);
    let body = without_urls.as_ref();
    let Some(status) = status else {
        return Some(match hop {
            Hop::Identity => Diagnosis::IdentityEndpointUnavailable,
            Hop::Container => Diagnosis::ContainerNotReady,
            _ => Diagnosis::Unexplained,
        });
    };
    match hop {
        Hop::Identity => classify_identity(status, body, evidence),
        Hop::Entra => classify_entra(status, body),
        Hop::Pool => classify_pool(status, body, evidence),
        Hop::Container => match status {
            404 => Some(Diagnosis::ContainerPathNotFound),
            // Other refusals come from Piston (or from the envelope check); those hops speak.
            s if s < 500 => None,
            _ => Some(Diagnosis::Unexplained),
        },
        Hop::Piston => classify_piston(status, body),
        Hop::Client | Hop::Backend => (!is_success(status)).then_some(Diagnosis::Unexplained),
    }
}

/// `text` with every `http(s)://…` URL removed.
pub fn strip_urls(text: &str) -> std::borrow::Cow<'_, str> {
    static URL: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r#"https?://[^\s"'<>]+"#).expect("a regex"));
    URL.replace_all(text, "<url>")
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn classify_identity(status: u16, body: &str, evidence: Evidence<'_>) -> Option<Diagnosis> {
    Some(match status {
        s if is_success(s) => return None,
        403 if body.trim().is_empty() => Diagnosis::IdentityHeaderMismatch,
        400 if body.contains("Unable to load the proper Managed Identity") => {
            Diagnosis::IdentityNotFound
        }
        400 if body.contains("Identity not found") && evidence.via_imds => {
            Diagnosis::IdentityNotEnabled
        }
        400 if body.contains("Identity not found") => Diagnosis::IdentityNotFound,
        // REP: IMDS with several user-assigned identities and no selector.
        400 if body.contains("Multiple user assigned identities exist") => {
            Diagnosis::IdentityNotSpecified
        }
        400 if body.contains("AADSTS500011") => Diagnosis::EntraUnknownResource,
        // assumed: IMDS's 400s all concern the identity; Java azure-identity prints no body for them.
        400 if body.trim().is_empty() && evidence.via_imds => Diagnosis::IdentityNotEnabled,
        // REP (spelling as observed): the platform's identity service could not reach Entra.
        500 if body.contains("An unexpected error occured while fetching the AAD Token") => {
            Diagnosis::IdentityEgressBlocked
        }
        404 | 408 | 410 | 429 | 500..=599 => Diagnosis::IdentityEndpointUnavailable,
        _ => Diagnosis::Unexplained,
    })
}

fn classify_entra(status: u16, body: &str) -> Option<Diagnosis> {
    if is_success(status) {
        return None;
    }
    Some(classify_aadsts(body).unwrap_or(Diagnosis::Unexplained))
}

/// Name an Entra error from its text: the AADSTS code first, else the `error` field (FIDELITY §3,
/// DOC; 90002, 70021 and 50027 as the Entra stand-in sends them; 500571 and 53003 REP: `az login`
/// refused). Works on a body and on an SDK message that quotes one.
pub fn classify_aadsts(text: &str) -> Option<Diagnosis> {
    const BY_CODE: &[(u32, Diagnosis)] = &[
        (7000215, Diagnosis::EntraInvalidClient),
        (7000216, Diagnosis::EntraInvalidClient),
        (700016, Diagnosis::EntraInvalidClient),
        (700024, Diagnosis::EntraInvalidClient),
        (7000222, Diagnosis::EntraInvalidClient),
        // The client assertion is not a valid JWT, or has expired ("Invalid JWT token").
        (50027, Diagnosis::EntraInvalidClient),
        (50013, Diagnosis::EntraInvalidClient),
        (500011, Diagnosis::EntraUnknownResource),
        (1002012, Diagnosis::EntraUnknownResource),
        (90002, Diagnosis::EntraTenantNotFound),
        (70021, Diagnosis::FederatedCredentialMismatch),
        (500571, Diagnosis::DeveloperLoginBlocked),
        (53003, Diagnosis::DeveloperLoginBlocked),
    ];
    let codes = crate::evidence::pasted::aadsts_codes(text);
    if let Some((_, id)) = BY_CODE.iter().find(|(code, _)| codes.contains(code)) {
        return Some(*id);
    }
    const INVALID_CLIENT: &[&str] = &["invalid_client", "unauthorized_client"];
    const UNKNOWN_RESOURCE: &[&str] = &["invalid_resource", "invalid_scope"];
    if INVALID_CLIENT.iter().any(|marker| text.contains(marker)) {
        Some(Diagnosis::EntraInvalidClient)
    } else if UNKNOWN_RESOURCE.iter().any(|marker| text.contains(marker)) {
        Some(Diagnosis::EntraUnknownResource)
    } else {
        None
    }
}

fn classify_pool(status: u16, body: &str, evidence: Evidence<'_>) -> Option<Diagnosis> {
    Some(match status {
        s if is_success(s) => return None,
        401 => classify_unauthorized(evidence),
        400 | 403 | 404 if body.contains("SessionMCPServerNotEnabled") => Diagnosis::McpNotEnabled,
        403 => Diagnosis::MissingRole,
        400 if body.contains("DynamicApisNotAllowed") => Diagnosis::WrongEndpointShape,
        // REP: the envelope of one api-version sent to the other, both ways; a refused api-version.
        400 if body.contains("SessionPropertiesMissing") || body.contains("InvalidApiVersion") => {
            Diagnosis::ApiVersionMismatch
        }
        400 if body.contains("SessionTypeNotSupportedInRegion") => {
            Diagnosis::SessionTypeNotInRegion
        }

        // REP (weak) for the wording; the allocation message names the identifier too.
        400 if body.contains("identifier") && !body.contains("allocating pod") => {
            Diagnosis::MissingIdentifier
        }
        404 if body.trim().trim_matches(['"', '\'']).eq_ignore_ascii_case("Not Found") => {
            Diagnosis::NoTargetPort
        }
        429 if body.contains("allocating pod") => Diagnosis::PoolFull,
        500 | 502 | 503 if body.contains("allocating pod") => Diagnosis::ContainerNotReady,
        // Anything else came from the container; its own hop says why.
        _ => return None,
    })
}

/// Why a pool refused a request with 401, from the token it carried.
fn classify_unauthorized(evidence: Evidence<'_>) -> Diagnosis {
    let Some(claims) = evidence.token_claims else {
        return if evidence.had_authorization {
            Diagnosis::Unexplained
        } else {
            Diagnosis::NoAuthorizationHeader
        };
    };
    let aud = claims["aud"].as_str().unwrap_or_default();
    if aud.trim_end_matches('/') != DYNAMIC_SESSIONS_AUDIENCE {
        return Diagnosis::WrongAudience;
    }
    match evidence.now {
        Some(now) if crate::tokens::is_expired(claims, now, CLOCK_SKEW_SECS) => {
            Diagnosis::TokenExpired
        }
        _ if evidence.refusal.is_some_and(crate::tokens::refused_for_tenant) => {
            Diagnosis::WrongTenant
        }
        _ => Diagnosis::Unexplained,
    }
}

fn classify_piston(status: u16, body: &str) -> Option<Diagnosis> {
    match status {
        400 if body.contains("runtime is unknown") => Some(Diagnosis::RuntimeUnknown),
        s if is_success(s) => {
            let answer: Value = serde_json::from_str(body).ok()?;
            (answer.pointer("/run/status").and_then(Value::as_str) == Some("TO"))
                .then_some(Diagnosis::ExecutionTimeout)
        }
        _ => Some(Diagnosis::Unexplained),
    }
}

/// One named cause in a transcript, before it is explained.
#[derive(Debug, Clone, Copy)]
pub struct Hit<'a> {
    pub diagnosis: Diagnosis,
    pub exchange: &'a Exchange,
}

/// Every cause the transcript shows, in the order the requests started, one per id.
pub fn find(exchanges: &[Exchange]) -> Vec<Hit<'_>> {
    let mut hits: Vec<Hit<'_>> = Vec::new();
    for exchange in
        exchanges.iter().filter(|e| e.from != Hop::Client && !is_imds_probe(exchanges, e))
    {
        let named = || {
            classify(exchange.to, exchange.status, &exchange.response_text(), evidence_of(exchange))
        };
        let diagnosis = if !exchange.contract_violations.is_empty() {
            // A pool that names the api-version drift itself says more than the broken contract.
            Some(
                named()
                    .filter(|d| *d == Diagnosis::ApiVersionMismatch)
                    .unwrap_or(Diagnosis::ContractMismatch),
            )
        } else if forwarded_from_below(exchanges, exchange) {
            // The pool (or container) passed on the answer of the hop below it: that hop speaks.
            None
        } else if exchange.to == Hop::Container
            && exchange.status.is_some_and(|s| (400..500).contains(&s) && s != 404)
        {
            // A refusal of the container's own: nothing Azure or Piston defines names it.
            Some(Diagnosis::Unexplained)
        } else {
            named()
        };
        let Some(mut diagnosis) = diagnosis else { continue };
        if diagnosis == Diagnosis::MissingRole
            && later_success_for_same_principal(exchanges, exchange)
        {
            diagnosis = Diagnosis::RolePropagationDelay;
        }
        if !hits.iter().any(|h| h.diagnosis == diagnosis) {
            hits.push(Hit { diagnosis, exchange });
        }
    }
    hits
}

/// Whether `exchange` (a pool's or container's answer) is the forwarded answer of the hop below:
/// the first request the pool sent to the container (or the container to Piston) after it, before
/// the next request to the same hop, got the same status. A 403 the container sends is not the
/// pool's missing role (FIDELITY §5: the container's status and body come back as they are).
fn forwarded_from_below(exchanges: &[Exchange], exchange: &Exchange) -> bool {
    let below = match exchange.to {
        Hop::Pool => Hop::Container,
        Hop::Container => Hop::Piston,
        _ => return false,
    };
    let Some(status) = exchange.status.filter(|s| !(200..300).contains(s)) else { return false };
    let next_same = exchanges
        .iter()
        .filter(|e| e.to == exchange.to && e.seq > exchange.seq)
        .map(|e| e.seq)
        .min()
        .unwrap_or(u64::MAX);
    exchanges
        .iter()
        .filter(|e| {
            e.to == below && e.from == exchange.to && e.seq > exchange.seq && e.seq < next_same
        })
        .min_by_key(|e| e.seq)
        .is_some_and(|e| e.status == Some(status))
}

/// Evidence recorded with an exchange.
pub fn evidence_of(exchange: &Exchange) -> Evidence<'_> {
    Evidence {
        token_claims: exchange.bearer_claims(),
        had_authorization: exchange.request_headers.contains_key("authorization"),
        via_imds: exchange.to == Hop::Identity
            && exchange.path.starts_with("/metadata/identity/")
            && crate::world::Selector::from_query(|k| exchange.query_param(k))
                == crate::world::Selector::None,
        now: exchange.clock,
        refusal: exchange.note.as_deref(),
    }
}

/// The first execution the backend answered with success although no request reached the pool
/// while it was being served: no code ran, whatever the answer says (an error-swallowing backend
/// turns a failure before the pool, e.g. no token, into such an answer).
pub fn execution_without_pool(exchanges: &[Exchange]) -> Option<&Exchange> {
    let steps: Vec<&Exchange> = exchanges.iter().filter(|e| e.from == Hop::Client).collect();
    steps.iter().enumerate().find_map(|(i, step)| {
        let end = steps.get(i + 1).map_or(u64::MAX, |next| next.seq);
        let is_execution = step.method == "POST" && step.path.ends_with("/execute");
        let reached_pool =
            exchanges.iter().any(|e| e.to == Hop::Pool && e.seq > step.seq && e.seq < end);
        (is_execution && step.succeeded() && !reached_pool).then_some(*step)
    })
}

/// An IMDS request without the `Metadata` header followed by one with it: Python's
/// DefaultAzureCredential probing whether IMDS answers at all (any answer will do; FIDELITY §2, SDK).
/// The 400 the probe gets is how IMDS says "I am here", not a failure.
fn is_imds_probe(exchanges: &[Exchange], probe: &Exchange) -> bool {
    let is_imds = |e: &Exchange| e.to == Hop::Identity && e.path.starts_with("/metadata/identity/");
    is_imds(probe)
        && !probe.request_headers.contains_key("metadata")
        && exchanges
            .iter()
            .any(|e| e.seq > probe.seq && is_imds(e) && e.request_headers.contains_key("metadata"))
}

/// A 403 followed by a success for the same principal means the role arrived late.
fn later_success_for_same_principal(exchanges: &[Exchange], refused: &Exchange) -> bool {
    let principal =
        |e: &Exchange| e.bearer_claims().and_then(|c| c["oid"].as_str().map(str::to_owned));
    let who = principal(refused);
    exchanges
        .iter()
        .any(|e| e.seq > refused.seq && e.to == Hop::Pool && e.succeeded() && principal(e) == who)
}

/// A cause the backend's failed answer quotes from its SDK (read as a pasted text would be): the
/// evidence when no stand-in saw anything, e.g. a developer credential without the `az` CLI.
pub fn cause_in_backend_text(exchanges: &[Exchange]) -> Option<(Diagnosis, &Exchange, String)> {
    exchanges.iter().filter(|e| e.from == Hop::Client && !e.succeeded()).find_map(|e| {
        let text = e.response_str("/message").map_or_else(|| e.response_text(), str::to_owned);
        cause_in_text(&text).map(|id| (id, e, text))
    })
}

/// The cause an error text names by itself (an SDK's message that no stand-in answer explains).
pub fn cause_in_text(text: &str) -> Option<Diagnosis> {
    let pasted = crate::evidence::pasted::read(text);
    pasted
        .iter()
        .flat_map(|p| &p.attempts)
        .any(|a| a.tool_missing)
        .then_some(Diagnosis::CredentialChainUnavailable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{RawRequest, RawResponse, Recorder};

    const NO_METADATA: &str = r#"{"error":"invalid_request","error_description":"Required metadata header not specified"}"#;
    const NOT_FOUND: &str =
        r#"{"error":"invalid_request","error_description":"Identity not found"}"#;

    fn imds(recorder: &Recorder, metadata: bool, answer: &str) {
        let headers = if metadata { vec![("metadata", "true")] } else { Vec::new() };
        let request = RawRequest {
            method: "GET",
            path: "/metadata/identity/oauth2/token",
            query: Some("api-version=2018-02-01"),
            headers,
            body: b"",
        };
        let pending = recorder.begin(Hop::Backend, Hop::Identity, &request);
        recorder.finish(
            pending,
            &RawResponse { status: 400, body: answer.as_bytes(), ..Default::default() },
        );
    }

    fn ids(recorder: &Recorder) -> Vec<Diagnosis> {
        find(&recorder.exchanges()).iter().map(|hit| hit.diagnosis).collect()
    }

    #[test]
    fn an_imds_probe_without_metadata_is_not_a_failure_when_the_token_request_follows() {
        let recorder = Recorder::new();
        imds(&recorder, false, NO_METADATA);
        imds(&recorder, true, NOT_FOUND);

        assert_eq!(ids(&recorder), [Diagnosis::IdentityNotEnabled]);
    }

    fn step(recorder: &Recorder, path: &str, status: u16) {
        let request =
            RawRequest { method: "POST", path, query: None, headers: Vec::new(), body: b"{}" };
        let pending = recorder.begin(Hop::Client, Hop::Backend, &request);
        recorder.finish(
            pending,
            &RawResponse {
                status,
                body: br#"{"run":{"stdout":"","stderr":"no token","code":1}}"#,
                ..Default::default()
            },
        );
    }

    fn pool_call(recorder: &Recorder) {
        let request = RawRequest {
            method: "POST",
            path: "/python/execute",
            query: None,
            headers: Vec::new(),
            body: b"{}",
        };
        let pending = recorder.begin(Hop::Backend, Hop::Pool, &request);
        recorder.finish(pending, &RawResponse { status: 200, body: b"{}", ..Default::default() });
    }

    #[test]
    fn a_successful_execution_that_never_reached_the_pool_is_found() {
        let recorder = Recorder::new();
        step(&recorder, "/api/v2/execute", 200);
        pool_call(&recorder);
        step(&recorder, "/api/v2/execute", 200);

        let exchanges = recorder.exchanges();
        assert_eq!(
            execution_without_pool(&exchanges).map(|e| e.seq),
            Some(3),
            "the first step reached the pool, the second did not"
        );
    }

    #[test]
    fn failed_executions_and_other_routes_are_not_executions_without_pool() {
        let recorder = Recorder::new();
        step(&recorder, "/api/v2/execute", 502);
        step(&recorder, "/api/v2/runtimes", 200);

        assert!(execution_without_pool(&recorder.exchanges()).is_none());
    }

    #[test]
    fn an_imds_request_without_metadata_and_nothing_after_it_is_still_a_failure() {
        let recorder = Recorder::new();
        imds(&recorder, false, NO_METADATA);

        assert_eq!(ids(&recorder), [Diagnosis::Unexplained]);
    }
}
