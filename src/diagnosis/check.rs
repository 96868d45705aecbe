//! `check`: every misconfiguration a world shows before anything runs, with the ids and fixes a
//! run would give.
//!
//! It reasons as the platform and the SDKs do (FIDELITY §5, §7): which identity a token request
//! gets from the app's `AZURE_CLIENT_ID`, whether that identity holds Session Executor on the pool,
//! whether the pool can forward at all, and whether the app's endpoint settings point at this pool.

use std::time::SystemTime;

use super::{Diagnosis, Finding, FixContext, fixes};
use crate::azure::AZURE_CLIENT_ID;
use crate::world::rbac::{self, EXECUTE_DATA_ACTION};
use crate::world::{Access, ManagedIdentity, Sdk, Selection, Selector, SettingValue, World};

/// Every finding about `world`; empty when nothing is wrong.
#[cfg(test)]
pub fn check(world: &World) -> Vec<Finding> {
    check_for(world, None, SystemTime::now())
}

/// The same for the backend's SDKs (`None`: any; then what differs between SDKs is a note, see
/// [`notes`]).
pub fn check_for(world: &World, sdks: Option<&[Sdk]>, now: SystemTime) -> Vec<Finding> {
    let ctx = FixContext::from_world(world);
    let mut findings = Vec::new();
    let mut add = |id: Diagnosis, explanation: String, ctx: &FixContext| {
        findings.push(Finding { id, hop: None, seq: None, explanation, fix: fixes::fix(id, ctx) })
    };
    if sdk_findings(world, sdks, &ctx, &mut add) {
        identity_findings(world, &ctx, now, &mut add);
    }
    pool_findings(world, &ctx, &mut add);
    findings
}

type Add<'a> = dyn FnMut(Diagnosis, String, &FixContext) + 'a;

/// Which identity the app's token requests get, and whether it may execute in the pool.
fn identity_findings(world: &World, ctx: &FixContext, now: SystemTime, add: &mut Add<'_>) {
    let app = &world.app;
    if !app.has_identity() {
        add(
            Diagnosis::IdentityNotEnabled,
            format!(
                "app {} has no managed identity: the platform sets no IDENTITY_ENDPOINT and no token can be had",
                app.name
            ),
            ctx,
        );
        return;
    }
    let setting = app.client_id_setting();
    let selector = match setting {
        Some(SettingValue::Plain(id)) if !id.is_empty() => Selector::ClientId(id),
        Some(SettingValue::Plain(_)) => {
            let consequence = if app.system_assigned.is_some() {
                "SDKs that ignore an empty value use the system-assigned identity"
            } else {
                "SDKs that ignore an empty value name no identity, and the app has no system-assigned one"
            };
            add(
                Diagnosis::EmptyClientId,
                format!(
                    "app {} sets AZURE_CLIENT_ID to an empty string: {consequence}; a client that sends client_id= gets 500 invalid_scope",
                    app.name
                ),
                ctx,
            );
            Selector::None
        }
        // A secret's value is never read: the identity it names is unknown.
        Some(SettingValue::SecretRef(_)) => return,
        None => Selector::None,
    };
    let used = match app.select(world.identity_endpoint.protocol, selector) {
        Selection::Identity(identity) => identity,
        Selection::NotFound => {
            let requested = selector.value().unwrap_or_default();
            let ctx = FixContext { requested_client_id: Some(requested.to_owned()), ..ctx.clone() };
            add(
                Diagnosis::IdentityNotFound,
                format!(
                    "AZURE_CLIENT_ID={requested} names no identity of app {}: the identity endpoint will answer 400 \"Unable to load the proper Managed Identity.\"",
                    app.name
                ),
                &ctx,
            );
            return missing_role_anywhere(world, &ctx, add);
        }
        Selection::NotSpecified | Selection::Ambiguous => {
            if setting.is_none() {
                let users: Vec<String> =
                    app.user_assigned.iter().map(ManagedIdentity::short_name).collect();
                add(
                    Diagnosis::IdentityNotSpecified,
                    format!(
                        "app {} has no system-assigned identity and sets no AZURE_CLIENT_ID: token requests name no identity, so the endpoint cannot choose among {}",
                        app.name,
                        users.join(", ")
                    ),
                    ctx,
                );
            }
            return missing_role_anywhere(world, ctx, add);
        }
        Selection::NoIdentity | Selection::EmptySelector => return,
    };
    let access = world.access(&used.principal_id);
    let ctx = FixContext {
        principal_id: Some(used.principal_id.clone()),
        used: Some(used.clone()),
        ..ctx.clone()
    };
    if access.allowed() {
        return propagation_finding(world, &access, used, now, &ctx, add);
    }
    if !access.lacking.is_empty() {
        return add(Diagnosis::RoleLacksDataAction, lacking_text(world, &access, used), &ctx);
    }
    let empty_setting = matches!(setting, Some(SettingValue::Plain(v)) if v.is_empty());
    match ctx.other_holder() {
        // The empty AZURE_CLIENT_ID finding already names the identity to set.
        Some(_) if empty_setting => {}
        Some(holder) => {
            let explanation = format!(
                "token requests get {}, which holds no role granting execute on pool {}; {} of the same app does",
                used.short_name(),
                world.pool.name,
                holder.short_name()
            );
            add(Diagnosis::RoleOnOtherIdentity, explanation, &ctx);
        }
        None => {
            let mut explanation = format!(
                "token requests get {} (principal {}), and no identity of app {} holds a role granting {EXECUTE_DATA_ACTION} on pool {} or an enclosing scope",
                used.short_name(),
                used.principal_id,
                world.app.name,
                world.pool.name
            );
            explanation.push_str(&undetermined_text(&access));
            add(Diagnosis::MissingRole, explanation, &ctx);
        }
    }
}

