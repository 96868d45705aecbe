//! The environment the stand-ins give the processes under test: the platform's variables and the
//! app's settings, pointed at the stand-ins, with the redirections that keep every request on the
//! machine; what a team's image gets of it.

#[allow(unused_imports)]
use super::*;

impl StandIns {
    /// The environment of the session container (the adapter): where Piston lives, and the same
    /// egress trap as the backend so that nothing it sends can leave the machine.
    pub(crate) fn container_env(&self) -> Vec<(String, String)> {
        let mut env =
            vec![("PISTON_URL".to_owned(), self.closed_if_refused(Hop::Piston, self.piston_url()))];
        env.extend(self.egress_trap());
        env
    }

    /// `HTTP(S)_PROXY` pointing at the identity stand-in, `NO_PROXY` for loopback: every request to a
    /// non-loopback host reaches the stand-in, which answers IMDS and refuses the rest.
    fn egress_trap(&self) -> Vec<(String, String)> {
        vec![
            ("HTTP_PROXY".into(), self.imds_authority()),
            ("HTTPS_PROXY".into(), self.imds_authority()),
            ("NO_PROXY".into(), "127.0.0.1,localhost,::1".into()),
        ]
    }

    /// The environment a backend on Azure Container Apps would get in this world, pointed at the
    /// stand-ins, with the reference backend's own settings at their defaults (see
    /// [`StandIns::backend_env_for`]). Give it to your backend with `Command::env_clear().envs(…)`.
    pub fn backend_env(&self) -> Vec<(String, String)> {
        self.backend_env_with(&crate::scenario::BackendSettings::default())
    }

    /// The environment of [`StandIns::backend_env`], with the `[backend]` settings of `scenario`.
    pub fn backend_env_for(&self, scenario: &crate::Scenario) -> Vec<(String, String)> {
        self.backend_env_with(&scenario.backend)
    }

