//! [`World::builder`]: a world in a few lines of code, for tests that do not start from a scenario
//! file. Identities get fixed ids derived from their names, so a test (and its snapshots) sees the
//! same GUIDs on every run; [`World::client_id_of`] reads them back.

use super::{
    App, IdentityEndpoint, IdentityKind, IdentityProtocol, ManagedIdentity, Piston, Pool, Program,
    RoleAssignment, Scope, SettingValue, Settings, World,
};
use crate::azure::{AZURE_CLIENT_ID, SESSION_EXECUTOR_ROLE};

/// The name [`WorldBuilder::session_executor`] and [`World::client_id_of`] give the app's
/// system-assigned identity.
pub const SYSTEM_ASSIGNED: &str = "system-assigned";

/// Where a role assignment sits. An assignment applies to every resource below its scope
/// (FIDELITY §5, DOC).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleScope {
    /// The session pool itself.
    Pool,
    /// The resource group holding the app and the pool.
    ResourceGroup,
    /// The subscription.
    Subscription,
    /// Another session pool of that name in the same resource group: the role does not reach ours.
    OtherPool(String),
}

/// A world the builder cannot make.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A role names an identity the app does not have.
    #[error(
        "session_executor names '{0}', which is not an identity of the app: add it with user_assigned(\"{0}\") or system_assigned(), or name one the app has"
    )]
    UnknownIdentity(String),
    /// Two user-assigned identities share a name.
    #[error("the app has two user-assigned identities named '{0}': give each its own name")]
    DuplicateIdentity(String),
    /// A user-assigned identity named like the system-assigned one.
    #[error("'{0}' is reserved for the system-assigned identity: call system_assigned() instead")]
    ReservedName(String),
    /// A name that cannot be part of an ARM path or an environment variable.
    #[error("'{0}' is not a valid name for {1}: {2}")]
    InvalidName(String, &'static str, &'static str),
}

/// Builds a [`World`]: the coding-engine app in resource group `coding-rg`, a custom-container
/// session pool `code-pool` with target port 2000, and Piston scripted to print `42` for
/// `print(42)`. Add identities, settings and role assignments; take the target port away.
///
/// ```
/// use session_pool_harness::World;
/// use session_pool_harness::world::RoleScope;
///
/// // "The role assignment is confirmed and we still get 403": the role is on the user-assigned
/// // identity, and nothing tells the SDK to use it.
/// let world = World::builder()
///     .system_assigned()
///     .user_assigned("coding-engine-id")
///     .session_executor("coding-engine-id", RoleScope::Pool)
///     .build()?;
/// assert!(world.client_id_of("coding-engine-id").is_some());
/// # Ok::<(), session_pool_harness::world::BuildError>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct WorldBuilder {
    tenant_id: String,
    subscription_id: String,
    resource_group: String,
    app_name: String,
    pool_name: String,
    system_assigned: bool,
    user_assigned: Vec<String>,
    settings: Vec<(String, SettingChoice)>,
    roles: Vec<(String, RoleScope)>,
    target_port: Option<u16>,
    protocol: IdentityProtocol,
    programs: Vec<Program>,
}

#[derive(Debug, Clone)]
enum SettingChoice {
    Value(String),
    SecretRef(String),
    ClientIdOf(String),
}

impl Default for WorldBuilder {
    fn default() -> Self {
        Self {
            tenant_id: fixed_guid("tenant", "coding-engine"),
            subscription_id: fixed_guid("subscription", "coding-engine"),
            resource_group: "coding-rg".into(),
            app_name: "coding-engine".into(),
            pool_name: "code-pool".into(),
            system_assigned: false,
            user_assigned: Vec::new(),
            settings: Vec::new(),
            roles: Vec::new(),
            target_port: Some(2000),
            protocol: IdentityProtocol::ContainerApps,
            programs: vec![Program {
                code: "print(42)".into(),
                stdout: "42\n".into(),
                stderr: String::new(),
                exit_code: 0,
                times_out: false,
            }],
        }
    }
}

impl World {
    /// Start building a world; see [`WorldBuilder`].
    pub fn builder() -> WorldBuilder {
        WorldBuilder::default()
    }

    /// The client id of the app's identity called `name` ([`SYSTEM_ASSIGNED`] for the
    /// system-assigned one).
    ///
    /// ```
    /// use session_pool_harness::World;
    /// use session_pool_harness::world::SYSTEM_ASSIGNED;
    ///
    /// let world = World::builder().system_assigned().build()?;
    /// assert_eq!(world.client_id_of(SYSTEM_ASSIGNED).map(str::len), Some(36));
    /// assert_eq!(world.client_id_of("nobody"), None);
    /// # Ok::<(), session_pool_harness::world::BuildError>(())
    /// ```
    pub fn client_id_of(&self, name: &str) -> Option<&str> {
        self.app.identities().find(|i| i.name == name).map(|i| i.client_id.as_str())
    }

