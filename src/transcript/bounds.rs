//! What the transcript keeps, and the count of what it does not: nothing lost, nothing silent.
//!
//! A stand-in may serve for hours (`serve`), so the transcript cannot keep every body and every
//! exchange: it keeps bodies up to a bound (noting on the exchange how big the original was) and the
//! first [`MAX_EXCHANGES`] exchanges, and counts the rest. What happens on a connection before any
//! exchange exists (refused over the connection limit, accept failures, header-read timeouts,
//! unparsable heads) is counted per hop too, so a report can say what it does not show.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde::Serialize;
use serde_json::Value;

use super::{Exchange, Hop};

/// Exchanges the transcript keeps; later ones are counted, not kept.
pub const MAX_EXCHANGES: usize = 10_000;
/// Bytes of one body the transcript keeps (while the total below is not spent).
pub const BODY_KEPT: usize = 64 * 1024;
/// Bytes of bodies the whole transcript keeps at full [`BODY_KEPT`]; after that each body keeps
/// [`BODY_KEPT_AFTER_TOTAL`], so that [`MAX_EXCHANGES`] exchanges of large bodies stay bounded.
pub const BODIES_KEPT_TOTAL: usize = 64 * 1024 * 1024;
/// Bytes of one body kept once [`BODIES_KEPT_TOTAL`] is spent.
pub const BODY_KEPT_AFTER_TOTAL: usize = 1024;

/// The exchanges kept, and the count of every request, kept or not.
#[derive(Debug, Default)]
pub(super) struct Kept {
    /// Indexed by `seq - 1`; a slot stays `None` only while its `begin` is between two statements.
    pub exchanges: Vec<Option<Exchange>>,
    /// Requests that reached each hop, including those not kept.
    pub reached: BTreeMap<Hop, usize>,
}

/// A body as the transcript keeps it: redacted, then cut to the bound, with a note when cut.
/// `spent` counts the body bytes the transcript keeps so far.
pub(super) fn kept_body(
    spent: &AtomicUsize,
    body: &[u8],
    what: &str,
) -> (Option<Value>, Option<String>) {
    let Some(value) = super::body_value(body) else { return (None, None) };
    let cap = if spent.load(Ordering::Relaxed) < BODIES_KEPT_TOTAL {
        BODY_KEPT
    } else {
        BODY_KEPT_AFTER_TOTAL
    };
    spent.fetch_add(body.len().min(cap), Ordering::Relaxed);
    if body.len() <= cap {
        return (Some(value), None);
    }
    let (value, note) = cut(value, body.len(), cap, what);
    (Some(value), note)
}

/// Something that happened on a stand-in's connection that no exchange shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// Closed at once: the stand-in already had as many connections open as it serves.
    Refused,
    /// Accepting a connection failed (e.g. no file descriptor left); the stand-in waited.
    AcceptFailed(String),
    /// Closed because the request's head did not arrive in time (or the connection sat idle).
    HeaderTimeout,
    /// The request's head could not be parsed; hyper answered 400 before any handler saw it.
    MalformedHead,
}

/// Per hop: what happened on its connections outside any exchange.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionCounts {
    pub refused: u64,
    pub accept_failures: u64,
    /// The last accept error, for the report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_accept_error: Option<String>,
    pub header_timeouts: u64,
    pub malformed_heads: u64,
}

impl ConnectionCounts {
    pub(super) fn count(&mut self, event: ConnectionEvent) {
        match event {
            ConnectionEvent::Refused => self.refused += 1,
            ConnectionEvent::AcceptFailed(error) => {
                self.accept_failures += 1;
                self.last_accept_error = Some(error);
            }
            ConnectionEvent::HeaderTimeout => self.header_timeouts += 1,
            ConnectionEvent::MalformedHead => self.malformed_heads += 1,
        }
    }
}

/// What a run's transcript does not show, counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Losses {
    /// Exchanges after the first [`MAX_EXCHANGES`], not kept.
    pub exchanges_not_kept: u64,
    /// Connection events per hop.
    pub connections: BTreeMap<Hop, ConnectionCounts>,
}

impl Losses {
    /// Whether the transcript shows everything that happened.
    pub fn is_empty(&self) -> bool {
        self.exchanges_not_kept == 0 && self.connections.is_empty()
    }

    /// One line per loss, for a text report, e.g.
    /// `identity: 12 connections refused at once (over the stand-in's connection limit)`.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.exchanges_not_kept > 0 {
            lines.push(format!(
                "{} exchanges not kept: the transcript keeps the first {MAX_EXCHANGES}",
                self.exchanges_not_kept
            ));
        }
        for (hop, counts) in &self.connections {
            let mut say = |n: u64, what: &str| {
                if n > 0 {
                    lines.push(format!("{hop}: {n} {what}"));
                }
            };
            say(
                counts.refused,
                "connections refused at once (over the stand-in's connection limit)",
            );
            say(counts.header_timeouts, "connections closed by the header-read timeout");
            say(counts.malformed_heads, "requests with a malformed head answered 400 by hyper");
            if counts.accept_failures > 0 {
                lines.push(format!(
                    "{hop}: accepting a connection failed {} times ({}); the stand-in waited between tries",
                    counts.accept_failures,
                    counts.last_accept_error.as_deref().unwrap_or("unknown error")
                ));
            }
        }
        lines
    }
}

