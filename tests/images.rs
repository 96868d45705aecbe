//! The team's own images, run by a real container engine (Docker or Podman) as Container Apps runs
//! them. No registry is reachable here, so the images are assembled from files: the harness binary
//! with the shared libraries `ldd` lists and the CA bundle, imported as a root filesystem and run as
//! the reference backend (`backend`) or as a session container (`adapter`).
//!
//! Without an engine these tests are reported as ignored, with the reason and the install command;
//! under `CI=true` they fail instead.

#[path = "harness/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Failed, Trial};
use session_pool_harness::Scenario;

use helpers::{BIN, extending, unique};

const INSTALL: &str = "apt-get install podman runc (and, on kernels with hybrid cgroups, runtime = \"runc\" in /etc/containers/containers.conf), or start the Docker daemon, or name the engine in SESSION_POOL_HARNESS_ENGINE";

/// One test, given the engine's CLI.
type Test = fn(&str) -> Result<(), Failed>;

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let engine = engine();
    let absent = engine.is_none();
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if absent && !in_ci {
        eprintln!("images: ignored: no container engine answers `info`; to run them: {INSTALL}");
    }
    let tests: [(&str, Test); 7] = [
        ("reference_backend_image_with_missing_role_is_missing_role", missing_role),
        ("reference_backend_image_on_the_happy_path_is_ok", happy_path),
        ("reference_backend_image_with_no_target_port_is_no_target_port", no_target_port),
        ("session_image_answering_properties_is_output_lost", output_lost),
        ("a_missing_image_exits_2_naming_it", missing_image),
        ("no_container_is_left_after_ctrl_c", |e| left_after_signal(e, libc::SIGINT)),
        ("no_container_is_left_after_sigterm", |e| left_after_signal(e, libc::SIGTERM)),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            let engine = engine.clone();
            Trial::test(name, move || match &engine {
                Some(engine) => test(engine),
                None => Err(format!("no container engine answers `info`: {INSTALL}").into()),
            })
            .with_ignored_flag(absent && !in_ci)
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(Ok(tar)) = TAR.get() {
        let _ = std::fs::remove_dir_all(tar.parent().unwrap_or(tar));
    }
    conclusion.exit_code()
}

