//! The user's own container images, run as Container Apps runs them, with Docker or Podman.
//!
//! The engine is the first whose `info` answers (a `docker` CLI without a daemon is common, so
//! Podman is tried next), or the one `SESSION_POOL_HARNESS_ENGINE` names. An image is never pulled:
//! a missing one is the user's to pull or build. A container gets its image's own ENTRYPOINT, CMD,
//! WORKDIR and ENV untouched, plus the environment the harness gives (through an env file, so
//! secrets never show in a process list), host networking (the stand-ins' `127.0.0.1` URLs work as
//! they are), and the files that environment points at, mounted read-only at the same path.
//!
//! Every container is named and labelled per run and removed with SIGKILL (an image's PID 1 often
//! ignores SIGTERM, and stopping the `run` client does not stop the container) when its guard is
//! dropped: at the end, at the deadline, on a signal. A harness killed with SIGKILL cannot remove
//! them; `docker ps -a --filter label=session-pool-harness.run` lists what is left then.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use super::process::{Launch, Readiness};

/// The variable that names the engine's CLI (`docker`, `podman`, or a path to either).
pub const ENGINE_VAR: &str = "SESSION_POOL_HARNESS_ENGINE";
/// The label every container of the harness carries; its value is the run's id.
pub const RUN_LABEL: &str = "session-pool-harness.run";
/// How long a program may take to start inside its container and answer on its port.
const IMAGE_READY_WITHIN: Duration = Duration::from_secs(30);

/// A container engine that answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// The CLI to run (`docker`, `podman`, or the path `SESSION_POOL_HARNESS_ENGINE` gave).
    pub cli: String,
}

/// No engine, or no image.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error(
        "running images needs Docker or Podman, and neither answers `info` ({tried}): install Podman (`apt-get install podman runc`) or start the Docker daemon, or name the engine in {ENGINE_VAR}"
    )]
    NoEngine { tried: String },
    #[error(
        "image {image} is not on this machine (the harness never pulls): `{cli} pull {image}`, or build it (`{cli} build -t {image} .`)"
    )]
    MissingImage { image: String, cli: String },
    #[error("{what}: the value of {name} holds a line break, which an env file cannot pass")]
    Multiline { what: String, name: String },
}

impl Engine {
    /// The engine of this machine, found once per process.
    pub fn detect() -> Result<Engine, EngineError> {
        static FOUND: OnceLock<Result<Engine, EngineError>> = OnceLock::new();
        FOUND
            .get_or_init(|| {
                let candidates: Vec<String> = match std::env::var(ENGINE_VAR) {
                    Ok(named) if !named.is_empty() => vec![named],
                    _ => vec!["docker".into(), "podman".into()],
                };
                candidates
                    .iter()
                    .find(|cli| answers(cli))
                    .map(|cli| Engine { cli: cli.clone() })
                    .ok_or_else(|| EngineError::NoEngine { tried: candidates.join(", ") })
            })
            .clone()
    }

    /// Whether `image` is on this machine.
    pub fn has_image(&self, image: &str) -> bool {
        quiet(&self.cli, &["image", "inspect", image])
    }

    /// `image` on this machine, or what to do to get it.
    pub fn require_image(&self, image: &str) -> Result<(), EngineError> {
        if self.has_image(image) {
            Ok(())
        } else {
            Err(EngineError::MissingImage { image: image.to_owned(), cli: self.cli_name() })
        }
    }

    /// The CLI's name, for commands a user types.
    fn cli_name(&self) -> String {
        Path::new(&self.cli).file_name().map_or(self.cli.clone(), |n| n.to_string_lossy().into())
    }
}

/// Whether `cli info` succeeds within a few seconds.
fn answers(cli: &str) -> bool {
    quiet(cli, &["info"])
}

/// Run `cli args` quietly, bounded in time; whether it exited 0.
fn quiet(cli: &str, args: &[&str]) -> bool {
    let child = std::process::Command::new(cli)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else { return false };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// What to run: the image, and how the scenario overrides its ENTRYPOINT and CMD (by default it
/// does not).
#[derive(Debug, Clone)]
pub struct ImageRun<'a> {
    /// `backend` or `container`, for names and messages.
    pub role: &'a str,
    pub image: &'a str,
    pub entrypoint: Option<&'a [String]>,
    pub args: &'a [String],
    /// The whole environment of the container.
    pub env: &'a [(String, String)],
    /// The port the program listens on (host networking: on 127.0.0.1).
    pub port: u16,
    /// Its readiness path.
    pub ready_path: &'a str,
}

/// A container of this run: removed (SIGKILL, then removal) when dropped, however the run ends.
#[derive(Debug)]
pub struct ContainerGuard {
    cli: String,
    name: String,
    env_file: PathBuf,
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.env_file);
        // `kill` first: removal alone may wait out the image's stop timeout.
        let _ = quiet(&self.cli, &["kill", &self.name]);
        let _ = quiet(&self.cli, &["rm", "-f", &self.name]);
    }
}

