//! Contracts per hop: the request and answer shapes each side relies on, checked field by field.
//!
//! A violation is recorded on the exchange and diagnosed `contract-mismatch`, naming the field. Only
//! shapes Azure or Piston define are checked (FIDELITY §1-§6): the Rust SDK needs `expires_on` as a
//! string from the identity endpoint and `expires_in` as a number from Entra (SDK); the
//! code-interpreter APIs take their documented bodies (DOC); Piston answers its own shape. What a
//! custom container and its backend send each other is theirs to agree on: whether the output
//! survived it is judged from the data ([`crate::diagnosis::dataflow`]), not from a fixed envelope.

use serde_json::Value;

use crate::transcript::Hop;

/// Violations of the request `to` receives.
pub fn check_request(to: Hop, method: &str, path: &str, body: &[u8]) -> Vec<String> {
    match (to, method) {
        (Hop::Pool, "POST") if path.ends_with("/code/execute") => check_envelope(body),
        (Hop::Pool, "POST") if path.ends_with("/executions") => {
            with_json(body, "pool request", |v| {
                let mut problems = Vec::new();
                if v.get("properties").is_some() {
                    problems.push("`properties` must not wrap an `executions` body (the 2024-10-02-preview API takes a flat body)".to_owned());
                }
                expect_str(v, "code", &mut problems);
                prefix("pool request", problems)
            })
        }
        (Hop::Piston, "POST") if path == "/api/v2/execute" => {
            with_json(body, "piston request", |v| {
                let mut problems = Vec::new();
                expect_str(v, "language", &mut problems);
                expect_str(v, "version", &mut problems);
                match v.get("files").and_then(Value::as_array) {
                    None => problems.push("`files` must be an array".into()),
                    Some(files) => {
                        for (i, file) in files.iter().enumerate() {
                            if !file.get("content").is_some_and(Value::is_string) {
                                problems.push(format!("`files[{i}].content` must be a string"));
                            }
                        }
                    }
                }
                problems.into_iter().map(|p| format!("piston request: {p}")).collect()
            })
        }
        _ => Vec::new(),
    }
}

/// Violations of the answer `to` gave (only successful answers carry a contract).
pub fn check_response(to: Hop, method: &str, path: &str, status: u16, body: &[u8]) -> Vec<String> {
    if !(200..300).contains(&status) {
        return Vec::new();
    }
    match to {
        Hop::Identity => with_json(body, "identity answer", |v| {
            let mut problems = Vec::new();
            for field in ["access_token", "token_type", "resource"] {
                expect_str(v, field, &mut problems);
            }
            match v.get("expires_on") {
                Some(Value::String(s))
                    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {}
                Some(Value::String(s)) => problems
                    .push(format!("`expires_on` must be epoch seconds as a string, got {s:?}")),
                Some(other) => problems.push(format!(
                    "`expires_on` must be a string (the Rust SDK rejects {other}), got a {}",
                    kind(other)
                )),
                None => problems.push("`expires_on` is missing".into()),
            }
            prefix("identity answer", problems)
        }),
        Hop::Entra if path.ends_with("/oauth2/v2.0/token") => {
            with_json(body, "entra answer", |v| {
                let mut problems = Vec::new();
                expect_str(v, "access_token", &mut problems);
                expect_str(v, "token_type", &mut problems);
                if !v.get("expires_in").is_some_and(Value::is_number) {
                    problems.push(
                        "`expires_in` must be a number (the Rust SDK rejects a string)".into(),
                    );
                }
                prefix("entra answer", problems)
            })
        }
        Hop::Piston if method == "POST" && path == "/api/v2/execute" => {
            check_piston_answer(body, "piston answer")
        }
        _ => Vec::new(),
    }
}

/// The `code/execute` envelope (2024-02-02-preview, DOC): `{"properties":{"code": <string>, …}}`.
fn check_envelope(body: &[u8]) -> Vec<String> {
    with_json(body, "pool request", |v| {
        let Some(properties) = v.get("properties") else {
            return vec!["pool request: `properties` is missing (code/execute takes {\"properties\":{\"codeInputType\",\"executionType\",\"code\"}})".into()];
        };
        let mut problems = Vec::new();
        expect_str(properties, "code", &mut problems);
        prefix("pool request: properties", problems)
    })
}

