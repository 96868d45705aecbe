//! The catalogue: every diagnosis id with its symptom, cause, source tag and generic fix.
//!
//! This is the one place ids are defined. The README table and `docs/failure-modes.md` are
//! generated from it ([`markdown_table`]) and tests keep them equal.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Everything the harness can name. Add a variant here, in [`Diagnosis::ALL`] and in
/// [`Diagnosis::describe`]; nothing else holds ids.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Diagnosis {
    Ok,
    MissingRole,
    RoleOnOtherIdentity,
    RolePropagationDelay,
    WrongAudience,
    TokenExpired,
    NoAuthorizationHeader,
    MissingIdentifier,
    NoTargetPort,
    WrongEndpointShape,
    EndpointMismatch,
    PoolFull,
    ContainerNotReady,
    ContainerPathNotFound,
    ImageTagUppercase,
    IdentityNotEnabled,
    IdentityNotSpecified,
    IdentityNotFound,
    EmptyClientId,
    IdentityHeaderMismatch,
    IdentityEndpointUnavailable,
    IdentityEgressBlocked,
    EntraInvalidClient,
    EntraUnknownResource,
    CredentialChainUnavailable,
    ContractMismatch,
    OutputLost,
    RuntimeUnknown,
    ExecutionTimeout,
    BackendNotStarted,
    ContainerNotStarted,
    HarnessError,
    Unexplained,
}

/// The fixed text of a diagnosis.
#[derive(Debug, Clone, Copy)]
pub struct Description {
    pub id: &'static str,
    /// What the user sees: hop, status, body.
    pub symptom: &'static str,
    /// Why it happens.
    pub cause: &'static str,
    /// FIDELITY.md source kind of the modelled behaviour (DOC, SDK, REP, assumed).
    pub source: &'static str,
    /// The fix with placeholders; a [`super::Finding`] fills them with the scenario's ids.
    pub fix: &'static str,
}