/// A granting assignment younger than the propagation window: not a fix, a wait (DOC).
fn propagation_finding(
    world: &World,
    access: &Access<'_>,
    used: &ManagedIdentity,
    now: SystemTime,
    ctx: &FixContext,
    add: &mut Add<'_>,
) {
    let Some(young) = access.propagating(now) else { return };
    let Some(created) = young.created_on else { return };
    let (ago, retry) = rbac::age_and_retry(created, now);
    add(
        Diagnosis::RolePropagationDelay,
        format!(
            "{} holds {} on {} for pool {}, assigned {ago}: Azure may take up to 10 minutes to apply it; retry after {retry}",
            used.short_name(),
            young.role,
            young.scope,
            world.pool.name
        ),
        ctx,
    );
}

/// Assignments that apply to the pool but whose roles grant no execute data action.
fn lacking_text(world: &World, access: &Access<'_>, used: &ManagedIdentity) -> String {
    let roles: Vec<String> = access
        .lacking
        .iter()
        .map(|v| {
            let through = v.group.map_or_else(String::new, |g| format!(" through group {g}"));
            format!("'{}' at {}{through}", v.assignment.role, v.assignment.scope)
        })
        .collect();
    format!(
        "{} holds {} on pool {}, but no such role grants the data action {EXECUTE_DATA_ACTION} (control-plane actions such as Owner's or Contributor's `*` grant no data action)",
        used.short_name(),
        roles.join(", "),
        world.pool.name
    )
}

/// What RBAC could not decide: custom roles without their definition, groups without members.
fn undetermined_text(access: &Access<'_>) -> String {
    let mut text = String::new();
    for via in &access.unknown_role {
        text.push_str(&format!(
            "; role '{}' at {} is not a built-in one and its definition was not given: pass `az role definition list --custom-role-only -o json` as --role-definitions",
            via.assignment.role, via.assignment.scope
        ));
    }
    for assignment in &access.group_unknown {
        text.push_str(&format!(
            "; group {} holds '{}' at {} and may include this identity: check with `az ad group member list --group {} -o json` and pass it as --group-members",
            assignment.principal_id, assignment.role, assignment.scope, assignment.principal_id
        ));
    }
    text
}

/// What the SDKs that ignore `AZURE_CLIENT_ID` get; `false` when none of `sdks` honours it (the
/// other identity findings concern those that do).
fn sdk_findings(world: &World, sdks: Option<&[Sdk]>, ctx: &FixContext, add: &mut Add<'_>) -> bool {
    let Some(sdks) = sdks else { return true };
    let app = &world.app;
    let ignoring: Vec<&str> =
        sdks.iter().filter(|s| !s.honours_azure_client_id()).map(|s| s.name()).collect();
    if let (false, Some(id)) = (ignoring.is_empty(), app.settings.plain(AZURE_CLIENT_ID))
        && !id.is_empty()
    {
        let gets = match app.select(world.identity_endpoint.protocol, Selector::None) {
            Selection::Identity(identity) => format!("{} instead", identity.short_name()),
            _ => "400 \"Unable to load the proper Managed Identity.\" (the app has no system-assigned identity)".to_owned(),
        };
        add(
            Diagnosis::SdkIgnoresClientId,
            format!(
                "affects {}: AZURE_CLIENT_ID={id} is set, but this SDK's DefaultAzureCredential ignores it and asks for no identity, which gets {gets}",
                ignoring.join(", ")
            ),
            ctx,
        );
    }
    sdks.iter().any(|s| s.honours_azure_client_id())
}

/// What `check` cannot decide and says beside its findings: conditions on the assignments that
/// let the identity in use execute (ABAC conditions are not evaluated).
pub fn notes(world: &World) -> Vec<String> {
    let mut notes = Vec::new();
    if world.app.settings.plain(AZURE_CLIENT_ID).is_some_and(|v| !v.is_empty()) {
        notes.push("C++ DefaultAzureCredential ignores AZURE_CLIENT_ID: if the backend is C++, run `check --sdk cpp`".to_owned());
    }
    let Some(used) = world.app.default_identity(world.identity_endpoint.protocol) else {
        return notes;
    };
    notes.extend(world
        .access(&used.principal_id)
        .conditions()
        .map(|a| {
            format!(
                "the assignment of '{}' to {} at {} has a condition, which is not evaluated here: if Azure finds it false, the pool answers 403",
                a.role,
                used.short_name(),
                a.scope
            )
        }));
    notes
}

