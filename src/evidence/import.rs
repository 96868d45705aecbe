//! From the user's `az` JSON to the harness's world: their app, identities, settings, role
//! assignments and pool, as Azure has them.
//!
//! A setting whose value is an endpoint the harness stands in for becomes its placeholder, so the
//! user's backend reaches the stand-ins under its own variable name; a secret reference stays a
//! reference (no secret value is ever read or written).

use std::path::Path;

use super::az::{self, AzError, AzFiles, ContainerApp, SessionPool, app, pool, roles};
use crate::world::{
    self, App, IdentityEndpoint, IdentityKind, ManagedIdentity, Piston, Pool, RoleAssignment,
    Scope, SettingValue, Settings, World,
};

/// The tenant written when the files do not say (only a system-assigned identity carries it): the
/// stand-ins accept any id.
pub const UNKNOWN_TENANT: &str = "00000000-0000-0000-0000-000000000000";

/// A world read from `az` JSON, and what the reader should know about how it was read.
#[derive(Debug, Clone)]
pub struct Imported {
    pub world: World,
    /// One line each: what was kept, left out or assumed.
    pub notes: Vec<String>,
}

/// The app and its role assignments, with the pool when one was given (for `explain`).
#[derive(Debug, Clone)]
pub struct Parts {
    pub tenant_id: Option<String>,
    pub app: App,
    pub role_assignments: Vec<RoleAssignment>,
    /// Custom role definitions given with `--role-definitions`.
    pub role_definitions: Vec<world::RoleDefinition>,
    /// The groups that hold kept assignments, with their members when given.
    pub groups: Vec<world::Group>,
    pub pool: Option<Pool>,
    /// Whether a role assignment list was given (without one, who holds the role is unknown).
    pub roles_given: bool,
    pub notes: Vec<String>,
}

impl Parts {
    /// The RBAC evaluator over what the files hold.
    pub fn rbac(&self) -> world::Rbac<'_> {
        world::Rbac {
            assignments: &self.role_assignments,
            custom: &self.role_definitions,
            groups: &self.groups,
        }
    }
}

/// Build the whole world; the pool file is required.
pub fn import(files: &AzFiles) -> Result<Imported, AzError> {
    let parts = parts(files)?;
    let Some(pool) = parts.pool else {
        return Err(AzError::Missing { what: "the pool file (--pool)", command: pool::COMMAND });
    };
    let mut notes = parts.notes;
    let tenant_id = parts.tenant_id.unwrap_or_else(|| {
        notes.push(format!("tenant: not in these files (only a system-assigned identity carries it); {UNKNOWN_TENANT} stands in"));
        UNKNOWN_TENANT.to_owned()
    });
    let piston = Piston {
        programs: vec![world::Program {
            code: "print(42)".into(),
            stdout: "42\n".into(),
            stderr: String::new(),
            exit_code: 0,
            times_out: false,
        }],
        ..Piston::default()
    };
    let world = World {
        tenant_id,
        app: parts.app,
        identity_endpoint: IdentityEndpoint::default(),
        role_assignments: parts.role_assignments,
        role_definitions: parts.role_definitions,
        groups: parts.groups,
        pool,
        piston,
        applications: Vec::new(),
        faults: Vec::new(),
        developer_tools: None,
    };
    Ok(Imported { world, notes })
}

