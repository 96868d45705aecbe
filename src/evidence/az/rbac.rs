//! `az role definition list --custom-role-only -o json` (custom role definitions) and
//! `az ad group member list --group <id> -o json` (a group's members), as typed models.
//!
//! Shapes (DOC, Azure CLI / Microsoft Graph): a definition is
//! `{id, name: <guid>, roleName, roleType, permissions: [{actions, notActions, dataActions,
//! notDataActions}], assignableScopes}`; a member is a Graph directory object
//! `{"@odata.type", id, displayName, appId?}` whose `id` is the object id role assignments name.

use serde::Deserialize;

use crate::world::RoleDefinition;

/// What the user runs to produce the definitions file.
pub const DEFINITIONS_COMMAND: &str = "az role definition list --custom-role-only -o json";

/// What the user runs to produce a group's member file.
pub const MEMBERS_COMMAND: &str = "az ad group member list --group <group object id> -o json";

/// One role definition as `az` prints it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawDefinition {
    /// The definition's GUID.
    pub name: String,
    pub role_name: String,
    #[serde(default)]
    pub permissions: Vec<RawPermission>,
}

/// One entry of `permissions`: the four lists Azure unions over (DOC).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawPermission {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub not_actions: Vec<String>,
    #[serde(default)]
    pub data_actions: Vec<String>,
    #[serde(default)]
    pub not_data_actions: Vec<String>,
}

impl RawDefinition {
    /// The world's definition: Azure evaluates the union of the permission entries (DOC).
    pub fn definition(&self) -> RoleDefinition {
        let all = |pick: fn(&RawPermission) -> &Vec<String>| {
            self.permissions.iter().flat_map(|p| pick(p).iter().cloned()).collect()
        };
        RoleDefinition {
            name: self.role_name.clone(),
            id: self.name.clone(),
            actions: all(|p| &p.actions),
            not_actions: all(|p| &p.not_actions),
            data_actions: all(|p| &p.data_actions),
            not_data_actions: all(|p| &p.not_data_actions),
        }
    }
}

/// A group member: only its object id matters.
#[derive(Debug, Clone, Deserialize)]
pub struct RawMember {
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definition_unions_its_permission_entries() {
        let text = r#"[{"name":"11111111-1111-1111-1111-111111111111","roleName":"Pool runner","roleType":"CustomRole",
            "permissions":[{"actions":[],"dataActions":["Microsoft.App/sessionPools/*/action"]},
                           {"notDataActions":["Microsoft.App/sessionPools/x/action"]}]}]"#;
        let raw: Vec<RawDefinition> = serde_json::from_str(text).unwrap();
        let definition = raw[0].definition();
        assert_eq!(definition.name, "Pool runner");
        assert_eq!(definition.data_actions, ["Microsoft.App/sessionPools/*/action"]);
        assert_eq!(definition.not_data_actions, ["Microsoft.App/sessionPools/x/action"]);
    }
}
