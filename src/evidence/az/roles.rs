//! `az role assignment list --all -o json` (a list of flat objects) or the raw ARM REST form
//! (`{"value":[{"id","name","properties":{…}}]}`, no `roleDefinitionName`): FIDELITY §7, DOC.

use serde::Deserialize;

use super::AzError;

/// What the user runs to produce this file.
pub const COMMAND: &str = "az role assignment list --all -o json";

/// One role assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    pub principal_id: String,
    /// `principalName`: for a managed identity, its service principal's appId (client id).
    pub principal_name: Option<String>,
    /// `roleDefinitionName` when the CLI printed it, else the definition's id (a GUID).
    pub role: String,
    pub scope: String,
    /// `principalType` is `Group`: the role is held by the group's members (DOC).
    pub is_group: bool,
    /// `condition`, when the assignment has one (never evaluated).
    pub condition: Option<String>,
    /// `createdOn` as printed (RFC 3339).
    pub created_on: Option<String>,
    /// Where it sits in the file, for messages (`$[3]`, `$.value[3].properties`).
    pub json_path: String,
}

/// The assignments of one file, in either form.
#[derive(Debug, Clone, Default)]
pub struct RoleAssignmentList {
    raw: Vec<RawAssignment>,
    arm_form: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawAssignment {
    #[serde(rename = "principalId", default)]
    principal_id: Option<String>,
    #[serde(rename = "principalName", default)]
    principal_name: Option<String>,
    #[serde(rename = "roleDefinitionId", default)]
    role_definition_id: Option<String>,
    #[serde(rename = "roleDefinitionName", default)]
    role_definition_name: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(rename = "principalType", default)]
    principal_type: Option<String>,
    #[serde(default)]
    condition: Option<String>,
    #[serde(rename = "createdOn", default)]
    created_on: Option<String>,
    #[serde(default)]
    properties: Option<Box<RawAssignment>>,
}

impl<'de> Deserialize<'de> for RoleAssignmentList {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RoleAssignmentList;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON list of role assignments (az role assignment list) or {\"value\":[…]} (the ARM REST form)")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<RoleAssignmentList, A::Error> {
                let mut raw = Vec::new();
                while let Some(item) = seq.next_element()? {
                    raw.push(item);
                }
                Ok(RoleAssignmentList { raw, arm_form: false })
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RoleAssignmentList, A::Error> {
                let mut raw = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key == "value" {
                        raw = Some(map.next_value()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                raw.map(|raw| RoleAssignmentList { raw, arm_form: true }).ok_or_else(|| serde::de::Error::custom("an object without `value`: expected a JSON list of role assignments (az role assignment list) or {\"value\":[…]} (the ARM REST form)"))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

impl RoleAssignmentList {
    /// Every assignment, its required fields checked; `file` is for the error.
    pub fn assignments(&self, file: &std::path::Path) -> Result<Vec<Assignment>, AzError> {
        self.raw
            .iter()
            .enumerate()
            .map(|(index, raw)| {
                let (fields, path) = match (&raw.properties, self.arm_form) {
                    (Some(inner), _) => (inner.as_ref(), format!("$.value[{index}].properties")),
                    (None, true) => (raw, format!("$.value[{index}]")),
                    (None, false) => (raw, format!("$[{index}]")),
                };
                let need = |value: &Option<String>, key: &str| {
                    value.clone().ok_or_else(|| {
                        AzError::field(
                            file,
                            COMMAND,
                            &format!("{path}.{key}"),
                            format!("missing field `{key}`"),
                        )
                    })
                };
                let role_definition_id = need(&fields.role_definition_id, "roleDefinitionId")?;
                let role = fields.role_definition_name.clone().unwrap_or_else(|| {
                    role_definition_id.rsplit('/').next().unwrap_or_default().to_owned()
                });
                Ok(Assignment {
                    principal_id: need(&fields.principal_id, "principalId")?,
                    principal_name: fields.principal_name.clone(),
                    role,
                    scope: need(&fields.scope, "scope")?,
                    is_group: fields
                        .principal_type
                        .as_deref()
                        .is_some_and(|t| t.eq_ignore_ascii_case("Group")),
                    condition: fields.condition.clone().filter(|c| !c.trim().is_empty()),
                    created_on: fields.created_on.clone(),
                    json_path: path,
                })
            })
            .collect()
    }
}
