//! Texts that print the HTTP answer in parts: .NET `RequestFailedException`, Go azcore
//! `ResponseError`, `curl -v` transcripts, `curl -i` output and raw HTTP responses.

use std::sync::LazyLock;

use regex::Regex;

use super::{Pasted, PastedFormat, body_after};

static DOTNET_STATUS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^Status: ([1-5]\d\d)(?: \((.*)\))?\s*$").expect("a regex"));
static GO_RESPONSE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^RESPONSE ([1-5]\d\d): ").expect("a regex"));
static GO_REQUEST: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(GET|POST|PUT|PATCH|DELETE|HEAD) (https?://\S+)").expect("a regex")
});
static STATUS_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^HTTP/\d(?:\.\d)? ([1-5]\d\d)\b").expect("a regex"));

/// `name: value`, the name a token.
fn header(line: &str) -> Option<(String, String)> {
    let (name, value) = line.split_once(':')?;
    let is_name =
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    is_name.then(|| (name.to_ascii_lowercase(), value.trim().to_owned()))
}

/// .NET Azure.Core: the message, `Status: 403 (Forbidden)`, `ErrorCode: …`, `Content:` and the body,
/// `Headers:` one per line (FIDELITY §9, SDK).
pub fn dotnet(lines: &[&str]) -> Vec<Pasted> {
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(caps) = DOTNET_STATUS.captures(line) else { continue };
        let start = if i > 0 && !lines[i - 1].trim().is_empty() { i - 1 } else { i };
        let mut pasted = Pasted::new(PastedFormat::DotNetRequestFailed, start..i + 1);
        pasted.status = caps[1].parse().ok();
        let mut at = i + 1;
        while at < lines.len()
            && !lines[at].trim_start().starts_with("at ")
            && !lines[at].starts_with(" --->")
            && !DOTNET_STATUS.is_match(lines[at])
        {
            let current = lines[at].trim();
            if let Some(code) = current.strip_prefix("ErrorCode:") {
                pasted.error_code = Some(code.trim().to_owned());
            } else if current == "Content:" {
                let (body, end) = body_after(lines, at + 1);
                pasted.body = body;
                at = end;
                continue;
            } else if current == "Headers:" {
                at += 1;
                while let Some((name, value)) = lines.get(at).and_then(|l| header(l.trim())) {
                    pasted.headers.push((name, value));
                    at += 1;
                }
                continue;
            }
            at += 1;
        }
        pasted.lines = start..at;
        found.push(pasted);
    }
    found
}

/// Go azcore: `METHOD url`, a rule, `RESPONSE 403: 403 Forbidden`, `ERROR CODE: …`, a rule, the
/// body, a rule (FIDELITY §9, SDK). azcore prints the URL without its query.
pub fn go(lines: &[&str]) -> Vec<Pasted> {
    let is_rule = |l: &str| l.len() >= 10 && l.chars().all(|c| c == '-');
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(caps) = GO_RESPONSE.captures(line) else { continue };
        let request =
            (i >= 2 && is_rule(lines[i - 1])).then(|| GO_REQUEST.captures(lines[i - 2])).flatten();
        let start = if request.is_some() { i - 2 } else { i };
        let mut pasted = Pasted::new(PastedFormat::GoResponseError, start..i + 1);
        pasted.status = caps[1].parse().ok();
        if let Some(request) = request {
            pasted.method = Some(request[1].to_owned());
            pasted.url = Some(request[2].to_owned());
        }
        let mut at = i + 1;
        if let Some(code) = lines.get(at).and_then(|l| l.strip_prefix("ERROR CODE")) {
            let code = code.trim_start_matches(':').trim();
            pasted.error_code =
                (code != "UNAVAILABLE" && !code.is_empty()).then(|| code.to_owned());
            at += 1;
        }
        if lines.get(at).is_some_and(|l| is_rule(l)) {
            let body_end =
                lines[at + 1..].iter().position(|l| is_rule(l)).map_or(lines.len(), |p| at + 1 + p);
            pasted.body = lines[at + 1..body_end].join("\n").trim().to_owned();
            at = (body_end + 1).min(lines.len());
        }
        pasted.lines = start..at;
        found.push(pasted);
    }
    found
}

/// `curl -v`: `> POST /path` and `> Host:` give the URL, `< HTTP/1.1 403 Forbidden` and `< name:
/// value` the answer, the lines after `< ` (minus curl's own `*`, `{`, `}` notes) the body.
pub fn curl_verbose(lines: &[&str]) -> Vec<Pasted> {
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(status_line) = line.strip_prefix("< ") else { continue };
        let Some(caps) = STATUS_LINE.captures(status_line) else { continue };
        let request_start = lines[..i].iter().rposition(|l| {
            l.starts_with("> ") && l[2..].split(' ').nth(2).is_some_and(|v| v.starts_with("HTTP/"))
        });
        let start = lines[..request_start.unwrap_or(i)]
            .iter()
            .rposition(|l| l.starts_with("*   Trying") || l.starts_with("* Connected"))
            .or(request_start)
            .unwrap_or(i);
        let mut pasted = Pasted::new(PastedFormat::CurlVerbose, start..i + 1);
        pasted.status = caps[1].parse().ok();
        if let Some(r) = request_start {
            let mut parts = lines[r][2..].split(' ');
            let (method, path) =
                (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
            let host = lines[r..i].iter().find_map(|l| {
                l.strip_prefix("> ").and_then(header).filter(|(n, _)| n == "host").map(|(_, v)| v)
            });
            pasted.method = Some(method.to_owned());
            pasted.url = host.map(|h| {
                format!(
                    "{}://{h}{path}",
                    if lines[start..i]
                        .iter()
                        .any(|l| l.contains("SSL connection") || l.contains("TLS"))
                    {
                        "https"
                    } else {
                        "http"
                    }
                )
            });
        }
        let mut at = i + 1;
        while let Some((name, value)) =
            lines.get(at).and_then(|l| l.strip_prefix("< ")).and_then(header)
        {
            pasted.headers.push((name, value));
            at += 1;
        }
        let curl_note = |l: &str| {
            l.starts_with("* ")
                || l.starts_with("{ [")
                || l.starts_with("} [")
                || l.trim() == "<"
                || l.starts_with("< ")
                || l.starts_with("> ")
        };
        let mut body = Vec::new();
        while at < lines.len()
            && !lines[at].starts_with("*   Trying")
            && !lines[at].starts_with("> ")
        {
            if !curl_note(lines[at]) {
                body.push(lines[at]);
            }
            at += 1;
        }
        pasted.body = body.join("\n").trim().to_owned();
        pasted.lines = start..at;
        found.push(pasted);
    }
    found
}

/// `curl -i` or a raw HTTP response: the status line, headers to the blank line, then the body.
pub fn raw_response(lines: &[&str]) -> Vec<Pasted> {
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(caps) = STATUS_LINE.captures(line) else { continue };
        let mut pasted = Pasted::new(PastedFormat::RawHttpResponse, i..i + 1);
        pasted.status = caps[1].parse().ok();
        let mut at = i + 1;
        while let Some((name, value)) = lines.get(at).and_then(|l| header(l)) {
            pasted.headers.push((name, value));
            at += 1;
        }
        if lines.get(at).is_some_and(|l| l.trim().is_empty()) {
            let end = lines[at + 1..]
                .iter()
                .position(|l| STATUS_LINE.is_match(l))
                .map_or(lines.len(), |p| at + 1 + p);
            pasted.body = lines[at + 1..end].join("\n").trim().to_owned();
            at = end;
        }
        pasted.lines = i..at;
        found.push(pasted);
    }
    found
}
