//! Diagnosis: the single list of failure ids, how each is recognised, and its fix.
//!
//! The runner diagnoses from what the stand-ins saw ([`diagnose`]); the reference backend names the
//! same ids in its error messages ([`classify`]). Ids are stable kebab-case: scenarios, snapshots
//! and users' scripts depend on them.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::scenario::BackendSettings;
use crate::transcript::{Exchange, Hop};
use crate::world::{DYNAMIC_SESSIONS_AUDIENCE, IdentityKind, SESSION_EXECUTOR_ROLE, World};

/// Everything the harness can name. Add a variant here, in [`Diagnosis::ALL`] and in
/// [`Diagnosis::describe`]; nothing else holds ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Diagnosis {
    Ok,
    MissingRole,
    WrongAudience,
    NoTargetPort,
    IdentityNotEnabled,
    IdentityNotFound,
    ContractMismatch,
    Unexplained,
}

/// The fixed text of a diagnosis.
#[derive(Debug, Clone, Copy)]
pub struct Description {
    pub id: &'static str,
    /// What the user sees.
    pub symptom: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// FIDELITY.md source kind of the modelled behaviour.
    pub source: &'static str,
    /// The fix with placeholders; [`Finding::fix`] fills them with the scenario's ids.
    pub fix: &'static str,
}

impl Diagnosis {
    pub const ALL: &'static [Diagnosis] = &[
        Diagnosis::Ok,
        Diagnosis::MissingRole,
        Diagnosis::WrongAudience,
        Diagnosis::NoTargetPort,
        Diagnosis::IdentityNotEnabled,
        Diagnosis::IdentityNotFound,
        Diagnosis::ContractMismatch,
        Diagnosis::Unexplained,
    ];

    pub fn id(self) -> &'static str {
        self.describe().id
    }

    pub fn describe(self) -> Description {
        let d = |id, symptom, cause, source, fix| Description { id, symptom, cause, source, fix };
        match self {
            Diagnosis::Ok => d("ok", "every hop answered 2xx", "nothing is wrong", "-", "nothing to fix"),
            Diagnosis::MissingRole => d(
                "missing-role",
                "pool answers 403",
                "the caller's principal holds no \"Azure ContainerApps Session Executor\" role on the pool or an enclosing scope",
                "REP",
                "az role assignment create --assignee <principal-id> --role \"Azure ContainerApps Session Executor\" --scope <pool resource id>",
            ),
            Diagnosis::WrongAudience => d(
                "wrong-audience",
                "pool answers 401 with an empty body and WWW-Authenticate",
                "the token was minted for another resource; session pools accept only aud https://dynamicsessions.io",
                "REP",
                "request the token for scope https://dynamicsessions.io/.default",
            ),
            Diagnosis::NoTargetPort => d(
                "no-target-port",
                "pool answers 404 \"Not Found\"",
                "the custom-container pool was created without an ingress target port, so nothing receives the request",
                "REP",
                "az containerapp sessionpool update --name <pool> --resource-group <rg> --target-port <port>",
            ),
            Diagnosis::IdentityNotEnabled => d(
                "identity-not-enabled",
                "no IDENTITY_ENDPOINT; the SDK falls back to IMDS, which answers 400 \"Identity not found\"",
                "no managed identity is enabled on the backend's container app",
                "DOC (variables), REP (IMDS body), assumed (IMDS answering on Container Apps)",
                "az containerapp identity assign --name <app> --resource-group <rg> --system-assigned (or --user-assigned <identity id>)",
            ),
            Diagnosis::IdentityNotFound => d(
                "identity-not-found",
                "identity endpoint answers 400 \"Unable to load the proper Managed Identity.\"",
                "the backend asks for a user-assigned identity (AZURE_CLIENT_ID) that is not assigned to the app",
                "REP",
                "set AZURE_CLIENT_ID to an identity assigned to the app, or assign it: az containerapp identity assign --user-assigned <identity id>",
            ),
            Diagnosis::ContractMismatch => d(
                "contract-mismatch",
                "a hop answers 2xx with a body the caller cannot use",
                "the two sides of a hop disagree on the payload shape",
                "assumed",
                "make both sides of the hop agree on the payload shape",
            ),
            Diagnosis::Unexplained => d(
                "unexplained",
                "the backend failed but no stand-in refused anything",
                "the fault is inside the backend, or in a case the harness does not model yet",
                "-",
                "read the backend's message and the transcript",
            ),
        }
    }
}

