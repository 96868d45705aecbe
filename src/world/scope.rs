//! ARM scopes (`/subscriptions/<id>[/resourceGroups/<rg>[/providers/…]]`) and the RBAC rule that an
//! assignment at a scope applies to every resource below it (FIDELITY §5, DOC).

/// An ARM scope: `/subscriptions/<id>[/resourceGroups/<rg>[/providers/...]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    /// Parse an ARM scope; the error says what shape is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let segments: Vec<&str> = text.trim_end_matches('/').split('/').collect();
        let well_formed = segments.len() >= 3
            && segments[0].is_empty()
            && segments[1].eq_ignore_ascii_case("subscriptions")
            && segments[1..].iter().all(|s| !s.is_empty());
        if well_formed {
            Ok(Self(text.trim_end_matches('/').to_owned()))
        } else {
            Err(format!(
                "'{text}' is not an ARM scope: expected /subscriptions/<id>[/resourceGroups/<name>[/providers/<namespace>/<type>/<name>]]"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether an assignment at `self` applies to `resource`: same path or an ancestor, compared
    /// segment by segment and case-insensitively as ARM does.
    pub fn contains(&self, resource: &Scope) -> bool {
        let outer: Vec<&str> = self.0.split('/').collect();
        let inner: Vec<&str> = resource.0.split('/').collect();
        outer.len() <= inner.len()
            && outer.iter().zip(&inner).all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// The value after `/<segment>/`, e.g. `subscriptions` or `resourceGroups`.
    pub fn segment(&self, name: &str) -> Option<&str> {
        let mut parts = self.0.split('/');
        while let Some(part) = parts.next() {
            if part.eq_ignore_ascii_case(name) {
                return parts.next();
            }
        }
        None
    }

    /// The last segment: a resource's name.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }

    /// Whether this is a resource of `provider_type`, e.g. `Microsoft.App/containerApps`.
    pub fn is_resource_of(&self, provider_type: &str) -> bool {
        let needle = format!("/providers/{}/", provider_type.to_ascii_lowercase());
        self.0.to_ascii_lowercase().contains(&needle)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    #[test]
    fn a_scope_contains_itself_and_its_descendants_only_on_segment_boundaries() {
        let pool =
            scope("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.App/sessionPools/p1");
        assert!(scope("/subscriptions/s1").contains(&pool));
        assert!(scope("/subscriptions/S1/resourcegroups/RG").contains(&pool));
        assert!(pool.contains(&pool));
        assert!(
            !scope("/subscriptions/s1/resourceGroups/r").contains(&pool),
            "rg 'r' is not a prefix of rg 'rg'"
        );
        assert!(
            !scope("/subscriptions/s1/resourceGroups/rg/providers/Microsoft.App/sessionPools/p2")
                .contains(&pool)
        );
    }

    #[test]
    fn malformed_scopes_say_what_shape_is_expected() {
        let err = Scope::parse("subscriptions/s1").unwrap_err();
        assert!(err.contains("expected /subscriptions/<id>"), "{err}");
        assert!(Scope::parse("/subscriptions//resourceGroups/rg").is_err());
    }

    #[test]
    fn scope_segments_and_resource_types_are_found_case_insensitively() {
        let pool =
            scope("/subscriptions/s1/resourcegroups/rg/providers/Microsoft.App/sessionPools/p1");
        assert_eq!(pool.segment("resourceGroups"), Some("rg"));
        assert_eq!(pool.segment("subscriptions"), Some("s1"));
        assert_eq!(pool.name(), "p1");
        assert!(pool.is_resource_of("microsoft.app/SessionPools"));
        assert!(!pool.is_resource_of("Microsoft.App/containerApps"));
    }
}
