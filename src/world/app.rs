//! The backend's container app as Azure has it: its identities, its settings, and which identity a
//! token request gets.
//!
//! FIDELITY §7 (DOC, REP): an app has an optional system-assigned identity and any number of
//! user-assigned ones; the platform sets only `IDENTITY_ENDPOINT`, `IDENTITY_HEADER` and `MSI_ENDPOINT`
//! (when at least one identity is enabled); everything else the container sees, `AZURE_CLIENT_ID`
//! included, is a setting the team wrote, or forgot.

use super::Scope;

pub use crate::azure::AZURE_CLIENT_ID;

/// The backend's container app.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    /// `/subscriptions/…/providers/Microsoft.App/containerApps/<name>`.
    pub resource_id: Scope,
    pub system_assigned: Option<ManagedIdentity>,
    pub user_assigned: Vec<ManagedIdentity>,
    /// The container's environment as the team set it (`properties.template.containers[].env`).
    pub settings: Settings,
    /// The image the app runs in Azure (`properties.template.containers[0].image`), when known.
    pub image: Option<String>,
    /// Its ingress target port, when known.
    pub target_port: Option<u16>,
}

/// Whether an identity is the app's own or a separate resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// Requested without a selector (DOC).
    SystemAssigned,
    /// Requested with `client_id`, `principal_id`/`object_id` or `mi_res_id` (DOC).
    UserAssigned,
}

/// A managed identity of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedIdentity {
    pub kind: IdentityKind,
    /// The user-assigned identity's resource name; "system-assigned" for the app's own.
    pub name: String,
    /// Application (client) id: `appid` in its tokens.
    pub client_id: String,
    /// Object (principal) id: `oid` in its tokens, the assignee of role assignments.
    pub principal_id: String,
    /// The identity's resource id (user-assigned) or the app's (system-assigned): `xms_mirid`.
    pub resource_id: String,
}

impl ManagedIdentity {
    /// Its name in a sentence: `the system-assigned identity`, `user-assigned identity 'x'`.
    pub fn short_name(&self) -> String {
        match self.kind {
            IdentityKind::SystemAssigned => "the system-assigned identity".into(),
            IdentityKind::UserAssigned => format!("user-assigned identity '{}'", self.name),
        }
    }

    /// How fixes and explanations name it: `user-assigned identity 'x' (client id …)`.
    pub fn describe(&self) -> String {
        match self.kind {
            IdentityKind::SystemAssigned => {
                format!("the system-assigned identity (principal {})", self.principal_id)
            }
            IdentityKind::UserAssigned => format!(
                "user-assigned identity '{}' (client id {}, principal {})",
                self.name, self.client_id, self.principal_id
            ),
        }
    }
}

/// A setting's value: plain text, or a reference to one of the app's secrets (whose value the
/// harness never reads nor writes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    Plain(String),
    SecretRef(String),
}

/// The app's settings, in the order Azure lists them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings(Vec<(String, SettingValue)>);

impl Settings {
    pub fn new(settings: Vec<(String, SettingValue)>) -> Self {
        Self(settings)
    }

