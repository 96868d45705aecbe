//! Reading `explain`'s inputs: body and token files (or standard input), `name:value` headers and
//! the token, decoded without verifying; every failure is an [`ExplainError`] saying what to do.

use std::io::Read;

use serde_json::Value;

use crate::tokens;
use crate::transcript::Hop;

/// Why the evidence cannot be used; each message says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    #[error(
        "the token is not a JWT (three base64url parts separated by dots, the middle one a JSON object): pass the access token exactly as it was sent, with or without \"Bearer \""
    )]
    NotAJwt,
    #[error(
        "cannot read the {what} from {path}: {source}; check the path, or pass - to read it from standard input"
    )]
    Unreadable { what: &'static str, path: String, source: std::io::Error },
    #[error(
        "--header {0:?} is not name:value; write it as e.g. --header x-ms-error-code:PermissionDenied"
    )]
    MalformedHeader(String),
    #[error("--body - and --token-file - both ask for standard input; put one of them in a file")]
    StdinTwice,
}

/// The evidence as given on the command line, before files are read and the token decoded.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub hop: Option<Hop>,
    pub status: Option<u16>,
    /// A file holding the response body, or `-` for standard input.
    pub body: Option<String>,
    /// Response headers as `name:value`.
    pub headers: Vec<String>,
    /// The bearer token that was sent, with or without `Bearer `.
    pub token: Option<String>,
    /// A file holding that token, or `-` for standard input.
    pub token_file: Option<String>,
}

/// The evidence, read and decoded: what [`super::explain`] diagnoses.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// The hop that answered; inferred from the body when `None`.
    pub hop: Option<Hop>,
    /// `None` when the user did not say.
    pub status: Option<u16>,
    pub body: String,
    /// Response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Claims of the bearer token that was sent, decoded without verifying.
    pub claims: Option<Value>,
    /// The request got no HTTP answer at all (a connection error), as opposed to a status not given.
    pub no_answer: bool,
    /// What the evidence shows of the token request: `Some(true)` when it named an identity
    /// (`client_id=`, …), `Some(false)` when its URL shows it named none, `None` when not shown.
    pub named_identity: Option<bool>,
    /// The text shows the request went to IMDS (its address, or an SDK naming it).
    pub imds: bool,
}

