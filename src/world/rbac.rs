//! Azure RBAC as Azure evaluates it, for the one data action a session-pool caller needs: role
//! definitions with `actions`, `notActions`, `dataActions`, `notDataActions` and their wildcards,
//! assignments to principals or to groups, scope inheritance, propagation in time.
//!
//! One evaluator, shared by the pool stand-in (which answers 403 from it) and `check` (which names
//! the cause from it), so the two cannot disagree.
//!
//! Facts (docs/fidelity.md §10): a role grants a data action when one of its `dataActions`
//! matches it and none of its `notDataActions` does; `*` matches any run of characters, `/`
//! included, case-insensitively (DOC, Azure RBAC "Understand role definitions"). `actions` are
//! control-plane only and never grant a data action, so Owner and Contributor (`actions: ["*"]`)
//! grant no execute on a pool (DOC). An assignment at a scope applies to every resource below it
//! (DOC). A change takes up to 10 minutes to take effect (DOC, RBAC troubleshooting); sessions
//! users report 30-60 s (REP).

use std::time::{Duration, SystemTime};

use super::{RoleAssignment, Scope};

/// The data action a pool call needs (DOC: the Session Executor role's data action).
pub const EXECUTE_DATA_ACTION: &str = "Microsoft.App/sessionPools/interpreters/execute/action";

/// How long Microsoft says a role assignment may take to be in effect (DOC: "up to 10 minutes").
pub const PROPAGATION_WINDOW: Duration = Duration::from_secs(10 * 60);

/// A role definition, built-in or custom (`az role definition list --custom-role-only -o json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDefinition {
    /// `roleName`, e.g. "Azure ContainerApps Session Executor".
    pub name: String,
    /// The definition's GUID (the last segment of its `id`).
    pub id: String,
    pub actions: Vec<String>,
    pub not_actions: Vec<String>,
    pub data_actions: Vec<String>,
    pub not_data_actions: Vec<String>,
}

impl RoleDefinition {
    fn built_in(name: &str, id: &str, actions: &[&str], data_actions: &[&str]) -> Self {
        let owned = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect();
        Self {
            name: name.to_owned(),
            id: id.to_owned(),
            actions: owned(actions),
            not_actions: Vec::new(),
            data_actions: owned(data_actions),
            not_data_actions: Vec::new(),
        }
    }

    /// Whether this role grants the data action `action` (DOC: dataActions minus notDataActions).
    pub fn grants_data_action(&self, action: &str) -> bool {
        self.data_actions.iter().any(|p| wildcard_match(p, action))
            && !self.not_data_actions.iter().any(|p| wildcard_match(p, action))
    }

    /// Whether `role` (a name, a GUID or a `…/roleDefinitions/<guid>` path) names this definition.
    pub fn is_named(&self, role: &str) -> bool {
        let id = role.rsplit('/').next().unwrap_or_default();
        role.eq_ignore_ascii_case(&self.name) || id.eq_ignore_ascii_case(&self.id)
    }
}

/// The built-in definitions that matter here (DOC, "Azure built-in roles"): Session Executor
/// grants the execute data action; Owner, Contributor and Reader grant control-plane actions only.
/// Contributor's and Owner's notActions concern Microsoft.Authorization and are left out: they do
/// not change what data actions the role grants (none).
pub fn built_in_definitions() -> Vec<RoleDefinition> {
    vec![
        RoleDefinition::built_in(
            crate::azure::SESSION_EXECUTOR_ROLE,
            crate::azure::SESSION_EXECUTOR_ROLE_ID,
            &[],
            &[EXECUTE_DATA_ACTION],
        ),
        RoleDefinition::built_in("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", &["*"], &[]),
        RoleDefinition::built_in(
            "Contributor",
            "b24988ac-6180-42a0-ab88-20f7382dd24c",
            &["*"],
            &[],
        ),
        RoleDefinition::built_in(
            "Reader",
            "acdd72a7-3385-48ef-bd42-f606fba81ae7",
            &["*/read"],
            &[],
        ),
    ]
}

/// Azure's permission wildcard: `*` matches any run of characters (`/` included); the rest is
/// compared case-insensitively (DOC).
pub fn wildcard_match(pattern: &str, action: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let action = action.to_ascii_lowercase();
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = action.strip_prefix(first) else { return false };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else { return rest.is_empty() };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// A group's members (`az ad group member list --group <id> -o json`), when they are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group's object id: the `principalId` of assignments to it.
    pub id: String,
    /// Members' object ids; `None` when the membership was not given.
    pub members: Option<Vec<String>>,
}

