//! The session pool (`Microsoft.App/sessionPools`), in ARM's vocabulary (FIDELITY §5, §7, §8).

use super::Scope;
use super::parts::SessionContainer;

/// `properties.containerType` of a session pool (DOC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerType {
    CustomContainer,
    PythonLts,
    NodeLts,
    Shell,
}

/// The session pool.
#[derive(Debug, Clone)]
pub struct Pool {
    pub name: String,
    pub resource_id: Scope,
    pub container_type: ContainerType,
    /// `customContainerTemplate.ingress.targetPort`; `None`: created without one (REP: 404).
    pub target_port: Option<u16>,
    /// `customContainerTemplate.containers[0].image`, when known.
    pub image: Option<String>,
    /// `customContainerTemplate.containers[0].env` as plain values, when known (secrets are not
    /// in `az` output).
    pub template_env: std::collections::BTreeMap<String, String>,
    /// `properties.poolManagementEndpoint` of the real pool, when known: the stand-in plays it.
    pub management_endpoint: Option<String>,
    pub max_concurrent_sessions: Option<u32>,
    pub busy_sessions: u32,
    pub cooldown: Option<std::time::Duration>,
    pub busy_until_refusals: Option<u32>,
    /// The pool's (possibly skewed) clock.
    pub clock: crate::tokens::Clock,
    /// How far past `exp` (and before `nbf`) the pool still accepts a token (assumed: 300 s, the
    /// usual default of Microsoft's token validation).
    pub token_clock_skew_secs: u64,
    pub container_starts: bool,
    /// The session container's program or image, when it is not the reference adapter.
    pub container: Option<SessionContainer>,
    /// The tenant whose tokens the pool accepts; `None`: the world's.
    pub tenant_id: Option<String>,
    /// The code-interpreter api-versions the region offers; `None`: every one modelled.
    pub api_versions: Option<Vec<String>>,
}

impl Pool {
    /// A custom-container pool with defaults for everything but its id and target port.
    pub fn new(resource_id: Scope, target_port: Option<u16>) -> Self {
        Self {
            name: resource_id.name().to_owned(),
            resource_id,
            container_type: ContainerType::CustomContainer,
            target_port,
            image: None,
            template_env: std::collections::BTreeMap::new(),
            management_endpoint: None,
            max_concurrent_sessions: None,
            busy_sessions: 0,
            cooldown: None,
            busy_until_refusals: None,
            clock: crate::tokens::Clock::default(),
            token_clock_skew_secs: crate::azure::CLOCK_SKEW_SECS,
            container_starts: true,
            container: None,
            tenant_id: None,
            api_versions: None,
        }
    }

    pub fn is_custom(&self) -> bool {
        self.container_type == ContainerType::CustomContainer
    }
}
