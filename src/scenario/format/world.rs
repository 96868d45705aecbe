//! The world of a scenario file (`[world]`): the app and its identities, role assignments and
//! definitions, the pool, Piston, app registrations, exactly as written in TOML.

#[allow(unused_imports)]
use super::*;

/// The Azure world the stand-ins play.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorldFile {
    /// The Entra tenant (directory) id.
    pub tenant_id: String,
    /// The backend's container app: its identities and settings.
    pub app: AppFile,
    /// How the platform's managed-identity endpoint behaves (default: Container Apps protocol).
    #[serde(default, skip_serializing_if = "IdentityEndpointFile::is_default")]
    pub identity_endpoint: IdentityEndpointFile,
    /// Role assignments in the tenant (who holds which role at which scope).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role_assignments: Vec<RoleAssignmentFile>,
    /// Custom role definitions (`az role definition list --custom-role-only`); the built-in ones
    /// (Session Executor, Owner, Contributor, Reader) are always known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub role_definitions: Vec<RoleDefinitionFile>,
    /// Groups that hold role assignments, with their members (`az ad group member list`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupFile>,
    pub pool: PoolFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub piston: Option<PistonFile>,
    /// App registrations that authenticate to Entra with a client secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub applications: Vec<ApplicationFile>,
    /// Faults injected into the hops' answers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultFile>,
    /// The developer tools on the backend's machine (for `backend.credential = "developer-tools"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub developer_tools: Option<DeveloperToolsFile>,
}

/// The backend's container app (`az containerapp show`): identities and settings.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AppFile {
    /// The app's name (default: the last segment of `resource_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.App/containerApps/<name>`.
    pub resource_id: String,
    /// The system-assigned identity, when enabled (`identity.principalId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_assigned: Option<SystemAssignedFile>,
    /// User-assigned identities (`identity.userAssignedIdentities`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_assigned: Vec<UserAssignedFile>,
    /// The container's environment as the team set it: `NAME = "value"` or
    /// `NAME = { secret_ref = "<secret name>" }`. The platform adds only the identity variables;
    /// `AZURE_CLIENT_ID` is here when the team set it (empty string included), nowhere else.
    /// Values may hold the placeholders of `[backend.process]` (e.g. `{pool_endpoint}`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub settings: std::collections::BTreeMap<String, SettingFile>,
    /// `properties.template.containers[0].image`: what the app runs in Azure (recorded by `import`).
    /// While the backend is the reference one, every report says it stands in for this image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `properties.configuration.ingress.targetPort`: where the app's image listens.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::port::opt"
    )]
    #[schemars(range(min = bounds::port::MIN, max = bounds::port::MAX))]
    pub target_port: Option<u16>,
}

/// The app's system-assigned identity.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemAssignedFile {
    /// Application (client) id: `appid` in its tokens (ARM does not show it; any GUID will do).
    pub client_id: String,
    /// Object (principal) id: `oid` in its tokens, the assignee of role assignments.
    pub principal_id: String,
}

/// A user-assigned identity assigned to the app.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserAssignedFile {
    /// Its name (default: the last segment of `resource_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub client_id: String,
    pub principal_id: String,
    /// `/subscriptions/…/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>`.
    pub resource_id: String,
}

/// An app setting: a plain value, or a reference to one of the app's secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum SettingFile {
    Value(String),
    SecretRef {
        /// The name of the app secret (`configuration.secrets[].name`); its value is never written.
        secret_ref: String,
    },
}

