//! The Azure world a scenario describes, as domain types: the app and its identities, RBAC, the
//! pool, Piston's script, faults.
//!
//! Stand-ins answer from this and diagnosis fills its fixes from it. It knows nothing of the files
//! it was read from (the scenario module validates them into it; the evidence module builds it from
//! `az` JSON). RBAC follows the usual Azure rule (FIDELITY §5): an assignment at a scope applies to
//! every resource below it.

pub(crate) mod app;
mod builder;
pub(crate) mod credential;
pub(crate) mod parts;
mod players;
pub(crate) mod pool;
pub(crate) mod rbac;
pub(crate) mod scope;

pub(crate) use app::{
    App, IdentityKind, IdentityProtocol, ManagedIdentity, Selection, Selector, SettingValue,
    Settings,
};
pub use builder::{BuildError, RoleScope, SYSTEM_ASSIGNED, WorldBuilder};
pub(crate) use credential::Sdk;
pub(crate) use parts::{
    Application, AzCli, DeveloperTools, Fault, Federated, ImageSpec, Piston, ProcessSpec, Program,
    Runtime, SessionContainer,
};
pub(crate) use players::BackendPlayer;
pub use players::{Player, Role};
pub(crate) use pool::{ContainerType, Pool};
pub(crate) use rbac::{Access, Group, Rbac, RoleDefinition};
pub(crate) use scope::Scope;

/// An Azure world: the backend's container app with its identities and settings, role
/// assignments, the session pool, Piston's script and faults. Read it from a scenario file
/// ([`crate::Scenario::world`]) or build it in code with [`World::builder`]; give it to
/// [`crate::StandIns::start`] to serve it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use session_pool_harness::world::{RoleScope, SYSTEM_ASSIGNED};
/// use session_pool_harness::{StandIns, World};
///
/// let world = World::builder()
///     .system_assigned()
///     .session_executor(SYSTEM_ASSIGNED, RoleScope::ResourceGroup)
///     .without_target_port()
///     .build()?;
/// let stand_ins = StandIns::start(&world).await?;
/// assert!(stand_ins.pool_endpoint().starts_with("http://127.0.0.1:"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct World {
    pub(crate) tenant_id: String,
    /// The backend's container app, its identities and settings.
    pub(crate) app: App,
    /// How the platform's identity endpoint behaves.
    pub(crate) identity_endpoint: IdentityEndpoint,
    pub(crate) role_assignments: Vec<RoleAssignment>,
    /// Custom role definitions (the built-in ones are always known: [`rbac::built_in_definitions`]).
    pub(crate) role_definitions: Vec<RoleDefinition>,
    /// Groups that hold assignments, with their members when known.
    pub(crate) groups: Vec<Group>,
    pub(crate) pool: Pool,
    pub(crate) piston: Piston,
    /// App registrations that authenticate to Entra (client secret, workload identity).
    pub(crate) applications: Vec<Application>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) developer_tools: Option<DeveloperTools>,
}

/// The identity endpoint's protocol and its reported variants (FIDELITY §1, §2, §7).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IdentityEndpoint {
    pub protocol: IdentityProtocol,
    /// Lifetime of issued tokens (default 24 h, FIDELITY §4).
    pub token_lifetime_secs: Option<u64>,
    /// The answer to a request whose selector is present but empty (`client_id=`).
    pub empty_client_id: EmptyClientIdAnswer,
    /// The platform's identity service has no outbound access (REP): every token request gets 500.
    pub egress_blocked: bool,
}

/// Reported answers to an empty `client_id` selector (FIDELITY §7).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum EmptyClientIdAnswer {
    /// REP: 500 mentioning `invalid_scope` (exact body UNK, assumed).
    #[default]
    InvalidScope,
    /// assumed: the same 400 as for an identity not on the app.
    UnableToLoad,
}

/// A role assignment with its scope parsed.
#[derive(Debug, Clone)]
pub(crate) struct RoleAssignment {
    pub principal_id: String,
    /// Role name or role definition id.
    pub role: String,
    pub scope: Scope,
    /// Still propagating: the pool refuses this principal's first N calls (DOC/REP: 30-60 s in Azure).
    pub effective_after_calls: Option<u32>,
    /// Still propagating: the pool refuses this principal until this long after it started.
    pub effective_after_ms: Option<u64>,
    /// `principalType: Group`: the principal is a group, its members hold the role (DOC).
    pub is_group: bool,
    /// An ABAC condition on the assignment: recorded, never evaluated (said so where it matters).
    pub condition: Option<String>,
    /// `createdOn` as `az` prints it, when known: younger than the propagation window means the
    /// role may not be in effect yet (DOC).
    pub created_on: Option<std::time::SystemTime>,
}

impl RoleAssignment {
    /// An assignment in effect from the start.
    pub fn new(principal_id: &str, role: &str, scope: Scope) -> Self {
        Self {
            principal_id: principal_id.to_owned(),
            role: role.to_owned(),
            scope,
            effective_after_calls: None,
            effective_after_ms: None,
            is_group: false,
            condition: None,
            created_on: None,
        }
    }
}

/// A problem in a world, with the offending text so the loader can point at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WorldProblem {
    pub offending: String,
    pub message: String,
}

impl World {
    /// The RBAC evaluator over this world's assignments, definitions and groups.
    pub(crate) fn rbac(&self) -> Rbac<'_> {
        Rbac {
            assignments: &self.role_assignments,
            custom: &self.role_definitions,
            groups: &self.groups,
        }
    }

    /// What RBAC says about `principal_id` executing in the pool.
    pub(crate) fn access(&self, principal_id: &str) -> Access<'_> {
        self.rbac().access(principal_id, Some(&self.pool.resource_id))
    }

    /// The app's identities that hold Session Executor on the pool.
    pub(crate) fn executor_identities(&self) -> impl Iterator<Item = &ManagedIdentity> {
        executor_holders(&self.app, self.rbac(), Some(&self.pool.resource_id)).into_iter()
    }

    /// Principals the world defines: the app's identities, the app registrations, the signed-in
    /// developer. A role assignment for anyone else concerns no one the harness plays.
    pub(crate) fn known_principals(&self) -> impl Iterator<Item = &str> {
        let identities = self.app.identities().map(|i| i.principal_id.as_str());
        let applications = self.applications.iter().map(|a| a.principal_id.as_str());
        let developer = self.developer_tools.iter().filter_map(|t| t.principal_id.as_deref());
        identities.chain(applications).chain(developer)
    }

    /// The principal signed in to the developer tools: the one named, else the app's first identity.
    pub(crate) fn developer_principal(&self) -> Option<&str> {
        let named = self.developer_tools.as_ref().and_then(|t| t.principal_id.as_deref());
        named.or_else(|| self.app.identities().next().map(|i| i.principal_id.as_str()))
    }
}

/// The identities of `app` whose roles grant the execute data action on `pool` (or an enclosing
/// scope); anywhere when the pool is not known.
pub(crate) fn executor_holders<'a>(
    app: &'a App,
    rbac: Rbac<'_>,
    pool: Option<&Scope>,
) -> Vec<&'a ManagedIdentity> {
    app.identities().filter(|i| rbac.access(&i.principal_id, pool).allowed()).collect()
}
