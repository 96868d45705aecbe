//! Explanations and fixes filled with real ids: from the scenario's world when the harness ran it,
//! from the evidence alone when `explain` reads what a user pasted from production.

use serde_json::Value;

use super::Diagnosis;
use crate::azure::{DYNAMIC_SESSIONS_AUDIENCE, SESSION_EXECUTOR_ROLE};
use crate::transcript::{Exchange, Hop};
use crate::world::{
    App, IdentityKind, IdentityProtocol, ManagedIdentity, Pool, Rbac, RoleAssignment, World,
};

/// The ids a fix needs; `None` renders as a `<placeholder>`.
#[derive(Debug, Clone, Default)]
pub struct FixContext {
    /// The principal whose token was sent (or, before any token, the one the app would use).
    pub principal_id: Option<String>,
    /// The app's identity that principal is.
    pub used: Option<ManagedIdentity>,
    /// The app's identities that hold Session Executor on the pool.
    pub holders: Vec<ManagedIdentity>,
    /// The app's user-assigned identities.
    pub user_assigned: Vec<ManagedIdentity>,
    /// `AZURE_CLIENT_ID` as the app sets it (plain values only).
    pub client_id_setting: Option<String>,
    pub pool_id: Option<String>,
    pub pool_name: Option<String>,
    pub pool_resource_group: Option<String>,
    /// The real pool's `poolManagementEndpoint`, when known.
    pub pool_endpoint: Option<String>,
    pub app_name: Option<String>,
    pub app_resource_group: Option<String>,
    pub identity_client_id: Option<String>,
    /// The `client_id` a token request asked for.
    pub requested_client_id: Option<String>,
    /// Whether the app has a system-assigned identity.
    pub has_system_assigned: bool,
    /// Whether the role assignments are known (an empty `holders` then means nobody holds the role).
    pub roles_known: bool,
    /// Whether the app's identities are known (from a world or the user's `az containerapp show`).
    pub app_known: bool,
    pub token_scope: Option<String>,
}

impl FixContext {
    /// Everything a world knows, before any token: the identity the app would use by default.
    pub fn from_world(world: &World) -> Self {
        Self::for_app_rbac(
            &world.app,
            world.rbac(),
            true,
            Some(&world.pool),
            world.identity_endpoint.protocol,
        )
    }

    /// What the user's app, its role assignments (`roles_known`: whether they were given at all) and
    /// (when known) its pool tell.
    pub fn for_app(
        app: &App,
        assignments: &[RoleAssignment],
        roles_known: bool,
        pool: Option<&Pool>,
        protocol: IdentityProtocol,
    ) -> Self {
        let rbac = Rbac { assignments, custom: &[], groups: &[] };
        Self::for_app_rbac(app, rbac, roles_known, pool, protocol)
    }

    /// The same, with the custom role definitions and groups RBAC needs.
    pub fn for_app_rbac(
        app: &App,
        rbac: Rbac<'_>,
        roles_known: bool,
        pool: Option<&Pool>,
        protocol: IdentityProtocol,
    ) -> Self {
        let used = app.default_identity(protocol).cloned();
        Self {
            principal_id: used.as_ref().map(|i| i.principal_id.clone()),
            identity_client_id: used.as_ref().map(|i| i.client_id.clone()),
            used,
            holders: crate::world::executor_holders(app, rbac, pool.map(|p| &p.resource_id))
                .into_iter()
                .cloned()
                .collect(),
            user_assigned: app.user_assigned.clone(),
            client_id_setting: app.settings.plain(crate::azure::AZURE_CLIENT_ID).map(str::to_owned),
            pool_id: pool.map(|p| p.resource_id.to_string()),
            pool_name: pool.map(|p| p.name.clone()),
            pool_resource_group: pool
                .and_then(|p| p.resource_id.segment("resourceGroups"))
                .map(str::to_owned),
            pool_endpoint: pool.and_then(|p| p.management_endpoint.clone()),
            app_name: Some(app.name.clone()),
            app_resource_group: app.resource_id.segment("resourceGroups").map(str::to_owned),
            requested_client_id: None,
            has_system_assigned: app.system_assigned.is_some(),
            roles_known,
            app_known: true,
            token_scope: None,
        }
    }

