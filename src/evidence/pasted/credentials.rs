//! Credential errors: the chains of `DefaultAzureCredential` (Python: "Attempted credentials:" and one
//! tab-indented line per credential; JavaScript: `AggregateAuthenticationError` and one
//! `CredentialUnavailableError` line each) and single credential messages (Python, JavaScript, .NET,
//! Rust wordings), each with the HTTP answer it quotes, if any (FIDELITY §9, SDK: texts produced by
//! azure-identity 1.27 and @azure/identity 4.13 against the stand-ins).

use super::{Pasted, PastedFormat};

/// Where a credential gets its token, which says what its failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialKind {
    /// Asks the identity endpoint or IMDS: its error quotes their answer.
    ManagedIdentity,
    /// The Azure CLI (`az`), for developer machines.
    AzureCli,
    /// Other developer tools (azd, PowerShell, VS Code, the broker) and settings-based credentials
    /// (environment, workload identity, the shared cache): a chain tries them and moves on.
    Other,
}

/// One credential's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// `ManagedIdentityCredential`, `AzureCliCredential`, … (inferred when the text gives no name).
    pub credential: String,
    pub kind: CredentialKind,
    pub message: String,
    /// The answer the message quotes: its status when printed, and its error text.
    pub status: Option<u16>,
    pub body: String,
    /// The credential ran and found its tool missing or signed out (the `az` CLI).
    pub tool_missing: bool,
}

/// Credential names inferred from messages that do not carry one (JavaScript chains).
const INFERRED: &[(&str, &str)] = &[
    ("ManagedIdentityCredential", "ManagedIdentityCredential"),
    ("Managed Identity", "ManagedIdentityCredential"),
    ("managed identity", "ManagedIdentityCredential"),
    ("Token request error:", "ManagedIdentityCredential"),
    // SDK: azure-identity (Python) raises the JSON error of an identity answer without a body.
    ("Expecting value: line 1 column 1 (char 0)", "ManagedIdentityCredential"),
    ("EnvironmentCredential", "EnvironmentCredential"),
    ("WorkloadIdentityCredential", "WorkloadIdentityCredential"),
    ("Azure Developer CLI", "AzureDeveloperCliCredential"),
    ("AzureDeveloperCliCredential", "AzureDeveloperCliCredential"),
    ("AzureCliCredential", "AzureCliCredential"),
    ("Azure CLI", "AzureCliCredential"),
    ("az login", "AzureCliCredential"),
    ("PowerShell", "AzurePowerShellCredential"),
    ("Visual Studio Code", "VisualStudioCodeCredential"),
    ("SharedTokenCache", "SharedTokenCacheCredential"),
];

/// The CLI's "not installed" and "not signed in" messages across SDKs.
const CLI_MISSING: &[&str] = &[
    "Azure CLI not found on path",
    "az not found on PATH",
    "Azure CLI could not be found",
    "'az' is not recognized",
    "az: not found",
    "Please run 'az login'",
    "run 'az login'",
];

impl Attempt {
    /// Read one credential's message; `name` when the text gives it.
    pub fn read(name: Option<&str>, message: &str) -> Self {
        let credential = name.map(str::to_owned).unwrap_or_else(|| {
            INFERRED
                .iter()
                .find(|(marker, _)| message.contains(marker))
                .map_or("a credential", |(_, n)| n)
                .to_owned()
        });
        let kind = match credential.as_str() {
            "ManagedIdentityCredential" => CredentialKind::ManagedIdentity,
            "AzureCliCredential" => CredentialKind::AzureCli,
            _ => CredentialKind::Other,
        };
        let (status, body) = if kind == CredentialKind::ManagedIdentity {
            quoted_answer(message)
        } else {
            (None, String::new())
        };
        let status =
            status.or_else(|| super::messages::implied_status(None, &body).map(|(s, _)| s));
        let tool_missing =
            kind == CredentialKind::AzureCli && CLI_MISSING.iter().any(|m| message.contains(m));
        Self { credential, kind, message: message.trim().to_owned(), status, body, tool_missing }
    }

    /// Whether the message shows an answer from the identity endpoint (not just "not configured").
    pub fn got_an_answer(&self) -> bool {
        self.kind == CredentialKind::ManagedIdentity
            && (self.status.is_some() || !self.body.is_empty())
    }
}