impl Diagnosis {
    pub const ALL: &'static [Diagnosis] = &[
        Diagnosis::Ok,
        Diagnosis::MissingRole,
        Diagnosis::RoleOnOtherIdentity,
        Diagnosis::RolePropagationDelay,
        Diagnosis::WrongAudience,
        Diagnosis::TokenExpired,
        Diagnosis::NoAuthorizationHeader,
        Diagnosis::MissingIdentifier,
        Diagnosis::NoTargetPort,
        Diagnosis::WrongEndpointShape,
        Diagnosis::EndpointMismatch,
        Diagnosis::PoolFull,
        Diagnosis::ContainerNotReady,
        Diagnosis::ContainerPathNotFound,
        Diagnosis::ImageTagUppercase,
        Diagnosis::IdentityNotEnabled,
        Diagnosis::IdentityNotSpecified,
        Diagnosis::IdentityNotFound,
        Diagnosis::EmptyClientId,
        Diagnosis::IdentityHeaderMismatch,
        Diagnosis::IdentityEndpointUnavailable,
        Diagnosis::IdentityEgressBlocked,
        Diagnosis::EntraInvalidClient,
        Diagnosis::EntraUnknownResource,
        Diagnosis::CredentialChainUnavailable,
        Diagnosis::ContractMismatch,
        Diagnosis::OutputLost,
        Diagnosis::RuntimeUnknown,
        Diagnosis::ExecutionTimeout,
        Diagnosis::BackendNotStarted,
        Diagnosis::ContainerNotStarted,
        Diagnosis::HarnessError,
        Diagnosis::Unexplained,
    ];

    /// Found only by `check` in the user's configuration: no run shows them (Azure refuses the
    /// configuration before any request, or the backend calls somewhere the harness is not).
    pub const STATIC_ONLY: &'static [Diagnosis] =
        &[Diagnosis::EndpointMismatch, Diagnosis::ImageTagUppercase];

    /// The stable kebab-case id.
    pub fn id(self) -> &'static str {
        self.describe().id
    }

    /// The catalogue entry.
    pub fn describe(self) -> Description {
        let d = |id, symptom, cause, source, fix| Description { id, symptom, cause, source, fix };
        match self {
            Diagnosis::Ok => d(
                "ok",
                "every hop answered 2xx and every execution's output reached the client intact",
                "nothing is wrong",
                "-",
                "nothing to fix",
            ),
            Diagnosis::MissingRole => d(
                "missing-role",
                "pool answers 403",
                "the caller's principal holds no \"Azure ContainerApps Session Executor\" role on the pool or an enclosing scope",
                "REP",
                "az role assignment create --assignee <principal-id> --role \"Azure ContainerApps Session Executor\" --scope <pool resource id>",
            ),
            Diagnosis::RoleOnOtherIdentity => d(
                "role-on-other-identity",
                "pool answers 403 although the role assignment exists",
                "the role is held by another identity of the same app than the one whose token was sent (typically: role on the user-assigned identity, no AZURE_CLIENT_ID, so the SDK asked for the system-assigned one)",
                "REP",
                "set the app setting AZURE_CLIENT_ID=<client id of the identity holding the role> (or pass it as the credential's client-id option), or assign the role to the identity in use",
            ),
            Diagnosis::RolePropagationDelay => d(
                "role-propagation-delay",
                "pool answers 403, then 200 to the same principal a little later",
                "a new role assignment takes 30-60 s to propagate",
                "DOC, REP",
                "wait for propagation after assigning the role; retry 403 with backoff for about a minute after deployment",
            ),
            Diagnosis::WrongAudience => d(
                "wrong-audience",
                "pool answers 401 with an empty body and WWW-Authenticate",
                "the token was minted for another resource; session pools accept only aud https://dynamicsessions.io",
                "REP",
                "request the token for scope https://dynamicsessions.io/.default",
            ),
            Diagnosis::TokenExpired => d(
                "token-expired",
                "pool answers 401 with an empty body; the token's exp is in the past",
                "the caller reused a token past its expiry (or its clock is wrong)",
                "REP (401), assumed (5 min skew)",
                "let the SDK cache refresh tokens (it refreshes 5 min before expiry); on a 401, get a fresh token once and retry once",
            ),
            Diagnosis::NoAuthorizationHeader => d(
                "no-authorization-header",
                "pool answers 401 to a request without Authorization",
                "the caller sent no bearer token",
                "REP (401), UNK (exact body)",
                "send Authorization: Bearer <token for https://dynamicsessions.io/.default>",
            ),
            Diagnosis::MissingIdentifier => d(
                "missing-identifier",
                "pool answers 400 \"Missing required parameter 'identifier'\"",
                "every call needs ?identifier=<4-128 chars>",
                "DOC (required), REP (text, weak)",
                "append ?identifier=<session id> to every pool call",
            ),
            Diagnosis::NoTargetPort => d(
                "no-target-port",
                "pool answers 404 \"Not Found\"",
                "the custom-container pool was created without an ingress target port, so nothing receives the request",
                "REP",
                "az containerapp sessionpool update --name <pool> --resource-group <rg> --target-port <port>",
            ),
            Diagnosis::WrongEndpointShape => d(
                "wrong-endpoint-shape",
                "pool answers 400 DynamicApisNotAllowed",
                "a custom-container pool was called through the regional code-interpreter endpoint form",
                "DOC, REP",
                "use the pool's properties.poolManagementEndpoint (https://<pool>.<env>.<region>.azurecontainerapps.io)",
            ),
            Diagnosis::EndpointMismatch => d(
                "endpoint-mismatch",
                "the backend's pool endpoint setting is not the pool's poolManagementEndpoint (found by check)",
                "the setting names another (or an old) pool than the one whose roles and port were checked",
                "DOC",
                "set it to the pool's properties.poolManagementEndpoint (az containerapp sessionpool show --query properties.poolManagementEndpoint)",
            ),
            Diagnosis::PoolFull => d(
                "pool-full",
                "pool answers 429 \"Error happened when allocating pod for identifier <id> in pool <pool>\"",
                "the pool is at maxConcurrentSessions; a new identifier must wait for a session to cool down",
                "REP (429; DOC says 404)",
                "raise scaleConfiguration.maxConcurrentSessions, shorten cooldownPeriodInSeconds, or reuse identifiers",
            ),
            Diagnosis::ContainerNotReady => d(
                "container-not-ready",
                "pool answers 500 \"Error happened when allocating pod for identifier <id> in pool <pool>\"",
                "the session container did not start or does not listen on the target port",
                "REP",
                "make the container listen on 0.0.0.0:<targetPort> and start quickly; check its logs",
            ),
            Diagnosis::ContainerPathNotFound => d(
                "container-path-not-found",
                "the container answers 404 through the pool",
                "the caller used a path the session container does not serve",
                "DOC (paths are forwarded as they are)",
                "call {pool}/<language>/execute, the path your container serves",
            ),
            Diagnosis::ImageTagUppercase => d(
                "image-tag-uppercase",
                "creating or updating the pool fails with ImageManifestNotFound (found by check)",
                "the resource provider lowercases image references, so a tag with uppercase letters names an image that does not exist",
                "REP",
                "push the image under a lowercase tag and point the pool's customContainerTemplate at it",
            ),
            Diagnosis::IdentityNotEnabled => d(
                "identity-not-enabled",
                "no IDENTITY_ENDPOINT; the SDK falls back to IMDS, which answers 400 \"Identity not found\"",
                "no managed identity is enabled on the backend's container app",
                "DOC (variables), REP (IMDS body), assumed (IMDS answering on Container Apps)",
                "az containerapp identity assign --name <app> --resource-group <rg> --system-assigned (or --user-assigned <identity id>)",
            ),
            Diagnosis::IdentityNotSpecified => d(
                "identity-not-specified",
                "identity endpoint answers 400 \"Unable to load the proper Managed Identity.\" to a request that names no identity (IMDS: \"Multiple user assigned identities exist\")",
                "the app has only user-assigned identities and the backend names none: without AZURE_CLIENT_ID the SDK asks for a system-assigned identity the app does not have",
                "REP",
                "set the app setting AZURE_CLIENT_ID to the client id of the user-assigned identity that holds the role",
            ),
            Diagnosis::IdentityNotFound => d(
                "identity-not-found",
                "identity endpoint answers 400 \"Unable to load the proper Managed Identity.\" to a request that names an identity",
                "the backend asks for a user-assigned identity (AZURE_CLIENT_ID) that is not assigned to the app",
                "REP",
                "set AZURE_CLIENT_ID to an identity assigned to the app, or assign it: az containerapp identity assign --user-assigned <identity id>",
            ),
            Diagnosis::EmptyClientId => d(
                "empty-client-id",
                "AZURE_CLIENT_ID is set to an empty string: most SDKs then ask for the system-assigned identity; a client that sends client_id= gets 500 invalid_scope",
                "a template or pipeline wrote the setting without a value",
                "REP (500 invalid_scope; exact body assumed), SDK (Python and Rust ignore an empty value)",
                "set AZURE_CLIENT_ID to the client id of the identity that holds the role, or remove the setting to use the system-assigned identity",
            ),
            Diagnosis::IdentityHeaderMismatch => d(
                "identity-header-mismatch",
                "identity endpoint answers 403 with an empty body",
                "X-IDENTITY-HEADER is missing or is not the IDENTITY_HEADER the platform set (e.g. a stale copy)",
                "REP",
                "read IDENTITY_HEADER from the environment at run time and send it unchanged; do not cache or hard-code it",
            ),
            Diagnosis::IdentityEndpointUnavailable => d(
                "identity-endpoint-unavailable",
                "identity endpoint answers 429/5xx or does not answer",
                "the identity endpoint is throttling, failing or unreachable; the SDK retries (82-100 s with defaults)",
                "DOC (transient codes), SDK (retry cost)",
                "retry with backoff and a bound; cache tokens so that most requests need no identity call",
            ),
            Diagnosis::IdentityEgressBlocked => d(
                "identity-egress-blocked",
                "identity endpoint answers 500 \"An unexpected error occured while fetching the AAD Token\"",
                "the platform's identity service needs outbound access (*.identity.azure.net, *.servicebus.windows.net) and the environment's network blocks it",
                "REP",
                "allow outbound HTTPS from the Container Apps environment's subnet to *.identity.azure.net and *.servicebus.windows.net (NSG, firewall or route table)",
            ),
            Diagnosis::EntraInvalidClient => d(
                "entra-invalid-client",
                "Entra answers 401 invalid_client (AADSTS7000215, AADSTS700024) or 400 unauthorized_client (AADSTS700016)",
                "the client secret, client id or client assertion is wrong, expired or from another tenant",
                "DOC",
                "client secret: create a new one (az ad app credential reset --id <client-id>); workload identity: keep AZURE_FEDERATED_TOKEN_FILE fresh and match the federated credential's issuer and subject; check AZURE_TENANT_ID/AZURE_CLIENT_ID",
            ),
            Diagnosis::EntraUnknownResource => d(
                "entra-unknown-resource",
                "token request answered 400 invalid_resource AADSTS500011 (or invalid_scope AADSTS1002012)",
                "the requested resource or scope does not exist in the tenant (typo, or missing /.default)",
                "DOC",
                "request scope https://dynamicsessions.io/.default",
            ),
            Diagnosis::CredentialChainUnavailable => d(
                "credential-chain-unavailable",
                "no token request reaches any endpoint; the backend reports its credential unavailable",
                "the developer-tool credential needs the az CLI, which is not on PATH (or not logged in)",
                "SDK",
                "install the Azure CLI and run az login, or use a managed identity / workload identity in deployed code",
            ),
            Diagnosis::ContractMismatch => d(
                "contract-mismatch",
                "a hop answers 2xx with a body the caller cannot use (a field missing or of the wrong type)",
                "the two sides of a hop disagree on the payload shape; a lenient caller returns empty output with exit code 0",
                "assumed",
                "make both sides of the hop agree on the payload shape (the field is named in the transcript)",
            ),
            Diagnosis::OutputLost => d(
                "output-lost",
                "the execution engine produced output that did not reach the client as it was (missing, cut or changed), though the hops may all have answered",
                "a hop between the engine and the client does not read or pass on the field its upstream answers (e.g. the container answers properties.stdout, the backend reads run.stdout)",
                "harness (data flow: Piston's or the code interpreter's answer against the client's)",
                "make the hop named read the field its upstream answers, or its upstream answer the field it reads (both fields are named in the explanation)",
            ),
            Diagnosis::RuntimeUnknown => d(
                "runtime-unknown",
                "Piston answers 400 \"<language>-<version> runtime is unknown\"",
                "the requested language or version range is not installed in the session container's Piston",
                "DOC (Piston)",
                "ask GET /api/v2/runtimes and use a listed language and version (or range such as 3.10 or *)",
            ),
            Diagnosis::ExecutionTimeout => d(
                "execution-timeout",
                "Piston answers 200 with run.status \"TO\", signal SIGKILL, code null",
                "the program ran past run_timeout and was killed",
                "DOC (Piston)",
                "raise run_timeout (and the pool/backend timeouts above it) or fix the program",
            ),
            Diagnosis::BackendNotStarted => d(
                "backend-not-started",
                "the backend process did not start, did not become ready, or exited during the run",
                "the program, its arguments or its environment are wrong, or it crashed (its last output is quoted)",
                "harness (process)",
                "run the backend's command by hand with the same environment (session-pool-harness serve prints it) and read its output",
            ),
            Diagnosis::ContainerNotStarted => d(
                "container-not-started",
                "the session container's program did not start or did not become ready",
                "the container program, its arguments or its environment are wrong, or it crashed (its last output is quoted)",
                "harness (process)",
                "run the container's command by hand with PORT and PISTON_URL set and read its output",
            ),
            Diagnosis::HarnessError => d(
                "harness-error",
                "the run itself failed: the stand-ins could not start, a file could not be written, or the scenario's deadline was hit",
                "something outside the world the scenario describes (the machine, the scenario's own bounds)",
                "harness",
                "read the explanation; for a deadline, raise deadline_ms or bound the backend's timeouts ([backend] token_timeout_ms, pool_timeout_ms)",
            ),
            Diagnosis::Unexplained => d(
                "unexplained",
                "the backend failed but no stand-in refused anything it knows",
                "the fault is inside the backend, or in a case the harness does not model yet",
                "-",
                "read the backend's message and the transcript",
            ),
        }
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

/// The failure-mode table (Markdown), generated from [`Diagnosis::ALL`].
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