    /// The principal a token names, and through `app`, its identity.
    pub fn with_claims(mut self, claims: Option<&Value>, app: Option<&App>) -> Self {
        let claim = |name: &str| claims.and_then(|c| c[name].as_str());
        if let Some(oid) = claim("oid") {
            self.principal_id = Some(oid.to_owned());
            self.identity_client_id = claim("appid").map(str::to_owned);
            self.used = app.and_then(|a| a.identity_with_principal(oid)).cloned();
        }
        if let Some(aud) = claim("aud") {
            self.token_scope = Some(format!("{}/.default", aud.trim_end_matches('/')));
        }
        self
    }

    /// What a token tells: the principal and, through `xms_mirid`, the identity's resource (the
    /// app itself for a system-assigned identity, FIDELITY §4).
    pub fn from_claims(claims: Option<&Value>) -> Self {
        let claim = |name: &str| claims.and_then(|c| c[name].as_str()).map(str::to_owned);
        let mirid = claim("xms_mirid");
        Self {
            principal_id: claim("oid"),
            identity_client_id: claim("appid"),
            app_name: mirid.as_deref().and_then(app_name_of),
            app_resource_group: mirid.as_deref().and_then(resource_group_of),
            token_scope: claim("aud").map(|aud| format!("{}/.default", aud.trim_end_matches('/'))),
            ..Self::default()
        }
    }

    /// The token a request carried names the principal in use, and through the world, its identity.
    pub fn with_exchange(mut self, exchange: Option<&Exchange>, world: Option<&World>) -> Self {
        if let Some(requested) = exchange.and_then(|e| e.query_param("client_id")) {
            self.requested_client_id = Some(requested.to_owned());
        }
        self.with_claims(exchange.and_then(Exchange::bearer_claims), world.map(|w| &w.app))
    }

    /// An app identity holding the role that is not the one in use.
    pub fn other_holder(&self) -> Option<&ManagedIdentity> {
        self.holders
            .iter()
            .find(|h| self.used.as_ref().is_none_or(|u| u.principal_id != h.principal_id))
    }
}

/// The container app's name when `id` is a container app's resource id.
fn app_name_of(id: &str) -> Option<String> {
    let is_app = id.to_ascii_lowercase().contains("/providers/microsoft.app/containerapps/");
    is_app.then(|| id.rsplit('/').next().unwrap_or_default().to_owned())
}

fn resource_group_of(id: &str) -> Option<String> {
    let mut parts = id.split('/');
    parts.find(|p| p.eq_ignore_ascii_case("resourceGroups"))?;
    parts.next().map(str::to_owned)
}

fn or<'a>(value: &'a Option<String>, placeholder: &'a str) -> &'a str {
    value.as_deref().unwrap_or(placeholder)
}

