//! From the file's types to the world's: every value checked, every default resolved.
//!
//! Problems carry the offending text so the loader can point at its line; warnings (a role
//! assignment for a principal nobody in the world is) do not stop the scenario.

use std::time::Duration;

use super::format::{
    self, AppFile, FaultFile, PistonFile, PoolFile, ProcessFile, SettingFile, WorldFile,
};
use crate::world::{
    self, App, IdentityEndpoint, IdentityKind, ManagedIdentity, Pool, RoleAssignment, Scope,
    SettingValue, Settings, World, WorldProblem,
};

/// The name the system-assigned identity goes by in fixes and explanations.
pub use crate::world::SYSTEM_ASSIGNED as SYSTEM_ASSIGNED_NAME;

fn problem(offending: &str, message: String) -> WorldProblem {
    WorldProblem { offending: offending.to_owned(), message }
}

/// Validate the world read from a file.
pub fn world(file: WorldFile) -> Result<World, WorldProblem> {
    let role_assignments = file
        .role_assignments
        .into_iter()
        .map(|a| {
            let scope = Scope::parse(&a.scope).map_err(|m| problem(&a.scope, m))?;
            let created_on = a
                .created_on
                .as_deref()
                .map(|t| world::rbac::parse_created_on(t).map_err(|m| problem(t, m)))
                .transpose()?;
            Ok(RoleAssignment {
                principal_id: a.principal_id,
                role: a.role,
                scope,
                effective_after_calls: a.effective_after_calls,
                effective_after_ms: a.effective_after_ms,
                is_group: a.principal_type == Some(format::PrincipalType::Group),
                condition: a.condition,
                created_on,
            })
        })
        .collect::<Result<Vec<_>, WorldProblem>>()?;
    let piston = piston(file.piston)?;
    Ok(World {
        tenant_id: file.tenant_id,
        app: app(file.app)?,
        identity_endpoint: identity_endpoint(&file.identity_endpoint),
        role_assignments,
        role_definitions: file.role_definitions.into_iter().map(role_definition).collect(),
        groups: file
            .groups
            .into_iter()
            .map(|g| world::Group { id: g.id, members: g.members })
            .collect(),
        pool: pool(file.pool)?,
        piston,
        applications: file.applications.into_iter().map(application).collect(),
        faults: file.faults.into_iter().map(fault).collect::<Result<_, _>>()?,
        developer_tools: file
            .developer_tools
            .map(|t| world::DeveloperTools { az: az(t.az), principal_id: t.principal_id }),
    })
}

/// Role assignments whose principal no identity, application or tool of the world is: they
/// concern nobody the harness plays, which usually means a copied id.
pub fn unknown_assignees(world: &World) -> Vec<&RoleAssignment> {
    let known: Vec<&str> = world.known_principals().collect();
    world
        .role_assignments
        .iter()
        .filter(|a| !known.iter().any(|k| k.eq_ignore_ascii_case(&a.principal_id)))
        .collect()
}

/// A custom definition; without a GUID it is known by its name only.
fn role_definition(file: format::RoleDefinitionFile) -> world::RoleDefinition {
    world::RoleDefinition {
        id: file.id.unwrap_or_default(),
        name: file.name,
        actions: file.actions,
        not_actions: file.not_actions,
        data_actions: file.data_actions,
        not_data_actions: file.not_data_actions,
    }
}

fn app(file: AppFile) -> Result<App, WorldProblem> {
    let resource_id = resource(
        &file.resource_id,
        "Microsoft.App/containerApps",
        "world.app.resource_id",
        file.name.as_deref(),
    )?;
    let system_assigned = file.system_assigned.map(|s| ManagedIdentity {
        kind: IdentityKind::SystemAssigned,
        name: SYSTEM_ASSIGNED_NAME.into(),
        client_id: s.client_id,
        principal_id: s.principal_id,
        // FIDELITY §4: xms_mirid of a system-assigned identity is the app's resource id.
        resource_id: resource_id.to_string(),
    });
    let user_assigned = file
        .user_assigned
        .into_iter()
        .map(|u| {
            let id = resource(
                &u.resource_id,
                "Microsoft.ManagedIdentity/userAssignedIdentities",
                "world.app.user_assigned.resource_id",
                u.name.as_deref(),
            )?;
            Ok(ManagedIdentity {
                kind: IdentityKind::UserAssigned,
                name: id.name().to_owned(),
                client_id: u.client_id,
                principal_id: u.principal_id,
                resource_id: id.to_string(),
            })
        })
        .collect::<Result<Vec<_>, WorldProblem>>()?;
    let settings = file
        .settings
        .into_iter()
        .map(|(name, value)| {
            let value = match value {
                SettingFile::Value(v) => SettingValue::Plain(v),
                SettingFile::SecretRef { secret_ref } => SettingValue::SecretRef(secret_ref),
            };
            (name, value)
        })
        .collect();
    Ok(App {
        name: resource_id.name().to_owned(),
        resource_id,
        system_assigned,
        user_assigned,
        settings: Settings::new(settings),
        image: file.image,
        target_port: file.target_port,
    })
}

