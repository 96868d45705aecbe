//! Reproduce Azure Container Apps session-pool authentication and routing bugs locally, in
//! milliseconds, with no Azure account.
//!
//! # Layout
//! - [`scenario`]: scenario files (TOML) and their validation; [`world`]: the Azure world they describe.
//! - [`standins`]: one module per hop — [`standins::identity`] (Container Apps + IMDS),
//!   [`standins::entra`], [`standins::pool`], [`standins::piston`] — and [`StandIns`], which runs them.
//! - [`tokens`]: real RS256 JWTs with Azure's claims, signed by the test key in `fixtures/keys/`.
//! - [`reference`](mod@reference): the reference system: the coding-engine [`reference::backend`] (real
//!   `azure_identity`) and the in-container [`reference::adapter`].
//! - [`runner`]: drives a scenario end to end with real processes; [`transcript`] records every hop.
//! - [`contracts`]: the payload shape each hop relies on, checked on every exchange.
//! - [`diagnosis`]: the single list of failure ids, how each is recognised, and its fix;
//!   [`explain`] applies it to evidence a user captured from real Azure.
//! - [`bench`](mod@bench): scenario speed, harness overhead and the backend under load (`bench` command).
//! - [`normalize`] and [`report`]: stable snapshots, text and JSON reports; [`cli`]: the command line.
//!
//! # Example
//! Start a world's stand-ins and talk to them (a backend would get [`StandIns::backend_env`]):
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use session_pool_harness::{Scenario, StandIns};
//!
//! let scenario = Scenario::load("scenarios/happy-path.toml")?;
//! let stand_ins = StandIns::start(scenario.world()).await?;
//! let env = stand_ins.backend_env_for(&scenario);
//! assert!(env.iter().any(|(k, v)| k == "IDENTITY_ENDPOINT" && v.starts_with("http://127.0.0.1:")));
//!
//! // The identity endpoint answers the Container Apps protocol, as the Azure SDKs call it.
//! let token: serde_json::Value = reqwest::Client::new()
//!     .get(stand_ins.identity_endpoint())
//!     .query(&[("api-version", "2019-08-01"), ("resource", "https://dynamicsessions.io")])
//!     .header("x-identity-header", stand_ins.identity_header())
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! assert!(token["expires_on"].is_string(), "the Rust SDK needs a string");
//! # Ok(()) }
//! ```

pub mod azure;
pub(crate) mod bench;
pub(crate) mod cli;
pub(crate) mod contracts;
pub(crate) mod diagnosis;
pub(crate) mod evidence;
pub(crate) mod explain;
pub(crate) mod ids;
pub(crate) mod normalize;
pub(crate) mod piston_api;
pub(crate) mod reference;
pub(crate) mod report;
pub(crate) mod runner;
pub(crate) mod scenario;
pub(crate) mod standins;
pub(crate) mod suggest;
pub(crate) mod text;
pub mod tokens;
pub(crate) mod transcript;
pub mod world;

#[cfg(test)]
mod test_support;

pub use diagnosis::{Description, Diagnosis, Finding};
pub use normalize::Normalizer;
pub use runner::expect::Failure;
pub use runner::{LiveWorld, Outcome, RunError, Runner, StepOutcome};
pub use scenario::{LoadError, Scenario, ScenarioError};
pub use standins::{NotAStandIn, StandIns};
pub use transcript::{Exchange, Hop};
pub use world::World;

/// The command line (`main.rs` calls it): not part of the library's API.
#[doc(hidden)]
pub fn cli_main() -> std::process::ExitCode {
    cli::main()
}