impl<'de> Deserialize<'de> for SettingFile {
    /// A string, or a table holding only `secret_ref`; anything else says which two forms exist.
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = SettingFile;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, or { secret_ref = \"<secret name>\" }")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SettingFile, E> {
                Ok(SettingFile::Value(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SettingFile, A::Error> {
                let mut secret_ref = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "secret_ref" {
                        return Err(serde::de::Error::unknown_field(&key, &["secret_ref"]));
                    }
                    secret_ref = Some(map.next_value::<String>()?);
                }
                secret_ref
                    .map(|secret_ref| SettingFile::SecretRef { secret_ref })
                    .ok_or_else(|| serde::de::Error::missing_field("secret_ref"))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// The platform's managed-identity endpoint (FIDELITY §1, §2, §7).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityEndpointFile {
    /// How the platform offers the identity (default container-apps: `IDENTITY_ENDPOINT`).
    #[serde(default)]
    pub protocol: IdentityProtocol,
    /// Lifetime of the tokens it issues (default 86400, as Azure's managed identity: FIDELITY §4).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::lifetime_secs::opt"
    )]
    #[schemars(range(min = bounds::lifetime_secs::MIN, max = bounds::lifetime_secs::MAX))]
    pub token_lifetime_secs: Option<u64>,
    /// The answer to a token request whose `client_id` is present but empty (default invalid-scope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_client_id: Option<EmptyClientIdChoice>,
    /// The platform's identity service has no outbound access: every token request gets 500 "An
    /// unexpected error occured while fetching the AAD Token" (REP).
    #[serde(default)]
    pub egress_blocked: bool,
}

impl IdentityEndpointFile {
    fn is_default(&self) -> bool {
        self == &Self::default()
    }
}

/// Reported answers to an empty `client_id` selector (FIDELITY §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EmptyClientIdChoice {
    /// 500 mentioning invalid_scope (REP; exact body assumed).
    InvalidScope,
    /// 400 "Unable to load the proper Managed Identity." (assumed).
    UnableToLoad,
}

/// An app registration (service principal): a client secret and/or a federated credential.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationFile {
    pub client_id: String,
    /// The service principal's object id: `oid` in its tokens.
    pub principal_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// A federated identity credential (workload identity): the assertion's `iss` and `sub`.
    #[serde(default)]
    pub federated: Option<FederatedFile>,
}

/// A federated identity credential on an app registration (DOC: issuer, subject, audience).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FederatedFile {
    pub issuer: String,
    pub subject: String,
}

/// The managed-identity protocol the platform offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityProtocol {
    /// Container Apps / App Service: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` (FIDELITY §1).
    #[default]
    ContainerApps,
    /// IMDS at 169.254.169.254 (VMs, AKS nodes): no identity variables (FIDELITY §2).
    Imds,
}

/// `az role assignment create --assignee <principal_id> --role <role> --scope <scope>`.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleAssignmentFile {
    pub principal_id: String,
    /// Role name or role definition id, e.g. "Azure ContainerApps Session Executor".
    pub role: String,
    /// `/subscriptions/<sub>`, `/subscriptions/<sub>/resourceGroups/<rg>` or a resource id.
    pub scope: String,
    /// Still propagating: the pool refuses this principal's first N calls (DOC/REP: 30-60 s in Azure).
    #[serde(default, deserialize_with = "bounds::count::opt")]
    #[schemars(range(min = bounds::count::MIN, max = bounds::count::MAX))]
    pub effective_after_calls: Option<u32>,
    /// Still propagating: the pool refuses this principal until this long after the pool started.
    #[serde(default, deserialize_with = "bounds::delay_ms::opt")]
    #[schemars(range(min = bounds::delay_ms::MIN, max = bounds::delay_ms::MAX))]
    pub effective_after_ms: Option<u64>,
    /// `principalType`: `Group` when `principal_id` is a group's object id (its members hold the role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal_type: Option<PrincipalType>,
    /// An ABAC condition, as `az` prints it: kept, never evaluated (reports say so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `createdOn` as `az` prints it (RFC 3339): `check` compares it with now (propagation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_on: Option<String>,
}

/// Who a role assignment's principal is (`principalType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum PrincipalType {
    ServicePrincipal,
    User,
    Group,
}

