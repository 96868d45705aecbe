//! Reproduce Azure Container Apps session-pool authentication and routing bugs locally, in
//! milliseconds, with no Azure account.
//!
//! The API, in the manner of wiremock-rs:
//! - [`World`] (from [`World::builder`] or a [`Scenario`] file): the app, its identities and
//!   settings, role assignments, the session pool, Piston's script.
//! - [`StandIns`]: the identity endpoint, Entra, the pool and Piston serving a world on loopback;
//!   [`StandIns::backend_env`] for a backend, [`StandIns::expect`] verified on drop,
//!   [`StandIns::front`] for wiremock mocks in front of a hop.
//! - [`Runner`]: runs scenarios end to end with real processes ([`Outcome`], typed [`Failure`]s),
//!   or starts the reference backend on your stand-ins ([`Runner::start_on`], [`LiveWorld`]).
//! - [`Diagnosis`] and [`Finding`]: the cause named from what the stand-ins saw, with its fix.
//! - [`azure`]: Azure's constants; [`tokens`]: real RS256 JWTs signed by the test key.
//!
//! # Example
//! A world in code, its stand-ins, and the diagnosis of what they saw:
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use session_pool_harness::world::{RoleScope, SYSTEM_ASSIGNED};
//! use session_pool_harness::{Diagnosis, StandIns, World};
//!
//! // The role sits on the user-assigned identity; nothing sets AZURE_CLIENT_ID.
//! let world = World::builder()
//!     .system_assigned()
//!     .user_assigned("coding-engine-id")
//!     .session_executor("coding-engine-id", RoleScope::Pool)
//!     .build()?;
//! let stand_ins = StandIns::start(&world).await?;
//! let env = stand_ins.backend_env();
//! assert!(env.iter().any(|(k, v)| k == "IDENTITY_ENDPOINT" && v.starts_with("http://127.0.0.1:")));
//! assert!(!env.iter().any(|(k, _)| k == "AZURE_CLIENT_ID"), "Azure never sets it");
//!
//! // A backend asks for a token as the Azure SDKs do, with no client id: it gets the
//! // system-assigned identity's, and the pool refuses it.
//! let client = reqwest::Client::new();
//! let token: serde_json::Value = client
//!     .get(stand_ins.identity_endpoint())
//!     .query(&[("api-version", "2019-08-01"), ("resource", "https://dynamicsessions.io")])
//!     .header("x-identity-header", stand_ins.identity_header())
//!     .send()
//!     .await?
//!     .json()
//!     .await?;
//! let answer = client
//!     .post(format!("{}/python/execute?identifier=demo", stand_ins.pool_endpoint()))
//!     .bearer_auth(token["access_token"].as_str().unwrap_or_default())
//!     .json(&serde_json::json!({"properties": {"codeInputType": "inline", "executionType": "synchronous", "code": "print(42)"}}))
//!     .send()
//!     .await?;
//! assert_eq!(answer.status(), 403);
//! let ids: Vec<Diagnosis> = stand_ins.diagnose().iter().map(|f| f.id).collect();
//! assert_eq!(ids, [Diagnosis::RoleOnOtherIdentity]);
//! # Ok(()) }
//! ```
//!
//! The crate's layout and its module graph are in docs/architecture.md (a test keeps them equal to the code).

#![warn(unnameable_types, missing_docs)]

pub mod azure;
pub(crate) mod bench;
pub(crate) mod catalogue;
pub(crate) mod cli;
pub(crate) mod contracts;
pub(crate) mod diagnosis;
pub(crate) mod evidence;
pub(crate) mod explain;
pub(crate) mod files;
pub(crate) mod ids;
pub(crate) mod normalize;
pub(crate) mod piston_api;
pub(crate) mod ports;
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
