//! Azure's constants, in one leaf module (it depends on nothing): the audiences, the role, API
//! versions, paths and limits that the stand-ins answer with, the reference system sends and
//! diagnosis names. Each carries its docs/fidelity.md source tag.

/// The audience session pools accept (§5, DOC).
pub const DYNAMIC_SESSIONS_AUDIENCE: &str = "https://dynamicsessions.io";
/// The scope a caller requests a pool token for (§5, DOC).
pub const DYNAMIC_SESSIONS_SCOPE: &str = "https://dynamicsessions.io/.default";
/// The built-in role a caller needs to execute code in a session pool (§5, DOC).
pub const SESSION_EXECUTOR_ROLE: &str = "Azure ContainerApps Session Executor";
/// Its role definition id (§5, DOC).
pub const SESSION_EXECUTOR_ROLE_ID: &str = "0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0";
/// The data action the role grants (§5, DOC).
pub const SESSION_EXECUTE_ACTION: &str = "Microsoft.App/sessionPools/interpreters/execute/action";

/// The app setting through which the Azure SDKs select a user-assigned identity (§7, DOC, SDK).
pub const AZURE_CLIENT_ID: &str = "AZURE_CLIENT_ID";

/// The Container Apps identity endpoint's API version (§1, DOC).
pub const IDENTITY_API_VERSION: &str = "2019-08-01";
/// The path of `IDENTITY_ENDPOINT` (Azure: `http://localhost:42356/msi/token`, §1, DOC).
pub const IDENTITY_PATH: &str = "/msi/token";
/// The IMDS token path (§2, DOC).
pub const IMDS_PATH: &str = "/metadata/identity/oauth2/token";
/// The IMDS address the SDKs use (§2, DOC).
pub const IMDS_HOST: &str = "169.254.169.254";
/// Lifetime of managed-identity tokens: about 24 h (§4, REP).
pub const TOKEN_LIFETIME_SECS: u64 = 86_400;
/// Clock skew resource servers tolerate on `exp` (assumed: the usual 5 minutes).
pub const CLOCK_SKEW_SECS: u64 = 300;

/// The code-interpreter `code/execute` API version (§5, DOC).
pub const CODE_EXECUTE_API_VERSION: &str = "2024-02-02-preview";
/// The code-interpreter `executions` API version (§5, DOC).
pub const EXECUTIONS_API_VERSION: &str = "2024-10-02-preview";
/// Output a code interpreter returns is cut here without notice (§5, REP).
pub const CODE_INTERPRETER_OUTPUT_LIMIT: usize = 4096;

/// Resources Entra knows in every tenant; anything else is AADSTS500011 (§3, DOC).
pub const KNOWN_RESOURCES: &[&str] = &[
    "https://dynamicsessions.io",
    "https://cognitiveservices.azure.com",
    "https://management.azure.com",
    "https://management.core.windows.net",
    "https://graph.microsoft.com",
    "https://vault.azure.net",
    "https://storage.azure.com",
    "https://database.windows.net",
];

/// The AADSTS500011 text when `resource` is not one Entra knows (§3, DOC).
pub fn unknown_resource(resource: &str, tenant_id: &str) -> Option<String> {
    let known =
        KNOWN_RESOURCES.iter().any(|k| k.eq_ignore_ascii_case(resource.trim_end_matches('/')));
    (!known).then(|| {
        format!(
            "AADSTS500011: The resource principal named {resource} was not found in the tenant named \
             {tenant_id}. This can happen if the application has not been installed by the \
             administrator of the tenant or consented to by any user in the tenant. You might have \
             sent your authentication request to the wrong tenant."
        )
    })
}