/// `value` (a body as the transcript shows it) cut to `cap` bytes of its rendering, and the note
/// saying so; `None` for the note when it fits. `original` is the body's size on the wire.
pub(super) fn cut(
    value: Value,
    original: usize,
    cap: usize,
    what: &str,
) -> (Value, Option<String>) {
    let text = match value {
        Value::String(text) if text.len() <= cap => return (Value::String(text), None),
        Value::String(text) => text,
        other => {
            let text = other.to_string();
            if text.len() <= cap {
                return (other, None);
            }
            text
        }
    };
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    // A new string: truncating in place would keep the whole allocation alive.
    let kept = text[..end].to_owned();
    let note =
        format!("{what} body cut to {end} bytes in the transcript (it was {original} bytes)");
    (Value::String(kept), Some(note))
}

/// Add `more` to an exchange's note (notes are joined with `; `).
pub(super) fn push_note(note: &mut Option<String>, more: String) {
    match note {
        Some(text) => {
            text.push_str("; ");
            text.push_str(&more);
        }
        None => *note = Some(more),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{RawRequest, RawResponse, Recorder};
    use super::*;

    #[test]
    fn a_body_over_the_bound_is_kept_cut_with_a_note_giving_its_size() {
        let recorder = Recorder::new();
        let body = vec![b'x'; 3 * BODY_KEPT];
        let request = RawRequest { method: "POST", path: "/p", body: &body, ..Default::default() };

        let pending = recorder.begin(Hop::Backend, Hop::Pool, &request);
        recorder.finish(pending, &RawResponse { status: 401, body: &body, ..Default::default() });

        let exchange = &recorder.exchanges()[0];
        let kept = |v: &Option<Value>| v.as_ref().and_then(Value::as_str).map(str::len);
        assert_eq!(kept(&exchange.request_body), Some(BODY_KEPT));
        assert_eq!(kept(&exchange.response_body), Some(BODY_KEPT));
        assert_eq!(
            exchange.note.as_deref(),
            Some(
                "request body cut to 65536 bytes in the transcript (it was 196608 bytes); response body cut to 65536 bytes in the transcript (it was 196608 bytes)"
            )
        );
    }

    #[test]
    fn past_the_exchange_bound_requests_are_counted_not_kept() {
        let recorder = Recorder::new();
        let request = RawRequest { method: "GET", path: "/msi/token", ..Default::default() };

        for _ in 0..MAX_EXCHANGES + 2 {
            let pending = recorder.begin(Hop::Backend, Hop::Identity, &request);
            recorder.finish(pending, &RawResponse { status: 200, ..Default::default() });
        }

        assert_eq!(recorder.exchanges().len(), MAX_EXCHANGES);
        assert_eq!(recorder.losses().exchanges_not_kept, 2);
        assert_eq!(recorder.count_to(Hop::Identity), MAX_EXCHANGES + 2, "every request counted");
    }

    #[test]
    fn a_body_over_the_cap_is_cut_at_a_char_boundary_and_the_note_gives_its_size() {
        let (value, note) = cut(Value::String("aé".repeat(10)), 30, 4, "response");

        assert_eq!(value, Value::String("aéa".into()), "4 bytes would split the second é");
        assert_eq!(
            note.as_deref(),
            Some("response body cut to 4 bytes in the transcript (it was 30 bytes)")
        );
    }

    #[test]
    fn a_json_body_that_fits_once_rendered_stays_json() {
        let body = serde_json::json!({"a": 1});

        let (value, note) = cut(body.clone(), 10_000, 100, "request");

        assert_eq!((value, note), (body, None));
    }

    #[test]
    fn losses_say_per_hop_what_the_transcript_does_not_show() {
        let mut losses = Losses { exchanges_not_kept: 3, ..Losses::default() };
        let identity = losses.connections.entry(Hop::Identity).or_default();
        identity.count(ConnectionEvent::Refused);
        identity.count(ConnectionEvent::AcceptFailed("Too many open files (os error 24)".into()));
        identity.count(ConnectionEvent::AcceptFailed("Too many open files (os error 24)".into()));

        assert_eq!(
            losses.lines(),
            [
                "3 exchanges not kept: the transcript keeps the first 10000",
                "identity: 1 connections refused at once (over the stand-in's connection limit)",
                "identity: accepting a connection failed 2 times (Too many open files (os error 24)); the stand-in waited between tries",
            ]
        );
        assert!(!losses.is_empty() && Losses::default().is_empty());
    }
}