/// Read what the files hold, each part checked.
pub fn parts(files: &AzFiles) -> Result<Parts, AzError> {
    let mut notes = Vec::new();
    let pool = match (&files.pool, &files.pool_file) {
        (Some(p), Some(file)) => Some(pool_of(p, file)?),
        _ => None,
    };
    let assignments = match &files.roles_file {
        Some(file) => files.roles.assignments(file)?,
        None => Vec::new(),
    };
    let (app, tenant_id) =
        app_of(&files.app, &files.app_file, &assignments, pool.as_ref(), &mut notes)?;
    let file = files.roles_file.as_deref().unwrap_or(Path::new("roles"));
    let rbac = world::Rbac { assignments: &[], custom: &files.definitions, groups: &[] };
    let mut role_assignments = Vec::new();
    for a in &assignments {
        if !a.is_group && app.identity_with_principal(&a.principal_id).is_none() {
            continue;
        }
        let scope = Scope::parse(&a.scope).map_err(|m| {
            AzError::field(file, roles::COMMAND, &format!("{}.scope", a.json_path), m)
        })?;
        let grants = rbac.grants_execute(&a.role);
        let covers = pool.as_ref().is_none_or(|p| scope.contains(&p.resource_id));
        // Other roles elsewhere (AcrPull on a registry, …) say nothing about the pool.
        if grants != Some(true) && !covers {
            continue;
        }
        let role = match rbac.definition(&a.role) {
            Some(d) if d.id == crate::azure::SESSION_EXECUTOR_ROLE_ID => d.name,
            _ => a.role.clone(),
        };
        let mut kept = RoleAssignment::new(&a.principal_id, &role, scope);
        kept.is_group = a.is_group;
        kept.condition = a.condition.clone();
        kept.created_on =
            a.created_on.as_deref().map(world::rbac::parse_created_on).transpose().map_err(
                |m| AzError::field(file, roles::COMMAND, &format!("{}.createdOn", a.json_path), m),
            )?;
        role_assignments.push(kept);
    }
    if files.roles_file.is_some() {
        notes.push(format!(
            "role assignments: kept {} of {} (those of the app's identities and groups that grant execute, or apply to the pool; the others concern other principals or resources)",
            role_assignments.len(),
            assignments.len()
        ));
    }
    let groups = groups_of(&role_assignments, &files.group_members, &mut notes);
    Ok(Parts {
        tenant_id,
        app,
        role_assignments,
        role_definitions: files.definitions.clone(),
        groups,
        pool,
        roles_given: files.roles_file.is_some(),
        notes,
    })
}

/// The groups that hold assignments, each with the members a `--group-members` file gave: the one
/// naming it, or an unnamed one when only one group holds assignments.
fn groups_of(
    assignments: &[RoleAssignment],
    given: &[az::GroupMembers],
    notes: &mut Vec<String>,
) -> Vec<world::Group> {
    let mut ids: Vec<&str> = Vec::new();
    for a in assignments.iter().filter(|a| a.is_group) {
        if !ids.iter().any(|id| id.eq_ignore_ascii_case(&a.principal_id)) {
            ids.push(&a.principal_id);
        }
    }
    let unnamed = given.iter().find(|g| g.group.is_none()).filter(|_| ids.len() == 1);
    ids.into_iter()
        .map(|id| {
            let named = given.iter().find(|g| g.group.as_deref().is_some_and(|g| g.eq_ignore_ascii_case(id)));
            let members = named.or(unnamed).map(|g| g.members.clone());
            if members.is_none() {
                notes.push(format!("group {id}: its members are not known (pass `az ad group member list --group {id} -o json` as --group-members {id}=FILE)"));
            }
            world::Group { id: id.to_owned(), members }
        })
        .collect()
}

fn app_of(
    file: &ContainerApp,
    path: &Path,
    assignments: &[az::Assignment],
    pool: Option<&Pool>,
    notes: &mut Vec<String>,
) -> Result<(App, Option<String>), AzError> {
    let field =
        |json_path: &str, message: String| AzError::field(path, app::COMMAND, json_path, message);
    let resource_id = Scope::parse(&file.id).map_err(|m| field("$.id", m))?;
    let identity = file.identity.as_ref();
    let kind = identity.map(|i| i.kind);
    let system_assigned = match (
        kind.is_some_and(|k| k.system_assigned),
        identity.and_then(|i| i.principal_id.as_ref()),
    ) {
        (false, _) => None,
        (true, None) => {
            return Err(field(
                "$.identity.principalId",
                "identity.type includes SystemAssigned, but principalId is missing".into(),
            ));
        }
        (true, Some(principal)) => {
            // ARM does not show the system-assigned identity's client id; a CLI role list names it
            // as principalName (the service principal's appId).
            let named = assignments
                .iter()
                .find(|a| a.principal_id.eq_ignore_ascii_case(principal))
                .and_then(|a| a.principal_name.clone())
                .filter(|n| is_guid(n));
            if named.is_none() {
                notes.push("system-assigned identity: its client id is not in these files; its principal id stands in (tokens carry it as appid)".into());
            }
            Some(ManagedIdentity {
                kind: IdentityKind::SystemAssigned,
                name: crate::world::SYSTEM_ASSIGNED.into(),
                client_id: named.unwrap_or_else(|| principal.clone()),
                principal_id: principal.clone(),
                resource_id: resource_id.to_string(),
            })
        }
    };
    let listed = identity.and_then(|i| i.user_assigned.as_ref());
    if kind.is_some_and(|k| k.user_assigned) && listed.is_none_or(|l| l.is_empty()) {
        return Err(field(
            "$.identity.userAssignedIdentities",
            "identity.type includes UserAssigned, but no user-assigned identity is listed".into(),
        ));
    }
    let user_assigned = listed
        .into_iter()
        .flatten()
        .map(|(id, ids)| {
            let scope = Scope::parse(id)
                .map_err(|m| field(&format!("$.identity.userAssignedIdentities[\"{id}\"]"), m))?;
            Ok(ManagedIdentity {
                kind: IdentityKind::UserAssigned,
                name: scope.name().to_owned(),
                client_id: ids.client_id.clone(),
                principal_id: ids.principal_id.clone(),
                resource_id: id.clone(),
            })
        })
        .collect::<Result<Vec<_>, AzError>>()?;
    let containers = file.containers();
    if containers.len() > 1 {
        let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
        notes.push(format!(
            "settings: from the first container, {} (the app has {}: {})",
            names[0],
            names.len(),
            names.join(", ")
        ));
    }
    let env = containers.first().and_then(|c| c.env.as_deref()).unwrap_or_default();
    let settings =
        env.iter().map(|var| (var.name.clone(), setting_value(var, pool, notes))).collect();
    let app = App {
        name: file.name.clone(),
        resource_id,
        system_assigned,
        user_assigned,
        settings: Settings::new(settings),
        image: containers.first().and_then(|c| c.image.clone()),
        target_port: file
            .properties
            .configuration
            .as_ref()
            .and_then(|c| c.ingress.as_ref())
            .and_then(|i| i.target_port),
    };
    Ok((app, identity.and_then(|i| i.tenant_id.clone())))
}