/// The fix, with the context's ids in the command.
pub fn fix(diagnosis: Diagnosis, ctx: &FixContext) -> String {
    let principal = or(&ctx.principal_id, "<principal-id>");
    let pool_id = or(&ctx.pool_id, "<pool resource id>");
    let (app, app_rg) =
        (or(&ctx.app_name, "<app>"), or(&ctx.app_resource_group, "<resource-group>"));
    let assign = |assignee: &str| {
        format!(
            "az role assignment create --assignee {assignee} --role \"{SESSION_EXECUTOR_ROLE}\" --scope {pool_id}"
        )
    };
    let set_client_id = |client_id: &str| {
        format!(
            "az containerapp update --name {app} --resource-group {app_rg} --set-env-vars AZURE_CLIENT_ID={client_id}"
        )
    };
    match diagnosis {
        Diagnosis::MissingRole => {
            let whose = ctx.used.as_ref().map_or_else(String::new, |used| {
                format!("{principal} is {} of app {app}; ", used.short_name())
            });
            format!(
                "{}  ({whose}then allow 30-60 s for the assignment to propagate)",
                assign(principal)
            )
        }
        Diagnosis::RoleOnOtherIdentity
        | Diagnosis::IdentityNotSpecified
        | Diagnosis::EmptyClientId => select_identity_fix(diagnosis, ctx, &assign, &set_client_id),
        // --- issue 19 (begin) ---
        Diagnosis::RoleLacksDataAction => format!(
            "{}  (or add {} to the dataActions of the custom role it holds: az role definition update --role-definition <role.json>)",
            assign(principal),
            crate::world::rbac::EXECUTE_DATA_ACTION
        ),
        Diagnosis::SdkIgnoresClientId => format!(
            "in code: {} (the setting AZURE_CLIENT_ID alone does not reach this SDK's request)",
            crate::world::Sdk::Cpp.client_id_in_code(or(&ctx.client_id_setting, "<client id>"))
        ),
        // --- issue 19 (end) ---
        Diagnosis::RolePropagationDelay => format!(
            "nothing is missing: the role of {principal} on {pool_id} became effective a little later; retry 403 with backoff for about a minute after a new assignment"
        ),
        Diagnosis::WrongAudience => format!(
            "request the token for scope {DYNAMIC_SESSIONS_AUDIENCE}/.default instead of {} (reference backend: SESSION_POOL_TOKEN_SCOPE={DYNAMIC_SESSIONS_AUDIENCE}/.default)",
            or(&ctx.token_scope, "the scope it used")
        ),
        Diagnosis::NoTargetPort => format!(
            "az containerapp sessionpool update --name {} --resource-group {} --target-port <the port your container listens on, e.g. 2000>",
            or(&ctx.pool_name, "<pool>"),
            or(&ctx.pool_resource_group, "<resource-group>")
        ),
        Diagnosis::WrongEndpointShape | Diagnosis::EndpointMismatch
            if ctx.pool_endpoint.is_some() =>
        {
            format!(
                "point the backend's endpoint setting at the pool's properties.poolManagementEndpoint: {}",
                or(&ctx.pool_endpoint, "")
            )
        }
        Diagnosis::IdentityNotEnabled => format!(
            "az containerapp identity assign --name {app} --resource-group {app_rg} --system-assigned (or --user-assigned <identity resource id>)"
        ),
        Diagnosis::IdentityNotFound => {
            let requested = or(&ctx.requested_client_id, "the requested identity");
            let assign_identity = format!(
                "or assign {requested} to the app: az containerapp identity assign --name {app} --resource-group {app_rg} --user-assigned <its resource id>"
            );
            let users: Vec<String> = ctx
                .user_assigned
                .iter()
                .map(|i| format!("{} ({})", i.client_id, i.short_name()))
                .collect();
            match (users.is_empty(), ctx.has_system_assigned) {
                _ if !ctx.app_known => format!(
                    "set AZURE_CLIENT_ID to the client id of an identity assigned to the app (az containerapp identity show --name {app} --resource-group {app_rg} lists them), {assign_identity}"
                ),
                (false, _) => format!(
                    "set the app setting AZURE_CLIENT_ID to the client id of an identity the app has: {}; {assign_identity}",
                    users.join(", ")
                ),
                (true, true) => format!(
                    "the app has only its system-assigned identity: remove AZURE_CLIENT_ID (az containerapp update --name {app} --resource-group {app_rg} --remove-env-vars AZURE_CLIENT_ID), {assign_identity}"
                ),
                (true, false) => format!("the app has no identity at all: {assign_identity}"),
            }
        }
        other => other.describe().fix.to_owned(),
    }
}

