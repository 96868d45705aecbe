//! Which hop answered, from the URL a text names: hosts and paths are locations (FIDELITY §1-§6),
//! never symptoms. The query string is never read for a cause.

use crate::transcript::Hop;

/// The hop a URL belongs to, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub hop: Hop,
    pub reason: String,
}

/// The hop of `url`, when its host or path says.
pub fn locate(url: &str) -> Option<Located> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str().unwrap_or_default().to_ascii_lowercase();
    let path = parsed.path().to_ascii_lowercase();
    let port = parsed.port_or_known_default();
    let found = |hop: Hop, why: &str| {
        Some(Located { hop, reason: format!("{why} ({host}{})", parsed.path()) })
    };
    if host == "169.254.169.254" || path.starts_with("/metadata/identity/") {
        return found(Hop::Identity, "the IMDS address");
    }
    if path.ends_with("/msi/token") || (host == "localhost" && port == Some(42356)) {
        return found(Hop::Identity, "the Container Apps identity endpoint path");
    }
    if host.starts_with("login.")
        || host.ends_with(".microsoftonline.com")
        || path.contains("/oauth2/v2.0/token")
    {
        return found(Hop::Entra, "an Entra host");
    }
    if host.ends_with(".dynamicsessions.io") {
        return found(Hop::Pool, "the regional session-pool endpoint");
    }
    if path.starts_with("/api/v2/") {
        // Piston's API: the backend offers the same one, so the host decides.
        return found(Hop::Piston, "a Piston API path");
    }
    if host.ends_with(".azurecontainerapps.io") {
        return found(Hop::Pool, "a custom-container pool's endpoint");
    }
    None
}

/// Whether `url` is IMDS's (its link-local address or its token path; FIDELITY §2, DOC).
pub fn is_imds(url: &str) -> bool {
    url::Url::parse(url).ok().is_some_and(|u| {
        u.host_str() == Some("169.254.169.254") || u.path().starts_with("/metadata/identity/")
    })
}

/// Whether a token request's URL names an identity: a non-empty `client_id`, `principal_id`,
/// `object_id`, `mi_res_id` or `msi_res_id` (FIDELITY §1, §2, DOC; `clientid` of the legacy API).
pub fn names_identity(url: &str) -> bool {
    const SELECTORS: &[&str] =
        &["client_id", "clientid", "principal_id", "object_id", "mi_res_id", "msi_res_id"];
    url::Url::parse(url).ok().is_some_and(|u| {
        u.query_pairs().any(|(k, v)| SELECTORS.contains(&k.as_ref()) && !v.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_paths_name_the_hop() {
        let hop = |url| locate(url).map(|l| l.hop);
        assert_eq!(
            hop("http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"),
            Some(Hop::Identity)
        );
        assert_eq!(
            hop("http://localhost:42356/msi/token?api-version=2019-08-01&resource=x"),
            Some(Hop::Identity)
        );
        assert_eq!(hop("http://127.0.0.1:4321/msi/token"), Some(Hop::Identity));
        assert_eq!(hop("https://login.microsoftonline.com/t/oauth2/v2.0/token"), Some(Hop::Entra));
        assert_eq!(
            hop(
                "https://westeurope.dynamicsessions.io/subscriptions/s/resourceGroups/rg/sessionPools/p/code/execute"
            ),
            Some(Hop::Pool)
        );
        assert_eq!(
            hop("https://pool.env.westeurope.azurecontainerapps.io/python/execute?identifier=abc"),
            Some(Hop::Pool)
        );
        assert_eq!(hop("http://127.0.0.1:2000/api/v2/execute"), Some(Hop::Piston));
        assert_eq!(
            hop("http://127.0.0.1:4321/python/execute?identifier=x"),
            None,
            "a loopback host and a container path say nothing"
        );
    }

    #[test]
    fn words_in_the_query_are_not_read() {
        assert_eq!(locate("https://example.com/x?next=/msi/token").map(|l| l.hop), None);
    }
}
