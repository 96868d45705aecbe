//! One normalisation pass before the recognisers: what users paste is rarely the bare exception.
//! It comes from a Windows shell (UTF-16 with a byte-order mark, CRLF), a coloured terminal (ANSI
//! codes), a container runtime (`2024-…Z stderr F `), a logger (timestamps, levels, logger names,
//! JSON records whose message holds the error escaped, records wrapped onto indented lines). Each
//! clean line remembers the original lines it came from, so reports point at the user's own text.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

/// How the bytes were decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Utf8,
    /// UTF-8 with a byte-order mark (what some Windows editors write).
    Utf8Bom,
    /// UTF-16 little-endian with its byte-order mark (Windows PowerShell 5's `>`).
    Utf16Le,
    Utf16Be,
    /// Not UTF-8 and no byte-order mark: read byte by byte as Latin-1 (every byte is a character).
    Latin1,
}

impl Encoding {
    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Utf8Bom => "UTF-8 with a byte-order mark",
            Self::Utf16Le => "UTF-16LE (byte-order mark)",
            Self::Utf16Be => "UTF-16BE (byte-order mark)",
            Self::Latin1 => "Latin-1 (the text is not valid UTF-8)",
        }
    }
}

/// Decode a pasted text: UTF-8, else UTF-16 by its byte-order mark, else Latin-1. Never fails:
/// one stray byte must not refuse a whole log.
pub fn decode(bytes: &[u8]) -> (String, Encoding) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return (String::from_utf8_lossy(rest).into_owned(), Encoding::Utf8Bom);
    }
    let utf16 = |rest: &[u8], unit: fn([u8; 2]) -> u16| {
        let units = rest.chunks_exact(2).map(|c| unit([c[0], c[1]]));
        char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect()
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return (utf16(rest, u16::from_le_bytes), Encoding::Utf16Le);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return (utf16(rest, u16::from_be_bytes), Encoding::Utf16Be);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), Encoding::Utf8),
        Err(_) => (bytes.iter().map(|&b| char::from(b)).collect(), Encoding::Latin1),
    }
}

/// One normalisation, as the report names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalization {
    Crlf,
    AnsiColours,
    ContainerPrefix,
    JsonLogLine,
    LogPrefix,
    Indentation,
    JoinedContinuation,
}

impl Normalization {
    const ALL: [Self; 7] = [
        Self::Crlf,
        Self::AnsiColours,
        Self::ContainerPrefix,
        Self::JsonLogLine,
        Self::LogPrefix,
        Self::Indentation,
        Self::JoinedContinuation,
    ];

    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// How the report names it.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Crlf => "CRLF line ends",
            Self::AnsiColours => "ANSI colour codes removed",
            Self::ContainerPrefix => "container runtime prefixes removed",
            Self::JsonLogLine => "JSON log record's message unescaped",
            Self::LogPrefix => "log prefixes (time, level, logger) removed",
            Self::Indentation => "leading indentation removed",
            Self::JoinedContinuation => "wrapped continuation lines joined",
        }
    }
}

/// The text the recognisers read: clean lines, each with the original lines it came from.
#[derive(Debug, Clone, Default)]
pub struct Clean {
    pub lines: Vec<String>,
    /// For each clean line: the original lines (0-based, end exclusive).
    origin: Vec<Range<usize>>,
    /// For each clean line: the normalisations applied to it (bits of [`Normalization`]).
    applied: Vec<u8>,
}

/// One line on its way through the pass.
struct Line {
    text: String,
    origin: Range<usize>,
    applied: u8,
    /// The width of the log prefix removed (a wrapped record continues at this column).
    prefix_width: usize,
    /// A container runtime's partial line (`P`): the record goes on in the next line.
    partial: bool,
}

impl Clean {
    /// Normalise `text`.
    pub fn new(text: &str) -> Self {
        let mut lines: Vec<Line> = Vec::new();
        for (i, raw) in text.split('\n').enumerate() {
            lines.extend(clean_line(raw, i));
        }
        if text.ends_with('\n') {
            lines.pop();
        }
        let lines = join_partials(lines);
        let lines = aspnet_records(lines);
        let lines = join_continuations(lines);
        let lines = separate_records(dedent(lines));
        Self {
            origin: lines.iter().map(|l| l.origin.clone()).collect(),
            applied: lines.iter().map(|l| l.applied).collect(),
            lines: lines.into_iter().map(|l| l.text).collect(),
        }
    }

