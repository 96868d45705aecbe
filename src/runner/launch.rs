//! How the runner starts the backend and the session container: the reference processes by default,
//! or any program a scenario names (`[backend.process]`, `[world.pool.container]`), configured only
//! through its environment and argv, with `{placeholders}` for every stand-in address and secret.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::devtools::FakeTools;
use super::engine::{self, ContainerGuard, Engine, EngineError, ImageRun};
use super::process::{Launch, Readiness};
use crate::scenario::Scenario;
use crate::standins::StandIns;
use crate::world::{ImageSpec, ProcessSpec, SessionContainer};

/// How long a reference process may take to print its readiness line.
const REFERENCE_READY_WITHIN: Duration = Duration::from_secs(10);
/// How long any other program may take to answer its readiness path.
const EXTERNAL_READY_WITHIN: Duration = Duration::from_secs(20);
/// `PATH` when the harness itself has none.
const SYSTEM_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// The user's `PATH` (programs find what their shell finds: `PATH` is not an Azure platform
/// variable), after the fake tools when there are any, so that they shadow a real `az`/`azd`.
fn user_path(tools: Option<&FakeTools>) -> String {
    let user = std::env::var("PATH")
        .ok()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| SYSTEM_PATH.to_owned());
    tools.map_or_else(|| user.clone(), |t| format!("{}:{user}", t.path()))
}

/// A scenario's process specification that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("unknown placeholder {{{name}}} in {what}; known: {known}")]
    UnknownPlaceholder { name: String, what: String, known: String },
    #[error("{what} has an empty command: give the program and its arguments")]
    EmptyCommand { what: String },
    #[error("cannot find a free loopback port: {0}")]
    Port(std::io::Error),
    #[error(
        "{what} points at {url}, which is not loopback: processes under test may only reach 127.0.0.1 (pass --allow-non-loopback to run it anyway)"
    )]
    NonLoopback { what: String, url: String },
    #[error("{role}: {error}")]
    Image { role: String, error: EngineError },
}

impl LaunchError {
    /// The process the error is about (`backend`, `container`), when it is about one.
    pub fn process(&self) -> Option<&str> {
        match self {
            Self::UnknownPlaceholder { what, .. }
            | Self::EmptyCommand { what }
            | Self::NonLoopback { what, .. } => what.split('.').next(),
            Self::Image { role, .. } => Some(role),
            Self::Port(_) => None,
        }
    }
}

/// Where the programs the runner starts come from.
#[derive(Debug, Clone)]
pub struct ProgramPaths {
    /// This harness (its `backend` and `adapter` subcommands).
    pub harness: PathBuf,
    /// The Python interpreter for `{python}`.
    pub python: PathBuf,
    /// Run scenarios whose programs are given non-loopback URLs (off by default).
    pub allow_non_loopback: bool,
}

/// A process to start, and the container it runs in when it runs an image (removed when dropped).
#[derive(Debug)]
pub struct Prepared {
    pub launch: Launch,
    pub container: Option<ContainerGuard>,
}

impl From<Launch> for Prepared {
    fn from(launch: Launch) -> Self {
        Self { launch, container: None }
    }
}

/// The reference adapter, or the scenario's container program or image, listening for the pool.
pub fn container(
    scenario: &Scenario,
    stand_ins: &StandIns,
    programs: &ProgramPaths,
    run_id: &str,
) -> Result<Prepared, LaunchError> {
    let mut env = stand_ins.container_env();
    match &scenario.world.pool.container {
        None => Ok(reference("adapter", programs, env).into()),
        Some(SessionContainer::Process(spec)) => {
            let port = free_port()?;
            env.push(("PORT".into(), port.to_string()));
            env.push(("CONTAINER_APP_PORT".into(), port.to_string()));
            env.push(("PATH".into(), user_path(None)));
            Ok(external("container", spec, scenario, stand_ins, programs, port, env)?.into())
        }
        Some(SessionContainer::Image(image)) => {
            // The pool template's environment, and the harness's loopback guard (the proxy trap):
            // nothing of the reference adapter's settings.
            let port = scenario.world.pool.target_port.unwrap_or(80);
            let env: Vec<(String, String)> =
                env.into_iter().filter(|(k, _)| k != "PISTON_URL").collect();
            let env = image_env("container", image, scenario, stand_ins, programs, port, env)?;
            from_image("container", image, port, &env, run_id)
        }
    }
}

/// The environment of an image: `base`, then the scenario's `env` with placeholders filled.
fn image_env(
    name: &str,
    image: &ImageSpec,
    scenario: &Scenario,
    stand_ins: &StandIns,
    programs: &ProgramPaths,
    port: u16,
    mut env: Vec<(String, String)>,
) -> Result<Vec<(String, String)>, LaunchError> {
    let values = placeholders(stand_ins, programs, port, &scenario.dir);
    let what = |field: &str| format!("{name}.{field} of {}", scenario.file.display());
    for (key, value) in &image.env {
        env.retain(|(k, _)| k != key);
        let value = fill(value, &values, &what("env"))?;
        if !programs.allow_non_loopback
            && let Some(url) = non_loopback_url(&value)
        {
            return Err(LaunchError::NonLoopback { what: what("env"), url });
        }
        env.push((key.clone(), value));
    }
    Ok(env)
}

