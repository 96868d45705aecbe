//! The managed-identity endpoint: Container Apps protocol and IMDS, on one loopback port.
//!
//! Container Apps (FIDELITY §1): `GET /msi/token?resource&api-version=2019-08-01` with
//! `X-IDENTITY-HEADER`. IMDS (§2): `GET /metadata/identity/oauth2/token` with `Metadata: true`,
//! reached through `HTTP_PROXY` (Rust and Python alike; Python could also be pointed here with
//! `AZURE_POD_IDENTITY_AUTHORITY_HOST`, but then skips its probe). Because it is the processes' HTTP
//! proxy, it also refuses every other non-loopback destination: nothing leaves.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use crate::tokens::{self, TokenIssuer, TokenSubject};
use crate::world::{
    EmptyClientIdAnswer, IdentityProtocol, ManagedIdentity, Selection, Selector, World,
};

pub use crate::azure::{IDENTITY_PATH, IMDS_HOST, IMDS_PATH};
use crate::azure::{TOKEN_LIFETIME_SECS, unknown_resource};

/// Routes, for near-miss notes.
pub const ROUTES: &[(&str, &str)] = &[("GET", IDENTITY_PATH), ("GET", IMDS_PATH)];

/// What the identity stand-in needs to answer.
#[derive(Debug, Clone)]
pub struct IdentityState {
    pub world: Arc<World>,
    pub issuer: TokenIssuer,
    /// The `IDENTITY_HEADER` secret the platform handed the app.
    pub identity_header: String,
}

/// The identity stand-in's routes.
pub fn app(state: IdentityState) -> Router {
    Router::new()
        .route(IDENTITY_PATH, get(token::<ContainerApps>))
        .route(IMDS_PATH, get(token::<Imds>))
        .fallback(unknown_route)
        .with_state(state)
}

type Params = Query<HashMap<String, String>>;

/// One token request, as both protocols handle it: refuse a request without what the protocol requires, read `resource`, choose the
/// identity, check the resource, mint. What differs (headers, error shapes, the answer's fields)
/// is the [`Dialect`]'s.
async fn token<D: Dialect>(
    State(state): State<IdentityState>,
    headers: HeaderMap,
    Query(params): Params,
) -> Response {
    if let Some(refusal) = D::refuse_request(&state, &headers, &params) {
        return refusal;
    }
    let Some(resource) = params.get("resource").filter(|r| !r.is_empty()) else {
        return D::error(D::MISSING_RESOURCE);
    };
    if let Some(unavailable) = D::unavailable(&state) {
        return unavailable;
    }
    let selector = Selector::from_query(|k| params.get(k).map(String::as_str));
    let identity = match state.world.app.select(D::PROTOCOL, selector) {
        Selection::Identity(identity) => identity,
        other => return D::refuse(&state, other),
    };
    if let Some(problem) = unknown_resource(resource, &state.world.tenant_id) {
        return D::error(&problem);
    }
    D::answer(identity, resource, &mint(&state, identity, resource))
}

/// A token, its expiry (epoch seconds) and lifetime.
struct Minted {
    token: String,
    expires_on: u64,
    lifetime: u64,
}

/// What one identity protocol does its own way.
trait Dialect {
    const PROTOCOL: IdentityProtocol;
    /// The error text for a request without `resource`.
    const MISSING_RESOURCE: &'static str;
    /// The refusal of a request that lacks what the protocol requires (its header, its
    /// api-version); `None` when it has it.
    fn refuse_request(
        state: &IdentityState,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
    ) -> Option<Response>;
    /// The endpoint cannot issue anything at all.
    fn unavailable(_state: &IdentityState) -> Option<Response> {
        None
    }
    /// No identity for this request.
    fn refuse(state: &IdentityState, selection: Selection<'_>) -> Response;
    /// A 400 in the protocol's error shape.
    fn error(message: &str) -> Response;
    /// The token answer.
    fn answer(identity: &ManagedIdentity, resource: &str, minted: &Minted) -> Response;
}

/// Container Apps (FIDELITY §1, §7).
struct ContainerApps;

impl Dialect for ContainerApps {
    const PROTOCOL: IdentityProtocol = IdentityProtocol::ContainerApps;
    const MISSING_RESOURCE: &'static str = "The resource parameter is required."; // assumed text

