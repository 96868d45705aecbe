//! Code-interpreter pools (`PythonLTS`, `NodeLTS`, `Shell`): the pool runs the code itself.
//!
//! Two API generations (FIDELITY §5, DOC/REP): `POST …/code/execute?api-version=2024-02-02-preview`
//! with a `{"properties":{…}}` envelope, and `POST …/executions?api-version=2024-10-02-preview` (and
//! later) with a flat body. Mixing them answers 400 `SessionPropertiesMissing`. Output is cut at
//! 4096 bytes without notice (REP). Outputs come from the scenario's scripted programs.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::pool_error;
use crate::world::Piston;

use crate::azure::{
    CODE_EXECUTE_API_VERSION, CODE_INTERPRETER_OUTPUT_LIMIT, EXECUTIONS_API_VERSION,
};

/// Answer a call to a code-interpreter pool; `rest` is the path after `…/sessionPools/<pool>`.
pub fn handle(
    rest: &str,
    api_version: Option<&str>,
    offered: Option<&[String]>,
    identifier: &str,
    body: &[u8],
    script: &Piston,
) -> Response {
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let version = api_version.unwrap_or_default();
    if let Some(offered) = offered.filter(|o| !o.iter().any(|v| v == version)) {
        // REP: a documented api-version refused before the region had it (status 400 reported,
        // code and text assumed).
        return not_in_region(version, offered);
    }
    match rest.trim_end_matches('/') {
        "/code/execute" => {
            if version != CODE_EXECUTE_API_VERSION {
                return unsupported_version(version, CODE_EXECUTE_API_VERSION);
            }
            let Some(code) = body.pointer("/properties/code").and_then(Value::as_str) else {
                return properties_missing();
            };
            let run = run(code, script);
            let status = if run.succeeded { "Success" } else { "Failure" };
            let answer = json!({ "properties": {
                "status": status, "stdout": run.stdout, "stderr": run.stderr, "result": "", "executionTimeInMilliseconds": 12
            }});
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        "/executions" => {
            // Date-stamped versions compare as strings.
            if version < EXECUTIONS_API_VERSION {
                return unsupported_version(version, EXECUTIONS_API_VERSION);
            }
            // REP: the old envelope sent to the new API is refused.
            let Some(code) = body
                .get("code")
                .and_then(Value::as_str)
                .filter(|_| body.get("properties").is_none())
            else {
                return properties_missing();
            };
            let run = run(code, script);
            let status = if run.succeeded { "Succeeded" } else { "Failed" };
            let answer = json!({
                "id": crate::ids::guid(),
                "identifier": identifier,
                "executionType": "Synchronous",
                "status": status,
                "result": { "stdout": run.stdout, "stderr": run.stderr, "executionResult": "", "executionTimeInMilliseconds": 12 }
            });
            (StatusCode::OK, axum::Json(answer)).into_response()
        }
        // assumed: the exact answer for an unknown operation.
        _ => (StatusCode::NOT_FOUND, "Not Found").into_response(),
    }
}

struct Run {
    stdout: String,
    stderr: String,
    succeeded: bool,
}

fn run(code: &str, script: &Piston) -> Run {
    match script.programs.iter().find(|p| p.code.trim_end() == code.trim_end()) {
        Some(p) => Run { stdout: cut(&p.stdout), stderr: cut(&p.stderr), succeeded: p.exit_code == 0 && !p.times_out },
        None => Run {
            stdout: String::new(),
            stderr: "code-interpreter stand-in: no scripted output for this program; add a [[world.piston.programs]] entry with its code".into(),
            succeeded: false,
        },
    }
}

fn cut(stream: &str) -> String {
    let mut end = stream.len().min(CODE_INTERPRETER_OUTPUT_LIMIT);
    while !stream.is_char_boundary(end) {
        end -= 1;
    }
    stream[..end].to_owned()
}

/// REP: the error when the envelope does not fit the API generation; text assumed.
fn properties_missing() -> Response {
    pool_error(
        StatusCode::BAD_REQUEST,
        "SessionPropertiesMissing",
        "The session properties are missing or malformed in the request body.".into(),
    )
}

/// assumed: the code and text for an api-version the region does not offer yet.
fn not_in_region(found: &str, offered: &[String]) -> Response {
    pool_error(
        StatusCode::BAD_REQUEST,
        "InvalidApiVersion",
        format!(
            "The api-version '{found}' is not available in this region yet; available: {}.",
            offered.join(", ")
        ),
    )
}

/// assumed: the code and text for an api-version the operation does not support.
fn unsupported_version(found: &str, wanted: &str) -> Response {
    pool_error(
        StatusCode::BAD_REQUEST,
        "InvalidApiVersion",
        format!("The api-version '{found}' is not supported for this operation; use {wanted}."),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Program;

    fn script() -> Piston {
        let program = Program {
            code: "print('x' * 5000)".into(),
            stdout: "x".repeat(5000),
            stderr: String::new(),
            exit_code: 0,
            times_out: false,
        };
        Piston { programs: vec![program], ..Piston::default() }
    }

    async fn answer(response: Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    #[tokio::test]
    async fn code_execute_takes_the_properties_envelope_and_cuts_output_at_4096_bytes() {
        let body = br#"{"properties":{"codeInputType":"inline","executionType":"synchronous","code":"print('x' * 5000)"}}"#;
        let (status, value) = answer(handle(
            "/code/execute",
            Some(CODE_EXECUTE_API_VERSION),
            None,
            "abcd",
            body,
            &script(),
        ))
        .await;
        assert_eq!((status, value["properties"]["status"].as_str()), (200, Some("Success")));
        assert_eq!(value["properties"]["stdout"].as_str().unwrap().len(), 4096);
    }

    #[tokio::test]
    async fn executions_take_a_flat_body_and_refuse_the_old_envelope() {
        let flat = br#"{"codeInputType":"Inline","executionType":"Synchronous","code":"print('x' * 5000)","timeoutInSeconds":60}"#;
        let (status, value) = answer(handle(
            "/executions",
            Some("2025-02-02-preview"),
            None,
            "abcd",
            flat,
            &script(),
        ))
        .await;
        assert_eq!(
            (status, value["status"].as_str(), value["identifier"].as_str()),
            (200, Some("Succeeded"), Some("abcd"))
        );
        let wrapped = br#"{"properties":{"code":"print(1)"}}"#;
        let (status, value) = answer(handle(
            "/executions",
            Some(EXECUTIONS_API_VERSION),
            None,
            "abcd",
            wrapped,
            &script(),
        ))
        .await;
        assert_eq!(
            (status, value["error"]["code"].as_str()),
            (400, Some("SessionPropertiesMissing"))
        );
    }

    #[tokio::test]
    async fn each_operation_checks_its_api_version() {
        let (status, value) = answer(handle(
            "/executions",
            Some(CODE_EXECUTE_API_VERSION),
            None,
            "abcd",
            b"{}",
            &script(),
        ))
        .await;
        assert_eq!((status, value["error"]["code"].as_str()), (400, Some("InvalidApiVersion")));
    }
}
