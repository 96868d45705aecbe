//! `az containerapp show`, `az containerapp sessionpool show` and `az role assignment list` output,
//! as typed models (FIDELITY §7). Unknown fields are ignored (real output has dozens); a missing or
//! mistyped field the harness needs is an error naming the file and its JSON path.

pub mod app;
pub mod pool;
pub mod rbac;
pub mod roles;

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

pub use app::ContainerApp;
pub use pool::SessionPool;
pub use roles::{Assignment, RoleAssignmentList};

/// An `az` file that cannot be used: which file, where in it, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum AzError {
    #[error("cannot read {} ({source}): pass the file written by `{command}`", file.display())]
    Read { file: PathBuf, command: &'static str, source: std::io::Error },
    #[error("{what} is required: pass the file written by `{command}`")]
    Missing { what: &'static str, command: &'static str },
    #[error("{}: not JSON ({detail}){hint}: pass the output of `{command}`", file.display())]
    NotJson { file: PathBuf, command: &'static str, detail: String, hint: String },
    #[error("{}: at {path}: {message} (expected the output of `{command}`)", file.display())]
    Field { file: PathBuf, command: &'static str, path: String, message: String },
}

impl AzError {
    /// A problem found after parsing, at a JSON path.
    pub fn field(
        file: &Path,
        command: &'static str,
        path: &str,
        message: impl Into<String>,
    ) -> Self {
        Self::Field {
            file: file.to_owned(),
            command,
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

/// The three files of one app's world.
#[derive(Debug, Clone)]
pub struct AzFiles {
    pub app: ContainerApp,
    pub app_file: PathBuf,
    pub pool: Option<SessionPool>,
    pub pool_file: Option<PathBuf>,
    pub roles: RoleAssignmentList,
    pub roles_file: Option<PathBuf>,
    /// Custom role definitions (`--role-definitions`).
    pub definitions: Vec<crate::world::RoleDefinition>,
    /// Group memberships (`--group-members`): the group's id when the user named it, its members.
    pub group_members: Vec<GroupMembers>,
}

/// One `--group-members [GROUP_ID=]FILE`.
#[derive(Debug, Clone)]
pub struct GroupMembers {
    /// The group's object id; `None` when the file was given alone (then it belongs to the only
    /// group that holds an assignment).
    pub group: Option<String>,
    pub members: Vec<String>,
}

impl AzFiles {
    /// Read the app, and the pool and role assignments when given.
    pub fn read(app: &Path, pool: Option<&Path>, roles: Option<&Path>) -> Result<Self, AzError> {
        Ok(Self {
            app: read(app, app::COMMAND)?,
            app_file: app.to_owned(),
            pool: pool.map(|p| read(p, pool::COMMAND)).transpose()?,
            pool_file: pool.map(Path::to_owned),
            roles: roles.map(|r| read(r, roles::COMMAND)).transpose()?.unwrap_or_default(),
            roles_file: roles.map(Path::to_owned),
            definitions: Vec::new(),
            group_members: Vec::new(),
        })
    }

    /// Add the custom role definitions of `file` (`az role definition list --custom-role-only`).
    pub fn with_definitions(mut self, file: Option<&Path>) -> Result<Self, AzError> {
        if let Some(file) = file {
            let raw: Vec<rbac::RawDefinition> = read(file, rbac::DEFINITIONS_COMMAND)?;
            self.definitions.extend(raw.iter().map(rbac::RawDefinition::definition));
        }
        Ok(self)
    }

    /// Add group memberships, each `[GROUP_ID=]FILE` (`az ad group member list`).
    pub fn with_group_members(mut self, specs: &[String]) -> Result<Self, AzError> {
        for spec in specs {
            let (group, file) = match spec.split_once('=') {
                Some((group, file)) => (Some(group.trim().to_owned()), PathBuf::from(file)),
                None => (None, PathBuf::from(spec)),
            };
            let raw: Vec<rbac::RawMember> = read(&file, rbac::MEMBERS_COMMAND)?;
            let members = raw.into_iter().map(|m| m.id).collect();
            self.group_members.push(GroupMembers { group, members });
        }
        Ok(self)
    }
}

/// Read one file into its model; `command` is what the user should have run to produce it.
pub fn read<T: DeserializeOwned>(file: &Path, command: &'static str) -> Result<T, AzError> {
    let text = crate::files::read_text(file).map_err(|source| AzError::Read {
        file: file.to_owned(),
        command,
        source,
    })?;
    parse(file, &text, command)
}

/// Parse `text` (the content of `file`) into its model.
pub fn parse<T: DeserializeOwned>(
    file: &Path,
    text: &str,
    command: &'static str,
) -> Result<T, AzError> {
    if let Err(error) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        let hint = if first.starts_with("ERROR") {
            format!(" — it holds an az error message: {}", excerpt(first))
        } else {
            String::new()
        };
        return Err(AzError::NotJson {
            file: file.to_owned(),
            command,
            detail: error.to_string(),
            hint,
        });
    }
    let mut deserializer = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let message = error.inner().to_string();
        let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
        AzError::Field {
            file: file.to_owned(),
            command,
            path: json_path(error.path(), &message),
            message,
        }
    })
}

/// `$.a.b[0].c`, with the missing field appended when serde says which.
fn json_path(path: &serde_path_to_error::Path, message: &str) -> String {
    let mut text = String::from("$");
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => text.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key }
            | serde_path_to_error::Segment::Enum { variant: key } => {
                text.push('.');
                text.push_str(key);
            }
            serde_path_to_error::Segment::Unknown => text.push_str(".?"),
        }
    }
    if let Some(field) =
        message.strip_prefix("missing field `").and_then(|rest| rest.split('`').next())
    {
        text.push('.');
        text.push_str(field);
    }
    text
}

fn excerpt(line: &str) -> String {
    crate::text::excerpt(line, 160)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/az").join(path)
    }

    #[test]
    fn a_missing_field_is_named_by_its_json_path() {
        let err =
            read::<ContainerApp>(&fixture("broken/app-missing-identity-type.json"), app::COMMAND)
                .unwrap_err()
                .to_string();
        assert!(
            err.contains(
                "app-missing-identity-type.json: at $.identity.type: missing field `type`"
            ),
            "{err}"
        );
        assert!(err.contains("az containerapp show"), "{err}");
    }

    #[test]
    fn a_mistyped_field_is_named_by_its_json_path_and_what_was_expected() {
        let err = read::<SessionPool>(&fixture("broken/pool-port-as-string.json"), pool::COMMAND)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at $.properties.customContainerTemplate.ingress.targetPort: invalid type: string \"2000\""), "{err}");
    }

    #[test]
    fn an_az_error_message_instead_of_json_is_recognised() {
        let err = read::<ContainerApp>(&fixture("broken/app-not-json.txt"), app::COMMAND)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("not JSON")
                && err.contains("it holds an az error message: ERROR: (ResourceNotFound)"),
            "{err}"
        );
    }

    #[test]
    fn a_role_list_must_be_a_list_or_the_arm_value_form() {
        let err =
            read::<RoleAssignmentList>(&fixture("broken/roles-not-a-list.json"), roles::COMMAND)
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("at $: ")
                && err.contains("a JSON list")
                && err.contains("{\"value\":[…]}"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_says_which_command_writes_it() {
        let err =
            read::<ContainerApp>(Path::new("nowhere.json"), app::COMMAND).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read nowhere.json") && err.contains("az containerapp show"),
            "{err}"
        );
    }
}
