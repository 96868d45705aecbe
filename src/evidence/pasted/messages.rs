//! One-line error messages: Python `requests` and azure-core, axios, a status and reason in a log or
//! fetch message, connections that got no answer; and statuses implied by reason phrases, error
//! codes and messages that only one status carries.

use std::sync::LazyLock;

use regex::Regex;

use super::{Pasted, PastedFormat, body_after};

static REQUESTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b([1-5]\d\d) (?:Client|Server) Error: (.*?) for url: (\S+)").expect("a regex")
});
static AZURE_CORE_CODE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*\(([A-Za-z][A-Za-z0-9_.]*)\) (.+)$").expect("a regex"));
static AZURE_CORE_STATUS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Operation returned an invalid status '([^']+)'").expect("a regex")
});
static AXIOS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"Request failed with status code ([1-5]\d\d)").expect("a regex"));
static STATUS_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:status(?: code)?|HTTP)[ :=]+([1-5]\d\d)\b").expect("a regex")
});
static HTTPX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(?:Client|Server) error '([1-5]\d\d) ([^']*)' for url '([^']+)'")
        .expect("a regex")
});
static OPENAI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\bError code: ([1-5]\d\d) - (.*)$").expect("a regex"));
static JAVA: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"Server returned HTTP response code: ([1-5]\d\d) for URL: (\S+)").expect("a regex")
});
/// urllib3's `HTTPConnectionPool(host='169.254.169.254', port=80): … url: /metadata/…`.
static URLLIB3_POOL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(HTTPS?)ConnectionPool\(host='([^']+)', port=(\d+)\): Max retries exceeded with url: (\S+)")
        .expect("a regex")
});
static URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"https?://[^\s"'<>)\]]+"#).expect("a regex"));

/// Standard reason phrases of the statuses the catalogue tells apart.
const REASONS: &[(u16, &str)] = &[
    (400, "Bad Request"),
    (401, "Unauthorized"),
    (403, "Forbidden"),
    (404, "Not Found"),
    (405, "Method Not Allowed"),
    (408, "Request Timeout"),
    (409, "Conflict"),
    (413, "Payload Too Large"),
    (415, "Unsupported Media Type"),
    (429, "Too Many Requests"),
    (500, "Internal Server Error"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
    (504, "Gateway Timeout"),
];

/// The status of a reason phrase (`Forbidden` → 403), case-insensitively.
pub fn status_of_reason(reason: &str) -> Option<u16> {
    REASONS.iter().find(|(_, r)| r.eq_ignore_ascii_case(reason.trim())).map(|(s, _)| *s)
}

/// A status the text does not print but its content implies, and why.
///
/// Error codes as the session pool answers them (FIDELITY §5: PermissionDenied with 403 is what the
/// stand-in sends, assumed), messages only one status carries (§1, §2 REP: the identity endpoints'
/// 400s; §3 DOC: AADSTS codes), and an empty identity answer (§1: only the 403 has an empty body).
pub fn implied_status(error_code: Option<&str>, body: &str) -> Option<(u16, String)> {
    const CODES: &[(&str, u16)] = &[
        ("PermissionDenied", 403),
        ("DynamicApisNotAllowed", 400),
        ("SessionPropertiesMissing", 400),
        ("SessionWithIdentifierNotFound", 400),
        ("SessionRequestValidationFailed", 400),
        ("SessionTypeNotSupportedInRegion", 400),
        ("SessionMCPServerNotEnabled", 400),
    ];
    const MESSAGES: &[(&str, u16)] = &[
        ("Unable to load the proper Managed Identity", 400),
        ("Identity not found", 400),
        ("Multiple user assigned identities exist", 400),
        ("The requested identity has not been assigned to this resource", 400),
        ("Missing required parameter 'identifier'", 400),
    ];
    /// Entra's statuses by AADSTS code (FIDELITY §3, DOC; 90002, 70021 and 50027 as the stand-in
    /// sends them, 500571 and 53003 REP).
    const AADSTS: &[(u32, u16)] = &[
        (500011, 400),
        (1002012, 400),
        (700016, 400),
        (7000215, 401),
        (700024, 401),
        (90002, 400),
        (70021, 400),
        (50027, 400),
        (500571, 400),
        (53003, 400),
    ];
    let code = error_code.or_else(|| pool_error_code(body));
    if let Some((code, status)) =
        code.and_then(|c| CODES.iter().find(|(known, _)| known.eq_ignore_ascii_case(c)))
    {
        return Some((*status, format!("error code {code}")));
    }
    let codes = super::aadsts_codes(body);
    if let Some((code, status)) = AADSTS.iter().find(|(code, _)| codes.contains(code)) {
        return Some((
            *status,
            format!("the Entra code AADSTS{code}, which comes only with {status}"),
        ));
    }
    MESSAGES.iter().find(|(message, _)| body.contains(message)).map(|(message, status)| {
        (*status, format!("the message \"{message}\", which comes only with {status}"))
    })
}

/// `error.code` of a session-pool error body, also when it is not valid JSON.
fn pool_error_code(body: &str) -> Option<&str> {
    let at = body.find("\"code\"")?;
    let rest = body[at + 6..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    rest.split('"').next()
}

/// Whether a line begins an error another recogniser reads (so a body stops before it): a
/// credential chain printed right after a pool's error line is an error of its own.
pub fn starts_an_error(line: &str) -> bool {
    REQUESTS.is_match(line)
        || AXIOS.is_match(line)
        || AZURE_CORE_STATUS.is_match(line)
        || HTTPX.is_match(line)
        || JAVA.is_match(line)
        || line.starts_with("HTTP/")
        || line.starts_with("< HTTP/")
        || line.starts_with("ERROR: ")
        || line.contains("Traceback (most recent call last)")
        || super::credentials::starts_a_chain(line)
}

fn first_url(text: &str) -> Option<String> {
    URL.find(text).map(|m| m.as_str().trim_end_matches(['.', ',', ';', ':']).to_owned())
}

/// Python `requests`: `raise_for_status()` text, the body apps often print after it.
pub fn requests(lines: &[&str]) -> Vec<Pasted> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let caps = REQUESTS.captures(line)?;
            let (body, end) = body_after(lines, i + 1);
            let mut pasted = Pasted::new(PastedFormat::RequestsError, i..end.max(i + 1));
            pasted.status = caps[1].parse().ok();
            pasted.url = Some(caps[3].to_owned());
            pasted.body = body;
            Some(pasted)
        })
        .collect()
}

