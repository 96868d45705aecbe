//! `az containerapp sessionpool show -o json`: type, endpoint, target port, image, scale, cooldown.

use serde::Deserialize;

use crate::scenario::format::ContainerType;

/// What the user runs to produce this file.
pub const COMMAND: &str =
    "az containerapp sessionpool show --name <pool> --resource-group <rg> -o json";

/// A session pool, as much of it as the harness reads.
#[derive(Debug, Clone, Deserialize)]
pub struct SessionPool {
    pub id: String,
    pub name: String,
    pub properties: PoolProperties,
}

/// `properties` (FIDELITY §5, §7).
#[derive(Debug, Clone, Deserialize)]
pub struct PoolProperties {
    /// ARM's spelling, the same as the scenario format's.
    #[serde(rename = "containerType")]
    pub container_type: ContainerType,
    #[serde(rename = "poolManagementEndpoint", default)]
    pub pool_management_endpoint: Option<String>,
    #[serde(rename = "customContainerTemplate", default)]
    pub custom_container_template: Option<CustomContainerTemplate>,
    #[serde(rename = "scaleConfiguration", default)]
    pub scale_configuration: Option<ScaleConfiguration>,
    #[serde(rename = "dynamicPoolConfiguration", default)]
    pub dynamic_pool_configuration: Option<DynamicPoolConfiguration>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CustomContainerTemplate {
    #[serde(default)]
    pub containers: Option<Vec<PoolContainer>>,
    /// Absent or `{"targetPort": null}` when the pool was created without a port (REP: 404).
    #[serde(default)]
    pub ingress: Option<Ingress>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PoolContainer {
    pub image: String,
    /// The template's environment: `{name, value}` or `{name, secretRef}`.
    #[serde(default)]
    pub env: Option<Vec<super::app::EnvVar>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Ingress {
    #[serde(rename = "targetPort", default)]
    pub target_port: Option<u16>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ScaleConfiguration {
    #[serde(rename = "maxConcurrentSessions", default)]
    pub max_concurrent_sessions: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DynamicPoolConfiguration {
    #[serde(rename = "lifecycleConfiguration", default)]
    pub lifecycle_configuration: Option<LifecycleConfiguration>,
    /// Older API versions put it here.
    #[serde(rename = "cooldownPeriodInSeconds", default)]
    pub cooldown_period_in_seconds: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LifecycleConfiguration {
    #[serde(rename = "cooldownPeriodInSeconds", default)]
    pub cooldown_period_in_seconds: Option<u64>,
}

impl SessionPool {
    pub fn target_port(&self) -> Option<u16> {
        self.properties.custom_container_template.as_ref()?.ingress.as_ref()?.target_port
    }

    pub fn image(&self) -> Option<&str> {
        self.properties
            .custom_container_template
            .as_ref()?
            .containers
            .as_ref()?
            .first()
            .map(|c| c.image.as_str())
    }

    /// The plain values of the template container's environment (a `secretRef` has no value in
    /// `az` output).
    pub fn template_env(&self) -> std::collections::BTreeMap<String, String> {
        let containers =
            self.properties.custom_container_template.as_ref().and_then(|t| t.containers.as_ref());
        let env =
            containers.and_then(|c| c.first()).and_then(|c| c.env.as_deref()).unwrap_or_default();
        env.iter().filter_map(|v| Some((v.name.clone(), v.value.clone()?))).collect()
    }

    pub fn cooldown_secs(&self) -> Option<u64> {
        let dynamic = self.properties.dynamic_pool_configuration.as_ref()?;
        dynamic
            .lifecycle_configuration
            .as_ref()
            .and_then(|l| l.cooldown_period_in_seconds)
            .or(dynamic.cooldown_period_in_seconds)
    }

    pub fn max_concurrent_sessions(&self) -> Option<u32> {
        self.properties.scale_configuration.as_ref()?.max_concurrent_sessions
    }
}
