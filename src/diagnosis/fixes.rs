//! Explanations and fixes filled with real ids: from the scenario's world when the harness ran it,
//! from the evidence alone when `explain` reads what a user pasted from production.

use serde_json::Value;

use super::Diagnosis;
use crate::scenario::BackendSettings;
use crate::transcript::{Exchange, Hop};
use crate::world::{DYNAMIC_SESSIONS_AUDIENCE, IdentityKind, SESSION_EXECUTOR_ROLE, World};

/// The ids a fix needs; `None` renders as a `<placeholder>`.
#[derive(Debug, Clone, Default)]
pub struct FixContext {
    pub principal_id: Option<String>,
    pub pool_id: Option<String>,
    pub pool_name: Option<String>,
    pub pool_resource_group: Option<String>,
    pub app_name: Option<String>,
    pub app_resource_group: Option<String>,
    pub identity_client_id: Option<String>,
    pub identity_resource_id: Option<String>,
    pub user_assigned: bool,
    pub token_scope: Option<String>,
}

impl FixContext {
    /// Everything a scenario's world and backend settings know.
    pub fn from_world(world: &World, settings: &BackendSettings) -> Self {
        let identity = &world.identity;
        Self {
            principal_id: Some(identity.principal_id.clone()),
            pool_id: Some(world.pool.resource_id.to_string()),
            pool_name: Some(world.pool.name.clone()),
            pool_resource_group: world.pool.resource_id.segment("resourceGroups").map(str::to_owned),
            app_name: app_name_of(&identity.resource_id),
            app_resource_group: resource_group_of(&identity.resource_id),
            identity_client_id: Some(identity.client_id.clone()),
            identity_resource_id: Some(identity.resource_id.clone()),
            user_assigned: identity.kind == IdentityKind::UserAssigned,
            token_scope: Some(settings.token_scope.clone()),
        }
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
            user_assigned: mirid.as_deref().is_some_and(|id| id.to_ascii_lowercase().contains("/providers/microsoft.managedidentity/userassignedidentities/")),
            identity_resource_id: mirid,
            token_scope: claim("aud").map(|aud| format!("{}/.default", aud.trim_end_matches('/'))),
            ..Self::default()
        }
    }

    /// The principal of the token a request carried wins over the world's identity.
    pub fn with_exchange(mut self, exchange: Option<&Exchange>) -> Self {
        if let Some(oid) = exchange.and_then(Exchange::bearer_claims).and_then(|c| c["oid"].as_str()) {
            self.principal_id = Some(oid.to_owned());
        }
        self
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
    let (app, app_rg) = (or(&ctx.app_name, "<app>"), or(&ctx.app_resource_group, "<resource-group>"));
    match diagnosis {
        Diagnosis::MissingRole => format!(
            "az role assignment create --assignee {principal} --role \"{SESSION_EXECUTOR_ROLE}\" --scope {pool_id}  (then allow 30-60 s for the assignment to propagate)"
        ),
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
        Diagnosis::IdentityNotEnabled if ctx.user_assigned => format!(
            "az containerapp identity assign --name {app} --resource-group {app_rg} --user-assigned {}",
            or(&ctx.identity_resource_id, "<identity resource id>")
        ),
        Diagnosis::IdentityNotEnabled => format!("az containerapp identity assign --name {app} --resource-group {app_rg} --system-assigned"),
        Diagnosis::IdentityNotFound => format!(
            "set AZURE_CLIENT_ID to the client id of an identity assigned to the app ({}), or assign the wanted one: az containerapp identity assign --name {app} --resource-group {app_rg} --user-assigned <identity resource id>",
            or(&ctx.identity_client_id, "<client-id>")
        ),
        other => other.describe().fix.to_owned(),
    }
}