    /// The original lines a range of clean lines came from.
    pub fn original(&self, clean: &Range<usize>) -> Range<usize> {
        let last = clean.end.max(clean.start + 1).min(self.origin.len());
        match (self.origin.get(clean.start), last.checked_sub(1).and_then(|l| self.origin.get(l))) {
            (Some(first), Some(last)) => first.start..last.end.max(first.start + 1),
            _ => clean.clone(),
        }
    }

    /// The normalisations applied to a range of clean lines, in a fixed order.
    pub fn applied_in(&self, clean: &Range<usize>) -> Vec<Normalization> {
        let end = clean.end.max(clean.start + 1).min(self.applied.len());
        let bits =
            self.applied.get(clean.start..end).unwrap_or_default().iter().fold(0, |a, b| a | b);
        Normalization::ALL.into_iter().filter(|n| bits & n.bit() != 0).collect()
    }
}

static ANSI: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07").expect("a regex"));
/// CRI (containerd, CRI-O, what `kubectl logs` and Container Apps' console logs carry):
/// `<RFC 3339 time> <stream> <P|F> `.
static CRI: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d) (?:stdout|stderr) ([PF]) ?",
    )
    .expect("a regex")
});
/// `docker compose logs` (`backend-1  | `) and `kubectl logs --prefix` (`[pod/name/container] `).
static COMPOSE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?:[a-z0-9][\w.-]*\s+\| |\[pod/[^\]\s]+\] )").expect("a regex"));
/// A timestamp at the start of a log line, optionally bracketed.
static TIMESTAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\[?(?:\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?: ?(?:Z|UTC|[+-]\d\d:?\d\d))?|\d\d/\d\d/\d\d(?:\d\d)? \d\d:\d\d:\d\d|[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d\d:\d\d:\d\d(?:[.,]\d+)?)\]?:?[ \t]+",
    )
    .expect("a regex")
});
const LEVELS: &str = r"TRACE|DEBUG|INFO|INFORMATION|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|SEVERE|FAIL|trace|debug|info|warn|warning|error|fatal|critical";
/// A level after a timestamp (`ERROR `, `[error] `, `ERROR - `, `<ERROR> `).
static LEVEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(?:\[(?:{LEVELS})\]|<(?:{LEVELS})>|(?:{LEVELS})\b)(?:\s+-|:)?\s+"))
        .expect("a regex")
});
/// A level that is a prefix on its own, without a timestamp: bracketed, Python's default
/// `ERROR:logger:` or uvicorn's `ERROR:    `. (`ERROR: ` with one space is the az CLI's own line.)
static LEVEL_ALONE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(?:\[(?:{LEVELS})\]\s+|(?:{LEVELS}):(?:[\w.<>-]+:|\s{{2,}}))"))
        .expect("a regex")
});
/// A logger name after a level: dotted (`coding_engine.pool: `, `[com.azu.ide.ChainedTokenCredential] `),
/// `root:`, `__main__:`, or an ASP.NET Core category with its event id.
static LOGGER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:\[[\w$.-]+\.[\w$.-]+\]|\([\w\s.-]+\)|[A-Za-z_][\w-]*(?:\.[\w$-]+)+(?:\[\d+\])?:|root:|__main__:)\s+")
        .expect("a regex")
});
/// Rich's logging handler right-aligns the source of each record: `  pool.py:42`.
static RICH_SOURCE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\s{2,}[\w.-]+\.py:\d+\s*$").expect("a regex"));
/// ASP.NET Core's console logger: `fail: Category[EventId]`, then the message indented by 6.
static ASPNET_HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:trce|dbug|info|warn|fail|crit): [\w.`+<>-]+\[\d+\]\s*$").expect("a regex")
});

/// Keys that hold a JSON log record's message (pino and Go `msg`, structlog `event`, `az
/// containerapp logs show` `Log`, Serilog compact `@m`).
const MESSAGE_KEYS: &[&str] =
    &["message", "msg", "Message", "MESSAGE", "Log", "log", "event", "@m", "RenderedMessage"];
/// Keys only log records have beside their message (an error body such as
/// `{"statusCode":400,"message":…}` has none of them, and stays as it is).
const RECORD_KEYS: &[&str] = &[
    "time",
    "timestamp",
    "Timestamp",
    "TimeStamp",
    "@t",
    "ts",
    "level",
    "Level",
    "levelname",
    "severity",
    "lvl",
    "@l",
    "pid",
    "hostname",
    "logger",
    "logger_name",
    "TimeGenerated",
    "Stream",
];
/// Keys holding the exception beside the message.
const ERROR_KEYS: &[&str] =
    &["exception", "exc_info", "stack_trace", "stack", "err", "error", "@x", "Exception"];

/// One original line, cleaned: usually one line, several for a JSON record whose message holds
/// line breaks.
fn clean_line(raw: &str, i: usize) -> Vec<Line> {
    let mut applied = 0u8;
    let mut text = raw;
    if let Some(stripped) = text.strip_suffix('\r') {
        text = stripped;
        applied |= Normalization::Crlf.bit();
    }
    let mut text = text.to_owned();
    if text.contains('\x1b') {
        text = ANSI.replace_all(&text, "").into_owned();
        applied |= Normalization::AnsiColours.bit();
    }
    let mut partial = false;
    if let Some(caps) = CRI.captures(&text) {
        partial = &caps[1] == "P";
        text = text[caps[0].len()..].to_owned();
        applied |= Normalization::ContainerPrefix.bit();
    } else if let Some(m) = COMPOSE.find(&text) {
        text = text[m.end()..].to_owned();
        applied |= Normalization::ContainerPrefix.bit();
    }
    if let Some(message) = json_record(&text) {
        applied |= Normalization::JsonLogLine.bit();
        return message
            .split('\n')
            .map(|l| {
                let (l, width) = strip_log_prefix(l.trim_end_matches('\r'));
                let bits = if width > 0 { Normalization::LogPrefix.bit() } else { 0 };
                Line {
                    text: l,
                    origin: i..i + 1,
                    applied: applied | bits,
                    prefix_width: 0,
                    partial,
                }
            })
            .collect();
    }
    let (text, prefix_width) = strip_log_prefix(&text);
    if prefix_width > 0 {
        applied |= Normalization::LogPrefix.bit();
    }
    vec![Line { text, origin: i..i + 1, applied, prefix_width, partial }]
}

/// The message (and the exception logged with it) of a JSON log record; `None` for any other line.
fn json_record(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if !(trimmed.starts_with('{') && trimmed.ends_with('}')) {
        return None;
    }
    let record: Value = serde_json::from_str(trimmed).ok()?;
    let object = record.as_object()?;
    if !RECORD_KEYS.iter().any(|k| object.contains_key(*k)) {
        return None;
    }
    let message = MESSAGE_KEYS.iter().find_map(|k| object.get(*k)?.as_str())?;
    // `az containerapp logs show` keeps the runtime's stream tag in front of the message.
    let message = message.strip_prefix("F ").unwrap_or(message);
    let mut text = message.to_owned();
    for key in ERROR_KEYS {
        let extra = match object.get(*key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(o)) => ["message", "stack"]
                .iter()
                .filter_map(|k| o.get(*k).and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => continue,
        };
        if !extra.is_empty() && !text.contains(&extra) {
            text.push('\n');
            text.push_str(&extra);
        }
    }
    Some(text)
}

/// A line without its log prefix, and the prefix's width in characters (0 when it has none).
fn strip_log_prefix(line: &str) -> (String, usize) {
    let mut rest = line;
    let mut stamped = false;
    if let Some(m) = TIMESTAMP.find(rest) {
        rest = &rest[m.end()..];
        stamped = true;
    }
    let leveled = if stamped { LEVEL.find(rest) } else { LEVEL_ALONE.find(rest) };
    let mut leveled_any = false;
    if let Some(m) = leveled {
        rest = &rest[m.end()..];
        leveled_any = true;
        // Python's `ERROR:logger:message`: the logger was part of the match.
    }
    if stamped || leveled_any {
        // A thread name in parentheses or brackets, then the logger (Java's `(main) [c.a.i.X]`).
        for _ in 0..2 {
            if let Some(m) = LOGGER.find(rest) {
                rest = &rest[m.end()..];
            }
        }
    }
    if !(stamped || leveled_any) {
        return (line.to_owned(), 0);
    }
    let width = line[..line.len() - rest.len()].chars().count();
    let rest = RICH_SOURCE.replace(rest, "");
    (rest.into_owned(), width)
}

/// Container runtimes split long records into `P` (partial) lines: the record goes on in the next.
fn join_partials(lines: Vec<Line>) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    for line in lines {
        match out.last_mut() {
            Some(previous) if previous.partial => {
                previous.text.push_str(&line.text);
                previous.origin.end = line.origin.end;
                previous.applied |= line.applied | Normalization::JoinedContinuation.bit();
                previous.partial = line.partial;
            }
            _ => out.push(line),
        }
    }
    out
}