/// The failure-mode table (Markdown), generated from [`Diagnosis::ALL`]; the README embeds it.
pub fn markdown_table() -> String {
    let mut table = String::from("| id | symptom | cause | source | fix |\n|---|---|---|---|---|\n");
    for d in Diagnosis::ALL {
        let x = d.describe();
        table.push_str(&format!("| `{}` | {} | {} | {} | {} |\n", x.id, x.symptom, x.cause, x.source, x.fix.replace('|', "\\|")));
    }
    table
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// What a caller knows besides status and body when it classifies a failed hop.
#[derive(Debug, Clone, Copy, Default)]
pub struct Evidence<'a> {
    /// Claims of the token the caller sent (pool hop).
    pub token_claims: Option<&'a Value>,
    /// The token request went to IMDS (no identity variables were set).
    pub via_imds: bool,
}

/// Name the cause of one failed hop from its status and body. `None` when the answer is not a
/// failure this hop can have. Shared by the runner and the reference backend.
pub fn classify(hop: Hop, status: u16, body: &str, evidence: Evidence<'_>) -> Option<Diagnosis> {
    match (hop, status) {
        (Hop::Identity, 400) if body.contains("Unable to load the proper Managed Identity") => Some(Diagnosis::IdentityNotFound),
        (Hop::Identity, 400) if evidence.via_imds && body.contains("Identity not found") => Some(Diagnosis::IdentityNotEnabled),
        (Hop::Identity, 400) if body.contains("Identity not found") => Some(Diagnosis::IdentityNotFound),
        (Hop::Pool, 401) => {
            let aud = evidence.token_claims.and_then(|c| c["aud"].as_str());
            match aud {
                Some(aud) if aud.trim_end_matches('/') != DYNAMIC_SESSIONS_AUDIENCE => Some(Diagnosis::WrongAudience),
                _ => Some(Diagnosis::Unexplained),
            }
        }
        (Hop::Pool, 403) => Some(Diagnosis::MissingRole),
        (Hop::Pool, 404) if body.trim() == "Not Found" => Some(Diagnosis::NoTargetPort),
        (_, s) if (200..300).contains(&s) => None,
        _ => Some(Diagnosis::Unexplained),
    }
}

/// A diagnosis with the evidence that led to it and the fix, filled with the scenario's real ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: Diagnosis,
    /// The hop whose answer showed it (`None` for `ok`).
    pub hop: Option<Hop>,
    /// The transcript line that showed it.
    pub seq: Option<u64>,
    pub explanation: String,
    pub fix: String,
}

/// Diagnose a run from the transcript the stand-ins recorded, with the world for the fixes.
pub fn diagnose(exchanges: &[Exchange], world: &World, settings: &BackendSettings) -> Vec<Finding> {
    let mut findings: Vec<Finding> = Vec::new();
    for exchange in exchanges.iter().filter(|e| e.from != Hop::Client) {
        let Some(status) = exchange.status else { continue };
        let evidence = Evidence { token_claims: exchange.bearer_claims(), via_imds: is_imds(exchange) };
        let Some(diagnosis) = classify(exchange.to, status, &exchange.response_text(), evidence) else { continue };
        if findings.iter().any(|f| f.id == diagnosis) {
            continue;
        }
        findings.push(explain(diagnosis, exchange, world, settings));
    }
    let backend_failed = exchanges.iter().any(|e| e.from == Hop::Client && !e.succeeded());
    if findings.is_empty() {
        let (id, explanation) = if backend_failed {
            (Diagnosis::Unexplained, "the backend answered an error although every hop behind it succeeded: read its message".to_owned())
        } else {
            (Diagnosis::Ok, "every hop answered 2xx".to_owned())
        };
        findings.push(Finding { id, hop: None, seq: None, explanation, fix: fix_for(id, world, settings, None) });
    }
    findings
}