/// The status and error text a managed-identity message quotes:
/// - Python (MSAL): `Token request error: (invalid_scope) 400, Unable to load …`; for IMDS
///   `(invalid_request) Identity not found`, rebuilt as IMDS's JSON body (FIDELITY §2);
/// - JavaScript: `… Description: Unable to load … - Correlation ID: …`;
/// - .NET (MSAL.NET): `[Managed Identity] Error Message: Unable to load … Managed Identity Correlation ID: …`;
/// - an answer without a body, which Python reports as a JSON error and JavaScript as a missing
///   `expires_on`: only the 403 of a wrong `X-IDENTITY-HEADER` has an empty body (§1, REP).
fn quoted_answer(message: &str) -> (Option<u16>, String) {
    if let Some(answer) = go_response(message) {
        return answer;
    }
    if let Some((_, body)) = message.split_once("The endpoint responded with ") {
        // SDK: azidentity quotes the identity endpoint's body after these words.
        return (None, body.trim().to_owned());
    }
    if message.contains("Connection to IMDS endpoint cannot be established.") {
        // SDK: Java azure-identity (`IdentityClient.java`) says this for IMDS's 400 and prints no body.
        return (Some(400), String::new());
    }
    if message.contains("Expecting value: line 1 column 1 (char 0)")
        || message.contains("(reading 'expires_on')")
    {
        return (Some(403), String::new());
    }
    if let Some((_, rest)) = message.split_once("Token request error: ") {
        let (error, rest) = match rest.strip_prefix('(').and_then(|r| r.split_once(") ")) {
            Some((error, rest)) => (Some(error), rest),
            None => (None, rest),
        };
        let (status, text) = match rest
            .split_once(", ")
            .filter(|(s, _)| s.len() == 3 && s.chars().all(|c| c.is_ascii_digit()))
        {
            Some((status, text)) => (status.parse().ok(), text),
            None => (None, rest),
        };
        return match (error, status) {
            (Some(error @ "invalid_request"), None) => (
                None,
                serde_json::json!({ "error": error, "error_description": text.trim() }).to_string(),
            ),
            _ => (status, text.trim().to_owned()),
        };
    }
    for marker in ["Description: ", "Error Message: "] {
        if let Some((_, rest)) = message.split_once(marker) {
            let end = [" - ", " Managed Identity Correlation ID", " Correlation ID"]
                .iter()
                .filter_map(|m| rest.find(m))
                .min()
                .unwrap_or(rest.len());
            return (None, rest[..end].trim().to_owned());
        }
    }
    if message.contains("The requested identity has not been assigned to this resource") {
        return (None, "The requested identity has not been assigned to this resource".into());
    }
    (None, String::new())
}

/// Go azidentity quotes the answer as azcore prints it (`RESPONSE 400: 400 Bad Request`, a rule of
/// dashes, the body, a rule), here joined onto one line.
fn go_response(message: &str) -> Option<(Option<u16>, String)> {
    static RESPONSE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"RESPONSE ([1-5]\d\d): [^-]*-{10,}(.*?)(?:-{10,}|$)").expect("a regex")
    });
    let caps = RESPONSE.captures(message)?;
    let body = caps[2].trim();
    let body = if body == "Response contained no body" { "" } else { body };
    Some((caps[1].parse().ok(), body.to_owned()))
}

/// Whether a line is a credential's own error, outside a chain.
fn is_credential_error(line: &str) -> bool {
    const MARKERS: &[&str] = &[
        "ManagedIdentityCredential",
        "Token request error:",
        "[Managed Identity] Error Message",
        "Expecting value: line 1 column 1 (char 0)",
        "managed identity configuration not found",
        "Connection to IMDS endpoint cannot be established",
    ];
    let trimmed = line.trim_start();
    let stack_frame = trimmed.starts_with("at ")
        || trimmed.starts_with("File \"")
        || trimmed.starts_with("--- End");
    !stack_frame && MARKERS.iter().chain(CLI_MISSING).any(|m| line.contains(m))
}

/// The first line of a credential chain: Python's and .NET's "failed to retrieve a token from the
/// included credentials", Go's "failed to acquire a token." (SDK: azidentity `chained_token_credential.go`),
/// JavaScript's `AggregateAuthenticationError`.
pub fn starts_a_chain(line: &str) -> bool {
    line.contains("failed to retrieve a token from the included credentials")
        || line.contains("failed to acquire a token.")
        || line.contains("AggregateAuthenticationError")
}

/// `Name: message` or `Name authentication failed…` where the name is one credential's type.
fn credential_line(trimmed: &str) -> Option<(&str, &str)> {
    let end = trimmed.find([':', ' '])?;
    let name = &trimmed[..end];
    let is_name = name.ends_with("Credential")
        && name.len() > "Credential".len()
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    is_name.then(|| (name, trimmed[end..].trim_start_matches(':').trim()))
}

