//! Piston API v2 (engineer-man/piston 3.1.x): runtimes and execute, with Piston's validation order
//! and messages (FIDELITY §6). ProgramPaths are not executed: their output is scripted by the scenario.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::piston_api::validate_shape;
use crate::world::{Piston, Runtime};

/// Piston caps each output stream at 1024 bytes by default (FIDELITY §6).
const OUTPUT_LIMIT: usize = 1024;

/// Routes, for near-miss notes.
pub const ROUTES: &[(&str, &str)] = &[("GET", "/api/v2/runtimes"), ("POST", "/api/v2/execute")];

/// The Piston stand-in's routes.
pub fn app(script: Arc<Piston>) -> Router {
    Router::new()
        .route("/api/v2/runtimes", get(runtimes))
        .route("/api/v2/execute", post(execute))
        .fallback(|| async {
            let mut response = message(StatusCode::NOT_FOUND, "Not Found");
            response.extensions_mut().insert(super::server::Unrouted);
            response
        })
        .with_state(script)
}

async fn runtimes(State(script): State<Arc<Piston>>) -> Response {
    let list: Vec<Value> = script
        .runtimes
        .iter()
        .map(|r| json!({ "language": r.language, "version": r.version, "aliases": r.aliases }))
        .collect();
    axum::Json(list).into_response()
}

async fn execute(State(script): State<Arc<Piston>>, headers: HeaderMap, body: Bytes) -> Response {
    let is_json =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
            ct.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
    if !is_json {
        return message(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "requests must be of type application/json",
        );
    }
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        // assumed: Piston's body parser error text is not in docs/fidelity.md.
        Err(e) => return message(StatusCode::BAD_REQUEST, &format!("invalid JSON body: {e}")),
    };
    match validate(&request, &script.runtimes) {
        Ok((runtime, code)) => axum::Json(run(runtime, code, &script)).into_response(),
        Err(text) => message(StatusCode::BAD_REQUEST, &text),
    }
}

/// Piston's checks, in Piston's order (FIDELITY §6). Returns the runtime and the first file's code.
pub fn validate<'a>(
    request: &'a Value,
    runtimes: &'a [Runtime],
) -> Result<(&'a Runtime, &'a str), String> {
    let shape = validate_shape(request)?;
    let (language, version) = (shape.language, shape.version);
    let runtime = runtimes
        .iter()
        .find(|r| {
            (r.language == language || r.aliases.iter().any(|a| a == language))
                && version_matches(version, &r.version)
        })
        .ok_or_else(|| format!("{language}-{version} runtime is unknown"))?;
    Ok((runtime, shape.code()))
}

fn run(runtime: &Runtime, code: &str, script: &Piston) -> Value {
    let program = script.programs.iter().find(|p| p.code.trim_end() == code.trim_end());
    if program.is_some_and(|p| p.times_out) {
        // DOC (Piston): a run past run_timeout is killed; code null, signal SIGKILL, status TO.
        return json!({
            "language": runtime.language,
            "version": runtime.version,
            "run": { "stdout": "", "stderr": "", "output": "", "code": null, "signal": "SIGKILL", "message": "Timed out", "status": "TO", "cpu_time": 3000, "wall_time": 3013, "memory": 9_216_000 }
        });
    }
    let (stdout, stderr, exit) = match program {
        Some(p) => (cap(&p.stdout), cap(&p.stderr), p.exit_code),
        // Not a silent success: an unscripted program fails visibly and says how to script it.
        None => (String::new(), "piston stand-in: no scripted output for this program; add a [[world.piston.programs]] entry with its code".to_owned(), 1),
    };
    let (status, msg) = if exit == 0 {
        (Value::Null, Value::Null)
    } else {
        (json!("RE"), json!(format!("Exited with error status {exit}")))
    };
    json!({
        "language": runtime.language,
        "version": runtime.version,
        "run": {
            "stdout": stdout,
            "stderr": stderr,
            "output": format!("{stdout}{stderr}"),
            "code": exit,
            "signal": null,
            "message": msg,
            "status": status,
            "cpu_time": 8,
            "wall_time": 21,
            "memory": 9_216_000
        }
    })
}