impl Captured {
    /// Read the body and token files (`-` reads `stdin`), parse the headers and decode the token.
    pub fn gather(request: Request, mut stdin: impl Read) -> Result<Self, ExplainError> {
        if request.body.as_deref() == Some("-") && request.token_file.as_deref() == Some("-") {
            return Err(ExplainError::StdinTwice);
        }
        let body = request
            .body
            .as_deref()
            .map(|path| read_source(path, "body", &mut stdin))
            .transpose()?;
        let token = match (request.token, request.token_file.as_deref()) {
            (Some(token), _) => Some(token),
            (None, Some(path)) => Some(read_source(path, "token", &mut stdin)?),
            (None, None) => None,
        };
        Ok(Self {
            hop: request.hop,
            status: request.status,
            body: body.unwrap_or_default(),
            headers: request.headers.iter().map(|h| parse_header(h)).collect::<Result<_, _>>()?,
            claims: token.as_deref().map(decode_token).transpose()?,
            no_answer: false,
            named_identity: None,
            imds: false,
        })
    }

    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// The bytes of a pasted text (`--text`): a file, or `-` for standard input; decoded by the
/// normalisation pass, so no encoding is refused here.
pub fn read_pasted(path: &str, stdin: impl Read) -> Result<Vec<u8>, ExplainError> {
    let unreadable =
        |source| ExplainError::Unreadable { what: "text", path: path.to_owned(), source };
    if path == "-" {
        return crate::files::read_bounded_bytes(stdin).map_err(unreadable);
    }
    crate::files::read_bytes(std::path::Path::new(path)).map_err(unreadable)
}

fn read_source(
    path: &str,
    what: &'static str,
    stdin: &mut impl Read,
) -> Result<String, ExplainError> {
    let unreadable = |source| ExplainError::Unreadable { what, path: path.to_owned(), source };
    if path == "-" {
        return crate::files::read_bounded(stdin).map_err(unreadable);
    }
    crate::files::read_text(std::path::Path::new(path)).map_err(unreadable)
}

/// `name:value` → (lower-cased name, trimmed value).
pub fn parse_header(raw: &str) -> Result<(String, String), ExplainError> {
    match raw.split_once(':') {
        Some((name, value))
            if !name.trim().is_empty() && !name.trim().contains(char::is_whitespace) =>
        {
            Ok((name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        }
        _ => Err(ExplainError::MalformedHeader(raw.to_owned())),
    }
}

/// The claims of a token pasted as sent: bare, `Bearer <jwt>` or `Authorization: Bearer <jwt>`.
pub fn decode_token(raw: &str) -> Result<Value, ExplainError> {
    let mut token = raw.trim();
    for prefix in ["authorization:", "bearer"] {
        // `get` rather than slicing: the text may hold any character at that byte (a non-breaking space).
        if token.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix)) {
            token = token[prefix.len()..].trim();
        }
    }
    tokens::decode_claims(token).ok_or(ExplainError::NotAJwt)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::tokens::TokenIssuer;

    fn token() -> String {
        TokenIssuer::test_key().mint(&json!({"aud": "https://dynamicsessions.io", "oid": "o-1"}))
    }

    #[test]
    fn a_token_is_read_bare_after_bearer_or_as_a_whole_authorization_header() {
        let jwt = token();

        for pasted in [
            jwt.clone(),
            format!("Bearer {jwt}"),
            format!("  bearer {jwt}\n"),
            format!("Authorization: Bearer {jwt}"),
            format!("Bearer\u{a0}{jwt}"),
        ] {
            let claims = decode_token(&pasted).unwrap_or_else(|e| panic!("{pasted}: {e}"));

            assert_eq!(claims["oid"], "o-1");
        }
    }

    #[test]
    fn a_value_that_is_not_a_jwt_is_an_error_saying_what_to_pass() {
        for pasted in
            ["", "Bearer", "not-a-jwt", "a.b.c", "Bearer eyJ.e30", "Bearer\u{a0}", "Bé\u{a0}x"]
        {
            let error = decode_token(pasted).unwrap_err();

            assert!(matches!(error, ExplainError::NotAJwt), "{pasted}");
            assert!(error.to_string().contains("pass the access token exactly as it was sent"));
        }
    }

    #[test]
    fn headers_are_name_colon_value_with_the_name_lower_cased() {
        assert_eq!(
            parse_header("x-ms-error-code:PermissionDenied").unwrap(),
            ("x-ms-error-code".into(), "PermissionDenied".into())
        );
        assert_eq!(
            parse_header("WWW-Authenticate: Bearer error=\"invalid_token\"").unwrap().1,
            "Bearer error=\"invalid_token\""
        );
        for bad in ["x-ms-error-code", ":value", "two words:x"] {
            assert!(matches!(parse_header(bad), Err(ExplainError::MalformedHeader(_))), "{bad}");
        }
    }

    #[test]
    fn the_body_and_token_come_from_files_or_standard_input() {
        let file = std::env::temp_dir().join(format!("sph-explain-{}", crate::ids::guid()));
        std::fs::write(&file, format!("Bearer {}\n", token())).unwrap();
        let request = Request {
            status: Some(403),
            body: Some("-".into()),
            token_file: Some(file.to_string_lossy().into_owned()),
            headers: vec!["x-ms-error-code:PermissionDenied".into()],
            ..Request::default()
        };

        let captured = Captured::gather(request, "{\"error\":{}}".as_bytes()).unwrap();

        std::fs::remove_file(&file).unwrap();
        assert_eq!(captured.body, "{\"error\":{}}");
        assert_eq!(captured.claims.as_ref().unwrap()["oid"], "o-1");
        assert_eq!(captured.header("x-ms-error-code"), Some("PermissionDenied"));
    }

    #[test]
    fn unusable_sources_are_errors_that_name_the_input() {
        let missing = Request { body: Some("/no/such/body.json".into()), ..Request::default() };
        let twice =
            Request { body: Some("-".into()), token_file: Some("-".into()), ..Request::default() };

        let missing = Captured::gather(missing, std::io::empty()).unwrap_err().to_string();
        let twice = Captured::gather(twice, std::io::empty()).unwrap_err();

        assert!(
            missing.contains("cannot read the body from /no/such/body.json")
                && missing.contains("pass - to read it from standard input"),
            "{missing}"
        );
        assert!(matches!(twice, ExplainError::StdinTwice));
    }
}