/// One sentence on what the evidence shows, beginning with the hop and its answer.
pub fn explanation(diagnosis: Diagnosis, exchange: &Exchange, ctx: &FixContext, world: Option<&World>) -> String {
    let status = exchange.status.map_or("no answer".to_owned(), |s| s.to_string());
    let claims = exchange.bearer_claims();
    let principal = or(&ctx.principal_id, "the caller");
    let pool_id = or(&ctx.pool_id, "the pool");
    match diagnosis {
        Diagnosis::MissingRole => {
            let mut text = missing_role_text(ctx.principal_id.as_deref(), &status, pool_id);
            let elsewhere: Vec<&str> = world.map(|w| w.executor_assignments_elsewhere(principal).map(|a| a.scope.as_str()).collect()).unwrap_or_default();
            if !elsewhere.is_empty() {
                text.push_str(&format!("; it does hold the role on {}, which does not contain this pool", elsewhere.join(", ")));
            }
            text
        }
        Diagnosis::WrongAudience => wrong_audience_text(&status, claims),
        Diagnosis::TokenExpired => token_expired_text(&status, claims, "the pool's clock", exchange.clock),
        Diagnosis::NoTargetPort => format!("the pool answered {status} Not Found: pool {} has no ingress target port, so the request reaches no container", or(&ctx.pool_name, "?")),
        Diagnosis::IdentityNotEnabled => format!(
            "no identity variables were set, so the SDK asked IMDS ({}), which answered {status} \"Identity not found\": no managed identity is enabled on the app",
            exchange.request_headers.get("host").and_then(Value::as_str).unwrap_or("169.254.169.254")
        ),
        Diagnosis::IdentityNotFound => format!(
            "the identity endpoint answered {status} \"{}\" to a request for client_id {}: no identity with that id is assigned to the app",
            exchange.response_str("/message").or_else(|| exchange.response_str("/error_description")).unwrap_or("Identity not found"),
            exchange.query_param("client_id").unwrap_or("(none: system-assigned)")
        ),
        Diagnosis::EntraInvalidClient => {
            let text = exchange.response_text();
            let why = if text.contains("AADSTS700024") {
                "the client assertion (the federated token) is outside its valid time range: the token file is stale"
            } else if text.contains("AADSTS7000215") {
                "the client secret is not valid for this app (wrong, rotated or expired)"
            } else if text.contains("AADSTS700016") {
                "no application with this client id exists in the tenant"
            } else {
                "the client could not be authenticated"
            };
            format!("Entra answered {status} for client_id {}: {why}", exchange.request_body.as_ref().and_then(|b| b["client_id"].as_str()).unwrap_or("?"))
        }
        Diagnosis::ContractMismatch => format!(
            "{} → {} answered {status}, but the body breaks the hop's contract: {}",
            exchange.from,
            exchange.to,
            exchange.contract_violations.join("; ")
        ),
        other => format!("{} → {} {} {} answered {status}: {}", exchange.from, exchange.to, exchange.method, exchange.path, other.describe().cause),
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
        Diagnosis::MissingRole => missing_role_text(ctx.principal_id.as_deref(), &status, or(&ctx.pool_id, "the pool")),
        Diagnosis::WrongAudience if seen.claims.is_some() => wrong_audience_text(&status, seen.claims),
        Diagnosis::TokenExpired if seen.claims.is_some() => token_expired_text(&status, seen.claims, "this machine's clock", Some(seen.now)),
        other => format!("the {} hop answered {status}: {}", seen.hop, other.describe().cause),
    }
}

fn missing_role_text(principal: Option<&str>, status: &str, pool_id: &str) -> String {
    let who = principal.map_or("the caller".to_owned(), |p| format!("principal {p}"));
    format!("the pool refused {who} with {status}: it holds no \"{SESSION_EXECUTOR_ROLE}\" role on {pool_id} or an enclosing scope")
}

fn wrong_audience_text(status: &str, claims: Option<&Value>) -> String {
    format!(
        "the pool answered {status}: the token's audience is {}, but session pools accept only {DYNAMIC_SESSIONS_AUDIENCE}",
        claims.and_then(|c| c["aud"].as_str()).unwrap_or("?")
    )
}

fn token_expired_text(status: &str, claims: Option<&Value>, clock_name: &str, clock: Option<u64>) -> String {
    // Minutes, not epoch seconds: explanations end up in snapshots, which hold no timestamps.
    let late = match (claims.and_then(|c| c["exp"].as_u64()), clock) {
        (Some(exp), Some(clock)) => format!("about {} min", (clock.saturating_sub(exp) + 30) / 60),
        _ => "some time".into(),
    };
    format!("the pool answered {status}: by {clock_name} the token had expired {late} earlier (its exp claim is in the past, beyond the 5 min skew allowed)")
}