    fn refuse_request(
        state: &IdentityState,
        headers: &HeaderMap,
        params: &HashMap<String, String>,
    ) -> Option<Response> {
        // REP: a wrong or missing X-IDENTITY-HEADER gets 403 with an empty body.
        if headers.get("x-identity-header").and_then(|v| v.to_str().ok())
            != Some(state.identity_header.as_str())
        {
            return Some(kestrel(StatusCode::FORBIDDEN, None));
        }
        let api_version = params.get("api-version").map(String::as_str).unwrap_or("");
        if api_version != crate::azure::IDENTITY_API_VERSION {
            // assumed: the exact text for an unsupported api-version is not documented.
            return Some(kestrel_error(&format!(
                "The api-version '{api_version}' is not supported. Use api-version=2019-08-01."
            )));
        }
        None
    }

    fn unavailable(state: &IdentityState) -> Option<Response> {
        // REP: the platform's identity service cannot reach Entra (spelling as observed).
        state.world.identity_endpoint.egress_blocked.then(|| {
            kestrel(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(json!({ "message": "An unexpected error occured while fetching the AAD Token" })),
            )
        })
    }

    fn refuse(state: &IdentityState, selection: Selection<'_>) -> Response {
        match selection {
            Selection::EmptySelector
                if state.world.identity_endpoint.empty_client_id
                    == EmptyClientIdAnswer::InvalidScope =>
            {
                // REP: an empty AZURE_CLIENT_ID gave a 500 naming invalid_scope; the exact body is assumed.
                kestrel(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Some(
                        json!({ "statusCode": 500, "message": "Failed to acquire the token: invalid_scope", "correlationId": crate::ids::guid() }),
                    ),
                )
            }
            // REP: the answer for no identity to default to (only user-assigned ones) and for a
            // selector naming an identity the app does not have: two causes, one answer (FIDELITY §7).
            _ => kestrel_error("Unable to load the proper Managed Identity."),
        }
    }

    fn error(message: &str) -> Response {
        kestrel_error(message)
    }

    fn answer(identity: &ManagedIdentity, resource: &str, minted: &Minted) -> Response {
        // SDK: every value a string, plus expires_in, so both the Rust and the Python SDK accept it.
        let body = json!({
            "access_token": minted.token,
            "expires_on": minted.expires_on.to_string(),
            "expires_in": minted.lifetime.to_string(),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": identity.client_id,
        });
        kestrel(StatusCode::OK, Some(body))
    }
}

/// IMDS (FIDELITY §2).
struct Imds;

impl Dialect for Imds {
    const PROTOCOL: IdentityProtocol = IdentityProtocol::Imds;
    const MISSING_RESOURCE: &'static str = "Required query variable 'resource' is missing"; // assumed text

    fn refuse_request(
        _state: &IdentityState,
        headers: &HeaderMap,
        _params: &HashMap<String, String>,
    ) -> Option<Response> {
        // DOC says bad_request_102; the current code is UNK (FIDELITY §2).
        (headers.get("metadata").and_then(|v| v.to_str().ok()) != Some("true"))
            .then(|| imds_error("Required metadata header not specified"))
    }

    fn refuse(_state: &IdentityState, selection: Selection<'_>) -> Response {
        match selection {
            // REP: several user-assigned identities and none chosen.
            Selection::Ambiguous => imds_error(
                "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request",
            ),
            // REP: no identity on the host, or an unknown one selected -> 400 "Identity not found".
            // assumed: that a Container App without identity answers like a VM without one.
            _ => imds_error("Identity not found"),
        }
    }

