//! Causes that share one wire answer, told apart by the world (FIDELITY §7): which identities the
//! app has, which of them holds the role, and what its `AZURE_CLIENT_ID` setting says.
//!
//! "Unable to load the proper Managed Identity." is the answer both to a request naming no identity
//! on an app with only user-assigned ones and to one naming an identity the app lacks; a 403 from
//! the pool is the answer both when no identity of the app holds the role and when another one does.

use super::Diagnosis;
use crate::transcript::{Exchange, Hop};
use crate::world::{Selector, SettingValue, World};

/// The diagnosis of `exchange`, refined with what the world knows.
pub fn refine(diagnosis: Diagnosis, exchange: &Exchange, world: &World) -> Diagnosis {
    let empty_setting = matches!(world.app.client_id_setting(), Some(SettingValue::Plain(v)) if v.is_empty());
    match (exchange.to, diagnosis) {
        (Hop::Identity, d) if d != Diagnosis::Ok && selector(exchange) == Selector::ClientId("") => Diagnosis::EmptyClientId,
        (Hop::Identity, Diagnosis::IdentityNotFound | Diagnosis::IdentityNotSpecified) if selector(exchange) == Selector::None && world.app.system_assigned.is_none() => {
            if empty_setting { Diagnosis::EmptyClientId } else { Diagnosis::IdentityNotSpecified }
        }
        (Hop::Pool, Diagnosis::MissingRole) if held_by_another_identity(exchange, world) => {
            if empty_setting { Diagnosis::EmptyClientId } else { Diagnosis::RoleOnOtherIdentity }
        }
        (_, d) => d,
    }
}

fn selector(exchange: &Exchange) -> Selector<'_> {
    Selector::from_query(|k| exchange.query_param(k))
}

/// The token came from one identity of the app and another one holds the role on the pool.
fn held_by_another_identity(exchange: &Exchange, world: &World) -> bool {
    let Some(oid) = exchange.bearer_claims().and_then(|c| c["oid"].as_str()) else { return false };
    world.app.identity_with_principal(oid).is_some() && world.executor_identities().any(|i| !i.principal_id.eq_ignore_ascii_case(oid))
}