/// A resource id of `provider_type` whose last segment is `name` when a name is given.
fn resource(
    text: &str,
    provider_type: &str,
    key: &str,
    name: Option<&str>,
) -> Result<Scope, WorldProblem> {
    let id = Scope::parse(text).map_err(|m| problem(text, m))?;
    let named_right = name.is_none_or(|n| id.name().eq_ignore_ascii_case(n));
    if !id.is_resource_of(provider_type) || !named_right {
        let name = name.unwrap_or("<name>");
        return Err(problem(text, format!("{key} must end in /providers/{provider_type}/{name}")));
    }
    Ok(id)
}

fn identity_endpoint(file: &format::IdentityEndpointFile) -> IdentityEndpoint {
    IdentityEndpoint {
        protocol: match file.protocol {
            format::IdentityProtocol::ContainerApps => world::IdentityProtocol::ContainerApps,
            format::IdentityProtocol::Imds => world::IdentityProtocol::Imds,
        },
        token_lifetime_secs: file.token_lifetime_secs,
        empty_client_id: match file.empty_client_id {
            None | Some(format::EmptyClientIdChoice::InvalidScope) => {
                world::EmptyClientIdAnswer::InvalidScope
            }
            Some(format::EmptyClientIdChoice::UnableToLoad) => {
                world::EmptyClientIdAnswer::UnableToLoad
            }
        },
        egress_blocked: file.egress_blocked,
    }
}

fn pool(file: PoolFile) -> Result<Pool, WorldProblem> {
    let resource_id = resource(
        &file.resource_id,
        "Microsoft.App/sessionPools",
        "world.pool.resource_id",
        file.name.as_deref(),
    )?;
    let container_type = container_type(file.container_type);
    if container_type != world::ContainerType::CustomContainer && file.target_port.is_some() {
        return Err(problem(
            "target_port",
            "target_port belongs to CustomContainer pools; a code-interpreter pool (PythonLTS, NodeLTS, Shell) runs the code itself".into(),
        ));
    }
    Ok(Pool {
        container_type,
        image: file.image,
        management_endpoint: file.management_endpoint,
        max_concurrent_sessions: file.max_concurrent_sessions,
        busy_sessions: file.busy_sessions,
        cooldown: file.cooldown_ms.map(Duration::from_millis),
        busy_until_refusals: file.busy_until_refusals,
        clock: crate::tokens::Clock { offset_secs: file.clock_offset_secs },
        token_clock_skew_secs: file.token_clock_skew_secs.unwrap_or(crate::azure::CLOCK_SKEW_SECS),
        container_starts: file.container_starts,
        container: file.container.map(session_container).transpose()?,
        tenant_id: file.tenant_id,
        api_versions: file.api_versions,
        ..Pool::new(resource_id, file.target_port)
    })
}

/// The pool's container type in the world's terms.
pub fn container_type(file: format::ContainerType) -> world::ContainerType {
    match file {
        format::ContainerType::CustomContainer => world::ContainerType::CustomContainer,
        format::ContainerType::PythonLts => world::ContainerType::PythonLts,
        format::ContainerType::NodeLts => world::ContainerType::NodeLts,
        format::ContainerType::Shell => world::ContainerType::Shell,
    }
}

