//! The Entra ID token endpoint: client credentials, OpenID configuration, JWKS (FIDELITY §3).
//!
//! Errors carry Azure's AADSTS bodies. ServeSession over https with the run's test CA ([`super::tls`]),
//! because the SDKs refuse an `http://` authority (FIDELITY §3, SDK).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::tokens::{self, TokenIssuer, TokenSubject};
use crate::world::World;

/// Client-credential tokens from Entra last about an hour (FIDELITY §3: `expires_in` 3599, DOC).
const TOKEN_LIFETIME_SECS: u64 = 3599;

/// What the Entra stand-in needs to answer.
#[derive(Debug, Clone)]
pub struct EntraState {
    pub world: Arc<World>,
    pub issuer: TokenIssuer,
    /// This stand-in's own base URL, for the OpenID configuration.
    pub base_url: String,
}

/// Routes, for near-miss notes.
pub const ROUTES: &[(&str, &str)] = &[
    ("POST", "/{tenant}/oauth2/v2.0/token"),
    ("GET", "/{tenant}/v2.0/.well-known/openid-configuration"),
    ("GET", "/{tenant}/discovery/v2.0/keys"),
    ("GET", "/common/discovery/keys"),
];

/// The Entra stand-in's routes.
pub fn app(state: EntraState) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(openid_configuration))
        .route("/{tenant}/discovery/v2.0/keys", get(keys))
        .route("/common/discovery/keys", get(keys))
        .fallback(|| async {
            // assumed: Entra's exact 404 for an unknown path.
            let mut response = StatusCode::NOT_FOUND.into_response();
            response.extensions_mut().insert(super::server::Unrouted);
            response
        })
        .with_state(Arc::new(state))
}

async fn keys(State(state): State<Arc<EntraState>>) -> Response {
    axum::Json(state.issuer.jwks()).into_response()
}

