//! The credential model: given the app's settings and the client (SDK, `DefaultAzureCredential`),
//! which identity the identity endpoint is asked for.
//!
//! Scope of this model (docs/fidelity.md §10): `DefaultAzureCredential` on Container Apps,
//! where the managed-identity credential is the one that answers. What varies between SDKs is
//! whether it passes `AZURE_CLIENT_ID` as the `client_id` selector:
//! - Python and Rust pass it (SDK: read in their sources; the harness's Python and Rust backends
//!   show it on the wire).
//! - JavaScript, .NET, Java and Go pass it (assumed from their documentation of
//!   `DefaultAzureCredential`; not yet seen on the wire here).
//! - C++ does not: its `DefaultAzureCredential` ignores `AZURE_CLIENT_ID` for managed identity, and
//!   the maintainers declined to change it (REP); the client id must be given in code.

/// A client library family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
#[value(rename_all = "lower")]
pub enum Sdk {
    Python,
    #[value(name = "javascript", alias = "js")]
    JavaScript,
    #[value(name = "dotnet", alias = ".net")]
    Dotnet,
    Java,
    Go,
    Cpp,
    Rust,
}

impl Sdk {
    /// Every SDK the model knows.
    #[cfg(test)]
    pub const ALL: &'static [Sdk] =
        &[Sdk::Python, Sdk::JavaScript, Sdk::Dotnet, Sdk::Java, Sdk::Go, Sdk::Cpp, Sdk::Rust];

    /// Its name in a sentence.
    pub fn name(self) -> &'static str {
        match self {
            Sdk::Python => "Python",
            Sdk::JavaScript => "JavaScript",
            Sdk::Dotnet => ".NET",
            Sdk::Java => "Java",
            Sdk::Go => "Go",
            Sdk::Cpp => "C++",
            Sdk::Rust => "Rust",
        }
    }

    /// Whether its `DefaultAzureCredential` passes `AZURE_CLIENT_ID` to the identity endpoint
    /// (C++: REP, won't fix; the others: see the module docs for the source of each).
    pub fn honours_azure_client_id(self) -> bool {
        self != Sdk::Cpp
    }

    /// How the client id is given in code, for the fix of an SDK that ignores the setting.
    pub fn client_id_in_code(self, client_id: &str) -> String {
        match self {
            Sdk::Cpp => format!(
                "Azure::Identity::ManagedIdentityCredential(\"{client_id}\") in place of DefaultAzureCredential"
            ),
            _ => format!("the credential's client-id option set to {client_id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cpp_ignores_azure_client_id() {
        let ignoring: Vec<Sdk> =
            Sdk::ALL.iter().copied().filter(|s| !s.honours_azure_client_id()).collect();
        assert_eq!(ignoring, [Sdk::Cpp]);
    }
}
