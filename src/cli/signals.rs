//! The signals that end a command: Ctrl-C (SIGINT), and SIGTERM and SIGHUP, which CI cancellation,
//! `timeout`, `docker stop` and systemd send. Each is handled the same way: the command stops what
//! it started, removes its temporary files, then exits with the conventional `128 + signal number`.
//!
//! Listening starts when [`Shutdown::listen`] returns, before anything is started, so a signal that
//! arrives while processes are still starting is not lost (and does not kill the harness before it
//! has cleaned up: once listened for, a signal no longer terminates the process by itself).

use std::process::ExitCode;

use tokio::signal::unix::{Signal as Stream, SignalKind, signal};

/// A signal that asks the command to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

impl Signal {
    /// Its name, as `kill -l` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Interrupt => "SIGINT",
            Self::Terminate => "SIGTERM",
            Self::Hangup => "SIGHUP",
        }
    }

    /// `128 + signal number`: what a shell reports for a program the signal ended.
    pub fn exit_code(self) -> ExitCode {
        let number = match self {
            Self::Interrupt => libc::SIGINT,
            Self::Terminate => libc::SIGTERM,
            Self::Hangup => libc::SIGHUP,
        };
        ExitCode::from(u8::try_from(128 + number).unwrap_or(u8::MAX))
    }
}

/// The three signals, listened for.
#[derive(Debug)]
pub struct Shutdown {
    interrupt: Stream,
    terminate: Stream,
    hangup: Stream,
}

impl Shutdown {
    /// Start listening for SIGINT, SIGTERM and SIGHUP.
    pub fn listen() -> std::io::Result<Self> {
        Ok(Self {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The first of them to arrive.
    pub async fn received(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::Interrupt,
            _ = self.terminate.recv() => Signal::Terminate,
            _ = self.hangup.recv() => Signal::Hangup,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_exits_with_128_plus_its_number() {
        assert_eq!(Signal::Interrupt.exit_code(), ExitCode::from(130));
        assert_eq!(Signal::Terminate.exit_code(), ExitCode::from(143));
        assert_eq!(Signal::Hangup.exit_code(), ExitCode::from(129));
    }
}
