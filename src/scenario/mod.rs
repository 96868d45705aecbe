//! Scenario files: read TOML, validate into a [`Scenario`], point at `file:line:column` on error.
//!
//! [`format`](mod@format) holds the file's serde types (and therefore the JSON Schema); this module turns them
//! into the validated [`Scenario`] the runner uses.

pub mod format;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::world::{DYNAMIC_SESSIONS_AUDIENCE, IdentityKind, World};
use format::{BackendFile, ScenarioExpect, ScenarioFile, StepFile};

const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
const DEFAULT_IDENTIFIER: &str = "coding-engine";
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Scenarios retry quickly: the delays only need to show up as distinct attempts in the transcript.
const DEFAULT_RETRY_DELAY_MS: u64 = 10;

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file stem, e.g. `missing-role`.
    pub name: String,
    pub file: PathBuf,
    pub description: String,
    pub deadline: Duration,
    pub world: World,
    pub backend: BackendSettings,
    pub steps: Vec<StepFile>,
    pub expect: ScenarioExpect,
}

/// The backend's configuration, defaults resolved. Becomes its environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSettings {
    pub token_scope: String,
    pub client_id: Option<String>,
    pub identifier: String,
    pub pool_timeout_ms: u64,
    pub token_timeout_ms: u64,
    pub pool_max_retries: u32,
    pub pool_retry_delay_ms: u64,
    pub identity_max_retries: Option<u32>,
    pub identity_retry_delay_ms: Option<u64>,
    pub send_token: bool,
    pub endpoint_shape: format::EndpointShape,
    pub execute_path: Option<String>,
    pub identity_header: Option<String>,
    pub credential: format::CredentialChoice,
    pub pool_api: format::PoolApiChoice,
    pub client_secret: Option<String>,
    pub process: Option<format::ProcessFile>,
    pub federated_token_expired: bool,
}

/// A scenario that cannot be used, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct ScenarioError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Failure to find scenario files at all.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}; pass a .toml scenario file or a folder of them", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} holds no .toml scenario files", path.display())]
    Empty { path: PathBuf },
    #[error(transparent)]
    Invalid(#[from] ScenarioError),
}

impl Scenario {
    /// Read and validate one scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let source = std::fs::read_to_string(path).map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        Ok(Self::parse(path, &source)?)
    }

    /// Validate scenario text; `file` is used for the name and for error locations.
    pub fn parse(file: &Path, source: &str) -> Result<Self, ScenarioError> {
        let at = |offset: usize, message: String| {
            let (line, column) = line_column(source, offset);
            ScenarioError { file: file.to_owned(), line, column, message }
        };
        let raw: ScenarioFile = toml::from_str(source).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            let message = crate::suggest::with_suggestion(e.message().trim());
            // Name the offending key when the error points at its value.
            let message = match key_of_value_at(source, offset) {
                Some(key) if !message.contains(key) => format!("`{key}`: {message}"),
                _ => message,
            };
            at(offset, message)
        })?;
        let locate = |needle: &str| source.find(needle).unwrap_or(0);
        if raw.steps.is_empty() {
            return Err(at(source.len(), "the scenario has no [[steps]]: add at least one request to send to the backend".into()));
        }
        let backend = backend_settings(&raw.backend, &raw.world.identity, &raw.world.pool)
            .map_err(|(needle, message)| at(locate(&needle), message))?;
        let world = World::from_file(raw.world).map_err(|p| at(locate(&p.offending), p.message))?;
        let name = file.file_stem().map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        Ok(Self {
            name,
            file: file.to_owned(),
            description: raw.description.trim().to_owned(),
            deadline: raw.deadline_ms.map_or(DEFAULT_DEADLINE, Duration::from_millis),
            world,
            backend,
            steps: raw.steps,
            expect: raw.expect,
        })
    }

    /// Every scenario under `paths` (files, or folders searched for `*.toml`), sorted by path.
    /// Stops at the first invalid file.
    pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Self>, LoadError> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let entries = std::fs::read_dir(path).map_err(|source| LoadError::Read { path: path.clone(), source })?;
                let mut found: Vec<PathBuf> = entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                    .collect();
                if found.is_empty() {
                    return Err(LoadError::Empty { path: path.clone() });
                }
                found.sort();
                files.extend(found);
            } else {
                files.push(path.clone());
            }
        }
        files.iter().map(Self::load).collect()
    }
}