fn is_imds(exchange: &Exchange) -> bool {
    exchange.to == Hop::Identity && exchange.path.starts_with("/metadata/identity/")
}

fn explain(diagnosis: Diagnosis, exchange: &Exchange, world: &World, settings: &BackendSettings) -> Finding {
    let status = exchange.status.unwrap_or_default();
    let principal = exchange.bearer_claims().and_then(|c| c["oid"].as_str()).unwrap_or(&world.identity.principal_id);
    let explanation = match diagnosis {
        Diagnosis::MissingRole => {
            let elsewhere: Vec<&str> = world.executor_assignments_elsewhere(principal).map(|a| a.scope.as_str()).collect();
            let mut text = format!(
                "the pool refused principal {principal} with {status}: it holds no \"{SESSION_EXECUTOR_ROLE}\" role on {} or an enclosing scope",
                world.pool.resource_id
            );
            if !elsewhere.is_empty() {
                text.push_str(&format!("; it does hold the role on {}, which does not contain this pool", elsewhere.join(", ")));
            }
            text
        }
        Diagnosis::WrongAudience => {
            let aud = exchange.bearer_claims().and_then(|c| c["aud"].as_str()).unwrap_or("?");
            format!("the pool answered {status}: the token's audience is {aud}, but session pools accept only {DYNAMIC_SESSIONS_AUDIENCE} (the backend asked for scope {})", settings.token_scope)
        }
        Diagnosis::NoTargetPort => format!("the pool answered {status} Not Found: pool {} has no ingress target port, so the request reaches no container", world.pool.name),
        Diagnosis::IdentityNotEnabled => format!(
            "no identity variables were set, so the SDK asked IMDS ({}), which answered {status} \"Identity not found\": no managed identity is enabled on the app",
            exchange.request_headers.get("host").and_then(Value::as_str).unwrap_or("169.254.169.254")
        ),
        Diagnosis::IdentityNotFound => format!(
            "the identity endpoint answered {status} \"{}\" to a request for client_id {}: no identity with that id is assigned to the app",
            exchange.response_str("/message").or_else(|| exchange.response_str("/error_description")).unwrap_or("Identity not found"),
            exchange.query_param("client_id").unwrap_or("(none: system-assigned)")
        ),
        _ => format!("{} → {} answered {status}: {}", exchange.from, exchange.to, diagnosis.describe().cause),
    };
    Finding { id: diagnosis, hop: Some(exchange.to), seq: Some(exchange.seq), explanation, fix: fix_for(diagnosis, world, settings, Some(principal)) }
}

/// The fix, with the world's real ids in the command.
fn fix_for(diagnosis: Diagnosis, world: &World, settings: &BackendSettings, principal: Option<&str>) -> String {
    let app = AppRef::from_identity(world);
    match diagnosis {
        Diagnosis::Ok => "nothing to fix".into(),
        Diagnosis::MissingRole => format!(
            "az role assignment create --assignee {} --role \"{SESSION_EXECUTOR_ROLE}\" --scope {}  (then allow 30-60 s for the assignment to propagate)",
            principal.unwrap_or(&world.identity.principal_id),
            world.pool.resource_id
        ),
        Diagnosis::WrongAudience => format!(
            "request the token for scope {DYNAMIC_SESSIONS_AUDIENCE}/.default instead of {} (reference backend: SESSION_POOL_TOKEN_SCOPE={DYNAMIC_SESSIONS_AUDIENCE}/.default)",
            settings.token_scope
        ),
        Diagnosis::NoTargetPort => format!(
            "az containerapp sessionpool update --name {} --resource-group {} --target-port <the port your container listens on, e.g. 2000>",
            world.pool.name,
            world.pool.resource_id.segment("resourceGroups").unwrap_or("<resource-group>")
        ),
        Diagnosis::IdentityNotEnabled => match world.identity.kind {
            IdentityKind::SystemAssigned => format!("az containerapp identity assign --name {} --resource-group {} --system-assigned", app.name, app.resource_group),
            IdentityKind::UserAssigned => format!(
                "az containerapp identity assign --name {} --resource-group {} --user-assigned {}",
                app.name, app.resource_group, world.identity.resource_id
            ),
        },
        Diagnosis::IdentityNotFound => format!(
            "set AZURE_CLIENT_ID to the client id of an identity assigned to the app ({}), or assign the wanted one: az containerapp identity assign --name {} --resource-group {} --user-assigned <identity resource id>",
            world.identity.client_id, app.name, app.resource_group
        ),
        Diagnosis::ContractMismatch => "make both sides of the hop agree on the payload: the adapter answers Piston's execute response ({language, version, run{stdout, stderr, code, ...}})".into(),
        Diagnosis::Unexplained => "read the backend's message and the transcript above: no stand-in refused a request".into(),
    }
}