/// Fixes for "the backend named the wrong identity, or none": name the right one and how to set it.
fn select_identity_fix(
    diagnosis: Diagnosis,
    ctx: &FixContext,
    assign: &dyn Fn(&str) -> String,
    set_client_id: &dyn Fn(&str) -> String,
) -> String {
    let app = or(&ctx.app_name, "<app>");
    let option = "(or pass it as the credential's client-id option, e.g. ManagedIdentityCredential(client_id=...))";
    match (ctx.other_holder().or(ctx.holders.first()), diagnosis) {
        (Some(holder), _) if holder.kind == IdentityKind::SystemAssigned => format!(
            "the system-assigned identity holds the role: remove AZURE_CLIENT_ID (az containerapp update --name {app} --resource-group {} --remove-env-vars AZURE_CLIENT_ID), or give the identity in use the role: {}",
            or(&ctx.app_resource_group, "<resource-group>"),
            assign(or(&ctx.principal_id, "<principal-id>"))
        ),
        (Some(holder), Diagnosis::RoleOnOtherIdentity) => format!(
            "set the app setting AZURE_CLIENT_ID={} so the SDK asks for {}, which holds the role: {} {option}; or give {} the role: {}",
            holder.client_id,
            holder.short_name(),
            set_client_id(&holder.client_id),
            ctx.used.as_ref().map_or_else(
                || or(&ctx.principal_id, "the identity in use").to_owned(),
                ManagedIdentity::describe
            ),
            assign(or(&ctx.principal_id, "<principal-id>"))
        ),
        (Some(holder), _) => format!(
            "set the app setting AZURE_CLIENT_ID={} ({}, which holds the role): {} {option}",
            holder.client_id,
            holder.short_name(),
            set_client_id(&holder.client_id)
        ),
        (None, _) => match ctx.user_assigned.first() {
            Some(identity) if !ctx.roles_known => format!(
                "set the app setting AZURE_CLIENT_ID={} ({}): {} {option}",
                identity.client_id,
                identity.short_name(),
                set_client_id(&identity.client_id)
            ),
            Some(identity) => format!(
                "set the app setting AZURE_CLIENT_ID={} ({}): {} {option}; it holds no \"{SESSION_EXECUTOR_ROLE}\" role on the pool yet: {}",
                identity.client_id,
                identity.short_name(),
                set_client_id(&identity.client_id),
                assign(&identity.principal_id)
            ),
            None => format!(
                "set the app setting AZURE_CLIENT_ID to the client id of the identity that should call the pool {option}, and give it the role: {}",
                assign("<principal-id>")
            ),
        },
    }
}