/// A custom role definition: what it permits (DOC: `*` wildcards, case-insensitive).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDefinitionFile {
    /// `roleName`, as role assignments name it.
    pub name: String,
    /// The definition's GUID (`name` in `az` output), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_actions: Vec<String>,
    /// E.g. `["Microsoft.App/sessionPools/*/action"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_actions: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_data_actions: Vec<String>,
}

/// A group that holds role assignments.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    /// The group's object id.
    pub id: String,
    /// Its members' object ids; absent when not known (then `check` says the group may hold the role).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
}

/// The session pool (`Microsoft.App/sessionPools`), in ARM's vocabulary.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PoolFile {
    /// The pool's name (default: the last segment of `resource_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.App/sessionPools/<name>`.
    pub resource_id: String,
    /// `properties.containerType`.
    pub container_type: ContainerType,
    /// `customContainerTemplate.ingress.targetPort`; absent means the pool was created without one.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::port::opt"
    )]
    #[schemars(range(min = bounds::port::MIN, max = bounds::port::MAX))]
    pub target_port: Option<u16>,
    /// `customContainerTemplate.containers[0].image` (checked: ARM lowercases image references).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `properties.poolManagementEndpoint` of the real pool (the stand-in plays it; `check` compares
    /// the app's endpoint settings with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub management_endpoint: Option<String>,
    /// `scaleConfiguration.maxConcurrentSessions` (default: no limit).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::count::opt"
    )]
    #[schemars(range(min = bounds::count::MIN, max = bounds::count::MAX))]
    pub max_concurrent_sessions: Option<u32>,
    /// Sessions other callers already hold when the scenario starts; they count against the maximum.
    #[serde(default, skip_serializing_if = "is_zero", deserialize_with = "bounds::count::one")]
    #[schemars(range(min = bounds::count::MIN, max = bounds::count::MAX))]
    pub busy_sessions: u32,
    /// `lifecycleConfiguration.cooldownPeriodInSeconds`, in milliseconds so scenarios stay fast: a
    /// session is freed this long after its last use (default: not within a scenario).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::delay_ms::opt"
    )]
    #[schemars(range(min = bounds::delay_ms::MIN, max = bounds::delay_ms::MAX))]
    pub cooldown_ms: Option<u64>,
    /// The other callers' sessions end after the pool has refused this many allocations (a
    /// cooldown counted in calls, so the transcript is the same on every machine).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::count::opt"
    )]
    #[schemars(range(min = bounds::count::MIN, max = bounds::count::MAX))]
    pub busy_until_refusals: Option<u32>,
    /// The pool's clock runs this many seconds ahead of real time (negative: behind).
    #[serde(
        default,
        skip_serializing_if = "is_zero",
        deserialize_with = "bounds::offset_secs::one"
    )]
    #[schemars(range(min = bounds::offset_secs::MIN, max = bounds::offset_secs::MAX))]
    pub clock_offset_secs: i64,
    /// How many seconds past a token's `exp` (and before its `nbf`) the pool still accepts it
    /// (default 300, assumed: the usual tolerance of Microsoft's token validation); 0 checks the
    /// lifetime exactly.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "bounds::skew_secs::opt"
    )]
    #[schemars(range(min = bounds::skew_secs::MIN, max = bounds::skew_secs::MAX))]
    pub token_clock_skew_secs: Option<u64>,
    /// Whether the session container starts at all (false: it never becomes ready).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub container_starts: bool,
    /// Run this program as the session container instead of the reference adapter (any language).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ProcessFile>,
    /// The tenant whose tokens the pool accepts (default: the world's). Another tenant than the
    /// app's makes every token the app gets foreign to the pool (a cross-tenant setup).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// The code-interpreter api-versions the pool's region offers (default: every one the stand-in
    /// knows). Leaving the newer one out reproduces a documented path refused before the region had it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_versions: Option<Vec<String>>,
}