/// What RBAC says about one principal executing in one pool.
#[derive(Debug, Clone, Default)]
pub struct Access<'a> {
    /// Assignments that grant the data action on the pool (directly or through a known group).
    pub granting: Vec<Via<'a>>,
    /// Assignments on the pool (or above it) whose role is known and grants no execute data action.
    pub lacking: Vec<Via<'a>>,
    /// Assignments on the pool whose role definition is not known (a custom role without its file).
    pub unknown_role: Vec<Via<'a>>,
    /// Assignments to a group whose membership is not known and whose role would grant the action.
    pub group_unknown: Vec<&'a RoleAssignment>,
    /// Assignments of a role granting the action, at a scope that does not contain the pool.
    pub elsewhere: Vec<&'a RoleAssignment>,
}

/// One assignment that applies to the principal, and the group it came through.
#[derive(Debug, Clone, Copy)]
pub struct Via<'a> {
    pub assignment: &'a RoleAssignment,
    pub group: Option<&'a str>,
}

impl Access<'_> {
    /// Whether some assignment grants the data action (conditions are not evaluated: see
    /// [`Access::conditions`]).
    pub fn allowed(&self) -> bool {
        !self.granting.is_empty()
    }

    /// Whether every granting assignment is younger than the propagation window at `now`: the
    /// youngest of them, when so.
    pub fn propagating(&self, now: SystemTime) -> Option<&RoleAssignment> {
        let young = |v: &&Via<'_>| {
            v.assignment.created_on.is_some_and(|created| {
                now.duration_since(created).map_or(true, |age| age < PROPAGATION_WINDOW)
            })
        };
        if self.granting.is_empty() || !self.granting.iter().all(|v| young(&v)) {
            return None;
        }
        self.granting.iter().map(|v| v.assignment).max_by_key(|a| a.created_on)
    }

    /// Granting assignments that carry a condition the harness does not evaluate.
    pub fn conditions(&self) -> impl Iterator<Item = &RoleAssignment> {
        self.granting.iter().map(|v| v.assignment).filter(|a| a.condition.is_some())
    }
}

/// The role definitions a world knows: its custom ones, then the built-in ones.
#[derive(Debug, Clone, Copy)]
pub struct Rbac<'a> {
    pub assignments: &'a [RoleAssignment],
    pub custom: &'a [RoleDefinition],
    pub groups: &'a [Group],
}

impl<'a> Rbac<'a> {
    /// The definition `role` names, custom ones first.
    pub fn definition(&self, role: &str) -> Option<RoleDefinition> {
        self.custom
            .iter()
            .find(|d| d.is_named(role))
            .cloned()
            .or_else(|| built_in_definitions().into_iter().find(|d| d.is_named(role)))
    }

    /// Whether `role` grants the execute data action; `None` when its definition is unknown.
    pub fn grants_execute(&self, role: &str) -> Option<bool> {
        self.definition(role).map(|d| d.grants_data_action(EXECUTE_DATA_ACTION))
    }

    /// Evaluate `principal` on `pool` (anywhere when the pool is not known).
    pub fn access(&self, principal: &str, pool: Option<&Scope>) -> Access<'a> {
        let mut access = Access::default();
        for assignment in self.assignments {
            let group = match self.applies_to(assignment, principal) {
                Applies::No => continue,
                Applies::Directly => None,
                Applies::ThroughGroup(group) => Some(group),
                Applies::Unknown => {
                    let covers = pool.is_none_or(|p| assignment.scope.contains(p));
                    if covers && self.grants_execute(&assignment.role) != Some(false) {
                        access.group_unknown.push(assignment);
                    }
                    continue;
                }
            };
            let via = Via { assignment, group };
            let covers = pool.is_none_or(|p| assignment.scope.contains(p));
            match (self.grants_execute(&assignment.role), covers) {
                (Some(true), true) => access.granting.push(via),
                (Some(true), false) => access.elsewhere.push(assignment),
                (Some(false), true) => access.lacking.push(via),
                (None, true) => access.unknown_role.push(via),
                (_, false) => {}
            }
        }
        access
    }

    fn applies_to(&self, assignment: &'a RoleAssignment, principal: &str) -> Applies<'a> {
        if !assignment.is_group {
            return if assignment.principal_id.eq_ignore_ascii_case(principal) {
                Applies::Directly
            } else {
                Applies::No
            };
        }
        let group =
            self.groups.iter().find(|g| g.id.eq_ignore_ascii_case(&assignment.principal_id));
        match group.and_then(|g| g.members.as_ref()) {
            Some(members) if members.iter().any(|m| m.eq_ignore_ascii_case(principal)) => {
                Applies::ThroughGroup(&assignment.principal_id)
            }
            Some(_) => Applies::No,
            None => Applies::Unknown,
        }
    }
}

enum Applies<'a> {
    No,
    Directly,
    ThroughGroup(&'a str),
    Unknown,
}

/// `N minutes ago` / `N seconds ago`, and the time after which to retry, for a message.
pub fn age_and_retry(created: SystemTime, now: SystemTime) -> (String, String) {
    let age = now.duration_since(created).unwrap_or_default();
    let ago = if age.as_secs() >= 120 {
        format!("{} minutes ago", age.as_secs() / 60)
    } else {
        format!("{} seconds ago", age.as_secs())
    };
    let retry = time::OffsetDateTime::from(created + PROPAGATION_WINDOW)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| "ten minutes after it was created".to_owned());
    (ago, retry)
}

