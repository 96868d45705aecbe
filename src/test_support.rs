//! Shared fixtures for unit tests: a small valid world and stand-ins serving it.

use std::path::Path;

use crate::scenario::Scenario;
use crate::world::World;

/// Ids of the test world.
pub const TENANT: &str = "tenant-0001";
pub const CLIENT_ID: &str = "client-0001";
pub const PRINCIPAL: &str = "principal-0001";
pub const POOL_ID: &str = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.App/sessionPools/pool-1";

/// A scenario whose world has an enabled system-assigned identity with Session Executor on the pool.
pub fn scenario(edit: impl FnOnce(String) -> String) -> Scenario {
    let source = format!(
        r#"
description = "unit-test world"
[world]
tenant_id = "{TENANT}"
[world.identity]
enabled = true
kind = "system-assigned"
client_id = "{CLIENT_ID}"
principal_id = "{PRINCIPAL}"
resource_id = "/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.App/containerApps/app-1"
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
