//! The Azure world a scenario describes, validated: identities, RBAC, the pool, Piston's script.
//!
//! Stand-ins answer from this and diagnosis fills its fixes from it. RBAC follows the usual Azure
//! rule (FIDELITY §5, DOC for roles, inheritance not stated for sessions): an assignment at a scope
//! applies to every resource below it.

use crate::scenario::format::{ApplicationFile, ContainerType, DeveloperToolsFile, FaultFile, IdentityFile, PistonFile, PoolFile, RoleAssignmentFile, WorldFile};

pub use crate::scenario::format::IdentityKind;

/// The built-in role a caller needs to execute code in a session pool (FIDELITY §5, DOC).
pub const SESSION_EXECUTOR_ROLE: &str = "Azure ContainerApps Session Executor";
/// Its role definition id (DOC).
pub const SESSION_EXECUTOR_ROLE_ID: &str = "0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0";
/// The data action the role grants (DOC).
pub const SESSION_EXECUTE_ACTION: &str = "Microsoft.App/sessionPools/interpreters/execute/action";
/// The audience session pools accept (FIDELITY §5, DOC).
pub const DYNAMIC_SESSIONS_AUDIENCE: &str = "https://dynamicsessions.io";

/// The validated world. Load it from a scenario file, or build it in code:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use session_pool_harness::world::{IdentityKind, Pool, RoleAssignment, Scope, World, SESSION_EXECUTOR_ROLE};
/// use session_pool_harness::scenario::format::{IdentityFile, PistonFile};
/// use session_pool_harness::StandIns;
///
/// let pool_id = Scope::parse("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.App/sessionPools/p1")?;
/// let world = World {
///     tenant_id: "t1".into(),
///     identity: IdentityFile {
///         enabled: true,
///         kind: IdentityKind::SystemAssigned,
///         client_id: "c1".into(),
///         principal_id: "p1".into(),
///         resource_id: "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.App/containerApps/app".into(),
///         token_lifetime_secs: None,
///         protocol: Default::default(),
///     },
///     role_assignments: vec![RoleAssignment {
///         principal_id: "p1".into(),
///         role: SESSION_EXECUTOR_ROLE.into(),
///         scope: Scope::parse("/subscriptions/s1/resourceGroups/rg")?,
///         effective_after_calls: None,
///         effective_after_ms: None,
///     }],
///     pool: Pool::new("p1", pool_id, Some(2000)),
///     piston: PistonFile::default(),
///     applications: vec![],
///     faults: vec![],
///     developer_tools: None,
/// };
/// assert_eq!(world.executor_assignments_on_pool("p1").count(), 1, "inherited from the resource group");
/// let stand_ins = StandIns::start(&world).await?;
/// assert!(stand_ins.pool_endpoint().starts_with("http://127.0.0.1:"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct World {
    pub tenant_id: String,
    pub identity: IdentityFile,
    pub role_assignments: Vec<RoleAssignment>,
    pub pool: Pool,
    pub piston: PistonFile,
    pub applications: Vec<ApplicationFile>,
    pub faults: Vec<FaultFile>,
    pub developer_tools: Option<DeveloperToolsFile>,
}

/// A role assignment with its scope parsed.
#[derive(Debug, Clone)]
pub struct RoleAssignment {
    pub principal_id: String,
    pub role: String,
    pub scope: Scope,
    /// Propagation still under way: see [`crate::scenario::format::RoleAssignmentFile`].
    pub effective_after_calls: Option<u32>,
    pub effective_after_ms: Option<u64>,
}

impl RoleAssignment {
    /// Whether this is the Session Executor role (by name or definition id, case-insensitive).
    pub fn is_session_executor(&self) -> bool {
        self.role.eq_ignore_ascii_case(SESSION_EXECUTOR_ROLE) || self.role.eq_ignore_ascii_case(SESSION_EXECUTOR_ROLE_ID)
    }
}

/// The session pool.
#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    pub resource_id: Scope,
    pub container_type: ContainerType,
    pub target_port: Option<u16>,
    pub max_concurrent_sessions: Option<u32>,
    pub busy_sessions: u32,
    pub cooldown: Option<std::time::Duration>,
    pub busy_until_refusals: Option<u32>,
    /// The pool's (possibly skewed) clock.
    pub clock: crate::tokens::Clock,
    pub container_starts: bool,
    /// The session container's program, when it is not the reference adapter.
    pub container: Option<crate::scenario::format::ProcessFile>,
}

impl Pool {
    /// A pool with defaults for everything but its identity and target port.
    pub fn new(name: &str, resource_id: Scope, target_port: Option<u16>) -> Self {
        Self {
            name: name.to_owned(),
            resource_id,
            container_type: ContainerType::CustomContainer,
            target_port,
            max_concurrent_sessions: None,
            busy_sessions: 0,
            cooldown: None,
            busy_until_refusals: None,
            clock: crate::tokens::Clock::default(),
            container_starts: true,
            container: None,
        }
    }
}

