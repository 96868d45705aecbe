//! The scenario file format, exactly as written in TOML.
//!
//! Every struct denies unknown fields and every closed set is an enum, so a typo is an error with a
//! line number rather than a silently ignored key. `session-pool-harness schema` prints the JSON
//! Schema derived from these types; `docs/scenario.schema.json` is kept equal to it by a test.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::bounds;

pub use crate::transcript::Hop;

mod world;
pub use world::*;

/// One scenario: an Azure world, how the backend is configured, what to send, what to expect.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// A base scenario this one states the differences from (a path relative to this file): tables
    /// merge key by key, arrays and values are replaced whole. Resolved before anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Dotted key paths removed from the bases before this file is laid over them (TOML has no
    /// null), e.g. `["world.pool.target_port"]` for "the same pool, created without a port".
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset: Vec<String>,
    /// One or two sentences: what this scenario reproduces.
    pub description: String,
    /// The scenario's steps must finish within this many milliseconds of the backend and the session
    /// container being ready (default 10000); their start is bounded by `ready_within_ms`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::wait_ms::opt"
    )]
    #[schemars(range(min = bounds::wait_ms::MIN, max = bounds::wait_ms::MAX))]
    pub deadline_ms: Option<u64>,
    pub world: WorldFile,
    #[serde(default, skip_serializing_if = "BackendFile::is_default")]
    pub backend: BackendFile,
    /// Requests sent to the backend, in order.
    pub steps: Vec<StepFile>,
    /// What the run must show. Without it the run reports its diagnosis and passes if every step's
    /// own expectations held.
    #[serde(default, skip_serializing_if = "ScenarioExpect::is_empty")]
    pub expect: ScenarioExpect,
}

/// How the reference backend is configured (its own environment variables), or which program
/// replaces it. The app's settings (`[world.app.settings]`) reach either backend.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BackendFile {
    /// `SESSION_POOL_TOKEN_SCOPE` (default `https://dynamicsessions.io/.default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_scope: Option<String>,
    /// `SESSION_POOL_IDENTIFIER` (default "coding-engine").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identifier: Option<String>,
    /// `SESSION_POOL_TIMEOUT_MS`: per call to the pool (default 10000).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::wait_ms::opt"
    )]
    #[schemars(range(min = bounds::wait_ms::MIN, max = bounds::wait_ms::MAX))]
    pub pool_timeout_ms: Option<u64>,
    /// `TOKEN_TIMEOUT_MS`: bound on acquiring a token, SDK retries included (default 10000).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::wait_ms::opt"
    )]
    #[schemars(range(min = bounds::wait_ms::MIN, max = bounds::wait_ms::MAX))]
    pub token_timeout_ms: Option<u64>,
    /// `SESSION_POOL_MAX_RETRIES`: retries of a transient pool answer (default 2).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::retries::opt"
    )]
    #[schemars(range(min = bounds::retries::MIN, max = bounds::retries::MAX))]
    pub pool_max_retries: Option<u32>,
    /// `SESSION_POOL_RETRY_DELAY_MS`: first retry delay, doubling (default 200; scenarios use less).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::retry_delay_ms::opt"
    )]
    #[schemars(range(min = bounds::retry_delay_ms::MIN, max = bounds::retry_delay_ms::MAX))]
    pub pool_retry_delay_ms: Option<u64>,
    /// `IDENTITY_MAX_RETRIES`: the SDK's retries on the Container Apps identity endpoint
    /// (default: the SDK's own policy).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::retries::opt"
    )]
    #[schemars(range(min = bounds::retries::MIN, max = bounds::retries::MAX))]
    pub identity_max_retries: Option<u32>,
    /// `IDENTITY_RETRY_DELAY_MS`: the SDK's first retry delay (with `identity_max_retries`).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::retry_delay_ms::opt"
    )]
    #[schemars(range(min = bounds::retry_delay_ms::MIN, max = bounds::retry_delay_ms::MAX))]
    pub identity_retry_delay_ms: Option<u64>,
    /// `SESSION_POOL_AUTH=none` when false: the backend sends no Authorization header (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_token: Option<bool>,
    /// Which form of the pool endpoint the backend is given (default custom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_shape: Option<EndpointShape>,
    /// `SESSION_POOL_EXECUTE_PATH`: path template with `{language}` (default `{language}/execute`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execute_path: Option<String>,
    /// Give the backend this `IDENTITY_HEADER` instead of the platform's (e.g. a stale copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_header: Option<String>,
    /// `AZURE_TOKEN_CREDENTIALS`: which credential the backend uses (default managed-identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<CredentialChoice>,
    /// `AZURE_CLIENT_SECRET` for `credential = "client-secret"` (default: the application's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// For `credential = "workload-identity"`: the federated token in AZURE_FEDERATED_TOKEN_FILE has
    /// already expired (a pod whose projected token stopped refreshing).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub federated_token_expired: bool,
    /// For `credential = "workload-identity"`: the subject of the pod's federated token (default:
    /// the federated credential's own), e.g. another namespace or service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_token_subject: Option<String>,
    /// `AZURE_TENANT_ID` for a service principal (default: the world's tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Run this program as the backend instead of the reference backend (any language).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<ProcessFile>,
    /// Run this container image as the backend instead (the team's own image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ImageFile>,
    /// `SESSION_POOL_API`: which pool API the backend calls (default: custom for a CustomContainer
    /// pool, executions for a code-interpreter pool).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_api: Option<PoolApiChoice>,
}

