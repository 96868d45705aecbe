//! The transcript: every hop of a run, in the order the requests started.
//!
//! Stand-ins, the pool's forwarder and the runner's client all write here, so one list tells the
//! whole story of a scenario. Secrets never enter it: tokens are stored as their decoded claims and
//! the identity header as "matches / does not match" (see [`crate::transcript::Recorder::begin`]).
//! It is bounded ([`bounds`]): what it does not keep is counted in [`Losses`].

mod bounds;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::Serialize;
use serde_json::Value;

use crate::tokens;
pub use bounds::{ConnectionCounts, ConnectionEvent, Losses, MAX_EXCHANGES};

pub(crate) mod redact;

/// A party in the chain. Its kebab-case id appears in transcripts, JSON output, scenario files
/// (faults, expected calls) and `explain --hop`: the one hop type.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Hop {
    /// The harness itself, acting as the backend's caller.
    #[value(skip)]
    Client,
    /// The coding-engine backend under test.
    #[value(skip)]
    Backend,
    /// The managed-identity endpoint (Container Apps `IDENTITY_ENDPOINT` or IMDS).
    Identity,
    /// The Entra ID token endpoint.
    Entra,
    /// The session pool management endpoint.
    Pool,
    /// The session container behind the pool (the adapter).
    Container,
    /// The Piston code runner.
    Piston,
}

impl Hop {
    /// The stable id used in output.
    pub fn id(self) -> &'static str {
        match self {
            Hop::Client => "client",
            Hop::Backend => "backend",
            Hop::Identity => "identity",
            Hop::Entra => "entra",
            Hop::Pool => "pool",
            Hop::Container => "container",
            Hop::Piston => "piston",
        }
    }
}

impl fmt::Display for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One request and what came back.
#[derive(Debug, Clone, Serialize)]
pub struct Exchange {
    /// Order in which the request started (1-based).
    pub seq: u64,
    /// Who sent the request.
    pub from: Hop,
    /// Who received it.
    pub to: Hop,
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, percent-decoded for reading.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Selected request headers, secrets replaced (see module docs).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, Value>,
    /// The request body: JSON as sent, a form as fields, secrets redacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_body: Option<Value>,
    /// `None` when no HTTP answer came (connection refused, timeout, ...): see `error`.
    pub status: Option<u16>,
    /// Selected answer headers.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, Value>,
    /// The answer body (a token becomes its claims).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_body: Option<Value>,
    /// Why no answer came, when none did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where the request or answer breaks the hop's contract (field by field).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contract_violations: Vec<String>,
    /// Remarks of the stand-in and the transcript, joined by `; `: e.g. the closest route to a
    /// request it does not serve, a body cut to the transcript's bound.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The answering service's clock (epoch seconds) when it answered; not shown, it varies.
    #[serde(skip)]
    pub clock: Option<u64>,
}

impl Exchange {
    /// The token claims the request carried in `Authorization: Bearer`, if any.
    pub fn bearer_claims(&self) -> Option<&Value> {
        self.request_headers.get("authorization")?.get("bearer_claims")
    }

    /// A string field of a JSON response body, e.g. `error.code`, `message`.
    pub fn response_str(&self, pointer: &str) -> Option<&str> {
        self.response_body.as_ref()?.pointer(pointer)?.as_str()
    }

    /// The response body as text (a JSON body is rendered compactly).
    pub fn response_text(&self) -> String {
        match &self.response_body {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
        }
    }

    /// A query parameter's value.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .as_deref()?
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// Whether the answer was a 2xx.
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// The raw material of a request, before secrets are replaced.
#[derive(Debug, Clone, Default)]
pub struct RawRequest<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
}

/// The raw material of an answer.
#[derive(Debug, Clone, Default)]
pub struct RawResponse<'a> {
    pub status: u16,
    pub headers: Vec<(&'a str, &'a str)>,
    pub body: &'a [u8],
    /// The answering service's clock (epoch seconds), when it has one.
    pub clock: Option<u64>,
}

/// Request headers worth showing; everything else is noise for diagnosis.
const REQUEST_HEADERS: &[&str] =
    &["authorization", "metadata", "x-identity-header", "content-type"];
/// Response headers worth showing.
const RESPONSE_HEADERS: &[&str] =
    &["www-authenticate", "x-ms-error-code", "mise-correlation-id", "server"];
/// Body fields that hold secrets and are replaced (form or JSON).
const SECRET_FIELDS: &[&str] = &["client_secret", "client_assertion", "refresh_token", "id_token"];

