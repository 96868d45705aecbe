//! `az containerapp show -o json`: the app's id, its identities and its containers' environment.

use std::collections::BTreeMap;

use serde::Deserialize;

/// What the user runs to produce this file.
pub const COMMAND: &str = "az containerapp show --name <app> --resource-group <rg> -o json";

/// A container app, as much of it as the harness reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ContainerApp {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub identity: Option<IdentityBlock>,
    pub properties: AppProperties,
}

/// `identity`: the system-assigned identity's ids and the user-assigned identities (DOC).
#[derive(Debug, Clone, Deserialize)]
pub struct IdentityBlock {
    #[serde(rename = "type")]
    pub kind: IdentityType,
    #[serde(rename = "principalId", default)]
    pub principal_id: Option<String>,
    #[serde(rename = "tenantId", default)]
    pub tenant_id: Option<String>,
    /// Resource id → ids. `null` when there are none.
    #[serde(rename = "userAssignedIdentities", default)]
    pub user_assigned: Option<BTreeMap<String, UserAssignedEntry>>,
}

/// One user-assigned identity's ids (some tools capitalise the keys: FIDELITY §7).
#[derive(Debug, Clone, Deserialize)]
pub struct UserAssignedEntry {
    #[serde(rename = "principalId", alias = "PrincipalId")]
    pub principal_id: String,
    #[serde(rename = "clientId", alias = "ClientId")]
    pub client_id: String,
}

/// `identity.type`: `None`, `SystemAssigned`, `UserAssigned` or both, in any case and spacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdentityType {
    pub system_assigned: bool,
    pub user_assigned: bool,
}

impl<'de> Deserialize<'de> for IdentityType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let mut kind = IdentityType { system_assigned: false, user_assigned: false };
        for part in text.split(',').map(|p| p.trim().to_ascii_lowercase()) {
            match part.as_str() {
                "systemassigned" => kind.system_assigned = true,
                "userassigned" => kind.user_assigned = true,
                "none" | "" => {}
                _ => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown identity type '{text}': expected None, SystemAssigned, UserAssigned or SystemAssigned,UserAssigned"
                    )));
                }
            }
        }
        Ok(kind)
    }
}

/// `properties`: the template, and the ingress of the configuration.
#[derive(Debug, Clone, Deserialize)]
pub struct AppProperties {
    pub template: Template,
    #[serde(default)]
    pub configuration: Option<Configuration>,
}

/// `properties.configuration`: only the ingress is read.
#[derive(Debug, Clone, Deserialize)]
pub struct Configuration {
    #[serde(default)]
    pub ingress: Option<AppIngress>,
}

/// `properties.configuration.ingress`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppIngress {
    /// Where the app's image listens.
    #[serde(default)]
    pub target_port: Option<u16>,
}

/// `properties.template`.
#[derive(Debug, Clone, Deserialize)]
pub struct Template {
    #[serde(default)]
    pub containers: Option<Vec<Container>>,
}

/// One container of the app's template.
#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    pub name: String,
    /// The image the container runs.
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub env: Option<Vec<EnvVar>>,
}

/// `{name, value}` or `{name, secretRef}`: `az containerapp show` never prints a secret's value.
#[derive(Debug, Clone, Deserialize)]
pub struct EnvVar {
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(rename = "secretRef", default)]
    pub secret_ref: Option<String>,
}

impl ContainerApp {
    /// The containers of the template (none when the template lists none).
    pub fn containers(&self) -> &[Container] {
        self.properties.template.containers.as_deref().unwrap_or_default()
    }
}
