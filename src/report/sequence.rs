//! A scenario's exchanges as a sequence diagram: the participants that took part, in the order of
//! the chain, and one arrow per exchange with its request, its answer and whether the diagnosis
//! names it. The HTML report draws it as SVG, the Markdown report as a mermaid `sequenceDiagram`.

use serde_json::Value;

use crate::diagnosis::Finding;
use crate::transcript::{Exchange, Hop, answer_note};

/// The chain, left to right.
const ORDER: [Hop; 7] =
    [Hop::Client, Hop::Backend, Hop::Identity, Hop::Entra, Hop::Pool, Hop::Container, Hop::Piston];

/// Participants and arrows of one scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Sequence {
    /// Every hop that sent or received a request, in chain order.
    pub participants: Vec<Hop>,
    /// One per exchange, in the order its request started.
    pub arrows: Vec<Arrow>,
}

/// A request or an answer of the arrow at this index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The request of `arrows[i]`.
    Request(usize),
    /// The answer of `arrows[i]`.
    Answer(usize),
}

/// One exchange.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrow {
    /// The exchange's `#n`.
    pub seq: u64,
    /// The caller.
    pub from: Hop,
    /// The callee.
    pub to: Hop,
    /// `POST /python/execute`.
    pub request: String,
    /// `403 PermissionDenied: …`, or `no answer: …`.
    pub answer: String,
    /// The status, when an answer came.
    pub status: Option<u16>,
    /// No answer, or an answer outside 2xx.
    pub refused: bool,
    /// A diagnosis names this exchange.
    pub diagnosed: bool,
    /// The claims of the bearer token the request carried, or of the token the answer issued.
    pub claims: Option<Value>,
}

impl Sequence {
    /// The diagram of `exchanges`, marking those `findings` name.
    pub fn of(exchanges: &[Exchange], findings: &[Finding]) -> Self {
        let participants = ORDER
            .into_iter()
            .filter(|hop| exchanges.iter().any(|e| e.from == *hop || e.to == *hop))
            .collect();
        let arrows = exchanges
            .iter()
            .map(|exchange| {
                let status = exchange.status;
                let answer = match (status, answer_note(exchange)) {
                    (Some(status), Some(note)) => format!("{status} {note}"),
                    (Some(status), None) => status.to_string(),
                    (None, note) => format!("no answer: {}", note.unwrap_or_default()),
                };
                let claims = exchange.bearer_claims().cloned().or_else(|| {
                    exchange
                        .response_body
                        .as_ref()
                        .and_then(|b| b.pointer("/access_token/decoded_claims"))
                        .cloned()
                });
                Arrow {
                    seq: exchange.seq,
                    from: exchange.from,
                    to: exchange.to,
                    request: format!("{} {}", exchange.method, exchange.path),
                    answer,
                    status,
                    refused: !status.is_some_and(|s| (200..300).contains(&s)),
                    diagnosed: findings.iter().any(|f| f.seq == Some(exchange.seq)),
                    claims,
                }
            })
            .collect();
        Self { participants, arrows }
    }

    /// Requests and answers in the order they happened, as far as the transcript tells: an exchange a
    /// callee makes while serving a request is nested in it, so the outer answer comes after the
    /// inner exchanges; a caller's next request comes after the answer to its previous one.
    pub fn events(&self) -> Vec<Event> {
        let mut events = Vec::with_capacity(self.arrows.len() * 2);
        let mut open: Vec<usize> = Vec::new();
        for (index, arrow) in self.arrows.iter().enumerate() {
            while let Some(&top) = open.last() {
                if self.arrows[top].to == arrow.from {
                    break;
                }
                events.push(Event::Answer(top));
                open.pop();
            }
            events.push(Event::Request(index));
            open.push(index);
        }
        events.extend(open.into_iter().rev().map(Event::Answer));
        events
    }

    /// The column of `hop` (0-based).
    pub fn column(&self, hop: Hop) -> usize {
        self.participants.iter().position(|p| *p == hop).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{RawRequest, RawResponse, Recorder};

    /// Exchanges `(from, to, status)` recorded in this order.
    fn exchanges(hops: &[(Hop, Hop, u16)]) -> Vec<Exchange> {
        let recorder = Recorder::new();
        for (from, to, status) in hops {
            let request = RawRequest {
                method: "POST",
                path: "/x",
                query: None,
                headers: Vec::new(),
                body: b"",
            };
            let pending = recorder.begin(*from, *to, &request);
            let response = RawResponse { status: *status, body: b"{}", ..Default::default() };
            recorder.finish(pending, &response);
        }
        recorder.exchanges()
    }

    #[test]
    fn an_outer_answer_comes_after_the_exchanges_made_while_serving_it() {
        use Event::{Answer, Request};
        let sequence = Sequence::of(
            &exchanges(&[
                (Hop::Client, Hop::Backend, 502),
                (Hop::Backend, Hop::Identity, 200),
                (Hop::Backend, Hop::Pool, 403),
                (Hop::Backend, Hop::Pool, 403),
            ]),
            &[],
        );
        assert_eq!(sequence.participants, [Hop::Client, Hop::Backend, Hop::Identity, Hop::Pool]);
        assert_eq!(
            sequence.events(),
            [
                Request(0),
                Request(1),
                Answer(1),
                Request(2),
                Answer(2),
                Request(3),
                Answer(3),
                Answer(0)
            ]
        );
        assert!(sequence.arrows[2].refused && !sequence.arrows[1].refused);
    }
}