async fn openid_configuration(
    State(state): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
) -> Response {
    let base = format!("{}/{tenant}", state.base_url);
    axum::Json(json!({
        "issuer": format!("{}/{tenant}/v2.0", state.base_url),
        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
        "jwks_uri": format!("{base}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "tenant_region_scope": "NA",
    }))
    .into_response()
}

async fn token(
    State(state): State<Arc<EntraState>>,
    Path(tenant): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    match issue(&state, &tenant, &form) {
        Ok(body) => axum::Json(body).into_response(),
        Err(error) => error.into_response(),
    }
}

fn issue(
    state: &EntraState,
    tenant: &str,
    form: &HashMap<String, String>,
) -> Result<Value, Aadsts> {
    let world = &state.world;
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    if !tenant.eq_ignore_ascii_case(&world.tenant_id) {
        return Err(Aadsts::new(
            400,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        ));
    }
    if field("grant_type") != "client_credentials" {
        // assumed: only the client-credentials grant is modelled.
        return Err(Aadsts::new(
            400,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.".into(),
        ));
    }
    let client_id = field("client_id");
    let Some(app) = world.applications.iter().find(|a| a.client_id.eq_ignore_ascii_case(client_id))
    else {
        return Err(Aadsts::new(
            400,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant."
            ),
        ));
    };
    if form.contains_key("client_assertion") {
        check_assertion(state, app, field("client_assertion_type"), field("client_assertion"))?;
    } else if form.contains_key("client_secret") {
        if app.client_secret.as_deref() != Some(field("client_secret")) {
            return Err(Aadsts::new(401, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.".into()));
        }
    } else {
        return Err(Aadsts::new(401, "invalid_client", 7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.".into()));
    }
    let scope = field("scope");
    let Some(resource) = scope.strip_suffix("/.default") else {
        return Err(Aadsts::new(
            400,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
            ),
        ));
    };
    if let Some(problem) = crate::azure::unknown_resource(resource, &world.tenant_id) {
        return Err(Aadsts::new(
            400,
            "invalid_resource",
            500011,
            problem.trim_start_matches("AADSTS500011: ").to_owned(),
        ));
    }
    let subject = TokenSubject {
        tenant_id: &world.tenant_id,
        client_id: &app.client_id,
        principal_id: &app.principal_id,
        resource_id: None,
        appidacr: "1",
    };
    let claims =
        tokens::access_token_claims(&subject, resource, tokens::now_secs(), TOKEN_LIFETIME_SECS);
    // DOC/SDK: expires_in is a NUMBER here (the Rust SDK rejects a string).
    Ok(
        json!({ "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECS, "ext_expires_in": TOKEN_LIFETIME_SECS, "access_token": state.issuer.mint(&claims) }),
    )
}

/// The audience of federated tokens exchanged at Entra (DOC).
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Workload identity: the assertion must be a JWT from a trusted issuer (here: signed by the test
/// key), for the token-exchange audience, unexpired, whose `iss` and `sub` match the app's federated
/// credential (DOC; codes from FIDELITY §3: AADSTS700024 for the time range, AADSTS70021 assumed).
fn check_assertion(
    state: &EntraState,
    app: &crate::world::Application,
    kind: &str,
    assertion: &str,
) -> Result<(), Aadsts> {
    if kind != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
        return Err(Aadsts::new(400, "invalid_request", 50027, "Invalid JWT token: client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer.".into()));
    }
    let no_match = || {
        Aadsts::new(
            400,
            "invalid_request",
            70021,
            "No matching federated identity record found for presented assertion.".into(),
        )
    };
    let Some(federated) = &app.federated else { return Err(no_match()) };
    let claims = match tokens::verify_assertion(
        assertion,
        state.issuer.jwk_set(),
        TOKEN_EXCHANGE_AUDIENCE,
        tokens::now_secs(),
    ) {
        Ok(claims) => claims,
        Err(tokens::TokenRejection::Expired { .. }) => {
            return Err(Aadsts::new(
                401,
                "invalid_client",
                700024,
                "Client assertion is not within its valid time range.".into(),
            ));
        }
        Err(_) => {
            return Err(Aadsts::new(
                401,
                "invalid_client",
                50013,
                "Assertion failed signature validation.".into(),
            ));
        }
    };
    if claims["iss"] != federated.issuer.as_str() || claims["sub"] != federated.subject.as_str() {
        return Err(no_match());
    }
    Ok(())
}

/// An Entra error answer (FIDELITY §3, DOC).
#[derive(Debug)]
struct Aadsts {
    status: u16,
    error: &'static str,
    code: u32,
    text: String,
}

impl Aadsts {
    fn new(status: u16, error: &'static str, code: u32, text: String) -> Self {
        Self { status, error, code, text }
    }
}

impl IntoResponse for Aadsts {
    fn into_response(self) -> Response {
        let (trace, correlation) = (crate::ids::guid(), crate::ids::guid());
        let timestamp = "2026-01-01 00:00:00Z"; // a fixed stamp: real values vary and nothing parses it
        let body = json!({
            "error": self.error,
            "error_description": format!("AADSTS{}: {}\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: {timestamp}", self.code, self.text),
            "error_codes": [self.code],
            "timestamp": timestamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": format!("https://login.microsoftonline.com/error?code={}", self.code),
        });
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        (status, axum::Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standins::Server;
    use crate::test_support::{self, TENANT};

    async fn serve() -> Server {
        let world = Arc::new(test_support::world(|s| s));
        Server::start_knowing_url(
            |base_url| app(EntraState { world, issuer: TokenIssuer::test_key(), base_url }),
            None,
            None,
        )
        .await
        .unwrap()
    }

    async fn token(server: &Server, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let answer = reqwest::Client::new()
            .post(format!("{}/{tenant}/oauth2/v2.0/token", server.url()))
            .form(form)
            .send()
            .await
            .unwrap();
        (answer.status().as_u16(), answer.json().await.unwrap())
    }

    fn form<'a>(secret: &'a str, scope: &'a str) -> Vec<(&'a str, &'a str)> {
        vec![
            ("grant_type", "client_credentials"),
            ("client_id", "app-0001"),
            ("client_secret", secret),
            ("scope", scope),
        ]
    }

    #[tokio::test]
    async fn client_credentials_give_a_token_with_numeric_expires_in() {
        let server = serve().await;
        let (status, body) = token(
            &server,
            TENANT,
            &form("app-secret-value", "https://dynamicsessions.io/.default"),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body["expires_in"].is_u64() && body["ext_expires_in"].is_u64(),
            "numbers, not strings (DOC, SDK): {body}"
        );
        let claims = tokens::decode_claims(body["access_token"].as_str().unwrap()).unwrap();
        assert_eq!(
            (claims["oid"].as_str(), claims["appidacr"].as_str()),
            (Some("app-principal-0001"), Some("1"))
        );
    }

    #[tokio::test]
    async fn errors_carry_aadsts_codes_in_azures_body_shape() {
        let server = serve().await;
        let cases = [
            (form("wrong", "https://dynamicsessions.io/.default"), 401, "invalid_client", 7000215),
            (form("app-secret-value", "https://dynamicsessions.io"), 400, "invalid_scope", 1002012),
            (
                form("app-secret-value", "https://nowhere.example/.default"),
                400,
                "invalid_resource",
                500011,
            ),
        ];
        for (form, status, error, code) in cases {
            let (got, body) = token(&server, TENANT, &form).await;
            assert_eq!(
                (got, body["error"].as_str(), body["error_codes"][0].as_u64()),
                (status, Some(error), Some(code)),
                "{body}"
            );
            let description = body["error_description"].as_str().unwrap();
            assert!(
                description.starts_with(&format!("AADSTS{code}:"))
                    && description.contains("\r\nTrace ID: "),
                "{description}"
            );
        }
        let unknown = [
            ("grant_type", "client_credentials"),
            ("client_id", "nobody"),
            ("client_secret", "x"),
            ("scope", "https://dynamicsessions.io/.default"),
        ];
        let (status, body) = token(&server, TENANT, &unknown).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
    }

    #[tokio::test]
    async fn openid_configuration_points_at_this_stand_in_and_jwks_holds_the_test_key() {
        let server = serve().await;
        let config: Value = reqwest::get(format!(
            "{}/{TENANT}/v2.0/.well-known/openid-configuration",
            server.url()
        ))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        assert_eq!(
            config["token_endpoint"],
            format!("{}/{TENANT}/oauth2/v2.0/token", server.url())
        );
        let keys: Value =
            reqwest::get(config["jwks_uri"].as_str().unwrap()).await.unwrap().json().await.unwrap();
        assert_eq!(keys["keys"][0]["kid"], "harness-test-key-1");
    }
}