/// A program the harness starts: a backend or a session container, in any language.
///
/// Strings may hold placeholders, replaced before start: `{port}` (the port the harness chose for
/// it), `{harness}` (this program), `{python}` (the fixtures' Python), `{scenario_dir}`,
/// `{identity_endpoint}`, `{identity_header}`, `{imds_authority}`, `{pool_endpoint}`,
/// `{regional_pool_endpoint}`, `{entra_authority}`, `{tenant_id}`, `{ca_file}`, `{piston_url}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProcessFile {
    /// Program and arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// `[world.pool.container]` only, instead of `command`: run this container image (never pulled)
    /// with Docker or Podman as the pool runs it, listening on the pool's `target_port`; `env` is the
    /// pool template's environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// With `image`: replaces the image's ENTRYPOINT (program and its arguments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// With `image`: replaces the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Working directory, relative to the scenario file's folder (default: that folder).
    #[serde(default)]
    pub cwd: Option<String>,
    /// Environment added to what the platform would set (the stand-ins' variables, `PORT`).
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
    /// Ready when `GET http://127.0.0.1:{port}<ready_path>` gets any answer (default `/`).
    #[serde(default)]
    pub ready_path: Option<String>,
    /// Bound on becoming ready (default 20000 ms).
    #[serde(default, deserialize_with = "bounds::wait_ms::opt")]
    #[schemars(range(min = bounds::wait_ms::MIN, max = bounds::wait_ms::MAX))]
    pub ready_within_ms: Option<u64>,
}

/// The backend as the team's own container image, run with Docker or Podman as Container Apps runs
/// it: its ENTRYPOINT, CMD, WORKDIR and ENV untouched, plus the platform's variables and the app's
/// settings, pointed at the stand-ins; host networking. The image is never pulled.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageFile {
    /// The image reference, e.g. `myregistry.azurecr.io/coding-engine:1.4`.
    pub name: String,
    /// The app's ingress target port: where the image's program listens (on 127.0.0.1, host
    /// networking; scenarios sharing a port are not run at once).
    #[serde(deserialize_with = "bounds::port::one")]
    #[schemars(range(min = bounds::port::MIN, max = bounds::port::MAX))]
    pub port: u16,
    /// Environment added to the platform's and the app's (placeholders as in `[backend.process]`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub env: std::collections::BTreeMap<String, String>,
    /// Replaces the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Replaces the image's ENTRYPOINT (program and its arguments).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// Ready when `GET http://127.0.0.1:<port><ready_path>` gets any answer (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_path: Option<String>,
}

/// `properties.containerType` of a session pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ContainerType {
    CustomContainer,
    #[serde(rename = "PythonLTS")]
    PythonLts,
    #[serde(rename = "NodeLTS")]
    NodeLts,
    Shell,
}

/// What the Piston stand-in knows and answers.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PistonFile {
    /// Serve on this fixed loopback port, for containers that hard-code where Piston lives.
    #[serde(default, deserialize_with = "bounds::port::opt")]
    #[schemars(range(min = bounds::port::MIN, max = bounds::port::MAX))]
    pub port: Option<u16>,
    /// Installed runtimes (default: python 3.10.0).
    #[serde(default = "default_runtimes", skip_serializing_if = "is_default_runtimes")]
    pub runtimes: Vec<RuntimeFile>,
    /// Scripted outputs: the program whose code matches exactly gets this answer.
    #[serde(default)]
    pub programs: Vec<ProgramFile>,
}

impl Default for PistonFile {
    fn default() -> Self {
        Self { port: None, runtimes: default_runtimes(), programs: Vec::new() }
    }
}

/// A Piston runtime.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuntimeFile {
    pub language: String,
    /// Exact version, e.g. "3.10.0".
    pub version: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A scripted program run.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramFile {
    /// The source code, matched exactly (after trimming trailing whitespace).
    pub code: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stdout: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stderr: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub exit_code: i32,
    /// The run exceeds Piston's run_timeout: killed with SIGKILL, status "TO", code null.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub times_out: bool,
}