impl BackendFile {
    fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// The session-pool API the reference backend calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PoolApiChoice {
    /// `POST {language}/execute` with `{"properties":{…}}` to a custom container.
    Custom,
    /// `POST code/execute?api-version=2024-02-02-preview` with `{"properties":{…}}`.
    CodeExecute,
    /// `POST executions?api-version=2024-10-02-preview` with a flat body.
    Executions,
    /// `executions` with the old `{"properties":{…}}` envelope: the API-version drift bug.
    ExecutionsWithProperties,
}

impl PoolApiChoice {
    /// The value of `SESSION_POOL_API`.
    pub fn env_value(self) -> &'static str {
        match self {
            Self::Custom => "custom",
            Self::CodeExecute => "code-execute",
            Self::Executions => "executions",
            Self::ExecutionsWithProperties => "executions-with-properties",
        }
    }
}

/// The form of the pool endpoint handed to the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EndpointShape {
    /// `properties.poolManagementEndpoint` of a custom-container pool (correct).
    Custom,
    /// `https://<region>.dynamicsessions.io/subscriptions/…/sessionPools/<pool>`: the code-interpreter form.
    Regional,
}

/// The credential the reference backend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialChoice {
    /// `ManagedIdentityCredential`: Container Apps variables, else IMDS.
    ManagedIdentity,
    /// `DeveloperToolsCredential`: the `az` CLI on `PATH` (see `world.developer_tools`).
    DeveloperTools,
    /// `ClientSecretCredential` against the Entra stand-in (https, per-run test CA).
    ClientSecret,
    /// `WorkloadIdentityCredential`: a federated token file exchanged at the Entra stand-in.
    WorkloadIdentity,
}

/// The developer machine's tools, for a backend using developer credentials.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeveloperToolsFile {
    /// What `az` on the backend's `PATH` is (a fake the harness writes).
    pub az: AzCli,
    /// The signed-in user's object id (default: the world identity's principal).
    #[serde(default)]
    pub principal_id: Option<String>,
}

/// The state of the (fake) Azure CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AzCli {
    /// Not on `PATH`.
    Missing,
    /// On `PATH`, but `az account get-access-token` fails with "Please run 'az login'".
    NotLoggedIn,
    /// On `PATH` and signed in: prints a token.
    LoggedIn,
}

/// One request to the backend and what its answer must look like.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepFile {
    /// A short label shown in output.
    pub name: String,
    pub request: RequestFile,
    /// Extra request headers (e.g. a caller's `authorization`, which the backend must not forward).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub headers: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "StepExpect::is_empty")]
    pub expect: StepExpect,
}

/// The request of a step.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum RequestFile {
    /// `POST /api/v2/execute` with a single file.
    Execute(ExecuteRequest),
    /// `GET /api/v2/runtimes`.
    Runtimes {},
}