fn cap(stream: &str) -> String {
    let mut end = stream.len().min(OUTPUT_LIMIT);
    while !stream.is_char_boundary(end) {
        end -= 1;
    }
    stream[..end].to_owned()
}

fn message(status: StatusCode, text: &str) -> Response {
    (status, axum::Json(json!({ "message": text }))).into_response()
}

/// npm-style semver range matching as Piston uses it: `*`, `x`, exact `3.10.0`, partial `3.10`
/// (= 3.10.x), `3` (= 3.x.x), `^3.10`, `~3.10`, `>=3.9`. `latest` matches nothing (FIDELITY §6).
pub fn version_matches(range: &str, version: &str) -> bool {
    let Some(have) = parse_version(version) else { return false };
    let range = range.trim();
    if range == "*" || range.eq_ignore_ascii_case("x") || range.is_empty() {
        return true;
    }
    let (op, rest) = match range {
        r if r.starts_with(">=") => (">=", &r[2..]),
        r if r.starts_with('^') => ("^", &r[1..]),
        r if r.starts_with('~') => ("~", &r[1..]),
        r if r.starts_with('=') => ("=", &r[1..]),
        r => ("=", r),
    };
    let parts: Vec<&str> =
        rest.trim().split('.').filter(|p| !matches!(*p, "x" | "X" | "*")).collect();
    let Ok(want) = parts.iter().map(|p| p.parse::<u64>()).collect::<Result<Vec<u64>, _>>() else {
        return false;
    };
    if want.is_empty() || want.len() > 3 {
        return false;
    }
    let prefix_equal = |n: usize| want.iter().take(n).zip(&have).all(|(w, h)| w == h);
    let padded = |v: &[u64]| {
        [
            v.first().copied().unwrap_or(0),
            v.get(1).copied().unwrap_or(0),
            v.get(2).copied().unwrap_or(0),
        ]
    };
    let at_least = have >= padded(&want);
    match op {
        "=" => prefix_equal(want.len()),
        ">=" => at_least,
        "~" => at_least && prefix_equal(want.len().min(2)),
        _ => at_least && caret_prefix_equal(&want, &have),
    }
}

/// `^` keeps the left-most non-zero component fixed.
fn caret_prefix_equal(want: &[u64], have: &[u64; 3]) -> bool {
    let fixed = want.iter().position(|&c| c != 0).map_or(want.len(), |i| i + 1);
    want.iter().take(fixed).zip(have).all(|(w, h)| w == h)
}

