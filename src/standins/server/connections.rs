//! A stand-in's connections, bounded: how many are open at once, how long a request's head may take,
//! and how accepting behaves when the process runs out of file descriptors.
//!
//! A stand-in serves a backend under test, but `serve` also faces whatever a user points at it, for
//! hours: a slow or idle client must not hold a connection forever, a flood must not take every
//! descriptor, and a failing `accept` (EMFILE) must not spin. What is refused or closed is counted
//! in the transcript's [`crate::transcript::Losses`], never dropped silently.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::transcript::{ConnectionEvent, Hop, Recorder};

/// The bounds of one stand-in's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long a request's head may take from the moment the stand-in waits for it. hyper starts
    /// this timer whenever it waits for a head, so it is also the keep-alive idle timeout.
    pub header_read: Duration,
    /// How long a request's body may take once its head arrived.
    pub body_read: Duration,
    /// Connections served at once; more are closed at once and counted.
    pub max_connections: usize,
}

impl Default for Limits {
    /// Generous for a client on loopback (headers arrive in microseconds there), tight enough that
    /// slow or idle connections are gone within seconds. 1024 connections per stand-in: more than a
    /// backend's connection pool opens; where the process's descriptor limit is lower (often 1024
    /// for all four stand-ins), accepting fails first and [`Backoff`] takes over.
    fn default() -> Self {
        Self {
            header_read: Duration::from_secs(5),
            body_read: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Where connection events are counted: the transcript of the hop served, when there is one.
#[derive(Debug, Clone, Default)]
pub(super) struct Events(Option<(Recorder, Hop)>);

impl Events {
    pub fn to(recorder: Recorder, hop: Hop) -> Self {
        Self(Some((recorder, hop)))
    }

    pub fn note(&self, event: ConnectionEvent) {
        if let Some((recorder, hop)) = &self.0 {
            recorder.note_connection(*hop, event);
        }
    }

    /// Count how a connection ended, when it ended on a timeout or an unparsable head. An idle
    /// keep-alive connection closed by the timer is the ordinary end of one and is not counted.
    pub fn ended(&self, result: Result<(), hyper::Error>, traffic: &Traffic) {
        let Err(error) = result else { return };
        if error.is_timeout() && !traffic.idle_after_answer() {
            self.note(ConnectionEvent::HeaderTimeout);
        } else if error.is_parse() {
            self.note(ConnectionEvent::MalformedHead);
        }
    }
}

/// How long to wait after accepting failed: 10 ms, doubling up to 1 s; a success resets it.
/// Without it a listener whose `accept` fails at once (no descriptor left) spins a core.
#[derive(Debug, Default)]
pub(super) struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    /// The wait after one more failure.
    pub fn failed(&mut self) -> Duration {
        let wait = self.next.unwrap_or(Self::FIRST);
        self.next = Some((wait * 2).min(Self::MOST));
        wait
    }

    pub fn succeeded(&mut self) {
        self.next = None;
    }
}

/// Errors of one connection that went away before it was accepted: nothing to wait for.
fn is_connection_error(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(error.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// Accept connections until `shutdown`, serving each with `serve` while at most
/// `limits.max_connections` are open. Returning (at shutdown) aborts every open connection.
pub(super) async fn accept<F, Fut>(
    listener: TcpListener,
    limits: Limits,
    events: Events,
    mut shutdown: oneshot::Receiver<()>,
    serve: F,
) where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let mut connections = tokio::task::JoinSet::new();
    let mut backoff = Backoff::default();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    backoff.succeeded();
                    match open.clone().try_acquire_owned() {
                        Ok(permit) => {
                            connections.spawn(holding(permit, serve(stream)));
                        }
                        // Dropping the stream closes it: the client sees the connection end.
                        Err(_) => events.note(ConnectionEvent::Refused),
                    }
                }
                Err(error) if is_connection_error(&error) => {}
                Err(error) => {
                    events.note(ConnectionEvent::AcceptFailed(error.to_string()));
                    let wait = backoff.failed();
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn holding(permit: OwnedSemaphorePermit, serve: impl Future<Output = ()>) {
    serve.await;
    drop(permit);
}

/// Bytes read on a connection, and how many had been read when the stand-in last wrote: when the
/// two are equal after an answer, the connection is idle between requests.
#[derive(Debug)]
pub(super) struct Traffic {
    read: AtomicU64,
    read_at_write: AtomicU64,
}

impl Traffic {
    pub fn new() -> Arc<Self> {
        Arc::new(Self { read: AtomicU64::new(0), read_at_write: AtomicU64::new(u64::MAX) })
    }

    fn idle_after_answer(&self) -> bool {
        self.read.load(Ordering::Relaxed) == self.read_at_write.load(Ordering::Relaxed)
    }
}

/// A connection's I/O, counting its [`Traffic`].
#[derive(Debug)]
pub(super) struct Watched<T> {
    pub io: T,
    pub traffic: Arc<Traffic>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        let read = (buf.filled().len() - before) as u64;
        self.traffic.read.fetch_add(read, Ordering::Relaxed);
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let read = self.traffic.read.load(Ordering::Relaxed);
        self.traffic.read_at_write.store(read, Ordering::Relaxed);
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let read = self.traffic.read.load(Ordering::Relaxed);
        self.traffic.read_at_write.store(read, Ordering::Relaxed);
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_back_off_doubles_from_10_ms_to_at_most_1_s_and_a_success_resets_it() {
        let mut backoff = Backoff::default();

        let waits: Vec<u128> = (0..9).map(|_| backoff.failed().as_millis()).collect();
        backoff.succeeded();

        assert_eq!(waits, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(backoff.failed(), Duration::from_millis(10));
    }
}
