//! What users paste (FIDELITY §9): an exception text, a log line, a curl transcript, a credential
//! chain. [`read`] finds every error in a text and extracts what it says: status, reason, URL,
//! headers, body, and for credential errors each credential's message.
//!
//! Extraction only: nothing here names a cause. Words inside a URL (`identifier=`, `/token`) are
//! locations, kept as the URL; [`location`] turns a URL into the hop that answered.

mod aad;
pub mod clean;
mod credentials;
mod http;
pub mod location;
mod messages;

use std::ops::Range;

pub use aad::aadsts_codes;
pub use clean::{Clean, Encoding, Normalization};
pub use credentials::{Attempt, CredentialKind};

/// The kind of text an error was found in, for the report ("from a requests error line").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PastedFormat {
    /// Python `requests`: `403 Client Error: Forbidden for url: …`.
    RequestsError,
    /// Python azure-core: `(Code) message` / `Code:` / `Message:`, or `Operation returned an invalid status '…'`.
    AzureCoreError,
    /// A credential chain (`DefaultAzureCredential failed to retrieve a token …`, `AggregateAuthenticationError`).
    CredentialChain,
    /// One credential's error (Python, JavaScript, .NET, Rust wording).
    CredentialError,
    /// .NET `RequestFailedException`: `Status:`, `ErrorCode:`, `Content:`, `Headers:`.
    DotNetRequestFailed,
    /// Go azcore `ResponseError`: `RESPONSE 403: 403 Forbidden`, `ERROR CODE:`.
    GoResponseError,
    /// `curl -v` transcript (`< HTTP/1.1 403 Forbidden`).
    CurlVerbose,
    /// `curl -i` output or a raw HTTP response (`HTTP/1.1 404 Not Found`).
    RawHttpResponse,
    /// axios: `Request failed with status code 403`.
    AxiosError,
    /// A status and reason phrase in a log line or a fetch message (`403 Forbidden`).
    StatusLine,
    /// A connection that got no HTTP answer (`Connection aborted`, `fetch failed`, `ECONNREFUSED`).
    NoAnswer,
    /// Python httpx `HTTPStatusError` (the client of the OpenAI SDK, Semantic Kernel, LangChain):
    /// `Client error '403 Forbidden' for url '…'`.
    HttpxError,
    /// The OpenAI SDK's `APIStatusError`: `Error code: 403 - {…}`.
    OpenAiError,
    /// Java's `HttpURLConnection`: `Server returned HTTP response code: 403 for URL: …`.
    JavaHttpError,
    /// The `az` CLI's `ERROR:` lines (an ARM error `(Code) message`, or an AADSTS sign-in error).
    AzCliError,
    /// An Entra `AADSTS…` message on its own (MSAL, azure-identity, a log line).
    AadstsMessage,
}

impl PastedFormat {
    /// How the report names where the evidence came from.
    pub fn describe(self) -> &'static str {
        match self {
            Self::RequestsError => "a requests error line",
            Self::AzureCoreError => "an azure-core error",
            Self::CredentialChain => "a credential chain",
            Self::CredentialError => "a credential error",
            Self::DotNetRequestFailed => "a .NET RequestFailedException",
            Self::GoResponseError => "a Go azcore ResponseError",
            Self::CurlVerbose => "a curl -v transcript",
            Self::RawHttpResponse => "a raw HTTP response",
            Self::AxiosError => "an axios error",
            Self::StatusLine => "a status and reason in the text",
            Self::NoAnswer => "a connection error",
            Self::HttpxError => "an httpx HTTPStatusError",
            Self::OpenAiError => "an OpenAI SDK APIStatusError",
            Self::JavaHttpError => "a Java HttpURLConnection error",
            Self::AzCliError => "an az CLI ERROR line",
            Self::AadstsMessage => "an Entra AADSTS message",
        }
    }
}