/// Python azure-core: `(Code) message` + `Code:`/`Message:` (an ODataV4 error), or `Operation
/// returned an invalid status '<reason>'` + `Content:`.
pub fn azure_core(lines: &[&str]) -> Vec<Pasted> {
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if let Some(caps) = AZURE_CORE_STATUS.captures(line) {
            let mut pasted = Pasted::new(PastedFormat::AzureCoreError, i..i + 1);
            pasted.status = status_of_reason(&caps[1]);
            pasted.status_implied_by = pasted.status.map(|_| format!("the reason '{}'", &caps[1]));
            if let Some(content) = lines.get(i + 1).and_then(|l| l.strip_prefix("Content: ")) {
                let (rest, end) = body_after(lines, i + 2);
                pasted.body = [content, rest.as_str()].join("\n").trim().to_owned();
                pasted.lines = i..end;
            }
            found.push(pasted);
        } else if let Some(caps) = AZURE_CORE_CODE.captures(line)
            && lines.get(i + 1).is_some_and(|l| l.starts_with("Code: "))
        {
            let message =
                lines.get(i + 2).and_then(|l| l.strip_prefix("Message: ")).unwrap_or(&caps[2]);
            let mut pasted = Pasted::new(PastedFormat::AzureCoreError, i..(i + 3).min(lines.len()));
            pasted.error_code = Some(caps[1].to_owned());
            // The pool's error shape, rebuilt from what azure-core printed of it.
            pasted.body = serde_json::json!({ "error": { "code": &caps[1], "message": message } })
                .to_string();
            found.push(pasted);
        }
    }
    found
}

/// axios: `AxiosError: Request failed with status code 403`, then whatever the app logged of
/// `response.data`.
pub fn axios(lines: &[&str]) -> Vec<Pasted> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let caps = AXIOS.captures(line)?;
            let start = lines[i + 1..]
                .iter()
                .position(|l| l.contains("data:"))
                .map(|p| i + 1 + p)
                .filter(|p| *p <= i + 3);
            let (body, end) = match start {
                Some(at) => {
                    let (rest, end) = body_after(lines, at + 1);
                    let first = lines[at].split_once("data:").map_or("", |(_, d)| d);
                    ([first, rest.as_str()].join("\n").trim().to_owned(), end)
                }
                None => (String::new(), i + 1),
            };
            let mut pasted = Pasted::new(PastedFormat::AxiosError, i..end);
            pasted.status = caps[1].parse().ok();
            pasted.url = first_url(line);
            pasted.body = body;
            Some(pasted)
        })
        .collect()
}

/// One line naming status and URL (`caps` 1 and `url_group`), the body on the lines after it.
fn status_and_url(
    lines: &[&str],
    format: PastedFormat,
    pattern: &Regex,
    url_group: usize,
    skip: fn(&str) -> bool,
) -> Vec<Pasted> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let caps = pattern.captures(line)?;
            let mut body_start = i + 1;
            while lines.get(body_start).is_some_and(|l| skip(l)) {
                body_start += 1;
            }
            let (body, end) = body_after(lines, body_start);
            let mut pasted = Pasted::new(format, i..end.max(body_start).max(i + 1));
            pasted.status = caps[1].parse().ok();
            pasted.url = Some(caps[url_group].trim_end_matches(['.', ',', ';']).to_owned());
            pasted.body = body;
            Some(pasted)
        })
        .collect()
}

/// httpx `raise_for_status()`: `Client error '403 Forbidden' for url '…'`, then `For more
/// information check: https://developer.mozilla.org/…` (SDK: httpx `_models.py`).
pub fn httpx(lines: &[&str]) -> Vec<Pasted> {
    status_and_url(lines, PastedFormat::HttpxError, &HTTPX, 3, |l| {
        l.starts_with("For more information check:")
    })
}

