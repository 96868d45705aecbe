//! The backend's credential: chosen by environment as in a real deployment, refreshed on demand.
//!
//! `AZURE_TOKEN_CREDENTIALS` picks it, after the Azure SDKs' convention: unset, `prod` or
//! `ManagedIdentityCredential` -> `ManagedIdentityCredential` (Container Apps variables or IMDS);
//! `dev`, `AzureCliCredential` or `DeveloperToolsCredential` -> `DeveloperToolsCredential` (the `az`
//! CLI found on `PATH`). Tokens are cached by the SDK; [`Credential::refresh`] drops the cache.

use std::sync::{Arc, RwLock};

use azure_core::credentials::TokenCredential;
use azure_core::http::{ExponentialRetryOptions, RetryOptions};
use azure_identity::{DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};

use super::BackendConfig;
use crate::reference::StartError;

/// Which kind of credential the backend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ManagedIdentity,
    DeveloperTools,
}

impl CredentialKind {
    /// Read `AZURE_TOKEN_CREDENTIALS`.
    pub fn from_env() -> Result<Self, StartError> {
        match std::env::var("AZURE_TOKEN_CREDENTIALS").as_deref() {
            Err(_) | Ok("" | "prod" | "ManagedIdentityCredential") => Ok(Self::ManagedIdentity),
            Ok("dev" | "AzureCliCredential" | "DeveloperToolsCredential") => Ok(Self::DeveloperTools),
            Ok(other) => Err(StartError::InvalidVar {
                name: "AZURE_TOKEN_CREDENTIALS",
                value: other.to_owned(),
                hint: "prod or ManagedIdentityCredential (managed identity), dev or AzureCliCredential (developer tools)",
            }),
        }
    }
}

/// The current credential instance; replaced (with an empty cache) by [`Credential::refresh`].
#[derive(Debug)]
pub struct Credential {
    config: BackendConfig,
    current: RwLock<Arc<dyn TokenCredential>>,
}

impl Credential {
    pub fn new(config: &BackendConfig) -> Result<Self, StartError> {
        let first = build(config)?;
        Ok(Self { config: config.clone(), current: RwLock::new(first) })
    }

    /// Use an existing credential (tests).
    pub fn from_instance(config: &BackendConfig, credential: Arc<dyn TokenCredential>) -> Self {
        Self { config: config.clone(), current: RwLock::new(credential) }
    }

    /// The credential to ask now.
    pub fn get(&self) -> Arc<dyn TokenCredential> {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Forget cached tokens: the next token comes from the identity endpoint.
    pub fn refresh(&self) {
        if let Ok(fresh) = build(&self.config) {
            *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        }
    }
}

fn build(config: &BackendConfig) -> Result<Arc<dyn TokenCredential>, StartError> {
    let credential: Arc<dyn TokenCredential> = match config.credential {
        CredentialKind::ManagedIdentity => {
            let mut options = ManagedIdentityCredentialOptions { user_assigned_id: config.client_id.clone().map(UserAssignedId::ClientId), ..Default::default() };
            if let Some((max_retries, delay)) = config.identity_retry {
                let initial_delay = azure_core::time::Duration::milliseconds(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
                options.client_options.retry = RetryOptions::exponential(ExponentialRetryOptions { max_retries, initial_delay, ..Default::default() });
            }
            ManagedIdentityCredential::new(Some(options)).map_err(|e| StartError::Credential(e.to_string()))?
        }
        CredentialKind::DeveloperTools => DeveloperToolsCredential::new(None).map_err(|e| StartError::Credential(e.to_string()))?,
    };
    Ok(credential)
}