/// Shared, append-only record of a run. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    inner: Arc<RecorderInner>,
}

#[derive(Debug, Default)]
struct RecorderInner {
    next_seq: AtomicU64,
    kept: Mutex<bounds::Kept>,
    identity_header: Mutex<Option<String>>,
    /// Bytes of bodies kept so far (see [`bounds::BODIES_KEPT_TOTAL`]).
    body_bytes: AtomicUsize,
    connections: Mutex<BTreeMap<Hop, ConnectionCounts>>,
}

/// Handle to an exchange whose answer is still pending.
#[must_use = "finish the exchange with Recorder::finish or Recorder::fail"]
#[derive(Debug, Clone, Copy)]
pub struct Pending(u64);

impl Recorder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tell the recorder the identity-header secret, so it can say whether a request carried it.
    pub fn set_identity_header(&self, secret: &str) {
        *lock(&self.inner.identity_header) = Some(secret.to_owned());
    }

    /// Record that a request started. Secrets are replaced before anything is stored. Past
    /// [`MAX_EXCHANGES`] the request is only counted.
    pub fn begin(&self, from: Hop, to: Hop, request: &RawRequest<'_>) -> Pending {
        let seq = self.inner.next_seq.fetch_add(1, Ordering::SeqCst) + 1;
        {
            let mut kept = lock(&self.inner.kept);
            *kept.reached.entry(to).or_default() += 1;
            if seq > MAX_EXCHANGES as u64 {
                return Pending(seq);
            }
        }
        let mut request_headers = BTreeMap::new();
        for (name, value) in &request.headers {
            let name = name.to_ascii_lowercase();
            if name == "host" && !crate::text::is_loopback_host(value) {
                // A proxied request (e.g. IMDS through HTTP_PROXY) shows where it was really going.
                request_headers.insert(name, Value::String((*value).to_owned()));
            } else if REQUEST_HEADERS.contains(&name.as_str()) {
                let shown = self.sanitize_request_header(&name, value);
                request_headers.insert(name, shown);
            }
        }
        let (request_body, note) =
            bounds::kept_body(&self.inner.body_bytes, request.body, "request");
        let exchange = Exchange {
            seq,
            from,
            to,
            method: request.method.to_owned(),
            path: request.path.to_owned(),
            query: request.query.filter(|q| !q.is_empty()).map(percent_decode),
            request_headers,
            request_body,
            status: None,
            response_headers: BTreeMap::new(),
            response_body: None,
            error: None,
            contract_violations: Vec::new(),
            note,
            clock: None,
        };
        let exchanges = &mut lock(&self.inner.kept).exchanges;
        let index = (seq - 1) as usize;
        if exchanges.len() <= index {
            exchanges.resize_with(index + 1, || None);
        }
        exchanges[index] = Some(exchange);
        Pending(seq)
    }

    /// Record the answer to a pending request.
    pub fn finish(&self, pending: Pending, response: &RawResponse<'_>) {
        self.finish_checked(pending, response, Vec::new(), None);
    }

    /// Record the answer with the contract violations found and a stand-in's note.
    pub fn finish_checked(
        &self,
        pending: Pending,
        response: &RawResponse<'_>,
        violations: Vec<String>,
        note: Option<String>,
    ) {
        if pending.0 > MAX_EXCHANGES as u64 {
            return; // not kept: nothing to redact or parse
        }
        let (response_body, cut) =
            bounds::kept_body(&self.inner.body_bytes, response.body, "response");
        self.update(pending, |exchange| {
            exchange.contract_violations.extend(violations);
            for note in note.into_iter().chain(cut) {
                bounds::push_note(&mut exchange.note, note);
            }
            exchange.clock = response.clock;
            exchange.status = Some(response.status);
            for (name, value) in &response.headers {
                let name = name.to_ascii_lowercase();
                if RESPONSE_HEADERS.contains(&name.as_str()) {
                    exchange.response_headers.insert(name, Value::String((*value).to_owned()));
                }
            }
            exchange.response_body = response_body;
        });
    }

    /// Record that a request got no HTTP answer.
    pub fn fail(&self, pending: Pending, error: impl Into<String>) {
        let error = error.into();
        self.update(pending, |exchange| exchange.error = Some(error));
    }

    /// Everything kept so far, in start order (the first [`MAX_EXCHANGES`]).
    pub fn exchanges(&self) -> Vec<Exchange> {
        lock(&self.inner.kept).exchanges.iter().flatten().cloned().collect()
    }

    /// How many requests reached `to` so far, kept or not (cheap: nothing is cloned).
    pub fn count_to(&self, to: Hop) -> usize {
        lock(&self.inner.kept).reached.get(&to).copied().unwrap_or(0)
    }

    /// Count something that happened on a connection to `hop` outside any exchange.
    pub fn note_connection(&self, hop: Hop, event: ConnectionEvent) {
        lock(&self.inner.connections).entry(hop).or_default().count(event);
    }

    /// What the transcript does not show, counted.
    pub fn losses(&self) -> Losses {
        Losses {
            exchanges_not_kept: self
                .inner
                .next_seq
                .load(Ordering::SeqCst)
                .saturating_sub(MAX_EXCHANGES as u64),
            connections: lock(&self.inner.connections).clone(),
        }
    }

    fn update(&self, pending: Pending, f: impl FnOnce(&mut Exchange)) {
        let exchanges = &mut lock(&self.inner.kept).exchanges;
        if let Some(Some(exchange)) = exchanges.get_mut((pending.0 - 1) as usize) {
            f(exchange);
        }
    }

    fn sanitize_request_header(&self, name: &str, value: &str) -> Value {
        match name {
            "authorization" => authorization_value(value),
            "x-identity-header" => {
                let expected = lock(&self.inner.identity_header).clone();
                let verdict = match expected {
                    Some(secret) if secret == value => "[matches IDENTITY_HEADER]",
                    Some(_) => "[does not match IDENTITY_HEADER]",
                    None => "[redacted]",
                };
                Value::String(verdict.to_owned())
            }
            _ => Value::String(value.to_owned()),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a Vec half-written; keep recording.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `Authorization` shown as the token's claims, never the token itself.
fn authorization_value(value: &str) -> Value {
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            match tokens::decode_claims(token.trim()) {
                Some(claims) => serde_json::json!({ "bearer_claims": claims }),
                None => Value::String(format!("Bearer [not a JWT: {} chars]", token.len())),
            }
        }
        _ => Value::String(format!("[redacted {} chars]", value.len())),
    }
}