/// The container app that owns the identity, for `az containerapp` fixes.
struct AppRef<'a> {
    name: &'a str,
    resource_group: &'a str,
}

impl<'a> AppRef<'a> {
    fn from_identity(world: &'a World) -> Self {
        let id = &world.identity.resource_id;
        let is_app = id.to_ascii_lowercase().contains("/providers/microsoft.app/containerapps/");
        let name = if is_app { id.rsplit('/').next().unwrap_or("<app>") } else { "<app>" };
        let resource_group = resource_group_of(id).unwrap_or("<resource-group>");
        Self { name, resource_group }
    }
}

fn resource_group_of(id: &str) -> Option<&str> {
    let mut parts = id.split('/');
    parts.find(|p| p.eq_ignore_ascii_case("resourceGroups"))?;
    parts.next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_id_is_unique_kebab_case_and_round_trips_through_serde() {
        let mut seen = std::collections::HashSet::new();
        for d in Diagnosis::ALL {
            let id = d.id();
            assert!(seen.insert(id), "duplicate id {id}");
            assert!(id.chars().all(|c| c.is_ascii_lowercase() || c == '-'), "{id} is not kebab-case");
            assert_eq!(serde_json::to_value(d).unwrap(), json!(id));
            assert_eq!(serde_json::from_value::<Diagnosis>(json!(id)).unwrap(), *d);
        }
    }

    #[test]
    fn a_401_with_a_foreign_audience_is_wrong_audience() {
        let claims = json!({"aud": "https://cognitiveservices.azure.com"});
        let evidence = Evidence { token_claims: Some(&claims), via_imds: false };
        assert_eq!(classify(Hop::Pool, 401, "", evidence), Some(Diagnosis::WrongAudience));
        let right = json!({"aud": "https://dynamicsessions.io/"});
        assert_eq!(classify(Hop::Pool, 401, "", Evidence { token_claims: Some(&right), via_imds: false }), Some(Diagnosis::Unexplained));
    }

    #[test]
    fn identity_errors_are_told_apart_by_body_and_protocol() {
        let aca = r#"{"statusCode":400,"message":"Unable to load the proper Managed Identity.","correlationId":"x"}"#;
        assert_eq!(classify(Hop::Identity, 400, aca, Evidence::default()), Some(Diagnosis::IdentityNotFound));
        let imds = r#"{"error":"invalid_request","error_description":"Identity not found"}"#;
        assert_eq!(classify(Hop::Identity, 400, imds, Evidence { via_imds: true, ..Default::default() }), Some(Diagnosis::IdentityNotEnabled));
    }

    #[test]
    fn only_the_bare_not_found_of_a_portless_pool_is_no_target_port() {
        assert_eq!(classify(Hop::Pool, 404, "Not Found", Evidence::default()), Some(Diagnosis::NoTargetPort));
        assert_eq!(classify(Hop::Pool, 404, r#"{"message":"Not Found"}"#, Evidence::default()), Some(Diagnosis::Unexplained));
        assert_eq!(classify(Hop::Pool, 200, "", Evidence::default()), None);
    }
}