/// An ARM scope: `/subscriptions/<id>[/resourceGroups/<rg>[/providers/...]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    /// Parse an ARM scope; the error says what shape is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let segments: Vec<&str> = text.trim_end_matches('/').split('/').collect();
        let well_formed = segments.len() >= 3
            && segments[0].is_empty()
            && segments[1].eq_ignore_ascii_case("subscriptions")
            && segments[1..].iter().all(|s| !s.is_empty());
        if well_formed {
            Ok(Self(text.trim_end_matches('/').to_owned()))
        } else {
            Err(format!("'{text}' is not an ARM scope: expected /subscriptions/<id>[/resourceGroups/<name>[/providers/<namespace>/<type>/<name>]]"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an assignment at `self` applies to `resource`: same path or an ancestor, compared
    /// segment by segment and case-insensitively as ARM does.
    pub fn contains(&self, resource: &Scope) -> bool {
        let outer: Vec<&str> = self.0.split('/').collect();
        let inner: Vec<&str> = resource.0.split('/').collect();
        outer.len() <= inner.len() && outer.iter().zip(&inner).all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// The value after `/<segment>/`, e.g. `subscriptions` or `resourceGroups`.
    pub fn segment(&self, name: &str) -> Option<&str> {
        let mut parts = self.0.split('/');
        while let Some(part) = parts.next() {
            if part.eq_ignore_ascii_case(name) {
                return parts.next();
            }
        }
        None
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A problem in a world, with the offending text so the loader can point at its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldProblem {
    pub offending: String,
    pub message: String,
}

impl World {
    /// Validate the world read from a file.
    pub fn from_file(file: WorldFile) -> Result<Self, WorldProblem> {
        let problem = |offending: &str, message: String| WorldProblem { offending: offending.to_owned(), message };
        let role_assignments = file
            .role_assignments
            .into_iter()
            .map(|a: RoleAssignmentFile| {
                let scope = Scope::parse(&a.scope).map_err(|m| problem(&a.scope, m))?;
                Ok(RoleAssignment { principal_id: a.principal_id, role: a.role, scope, effective_after_calls: a.effective_after_calls, effective_after_ms: a.effective_after_ms })
            })
            .collect::<Result<Vec<_>, WorldProblem>>()?;
        let pool = validate_pool(file.pool)?;
        if file.piston.runtimes.is_empty() {
            return Err(problem("runtimes", "piston.runtimes is empty: list at least one runtime, or omit the key for python 3.10.0".into()));
        }
        Ok(Self { tenant_id: file.tenant_id, identity: file.identity, role_assignments, pool, piston: file.piston, applications: file.applications, faults: file.faults, developer_tools: file.developer_tools })
    }

    /// The Session Executor assignments of `principal_id` that cover the pool.
    pub fn executor_assignments_on_pool(&self, principal_id: &str) -> impl Iterator<Item = &RoleAssignment> {
        self.role_assignments
            .iter()
            .filter(move |a| a.principal_id.eq_ignore_ascii_case(principal_id) && a.is_session_executor() && a.scope.contains(&self.pool.resource_id))
    }

    /// Session Executor assignments of `principal_id` that do NOT cover the pool (e.g. another pool).
    pub fn executor_assignments_elsewhere(&self, principal_id: &str) -> impl Iterator<Item = &RoleAssignment> {
        self.role_assignments
            .iter()
            .filter(move |a| a.principal_id.eq_ignore_ascii_case(principal_id) && a.is_session_executor() && !a.scope.contains(&self.pool.resource_id))
    }
}

fn validate_pool(file: PoolFile) -> Result<Pool, WorldProblem> {
    let resource_id = Scope::parse(&file.resource_id).map_err(|message| WorldProblem { offending: file.resource_id.clone(), message })?;
    let last = file.resource_id.rsplit('/').next().unwrap_or_default();
    let is_pool = file.resource_id.to_ascii_lowercase().contains("/providers/microsoft.app/sessionpools/");
    if !is_pool || !last.eq_ignore_ascii_case(&file.name) {
        return Err(WorldProblem {
            offending: file.resource_id.clone(),
            message: format!(
                "pool.resource_id must end in /providers/Microsoft.App/sessionPools/{} (the pool's name)",
                file.name
            ),
        });
    }
    if file.container_type != ContainerType::CustomContainer && file.target_port.is_some() {
        return Err(WorldProblem {
            offending: "target_port".into(),
            message: "target_port belongs to CustomContainer pools; a code-interpreter pool (PythonLTS, NodeLTS, Shell) runs the code itself".into(),
        });
    }
    Ok(Pool {
        container_type: file.container_type,
        max_concurrent_sessions: file.max_concurrent_sessions,
        busy_sessions: file.busy_sessions,
        cooldown: file.cooldown_ms.map(std::time::Duration::from_millis),
        busy_until_refusals: file.busy_until_refusals,
        clock: crate::tokens::Clock { offset_secs: file.clock_offset_secs },
        container_starts: file.container_starts,
        container: file.container,
        ..Pool::new(&file.name, resource_id, file.target_port)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    #[test]
    fn a_scope_contains_itself_and_its_descendants_only_on_segment_boundaries() {
        let pool = scope("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.App/sessionPools/p1");
        assert!(scope("/subscriptions/s1").contains(&pool));
        assert!(scope("/subscriptions/S1/resourcegroups/RG").contains(&pool));
        assert!(pool.contains(&pool));
        assert!(!scope("/subscriptions/s1/resourceGroups/r").contains(&pool), "rg 'r' is not a prefix of rg 'rg'");
        assert!(!scope("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.App/sessionPools/p2").contains(&pool));
    }

    #[test]
    fn malformed_scopes_say_what_shape_is_expected() {
        let err = Scope::parse("subscriptions/s1").unwrap_err();
        assert!(err.contains("expected /subscriptions/<id>"), "{err}");
        assert!(Scope::parse("/subscriptions//resourceGroups/rg").is_err());
    }

    #[test]
    fn scope_segments_are_found_case_insensitively() {
        let pool = scope("/subscriptions/s1/resourcegroups/rg/providers/Microsoft.App/sessionPools/p1");
        assert_eq!(pool.segment("resourceGroups"), Some("rg"));
        assert_eq!(pool.segment("subscriptions"), Some("s1"));
    }
}
