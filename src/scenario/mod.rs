//! Scenario files: read TOML, validate into a [`Scenario`], point at `file:line:column` on error.
//!
//! [`format`](mod@format) holds the file's serde types (and therefore the JSON Schema); this module turns them
//! into the validated [`Scenario`] the runner uses.

pub mod bounds;
pub mod format;
pub mod select;
pub mod source;
pub mod validate;
pub mod write;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::azure::DYNAMIC_SESSIONS_SCOPE;
use crate::catalogue::Diagnosis;
use crate::transcript::Hop;
use crate::world::{ImageSpec, ProcessSpec, World};
use format::{BackendFile, ScenarioFile, StepFile};
use source::Sources;

const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);
const DEFAULT_IDENTIFIER: &str = "coding-engine";
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Scenarios retry quickly: the delays only need to show up as distinct attempts in the transcript.
const DEFAULT_RETRY_DELAY_MS: u64 = 10;

/// A validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The file stem, e.g. `missing-role`.
    pub(crate) name: String,
    /// The file as given (for reports).
    pub(crate) file: PathBuf,
    /// Its folder, absolute: where its programs run and relative paths start.
    pub(crate) dir: PathBuf,
    pub(crate) description: String,
    pub(crate) deadline: Duration,
    pub(crate) world: World,
    pub(crate) backend: BackendSettings,
    pub(crate) steps: Vec<StepFile>,
    pub(crate) expect: Expectations,
    /// Things worth a look that do not stop the scenario, located in their file.
    pub(crate) warnings: Vec<ScenarioError>,
}

/// What the whole run must show.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expectations {
    /// The diagnosis ids, in any order; empty: not checked.
    pub diagnoses: Vec<Diagnosis>,
    /// Requests each hop must have received.
    pub calls: Vec<(Hop, usize)>,
}

/// The reference backend's configuration, defaults resolved. Becomes its environment variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendSettings {
    pub token_scope: String,
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
    pub process: Option<ProcessSpec>,
    /// The team's backend image, when the backend is run from one.
    pub image: Option<ImageSpec>,
    pub federated_token_expired: bool,
    pub federated_token_subject: Option<String>,
    pub tenant_id: Option<String>,
}

/// A scenario that cannot be used, located in its file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct ScenarioError {
    /// The file the problem is in (a base file, when it is there).
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl ScenarioError {
    /// An error at byte `offset` of `source`, the text of `file`.
    pub(crate) fn at(file: &Path, source: &str, offset: usize, message: String) -> Self {
        let (line, column) = line_column(source, offset);
        Self { file: file.to_owned(), line, column, message }
    }

    /// A TOML or serde error: with "did you mean" for unknown names, and the key named when the
    /// error points at its value.
    pub(crate) fn from_toml(file: &Path, source: &str, offset: usize, message: &str) -> Self {
        let message = crate::suggest::with_suggestion(message);
        let message = match migration_hint(&message) {
            Some(hint) => format!("{message}; {hint}"),
            None => message,
        };
        let message = match key_of_value_at(source, offset) {
            Some(key) if !message.contains(key) => format!("`{key}`: {message}"),
            _ => message,
        };
        Self::at(file, source, offset, message)
    }
}