/// `DefaultAzureCredential` / `ChainedTokenCredential` chains: Python, .NET and Go (one line per
/// credential, tab-indented or not), and JavaScript.
pub fn chains(lines: &[&str]) -> Vec<Pasted> {
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let javascript = line.contains("AggregateAuthenticationError");
        let python = !javascript && starts_a_chain(line);
        if !python && !javascript {
            i += 1;
            continue;
        }
        let start = i;
        let mut attempts: Vec<(Option<String>, String)> = Vec::new();
        i += 1;
        while i < lines.len() {
            let current = lines[i];
            let trimmed = current.trim();
            if python && let Some((name, message)) = credential_line(trimmed) {
                attempts.push((Some(name.to_owned()), message.to_owned()));
            } else if javascript
                && let Some((_, message)) = trimmed.split_once("Error: ").filter(|(kind, _)| {
                    kind.ends_with("Credential")
                        || kind.ends_with("Unavailable")
                        || kind.ends_with("Authentication")
                        || kind.starts_with("Credential")
                        || kind.starts_with("Authentication")
                })
            {
                let (name, message) = match message
                    .split_once(": ")
                    .filter(|(n, _)| n.ends_with("Credential") && !n.contains(' '))
                {
                    Some((name, rest)) => (Some(name.to_owned()), rest.to_owned()),
                    None => (None, message.to_owned()),
                };
                attempts.push((name, message));
            } else if super::messages::starts_an_error(trimmed) {
                // Another error printed right after the chain.
                break;
            } else if trimmed == "Attempted credentials:" || trimmed.starts_with("at ") {
            } else if trimmed.is_empty() || trimmed.starts_with("To mitigate") {
                i += usize::from(trimmed.starts_with("To mitigate"));
                break;
            } else if let Some((_, last)) = attempts.last_mut() {
                // A message that wrapped onto a line of its own.
                last.push(' ');
                last.push_str(trimmed);
            }
            i += 1;
        }
        let mut pasted = Pasted::new(PastedFormat::CredentialChain, start..i);
        pasted.attempts = attempts
            .iter()
            .map(|(name, message)| Attempt::read(name.as_deref(), message))
            .collect();
        found.push(pasted);
    }
    found
}

/// A single credential's error; an inner exception repeating the same answer on the next lines is
/// part of the same error.
pub fn single(lines: &[&str]) -> Vec<Pasted> {
    let mut found: Vec<Pasted> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if !is_credential_error(line) {
            continue;
        }
        let attempt = Attempt::read(None, line);
        if let Some(previous) = found.last_mut()
            && previous.lines.end + 2 >= i
            && previous.attempts.first().is_some_and(|a| {
                a.body == attempt.body && a.status.or(attempt.status) == attempt.status.or(a.status)
            })
        {
            previous.lines.end = i + 1;
            continue;
        }
        let mut pasted = Pasted::new(PastedFormat::CredentialError, i..i + 1);
        pasted.status = attempt.status;
        pasted.body = attempt.body.clone();
        pasted.attempts = vec![attempt];
        found.push(pasted);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_managed_identity_message_quotes_status_and_text() {
        let a = Attempt::read(
            Some("ManagedIdentityCredential"),
            "App Service managed identity configuration not found in environment. Token request error: (invalid_scope) 400, Unable to load the proper Managed Identity.",
        );
        assert_eq!(
            (a.status, a.body.as_str()),
            (Some(400), "Unable to load the proper Managed Identity.")
        );
        let imds = Attempt::read(
            Some("ManagedIdentityCredential"),
            "ManagedIdentityCredential authentication unavailable, no response from the IMDS endpoint. Token request error: (invalid_request) Identity not found",
        );
        assert_eq!(
            imds.body,
            r#"{"error":"invalid_request","error_description":"Identity not found"}"#
        );
    }

    #[test]
    fn the_cli_missing_is_told_from_the_cli_failing_otherwise() {
        assert!(
            Attempt::read(Some("AzureCliCredential"), "Azure CLI not found on path").tool_missing
        );
        assert!(Attempt::read(None, "Azure CLI could not be found. Please visit …").tool_missing);
        assert!(!Attempt::read(Some("AzureCliCredential"), "ERROR: AADSTS50076").tool_missing);
        assert_eq!(
            Attempt::read(None, "Azure Developer CLI couldn't be found.").credential,
            "AzureDeveloperCliCredential"
        );
    }
}