/// Piston's execute answer: `{language, version, run{stdout, stderr, code, …}}`.
pub fn check_piston_answer(body: &[u8], what: &str) -> Vec<String> {
    with_json(body, what, |v| {
        let Some(run) = v.get("run") else {
            let found: Vec<&str> =
                v.as_object().map(|o| o.keys().map(String::as_str).collect()).unwrap_or_default();
            return vec![format!(
                "{what}: `run` is missing (expected Piston's execute answer {{language, version, run{{stdout, stderr, code, …}}}}, got keys [{}])",
                found.join(", ")
            )];
        };
        let mut problems = Vec::new();
        expect_str(v, "language", &mut problems);
        expect_str(v, "version", &mut problems);
        for field in ["stdout", "stderr"] {
            if !run.get(field).is_some_and(Value::is_string) {
                problems.push(format!("`run.{field}` must be a string"));
            }
        }
        prefix(what, problems)
    })
}

fn with_json(body: &[u8], what: &str, check: impl FnOnce(&Value) -> Vec<String>) -> Vec<String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(value) if value.is_object() => check(&value),
        Ok(value) => vec![format!("{what}: expected a JSON object, got a {}", kind(&value))],
        Err(error) => vec![format!("{what}: the body is not JSON ({error})")],
    }
}

fn expect_str(value: &Value, field: &str, problems: &mut Vec<String>) {
    match value.get(field) {
        Some(Value::String(_)) => {}
        Some(other) => problems.push(format!("`{field}` must be a string, got a {}", kind(other))),
        None => problems.push(format!("`{field}` is missing")),
    }
}

fn prefix(what: &str, problems: Vec<String>) -> Vec<String> {
    problems.into_iter().map(|p| format!("{what}: {p}")).collect()
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_integer_expires_on_breaks_the_identity_contract() {
        let body =
            br#"{"access_token":"t","expires_on":1700000000,"resource":"r","token_type":"Bearer"}"#;
        let problems = check_response(Hop::Identity, "GET", "/msi/token", 200, body);
        assert_eq!(
            problems,
            [
                "identity answer: `expires_on` must be a string (the Rust SDK rejects 1700000000), got a number"
            ]
        );
    }

    #[test]
    fn a_string_expires_in_breaks_the_entra_contract() {
        let body = br#"{"access_token":"t","token_type":"Bearer","expires_in":"3599"}"#;
        let problems = check_response(Hop::Entra, "POST", "/t/oauth2/v2.0/token", 200, body);
        assert_eq!(
            problems,
            ["entra answer: `expires_in` must be a number (the Rust SDK rejects a string)"]
        );
    }

    #[test]
    fn what_a_custom_container_and_its_backend_exchange_is_theirs() {
        assert!(
            check_response(
                Hop::Container,
                "POST",
                "/python/execute",
                200,
                br#"{"properties":{"stdout":"42\n"}}"#
            )
            .is_empty()
        );
        assert!(
            check_request(Hop::Pool, "POST", "/python/execute", br#"{"code":"print(1)"}"#)
                .is_empty()
        );
    }

    #[test]
    fn piston_answers_its_own_shape_and_code_execute_takes_its_envelope() {
        let problems = check_response(
            Hop::Piston,
            "POST",
            "/api/v2/execute",
            200,
            br#"{"properties":{"stdout":"42\n"}}"#,
        );
        assert!(
            problems[0].starts_with("piston answer: `run` is missing")
                && problems[0].contains("got keys [properties]"),
            "{problems:?}"
        );
        let problems = check_request(
            Hop::Pool,
            "POST",
            "/subscriptions/s/resourceGroups/rg/sessionPools/p/code/execute",
            br#"{"code":"print(1)"}"#,
        );
        assert!(problems[0].contains("`properties` is missing"), "{problems:?}");
    }

    #[test]
    fn error_answers_carry_no_contract() {
        assert!(
            check_response(Hop::Container, "POST", "/python/execute", 400, b"not json").is_empty()
        );
    }
}