/// One error found in a pasted text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pasted {
    pub format: PastedFormat,
    /// The lines it was read from (0-based, end exclusive).
    pub lines: Range<usize>,
    pub status: Option<u16>,
    /// Set when the status was implied (by a reason phrase, an error code or a known message).
    pub status_implied_by: Option<String>,
    pub method: Option<String>,
    pub url: Option<String>,
    /// Response headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// The service's error code (`x-ms-error-code`, `ERROR CODE:`, `(Code)`), when printed.
    pub error_code: Option<String>,
    /// For credential errors: every credential the text names, in order.
    pub attempts: Vec<Attempt>,
    /// The normalisations applied to its lines before they were read.
    pub normalized: Vec<Normalization>,
}

impl Pasted {
    fn new(format: PastedFormat, lines: Range<usize>) -> Self {
        Self {
            format,
            lines,
            status: None,
            status_implied_by: None,
            method: None,
            url: None,
            headers: Vec::new(),
            body: String::new(),
            error_code: None,
            attempts: Vec::new(),
            normalized: Vec::new(),
        }
    }

    /// Fill a missing status from the reason phrase, the error code or the body's known message.
    fn imply_status(mut self) -> Self {
        if self.status.is_none()
            && let Some((status, why)) =
                messages::implied_status(self.error_code.as_deref(), &self.body)
        {
            self.status = Some(status);
            self.status_implied_by = Some(why);
        }
        self
    }
}

/// A recogniser: every error of its kind in the lines.
type Recogniser = fn(&[&str]) -> Vec<Pasted>;

/// In order of precedence: a later recogniser's find is dropped where it overlaps an earlier one's.
const RECOGNISERS: &[Recogniser] = &[
    credentials::chains,
    http::dotnet,
    http::go,
    http::curl_verbose,
    http::raw_response,
    messages::requests,
    messages::azure_core,
    messages::axios,
    messages::httpx,
    messages::openai,
    messages::java,
    aad::az_cli,
    credentials::single,
    aad::aadsts,
    messages::no_answer,
    messages::status_line,
];

/// Every error in `text`, in the order they appear (see [`read_clean`]).
pub fn read(text: &str) -> Vec<Pasted> {
    read_clean(&Clean::new(text))
}

/// Every error in a normalised text, in the order they appear, with the original lines it was
/// read from. Identical repeats (an inner exception that prints the same answer again) are kept
/// once; an answer that succeeded (1xx-3xx) is not an error.
pub fn read_clean(clean: &Clean) -> Vec<Pasted> {
    let lines: Vec<&str> = clean.lines.iter().map(String::as_str).collect();
    let mut found = recognise(&lines);
    found.retain(|p| p.status.is_none_or(|s| s >= 400));
    for pasted in &mut found {
        pasted.normalized = clean.applied_in(&pasted.lines);
        pasted.lines = clean.original(&pasted.lines);
    }
    found
}

fn recognise(lines: &[&str]) -> Vec<Pasted> {
    let mut found: Vec<Pasted> = Vec::new();
    for recogniser in RECOGNISERS {
        for pasted in recogniser(lines) {
            let overlaps = found
                .iter()
                .any(|f| f.lines.start < pasted.lines.end && pasted.lines.start < f.lines.end);
            if !overlaps {
                found.push(pasted.imply_status());
            }
        }
    }
    found.sort_by_key(|p| p.lines.start);
    let mut unique: Vec<Pasted> = Vec::new();
    for pasted in found {
        let repeat = unique.iter().any(|u| {
            u.format == pasted.format
                && u.status == pasted.status
                && u.body == pasted.body
                && u.url == pasted.url
                && u.attempts == pasted.attempts
        });
        if !repeat {
            unique.push(pasted);
        }
    }
    unique
}

/// The JSON object or text that follows a marker: the lines from `start` until a blank line, the
/// end, or a line another error begins on (at most 40 lines).
fn body_after(lines: &[&str], start: usize) -> (String, usize) {
    let mut end = start;
    while end < lines.len()
        && end < start + 40
        && !lines[end].trim().is_empty()
        && !messages::starts_an_error(lines[end])
    {
        end += 1;
    }
    (lines[start..end].join("\n").trim().to_owned(), end)
}

#[cfg(test)]
mod tests;