fn backend_settings(file: &BackendFile, identity: &format::IdentityFile, pool: &format::PoolFile) -> Result<BackendSettings, (String, String)> {
    use format::{ContainerType, EndpointShape, PoolApiChoice};
    let custom = pool.container_type == ContainerType::CustomContainer;
    // Not validated: an empty or too short identifier is how scenarios reproduce the pool's 400s.
    let identifier = file.identifier.clone().unwrap_or_else(|| DEFAULT_IDENTIFIER.into());
    if let Some(path) = &file.execute_path
        && path.contains(['?', '#'])
    {
        return Err((path.clone(), format!("backend.execute_path '{path}' must be a path without query or fragment")));
    }
    let client_id = match (&file.client_id, identity.kind) {
        (Some(id), _) => Some(id.clone()),
        (None, IdentityKind::UserAssigned) => Some(identity.client_id.clone()),
        (None, IdentityKind::SystemAssigned) => None,
    };
    Ok(BackendSettings {
        token_scope: file.token_scope.clone().unwrap_or_else(|| format!("{DYNAMIC_SESSIONS_AUDIENCE}/.default")),
        client_id,
        identifier,
        pool_timeout_ms: file.pool_timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        token_timeout_ms: file.token_timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        pool_max_retries: file.pool_max_retries.unwrap_or(2),
        pool_retry_delay_ms: file.pool_retry_delay_ms.unwrap_or(DEFAULT_RETRY_DELAY_MS),
        identity_max_retries: file.identity_max_retries,
        identity_retry_delay_ms: file.identity_retry_delay_ms,
        send_token: file.send_token.unwrap_or(true),
        endpoint_shape: file.endpoint_shape.unwrap_or(if custom { EndpointShape::Custom } else { EndpointShape::Regional }),
        execute_path: file.execute_path.clone(),
        identity_header: file.identity_header.clone(),
        credential: file.credential.unwrap_or(format::CredentialChoice::ManagedIdentity),
        client_secret: file.client_secret.clone(),
        process: file.process.clone(),
        federated_token_expired: file.federated_token_expired,
        pool_api: file.pool_api.unwrap_or(if custom { PoolApiChoice::Custom } else { PoolApiChoice::Executions }),
    })
}

/// The key of a `key = value` line when `offset` falls in its value.
fn key_of_value_at(source: &str, offset: usize) -> Option<&str> {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &source[start..];
    let line = line.split('\n').next().unwrap_or(line);
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let is_bare_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    (is_bare_key && offset > start + line.find('=')?).then_some(key)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn floor_char_boundary(s: &str, mut index: usize) -> usize {
    while !s.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The JSON Schema of the scenario format.
pub fn json_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ScenarioFile)).expect("a schema is JSON")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
description = "minimal"
[world]
tenant_id = "t"
[world.identity]
enabled = true
kind = "system-assigned"
client_id = "c"
principal_id = "p"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/app"
[world.pool]
name = "pool"
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/sessionPools/pool"
container_type = "CustomContainer"
target_port = 2000
[[steps]]
name = "runtimes"
request.runtimes = {}
"#;

    fn parse(source: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("scenarios/x.toml"), source)
    }

    #[test]
    fn a_minimal_scenario_gets_its_defaults() {
        let scenario = parse(MINIMAL).unwrap();
        assert_eq!(scenario.name, "x");
        assert_eq!(scenario.backend.token_scope, "https://dynamicsessions.io/.default");
        assert_eq!(scenario.backend.client_id, None, "system-assigned needs no client id");
        assert_eq!(scenario.world.piston.runtimes[0].language, "python");
        assert_eq!(scenario.deadline, DEFAULT_DEADLINE);
    }

    #[test]
    fn an_unknown_key_is_reported_with_file_line_and_column() {
        let source = MINIMAL.replace("target_port = 2000", "target_prot = 2000");
        let err = parse(&source).unwrap_err();
        assert_eq!((err.line, err.column), (15, 1), "{err}");
        assert!(err.to_string().starts_with("scenarios/x.toml:15:1: unknown field `target_prot`"), "{err}");
        assert!(err.message.ends_with("did you mean `target_port`?"), "{err}");
    }

    #[test]
    fn a_bad_enum_value_lists_the_valid_ones() {
        let err = parse(&MINIMAL.replace("\"system-assigned\"", "\"system\"")).unwrap_err();
        assert_eq!(err.line, 7);
        assert!(err.message.contains("system-assigned") && err.message.contains("user-assigned"), "{err}");
    }

    #[test]
    fn a_malformed_pool_id_points_at_its_line() {
        let err = parse(&MINIMAL.replace("providers/Microsoft.App/sessionPools/pool", "pool")).unwrap_err();
        assert_eq!((err.line, err.column), (13, 16), "{err}");
        assert!(err.message.contains("sessionPools/pool"), "{err}");
    }

    #[test]
    fn a_wrong_value_type_names_its_key_and_what_was_expected() {
        let err = parse(&MINIMAL.replace("target_port = 2000", "target_port = \"2000\"")).unwrap_err();
        assert_eq!(err.line, 15, "{err}");
        assert!(err.message.starts_with("`target_port`: invalid type: string \"2000\", expected"), "{err}");
    }

    #[test]
    fn line_and_column_count_characters_not_bytes() {
        assert_eq!(line_column("é\nab", 4), (2, 2));
        assert_eq!(line_column("abc", 99), (1, 4));
    }
}
