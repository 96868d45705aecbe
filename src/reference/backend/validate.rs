//! Validating an execute request before anything leaves the backend: the backend handles untrusted
//! code submissions, so every bad request gets a precise Piston-style 4xx and nothing else.
//!
//! Piston's own checks come first, in Piston's order and words (FIDELITY §6); then what a backend
//! that builds URLs and envelopes from the request must add: runtime names that cannot carry path or
//! query syntax, bounded sizes, typed optional fields.

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use crate::piston_api::validate_shape;

/// The largest request body accepted (bytes); larger ones get 413.
pub const MAX_BODY: usize = 1024 * 1024;
const MAX_NAME: usize = 64;
const MAX_VERSION: usize = 32;

/// A valid execute request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Execute {
    pub language: String,
    pub version: String,
    pub code: String,
    pub stdin: String,
}

/// Why a request was refused: the status and the message for `{"message": …}`.
pub type Refusal = (StatusCode, String);

/// Check the content type, size, JSON and fields of an execute request.
pub fn execute_request(headers: &HeaderMap, body: &[u8]) -> Result<Execute, Refusal> {
    let bad = |message: String| (StatusCode::BAD_REQUEST, message);
    let content_type =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        return Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "requests must be of type application/json".into(),
        ));
    }
    if body.len() > MAX_BODY {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is {} bytes; the limit is {MAX_BODY}", body.len()),
        ));
    }
    let request: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not valid JSON: {e}")))?;
    if !request.is_object() {
        return Err(bad("the body must be a JSON object".into()));
    }
    let shape = validate_shape(&request).map_err(bad)?;
    if shape.files.is_empty() {
        return Err(bad("files must contain at least one file".into()));
    }
    for (i, file) in shape.files.iter().enumerate() {
        optional(file, "name", &format!("files[{i}].name"), Value::is_string, "a string")?;
        if let Some(encoding) = file.get("encoding")
            && !matches!(encoding.as_str(), Some("utf8" | "base64" | "hex"))
        {
            return Err(bad(format!("files[{i}].encoding must be one of utf8, base64, hex")));
        }
    }
    if !is_runtime_name(shape.language) {
        return Err(bad(format!(
            "language must be a runtime name of 1 to {MAX_NAME} letters, digits or + # . _ - (got {:?})",
            shape.language
        )));
    }
    if !is_version_range(shape.version) {
        return Err(bad(format!(
            "version must be a semver range such as 3.10, 3, ^3.10 or * (got {:?})",
            shape.version
        )));
    }
    optional(&request, "stdin", "stdin", Value::is_string, "a string")?;
    optional(
        &request,
        "args",
        "args",
        |v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        "an array of strings",
    )?;
    for field in ["compile_timeout", "run_timeout", "compile_memory_limit", "run_memory_limit"] {
        optional(
            &request,
            field,
            field,
            |v| v.as_f64().is_some_and(|n| n >= 0.0),
            "a non-negative number",
        )?;
    }
    Ok(Execute {
        language: shape.language.to_owned(),
        version: shape.version.to_owned(),
        code: shape.code().to_owned(),
        stdin: request["stdin"].as_str().unwrap_or("").to_owned(),
    })
}

/// An optional field, when present, must pass `valid`.
fn optional(
    object: &Value,
    key: &str,
    name: &str,
    valid: impl Fn(&Value) -> bool,
    expected: &str,
) -> Result<(), Refusal> {
    match object.get(key) {
        Some(value) if !valid(value) => {
            Err((StatusCode::BAD_REQUEST, format!("{name} must be {expected}")))
        }
        _ => Ok(()),
    }
}

/// Runtime names go into the pool URL's path: letters, digits and `+#._-` only, no `.`/`..` alone.
pub fn is_runtime_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+#._-".contains(c))
}