/// `createdOn` as `az` prints it (RFC 3339, e.g. `2024-05-01T12:34:56.123456+00:00`).
pub fn parse_created_on(text: &str) -> Result<SystemTime, String> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(SystemTime::from)
        .map_err(|e| {
            format!("'{text}' is not a time as az prints createdOn ({e}): expected RFC 3339, e.g. 2024-05-01T12:34:56.123456+00:00")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_any_run_of_characters_including_slashes_and_ignore_case() {
        assert!(wildcard_match("Microsoft.App/sessionPools/*/action", EXECUTE_DATA_ACTION));
        assert!(wildcard_match("microsoft.app/*", EXECUTE_DATA_ACTION));
        assert!(wildcard_match("*", EXECUTE_DATA_ACTION));
        assert!(wildcard_match(EXECUTE_DATA_ACTION, &EXECUTE_DATA_ACTION.to_uppercase()));
        assert!(!wildcard_match("Microsoft.App/sessionPools/*/read", EXECUTE_DATA_ACTION));
        assert!(!wildcard_match("Microsoft.App/containerApps/*", EXECUTE_DATA_ACTION));
        assert!(!wildcard_match("Microsoft.App/sessionPools/interpreters", EXECUTE_DATA_ACTION));
    }

    #[test]
    fn not_data_actions_take_away_what_data_actions_grant() {
        let mut role = RoleDefinition::built_in("r", "id", &[], &["Microsoft.App/*"]);
        assert!(role.grants_data_action(EXECUTE_DATA_ACTION));
        role.not_data_actions.push("Microsoft.App/sessionPools/interpreters/*".into());
        assert!(!role.grants_data_action(EXECUTE_DATA_ACTION));
    }

    #[test]
    fn owner_contributor_and_reader_grant_no_data_action_and_session_executor_does() {
        let rbac = Rbac { assignments: &[], custom: &[], groups: &[] };
        for role in ["Owner", "Contributor", "reader", "b24988ac-6180-42a0-ab88-20f7382dd24c"] {
            assert_eq!(rbac.grants_execute(role), Some(false), "{role}");
        }
        for role in [
            crate::azure::SESSION_EXECUTOR_ROLE,
            "0FB8EBA5-A2BB-4ABE-B1C1-49DFAD359BB0",
            "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/0fb8eba5-a2bb-4abe-b1c1-49dfad359bb0",
        ] {
            assert_eq!(rbac.grants_execute(role), Some(true), "{role}");
        }
        assert_eq!(rbac.grants_execute("My Custom Role"), None);
    }

    #[test]
    fn a_group_assignment_applies_to_members_only_when_the_membership_is_known() {
        let scope = Scope::parse("/subscriptions/s").unwrap();
        let mut assignment =
            RoleAssignment::new("group-1", crate::azure::SESSION_EXECUTOR_ROLE, scope.clone());
        assignment.is_group = true;
        let assignments = [assignment];
        let known = [Group { id: "GROUP-1".into(), members: Some(vec!["p".into()]) }];
        let rbac = Rbac { assignments: &assignments, custom: &[], groups: &known };
        assert!(rbac.access("p", Some(&scope)).allowed());
        assert!(!rbac.access("q", Some(&scope)).allowed());
        let unknown = Rbac { assignments: &assignments, custom: &[], groups: &[] };
        let access = unknown.access("p", Some(&scope));
        assert!(!access.allowed());
        assert_eq!(access.group_unknown.len(), 1);
    }

    #[test]
    fn an_assignment_younger_than_ten_minutes_is_propagating_and_an_older_one_is_not() {
        let scope = Scope::parse("/subscriptions/s").unwrap();
        let now = SystemTime::now();
        let mut young =
            RoleAssignment::new("p", crate::azure::SESSION_EXECUTOR_ROLE, scope.clone());
        young.created_on = Some(now - Duration::from_secs(180));
        let mut old = young.clone();
        old.created_on = Some(now - Duration::from_secs(3600));
        let rbac = |a: &[RoleAssignment]| {
            Rbac { assignments: a, custom: &[], groups: &[] }
                .access("p", None)
                .propagating(now)
                .is_some()
        };
        assert!(rbac(std::slice::from_ref(&young)));
        assert!(!rbac(&[old]));
        let (ago, _) = age_and_retry(young.created_on.unwrap(), now);
        assert_eq!(ago, "3 minutes ago");
    }

    #[test]
    fn created_on_is_read_as_az_prints_it_and_anything_else_says_what_is_expected() {
        assert!(parse_created_on("2024-05-01T12:34:56.123456+00:00").is_ok());
        let err = parse_created_on("yesterday").unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
    }
}
