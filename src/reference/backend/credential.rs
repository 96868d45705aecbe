//! The backend's credential: chosen by environment as in a real deployment, refreshed on demand.
//!
//! `AZURE_TOKEN_CREDENTIALS` picks it, after the Azure SDKs' convention: unset, `prod` or
//! `ManagedIdentityCredential` -> `ManagedIdentityCredential` (Container Apps variables or IMDS);
//! `dev`, `AzureCliCredential` or `DeveloperToolsCredential` -> `DeveloperToolsCredential` (the `az`
//! CLI found on `PATH`); `ClientSecretCredential` or `EnvironmentCredential` -> `ClientSecretCredential`
//! from `AZURE_TENANT_ID`, `AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` (and `AZURE_AUTHORITY_HOST`, read
//! by the SDK); `WorkloadIdentityCredential` -> `WorkloadIdentityCredential` (`AZURE_FEDERATED_TOKEN_FILE`
//! exchanged at Entra). Tokens are cached by the SDK; [`Credential::refresh`] drops the cache.

use std::sync::{Arc, RwLock};

use azure_core::credentials::Secret;
use azure_core::credentials::TokenCredential;
use azure_core::http::policies::{RetryHeaders, RetryPolicy};
use azure_core::http::{RetryOptions, StatusCode, headers::HeaderName};
use azure_identity::{
    ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
    ManagedIdentityCredentialOptions, UserAssignedId, WorkloadIdentityCredential,
};

use super::BackendConfig;
use crate::reference::StartError;

/// Which kind of credential the backend uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialKind {
    ManagedIdentity,
    DeveloperTools,
    ClientSecret,
    WorkloadIdentity,
}

impl CredentialKind {
    /// The hop a token request of this credential goes to.
    pub fn hop(self) -> crate::transcript::Hop {
        match self {
            Self::ClientSecret | Self::WorkloadIdentity => crate::transcript::Hop::Entra,
            Self::ManagedIdentity | Self::DeveloperTools => crate::transcript::Hop::Identity,
        }
    }
}

impl CredentialKind {
    /// Read `AZURE_TOKEN_CREDENTIALS`.
    pub fn from_env() -> Result<Self, StartError> {
        match std::env::var("AZURE_TOKEN_CREDENTIALS").as_deref() {
            Err(_) | Ok("" | "prod" | "ManagedIdentityCredential") => Ok(Self::ManagedIdentity),
            Ok("dev" | "AzureCliCredential" | "DeveloperToolsCredential") => {
                Ok(Self::DeveloperTools)
            }
            Ok("ClientSecretCredential" | "EnvironmentCredential") => Ok(Self::ClientSecret),
            Ok("WorkloadIdentityCredential") => Ok(Self::WorkloadIdentity),
            Ok(other) => Err(StartError::InvalidVar {
                name: "AZURE_TOKEN_CREDENTIALS",
                value: other.to_owned(),
                hint: "prod or ManagedIdentityCredential (managed identity), dev or AzureCliCredential (developer tools), ClientSecretCredential, WorkloadIdentityCredential",
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
            let mut options = ManagedIdentityCredentialOptions {
                user_assigned_id: config.client_id.clone().map(UserAssignedId::ClientId),
                ..Default::default()
            };
            if let Some((max_retries, delay)) = config.identity_retry {
                options.client_options.retry =
                    RetryOptions::custom(Arc::new(SteadyRetry::new(max_retries, delay)));
            }
            ManagedIdentityCredential::new(Some(options))
                .map_err(|e| StartError::Credential(e.to_string()))?
        }
        CredentialKind::DeveloperTools => DeveloperToolsCredential::new(None)
            .map_err(|e| StartError::Credential(e.to_string()))?,
        CredentialKind::ClientSecret => {
            let var = |name: &'static str| {
                crate::reference::required_var(
                    name,
                    "ClientSecretCredential needs AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET",
                )
            };
            let (tenant, client_id, secret) =
                (var("AZURE_TENANT_ID")?, var("AZURE_CLIENT_ID")?, var("AZURE_CLIENT_SECRET")?);
            ClientSecretCredential::new(&tenant, client_id, Secret::new(secret), None)
                .map_err(|e| StartError::Credential(e.to_string()))?
        }
        // Reads AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE (and AZURE_AUTHORITY_HOST).
        CredentialKind::WorkloadIdentity => WorkloadIdentityCredential::new(None)
            .map_err(|e| StartError::Credential(e.to_string()))?,
    };
    Ok(credential)
}

/// Exponential retry without jitter, for `IDENTITY_MAX_RETRIES`/`IDENTITY_RETRY_DELAY_MS`.
///
/// SDK: the SDK's own policies add 0-255 ms of random jitter to every delay, so a scenario with
/// retries would take a different time on every run; with this policy the scenario picks the delays
/// exactly. `Retry-After` (and its millisecond forms) is still honoured, as by the SDK's policies.
#[derive(Debug)]
pub struct SteadyRetry {
    max_retries: u32,
    delay: azure_core::time::Duration,
    headers: RetryHeaders,
}

impl SteadyRetry {
    pub fn new(max_retries: u32, delay: std::time::Duration) -> Self {
        let delay = azure_core::time::Duration::milliseconds(
            i64::try_from(delay.as_millis()).unwrap_or(i64::MAX),
        );
        let names = ["retry-after-ms", "x-ms-retry-after-ms", "retry-after"];
        Self {
            max_retries,
            delay,
            headers: RetryHeaders {
                retry_headers: names.into_iter().map(HeaderName::from_static).collect(),
            },
        }
    }
}

impl RetryPolicy for SteadyRetry {
    fn is_expired(&self, _since_start: azure_core::time::Duration, retry_count: u32) -> bool {
        retry_count >= self.max_retries
    }

    fn retry_headers(&self) -> Option<&RetryHeaders> {
        Some(&self.headers)
    }

    fn retry_status_codes(&self) -> &[StatusCode] {
        &[] // the SDK's defaults: 408, 429, 500, 502, 503, 504
    }

    fn sleep_duration(&self, retry_count: u32) -> azure_core::time::Duration {
        // The delay comes from the environment: doubling it must not overflow.
        self.delay
            .checked_mul(2i32.saturating_pow(retry_count))
            .unwrap_or(azure_core::time::Duration::MAX)
    }
}