/// The root filesystem's tar, built once per run of these tests.
static TAR: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The engine's CLI: `SESSION_POOL_HARNESS_ENGINE`, else the first of docker and podman whose
/// `info` answers (the harness chooses the same way).
fn engine() -> Option<String> {
    let candidates = match std::env::var("SESSION_POOL_HARNESS_ENGINE") {
        Ok(named) if !named.is_empty() => vec![named],
        _ => vec!["docker".to_owned(), "podman".to_owned()],
    };
    candidates.into_iter().find(|cli| {
        Command::new(cli)
            .arg("info")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn run(engine: &str, args: &[&str]) -> Result<String, Failed> {
    let output = Command::new(engine).args(args).output().map_err(|e| format!("{engine}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{engine} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// A root filesystem with the harness binary, the libraries it links and the CA bundle, as a tar.
fn rootfs() -> Result<&'static Path, Failed> {
    let built = TAR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sph-image-{}", unique()));
        let root = dir.join("root");
        let copy = |from: &Path, to: &str| -> Result<(), String> {
            let target = root.join(to.trim_start_matches('/'));
            std::fs::create_dir_all(target.parent().unwrap()).map_err(|e| e.to_string())?;
            std::fs::copy(from, &target).map(drop).map_err(|e| format!("{}: {e}", from.display()))
        };
        copy(Path::new(BIN), "/bin/session-pool-harness")?;
        let ldd = Command::new("ldd").arg(BIN).output().map_err(|e| format!("ldd: {e}"))?;
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`.
            let path = line.split("=>").last().unwrap_or("").split_whitespace().next();
            if let Some(path) = path.filter(|p| p.starts_with('/')) {
                copy(Path::new(path), path)?;
            }
        }
        copy(
            Path::new("/etc/ssl/certs/ca-certificates.crt"),
            "/etc/ssl/certs/ca-certificates.crt",
        )?;
        std::fs::create_dir_all(root.join("tmp")).map_err(|e| e.to_string())?;
        let tar = dir.join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .map_err(|e| format!("tar: {e}"))?;
        if !status.success() {
            return Err("tar failed".into());
        }
        Ok(tar)
    });
    built.as_deref().map_err(|e| e.clone().into())
}

/// An image of its own for one test (so that its containers are told apart from other tests'):
/// the harness as `cmd`, with `env` as the image's ENV.
fn image(engine: &str, cmd: &str, env: &[(&str, &str)]) -> Result<String, Failed> {
    let tag = format!("localhost/sph-test-{cmd}:{}", unique());
    let mut args = vec![
        "import".to_owned(),
        "--change".to_owned(),
        r#"ENTRYPOINT ["/bin/session-pool-harness"]"#.to_owned(),
        "--change".to_owned(),
        format!(r#"CMD ["{cmd}"]"#),
    ];
    for (key, value) in env {
        args.push("--change".into());
        args.push(format!("ENV {key}={value}"));
    }
    args.push(rootfs()?.display().to_string());
    args.push(tag.clone());
    run(engine, &args.iter().map(String::as_str).collect::<Vec<_>>())?;
    Ok(tag)
}

/// Containers of `image`, running or not.
fn containers_of(engine: &str, image: &str) -> Result<Vec<String>, Failed> {
    let out = run(engine, &["ps", "-a", "-q", "--filter", &format!("ancestor={image}")])?;
    Ok(out.lines().map(str::to_owned).filter(|l| !l.is_empty()).collect())
}

fn remove_image(engine: &str, image: &str) {
    let _ = Command::new(engine).args(["rmi", "-f", image]).output();
}

/// A scenario file extending `shipped` with `rest`, in a folder of its own.
fn scenario(shipped: &str, rest: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sph-images-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("image.toml");
    std::fs::write(&file, extending(shipped, rest)).unwrap();
    file
}

/// A free loopback port for an image's fixed port (host networking).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The reference backend as the team's image: listening on `port` (its image's ENV), finding the
/// pool through the app's setting, as a team's backend does.
fn backend_image_rest(image: &str, port: u16) -> String {
    format!(
        "[backend.image]\nname = {image:?}\nport = {port}\n\n[world.app.settings]\nSESSION_POOL_ENDPOINT = \"{{pool_endpoint}}\"\n"
    )
}

fn run_scenario(file: &Path) -> Result<session_pool_harness::Outcome, Failed> {
    let scenario = Scenario::load(file).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(runtime.block_on(helpers::runner().run(&scenario)))
}

fn ids(outcome: &session_pool_harness::Outcome) -> Vec<String> {
    outcome.findings.iter().map(|f| f.id.id().to_owned()).collect()
}

/// Run the reference backend image in a world extending `shipped`; check the diagnosis, a hop of
/// the transcript and that no container of the image is left.
fn backend_image_case(
    engine: &str,
    shipped: &str,
    diagnosis: &str,
    hop: (&str, u16),
) -> Result<(), Failed> {
    let port = free_port();
    let image = image(engine, "backend", &[("PORT", &port.to_string())])?;
    let file = scenario(shipped, &backend_image_rest(&image, port));

    let outcome = run_scenario(&file)?;

    let left = containers_of(engine, &image)?;
    remove_image(engine, &image);
    let found = ids(&outcome);
    if found != [diagnosis] {
        return Err(
            format!("expected [{diagnosis}], got {found:?}: {}", outcome.report_text()).into()
        );
    }
    let shown = outcome.exchanges.iter().any(|e| e.to.id() == hop.0 && e.status == Some(hop.1));
    if !shown {
        return Err(
            format!("no {} {} in the transcript: {}", hop.0, hop.1, outcome.report_text()).into()
        );
    }
    if !left.is_empty() {
        return Err(format!("containers left after the run: {left:?}").into());
    }
    Ok(())
}

fn missing_role(engine: &str) -> Result<(), Failed> {
    backend_image_case(engine, "scenarios/missing-role.toml", "missing-role", ("pool", 403))
}

fn happy_path(engine: &str) -> Result<(), Failed> {
    backend_image_case(engine, "scenarios/happy-path.toml", "ok", ("piston", 200))
}

fn no_target_port(engine: &str) -> Result<(), Failed> {
    backend_image_case(engine, "scenarios/no-target-port.toml", "no-target-port", ("pool", 404))
}

fn output_lost(engine: &str) -> Result<(), Failed> {
    // The session image answers {"properties":{stdout,stderr,exitCode}} (its ENV says so), on the
    // pool's target port; the reference backend reads Piston's run object and loses the output.
    let scenario_text =
        std::fs::read_to_string(helpers::root("scenarios/bases/coding-engine.toml"))
            .map_err(|e| e.to_string())?;
    let port: u16 = scenario_text
        .lines()
        .find_map(|l| l.strip_prefix("target_port = ")?.trim().parse().ok())
        .ok_or("the shared base names the pool's target_port")?;
    let image = image(
        engine,
        "adapter",
        &[("PORT", &port.to_string()), ("ADAPTER_ENVELOPE", "properties")],
    )?;
    let rest = format!(
        "unset = [\"world.pool.container\"]\n\n[world.pool.container]\nimage = {image:?}\nenv = {{ PISTON_URL = \"{{piston_url}}\" }}\nready_path = \"/health\"\n"
    );
    let file = scenario("scenarios/output-lost.toml", &rest);

    let outcome = run_scenario(&file)?;

    let left = containers_of(engine, &image)?;
    remove_image(engine, &image);
    let lost = outcome.findings.iter().find(|f| f.id.id() == "output-lost");
    let Some(lost) = lost else {
        return Err(format!("expected output-lost: {}", outcome.report_text()).into());
    };
    let both = lost.explanation.contains("run.stdout") && lost.explanation.contains("properties");
    if !both
        || lost.hop.map(|h| h.id()) != Some("container")
            && lost.hop.map(|h| h.id()) != Some("backend")
    {
        return Err(format!("output-lost names both fields at the backend hop: {lost:?}").into());
    }
    if !left.is_empty() {
        return Err(format!("containers left after the run: {left:?}").into());
    }
    Ok(())
}

fn missing_image(_engine: &str) -> Result<(), Failed> {
    let image = format!("localhost/sph-not-built:{}", unique());
    let file = scenario("scenarios/happy-path.toml", &backend_image_rest(&image, free_port()));

    let output = Command::new(BIN).arg("run").arg(&file).output().map_err(|e| e.to_string())?;

    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() != Some(2) || !stderr.contains(&image) || !stderr.contains("pull") {
        return Err(format!("exit {:?}: {stderr}", output.status.code()).into());
    }
    Ok(())
}

/// The missing-role world with the backend's image, whose identity endpoint answers after 8 s;
/// `signal` arrives while the container runs; afterwards no container of the image is left.
fn left_after_signal(engine: &str, signal: i32) -> Result<(), Failed> {
    let port = free_port();
    let image = image(engine, "backend", &[("PORT", &port.to_string())])?;
    let rest = format!(
        "deadline_ms = 30000\n\n[[world.faults]]\nhop = \"identity\"\ndelay_ms = 8000\n\n{}",
        backend_image_rest(&image, port)
    );
    let file = scenario("scenarios/missing-role.toml", &rest);
    let mut child = Command::new(BIN)
        .arg("run")
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    while containers_of(engine, &image)?.is_empty() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            return Err("the backend's container never started".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // The signal comes while the container starts or serves: either way it must go.
    // SAFETY: kill(2) on our own child's pid; no memory is involved.
    unsafe {
        libc::kill(i32::try_from(child.id()).unwrap(), signal);
    }
    let status = child.wait().map_err(|e| e.to_string())?;

    let left = containers_of(engine, &image)?;
    remove_image(engine, &image);
    if status.code() != Some(128 + signal) {
        let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap_or_default();
        return Err(format!("exit {:?} after signal {signal}: {stderr}", status.code()).into());
    }
    if !left.is_empty() {
        return Err(format!("containers left after signal {signal}: {left:?}").into());
    }
    Ok(())
}