fn parse_version(version: &str) -> Option<[u64; 3]> {
    let mut parts = version.split('.').map(|p| p.parse::<u64>().ok());
    Some([parts.next()??, parts.next().flatten().unwrap_or(0), parts.next().flatten().unwrap_or(0)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::Program;
    use rstest::rstest;

    #[rstest]
    #[case("*", true)]
    #[case("3.10.0", true)]
    #[case("3.10", true)]
    #[case("3", true)]
    #[case("^3.10", true)]
    #[case("^3.9", true)]
    #[case("~3.10", true)]
    #[case(">=3.9", true)]
    #[case("3.9", false)]
    #[case("3.10.1", false)]
    #[case("^4", false)]
    #[case("~3.9", false)]
    #[case("latest", false)]
    fn semver_ranges_match_like_piston(#[case] range: &str, #[case] matches: bool) {
        assert_eq!(version_matches(range, "3.10.0"), matches, "{range}");
    }

    fn runtimes() -> Vec<Runtime> {
        vec![Runtime {
            language: "python".into(),
            version: "3.10.0".into(),
            aliases: vec!["py".into()],
        }]
    }

    #[rstest]
    #[case(json!({}), "language is required as a string")]
    #[case(json!({"language": "python"}), "version is required as a string")]
    #[case(json!({"language": "python", "version": "3"}), "files is required as an array")]
    #[case(json!({"language": "python", "version": "3", "files": [{"content": "x"}, {}]}), "files[1].content is required as a string")]
    #[case(json!({"language": "ruby", "version": "3", "files": []}), "ruby-3 runtime is unknown")]
    #[case(json!({"language": "python", "version": "latest", "files": []}), "python-latest runtime is unknown")]
    fn validation_follows_pistons_order_and_messages(
        #[case] request: Value,
        #[case] expected: &str,
    ) {
        assert_eq!(validate(&request, &runtimes()).unwrap_err(), expected);
    }

    #[test]
    fn aliases_select_a_runtime() {
        let request = json!({"language": "py", "version": "*", "files": [{"content": "print(1)"}]});
        let runtimes = runtimes();
        let (runtime, code) = validate(&request, &runtimes).unwrap();
        assert_eq!((runtime.language.as_str(), code), ("python", "print(1)"));
    }

    #[test]
    fn scripted_output_is_capped_per_stream_and_unscripted_code_fails_visibly() {
        let script = Piston {
            port: None,
            runtimes: runtimes(),
            programs: vec![Program {
                code: "loop()".into(),
                stdout: "x".repeat(2000),
                stderr: String::new(),
                exit_code: 0,
                times_out: false,
            }],
        };
        let answer = run(&script.runtimes[0], "loop()\n", &script);
        assert_eq!(answer["run"]["stdout"].as_str().unwrap().len(), 1024);
        let unscripted = run(&script.runtimes[0], "other()", &script);
        assert_eq!(unscripted["run"]["code"], 1);
        assert!(unscripted["run"]["stderr"].as_str().unwrap().contains("no scripted output"));
    }
}

#[cfg(test)]
mod http_tests {
    use super::*;
    use crate::standins::Server;

    async fn piston() -> Server {
        Server::start(app(Arc::new(Piston::default()))).await.unwrap()
    }

    #[tokio::test]
    async fn a_non_json_content_type_gets_415_and_an_unknown_route_404_in_pistons_words() {
        let server = piston().await;
        let answer = reqwest::Client::new()
            .post(format!("{}/api/v2/execute", server.url()))
            .header("content-type", "text/plain")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 415);
        assert_eq!(
            answer.text().await.unwrap(),
            r#"{"message":"requests must be of type application/json"}"#
        );
        let answer = reqwest::get(format!("{}/api/v2/nope", server.url())).await.unwrap();
        assert_eq!(
            (answer.status().as_u16(), answer.text().await.unwrap().as_str()),
            (404, r#"{"message":"Not Found"}"#)
        );
    }

    #[tokio::test]
    async fn runtimes_list_language_version_and_aliases() {
        let server = piston().await;
        let runtimes: Value = reqwest::get(format!("{}/api/v2/runtimes", server.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            runtimes,
            json!([{"language": "python", "version": "3.10.0", "aliases": ["py", "py3", "python3"]}])
        );
    }

    #[tokio::test]
    async fn execute_answers_pistons_run_object() {
        let server = piston().await;
        let request = json!({"language": "python", "version": "3.10", "files": [{"content": "x"}]});
        let answer: Value = reqwest::Client::new()
            .post(format!("{}/api/v2/execute", server.url()))
            .json(&request)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for key in [
            "stdout",
            "stderr",
            "output",
            "code",
            "signal",
            "message",
            "status",
            "cpu_time",
            "wall_time",
            "memory",
        ] {
            assert!(answer["run"].get(key).is_some(), "run.{key} missing: {answer}");
        }
        assert!(answer.get("compile").is_none(), "python is interpreted: no compile stage");
    }
}
