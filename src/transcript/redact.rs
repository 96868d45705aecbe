//! Redaction of free text: what the processes under test print and answer, before it reaches any
//! artifact.
//!
//! The recorder keeps secrets out of the fields it knows (a bearer token becomes its claims, the
//! identity header a verdict, `client_secret` a marker: see [`crate::transcript`]). Free text has no
//! fields: a backend's log line, an error message quoting a request, a body that is not JSON. Here a
//! raw JWT (three base64url parts starting `eyJ`, the base64 of `{"`) becomes its claims, as in the
//! transcript, and every secret value of the run becomes `[redacted]`. The runner applies it to every
//! text of an outcome when it is built (`Outcome::redacted`), so every report (text, JSON, JUnit,
//! HTML, Markdown, the normalised snapshot) is covered by construction.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::{Captures, Regex};
use serde_json::Value;

use super::Exchange;

/// Secrets shorter than this are not replaced in free text: a value that short (`test`, `abc`) is
/// likely an ordinary word or id there, and replacing it would garble the report.
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// A JWT: header and payload are base64url JSON objects (`eyJ` is `{"`), the signature may be empty
/// (`alg: none`). A token cut short by an excerpt (one or two parts, the last one partial) matches
/// too: what is left of it is still nobody's business.
static JWT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"eyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}").expect("a valid pattern")
});

/// What [`crate::text::excerpt`] appends to a text it cut: a secret cut there is replaced too.
const CUT: char = '…';

/// Replaces a run's secrets, and any JWT, in free text.
#[derive(Debug, Clone, Default)]
pub(crate) struct Redactor {
    /// Longest first, so that a secret containing another is replaced whole.
    secrets: Vec<String>,
}

impl Redactor {
    /// A redactor for these secret values (those shorter than [`MIN_SECRET_LEN`] are left alone).
    pub(crate) fn new<S: AsRef<str>>(secrets: impl IntoIterator<Item = S>) -> Self {
        let mut secrets: Vec<String> = secrets
            .into_iter()
            .map(|s| s.as_ref().to_owned())
            .filter(|s| s.len() >= MIN_SECRET_LEN)
            .collect();
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        secrets.dedup();
        Self { secrets }
    }

    /// `text` with every JWT shown as its claims (`[JWT aud=… oid=…]`, or `[JWT]` when it is not a
    /// whole token) and every secret as `[redacted]`, also when an excerpt cut it (`6f1e0c55-00…`).
    /// Borrowed when there was nothing to replace.
    pub(crate) fn text<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = JWT.replace_all(text, |token: &Captures<'_>| token_marker(&token[0]));
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), "[redacted]"));
            }
            if out.contains(CUT)
                && let Some(cut) = cut_secret(&out, secret)
            {
                out = Cow::Owned(cut);
            }
        }
        out
    }

    /// [`Redactor::text`] on a string owned already.
    pub(crate) fn string(&self, text: &mut String) {
        if let Cow::Owned(redacted) = self.text(text) {
            *text = redacted;
        }
    }

    /// Every string in a JSON value (keys too: a form body's key can be anything the program sent).
    pub(crate) fn value(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.string(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                let leaked = map.keys().any(|k| matches!(self.text(k), Cow::Owned(_)));
                if leaked {
                    *map = std::mem::take(map)
                        .into_iter()
                        .map(|(k, v)| (self.text(&k).into_owned(), v))
                        .collect();
                }
                map.values_mut().for_each(|v| self.value(v));
            }
            _ => {}
        }
    }

    /// Every text of an exchange: bodies, headers, query, error, notes, contract violations.
    pub(crate) fn exchange(&self, exchange: &mut Exchange) {
        if let Some(query) = &mut exchange.query {
            self.string(query);
        }
        for value in
            exchange.request_headers.values_mut().chain(exchange.response_headers.values_mut())
        {
            self.value(value);
        }
        for body in [&mut exchange.request_body, &mut exchange.response_body].into_iter().flatten()
        {
            self.value(body);
        }
        for text in exchange.error.iter_mut().chain(&mut exchange.note) {
            self.string(text);
        }
        exchange.contract_violations.iter_mut().for_each(|v| self.string(v));
    }
}

