//! The catalogue: every diagnosis id with its symptom, cause, source tag and generic fix.
//!
//! This is the one place ids are defined: each entry below is written once, and the enum, its
//! list ([`Diagnosis::ALL`]) and its descriptions are generated from it. The failure-mode table in
//! `docs/failure-modes.md` is generated in turn ([`markdown_table`]) and a test keeps it equal.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The fixed text of a diagnosis.
#[derive(Debug, Clone, Copy)]
pub struct Description {
    /// The id, as scenario files and reports write it (`missing-role`).
    pub id: &'static str,
    /// What the user sees: hop, status, body.
    pub symptom: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// Source kind (docs/fidelity.md) of the modelled behaviour (DOC, SDK, REP, assumed).
    pub source: &'static str,
    /// The fix with placeholders; a [`super::Finding`] fills them with the scenario's ids.
    pub fix: &'static str,
}

/// Generates [`Diagnosis`] (its serde id is the entry's id), [`Diagnosis::ALL`] in entry order,
/// and [`Diagnosis::describe`].
macro_rules! catalogue {
    ($($variant:ident { id: $id:literal, symptom: $symptom:literal, cause: $cause:literal, source: $source:literal, fix: $fix:literal $(,)? }),+ $(,)?) => {
        /// Everything the harness can name. Add an entry to the `catalogue!` below; nothing else
        /// holds ids.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
        #[non_exhaustive]
        pub enum Diagnosis {
            $(#[doc = concat!("`", $id, "` (its symptom, cause and fix: [`Diagnosis::describe`])")] #[serde(rename = $id)] $variant,)+
        }

        impl Diagnosis {
            /// Every diagnosis, in catalogue order.
            pub const ALL: &'static [Diagnosis] = &[$(Diagnosis::$variant),+];

            /// The catalogue entry.
            pub fn describe(self) -> Description {
                match self {
                    $(Diagnosis::$variant => Description { id: $id, symptom: $symptom, cause: $cause, source: $source, fix: $fix },)+
                }
            }
        }
    };
}

catalogue! {
    Ok {
        id: "ok",
        symptom: "every hop answered 2xx and every execution's output reached the client intact",
        cause: "nothing is wrong",
        source: "-",
        fix: "nothing to fix",
    },
    MissingRole {
        id: "missing-role",
        symptom: "pool answers 403",
        cause: "the caller's principal holds no \"Azure ContainerApps Session Executor\" role on the pool or an enclosing scope",
        source: "REP",
        fix: "az role assignment create --assignee <principal-id> --role \"Azure ContainerApps Session Executor\" --scope <pool resource id>",
    },
    RoleOnOtherIdentity {
        id: "role-on-other-identity",
        symptom: "pool answers 403 although the role assignment exists",
        cause: "the role is held by another identity of the same app than the one whose token was sent (typically: role on the user-assigned identity, no AZURE_CLIENT_ID, so the SDK asked for the system-assigned one)",
        source: "REP",
        fix: "set the app setting AZURE_CLIENT_ID=<client id of the identity holding the role> (or pass it as the credential's client-id option), or assign the role to the identity in use",
    },
    RolePropagationDelay {
        id: "role-propagation-delay",
        symptom: "pool answers 403, then 200 to the same principal a little later",
        cause: "a new role assignment takes 30-60 s to propagate",
        source: "DOC, REP",
        fix: "wait for propagation after assigning the role; retry 403 with backoff for about a minute after deployment",
    },
    // --- issue 19: RBAC as Azure evaluates it (begin) ---
    RoleLacksDataAction {
        id: "role-lacks-data-action",
        symptom: "pool answers 403 although a role assignment on the pool (or above it) exists",
        cause: "the assigned role grants no Microsoft.App/sessionPools/interpreters/execute/action data action: Owner, Contributor and Reader grant control-plane actions only, and a custom role may lack the data action or exclude it in notDataActions",
        source: "DOC",
        fix: "assign \"Azure ContainerApps Session Executor\" to the identity in use, or add Microsoft.App/sessionPools/interpreters/execute/action to the custom role's dataActions",
    },
    SdkIgnoresClientId {
        id: "sdk-ignores-client-id",
        symptom: "identity endpoint answers 400 \"Unable to load the proper Managed Identity.\" (or the pool 403) although AZURE_CLIENT_ID names the right identity",
        cause: "the backend's SDK ignores AZURE_CLIENT_ID: C++ DefaultAzureCredential asks for the identity without a selector (the maintainers will not change it)",
        source: "REP",
        fix: "give the client id in code: the credential's client-id option (C++: Azure::Identity::ManagedIdentityCredential(\"<client id>\") in place of DefaultAzureCredential)",
    },
    // --- issue 19 (end) ---
    WrongAudience {
        id: "wrong-audience",
        symptom: "pool answers 401 with an empty body and WWW-Authenticate",
        cause: "the token was minted for another resource; session pools accept only aud https://dynamicsessions.io",
        source: "REP",
        fix: "request the token for scope https://dynamicsessions.io/.default",
    },
    TokenExpired {
        id: "token-expired",
        symptom: "pool answers 401 with an empty body; the token's exp is in the past",
        cause: "the caller reused a token past its expiry (or its clock is wrong)",
        source: "REP (401), assumed (5 min skew)",
        fix: "let the SDK cache refresh tokens (it refreshes 5 min before expiry); on a 401, get a fresh token once and retry once",
    },
    NoAuthorizationHeader {
        id: "no-authorization-header",
        symptom: "pool answers 401 to a request without Authorization",
        cause: "the caller sent no bearer token",
        source: "REP (401), UNK (exact body)",
        fix: "send Authorization: Bearer <token for https://dynamicsessions.io/.default>",
    },
    MissingIdentifier {
        id: "missing-identifier",
        symptom: "pool answers 400 \"Missing required parameter 'identifier'\"",
        cause: "every call needs ?identifier=<4-128 chars>",
        source: "DOC (required), REP (text, weak)",
        fix: "append ?identifier=<session id> to every pool call",
    },
    NoTargetPort {
        id: "no-target-port",
        symptom: "pool answers 404 \"Not Found\"",
        cause: "the custom-container pool was created without an ingress target port, so nothing receives the request",
        source: "REP",
        fix: "az containerapp sessionpool update --name <pool> --resource-group <rg> --target-port <port>",
    },
    WrongEndpointShape {
        id: "wrong-endpoint-shape",
        symptom: "pool answers 400 DynamicApisNotAllowed",
        cause: "a custom-container pool was called through the regional code-interpreter endpoint form",
        source: "DOC, REP",
        fix: "use the pool's properties.poolManagementEndpoint (https://<pool>.<env>.<region>.azurecontainerapps.io)",
    },
    EndpointMismatch {
        id: "endpoint-mismatch",
        symptom: "the backend's pool endpoint setting is not the pool's poolManagementEndpoint (found by check)",
        cause: "the setting names another (or an old) pool than the one whose roles and port were checked",
        source: "DOC",
        fix: "set it to the pool's properties.poolManagementEndpoint (az containerapp sessionpool show --query properties.poolManagementEndpoint)",
    },
    PoolFull {
        id: "pool-full",
        symptom: "pool answers 429 \"Error happened when allocating pod for identifier <id> in pool <pool>\"",
        cause: "the pool is at maxConcurrentSessions; a new identifier must wait for a session to cool down",
        source: "REP (429; DOC says 404)",
        fix: "raise scaleConfiguration.maxConcurrentSessions, shorten cooldownPeriodInSeconds, or reuse identifiers",
    },
    ContainerNotReady {
        id: "container-not-ready",
        symptom: "pool answers 500 \"Error happened when allocating pod for identifier <id> in pool <pool>\"",
        cause: "the session container did not start or does not listen on the target port",
        source: "REP",
        fix: "make the container listen on 0.0.0.0:<targetPort> and start quickly; check its logs",
    },
    ContainerPathNotFound {
        id: "container-path-not-found",
        symptom: "the container answers 404 through the pool",
        cause: "the caller used a path the session container does not serve",
        source: "DOC (paths are forwarded as they are)",
        fix: "call {pool}/<language>/execute, the path your container serves",
    },
    ImageTagUppercase {
        id: "image-tag-uppercase",
        symptom: "creating or updating the pool fails with ImageManifestNotFound (found by check)",
        cause: "the resource provider lowercases image references, so a tag with uppercase letters names an image that does not exist",
        source: "REP",
        fix: "push the image under a lowercase tag and point the pool's customContainerTemplate at it",
    },
    IdentityNotEnabled {
        id: "identity-not-enabled",
        symptom: "no IDENTITY_ENDPOINT; the SDK falls back to IMDS, which answers 400 \"Identity not found\"",
        cause: "no managed identity is enabled on the backend's container app",
        source: "DOC (variables), REP (IMDS body), assumed (IMDS answering on Container Apps)",
        fix: "az containerapp identity assign --name <app> --resource-group <rg> --system-assigned (or --user-assigned <identity id>)",
    },
    IdentityNotSpecified {
        id: "identity-not-specified",
        symptom: "identity endpoint answers 400 \"Unable to load the proper Managed Identity.\" to a request that names no identity (IMDS: \"Multiple user assigned identities exist\")",
        cause: "the app has only user-assigned identities and the backend names none: without AZURE_CLIENT_ID the SDK asks for a system-assigned identity the app does not have",
        source: "REP",
        fix: "set the app setting AZURE_CLIENT_ID to the client id of the user-assigned identity that holds the role",
    },
    IdentityNotFound {
        id: "identity-not-found",
        symptom: "identity endpoint answers 400 \"Unable to load the proper Managed Identity.\" to a request that names an identity",
        cause: "the backend asks for a user-assigned identity (AZURE_CLIENT_ID) that is not assigned to the app",
        source: "REP",
        fix: "set AZURE_CLIENT_ID to an identity assigned to the app, or assign it: az containerapp identity assign --user-assigned <identity id>",
    },
    EmptyClientId {
        id: "empty-client-id",
        symptom: "AZURE_CLIENT_ID is set to an empty string: most SDKs then ask for the system-assigned identity; a client that sends client_id= gets 500 invalid_scope",
        cause: "a template or pipeline wrote the setting without a value",
        source: "REP (500 invalid_scope; exact body assumed), SDK (Python and Rust ignore an empty value)",
        fix: "set AZURE_CLIENT_ID to the client id of the identity that holds the role, or remove the setting to use the system-assigned identity",
    },
    IdentityHeaderMismatch {
        id: "identity-header-mismatch",
        symptom: "identity endpoint answers 403 with an empty body",
        cause: "X-IDENTITY-HEADER is missing or is not the IDENTITY_HEADER the platform set (e.g. a stale copy)",
        source: "REP",
        fix: "read IDENTITY_HEADER from the environment at run time and send it unchanged; do not cache or hard-code it",
    },
    IdentityEndpointUnavailable {
        id: "identity-endpoint-unavailable",
        symptom: "identity endpoint answers 429/5xx or does not answer",
        cause: "the identity endpoint is throttling, failing or unreachable; the SDK retries (82-100 s with defaults)",
        source: "DOC (transient codes), SDK (retry cost)",
        fix: "retry with backoff and a bound; cache tokens so that most requests need no identity call",
    },
    IdentityEgressBlocked {
        id: "identity-egress-blocked",
        symptom: "identity endpoint answers 500 \"An unexpected error occured while fetching the AAD Token\"",
        cause: "the platform's identity service needs outbound access (*.identity.azure.net, *.servicebus.windows.net) and the environment's network blocks it",
        source: "REP",
        fix: "allow outbound HTTPS from the Container Apps environment's subnet to *.identity.azure.net and *.servicebus.windows.net (NSG, firewall or route table)",
    },
    EntraInvalidClient {
        id: "entra-invalid-client",
        symptom: "Entra answers 401 invalid_client (AADSTS7000215, AADSTS700024) or 400 unauthorized_client (AADSTS700016)",
        cause: "the client secret, client id or client assertion is wrong, expired or from another tenant",
        source: "DOC",
        fix: "client secret: create a new one (az ad app credential reset --id <client-id>); workload identity: keep AZURE_FEDERATED_TOKEN_FILE fresh and match the federated credential's issuer and subject; check AZURE_TENANT_ID/AZURE_CLIENT_ID",
    },
    EntraUnknownResource {
        id: "entra-unknown-resource",
        symptom: "token request answered 400 invalid_resource AADSTS500011 (or invalid_scope AADSTS1002012)",
        cause: "the requested resource or scope does not exist in the tenant (typo, or missing /.default)",
        source: "DOC",
        fix: "request scope https://dynamicsessions.io/.default",
    },
    EntraTenantNotFound {
        id: "entra-tenant-not-found",
        symptom: "token request answered 400 invalid_request AADSTS90002 \"Tenant '<tenant>' not found\"",
        cause: "the tenant id (AZURE_TENANT_ID, the authority URL) names no directory in this cloud: a typo, another cloud, or a deleted tenant",
        source: "DOC (code), assumed (status)",
        fix: "set AZURE_TENANT_ID to your directory's id (az account show --query tenantId -o tsv) and use the authority of its cloud",
    },
    FederatedCredentialMismatch {
        id: "federated-credential-mismatch",
        symptom: "token request answered 400 AADSTS70021 \"No matching federated identity record found for presented assertion\"",
        cause: "the workload's token (issuer and subject, e.g. system:serviceaccount:<namespace>:<service account>) matches no federated credential of the app registration",
        source: "DOC (code), assumed (status)",
        fix: "az ad app federated-credential create --id <client-id> --parameters '{\"name\":\"<name>\",\"issuer\":\"<the cluster's OIDC issuer URL>\",\"subject\":\"system:serviceaccount:<namespace>:<service account>\",\"audiences\":[\"api://AzureADTokenExchange\"]}' (or correct the pod's service account and namespace)",
    },
    DeveloperLoginBlocked {
        id: "developer-login-blocked",
        symptom: "az login (or a developer credential) refused by Entra: AADSTS500571 (guest account disabled) or AADSTS53003 (blocked by Conditional Access)",
        cause: "the signed-in user may not get a token in that tenant: a disabled guest account, or a Conditional Access policy (device, location, MFA) refusing the sign-in",
        source: "REP",
        fix: "sign in to the tenant that holds your account: az login --tenant <tenant-id>; for AADSTS53003 satisfy the Conditional Access policy (compliant device or network, MFA) or ask the tenant's admin which policy refused it (Entra sign-in logs, the Correlation ID); automation should use a service principal or managed identity instead",
    },
    CredentialChainUnavailable {
        id: "credential-chain-unavailable",
        symptom: "no token request reaches any endpoint; the backend reports its credential unavailable",
        cause: "the developer-tool credential needs the az CLI, which is not on PATH (or not logged in)",
        source: "SDK",
        fix: "install the Azure CLI and run az login, or use a managed identity / workload identity in deployed code",
    },
    WrongTenant {
        id: "wrong-tenant",
        symptom: "pool answers 401 to a token of the right audience that was issued by another tenant (iss/tid)",
        cause: "the token comes from another directory than the pool's: the app's identity or app registration lives in one tenant and the pool in another",
        source: "REP (401), assumed (the pool checks the issuer's tenant)",
        fix: "get the token from the pool's tenant (an identity or app registration in it; AZURE_TENANT_ID=<pool's tenant> for a service principal), or move the pool to the caller's tenant",
    },
    ApiVersionMismatch {
        id: "api-version-mismatch",
        symptom: "a code-interpreter pool answers 400 SessionPropertiesMissing (a properties envelope on executions, or a flat body on code/execute) or refuses the api-version (InvalidApiVersion: not in this region yet)",
        cause: "the client's path or body shape belongs to another api-version than the one it sends, or the region does not offer that api-version yet",
        source: "REP (both directions, region lag), DOC (paths per api-version), assumed (codes of a refused api-version)",
        fix: "use one api-version's contract throughout: 2024-02-02-preview = POST code/execute with {\"properties\":{\"codeInputType\",\"executionType\",\"code\"}} answered by properties.status \"Success\"; 2024-10-02-preview and later = POST executions with a flat body answered by status \"Succeeded\" (Shell pools send shellCommand, uploads answer a $values list); where the region lacks the newer one, stay on the older",
    },
    SessionTypeNotInRegion {
        id: "session-type-not-in-region",
        symptom: "creating the session pool fails with SessionTypeNotSupportedInRegion",
        cause: "the region does not offer this pool type (properties.containerType) yet",
        source: "REP",
        fix: "create the pool in a region that offers the type: az containerapp sessionpool create --name <pool> --resource-group <rg> --location <a region listing it> --container-type <PythonLTS|NodeLTS|Shell|CustomContainer>, or choose a type the region has",
    },
    McpNotEnabled {
        id: "mcp-not-enabled",
        symptom: "the pool answers SessionMCPServerNotEnabled to an MCP call",
        cause: "the pool's MCP server is not enabled: MCP settings given to a custom-container pool are ignored (only platform-managed pools serve MCP)",
        source: "REP",
        fix: "enable the MCP server on a platform-managed pool (PythonLTS, NodeLTS or Shell; properties.mcpServerSettings) and call its MCP endpoint; a custom-container pool must serve MCP from its own container",
    },
    ContractMismatch {
        id: "contract-mismatch",
        symptom: "a hop answers 2xx with a body the caller cannot use (a field missing or of the wrong type)",
        cause: "the two sides of a hop disagree on the payload shape; a lenient caller returns empty output with exit code 0",
        source: "assumed",
        fix: "make both sides of the hop agree on the payload shape (the field is named in the transcript)",
    },
    OutputLost {
        id: "output-lost",
        symptom: "the execution engine produced output that did not reach the client as it was (missing, cut or changed), though the hops may all have answered",
        cause: "a hop between the engine and the client does not read or pass on the field its upstream answers (e.g. the container answers properties.stdout, the backend reads run.stdout)",
        source: "harness (data flow: Piston's or the code interpreter's answer against the client's)",
        fix: "make the hop named read the field its upstream answers, or its upstream answer the field it reads (both fields are named in the explanation)",
    },
    RuntimeUnknown {
        id: "runtime-unknown",
        symptom: "Piston answers 400 \"<language>-<version> runtime is unknown\"",
        cause: "the requested language or version range is not installed in the session container's Piston",
        source: "DOC (Piston)",
        fix: "ask GET /api/v2/runtimes and use a listed language and version (or range such as 3.10 or *)",
    },
    ExecutionTimeout {
        id: "execution-timeout",
        symptom: "Piston answers 200 with run.status \"TO\", signal SIGKILL, code null",
        cause: "the program ran past run_timeout and was killed",
        source: "DOC (Piston)",
        fix: "raise run_timeout (and the pool/backend timeouts above it) or fix the program",
    },
    BackendNotStarted {
        id: "backend-not-started",
        symptom: "the backend process did not start, did not become ready, or exited during the run",
        cause: "the program, its arguments or its environment are wrong, or it crashed (its last output is quoted)",
        source: "harness (process)",
        fix: "run the backend's command by hand with the same environment (session-pool-harness serve prints it) and read its output",
    },
    ContainerNotStarted {
        id: "container-not-started",
        symptom: "the session container's program did not start or did not become ready",
        cause: "the container program, its arguments or its environment are wrong, or it crashed (its last output is quoted)",
        source: "harness (process)",
        fix: "run the container's command by hand with PORT and PISTON_URL set and read its output",
    },
    HarnessError {
        id: "harness-error",
        symptom: "the run itself failed: the stand-ins could not start, a file could not be written, or the scenario's deadline was hit",
        cause: "something outside the world the scenario describes (the machine, the scenario's own bounds)",
        source: "harness",
        fix: "read the explanation; for a deadline, raise deadline_ms or bound the backend's timeouts ([backend] token_timeout_ms, pool_timeout_ms)",
    },
    Unexplained {
        id: "unexplained",
        symptom: "the backend failed but no stand-in refused anything it knows",
        cause: "the fault is inside the backend, or in a case the harness does not model yet",
        source: "-",
        fix: "read the backend's message and the transcript",
    },
}

impl Diagnosis {
    /// Found only by `check` in the user's configuration: no run shows them (Azure refuses the
    /// configuration before any request, or the backend calls somewhere the harness is not).
    pub const STATIC_ONLY: &'static [Diagnosis] =
        &[Diagnosis::EndpointMismatch, Diagnosis::ImageTagUppercase, Diagnosis::SdkIgnoresClientId];

    /// Seen only in what users paste: failures outside any request the harness serves (creating a
    /// pool, a developer's own sign-in, an MCP call). `explain` tests name each.
    pub const PASTED_ONLY: &'static [Diagnosis] = &[
        Diagnosis::SessionTypeNotInRegion,
        Diagnosis::McpNotEnabled,
        Diagnosis::DeveloperLoginBlocked,
    ];

    /// The stable kebab-case id.
    pub fn id(self) -> &'static str {
        self.describe().id
    }

    /// Parse an id (`missing-role`).
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|d| d.id() == id)
    }
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl Diagnosis {
    /// The failure-mode table (Markdown) of `docs/failure-modes.md`, generated from
    /// [`Diagnosis::ALL`].
    ///
    /// ```
    /// let table = session_pool_harness::Diagnosis::markdown_table();
    /// assert!(table.lines().any(|row| row.starts_with("| `missing-role` |")));
    /// ```
    pub fn markdown_table() -> String {
        let mut table =
            String::from("| id | symptom | cause | source | fix |\n|---|---|---|---|---|\n");
        for d in Diagnosis::ALL {
            let x = d.describe();
            let cell = |s: &str| s.replace('|', "\\|");
            table.push_str(&format!(
                "| `{}` | {} | {} | {} | {} |\n",
                x.id,
                cell(x.symptom),
                cell(x.cause),
                x.source,
                cell(x.fix)
            ));
        }
        table
    }
}