    pub fn get(&self, name: &str) -> Option<&SettingValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// The plain value of `name`, if it is set to one.
    pub fn plain(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(SettingValue::Plain(value)) => Some(value),
            _ => None,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &SettingValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// How a token request names the identity it wants (DOC: at most one of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector<'a> {
    None,
    ClientId(&'a str),
    PrincipalId(&'a str),
    ResourceId(&'a str),
}

impl<'a> Selector<'a> {
    /// The selector among query parameters (`client_id`, `principal_id`/`object_id`, `mi_res_id`/`msi_res_id`).
    pub fn from_query(param: impl Fn(&str) -> Option<&'a str>) -> Self {
        if let Some(id) = param("client_id") {
            Self::ClientId(id)
        } else if let Some(id) = param("principal_id").or_else(|| param("object_id")) {
            Self::PrincipalId(id)
        } else if let Some(id) = param("mi_res_id").or_else(|| param("msi_res_id")) {
            Self::ResourceId(id)
        } else {
            Self::None
        }
    }

    /// The value it names, `None` when there is no selector.
    pub fn value(self) -> Option<&'a str> {
        match self {
            Self::None => None,
            Self::ClientId(v) | Self::PrincipalId(v) | Self::ResourceId(v) => Some(v),
        }
    }
}

/// Which managed-identity protocol the platform offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum IdentityProtocol {
    /// Container Apps / App Service: `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` (FIDELITY §1).
    #[default]
    ContainerApps,
    /// IMDS at 169.254.169.254 (VMs, AKS nodes): no identity variables (FIDELITY §2).
    Imds,
}

/// What identity a token request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection<'a> {
    Identity(&'a ManagedIdentity),
    /// The app has no identity at all.
    NoIdentity,
    /// No selector, and no identity to default to (only user-assigned ones on Container Apps).
    NotSpecified,
    /// No selector and several user-assigned identities (IMDS, REP).
    Ambiguous,
    /// A selector naming no identity of the app.
    NotFound,
    /// A selector present but empty (`client_id=`).
    EmptySelector,
}

impl App {
    /// The system-assigned identity first, then the user-assigned ones.
    pub fn identities(&self) -> impl Iterator<Item = &ManagedIdentity> {
        self.system_assigned.iter().chain(&self.user_assigned)
    }

    pub fn has_identity(&self) -> bool {
        self.identities().next().is_some()
    }

    /// The app's identity whose principal (object id) is `principal_id`.
    pub fn identity_with_principal(&self, principal_id: &str) -> Option<&ManagedIdentity> {
        self.identities().find(|i| i.principal_id.eq_ignore_ascii_case(principal_id))
    }

    /// `AZURE_CLIENT_ID` as the app sets it: `None` unset, `Some("")` set empty.
    pub fn client_id_setting(&self) -> Option<&SettingValue> {
        self.settings.get(AZURE_CLIENT_ID)
    }

    /// The identity a token request from the app gets by default: the one its `AZURE_CLIENT_ID`
    /// names (a plain, non-empty value), else the one without a selector.
    pub fn default_identity(&self, protocol: IdentityProtocol) -> Option<&ManagedIdentity> {
        let selector = match self.settings.plain(AZURE_CLIENT_ID) {
            Some(id) if !id.is_empty() => Selector::ClientId(id),
            _ => Selector::None,
        };
        match self.select(protocol, selector) {
            Selection::Identity(identity) => Some(identity),
            _ => None,
        }
    }

    /// The identity a token request gets on `protocol` (FIDELITY §1, §2, §7).
    ///
    /// Container Apps: no selector → the system-assigned identity, else nothing (REP: "Unable to
    /// load the proper Managed Identity."). IMDS: no selector → the system-assigned identity, else
    /// the only user-assigned one (DOC), else "Multiple user assigned identities exist" (REP).
    pub fn select(&self, protocol: IdentityProtocol, selector: Selector<'_>) -> Selection<'_> {
        if !self.has_identity() {
            return Selection::NoIdentity;
        }
        let matches = |i: &&ManagedIdentity| match selector {
            Selector::ClientId(id) => i.client_id.eq_ignore_ascii_case(id),
            Selector::PrincipalId(id) => i.principal_id.eq_ignore_ascii_case(id),
            Selector::ResourceId(id) => i.resource_id.eq_ignore_ascii_case(id),
            Selector::None => false,
        };
        match (selector.value(), &self.system_assigned, protocol) {
            (Some(""), _, _) => Selection::EmptySelector,
            (Some(_), _, _) => {
                self.identities().find(matches).map_or(Selection::NotFound, Selection::Identity)
            }
            (None, Some(system), _) => Selection::Identity(system),
            (None, None, IdentityProtocol::ContainerApps) => Selection::NotSpecified,
            (None, None, IdentityProtocol::Imds) => match self.user_assigned.as_slice() {
                [only] => Selection::Identity(only),
                _ => Selection::Ambiguous,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(kind: IdentityKind, n: &str) -> ManagedIdentity {
        ManagedIdentity {
            kind,
            name: format!("id-{n}"),
            client_id: format!("client-{n}"),
            principal_id: format!("principal-{n}"),
            resource_id: format!(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-{n}"
            ),
        }
    }

    fn app(system: bool, users: usize) -> App {
        App {
            name: "app".into(),
            resource_id: Scope::parse(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/app",
            )
            .unwrap(),
            system_assigned: system.then(|| identity(IdentityKind::SystemAssigned, "sys")),
            user_assigned: (1..=users)
                .map(|n| identity(IdentityKind::UserAssigned, &n.to_string()))
                .collect(),
            settings: Settings::default(),
            image: None,
            target_port: None,
        }
    }

    #[test]
    fn without_a_selector_container_apps_gives_the_system_assigned_identity_or_nothing() {
        let both = app(true, 1);
        assert_eq!(
            both.select(IdentityProtocol::ContainerApps, Selector::None),
            Selection::Identity(both.system_assigned.as_ref().unwrap())
        );
        assert_eq!(
            app(false, 1).select(IdentityProtocol::ContainerApps, Selector::None),
            Selection::NotSpecified
        );
        assert_eq!(
            app(false, 0).select(IdentityProtocol::ContainerApps, Selector::None),
            Selection::NoIdentity
        );
    }

    #[test]
    fn without_a_selector_imds_takes_a_single_user_assigned_identity_and_refuses_to_guess_among_several()
     {
        let one = app(false, 1);
        assert_eq!(
            one.select(IdentityProtocol::Imds, Selector::None),
            Selection::Identity(&one.user_assigned[0])
        );
        assert_eq!(
            app(false, 2).select(IdentityProtocol::Imds, Selector::None),
            Selection::Ambiguous
        );
    }

    #[test]
    fn a_selector_finds_the_identity_by_the_kind_of_id_it_names() {
        let both = app(true, 2);
        let second = &both.user_assigned[1];
        assert_eq!(
            both.select(IdentityProtocol::ContainerApps, Selector::ClientId("CLIENT-2")),
            Selection::Identity(second)
        );
        assert_eq!(
            both.select(IdentityProtocol::ContainerApps, Selector::PrincipalId("principal-2")),
            Selection::Identity(second)
        );
        assert_eq!(
            both.select(IdentityProtocol::ContainerApps, Selector::ClientId("principal-2")),
            Selection::NotFound,
            "a principal id is not a client id"
        );
        assert_eq!(
            both.select(IdentityProtocol::ContainerApps, Selector::ClientId("")),
            Selection::EmptySelector
        );
    }

    #[test]
    fn the_selector_is_read_from_any_of_its_query_names() {
        let query = |k: &str| (k == "object_id").then_some("p");
        assert_eq!(Selector::from_query(query), Selector::PrincipalId("p"));
        assert_eq!(Selector::from_query(|_| None), Selector::None);
    }
}