/// The `run` of `image` as a process the runner starts and awaits like any other (its output is
/// the container's), and the guard that removes the container. The guard exists before the
/// container does, so nothing is left even when the start fails.
pub fn launch(
    engine: &Engine,
    run_id: &str,
    image: &ImageRun<'_>,
) -> Result<(Launch, ContainerGuard), EngineError> {
    let name = format!("sph-{run_id}-{}", image.role);
    let env_file = std::env::temp_dir().join(format!("{name}.env"));
    let guard = ContainerGuard { cli: engine.cli.clone(), name: name.clone(), env_file };
    let mut lines = String::new();
    for (key, value) in image.env {
        if value.contains('\n') || value.contains('\r') {
            return Err(EngineError::Multiline { what: name, name: key.clone() });
        }
        lines.push_str(&format!("{key}={value}\n"));
    }
    write_private(&guard.env_file, &lines).map_err(|e| EngineError::Multiline {
        what: format!("cannot write {}: {e}", guard.env_file.display()),
        name: "(env file)".into(),
    })?;
    let mut args: Vec<String> = vec![
        "run".into(),
        "--rm".into(),
        "--name".into(),
        name.clone(),
        "--label".into(),
        format!("{RUN_LABEL}={run_id}"),
        "--network".into(),
        "host".into(),
        "--env-file".into(),
        guard.env_file.display().to_string(),
    ];
    for file in mounted_files(image.env) {
        args.push("--volume".into());
        args.push(format!("{file}:{file}:ro"));
    }
    let (entrypoint, rest) = match image.entrypoint {
        // `--entrypoint` takes the program; its own arguments come after the image.
        Some([program, more @ ..]) => (Some(program.clone()), more.to_vec()),
        _ => (None, Vec::new()),
    };
    if let Some(program) = entrypoint {
        args.push("--entrypoint".into());
        args.push(program);
    }
    args.push(image.image.to_owned());
    args.extend(rest);
    args.extend(image.args.iter().cloned());
    let url = format!("http://127.0.0.1:{}", image.port);
    let launch = Launch {
        name: image.role.to_owned(),
        program: PathBuf::from(&engine.cli),
        args,
        cwd: None,
        // The engine's CLI needs the user's environment (PATH, HOME, XDG_RUNTIME_DIR) to find its
        // runtime and storage; the container's environment is the env file alone.
        env: std::env::vars().collect(),
        ready: Readiness::HttpAnswer { url, path: image.ready_path.to_owned() },
        ready_within: IMAGE_READY_WITHIN,
    };
    Ok((launch, guard))
}

/// Values of the environment that are absolute paths of existing files (the test CA, a federated
/// token): the container sees them at the same path.
fn mounted_files(env: &[(String, String)]) -> Vec<String> {
    let mut files: Vec<String> = env
        .iter()
        .map(|(_, v)| v)
        .filter(|v| v.starts_with('/') && !v.contains(',') && Path::new(v).is_file())
        .cloned()
        .collect();
    files.sort();
    files.dedup();
    files
}

/// Write `text` to a file only its owner can read (it holds the identity header and secrets).
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_the_environment_points_at_are_mounted_and_nothing_else() {
        let env = vec![
            ("SSL_CERT_FILE".to_owned(), "/etc/hostname".to_owned()),
            ("REQUESTS_CA_BUNDLE".to_owned(), "/etc/hostname".to_owned()),
            ("NO_PROXY".to_owned(), "127.0.0.1,localhost".to_owned()),
            ("HOME".to_owned(), "/".to_owned()),
            ("MISSING".to_owned(), "/no/such/file".to_owned()),
        ];
        assert_eq!(mounted_files(&env), ["/etc/hostname"]);
    }

    #[test]
    fn a_run_names_and_labels_its_container_and_keeps_secrets_out_of_the_command_line() {
        let engine = Engine { cli: "podman".into() };
        let env = vec![("IDENTITY_HEADER".to_owned(), "s3cr3t-header".to_owned())];
        let args = vec!["serve".to_owned()];
        let entrypoint = vec!["/bin/app".to_owned(), "--fast".to_owned()];
        let run = ImageRun {
            role: "backend",
            image: "example.azurecr.io/app:1",
            entrypoint: Some(&entrypoint),
            args: &args,
            env: &env,
            port: 8000,
            ready_path: "/",
        };
        let id = format!("test-{}", std::process::id());

        let (launch, guard) = launch(&engine, &id, &run).unwrap();

        let line = launch.args.join(" ");
        assert!(line.contains(&format!("--name sph-{id}-backend")), "{line}");
        assert!(line.contains(&format!("--label {RUN_LABEL}={id}")), "{line}");
        assert!(line.contains("--network host"), "{line}");
        assert!(
            line.ends_with("--entrypoint /bin/app example.azurecr.io/app:1 --fast serve"),
            "{line}"
        );
        assert!(!line.contains("s3cr3t-header"), "secrets go through the env file: {line}");
        let written = std::fs::read_to_string(&guard.env_file).unwrap();
        assert_eq!(written, "IDENTITY_HEADER=s3cr3t-header\n");
        let file = guard.env_file.clone();
        drop(guard);
        assert!(!file.exists(), "the env file goes with the container");
    }
}
