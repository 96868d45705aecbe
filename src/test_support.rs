//! Shared fixtures for unit tests: a small valid world and stand-ins serving it.

use std::path::Path;

use crate::scenario::Scenario;
use crate::world::World;

/// Ids of the test world.
pub const TENANT: &str = "tenant-0001";
pub const CLIENT_ID: &str = "client-0001";
pub const PRINCIPAL: &str = "principal-0001";
pub const POOL_ID: &str =
    "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.App/sessionPools/pool-1";
/// The line giving the app its system-assigned identity (remove it for an app without one).
pub const SYSTEM_ASSIGNED: &str =
    "system_assigned = { client_id = \"client-0001\", principal_id = \"principal-0001\" }";
/// A user-assigned identity the unit-test app can be given (`[[world.app.user_assigned]]`).
pub const USER_CLIENT_ID: &str = "user-client-0002";
pub const USER_PRINCIPAL: &str = "user-principal-0002";
pub const USER_ASSIGNED: &str = "[[world.app.user_assigned]]\nclient_id = \"user-client-0002\"\nprincipal_id = \"user-principal-0002\"\nresource_id = \"/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.ManagedIdentity/userAssignedIdentities/worker-id\"\n";

/// A scenario whose app has a system-assigned identity with Session Executor on the pool; `[world.app]`
/// is the last table before `[[world.role_assignments]]`, so an edit can append identities to it.
pub fn scenario(edit: impl FnOnce(String) -> String) -> Scenario {
    let source = format!(
        r#"
description = "unit-test world"
[world]
tenant_id = "{TENANT}"
[world.app]
resource_id = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.App/containerApps/app-1"
{SYSTEM_ASSIGNED}
[[world.role_assignments]]
principal_id = "{PRINCIPAL}"
role = "Azure ContainerApps Session Executor"
scope = "{POOL_ID}"
[world.pool]
name = "pool-1"
resource_id = "{POOL_ID}"
container_type = "CustomContainer"
target_port = 2000
[[world.applications]]
client_id = "app-0001"
principal_id = "app-principal-0001"
client_secret = "app-secret-value"
[[world.piston.programs]]
code = "print(42)"
stdout = "42\n"
[[steps]]
name = "runtimes"
request.runtimes = {{}}
"#
    );
    Scenario::parse(Path::new("unit.toml"), &edit(source)).expect("the unit-test scenario is valid")
}

/// The unit-test world, optionally edited as text first.
pub fn world(edit: impl FnOnce(String) -> String) -> World {
    scenario(edit).world
}