/// `image` run by the machine's engine, named and labelled for `run_id`, ready on `port`.
fn from_image(
    role: &str,
    image: &ImageSpec,
    port: u16,
    env: &[(String, String)],
    run_id: &str,
) -> Result<Prepared, LaunchError> {
    let engine =
        Engine::detect().map_err(|e| LaunchError::Image { role: role.into(), error: e })?;
    engine
        .require_image(&image.name)
        .map_err(|e| LaunchError::Image { role: role.into(), error: e })?;
    let run = ImageRun {
        role,
        image: &image.name,
        entrypoint: image.entrypoint.as_deref(),
        args: &image.args,
        env,
        port,
        ready_path: image.ready_path.as_deref().unwrap_or("/"),
    };
    let (launch, guard) = engine::launch(&engine, run_id, &run)
        .map_err(|e| LaunchError::Image { role: role.into(), error: e })?;
    Ok(Prepared { launch, container: Some(guard) })
}

/// The reference backend, or the scenario's backend program or image, with the platform's
/// environment.
pub fn backend(
    scenario: &Scenario,
    stand_ins: &StandIns,
    programs: &ProgramPaths,
    tools: Option<&FakeTools>,
    extra: Vec<(String, String)>,
    run_id: &str,
) -> Result<Prepared, LaunchError> {
    if let Some(image) = &scenario.backend.image {
        let port = image.port.unwrap_or(80);
        let mut env = stand_ins.platform_env(&scenario.backend);
        env.extend(extra);
        let env = image_env("backend", image, scenario, stand_ins, programs, port, env)?;
        return from_image("backend", image, port, &env, run_id);
    }
    let mut env = stand_ins.backend_env_with(&scenario.backend);
    env.extend(extra);
    match &scenario.backend.process {
        None => {
            if let Some(tools) = tools {
                env.push(("PATH".into(), tools.path()));
            }
            Ok(reference("backend", programs, env).into())
        }
        Some(spec) => {
            let port = free_port()?;
            env.push(("PORT".into(), port.to_string()));
            env.push(("PATH".into(), user_path(tools)));
            if let Some(tools) = tools {
                env.push(("HOME".into(), tools.path()));
            }
            Ok(external("backend", spec, scenario, stand_ins, programs, port, env)?.into())
        }
    }
}

fn reference(subcommand: &str, programs: &ProgramPaths, env: Vec<(String, String)>) -> Launch {
    Launch {
        name: subcommand.to_owned(),
        program: programs.harness.clone(),
        args: vec![subcommand.to_owned()],
        cwd: None,
        env,
        ready: Readiness::AnnouncedUrl,
        ready_within: REFERENCE_READY_WITHIN,
    }
}

fn external(
    name: &str,
    spec: &ProcessSpec,
    scenario: &Scenario,
    stand_ins: &StandIns,
    programs: &ProgramPaths,
    port: u16,
    mut env: Vec<(String, String)>,
) -> Result<Launch, LaunchError> {
    let scenario_dir = scenario.dir.clone();
    let values = placeholders(stand_ins, programs, port, &scenario_dir);
    let what = |field: &str| format!("{name}.{field} of {}", scenario.file.display());
    let mut argv = spec
        .command
        .iter()
        .map(|a| fill(a, &values, &what("command")))
        .collect::<Result<Vec<_>, _>>()?;
    if argv.is_empty() {
        return Err(LaunchError::EmptyCommand { what: what("command") });
    }
    let program = PathBuf::from(argv.remove(0));
    for (key, value) in &spec.env {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), fill(value, &values, &what("env"))?));
    }
    if !programs.allow_non_loopback {
        let given =
            argv.iter().map(|a| ("command", a.as_str())).chain(spec.env.keys().filter_map(|k| {
                env.iter().find(|(key, _)| key == k).map(|(_, v)| ("env", v.as_str()))
            }));
        for (field, value) in given {
            if let Some(url) = non_loopback_url(value) {
                return Err(LaunchError::NonLoopback { what: what(field), url });
            }
        }
    }
    let cwd = match &spec.cwd {
        Some(cwd) => scenario_dir.join(fill(cwd, &values, &what("cwd"))?),
        None => scenario_dir,
    };
    let url = format!("http://127.0.0.1:{port}");
    let path = spec.ready_path.clone().unwrap_or_else(|| "/".into());
    Ok(Launch {
        name: name.to_owned(),
        program,
        args: argv,
        cwd: Some(cwd),
        env,
        ready: Readiness::HttpAnswer { url, path },
        ready_within: spec.ready_within.unwrap_or(EXTERNAL_READY_WITHIN),
    })
}

