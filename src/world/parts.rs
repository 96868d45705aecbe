//! The rest of a world: Piston's script, app registrations, faults per hop, the programs the harness
//! starts, and the developer tools on the backend's machine.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::transcript::Hop;

/// What the Piston stand-in knows and answers.
#[derive(Debug, Clone)]
pub struct Piston {
    /// Serve on this fixed loopback port, for containers that hard-code where Piston lives.
    pub port: Option<u16>,
    pub runtimes: Vec<Runtime>,
    pub programs: Vec<Program>,
}

impl Default for Piston {
    /// Python 3.10.0 installed, nothing scripted.
    fn default() -> Self {
        Self {
            port: None,
            runtimes: vec![Runtime {
                language: "python".into(),
                version: "3.10.0".into(),
                aliases: vec!["py".into(), "py3".into(), "python3".into()],
            }],
            programs: Vec::new(),
        }
    }
}

/// A Piston runtime.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub language: String,
    pub version: String,
    pub aliases: Vec<String>,
}

/// A scripted program run: the program whose code matches gets this answer.
#[derive(Debug, Clone)]
pub struct Program {
    pub code: String,
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
    /// Killed at Piston's run_timeout: SIGKILL, status "TO", code null.
    pub times_out: bool,
}

/// An app registration (service principal) authenticating to Entra.
#[derive(Debug, Clone)]
pub struct Application {
    pub client_id: String,
    pub principal_id: String,
    pub client_secret: Option<String>,
    pub federated: Option<Federated>,
}

/// A federated identity credential: the assertion's `iss` and `sub` (DOC).
#[derive(Debug, Clone)]
pub struct Federated {
    pub issuer: String,
    pub subject: String,
}

/// A fault injected into one hop's answers; the actions combine.
#[derive(Debug, Clone)]
pub struct Fault {
    pub hop: Hop,
    /// Only requests whose path starts with this are counted and changed.
    pub path: Option<String>,
    /// Which matching calls (1-based) are changed; empty: every call.
    pub calls: Vec<u32>,
    pub status: Option<u16>,
    pub body: Option<String>,
    pub set_json: BTreeMap<String, serde_json::Value>,
    pub headers: BTreeMap<String, String>,
    pub delay: Option<Duration>,
    pub close: bool,
    /// Nothing listens: callers get a closed port.
    pub refuse: bool,
    pub malformed_json: bool,
    pub slow_body: Option<Duration>,
}

impl Fault {
    /// A fault on `hop` that changes nothing yet.
    pub fn on(hop: Hop) -> Self {
        Self {
            hop,
            path: None,
            calls: Vec::new(),
            status: None,
            body: None,
            set_json: BTreeMap::new(),
            headers: BTreeMap::new(),
            delay: None,
            close: false,
            refuse: false,
            malformed_json: false,
            slow_body: None,
        }
    }
}

/// A program the harness starts (a backend or a session container), with `{placeholders}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    pub command: Vec<String>,
    pub cwd: Option<String>,
    pub env: BTreeMap<String, String>,
    pub ready_path: Option<String>,
    pub ready_within: Option<Duration>,
}

/// A container image the harness runs with Docker or Podman (never pulled): the team's backend or
/// session container, as Container Apps runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The image reference.
    pub name: String,
    /// Where its program listens (the backend's ingress target port); `None` for a session
    /// container, which listens on the pool's target port.
    pub port: Option<u16>,
    /// Environment added to what the platform gives (placeholders filled).
    pub env: BTreeMap<String, String>,
    /// Replaces the image's CMD when not empty.
    pub args: Vec<String>,
    /// Replaces the image's ENTRYPOINT.
    pub entrypoint: Option<Vec<String>>,
    pub ready_path: Option<String>,
}

/// What plays the session container of a custom-container pool, when it is not the reference
/// adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionContainer {
    /// A program on this machine.
    Process(ProcessSpec),
    /// The team's image.
    Image(ImageSpec),
}

/// The developer machine's tools, for a backend using developer credentials.
#[derive(Debug, Clone)]
pub struct DeveloperTools {
    pub az: AzCli,
    /// The signed-in user's object id.
    pub principal_id: Option<String>,
}

/// The state of the (fake) Azure CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AzCli {
    Missing,
    NotLoggedIn,
    LoggedIn,
}
