//! The reference system: the coding-engine backend and the session-container adapter.
//!
//! Both run as child processes of the harness (`session-pool-harness backend|adapter`), configured
//! only by environment variables, and announce readiness with one stdout line,
//! `listening on http://127.0.0.1:<port>` ([`announce`]), after their listener is bound.

pub mod adapter;
pub mod backend;

use std::io::Write as _;
use std::net::SocketAddr;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::net::TcpListener;

/// The line prefix a reference process prints once it accepts connections.
pub const READY_PREFIX: &str = "listening on ";

/// Errors that stop a reference process from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("environment variable {name} is required: {hint}")]
    MissingVar { name: &'static str, hint: &'static str },
    #[error("environment variable {name}={value:?} is invalid: {hint}")]
    InvalidVar { name: &'static str, value: String, hint: &'static str },
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("cannot create the managed identity credential: {0}")]
    Credential(String),
    #[error("server failed: {0}")]
    Serve(std::io::Error),
}

/// Bind `127.0.0.1:$PORT` (0 when unset): loopback only, so nothing is reachable from outside.
pub async fn bind_from_env() -> Result<TcpListener, StartError> {
    let port = match std::env::var("PORT") {
        Ok(value) => value.parse::<u16>().map_err(|_| StartError::InvalidVar {
            name: "PORT",
            value,
            hint: "a port number, or unset for any free port",
        })?,
        Err(_) => 0,
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpListener::bind(addr).await.map_err(|source| StartError::Bind { addr, source })
}

/// Print the readiness line (flushed: the harness waits for it).
pub fn announce(listener: &TcpListener) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{READY_PREFIX}http://{}", listener.local_addr()?)?;
    stdout.flush()
}

/// A Piston-style error: `{"message": …}` with `status`.
pub fn piston_error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "message": message.into() }))).into_response()
}

/// A required environment variable.
pub fn required_var(name: &'static str, hint: &'static str) -> Result<String, StartError> {
    std::env::var(name).map_err(|_| StartError::MissingVar { name, hint })
}

/// An optional millisecond setting.
pub fn millis_var(name: &'static str, default: u64) -> Result<std::time::Duration, StartError> {
    let ms = match std::env::var(name) {
        Ok(value) => value.parse::<u64>().map_err(|_| StartError::InvalidVar {
            name,
            value,
            hint: "a whole number of milliseconds",
        })?,
        Err(_) => default,
    };
    Ok(std::time::Duration::from_millis(ms))
}

/// An optional whole-number setting.
pub fn count_var(name: &'static str, default: u32) -> Result<u32, StartError> {
    match std::env::var(name) {
        Ok(value) => value.parse::<u32>().map_err(|_| StartError::InvalidVar {
            name,
            value,
            hint: "a whole number",
        }),
        Err(_) => Ok(default),
    }
}
