//! Causes that share one wire answer, told apart by the world (FIDELITY §7): which identities the
//! app has, which of them holds the role, and what its `AZURE_CLIENT_ID` setting says.
//!
//! "Unable to load the proper Managed Identity." is the answer both to a request naming no identity
//! on an app with only user-assigned ones and to one naming an identity the app lacks; a 403 from
//! the pool is the answer both when no identity of the app holds the role and when another one does.

use serde_json::Value;

use super::Diagnosis;
use crate::transcript::{Exchange, Hop};
use crate::world::{App, Rbac, Scope, Selector, SettingValue, World, executor_holders};

/// The diagnosis of `exchange`, refined with what the world knows.
pub fn refine(diagnosis: Diagnosis, exchange: &Exchange, world: &World) -> Diagnosis {
    let empty_setting =
        matches!(world.app.client_id_setting(), Some(SettingValue::Plain(v)) if v.is_empty());
    match (exchange.to, diagnosis) {
        (Hop::Identity, d)
            if d != Diagnosis::Ok && selector(exchange) == Selector::ClientId("") =>
        {
            Diagnosis::EmptyClientId
        }
        (Hop::Identity, Diagnosis::IdentityNotFound | Diagnosis::IdentityNotSpecified)
            if selector(exchange) == Selector::None && world.app.system_assigned.is_none() =>
        {
            if empty_setting {
                Diagnosis::EmptyClientId
            } else {
                Diagnosis::IdentityNotSpecified
            }
        }
        // --- issue 19: a role applies to the caller but grants no execute data action ---
        (Hop::Pool, Diagnosis::MissingRole) if role_lacks_data_action(exchange, world) => {
            Diagnosis::RoleLacksDataAction
        }
        (Hop::Pool, Diagnosis::MissingRole) if held_by_another_identity(exchange, world) => {
            if empty_setting {
                Diagnosis::EmptyClientId
            } else {
                Diagnosis::RoleOnOtherIdentity
            }
        }
        (_, d) => d,
    }
}

/// The same, for an answer captured outside the harness, from the user's own files: no request to
/// read the selector from, so the app's `AZURE_CLIENT_ID` setting says what was asked.
pub fn refine_by_app(
    diagnosis: Diagnosis,
    claims: Option<&Value>,
    app: &App,
    rbac: Rbac<'_>,
    pool: Option<&Scope>,
) -> Diagnosis {
    let setting = app.client_id_setting();
    let empty_setting = matches!(setting, Some(SettingValue::Plain(v)) if v.is_empty());
    let names_one = matches!(setting, Some(SettingValue::Plain(v)) if !v.is_empty());
    match diagnosis {
        Diagnosis::IdentityNotFound | Diagnosis::IdentityNotSpecified
            if app.system_assigned.is_none()
                && !names_one
                && !matches!(setting, Some(SettingValue::SecretRef(_))) =>
        {
            if empty_setting {
                Diagnosis::EmptyClientId
            } else {
                Diagnosis::IdentityNotSpecified
            }
        }
        Diagnosis::MissingRole => {
            // Without the token, the app's settings say which identity the SDK asked for (an SDK
            // that honours AZURE_CLIENT_ID: docs/fidelity.md §7, §10): a team whose backend swallows
            // errors never sees its token, but has its files.
            let asked = app.default_identity(crate::world::IdentityProtocol::ContainerApps);
            let oid = claims
                .and_then(|c| c["oid"].as_str())
                .or_else(|| asked.map(|i| i.principal_id.as_str()));
            let Some(oid) = oid else { return diagnosis };
            let access = rbac.access(oid, pool);
            if !access.allowed() && !access.lacking.is_empty() {
                return Diagnosis::RoleLacksDataAction;
            }
            let holders = executor_holders(app, rbac, pool);
            if holders.iter().any(|i| i.principal_id.eq_ignore_ascii_case(oid)) {
                // The identity asked for holds the role itself: another identity is not the cause.
                return diagnosis;
            }
            let others = holders.iter().any(|i| !i.principal_id.eq_ignore_ascii_case(oid));
            match (app.identity_with_principal(oid).is_some() && others, empty_setting) {
                (true, true) => Diagnosis::EmptyClientId,
                (true, false) => Diagnosis::RoleOnOtherIdentity,
                (false, _) => diagnosis,
            }
        }
        d => d,
    }
}

fn selector(exchange: &Exchange) -> Selector<'_> {
    Selector::from_query(|k| exchange.query_param(k))
}

/// The token's principal holds roles on the pool, and none of them grants the execute data action.
fn role_lacks_data_action(exchange: &Exchange, world: &World) -> bool {
    let Some(oid) = exchange.bearer_claims().and_then(|c| c["oid"].as_str()) else { return false };
    let access = world.access(oid);
    !access.allowed() && !access.lacking.is_empty()
}

/// The token came from one identity of the app and another one holds the role on the pool.
fn held_by_another_identity(exchange: &Exchange, world: &World) -> bool {
    let Some(oid) = exchange.bearer_claims().and_then(|c| c["oid"].as_str()) else { return false };
    world.app.identity_with_principal(oid).is_some()
        && world.executor_identities().any(|i| !i.principal_id.eq_ignore_ascii_case(oid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::world;
    use crate::transcript::{RawRequest, RawResponse, Recorder};

    fn identity_answer(query: &str, status: u16) -> Exchange {
        let recorder = Recorder::new();
        let request = RawRequest {
            method: "GET",
            path: "/msi/token",
            query: Some(query),
            headers: Vec::new(),
            body: b"",
        };
        let pending = recorder.begin(Hop::Backend, Hop::Identity, &request);
        recorder.finish(pending, &RawResponse { status, body: b"{}", ..Default::default() });
        recorder.exchanges().remove(0)
    }

    #[test]
    fn a_failed_token_request_with_an_empty_client_id_is_the_empty_setting() {
        let world = world(|s| s);
        let exchange = identity_answer("api-version=2019-08-01&resource=r&client_id=", 500);
        assert_eq!(
            refine(Diagnosis::IdentityEndpointUnavailable, &exchange, &world),
            Diagnosis::EmptyClientId
        );
        let named = identity_answer("api-version=2019-08-01&resource=r&client_id=x", 400);
        assert_eq!(
            refine(Diagnosis::IdentityNotFound, &named, &world),
            Diagnosis::IdentityNotFound,
            "a named identity the app lacks stays not-found"
        );
    }
}