/// A setting as the world holds it: a secret reference stays one; an endpoint the harness stands
/// in for becomes its placeholder.
fn setting_value(var: &app::EnvVar, pool: Option<&Pool>, notes: &mut Vec<String>) -> SettingValue {
    if let Some(secret) = &var.secret_ref {
        return SettingValue::SecretRef(secret.clone());
    }
    let value = var.value.clone().unwrap_or_default();
    match placeholder_for(&value, pool) {
        Some(placeholder) => {
            notes.push(format!(
                "setting {}: the endpoint it held is played by a stand-in: {placeholder}",
                var.name
            ));
            SettingValue::Plain(placeholder)
        }
        None => SettingValue::Plain(value),
    }
}

/// The placeholder for a value that is (or starts with) an endpoint the harness stands in for.
pub fn placeholder_for(value: &str, pool: Option<&Pool>) -> Option<String> {
    let trimmed = value.trim_end_matches('/');
    let lower = trimmed.to_ascii_lowercase();
    let prefixed = |base: &str, placeholder: &str| {
        let base = base.trim_end_matches('/').to_ascii_lowercase();
        (lower == base || lower.starts_with(&format!("{base}/")))
            .then(|| format!("{{{placeholder}}}{}", &trimmed[base.len()..]))
    };
    if let Some(pool) = pool {
        if let Some(found) =
            pool.management_endpoint.as_deref().and_then(|e| prefixed(e, "pool_endpoint"))
        {
            return Some(found);
        }
        if let Some(found) = regional_endpoint_prefix(&lower, pool)
            .and_then(|base| prefixed(&base, "regional_pool_endpoint"))
        {
            return Some(found);
        }
    }
    const AUTHORITIES: &[(&str, &str)] = &[
        ("https://login.microsoftonline.com", "entra_authority"),
        ("http://169.254.169.254", "imds_authority"),
        ("http://localhost:42356/msi/token", "identity_endpoint"),
    ];
    AUTHORITIES.iter().find_map(|(base, placeholder)| prefixed(base, placeholder))
}

/// `https://<region>.dynamicsessions.io/subscriptions/<sub>/resourceGroups/<rg>/sessionPools/<pool>`
/// of this pool, in whatever region `value` names (FIDELITY §5).
fn regional_endpoint_prefix(value: &str, pool: &Pool) -> Option<String> {
    let rest = value.strip_prefix("https://")?;
    let (host, _) = rest.split_once('/')?;
    let region = host.strip_suffix(".dynamicsessions.io")?;
    let (sub, rg) =
        (pool.resource_id.segment("subscriptions")?, pool.resource_id.segment("resourceGroups")?);
    Some(format!("https://{region}.dynamicsessions.io/subscriptions/{sub}/resourceGroups/{rg}/sessionPools/{}", pool.name).to_ascii_lowercase())
}