/// A body as JSON when it is JSON, as a form object when it is a form, as text otherwise.
/// Tokens are replaced by their claims and secret fields by a marker.
fn body_value(body: &[u8]) -> Option<Value> {
    if body.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let mut value = match serde_json::from_slice::<Value>(body) {
        Ok(json) => json,
        Err(_) if looks_like_form(&text) => form_value(&text),
        Err(_) => Value::String(text.into_owned()),
    };
    redact_secrets(&mut value);
    Some(value)
}

fn looks_like_form(text: &str) -> bool {
    text.contains('=')
        && !text.contains(char::is_whitespace)
        && text.split('&').all(|kv| kv.contains('='))
}

fn form_value(text: &str) -> Value {
    let map = text
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (percent_decode(k), Value::String(percent_decode(v))))
        .collect();
    Value::Object(map)
}

fn redact_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, field) in map.iter_mut() {
                if key == "access_token" {
                    if let Some(claims) = field.as_str().and_then(tokens::decode_claims) {
                        *field = serde_json::json!({ "decoded_claims": claims });
                    } else if field.is_string() {
                        *field = Value::String("[redacted]".into());
                    }
                } else if SECRET_FIELDS.contains(&key.as_str()) {
                    *field = Value::String("[redacted]".into());
                } else {
                    redact_secrets(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_secrets),
        _ => {}
    }
}

/// Percent-decoding for display (`+` as space, as in forms and query strings).
pub fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2]))
            {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// One line: `#3 backend → pool  POST /python/execute?identifier=x  403  PermissionDenied`.
impl fmt::Display for Exchange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exchange = self;
        let route = format!("{} → {}", exchange.from, exchange.to);
        let query = exchange.query.as_deref().map(|q| format!("?{q}")).unwrap_or_default();
        let status = match (exchange.status, &exchange.error) {
            (Some(status), _) => status.to_string(),
            (None, Some(_)) => "---".into(),
            (None, None) => "...".into(),
        };
        let mut notes: Vec<String> = Vec::new();
        if let Some(host) = exchange.request_headers.get("host").and_then(Value::as_str) {
            notes.push(format!("host {host}"));
        }
        if let Some(verdict) =
            exchange.request_headers.get("x-identity-header").and_then(Value::as_str)
        {
            notes.push(format!("x-identity-header {verdict}"));
        }
        if exchange.request_headers.contains_key("metadata") {
            notes.push("metadata: true".into());
        }
        if let Some(claims) = exchange.bearer_claims() {
            notes.push(format!(
                "token aud={} oid={}",
                claims["aud"].as_str().unwrap_or("?"),
                claims["oid"].as_str().unwrap_or("?")
            ));
        }
        if let Some(note) = answer_note(exchange) {
            notes.push(note);
        }
        if let Some(note) = &exchange.note {
            notes.push(note.clone());
        }
        if let Some(violation) = exchange.contract_violations.first() {
            notes.push(format!("contract: {violation}"));
        }
        let notes =
            if notes.is_empty() { String::new() } else { format!("  {}", notes.join("; ")) };
        write!(
            f,
            "#{:<2} {route:<22} {} {}{query}  {status}{notes}",
            exchange.seq, exchange.method, exchange.path
        )
    }
}