    fn error(message: &str) -> Response {
        imds_error(message)
    }

    fn answer(identity: &ManagedIdentity, resource: &str, minted: &Minted) -> Response {
        let now = tokens::now_secs();
        // DOC: every value a string.
        let body = json!({
            "access_token": minted.token,
            "client_id": identity.client_id,
            "expires_in": minted.lifetime.to_string(),
            "expires_on": minted.expires_on.to_string(),
            "ext_expires_in": minted.lifetime.to_string(),
            "not_before": now.to_string(),
            "resource": resource,
            "token_type": "Bearer",
        });
        (StatusCode::OK, axum::Json(body)).into_response()
    }
}

/// Requests for other routes, and proxied requests to hosts other than IMDS.
async fn unknown_route(uri: Uri, headers: HeaderMap) -> Response {
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let host_name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if !crate::text::is_loopback_host(host) && host_name != IMDS_HOST {
        let message = format!(
            "the harness blocked a request to {host}{}: processes under test may only reach loopback",
            uri.path()
        );
        return (StatusCode::BAD_GATEWAY, message).into_response();
    }
    // assumed: the exact 404 body of either identity endpoint.
    let mut response = (StatusCode::NOT_FOUND, "Not Found").into_response();
    response.extensions_mut().insert(super::server::Unrouted);
    response
}

/// A token of `identity` for `resource`.
fn mint(state: &IdentityState, identity: &ManagedIdentity, resource: &str) -> Minted {
    let subject = TokenSubject {
        tenant_id: &state.world.tenant_id,
        client_id: &identity.client_id,
        principal_id: &identity.principal_id,
        resource_id: Some(&identity.resource_id),
        appidacr: "2",
    };
    let now = tokens::now_secs();
    let lifetime = state.world.identity_endpoint.token_lifetime_secs.unwrap_or(TOKEN_LIFETIME_SECS);
    let claims = tokens::access_token_claims(&subject, resource, now, lifetime);
    Minted { token: state.issuer.mint(&claims), expires_on: now.saturating_add(lifetime), lifetime }
}

/// The Container Apps identity endpoint is served by Kestrel (REP: `Server: Kestrel`).
fn kestrel(status: StatusCode, body: Option<serde_json::Value>) -> Response {
    let mut response = match body {
        Some(body) => (status, axum::Json(body)).into_response(),
        None => status.into_response(),
    };
    response.headers_mut().insert(header::SERVER, header::HeaderValue::from_static("Kestrel"));
    response
}

/// REP: `{"statusCode":400,"message":…,"correlationId":<guid>}`.
fn kestrel_error(message: &str) -> Response {
    kestrel(
        StatusCode::BAD_REQUEST,
        Some(json!({ "statusCode": 400, "message": message, "correlationId": crate::ids::guid() })),
    )
}

/// IMDS error body (FIDELITY §2).
fn imds_error(description: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "error": "invalid_request", "error_description": description })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::standins::Server;
    use crate::test_support::{
        self, CLIENT_ID, PRINCIPAL, SYSTEM_ASSIGNED, USER_ASSIGNED, USER_CLIENT_ID, USER_PRINCIPAL,
    };

    const SECRET: &str = "header-secret";

    async fn serve(edit: impl FnOnce(String) -> String) -> Server {
        let world = Arc::new(test_support::world(edit));
        Server::start(app(IdentityState {
            world,
            issuer: TokenIssuer::test_key(),
            identity_header: SECRET.into(),
        }))
        .await
        .unwrap()
    }

    async fn get(
        server: &Server,
        path_and_query: &str,
        headers: &[(&str, &str)],
    ) -> (u16, HeaderMap, String) {
        let mut request = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap()
            .get(format!("{}{path_and_query}", server.url()));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let answer = request.send().await.unwrap();
        (answer.status().as_u16(), answer.headers().clone(), answer.text().await.unwrap())
    }

    const ACA: &str = "/msi/token?api-version=2019-08-01&resource=https://dynamicsessions.io";

    #[tokio::test]
    async fn container_apps_success_body_has_only_string_values_and_a_token_for_the_resource() {
        let server = serve(|s| s).await;
        let (status, _, body) = get(&server, ACA, &[("x-identity-header", SECRET)]).await;
        assert_eq!(status, 200, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        for key in
            ["access_token", "expires_on", "expires_in", "resource", "token_type", "client_id"]
        {
            assert!(body[key].is_string(), "{key} must be a string (SDK): {body}");
        }
        let claims = tokens::decode_claims(body["access_token"].as_str().unwrap()).unwrap();
        assert_eq!(
            (claims["aud"].as_str(), claims["oid"].as_str(), claims["appid"].as_str()),
            (Some("https://dynamicsessions.io"), Some(PRINCIPAL), Some(CLIENT_ID))
        );
    }

    #[tokio::test]
    async fn a_wrong_or_missing_identity_header_gets_403_with_an_empty_body() {
        let server = serve(|s| s).await;
        for headers in [&[("x-identity-header", "wrong")][..], &[]] {
            let (status, _, body) = get(&server, ACA, headers).await;
            assert_eq!((status, body.as_str()), (403, ""));
        }
    }

    #[tokio::test]
    async fn an_unknown_client_id_gets_kestrels_unable_to_load_body() {
        let server = serve(|s| s).await;
        let (status, headers, body) =
            get(&server, &format!("{ACA}&client_id=nobody"), &[("x-identity-header", SECRET)])
                .await;
        assert_eq!(status, 400);
        assert_eq!(headers["server"], "Kestrel");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (body["statusCode"].as_u64(), body["message"].as_str()),
            (Some(400), Some("Unable to load the proper Managed Identity."))
        );
        assert!(body["correlationId"].is_string());
    }

    #[tokio::test]
    async fn selecting_the_identity_by_client_or_principal_id_works() {
        let server = serve(|s| s).await;
        for selector in [format!("client_id={CLIENT_ID}"), format!("principal_id={PRINCIPAL}")] {
            let (status, _, body) =
                get(&server, &format!("{ACA}&{selector}"), &[("x-identity-header", SECRET)]).await;
            assert_eq!(status, 200, "{selector}: {body}");
        }
    }

    /// The unit-test app with a user-assigned identity, and with or without its system-assigned one.
    async fn serve_user_assigned(system_assigned: bool, extra: &str) -> Server {
        serve(|s| {
            let app = if system_assigned {
                format!("{SYSTEM_ASSIGNED}\n{extra}{USER_ASSIGNED}")
            } else {
                format!("{extra}{USER_ASSIGNED}")
            };
            s.replace(SYSTEM_ASSIGNED, &app)
        })
        .await
    }

    async fn token_principal(server: &Server, query: &str) -> (u16, String) {
        let (status, _, body) =
            get(server, &format!("{ACA}{query}"), &[("x-identity-header", SECRET)]).await;
        let principal = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|b| b["access_token"].as_str().and_then(tokens::decode_claims))
            .map(|c| c["oid"].as_str().unwrap_or_default().to_owned());
        (status, principal.unwrap_or(body))
    }

    #[tokio::test]
    async fn without_a_selector_the_system_assigned_identity_answers_and_a_client_id_selects_the_user_assigned_one()
     {
        let server = serve_user_assigned(true, "").await;
        assert_eq!(token_principal(&server, "").await, (200, PRINCIPAL.to_owned()));
        assert_eq!(
            token_principal(&server, &format!("&client_id={USER_CLIENT_ID}")).await,
            (200, USER_PRINCIPAL.to_owned())
        );
    }

    #[tokio::test]
    async fn an_app_with_only_user_assigned_identities_refuses_a_request_without_selector_as_for_an_unknown_id()
     {
        let server = serve_user_assigned(false, "").await;
        let (status, body) = token_principal(&server, "").await;
        assert_eq!(status, 400);
        assert!(body.contains("Unable to load the proper Managed Identity."), "{body}");
        assert_eq!(token_principal(&server, "&client_id=someone-else").await.0, 400);
    }

    #[tokio::test]
    async fn an_empty_client_id_gets_the_reported_500_or_the_400_when_the_world_says_so() {
        let server = serve_user_assigned(false, "").await;
        let (status, body) = token_principal(&server, "&client_id=").await;
        assert_eq!(status, 500);
        assert!(body.contains("invalid_scope"), "{body}");
        let other = serve(|s| {
            format!("{s}\n[world.identity_endpoint]\nempty_client_id = \"unable-to-load\"\n")
        })
        .await;
        assert_eq!(token_principal(&other, "&client_id=").await.0, 400);
    }

    #[tokio::test]
    async fn blocked_egress_answers_every_token_request_with_the_reported_500() {
        let server =
            serve(|s| format!("{s}\n[world.identity_endpoint]\negress_blocked = true\n")).await;
        let (status, body) = token_principal(&server, "").await;
        assert_eq!(status, 500);
        assert!(
            body.contains("An unexpected error occured while fetching the AAD Token"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn imds_takes_a_single_user_assigned_identity_and_refuses_to_choose_among_several() {
        let path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://dynamicsessions.io";
        let one = serve_user_assigned(false, "").await;
        assert_eq!(get(&one, path, &[("metadata", "true")]).await.0, 200);
        let second = USER_ASSIGNED
            .replace("user-client-0002", "c3")
            .replace("user-principal-0002", "p3")
            .replace("worker-id", "other-id");
        let two = serve_user_assigned(false, &second).await;
        let (status, _, body) = get(&two, path, &[("metadata", "true")]).await;
        assert_eq!(status, 400);
        assert!(body.contains("Multiple user assigned identities exist"), "{body}");
    }

    #[tokio::test]
    async fn an_unknown_resource_is_aadsts500011() {
        let server = serve(|s| s).await;
        let (status, _, body) = get(
            &server,
            "/msi/token?api-version=2019-08-01&resource=https://nowhere.example",
            &[("x-identity-header", SECRET)],
        )
        .await;
        assert_eq!(status, 400);
        assert!(body.contains("AADSTS500011"), "{body}");
    }

    #[tokio::test]
    async fn imds_requires_the_metadata_header() {
        let server = serve(|s| s).await;
        let (status, _, body) = get(&server, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://dynamicsessions.io", &[]).await;
        assert_eq!(status, 400);
        assert!(body.contains("Required metadata header not specified"), "{body}");
    }

    #[tokio::test]
    async fn imds_answers_identity_not_found_when_no_identity_is_enabled_and_all_strings_otherwise()
    {
        let path = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://dynamicsessions.io";
        let disabled = serve(|s| s.replace(test_support::SYSTEM_ASSIGNED, "")).await;
        let (status, _, body) = get(&disabled, path, &[("metadata", "true")]).await;
        assert_eq!(
            (status, body.as_str()),
            (400, r#"{"error":"invalid_request","error_description":"Identity not found"}"#)
        );

        let enabled = serve(|s| s).await;
        let (status, _, body) = get(&enabled, path, &[("metadata", "true")]).await;
        assert_eq!(status, 200);
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        for key in [
            "access_token",
            "client_id",
            "expires_in",
            "expires_on",
            "ext_expires_in",
            "not_before",
            "resource",
            "token_type",
        ] {
            assert!(body[key].is_string(), "{key}: {body}");
        }
    }

    #[tokio::test]
    async fn as_a_proxy_it_refuses_every_destination_but_imds() {
        let server = serve(|s| s).await;
        let (status, _, body) =
            get(&server, "/anything", &[("host", "login.microsoftonline.com")]).await;
        assert_eq!(status, 502);
        assert!(body.contains("blocked a request to login.microsoftonline.com"), "{body}");
    }
}
