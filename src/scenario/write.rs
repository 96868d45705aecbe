//! A world back into the scenario format: what `import` writes. The file holds only what the world
//! says (no secret values: a secret reference stays `{ secret_ref = "…" }`), one `print(42)` step
//! and no expectations, so `run` reports whatever diagnosis the world produces.

use std::collections::BTreeMap;

use super::format::{
    AppFile, ContainerType, ExecuteRequest, GroupFile, ImageFile, PistonFile, PoolFile,
    PrincipalType, ProcessFile, ProgramFile, RequestFile, RoleAssignmentFile, RoleDefinitionFile,
    ScenarioFile, SettingFile, StepFile, SystemAssignedFile, UserAssignedFile, WorldFile,
};
use crate::world::{self, SettingValue, World};

/// How `import` writes the team's images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Images {
    /// Recorded in `[world.app] image` and `[world.pool] image` only: the reference parts stand in
    /// for them, and every report says so.
    Recorded,
    /// Run as they are: `[backend.image]` and `[world.pool.container] image`.
    Run,
}

/// The scenario file of `world`, with `header` lines as a leading comment.
pub fn scenario_text(
    world: &World,
    description: &str,
    header: &[String],
    images: Images,
) -> String {
    let mut file = ScenarioFile {
        extends: None,
        unset: Vec::new(),
        description: description.to_owned(),
        deadline_ms: None,
        world: world_file(world),
        backend: Default::default(),
        steps: vec![StepFile {
            name: "print(42)".into(),
            request: RequestFile::Execute(ExecuteRequest {
                language: "python".into(),
                version: "3.10".into(),
                code: "print(42)".into(),
                stdin: None,
            }),
            headers: BTreeMap::new(),
            expect: Default::default(),
        }],
        expect: Default::default(),
    };
    if images == Images::Run {
        file.backend.image = world.app.image.as_ref().map(|name| ImageFile {
            name: name.clone(),
            port: world.app.target_port.unwrap_or(80),
            env: BTreeMap::new(),
            args: Vec::new(),
            entrypoint: None,
            ready_path: None,
        });
        if let (Some(image), true) = (&world.pool.image, world.pool.target_port.is_some()) {
            file.world.pool.container = Some(ProcessFile {
                command: Vec::new(),
                image: Some(image.clone()),
                entrypoint: None,
                args: Vec::new(),
                cwd: None,
                env: world.pool.template_env.clone(),
                ready_path: None,
                ready_within_ms: None,
            });
        }
    }
    let body = toml::to_string(&file).expect("a scenario file serialises to TOML");
    let comment: String = header.iter().map(|line| format!("# {line}\n")).collect();
    format!("{comment}{body}")
}

fn world_file(world: &World) -> WorldFile {
    WorldFile {
        tenant_id: world.tenant_id.clone(),
        app: app_file(&world.app),
        identity_endpoint: Default::default(),
        role_assignments: world
            .role_assignments
            .iter()
            .map(|a| RoleAssignmentFile {
                principal_id: a.principal_id.clone(),
                role: a.role.clone(),
                scope: a.scope.to_string(),
                effective_after_calls: None,
                effective_after_ms: None,
                principal_type: a.is_group.then_some(PrincipalType::Group),
                condition: a.condition.clone(),
                created_on: a.created_on.map(|t| {
                    time::OffsetDateTime::from(t)
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                }),
            })
            .collect(),
        role_definitions: world
            .role_definitions
            .iter()
            .map(|d| RoleDefinitionFile {
                name: d.name.clone(),
                id: (!d.id.is_empty()).then(|| d.id.clone()),
                actions: d.actions.clone(),
                not_actions: d.not_actions.clone(),
                data_actions: d.data_actions.clone(),
                not_data_actions: d.not_data_actions.clone(),
            })
            .collect(),
        groups: world
            .groups
            .iter()
            .map(|g| GroupFile { id: g.id.clone(), members: g.members.clone() })
            .collect(),
        pool: pool_file(&world.pool),
        piston: Some(PistonFile {
            programs: world
                .piston
                .programs
                .iter()
                .map(|p| ProgramFile {
                    code: p.code.clone(),
                    stdout: p.stdout.clone(),
                    stderr: p.stderr.clone(),
                    exit_code: p.exit_code,
                    times_out: p.times_out,
                })
                .collect(),
            ..PistonFile::default()
        }),
        applications: Vec::new(),
        faults: Vec::new(),
        developer_tools: None,
    }
}

fn app_file(app: &world::App) -> AppFile {
    AppFile {
        image: app.image.clone(),
        target_port: app.target_port,
        name: None,
        resource_id: app.resource_id.to_string(),
        system_assigned: app.system_assigned.as_ref().map(|s| SystemAssignedFile {
            client_id: s.client_id.clone(),
            principal_id: s.principal_id.clone(),
        }),
        user_assigned: app
            .user_assigned
            .iter()
            .map(|u| UserAssignedFile {
                name: None,
                client_id: u.client_id.clone(),
                principal_id: u.principal_id.clone(),
                resource_id: u.resource_id.clone(),
            })
            .collect(),
        settings: app
            .settings
            .iter()
            .map(|(name, value)| {
                let value = match value {
                    SettingValue::Plain(v) => SettingFile::Value(v.clone()),
                    SettingValue::SecretRef(secret) => {
                        SettingFile::SecretRef { secret_ref: secret.clone() }
                    }
                };
                (name.to_owned(), value)
            })
            .collect(),
    }
}

fn pool_file(pool: &world::Pool) -> PoolFile {
    PoolFile {
        name: None,
        resource_id: pool.resource_id.to_string(),
        container_type: match pool.container_type {
            world::ContainerType::CustomContainer => ContainerType::CustomContainer,
            world::ContainerType::PythonLts => ContainerType::PythonLts,
            world::ContainerType::NodeLts => ContainerType::NodeLts,
            world::ContainerType::Shell => ContainerType::Shell,
        },
        target_port: pool.target_port,
        image: pool.image.clone(),
        management_endpoint: pool.management_endpoint.clone(),
        max_concurrent_sessions: pool.max_concurrent_sessions,
        busy_sessions: 0,
        cooldown_ms: pool.cooldown.map(|d| d.as_millis() as u64),
        busy_until_refusals: None,
        clock_offset_secs: 0,
        token_clock_skew_secs: None,
        container_starts: true,
        container: None,
        tenant_id: pool.tenant_id.clone(),
        api_versions: pool.api_versions.clone(),
    }
}