/// One sentence on what the evidence shows, beginning with the hop and its answer.
pub fn explanation(
    diagnosis: Diagnosis,
    exchange: &Exchange,
    ctx: &FixContext,
    world: Option<&World>,
) -> String {
    let status = exchange.status.map_or("no answer".to_owned(), |s| s.to_string());
    let claims = exchange.bearer_claims();
    let principal = or(&ctx.principal_id, "the caller");
    let pool_id = or(&ctx.pool_id, "the pool");
    match diagnosis {
        Diagnosis::MissingRole => {
            let mut text = missing_role_text(ctx.principal_id.as_deref(), &status, pool_id);
            let elsewhere: Vec<&str> = world
                .map(|w| w.access(principal).elsewhere.iter().map(|a| a.scope.as_str()).collect())
                .unwrap_or_default();
            if !elsewhere.is_empty() {
                text.push_str(&format!(
                    "; it does hold the role on {}, which does not contain this pool",
                    elsewhere.join(", ")
                ));
            }
            text
        }
        Diagnosis::RoleOnOtherIdentity | Diagnosis::EmptyClientId if exchange.to == Hop::Pool => {
            other_identity_text(&status, ctx)
        }
        Diagnosis::IdentityNotSpecified | Diagnosis::EmptyClientId => {
            let asked = match exchange.query_param("client_id") {
                Some("") => "a request with an empty client_id",
                _ => "a request naming no identity",
            };
            not_specified_text(
                &format!("{status} \"{}\" to {asked}", answer_message(exchange)),
                ctx,
            )
        }
        Diagnosis::WrongAudience => wrong_audience_text(&status, claims),
        Diagnosis::WrongTenant => format!(
            "the pool answered {status} to a token of tenant {} (its reason: {}): it accepts only tokens of its own tenant",
            claims.and_then(|c| c["tid"].as_str()).unwrap_or("?"),
            exchange.note.as_deref().unwrap_or("another issuer")
        ),
        Diagnosis::TokenExpired => {
            token_expired_text(&status, claims, "the pool's clock", exchange.clock)
        }
        Diagnosis::NoTargetPort => format!(
            "the pool answered {status} Not Found: pool {} has no ingress target port, so the request reaches no container",
            or(&ctx.pool_name, "?")
        ),
        Diagnosis::IdentityNotEnabled => format!(
            "no identity variables were set, so the SDK asked IMDS ({}), which answered {status} \"Identity not found\": no managed identity is enabled on the app",
            exchange
                .request_headers
                .get("host")
                .and_then(Value::as_str)
                .unwrap_or("169.254.169.254")
        ),
        Diagnosis::IdentityNotFound => format!(
            "the identity endpoint answered {status} \"{}\" to a request for client_id {}: no identity with that id is assigned to the app",
            answer_message(exchange),
            exchange.query_param("client_id").unwrap_or("(none: system-assigned)")
        ),
        Diagnosis::EntraInvalidClient => {
            let text = exchange.response_text();
            let why = if text.contains("AADSTS700024") {
                "the client assertion (the federated token) is outside its valid time range: the token file is stale"
            } else if text.contains("AADSTS7000215") {
                "the client secret is not valid for this app (wrong, rotated or expired)"
            } else if text.contains("AADSTS50027") {
                "the client assertion is not a valid JWT for Entra, or has expired (Invalid JWT token)"
            } else if text.contains("AADSTS700016") {
                "no application with this client id exists in the tenant"
            } else {
                "the client could not be authenticated"
            };
            format!(
                "Entra answered {status} for client_id {}: {why}",
                exchange.request_body.as_ref().and_then(|b| b["client_id"].as_str()).unwrap_or("?")
            )
        }
        Diagnosis::ContractMismatch => format!(
            "{} → {} answered {status}, but the body breaks the hop's contract: {}",
            exchange.from,
            exchange.to,
            exchange.contract_violations.join("; ")
        ),
        Diagnosis::Unexplained if exchange.to == Hop::Container && exchange.status.is_some() => {
            format!(
                "the session container itself answered {status} ({}), and the pool passed it back as it is: no Azure service refused the call, so the cause is in the container; read its answer and its logs",
                super::excerpt(&exchange.response_text())
            )
        }
        Diagnosis::Unexplained if exchange.to == Hop::Pool && exchange.status == Some(401) => {
            let reason = exchange.note.as_deref().unwrap_or("the pool gave no reason");
            format!(
                "{} → pool {} {} answered 401: {reason}",
                exchange.from, exchange.method, exchange.path
            )
        }
        other => {
            let answered = if exchange.status.is_some() {
                format!("answered {status}")
            } else {
                "got no answer".to_owned()
            };
            format!(
                "{} → {} {} {} {answered}: {}",
                exchange.from,
                exchange.to,
                exchange.method,
                exchange.path,
                other.describe().cause
            )
        }
    }
}

/// The pool refused one identity of the app while another holds the role.
fn other_identity_text(status: &str, ctx: &FixContext) -> String {
    let used = ctx.used.as_ref().map_or_else(
        || format!("principal {}", or(&ctx.principal_id, "?")),
        ManagedIdentity::describe,
    );
    let holder = ctx
        .other_holder()
        .map_or_else(|| "another identity of the app".to_owned(), ManagedIdentity::describe);
    let pool_id = or(&ctx.pool_id, "the pool");
    format!(
        "the pool refused {used} with {status}: it holds no \"{SESSION_EXECUTOR_ROLE}\" role on {pool_id}, but {holder} of the same app does{}",
        client_id_note(ctx)
    )
}