/// A Piston execute request with one source file.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    pub language: String,
    #[serde(default = "any_version")]
    pub version: String,
    pub code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<String>,
}

fn any_version() -> String {
    "*".into()
}

/// Expectations on the backend's answer to a step. Absent fields are not checked.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepExpect {
    /// The backend's HTTP status.
    #[serde(default, deserialize_with = "bounds::status::opt")]
    #[schemars(range(min = bounds::status::MIN, max = bounds::status::MAX))]
    pub status: Option<u16>,
    /// Exact `run.stdout` of a Piston answer.
    pub stdout: Option<String>,
    /// Substrings the response body must contain.
    #[serde(default)]
    pub body_contains: Vec<String>,
}

impl StepExpect {
    fn is_empty(&self) -> bool {
        self.status.is_none() && self.stdout.is_none() && self.body_contains.is_empty()
    }
}

/// Expectations on the whole run.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioExpect {
    /// The diagnosis ids the run must produce, in any order (e.g. ["missing-role"]).
    #[serde(default)]
    pub diagnoses: Vec<String>,
    /// How many requests each hop must have received (e.g. `{ identity = 2 }`).
    #[serde(default)]
    pub calls: std::collections::BTreeMap<Hop, usize>,
}

impl ScenarioExpect {
    fn is_empty(&self) -> bool {
        self.diagnoses.is_empty() && self.calls.is_empty()
    }
}

/// A fault injected into one hop's answers. The actions combine (e.g. a delay and a status).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultFile {
    /// The stand-in hop whose answers are changed (identity, entra, pool, container, piston).
    pub hop: Hop,
    /// Only requests whose path starts with this are counted and changed.
    #[serde(default)]
    pub path: Option<String>,
    /// Which matching calls (1-based) are changed; empty means every call.
    #[serde(default, deserialize_with = "bounds::call::each")]
    #[schemars(inner(range(min = bounds::call::MIN, max = bounds::call::MAX)))]
    pub calls: Vec<u32>,
    /// Answer with this status instead.
    #[serde(default, deserialize_with = "bounds::status::opt")]
    #[schemars(range(min = bounds::status::MIN, max = bounds::status::MAX))]
    pub status: Option<u16>,
    /// Answer with this body instead (sent as it is; JSON text is fine).
    #[serde(default)]
    pub body: Option<String>,
    /// Set these top-level fields of the JSON answer (e.g. `expires_on = 1700000000`: a number).
    #[serde(default)]
    pub set_json: std::collections::BTreeMap<String, serde_json::Value>,
    /// Add or replace these answer headers.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    /// Wait this long before answering.
    #[serde(default, deserialize_with = "bounds::delay_ms::opt")]
    #[schemars(range(min = bounds::delay_ms::MIN, max = bounds::delay_ms::MAX))]
    pub delay_ms: Option<u64>,
    /// Close the connection without any answer.
    #[serde(default)]
    pub close: bool,
    /// Nothing listens: callers of this hop are given a closed port (connection refused).
    #[serde(default)]
    pub refuse: bool,
    /// Cut the JSON body in the middle.
    #[serde(default)]
    pub malformed_json: bool,
    /// Send the body in small chunks this many milliseconds apart.
    #[serde(default, deserialize_with = "bounds::delay_ms::opt")]
    #[schemars(range(min = bounds::delay_ms::MIN, max = bounds::delay_ms::MAX))]
    pub slow_body_ms: Option<u64>,
}

// Helpers of serde's `default` and `skip_serializing_if`, shared by both files of the format.

fn is_zero<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}
fn is_true(value: &bool) -> bool {
    *value
}
fn yes() -> bool {
    true
}
fn is_default_runtimes(runtimes: &Vec<RuntimeFile>) -> bool {
    *runtimes == default_runtimes()
}
fn default_runtimes() -> Vec<RuntimeFile> {
    vec![RuntimeFile {
        language: "python".into(),
        version: "3.10.0".into(),
        aliases: vec!["py".into(), "py3".into(), "python3".into()],
    }]
}