/// The OpenAI SDK (over httpx): `openai.PermissionDeniedError: Error code: 403 - {'error': …}`,
/// the body as the SDK's Python repr (SDK: openai `_exceptions.py`).
pub fn openai(lines: &[&str]) -> Vec<Pasted> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let caps = OPENAI.captures(line)?;
            let mut pasted = Pasted::new(PastedFormat::OpenAiError, i..i + 1);
            pasted.status = caps[1].parse().ok();
            pasted.body = caps[2].trim().to_owned();
            pasted.url = first_url(&caps[2]);
            Some(pasted)
        })
        .collect()
}

/// Java's `HttpURLConnection.getInputStream()` on an error status (SDK: the JDK's
/// `sun.net.www.protocol.http.HttpURLConnection`): status and URL, never the body.
pub fn java(lines: &[&str]) -> Vec<Pasted> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let caps = JAVA.captures(line)?;
            let mut pasted = Pasted::new(PastedFormat::JavaHttpError, i..i + 1);
            pasted.status = caps[1].parse().ok();
            pasted.url = Some(caps[2].trim_end_matches(['.', ',']).to_owned());
            Some(pasted)
        })
        .collect()
}

/// A status with its reason phrase (`403 Forbidden`) or after a word that says it is one (`status
/// 403`, `HTTP 503`), in a log line or a fetch message; the body is what follows on the line.
pub fn status_line(lines: &[&str]) -> Vec<Pasted> {
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let (status, after) = status_with_reason(line).or_else(|| {
                STATUS_WORDS
                    .captures(line)
                    .and_then(|c| Some((c[1].parse().ok()?, c.get(0)?.end())))
            })?;
            let rest = line[after..].trim_start_matches([':', ' ', '-']).trim();
            let (more, end) = body_after(lines, i + 1);
            let mut pasted = Pasted::new(PastedFormat::StatusLine, i..end.max(i + 1));
            pasted.status = Some(status);
            pasted.url = first_url(line);
            pasted.body = [rest, more.as_str()].join("\n").trim().to_owned();
            Some(pasted)
        })
        .collect()
}

/// `403 Forbidden` anywhere in a line: the status and where the phrase ends.
fn status_with_reason(line: &str) -> Option<(u16, usize)> {
    REASONS.iter().find_map(|(status, reason)| {
        let needle = format!("{status} {reason}");
        let at = line.find(&needle)?;
        let before_ok = line[..at].chars().last().is_none_or(|c| !c.is_ascii_alphanumeric());
        before_ok.then_some((*status, at + needle.len()))
    })
}

/// Texts of a request that got no HTTP answer at all.
const NO_ANSWER: &[&str] = &[
    "Connection aborted",
    "RemoteDisconnected",
    "Connection refused",
    "ECONNREFUSED",
    "ECONNRESET",
    "fetch failed",
    "connection reset",
    "Connection reset by peer",
    "timed out",
    "Failed to establish a new connection",
    "Max retries exceeded with url",
    "cannot be established,",
    "ETIMEDOUT",
    "EHOSTUNREACH",
    "i/o timeout",
    "no route to host",
    "Connection timed out",
];

/// A connection error: no status, a URL when the text names one.
pub fn no_answer(lines: &[&str]) -> Vec<Pasted> {
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| NO_ANSWER.iter().any(|m| line.contains(m)))
        .map(|(i, line)| {
            let mut pasted = Pasted::new(PastedFormat::NoAnswer, i..i + 1);
            pasted.url = first_url(line).or_else(|| urllib3_url(line));
            pasted.body = line.trim().to_owned();
            pasted
        })
        .collect()
}

/// The URL urllib3 names in a connection error without writing it as one (requests' `Max
/// retries exceeded` texts): where IMDS time-outs say which host did not answer.
fn urllib3_url(line: &str) -> Option<String> {
    let caps = URLLIB3_POOL.captures(line)?;
    let scheme = caps[1].to_ascii_lowercase();
    Some(format!("{scheme}://{}:{}{}", &caps[2], &caps[3], &caps[4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_phrases_and_codes_imply_statuses_and_say_why() {
        assert_eq!(status_of_reason("not found"), Some(404));
        assert_eq!(implied_status(Some("PermissionDenied"), "").map(|s| s.0), Some(403));
        assert_eq!(
            implied_status(None, r#"{"error":{"code":"DynamicApisNotAllowed"}}"#).map(|s| s.0),
            Some(400)
        );
        assert_eq!(
            implied_status(None, "AADSTS7000215: Invalid client secret").map(|s| s.0),
            Some(401)
        );
        assert_eq!(implied_status(None, "something else"), None);
    }

    #[test]
    fn a_status_needs_its_reason_or_a_word_that_says_it_is_one() {
        assert_eq!(status_with_reason("call failed: 403 Forbidden: {}").map(|s| s.0), Some(403));
        assert_eq!(status_with_reason("took 403 ms"), None);
        assert_eq!(status_with_reason("x1403 Forbidden"), None);
    }
}