/// The identity endpoint found no identity to default to; `answered` is e.g. `400 "…" to a request…`.
fn not_specified_text(answered: &str, ctx: &FixContext) -> String {
    let users: Vec<String> = ctx.user_assigned.iter().map(ManagedIdentity::describe).collect();
    format!(
        "the identity endpoint answered {answered}: app {} has no system-assigned identity to default to, only {}{}",
        or(&ctx.app_name, "?"),
        if users.is_empty() { "user-assigned ones".to_owned() } else { users.join(", ") },
        client_id_note(ctx)
    )
}

/// The message of an identity endpoint's error answer.
fn answer_message(exchange: &Exchange) -> &str {
    exchange
        .response_str("/message")
        .or_else(|| exchange.response_str("/error_description"))
        .unwrap_or("Identity not found")
}

/// Why the SDK named no identity, when the app's setting says.
fn client_id_note(ctx: &FixContext) -> String {
    match ctx.client_id_setting.as_deref() {
        Some("") => {
            "; the app sets AZURE_CLIENT_ID to an empty string, so the SDK named no identity".into()
        }
        None => "; the app sets no AZURE_CLIENT_ID, so the SDK named no identity".into(),
        Some(_) => String::new(),
    }
}

/// What a user saw outside the harness, for explaining it without a transcript (`explain`).
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    pub hop: Hop,
    /// `None` when the user did not say.
    pub status: Option<u16>,
    /// Claims of the bearer token the user says was sent.
    pub claims: Option<&'a Value>,
    /// This machine's clock (epoch seconds).
    pub now: u64,
}

/// One sentence on what captured evidence shows, in the words [`explanation`] uses for a transcript.
pub fn explanation_of(diagnosis: Diagnosis, seen: &Observed<'_>, ctx: &FixContext) -> String {
    let status = seen.status.map_or("an error".to_owned(), |s| s.to_string());
    match diagnosis {
        Diagnosis::MissingRole => {
            missing_role_text(ctx.principal_id.as_deref(), &status, or(&ctx.pool_id, "the pool"))
        }
        Diagnosis::RoleOnOtherIdentity => other_identity_text(&status, ctx),
        Diagnosis::EmptyClientId if seen.hop == Hop::Pool => other_identity_text(&status, ctx),
        Diagnosis::IdentityNotSpecified | Diagnosis::EmptyClientId if ctx.app_name.is_some() => {
            not_specified_text(&status, ctx)
        }
        Diagnosis::WrongAudience if seen.claims.is_some() => {
            wrong_audience_text(&status, seen.claims)
        }
        Diagnosis::TokenExpired if seen.claims.is_some() => {
            token_expired_text(&status, seen.claims, "this machine's clock", Some(seen.now))
        }
        other => format!("the {} hop answered {status}: {}", seen.hop, other.describe().cause),
    }
}

fn missing_role_text(principal: Option<&str>, status: &str, pool_id: &str) -> String {
    let who = principal.map_or("the caller".to_owned(), |p| format!("principal {p}"));
    format!(
        "the pool refused {who} with {status}: it holds no \"{SESSION_EXECUTOR_ROLE}\" role on {pool_id} or an enclosing scope"
    )
}

fn wrong_audience_text(status: &str, claims: Option<&Value>) -> String {
    format!(
        "the pool answered {status}: the token's audience is {}, but session pools accept only {DYNAMIC_SESSIONS_AUDIENCE}",
        claims.and_then(|c| c["aud"].as_str()).unwrap_or("?")
    )
}

fn token_expired_text(
    status: &str,
    claims: Option<&Value>,
    clock_name: &str,
    clock: Option<u64>,
) -> String {
    // Minutes, not epoch seconds: explanations end up in snapshots, which hold no timestamps.
    let late = match (claims.and_then(|c| c["exp"].as_u64()), clock) {
        (Some(exp), Some(clock)) => {
            format!("about {} min", clock.saturating_sub(exp).saturating_add(30) / 60)
        }
        _ => "some time".into(),
    };
    format!(
        "the pool answered {status}: by {clock_name} the token had expired {late} earlier (its exp claim is in the past, beyond the 5 min skew allowed)"
    )
}