/// Failure to find scenario files at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot read {}: {source}; pass a .toml scenario file or a folder of them", path.display())]
    /// A file or folder could not be read.
    Read {
        /// What was given.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    #[error("{} holds no .toml scenario files", path.display())]
    /// A folder without scenario files.
    Empty {
        /// The folder.
        path: PathBuf,
    },
    /// A file that is not a valid scenario.
    #[error(transparent)]
    Invalid(#[from] ScenarioError),
}

impl Scenario {
    /// Its name: the file's stem, e.g. `missing-role`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file as it was given.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// One or two sentences: what it reproduces.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The Azure world it describes (to start its stand-ins, [`crate::StandIns::start`]).
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The diagnosis ids its `[expect]` names (empty when it names none).
    pub fn expected_diagnoses(&self) -> &[Diagnosis] {
        &self.expect.diagnoses
    }

    /// Things worth a look that did not stop it, located in their files.
    pub fn warnings(&self) -> &[ScenarioError] {
        &self.warnings
    }

    /// The JSON Schema of the scenario format (`session-pool-harness schema`).
    pub fn json_schema() -> serde_json::Value {
        json_schema()
    }

    /// Read and validate one scenario file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, LoadError> {
        let path = path.as_ref();
        let source = crate::files::read_text(path)
            .map_err(|source| LoadError::Read { path: path.to_owned(), source })?;
        Ok(Self::parse(path, &source)?)
    }

    /// Validate scenario text; `file` is used for the name, for error locations and to find the
    /// bases it `extends`.
    pub fn parse(file: &Path, source: &str) -> Result<Self, ScenarioError> {
        let sources = Sources::load(file, source)?;
        let raw: ScenarioFile = sources.deserialize()?;
        if raw.steps.is_empty() {
            return Err(sources.error_at_end(
                "the scenario has no [[steps]]: add at least one request to send to the backend"
                    .into(),
            ));
        }
        let custom = raw.world.pool.container_type == format::ContainerType::CustomContainer;
        let backend = backend_settings(raw.backend, custom)
            .map_err(|(needle, message)| sources.error_at_text(&needle, message))?;
        let expect = expectations(&raw.expect)
            .map_err(|(needle, message)| sources.error_at_text(&needle, message))?;
        let world = validate::world(raw.world)
            .map_err(|p| sources.error_at_text(&p.offending, p.message))?;
        let warnings = validate::unknown_assignees(&world)
            .into_iter()
            .map(|a| {
                let message = format!(
                    "warning: role assignment for principal {} names no identity of the app, application or developer tool in this world: it concerns nobody the harness plays (a copied id?)",
                    a.principal_id
                );
                sources.error_at_text(&a.principal_id, message)
            })
            .collect();
        let name = file
            .file_stem()
            .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
        Ok(Self {
            name,
            file: file.to_owned(),
            dir: std::path::absolute(file)
                .ok()
                .and_then(|f| f.parent().map(Path::to_path_buf))
                .unwrap_or_else(|| PathBuf::from(".")),
            description: raw.description.trim().to_owned(),
            deadline: raw.deadline_ms.map_or(DEFAULT_DEADLINE, Duration::from_millis),
            world,
            backend,
            steps: raw.steps,
            expect,
            warnings,
        })
    }

    /// A scenario of `world` alone: the reference backend at its defaults, no steps, no
    /// expectations (for [`crate::Runner::start_on`]).
    pub(crate) fn for_world(world: World) -> Self {
        let custom = world.pool.is_custom();
        Self {
            name: world.app.name.clone(),
            file: PathBuf::from("(world built in code)"),
            dir: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            description: String::new(),
            deadline: DEFAULT_DEADLINE,
            world,
            backend: backend_settings(BackendFile::default(), custom)
                .expect("the defaults are valid"),
            steps: Vec::new(),
            expect: Expectations::default(),
            warnings: Vec::new(),
        }
    }

    /// Who plays the backend and the session container in this scenario, and which reference part
    /// stands in for a named part of the team's.
    pub fn players(&self) -> Vec<crate::world::Player> {
        let backend = match (&self.backend.image, &self.backend.process) {
            (Some(image), _) => crate::world::BackendPlayer::Image(image),
            (None, Some(process)) => crate::world::BackendPlayer::Process(process),
            (None, None) => crate::world::BackendPlayer::Reference,
        };
        self.world.players(backend)
    }

    /// Every scenario under `paths` (files, or folders searched for `*.toml`), sorted by path.
    /// Stops at the first invalid file.
    pub fn load_all(paths: &[PathBuf]) -> Result<Vec<Self>, LoadError> {
        let mut files = Vec::new();
        for path in paths {
            if path.is_dir() {
                let entries = std::fs::read_dir(path)
                    .map_err(|source| LoadError::Read { path: path.clone(), source })?;
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

/// The run's expectations, ids checked against the catalogue.
fn expectations(file: &format::ScenarioExpect) -> Result<Expectations, (String, String)> {
    let diagnoses = file
        .diagnoses
        .iter()
        .map(|id| {
            Diagnosis::from_id(id).ok_or_else(|| {
                let known = Diagnosis::ALL.iter().map(|d| d.id());
                let hint = crate::suggest::closest(id, known).map_or_else(String::new, |best| format!("; did you mean `{best}`?"));
                (format!("\"{id}\""), format!("unknown diagnosis id `{id}` in expect.diagnoses{hint} (`session-pool-harness schema` lists them)"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Expectations { diagnoses, calls: file.calls.iter().map(|(hop, n)| (*hop, *n)).collect() })
}

impl Default for BackendSettings {
    /// The reference backend's defaults, for a custom-container pool.
    fn default() -> Self {
        backend_settings(BackendFile::default(), true).expect("the defaults are valid")
    }
}

fn backend_settings(file: BackendFile, custom: bool) -> Result<BackendSettings, (String, String)> {
    let process_given = file.process.is_some();
    use format::{EndpointShape, PoolApiChoice};
    // Not validated: an empty or too short identifier is how scenarios reproduce the pool's 400s.
    let identifier = file.identifier.unwrap_or_else(|| DEFAULT_IDENTIFIER.into());
    if let Some(path) = &file.execute_path
        && path.contains(['?', '#'])
    {
        return Err((
            path.clone(),
            format!("backend.execute_path '{path}' must be a path without query or fragment"),
        ));
    }
    Ok(BackendSettings {
        token_scope: file.token_scope.unwrap_or_else(|| DYNAMIC_SESSIONS_SCOPE.to_owned()),
        identifier,
        pool_timeout_ms: file.pool_timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        token_timeout_ms: file.token_timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS),
        pool_max_retries: file.pool_max_retries.unwrap_or(2),
        pool_retry_delay_ms: file.pool_retry_delay_ms.unwrap_or(DEFAULT_RETRY_DELAY_MS),
        identity_max_retries: file.identity_max_retries,
        identity_retry_delay_ms: file.identity_retry_delay_ms,
        send_token: file.send_token.unwrap_or(true),
        endpoint_shape: file.endpoint_shape.unwrap_or(if custom {
            EndpointShape::Custom
        } else {
            EndpointShape::Regional
        }),
        execute_path: file.execute_path,
        identity_header: file.identity_header,
        credential: file.credential.unwrap_or(format::CredentialChoice::ManagedIdentity),
        client_secret: file.client_secret,
        process: file.process.map(validate::backend_process).transpose()?,
        image: match (file.image, process_given) {
            (Some(_), true) => {
                return Err((
                    "[backend.image]".into(),
                    "give the backend as [backend.process] (a program) or [backend.image] (an image), not both".into(),
                ));
            }
            (image, _) => image.map(validate::backend_image),
        },
        federated_token_expired: file.federated_token_expired,
        federated_token_subject: file.federated_token_subject,
        tenant_id: file.tenant_id,
        pool_api: file.pool_api.unwrap_or(if custom {
            PoolApiChoice::Custom
        } else {
            PoolApiChoice::Executions
        }),
    })
}

/// How to move a key that an earlier version of the format had.
fn migration_hint(message: &str) -> Option<&'static str> {
    if message.starts_with("unknown field `identity`") && message.contains("`app`") {
        Some(
            "[world.identity] became [world.app]: the app's resource_id, `system_assigned = { client_id, principal_id }` and/or [[world.app.user_assigned]] entries (client_id, principal_id, resource_id); AZURE_CLIENT_ID is no longer implied: set it under [world.app.settings] if the app sets it",
        )
    } else if message.starts_with("unknown field `client_id`") && message.contains("`token_scope`")
    {
        Some(
            "backend.client_id became the app setting AZURE_CLIENT_ID: write it under [world.app.settings], as the team sets it on the container app",
        )
    } else if message.starts_with("unknown field `protocol`")
        || message.starts_with("unknown field `token_lifetime_secs`")
    {
        Some(
            "the identity endpoint's protocol and token lifetime moved to [world.identity_endpoint]",
        )
    } else {
        None
    }
}

/// The key of a `key = value` line when `offset` falls in its value.
fn key_of_value_at(source: &str, offset: usize) -> Option<&str> {
    let offset = floor_char_boundary(source, offset.min(source.len()));
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = &source[start..];
    let line = line.split('\n').next().unwrap_or(line);
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let is_bare_key = !key.is_empty()
        && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
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
    let mut schema =
        serde_json::to_value(schemars::schema_for!(ScenarioFile)).expect("a schema is JSON");
    // The file holds ids as strings (the format does not know the catalogue); the schema lists them.
    let ids: Vec<&str> = Diagnosis::ALL.iter().map(|d| d.id()).collect();
    if let Some(items) = schema.pointer_mut("/$defs/ScenarioExpect/properties/diagnoses/items") {
        items["enum"] = serde_json::json!(ids);
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
description = "minimal"
[world]
tenant_id = "t"
[world.app]
resource_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.App/containerApps/app"
system_assigned = { client_id = "c", principal_id = "p" }
[world.app.settings]
LOG_LEVEL = "info"
DB_PASSWORD = { secret_ref = "db-password" }
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
        assert_eq!(scenario.world.app.name, "app", "named after its resource id");
        assert_eq!(
            scenario.world.app.settings.get("DB_PASSWORD"),
            Some(&crate::world::SettingValue::SecretRef("db-password".into()))
        );
        assert_eq!(scenario.world.app.client_id_setting(), None, "nobody set AZURE_CLIENT_ID");
        assert!(scenario.warnings.is_empty());
        assert_eq!(scenario.world.piston.runtimes[0].language, "python");
        assert_eq!(scenario.deadline, DEFAULT_DEADLINE);
    }

    #[test]
    fn an_unknown_key_is_reported_with_file_line_and_column() {
        let source = MINIMAL.replace("target_port = 2000", "target_prot = 2000");
        let err = parse(&source).unwrap_err();
        assert_eq!((err.line, err.column), (15, 1), "{err}");
        assert!(
            err.to_string().starts_with("scenarios/x.toml:15:1: unknown field `target_prot`"),
            "{err}"
        );
        assert!(err.message.ends_with("did you mean `target_port`?"), "{err}");
    }

    #[test]
    fn a_bad_enum_value_lists_the_valid_ones() {
        let err = parse(&MINIMAL.replace("\"CustomContainer\"", "\"Custom\"")).unwrap_err();
        assert_eq!(err.line, 14);
        assert!(
            err.message.contains("CustomContainer") && err.message.contains("PythonLTS"),
            "{err}"
        );
    }

    #[test]
    fn a_setting_is_a_string_or_a_secret_reference_and_nothing_else() {
        let err = parse(&MINIMAL.replace("{ secret_ref = \"db-password\" }", "{ secret = \"x\" }"))
            .unwrap_err();
        assert_eq!(err.line, 10, "{err}");
        assert!(
            err.message.contains("unknown field `secret`") && err.message.contains("secret_ref"),
            "{err}"
        );
        let err = parse(&MINIMAL.replace("\"info\"", "3")).unwrap_err();
        assert!(err.message.contains("a string, or { secret_ref"), "{err}");
    }

    #[test]
    fn an_unknown_diagnosis_id_is_located_and_gets_a_suggestion() {
        let err =
            parse(&format!("{MINIMAL}[expect]\ndiagnoses = [\"missing-rol\"]\n")).unwrap_err();
        assert_eq!(err.line, 20, "{err}");
        assert!(err.message.contains("did you mean `missing-role`"), "{err}");
    }

    #[test]
    fn a_role_assignment_for_a_stranger_is_a_located_warning() {
        let source = MINIMAL.replace("[world.pool]", "[[world.role_assignments]]\nprincipal_id = \"stranger\"\nrole = \"Reader\"\nscope = \"/subscriptions/s\"\n[world.pool]");
        let scenario = parse(&source).unwrap();
        assert_eq!(scenario.warnings.len(), 1);
        assert_eq!(scenario.warnings[0].line, 12, "{}", scenario.warnings[0]);
        assert!(scenario.warnings[0].message.contains("stranger"));
    }

    #[test]
    fn a_malformed_pool_id_points_at_its_line() {
        let err = parse(&MINIMAL.replace("providers/Microsoft.App/sessionPools/pool", "pool"))
            .unwrap_err();
        assert_eq!((err.line, err.column), (13, 16), "{err}");
        assert!(err.message.contains("sessionPools/pool"), "{err}");
    }

    #[test]
    fn a_wrong_value_type_names_its_key_and_what_was_expected() {
        let err =
            parse(&MINIMAL.replace("target_port = 2000", "target_port = \"2000\"")).unwrap_err();
        assert_eq!(err.line, 15, "{err}");
        assert!(
            err.message.starts_with("`target_port`: invalid type: string \"2000\", expected"),
            "{err}"
        );
    }

    #[test]
    fn line_and_column_count_characters_not_bytes() {
        assert_eq!(line_column("é\nab", 4), (2, 2));
        assert_eq!(line_column("abc", 99), (1, 4));
    }
}