    /// The environment a backend on Azure Container Apps would get, pointed at the stand-ins.
    ///
    /// Identity variables are present only when the app has an identity (FIDELITY §1, §7); the
    /// app's settings follow as the team wrote them, and nothing else of the user's (no
    /// `AZURE_CLIENT_ID` unless the app sets it).
    /// `HTTP_PROXY` sends every non-loopback HTTP request (IMDS included) to the identity stand-in,
    /// which answers IMDS and refuses everything else; `NO_PROXY` keeps loopback direct.
    /// `AZURE_POD_IDENTITY_AUTHORITY_HOST` also points Python's IMDS client at the stand-in, as the
    /// project requires of every scenario. Its side effect (SDK: azure-identity 1.27
    /// `_credentials/imds.py`): Python then skips the header-less IMDS probe it sends on Azure, so
    /// transcripts of Python backends without identity variables show one IMDS request, not two.
    pub(crate) fn backend_env_with(&self, settings: &BackendSettings) -> Vec<(String, String)> {
        let endpoint = match settings.endpoint_shape {
            EndpointShape::Custom => self.pool_endpoint(),
            EndpointShape::Regional => self.regional_pool_endpoint(),
        };
        let mut env: Vec<(String, String)> = vec![
            ("SESSION_POOL_ENDPOINT".into(), self.closed_if_refused(Hop::Pool, endpoint)),
            ("SESSION_POOL_TOKEN_SCOPE".into(), settings.token_scope.clone()),
            ("SESSION_POOL_IDENTIFIER".into(), settings.identifier.clone()),
            ("SESSION_POOL_TIMEOUT_MS".into(), settings.pool_timeout_ms.to_string()),
            ("TOKEN_TIMEOUT_MS".into(), settings.token_timeout_ms.to_string()),
            ("SESSION_POOL_MAX_RETRIES".into(), settings.pool_max_retries.to_string()),
            ("SESSION_POOL_RETRY_DELAY_MS".into(), settings.pool_retry_delay_ms.to_string()),
            ("AZURE_POD_IDENTITY_AUTHORITY_HOST".into(), self.imds_authority()),
            // Any Entra call goes to the stand-in, whose certificate the test CA makes trusted.
            ("AZURE_AUTHORITY_HOST".into(), self.entra_authority()),
            ("SSL_CERT_FILE".into(), self.ca_file().display().to_string()),
            ("REQUESTS_CA_BUNDLE".into(), self.ca_file().display().to_string()),
        ];
        env.extend(self.egress_trap());
        if self.world.app.has_identity()
            && self.world.identity_endpoint.protocol == IdentityProtocol::ContainerApps
        {
            let header =
                settings.identity_header.clone().unwrap_or_else(|| self.identity_header.clone());
            env.push((
                "IDENTITY_ENDPOINT".into(),
                self.closed_if_refused(Hop::Identity, self.identity_endpoint()),
            ));
            env.push(("IDENTITY_HEADER".into(), header));
            env.push(("MSI_ENDPOINT".into(), self.identity_endpoint()));
        }
        if !settings.send_token {
            env.push(("SESSION_POOL_AUTH".into(), "none".into()));
        }
        if let Some(path) = &settings.execute_path {
            env.push(("SESSION_POOL_EXECUTE_PATH".into(), path.clone()));
        }
        env.push(("SESSION_POOL_API".into(), settings.pool_api.env_value().into()));
        if settings.credential == CredentialChoice::DeveloperTools {
            env.push(("AZURE_TOKEN_CREDENTIALS".into(), "dev".into()));
        }
        if let Some(retries) = settings.identity_max_retries {
            env.push(("IDENTITY_MAX_RETRIES".into(), retries.to_string()));
        }
        if let Some(delay) = settings.identity_retry_delay_ms {
            env.push(("IDENTITY_RETRY_DELAY_MS".into(), delay.to_string()));
        }
        let app_settings = self.app_settings();
        if matches!(
            settings.credential,
            CredentialChoice::ClientSecret | CredentialChoice::WorkloadIdentity
        ) {
            // A service principal's credentials (not a managed identity): the app registration's
            // ids unless the app's settings say otherwise.
            let app = self.world.applications.first();
            let client_id = app_settings
                .iter()
                .find(|(k, _)| k == crate::azure::AZURE_CLIENT_ID)
                .map(|(_, v)| v.clone());
            let client_id =
                client_id.or_else(|| app.map(|a| a.client_id.clone())).unwrap_or_default();
            let tenant = settings.tenant_id.clone().unwrap_or_else(|| self.world.tenant_id.clone());
            env.push(("AZURE_TENANT_ID".into(), tenant));
            env.push(("AZURE_CLIENT_ID".into(), client_id));
            if settings.credential == CredentialChoice::ClientSecret {
                let secret = settings
                    .client_secret
                    .clone()
                    .or_else(|| app.and_then(|a| a.client_secret.clone()))
                    .unwrap_or_default();
                env.push(("AZURE_TOKEN_CREDENTIALS".into(), "ClientSecretCredential".into()));
                env.push(("AZURE_CLIENT_SECRET".into(), secret));
            } else {
                // AZURE_FEDERATED_TOKEN_FILE is added by the runner, which writes the token file.
                env.push(("AZURE_TOKEN_CREDENTIALS".into(), "WorkloadIdentityCredential".into()));
            }
        }
        for (name, value) in app_settings {
            if !env.iter().any(|(k, _)| *k == name) {
                env.push((name, value));
            }
        }
        env
    }
}

/// The reference backend's own settings (its configuration, not Azure's): a team's image gets none
/// of them unless the app's settings name them.
const REFERENCE_SETTINGS: &[&str] = &[
    "SESSION_POOL_ENDPOINT",
    "SESSION_POOL_TOKEN_SCOPE",
    "SESSION_POOL_IDENTIFIER",
    "SESSION_POOL_TIMEOUT_MS",
    "TOKEN_TIMEOUT_MS",
    "SESSION_POOL_MAX_RETRIES",
    "SESSION_POOL_RETRY_DELAY_MS",
    "SESSION_POOL_AUTH",
    "SESSION_POOL_EXECUTE_PATH",
    "SESSION_POOL_API",
    "IDENTITY_MAX_RETRIES",
    "IDENTITY_RETRY_DELAY_MS",
];

impl StandIns {
    /// What a team's backend image gets: the platform's identity variables, the app's settings,
    /// the credential variables its `[backend]` names, and the redirections that point Azure's
    /// addresses at the stand-ins (the test CA, the proxy trap); none of the reference backend's
    /// own settings.
    pub(crate) fn platform_env(&self, settings: &BackendSettings) -> Vec<(String, String)> {
        let app = self.app_settings();
        let mut env: Vec<(String, String)> = self
            .backend_env_with(settings)
            .into_iter()
            .filter(|(k, _)| !REFERENCE_SETTINGS.contains(&k.as_str()))
            .collect();
        for (name, value) in app {
            if REFERENCE_SETTINGS.contains(&name.as_str()) {
                env.push((name, value));
            }
        }
        env
    }
}