/// ASP.NET Core's console format: the header (`fail: Category[0]`) becomes a blank line that
/// separates records, and the message lines lose the 6 spaces the logger indents them by.
fn aspnet_records(mut lines: Vec<Line>) -> Vec<Line> {
    let mut in_record = false;
    for line in &mut lines {
        if ASPNET_HEADER.is_match(&line.text) {
            line.text.clear();
            line.applied |= Normalization::LogPrefix.bit();
            in_record = true;
        } else if in_record && line.text.starts_with("      ") {
            line.text.drain(..6);
            line.applied |= Normalization::Indentation.bit();
        } else if in_record && line.text.trim().is_empty() {
            line.text.clear();
        } else {
            in_record = false;
        }
    }
    lines
}

/// A pretty logger wraps a long record onto lines indented to its message column: joined back.
fn join_continuations(lines: Vec<Line>) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    let mut column = 0;
    for line in lines {
        let indent = line.text.len() - line.text.trim_start_matches(' ').len();
        let continues = column > 0
            && line.prefix_width == 0
            && indent == column
            && !line.text.trim().is_empty()
            && line.applied & Normalization::JsonLogLine.bit() == 0;
        match out.last_mut() {
            Some(previous) if continues => {
                let piece = line.text.trim();
                // A hard-wrapped URL goes on without a space; words were wrapped at one.
                let in_url = previous.text.rsplit(' ').next().is_some_and(|w| w.contains("://"));
                if !(in_url
                    && piece.starts_with(|c: char| {
                        "/?&=%#-_.".contains(c) || c.is_ascii_alphanumeric()
                    })
                    && !piece.contains(' '))
                {
                    previous.text.push(' ');
                }
                previous.text.push_str(piece);
                previous.origin.end = line.origin.end;
                previous.applied |= line.applied | Normalization::JoinedContinuation.bit();
            }
            _ => {
                if line.prefix_width > 0 {
                    column = line.prefix_width;
                } else if indent != column {
                    column = 0;
                }
                out.push(line);
            }
        }
    }
    out
}