    /// The principal (object) id of the app's identity called `name`: the `oid` of its tokens and
    /// the assignee of its role assignments.
    pub fn principal_id_of(&self, name: &str) -> Option<&str> {
        self.app.identities().find(|i| i.name == name).map(|i| i.principal_id.as_str())
    }
}

impl WorldBuilder {
    /// The Entra tenant id (default: a fixed GUID).
    pub fn tenant(mut self, tenant_id: impl Into<String>) -> Self {
        self.tenant_id = tenant_id.into();
        self
    }

    /// Give the app its system-assigned identity.
    pub fn system_assigned(mut self) -> Self {
        self.system_assigned = true;
        self
    }

    /// Attach a user-assigned identity called `name` to the app.
    pub fn user_assigned(mut self, name: impl Into<String>) -> Self {
        self.user_assigned.push(name.into());
        self
    }

    /// An app setting (an environment variable of the container, as the team set it). The
    /// platform never sets `AZURE_CLIENT_ID`: set it here (even to `""`) to reproduce what a team
    /// wrote.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), SettingChoice::Value(value.into())));
        self
    }

    /// An app setting that references the app secret `secret` (`secretref:`): the backend gets a
    /// stand-in value, never a real one.
    pub fn secret_setting(mut self, name: impl Into<String>, secret: impl Into<String>) -> Self {
        self.settings.push((name.into(), SettingChoice::SecretRef(secret.into())));
        self
    }

    /// The `AZURE_CLIENT_ID` setting, set to the client id of the identity called `identity`.
    pub fn azure_client_id_of(mut self, identity: impl Into<String>) -> Self {
        self.settings.push((AZURE_CLIENT_ID.into(), SettingChoice::ClientIdOf(identity.into())));
        self
    }

    /// Grant *Azure ContainerApps Session Executor* to the identity called `identity`
    /// ([`SYSTEM_ASSIGNED`] or a user-assigned name) at `scope`.
    pub fn session_executor(mut self, identity: impl Into<String>, scope: RoleScope) -> Self {
        self.roles.push((identity.into(), scope));
        self
    }

    /// The pool's ingress target port (default 2000).
    pub fn target_port(mut self, port: u16) -> Self {
        self.target_port = Some(port);
        self
    }

    /// A pool created without a target port: every execution is a 404 (FIDELITY §8).
    pub fn without_target_port(mut self) -> Self {
        self.target_port = None;
        self
    }

    /// Serve the identity endpoint as IMDS instead of the Container Apps protocol.
    pub fn imds(mut self) -> Self {
        self.protocol = IdentityProtocol::Imds;
        self
    }

    /// Piston prints `stdout` for a program whose code is `code`.
    pub fn program(mut self, code: impl Into<String>, stdout: impl Into<String>) -> Self {
        self.programs.push(Program {
            code: code.into(),
            stdout: stdout.into(),
            stderr: String::new(),
            exit_code: 0,
            times_out: false,
        });
        self
    }

    /// The world, or what is wrong with the description.
    pub fn build(self) -> Result<World, BuildError> {
        let group = format!(
            "/subscriptions/{}/resourceGroups/{}",
            self.subscription_id, self.resource_group
        );
        let scope =
            |path: String| Scope::parse(&path).expect("the builder writes well-formed scopes");
        let app_id =
            scope(format!("{group}/providers/Microsoft.App/containerApps/{}", self.app_name));
        let pool_id =
            scope(format!("{group}/providers/Microsoft.App/sessionPools/{}", self.pool_name));

        let system_assigned = self.system_assigned.then(|| ManagedIdentity {
            kind: IdentityKind::SystemAssigned,
            name: SYSTEM_ASSIGNED.into(),
            client_id: fixed_guid("client", SYSTEM_ASSIGNED),
            principal_id: fixed_guid("principal", SYSTEM_ASSIGNED),
            resource_id: app_id.to_string(),
        });
        let mut user_assigned: Vec<ManagedIdentity> = Vec::new();
        for name in &self.user_assigned {
            check_name(name, "a user-assigned identity")?;
            if name == SYSTEM_ASSIGNED {
                return Err(BuildError::ReservedName(name.clone()));
            }
            if user_assigned.iter().any(|i| &i.name == name) {
                return Err(BuildError::DuplicateIdentity(name.clone()));
            }
            user_assigned.push(ManagedIdentity {
                kind: IdentityKind::UserAssigned,
                name: name.clone(),
                client_id: fixed_guid("client", name),
                principal_id: fixed_guid("principal", name),
                resource_id: format!(
                    "{group}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}"
                ),
            });
        }
        let identity = |name: &str| {
            system_assigned
                .iter()
                .chain(&user_assigned)
                .find(|i| i.name == name)
                .ok_or_else(|| BuildError::UnknownIdentity(name.to_owned()))
        };

        let mut settings = Vec::new();
        for (name, choice) in &self.settings {
            check_name(name, "an app setting")?;
            let value = match choice {
                SettingChoice::Value(value) => SettingValue::Plain(value.clone()),
                SettingChoice::SecretRef(secret) => SettingValue::SecretRef(secret.clone()),
                SettingChoice::ClientIdOf(who) => {
                    SettingValue::Plain(identity(who)?.client_id.clone())
                }
            };
            settings.retain(|(n, _): &(String, SettingValue)| n != name);
            settings.push((name.clone(), value));
        }

        let mut role_assignments = Vec::new();
        for (who, at) in &self.roles {
            let at = match at {
                RoleScope::Pool => pool_id.clone(),
                RoleScope::ResourceGroup => scope(group.clone()),
                RoleScope::Subscription => {
                    scope(format!("/subscriptions/{}", self.subscription_id))
                }
                RoleScope::OtherPool(name) => {
                    check_name(name, "a session pool")?;
                    scope(format!("{group}/providers/Microsoft.App/sessionPools/{name}"))
                }
            };
            let principal = &identity(who)?.principal_id;
            role_assignments.push(RoleAssignment::new(principal, SESSION_EXECUTOR_ROLE, at));
        }

        Ok(World {
            tenant_id: self.tenant_id,
            app: App {
                name: self.app_name,
                resource_id: app_id,
                system_assigned,
                user_assigned,
                settings: Settings::new(settings),
                image: None,
                target_port: None,
            },
            identity_endpoint: IdentityEndpoint { protocol: self.protocol, ..Default::default() },
            role_assignments,
            role_definitions: Vec::new(),
            groups: Vec::new(),
            pool: Pool::new(pool_id, self.target_port),
            piston: Piston { programs: self.programs, ..Piston::default() },
            applications: Vec::new(),
            faults: Vec::new(),
            developer_tools: None,
        })
    }
}