/// A semver range as Piston takes it: digits, letters, `. * ^ ~ < > = | x -` and spaces.
fn is_version_range(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= MAX_VERSION
        && version.chars().all(|c| c.is_ascii_alphanumeric() || ".*^~<>=|- ".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn json_headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json".parse().unwrap());
        headers
    }

    fn refuse(headers: &HeaderMap, body: &[u8]) -> (u16, String) {
        let (status, message) = execute_request(headers, body).expect_err("must be refused");
        (status.as_u16(), message)
    }

    #[rstest]
    #[case::invalid_json(b"{".to_vec(), 400, "the body is not valid JSON")]
    #[case::empty_body(b"".to_vec(), 400, "the body is not valid JSON")]
    #[case::json_array(b"[]".to_vec(), 400, "the body must be a JSON object")]
    #[case::json_string(br#""python""#.to_vec(), 400, "the body must be a JSON object")]
    #[case::not_utf8(b"{\"language\":\"\xff\"}".to_vec(), 400, "the body is not valid JSON")]
    #[case::missing_language(br#"{"version":"3","files":[{"content":"1"}]}"#.to_vec(), 400, "language is required as a string")]
    #[case::numeric_language(br#"{"language":3,"version":"3","files":[{"content":"1"}]}"#.to_vec(), 400, "language is required as a string")]
    #[case::missing_version(br#"{"language":"python","files":[{"content":"1"}]}"#.to_vec(), 400, "version is required as a string")]
    #[case::numeric_version(br#"{"language":"python","version":3.1,"files":[{"content":"1"}]}"#.to_vec(), 400, "version is required as a string")]
    #[case::missing_files(br#"{"language":"python","version":"3"}"#.to_vec(), 400, "files is required as an array")]
    #[case::files_object(br#"{"language":"python","version":"3","files":{"content":"1"}}"#.to_vec(), 400, "files is required as an array")]
    #[case::empty_files(br#"{"language":"python","version":"3","files":[]}"#.to_vec(), 400, "files must contain at least one file")]
    #[case::file_without_content(br#"{"language":"python","version":"3","files":[{}]}"#.to_vec(), 400, "files[0].content is required as a string")]
    #[case::numeric_content(br#"{"language":"python","version":"3","files":[{"content":42}]}"#.to_vec(), 400, "files[0].content is required as a string")]
    #[case::second_file_bad(br#"{"language":"python","version":"3","files":[{"content":"1"},{"content":null}]}"#.to_vec(), 400, "files[1].content is required as a string")]
    #[case::numeric_file_name(br#"{"language":"python","version":"3","files":[{"content":"1","name":7}]}"#.to_vec(), 400, "files[0].name must be a string")]
    #[case::unknown_encoding(br#"{"language":"python","version":"3","files":[{"content":"1","encoding":"rot13"}]}"#.to_vec(), 400, "files[0].encoding must be one of utf8, base64, hex")]
    #[case::path_in_language(br#"{"language":"../admin","version":"3","files":[{"content":"1"}]}"#.to_vec(), 400, "language must be a runtime name")]
    #[case::slash_in_language(br#"{"language":"python/execute","version":"3","files":[{"content":"1"}]}"#.to_vec(), 400, "language must be a runtime name")]
    #[case::query_in_language(br#"{"language":"python?identifier=other","version":"3","files":[{"content":"1"}]}"#.to_vec(), 400, "language must be a runtime name")]
    #[case::space_in_language(br#"{"language":"py thon","version":"3","files":[{"content":"1"}]}"#.to_vec(), 400, "language must be a runtime name")]
    #[case::dot_dot_language(br#"{"language":"..","version":"3","files":[{"content":"1"}]}"#.to_vec(), 400, "language must be a runtime name")]
    #[case::empty_language(br#"{"language":"","version":"3","files":[{"content":"1"}]}"#.to_vec(), 400, "language must be a runtime name")]
    #[case::newline_in_language(b"{\"language\":\"py\\nthon\",\"version\":\"3\",\"files\":[{\"content\":\"1\"}]}".to_vec(), 400, "language must be a runtime name")]
    #[case::percent_in_language(br#"{"language":"py%2Fthon","version":"3","files":[{"content":"1"}]}"#.to_vec(), 400, "language must be a runtime name")]
    #[case::long_language(format!(r#"{{"language":"{}","version":"3","files":[{{"content":"1"}}]}}"#, "p".repeat(65)).into_bytes(), 400, "language must be a runtime name")]
    #[case::query_in_version(br#"{"language":"python","version":"3&identifier=x","files":[{"content":"1"}]}"#.to_vec(), 400, "version must be a semver range")]
    #[case::control_in_version(b"{\"language\":\"python\",\"version\":\"3\\u0000\",\"files\":[{\"content\":\"1\"}]}".to_vec(), 400, "version must be a semver range")]
    #[case::empty_version(br#"{"language":"python","version":"","files":[{"content":"1"}]}"#.to_vec(), 400, "version must be a semver range")]
    #[case::numeric_stdin(br#"{"language":"python","version":"3","files":[{"content":"1"}],"stdin":5}"#.to_vec(), 400, "stdin must be a string")]
    #[case::args_not_strings(br#"{"language":"python","version":"3","files":[{"content":"1"}],"args":[1]}"#.to_vec(), 400, "args must be an array of strings")]
    #[case::negative_timeout(br#"{"language":"python","version":"3","files":[{"content":"1"}],"run_timeout":-1}"#.to_vec(), 400, "run_timeout must be a non-negative number")]
    #[case::string_memory_limit(br#"{"language":"python","version":"3","files":[{"content":"1"}],"run_memory_limit":"1GB"}"#.to_vec(), 400, "run_memory_limit must be a non-negative number")]
    fn a_bad_request_gets_a_precise_piston_style_refusal(
        #[case] body: Vec<u8>,
        #[case] status: u16,
        #[case] message: &str,
    ) {
        let (got_status, got_message) = refuse(&json_headers(), &body);
        assert_eq!(got_status, status, "{got_message}");
        assert!(got_message.starts_with(message), "{got_message:?} should start with {message:?}");
        assert!(
            !got_message.chars().any(char::is_control),
            "messages carry no control characters: {got_message:?}"
        );
    }

    #[rstest]
    #[case::no_content_type(None)]
    #[case::text_plain(Some("text/plain"))]
    #[case::form(Some("application/x-www-form-urlencoded"))]
    #[case::json_suffix_trick(Some("application/jsonx"))]
    fn a_non_json_content_type_is_415(#[case] content_type: Option<&str>) {
        let mut headers = HeaderMap::new();
        if let Some(ct) = content_type {
            headers.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        }
        assert_eq!(
            refuse(&headers, br#"{"language":"python","version":"3","files":[{"content":"1"}]}"#),
            (415, "requests must be of type application/json".into())
        );
    }

    #[test]
    fn a_huge_body_is_413_before_it_is_parsed() {
        let body = vec![b' '; MAX_BODY + 1];
        let (status, message) = refuse(&json_headers(), &body);
        assert_eq!(status, 413, "{message}");
    }

    #[test]
    fn a_good_request_passes_with_its_fields() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, "application/json; charset=utf-8".parse().unwrap());
        let body = br#"{"language":"c++","version":"^10.2","files":[{"name":"main.cpp","content":"int main(){}","encoding":"utf8"}],"stdin":"x","args":["a"],"run_timeout":3000}"#;
        let request = execute_request(&headers, body).unwrap();
        assert_eq!(
            (request.language.as_str(), request.version.as_str(), request.stdin.as_str()),
            ("c++", "^10.2", "x")
        );
    }
}