fn piston(file: Option<PistonFile>) -> Result<world::Piston, WorldProblem> {
    let Some(file) = file else { return Ok(world::Piston::default()) };
    if file.runtimes.is_empty() {
        return Err(problem("runtimes", "piston.runtimes is empty: list at least one runtime, or omit the key for python 3.10.0".into()));
    }
    Ok(world::Piston {
        port: file.port,
        runtimes: file
            .runtimes
            .into_iter()
            .map(|r| world::Runtime {
                language: r.language,
                version: r.version,
                aliases: r.aliases,
            })
            .collect(),
        programs: file
            .programs
            .into_iter()
            .map(|p| world::Program {
                code: p.code,
                stdout: p.stdout,
                stderr: p.stderr,
                exit_code: p.exit_code,
                times_out: p.times_out,
            })
            .collect(),
    })
}

fn application(file: format::ApplicationFile) -> world::Application {
    world::Application {
        client_id: file.client_id,
        principal_id: file.principal_id,
        client_secret: file.client_secret,
        federated: file
            .federated
            .map(|f| world::Federated { issuer: f.issuer, subject: f.subject }),
    }
}

fn fault(file: FaultFile) -> Result<world::Fault, WorldProblem> {
    use crate::transcript::Hop;
    if matches!(file.hop, Hop::Client | Hop::Backend) {
        return Err(problem(
            "hop = \"",
            format!(
                "faults go on a stand-in's answers: hop must be identity, entra, pool, container or piston, not {}",
                file.hop
            ),
        ));
    }
    Ok(world::Fault {
        path: file.path,
        calls: file.calls,
        status: file.status,
        body: file.body,
        set_json: file.set_json,
        headers: file.headers,
        delay: file.delay_ms.map(Duration::from_millis),
        close: file.close,
        refuse: file.refuse,
        malformed_json: file.malformed_json,
        slow_body: file.slow_body_ms.map(Duration::from_millis),
        ..world::Fault::on(file.hop)
    })
}

/// A program specification in the world's terms.
/// `[backend.process]`: a program; an image is `[backend.image]`.
pub fn backend_process(file: ProcessFile) -> Result<world::ProcessSpec, (String, String)> {
    if file.image.is_some() || file.entrypoint.is_some() || !file.args.is_empty() {
        return Err((
            "image".into(),
            "[backend.process] runs a program (`command`); the backend's image goes in [backend.image] (name, port)".into(),
        ));
    }
    if file.command.is_empty() {
        return Err((
            "[backend.process]".into(),
            "[backend.process] needs a `command`: the program and its arguments".into(),
        ));
    }
    Ok(process(file))
}

/// `[backend.image]`.
pub fn backend_image(file: format::ImageFile) -> world::ImageSpec {
    world::ImageSpec {
        name: file.name,
        port: Some(file.port),
        env: file.env,
        args: file.args,
        entrypoint: file.entrypoint,
        ready_path: file.ready_path,
    }
}

/// `[world.pool.container]`: a program (`command`) or the team's image (`image`), not both.
fn session_container(file: ProcessFile) -> Result<world::SessionContainer, WorldProblem> {
    match (&file.image, file.command.is_empty()) {
        (Some(_), false) => Err(problem(
            "image",
            "[world.pool.container] takes a `command` (a program) or an `image`, not both".into(),
        )),
        (Some(image), true) => Ok(world::SessionContainer::Image(world::ImageSpec {
            name: image.clone(),
            port: None,
            env: file.env,
            args: file.args,
            entrypoint: file.entrypoint,
            ready_path: file.ready_path,
        })),
        (None, true) => Err(problem(
            "[world.pool.container]",
            "[world.pool.container] needs a `command` (a program) or an `image`".into(),
        )),
        (None, false) if file.entrypoint.is_some() || !file.args.is_empty() => Err(problem(
            "entrypoint",
            "`entrypoint` and `args` go with `image`; a program's arguments are in `command`"
                .into(),
        )),
        (None, false) => Ok(world::SessionContainer::Process(process(file))),
    }
}

fn process(file: ProcessFile) -> world::ProcessSpec {
    world::ProcessSpec {
        command: file.command,
        cwd: file.cwd,
        env: file.env,
        ready_path: file.ready_path,
        ready_within: file.ready_within_ms.map(Duration::from_millis),
    }
}

fn az(file: format::AzCli) -> world::AzCli {
    match file {
        format::AzCli::Missing => world::AzCli::Missing,
        format::AzCli::NotLoggedIn => world::AzCli::NotLoggedIn,
        format::AzCli::LoggedIn => world::AzCli::LoggedIn,
    }
}