fn pool_of(file: &SessionPool, path: &Path) -> Result<Pool, AzError> {
    let resource_id =
        Scope::parse(&file.id).map_err(|m| AzError::field(path, pool::COMMAND, "$.id", m))?;
    let container_type = crate::scenario::validate::container_type(file.properties.container_type);
    let custom = container_type == world::ContainerType::CustomContainer;
    Ok(Pool {
        name: file.name.clone(),
        container_type,
        image: file.image().map(str::to_owned),
        template_env: file.template_env(),
        management_endpoint: file.properties.pool_management_endpoint.clone(),
        max_concurrent_sessions: file.max_concurrent_sessions(),
        cooldown: file.cooldown_secs().map(std::time::Duration::from_secs),
        ..Pool::new(resource_id, if custom { file.target_port() } else { None })
    })
}

fn is_guid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(case: &str) -> AzFiles {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/az").join(case);
        AzFiles::read(
            &dir.join("app.json"),
            Some(&dir.join("pool.json")),
            Some(&dir.join("roles.json")),
        )
        .unwrap()
    }

    #[test]
    fn both_identities_the_role_on_the_user_assigned_one_and_the_settings_are_imported() {
        let imported = import(&fixture("role-on-user-assigned")).unwrap();
        let world = &imported.world;

        assert_eq!(world.app.name, "coding-engine");
        assert_eq!(
            world.app.system_assigned.as_ref().map(|s| s.principal_id.as_str()),
            Some("d2789eb9-74d3-4569-a64b-d7eb79a11024")
        );
        assert_eq!(world.app.user_assigned[0].name, "coding-engine-id");
        assert_eq!(
            world.executor_identities().map(|i| i.client_id.as_str()).collect::<Vec<_>>(),
            ["3ceb0525-0db1-4486-8d8d-5fc0bb0d46db"]
        );
        assert_eq!(world.app.settings.plain("POOL_MANAGEMENT_ENDPOINT"), Some("{pool_endpoint}"));
        assert_eq!(
            world.app.settings.get("DB_PASSWORD"),
            Some(&SettingValue::SecretRef("db-password".into()))
        );
        assert_eq!(world.app.client_id_setting(), None);
        assert_eq!((world.pool.name.as_str(), world.pool.target_port), ("codingpool", Some(2000)));
    }

    #[test]
    fn the_raw_arm_role_list_and_a_pool_without_port_are_read() {
        let world = import(&fixture("user-assigned-only-no-port")).unwrap().world;

        assert!(world.app.system_assigned.is_none());
        assert_eq!(world.pool.target_port, None);
        assert_eq!(
            world.executor_identities().count(),
            1,
            "the resource-group assignment covers the pool"
        );
    }

    #[test]
    fn capitalised_keys_spaces_in_the_type_and_the_regional_endpoint_are_understood() {
        let world = import(&fixture("many-problems")).unwrap().world;

        assert_eq!(world.app.user_assigned.len(), 2);
        assert!(world.app.system_assigned.is_some());
        assert_eq!(world.app.settings.plain("AZURE_CLIENT_ID"), Some(""));
        assert_eq!(
            world.app.settings.plain("SESSION_POOL_ENDPOINT"),
            Some("{regional_pool_endpoint}")
        );
        assert_eq!(world.pool.image.as_deref(), Some("graderacr.azurecr.io/coding-adapter:V2"));
    }

    #[test]
    fn endpoints_become_placeholders_with_their_path_kept_and_other_urls_stay() {
        let mut pool = Pool::new(
            Scope::parse(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/sessionPools/p",
            )
            .unwrap(),
            Some(2000),
        );
        pool.management_endpoint = Some("https://p.env.westeurope.azurecontainerapps.io".into());
        let at = |v: &str| placeholder_for(v, Some(&pool));
        assert_eq!(
            at("https://P.env.westeurope.azurecontainerapps.io/").as_deref(),
            Some("{pool_endpoint}")
        );
        assert_eq!(
            at("https://p.env.westeurope.azurecontainerapps.io/python/execute").as_deref(),
            Some("{pool_endpoint}/python/execute")
        );
        assert_eq!(
            at(
                "https://eastus.dynamicsessions.io/subscriptions/s/resourceGroups/rg/sessionPools/p"
            )
            .as_deref(),
            Some("{regional_pool_endpoint}")
        );
        assert_eq!(at("https://login.microsoftonline.com/").as_deref(), Some("{entra_authority}"));
        assert_eq!(at("https://other.env.westeurope.azurecontainerapps.io"), None);
        assert_eq!(
            at(
                "https://eastus.dynamicsessions.io/subscriptions/s/resourceGroups/rg/sessionPools/other"
            ),
            None
        );
    }
}