/// A few words of the answer: error code or message, token claims, stdout.
pub(crate) fn answer_note(exchange: &Exchange) -> Option<String> {
    if let Some(error) = &exchange.error {
        return Some(crate::text::excerpt(error, 160));
    }
    let body = exchange.response_body.as_ref()?;
    let pick = |pointer: &str| body.pointer(pointer).and_then(Value::as_str);
    if let Some(claims) = body.pointer("/access_token/decoded_claims") {
        return Some(format!(
            "issued aud={} oid={}",
            claims["aud"].as_str().unwrap_or("?"),
            claims["oid"].as_str().unwrap_or("?")
        ));
    }
    let note = pick("/error/code")
        .map(|code| format!("{code}: {}", pick("/error/message").unwrap_or("")))
        .or_else(|| pick("/message").map(str::to_owned))
        .or_else(|| pick("/error_description").map(|d| d.lines().next().unwrap_or(d).to_owned()))
        .or_else(|| pick("/run/stdout").map(|s| format!("stdout {s:?}")))
        .or_else(|| body.as_str().map(|s| format!("{s:?}")));
    note.map(|n| crate::text::excerpt(&n, 160))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_escapes_plus_and_stray_percent() {
        assert_eq!(
            percent_decode("resource=https%3A%2F%2Fdynamicsessions.io"),
            "resource=https://dynamicsessions.io"
        );
        assert_eq!(percent_decode("a+b%2"), "a b%2");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%é1"), "%é1", "a multi-byte char after % is not an escape");
    }

    #[test]
    fn client_secrets_in_a_form_body_are_redacted() {
        let value =
            body_value(b"grant_type=client_credentials&client_secret=s3cret&scope=x%2F.default")
                .unwrap();
        assert_eq!(value["client_secret"], "[redacted]");
        assert_eq!(value["scope"], "x/.default");
        assert!(!value.to_string().contains("s3cret"));
    }

    #[test]
    fn an_opaque_access_token_is_redacted_and_a_jwt_becomes_its_claims() {
        let value = body_value(br#"{"access_token":"opaque","token_type":"Bearer"}"#).unwrap();
        assert_eq!(value["access_token"], "[redacted]");
        let jwt =
            tokens::TokenIssuer::test_key().mint(&serde_json::json!({"aud": "a", "oid": "o"}));
        let value = body_value(format!(r#"{{"access_token":"{jwt}"}}"#).as_bytes()).unwrap();
        assert_eq!(value["access_token"]["decoded_claims"]["oid"], "o");
        assert!(!value.to_string().contains(&jwt));
    }

    #[test]
    fn identity_header_is_recorded_only_as_a_verdict() {
        let recorder = Recorder::new();
        recorder.set_identity_header("secret-guid");
        let request = RawRequest {
            method: "GET",
            path: "/msi/token",
            headers: vec![("X-IDENTITY-HEADER", "secret-guid"), ("Host", "127.0.0.1:1234")],
            ..Default::default()
        };
        let pending = recorder.begin(Hop::Backend, Hop::Identity, &request);
        recorder.finish(pending, &RawResponse { status: 200, ..Default::default() });
        let exchange = &recorder.exchanges()[0];
        assert_eq!(exchange.request_headers["x-identity-header"], "[matches IDENTITY_HEADER]");
        assert!(!exchange.request_headers.contains_key("host"), "loopback host is noise");
        assert_eq!(exchange.status, Some(200));
    }

    #[test]
    fn a_proxied_request_keeps_its_real_destination_host() {
        let recorder = Recorder::new();
        let request = RawRequest {
            method: "GET",
            path: "/metadata/identity/oauth2/token",
            headers: vec![("host", "169.254.169.254")],
            ..Default::default()
        };
        let _pending = recorder.begin(Hop::Backend, Hop::Identity, &request);
        assert_eq!(recorder.exchanges()[0].request_headers["host"], "169.254.169.254");
    }
}