/// When the identity in use is unknown: a missing role is still worth saying if no identity has it.
fn missing_role_anywhere(world: &World, ctx: &FixContext, add: &mut Add<'_>) {
    if ctx.holders.is_empty() {
        add(
            Diagnosis::MissingRole,
            format!(
                "no identity of app {} holds Session Executor on pool {} or an enclosing scope",
                world.app.name, world.pool.name
            ),
            ctx,
        );
    }
}

/// The pool's own configuration and the app's endpoint settings.
fn pool_findings(world: &World, ctx: &FixContext, add: &mut Add<'_>) {
    let pool = &world.pool;
    if pool.is_custom() && pool.target_port.is_none() {
        add(
            Diagnosis::NoTargetPort,
            format!(
                "custom-container pool {} has no ingress target port: every call will get 404 \"Not Found\"",
                pool.name
            ),
            ctx,
        );
    }
    if let Some(image) = &pool.image
        && image_tag(image).is_some_and(|tag| tag.chars().any(|c| c.is_ascii_uppercase()))
    {
        add(
            Diagnosis::ImageTagUppercase,
            format!(
                "pool {} runs image {image}, whose tag has uppercase letters: the resource provider lowercases image references, so the pool cannot pull it",
                pool.name
            ),
            ctx,
        );
    }
    for (name, value) in world.app.settings.iter() {
        let SettingValue::Plain(value) = value else { continue };
        if value.starts_with("{regional_pool_endpoint}") && pool.is_custom() {
            add(
                Diagnosis::WrongEndpointShape,
                format!(
                    "setting {name} holds the regional code-interpreter form of the endpoint, but pool {} is a custom-container pool: calls get 400 DynamicApisNotAllowed",
                    pool.name
                ),
                ctx,
            );
        } else if is_pool_endpoint_url(value) {
            let real = pool.management_endpoint.as_deref().unwrap_or("unknown");
            add(
                Diagnosis::EndpointMismatch,
                format!(
                    "setting {name} = {value} is a session-pool endpoint, but not pool {}'s poolManagementEndpoint ({real})",
                    pool.name
                ),
                ctx,
            );
        }
    }
}

/// The tag of an image reference (`registry/repo:tag`), ignoring a registry port and any digest.
fn image_tag(image: &str) -> Option<&str> {
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split_once(':').map(|(_, tag)| tag)
}

/// A URL of the session-pool service (either endpoint form) that is not a stand-in placeholder.
fn is_pool_endpoint_url(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("https://") else { return false };
    let host = rest.split('/').next().unwrap_or_default().to_ascii_lowercase();
    host.ends_with(".azurecontainerapps.io") || host.ends_with(".dynamicsessions.io")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{SYSTEM_ASSIGNED, USER_ASSIGNED, USER_CLIENT_ID, world};

    fn ids(world: &World) -> Vec<Diagnosis> {
        check(world).iter().map(|f| f.id).collect()
    }

    #[test]
    fn a_world_whose_identity_holds_the_role_on_a_pool_with_a_port_is_clean() {
        assert_eq!(ids(&world(|s| s)), []);
    }

    #[test]
    fn a_role_on_the_other_identity_is_found_and_setting_its_client_id_fixes_it() {
        let moved = |s: String| {
            s.replace(SYSTEM_ASSIGNED, &format!("{SYSTEM_ASSIGNED}\n{USER_ASSIGNED}")).replace(
                "principal_id = \"principal-0001\"\nrole",
                "principal_id = \"user-principal-0002\"\nrole",
            )
        };
        let without = world(moved);
        assert_eq!(ids(&without), [Diagnosis::RoleOnOtherIdentity]);
        assert!(check(&without)[0].fix.contains(&format!("AZURE_CLIENT_ID={USER_CLIENT_ID}")));

        let with = world(|s| {
            moved(s).replace("target_port = 2000", &format!("target_port = 2000\n[world.app.settings]\nAZURE_CLIENT_ID = \"{USER_CLIENT_ID}\""))
        });
        assert_eq!(ids(&with), []);
    }

    #[test]
    fn an_app_without_identity_and_a_pool_without_port_are_both_reported() {
        let world = world(|s| s.replace(SYSTEM_ASSIGNED, "").replace("target_port = 2000\n", ""));
        assert_eq!(ids(&world), [Diagnosis::IdentityNotEnabled, Diagnosis::NoTargetPort]);
    }

    #[test]
    fn image_tags_are_read_past_registry_ports_and_digests() {
        assert_eq!(image_tag("acr.azurecr.io/adapter:V2"), Some("V2"));
        assert_eq!(image_tag("localhost:5000/adapter"), None);
        assert_eq!(image_tag("localhost:5000/adapter:1.0@sha256:ab"), Some("1.0"));
    }
}
