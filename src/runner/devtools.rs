//! A fake Azure CLI on a scenario-controlled `PATH`, for backends using developer credentials.
//!
//! `missing`: `az` answers like a missing command (exit 127), so the SDK says "az not found on PATH"
//! and no real `az` later on `PATH` is used.
//! `not-logged-in`: `az` fails as the real one does before `az login`. `logged-in`: `az account
//! get-access-token` prints a JSON token shaped like Azure CLI 2.54+ (`accessToken`, `expires_on`),
//! minted by the harness for the signed-in user. The folder is removed when the run ends.

use std::path::PathBuf;

use crate::scenario::BackendSettings;
use crate::tokens::{self, TokenIssuer, TokenSubject};
use crate::world::AzCli;
use crate::world::World;

/// A tool that is "not installed": exit code 127 and the shell's message, exactly what `sh` does
/// for a missing command, so no real tool further along `PATH` is ever run.
const MISSING: &str = "#!/bin/sh\necho \"${0##*/}: not found\" >&2\nexit 127\n";

/// The Azure CLI's public client id (DOC: a well-known first-party application).
const AZURE_CLI_CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// A folder holding the fake tools; deleted on drop.
#[derive(Debug)]
pub struct FakeTools {
    dir: PathBuf,
}

impl FakeTools {
    /// Write the tools the world describes (`missing` when it describes none).
    pub fn install(world: &World, settings: &BackendSettings) -> std::io::Result<Self> {
        let dir =
            std::env::temp_dir().join(format!("session-pool-harness-tools-{}", crate::ids::guid()));
        std::fs::create_dir_all(&dir)?;
        let tools = Self { dir };
        let az = world.developer_tools.as_ref().map_or(AzCli::Missing, |t| t.az);
        // azd is not modelled: always "missing", like az below, so no real one on PATH is used.
        tools.write("azd", MISSING)?;
        let script = match az {
            AzCli::Missing => MISSING.to_owned(),
            AzCli::NotLoggedIn => {
                "#!/bin/sh\necho \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n"
                    .to_owned()
            }
            // Builtins only: PATH holds nothing but this folder. JSON never contains a single quote here.
            AzCli::LoggedIn => {
                format!("#!/bin/sh\nprintf '%s\\n' '{}'\n", token_json(world, settings))
            }
        };
        tools.write("az", &script)?;
        Ok(tools)
    }

    fn write(&self, name: &str, script: &str) -> std::io::Result<()> {
        let path = self.dir.join(name);
        std::fs::write(&path, script)?;
        make_executable(&path)
    }

    /// Write the federated token a workload-identity pod would have (AZURE_FEDERATED_TOKEN_FILE):
    /// a JWT from the app's federated issuer for `api://AzureADTokenExchange`, signed by the test key.
    pub fn write_federated_token(
        &self,
        world: &World,
        settings: &BackendSettings,
    ) -> std::io::Result<PathBuf> {
        let app = world.applications.iter().find(|a| a.federated.is_some());
        let (issuer, subject) = app
            .and_then(|a| a.federated.as_ref())
            .map_or(("https://oidc.invalid/", "none"), |f| (f.issuer.as_str(), f.subject.as_str()));
        let subject = settings.federated_token_subject.as_deref().unwrap_or(subject);
        let now = tokens::now_secs();
        // An expired projected token: issued two hours ago, valid for one.
        let issued = if settings.federated_token_expired { now - 7200 } else { now };
        let claims = serde_json::json!({
            "iss": issuer, "sub": subject, "aud": crate::standins::entra::TOKEN_EXCHANGE_AUDIENCE,
            "iat": issued, "nbf": issued, "exp": issued + 3600,
        });
        let path = self.dir.join("federated-token");
        std::fs::write(&path, TokenIssuer::test_key().mint(&claims))?;
        Ok(path)
    }

    /// The value of `PATH` for the backend.
    pub fn path(&self) -> String {
        self.dir.display().to_string()
    }
}

impl Drop for FakeTools {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn token_json(world: &World, settings: &BackendSettings) -> String {
    let user = world.developer_principal().unwrap_or("00000000-0000-0000-0000-000000000000");
    let subject = TokenSubject {
        tenant_id: &world.tenant_id,
        client_id: AZURE_CLI_CLIENT_ID,
        principal_id: user,
        resource_id: None,
        appidacr: "0",
    };
    let resource = settings.token_scope.trim_end_matches("/.default");
    let now = tokens::now_secs();
    let mut claims = tokens::access_token_claims(&subject, resource, now, 3600);
    claims["idtyp"] = "user".into();
    let token = TokenIssuer::test_key().mint(&claims);
    serde_json::json!({
        "accessToken": token,
        "expiresOn": "2099-01-01 00:00:00.000000",
        "expires_on": now + 3600,
        "subscription": world.pool.resource_id.segment("subscriptions").unwrap_or_default(),
        "tenant": world.tenant_id,
        "tokenType": "Bearer",
    })
    .to_string()
}

#[cfg(unix)]
fn make_executable(path: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

#[cfg(not(unix))]
fn make_executable(_: &std::path::Path) -> std::io::Result<()> {
    Ok(())
}