/// A blank line before each log record that follows another line, so that no error's body runs on
/// into the next record (a `requests` line followed by a thousand unrelated log lines).
fn separate_records(lines: Vec<Line>) -> Vec<Line> {
    let mut out: Vec<Line> = Vec::with_capacity(lines.len());
    for line in lines {
        let starts_record =
            line.prefix_width > 0 || line.applied & Normalization::JsonLogLine.bit() != 0;
        let after_text =
            out.last().is_some_and(|l| !l.text.trim().is_empty() && l.origin != line.origin);
        if starts_record && after_text {
            let at = line.origin.start;
            out.push(Line {
                text: String::new(),
                origin: at..at,
                applied: 0,
                prefix_width: 0,
                partial: false,
            });
        }
        out.push(line);
    }
    out
}

/// Remove the indentation every non-blank line shares (a text copied from an indented block).
fn dedent(mut lines: Vec<Line>) -> Vec<Line> {
    let common = lines
        .iter()
        .filter(|l| !l.text.trim().is_empty())
        .map(|l| l.text.len() - l.text.trim_start_matches([' ', '\t']).len())
        .min()
        .unwrap_or(0);
    if common == 0 {
        return lines;
    }
    for line in &mut lines {
        let cut = common.min(line.text.len() - line.text.trim_start_matches([' ', '\t']).len());
        line.text.drain(..cut);
        line.applied |= Normalization::Indentation.bit();
    }
    lines
}

#[cfg(test)]
mod tests;