/// Names end up in ARM paths and environment variable names: letters, digits, `-`, `_`, `.`.
fn check_name(name: &str, what: &'static str) -> Result<(), BuildError> {
    let fine = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    match fine {
        true => Ok(()),
        false => Err(BuildError::InvalidName(
            name.to_owned(),
            what,
            "use letters, digits, '-', '_' or '.'",
        )),
    }
}

/// A GUID fixed by `(kind, name)` (FNV-1a): the same world gets the same ids on every run.
fn fixed_guid(kind: &str, name: &str) -> String {
    let hash = |seed: u64| {
        let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
        for byte in kind.bytes().chain([0]).chain(name.bytes()) {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h
    };
    crate::ids::guid_from(hash(1), hash(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_description_gives_the_same_ids_and_different_names_different_ones() {
        let build = || World::builder().system_assigned().user_assigned("a").build().unwrap();
        assert_eq!(build().client_id_of("a"), build().client_id_of("a"));
        assert_ne!(build().client_id_of("a"), build().client_id_of(SYSTEM_ASSIGNED));
    }

    #[test]
    fn a_role_at_the_resource_group_covers_the_pool_and_one_on_another_pool_does_not() {
        let world = World::builder()
            .user_assigned("a")
            .user_assigned("b")
            .session_executor("a", RoleScope::ResourceGroup)
            .session_executor("b", RoleScope::OtherPool("old-pool".into()))
            .build()
            .unwrap();
        let names: Vec<&str> = world.executor_identities().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["a"]);
    }

    #[test]
    fn an_unknown_or_repeated_identity_is_an_error_naming_it() {
        let unknown = World::builder().session_executor("ghost", RoleScope::Pool).build();
        assert_eq!(unknown.unwrap_err(), BuildError::UnknownIdentity("ghost".into()));
        let twice = World::builder().user_assigned("a").user_assigned("a").build();
        assert_eq!(twice.unwrap_err(), BuildError::DuplicateIdentity("a".into()));
        let bad = World::builder().setting("A B", "x").build();
        assert!(matches!(bad, Err(BuildError::InvalidName(..))));
    }

    #[test]
    fn the_client_id_setting_is_the_named_identitys_and_only_set_when_asked() {
        let world = World::builder().user_assigned("a").azure_client_id_of("a").build().unwrap();
        assert_eq!(world.app.settings.plain(AZURE_CLIENT_ID), world.client_id_of("a"));
        let plain = World::builder().user_assigned("a").build().unwrap();
        assert_eq!(plain.app.settings.get(AZURE_CLIENT_ID), None);
    }
}