/// The values of every placeholder.
fn placeholders(
    stand_ins: &StandIns,
    programs: &ProgramPaths,
    port: u16,
    scenario_dir: &Path,
) -> Vec<(&'static str, String)> {
    let mut values = vec![
        ("port", port.to_string()),
        ("harness", programs.harness.display().to_string()),
        ("python", programs.python.display().to_string()),
        ("scenario_dir", scenario_dir.display().to_string()),
    ];
    values.extend(stand_ins.placeholders());
    values
}

/// Replace `{name}` by its value; an unknown name is an error that lists the known ones.
pub fn fill(
    text: &str,
    values: &[(&'static str, String)],
    what: &str,
) -> Result<String, LaunchError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            return Ok(out);
        };
        let name = &after[..close];
        match values.iter().find(|(k, _)| *k == name) {
            Some((_, value)) => out.push_str(value),
            None => {
                let known =
                    values.iter().map(|(k, _)| format!("{{{k}}}")).collect::<Vec<_>>().join(", ");
                return Err(LaunchError::UnknownPlaceholder {
                    name: name.to_owned(),
                    what: what.to_owned(),
                    known,
                });
            }
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The first `http(s)://` URL in `text` whose host is not loopback. Each word (of a command line,
/// an argument, an environment value) is read from its first `scheme://` as one URL, parsed as a
/// URL: what its query or path holds (`…?resource=https://dynamicsessions.io`) is not a destination.
pub fn non_loopback_url(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`'))
        .filter_map(|word| {
            let at = word.find("://")?;
            let start = word[..at].rfind(|c: char| !is_scheme_char(c)).map_or(0, |i| i + 1);
            Some(&word[start..])
        })
        .find_map(|candidate| {
            let url = url::Url::parse(candidate).ok()?;
            if !matches!(url.scheme(), "http" | "https") {
                return None;
            }
            let loopback = match url.host()? {
                url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
                url::Host::Ipv4(address) => address.is_loopback(),
                url::Host::Ipv6(address) => address.is_loopback(),
            };
            (!loopback).then(|| url.origin().ascii_serialization())
        })
}

/// A character of a URL scheme (RFC 3986: letters, digits, `+`, `-`, `.`).
fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

/// A free loopback port (bound, read, released: the program binds it right after).
fn free_port() -> Result<u16, LaunchError> {
    crate::ports::unused_loopback_port().map_err(LaunchError::Port)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_urls_pass() {
        for ok in [
            "http://127.0.0.1:80/x",
            "https://localhost/x",
            "http://[::1]:9/",
            "no url here",
            "file:///tmp/x",
        ] {
            assert_eq!(non_loopback_url(ok), None, "{ok}");
        }
        assert_eq!(
            non_loopback_url("--pool=https://pool.eastus.azurecontainerapps.io/x").as_deref(),
            Some("https://pool.eastus.azurecontainerapps.io")
        );
        assert_eq!(
            non_loopback_url("http://10.0.0.4:8080").as_deref(),
            Some("http://10.0.0.4:8080")
        );
        assert_eq!(
            non_loopback_url("http://user@169.254.169.254/").as_deref(),
            Some("http://169.254.169.254"),
            "named without its user part (it may hold a password)"
        );
        assert_eq!(
            non_loopback_url("http://127.evil.com/x").as_deref(),
            Some("http://127.evil.com"),
            "a name, not an address"
        );
        assert_eq!(non_loopback_url("http://127.0.0.2:9/"), None);
    }

    #[test]
    fn a_url_inside_a_loopback_urls_query_is_not_a_destination() {
        let token_request = "curl 'http://127.0.0.1:9/msi/token?api-version=2019-08-01&resource=https://dynamicsessions.io'";
        assert_eq!(non_loopback_url(token_request), None);
        assert_eq!(
            non_loopback_url("sh -c 'curl https://login.microsoftonline.com/t?x=http://127.0.0.1'")
                .as_deref(),
            Some("https://login.microsoftonline.com"),
            "but a remote URL whose query names loopback is still remote"
        );
    }

    #[test]
    fn placeholders_are_filled_and_unknown_ones_name_the_known() {
        let values =
            vec![("port", "4100".to_owned()), ("pool_endpoint", "http://127.0.0.1:9".to_owned())];
        assert_eq!(
            fill("--port={port} {pool_endpoint}/x", &values, "w").unwrap(),
            "--port=4100 http://127.0.0.1:9/x"
        );
        assert_eq!(
            fill("json {\"a\"", &values, "w").unwrap(),
            "json {\"a\"",
            "an unclosed brace is left alone"
        );
        let err = fill("{prot}", &values, "backend.command").unwrap_err().to_string();
        assert!(
            err.contains("unknown placeholder {prot} in backend.command") && err.contains("{port}"),
            "{err}"
        );
    }
}