/// `text` with each start of `secret` that an excerpt cut (a prefix of it right before `…`) redacted;
/// `None` when there is none. Only prefixes of at least [`MIN_SECRET_LEN`] characters count, or a
/// word cut short would be taken for a secret.
fn cut_secret(text: &str, secret: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut found = false;
    while let Some(at) = rest.find(CUT) {
        let before = &rest[..at];
        let start = secret
            .char_indices()
            .map(|(i, _)| i)
            .chain([secret.len()])
            .filter(|len| *len >= MIN_SECRET_LEN)
            .rev()
            .find(|len| before.ends_with(&secret[..*len]));
        match start {
            Some(len) => {
                out.push_str(&before[..before.len() - len]);
                out.push_str("[redacted]");
                found = true;
            }
            None => out.push_str(before),
        }
        out.push(CUT);
        rest = &rest[at + CUT.len_utf8()..];
    }
    out.push_str(rest);
    found.then_some(out)
}

/// A JWT as the transcript shows tokens: by the claims that tell whose it is and for what.
fn token_marker(token: &str) -> String {
    match crate::tokens::decode_claims(token) {
        Some(claims) => format!(
            "[JWT aud={} oid={}]",
            claims["aud"].as_str().unwrap_or("?"),
            claims["oid"].as_str().unwrap_or("?")
        ),
        None => "[JWT]".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tokens::TokenIssuer;

    #[test]
    fn a_jwt_in_free_text_becomes_its_claims_and_secrets_become_a_marker() {
        let token = TokenIssuer::test_key()
            .mint(&json!({"aud": "https://dynamicsessions.io", "oid": "o-1"}));
        let redactor = Redactor::new(["6f1e0c55-header-value", "short"]);
        let line = format!("got {token}, header 6f1e0c55-header-value, short");

        let line = redactor.text(&line);

        assert_eq!(
            line,
            "got [JWT aud=https://dynamicsessions.io oid=o-1], header [redacted], short"
        );
    }

    #[test]
    fn an_unsigned_or_undecodable_token_is_redacted_too_and_prose_is_left_alone() {
        let redactor = Redactor::default();

        assert_eq!(redactor.text("eyJhbGciOiJub25lIn0.eyJ4IjoxfQ. end"), "[JWT aud=? oid=?] end");
        assert_eq!(redactor.text("cut eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOi…"), "cut [JWT]…");
        assert_eq!(redactor.text("x eyJ!!.abc.def"), "x eyJ!!.abc.def", "not base64url");
        assert_eq!(redactor.text("eyJump, eyJ.x"), "eyJump, eyJ.x", "too short to be a token");
        assert!(matches!(redactor.text("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_secret_an_excerpt_cut_is_redacted_and_a_short_cut_word_is_not() {
        let redactor = Redactor::new(["6f1e0c55-0000-4000-8000-00000000057a"]);

        assert_eq!(redactor.text("header 6f1e0c55-0000-40…"), "header [redacted]…");
        assert_eq!(redactor.text("header 6f1e0c…"), "header 6f1e0c…", "under MIN_SECRET_LEN");
        assert_eq!(redactor.text("other text…"), "other text…");
    }

    #[test]
    fn a_secret_containing_another_is_replaced_whole() {
        let redactor = Redactor::new(["secret-value", "secret-value-longer"]);

        assert_eq!(redactor.text("a secret-value-longer b"), "a [redacted] b");
    }

    #[test]
    fn every_string_of_a_json_value_is_redacted_keys_included() {
        let redactor = Redactor::new(["harness-test-secret-value"]);
        let mut value =
            json!({"log": ["harness-test-secret-value"], "harness-test-secret-value": 1});

        redactor.value(&mut value);

        assert_eq!(value, json!({"log": ["[redacted]"], "[redacted]": 1}));
    }
}
