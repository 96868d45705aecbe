//! Processes under test: spawned with an explicit environment, ready when they say so, killed on drop.
//!
//! The child's environment is cleared and rebuilt from the given pairs, so nothing of the harness's
//! own environment (an `IDENTITY_ENDPOINT`, a proxy) leaks in. Readiness is the child's
//! `listening on <url>` line, awaited with a bound; all output is kept (a bounded tail) for reports.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use crate::reference::READY_PREFIX;

/// Lines of output kept per process.
const TAIL_LINES: usize = 200;

/// A process that could not be started or did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("cannot start the {name}: `{}` ({source}); working directory {cwd}, PATH searched: {path}", program.display())]
    Spawn { name: String, program: PathBuf, cwd: String, path: String, source: std::io::Error },
    #[error("{name} was not ready within {} ms (it must print '{READY_PREFIX}<url>' or answer its readiness path); its output:\n{output}", within.as_millis())]
    NotReady { name: String, within: Duration, output: String },
    #[error("{name} exited before it was ready ({status}); its output:\n{output}")]
    Exited { name: String, status: String, output: String },
}

impl ProcessError {
    /// The process it is about (`backend`, `container`).
    pub fn name(&self) -> &str {
        match self {
            Self::Spawn { name, .. } | Self::NotReady { name, .. } | Self::Exited { name, .. } => {
                name
            }
        }
    }
}

/// A running child process. Dropping it kills it.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    /// Its process group (the child leads it): kept apart from the child, whose id is gone once it
    /// has been reaped, so that the group is still killed when its leader exited before the rest.
    group: Option<i32>,
    url: String,
    output: Arc<Mutex<VecDeque<String>>>,
}

/// How to start a process and know it is ready.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Name in reports (`backend`, `container`).
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Working directory (default: the harness's).
    pub cwd: Option<PathBuf>,
    /// The whole environment: nothing else is inherited.
    pub env: Vec<(String, String)>,
    pub ready: Readiness,
    pub ready_within: Duration,
}

/// When a process counts as ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// It printed `listening on <url>` (the reference processes).
    AnnouncedUrl,
    /// `GET <url><path>` got any HTTP answer (any program; the harness chose its port).
    HttpAnswer { url: String, path: String },
}

impl ChildProcess {
    /// Start a process as `launch` says and wait, bounded, until it is ready.
    pub async fn launch(launch: &Launch) -> Result<Self, ProcessError> {
        let mut command = Command::new(&launch.program);
        command.args(&launch.args).env_clear().envs(launch.env.iter().map(|(k, v)| (k, v)));
        if let Some(cwd) = &launch.cwd {
            command.current_dir(cwd);
        }
        // Its own process group, so that stopping it stops what it started too (`npm start`,
        // `sh -c`, a reloader's workers).
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        end_with_parent(&mut command);
        let mut child = command.spawn().map_err(|source| ProcessError::Spawn {
            name: launch.name.clone(),
            program: launch.program.clone(),
            cwd: launch.cwd.as_ref().map_or_else(
                || std::env::current_dir().map_or_else(|_| "?".into(), |d| d.display().to_string()),
                |c| c.display().to_string(),
            ),
            path: launch
                .env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map_or_else(|| "(none)".to_owned(), |(_, v)| v.clone()),
            source,
        })?;
        let group = child.id().and_then(|p| i32::try_from(p).ok());
        let output = Arc::new(Mutex::new(VecDeque::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<String>();
        let announce = (launch.ready == Readiness::AnnouncedUrl).then_some(ready_tx);
        let mut readers = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            readers.push(tokio::spawn(collect(stdout, "", output.clone(), announce)));
        }
        if let Some(stderr) = child.stderr.take() {
            readers.push(tokio::spawn(collect(stderr, "stderr: ", output.clone(), None)));
        }
        let ready = async {
            match &launch.ready {
                Readiness::AnnouncedUrl => ready_rx.await.ok(),
                Readiness::HttpAnswer { url, path } => probe(url, path).await.then(|| url.clone()),
            }
        };
        let tail = |output: &Arc<Mutex<VecDeque<String>>>| {
            lock(output).iter().cloned().collect::<Vec<_>>().join("\n")
        };
        let name = launch.name.clone();
        tokio::select! {
            ready = tokio::time::timeout(launch.ready_within, ready) => match ready {
                Ok(Some(url)) => Ok(Self { child, group, url, output }),
                Ok(None) | Err(_) => {
                    // stdout closed or time ran out: report what it said, and why if it exited.
                    let exited = tokio::time::timeout(Duration::from_millis(200), child.wait()).await;
                    kill_group(&mut child, group);
                    let _ = child.wait().await;
                    match exited {
                        Ok(Ok(status)) => Err(ProcessError::Exited { name, status: status.to_string(), output: tail(&output) }),
                        _ => Err(ProcessError::NotReady { name, within: launch.ready_within, output: tail(&output) }),
                    }
                }
            },
            status = child.wait() => {
                // What it started may still run, holding its pipes open.
                kill_group(&mut child, group);
                // It exited before it was ready: its pipes close, so the readers finish with its last words.
                for reader in readers {
                    let _ = tokio::time::timeout(Duration::from_millis(500), reader).await;
                }
                let status = status.map_or_else(|e| e.to_string(), |s| s.to_string());
                Err(ProcessError::Exited { name, status, output: tail(&output) })
            }
        }
    }

    /// The URL the process announced.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The operating system's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The last lines it printed (stderr lines prefixed `stderr: `).
    pub fn output_tail(&self) -> Vec<String> {
        lock(&self.output).iter().cloned().collect()
    }

    /// How it exited, if it already has (a process under test may die during a run).
    pub fn exited(&mut self) -> Option<String> {
        self.child.try_wait().ok().flatten().map(|status| status.to_string())
    }

    /// Kill it and its whole process group now, and reap it.
    pub async fn stop(mut self) {
        kill_group(&mut self.child, self.group);
        let _ = self.child.wait().await;
    }
}

impl Drop for ChildProcess {
    /// However a run ends (deadline, Ctrl-C, a panic), nothing it started survives it.
    fn drop(&mut self) {
        kill_group(&mut self.child, self.group);
    }
}

/// SIGKILL to the child's process group (it leads its own), whether or not the leader is still
/// alive, then to the child itself. A program that double-forks into a new session or group of its
/// own (a daemon) leaves the group and is beyond reach; none of the harness's processes does.
fn kill_group(child: &mut Child, group: Option<i32>) {
    if let Some(group) = group.filter(|g| *g > 1) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
    }
    let _ = child.start_kill();
}

/// Linux: the child gets SIGKILL when the harness dies, even by SIGKILL, so nothing outlives it.
/// The signal follows the thread that spawned the child; children are spawned from the runtime's
/// worker threads, which live as long as the runtime.
#[cfg(target_os = "linux")]
fn end_with_parent(command: &mut Command) {
    // SAFETY: the closure runs between fork and exec and calls only async-signal-safe functions
    // (prctl, getppid, _exit); it allocates nothing.
    let parent = std::process::id();
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // The harness died between fork and prctl: go too.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn end_with_parent(_command: &mut Command) {}

/// Poll `GET url+path` every 10 ms until any HTTP answer arrives (the caller bounds the time).
async fn probe(url: &str, path: &str) -> bool {
    let client = crate::standins::loopback_client();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    loop {
        tick.tick().await;
        if client
            .get(format!("{url}{path}"))
            .timeout(Duration::from_millis(500))
            .send()
            .await
            .is_ok()
        {
            return true;
        }
    }
}

async fn collect(
    stream: impl AsyncRead + Unpin,
    prefix: &'static str,
    output: Arc<Mutex<VecDeque<String>>>,
    mut ready: Option<tokio::sync::oneshot::Sender<String>>,
) {
    let mut reader = BufReader::new(stream);
    let mut bytes = Vec::new();
    // Bytes, not `lines()`: a line that is not UTF-8 would end `lines()` with an error, and every
    // later line (the ones saying why it failed) would be lost. Read lossily instead.
    while reader.read_until(b'\n', &mut bytes).await.is_ok_and(|read| read > 0) {
        let text = String::from_utf8_lossy(&bytes);
        let line = text.strip_suffix('\n').map_or(&*text, |l| l.strip_suffix('\r').unwrap_or(l));
        if let Some(url) = line.strip_prefix(READY_PREFIX)
            && let Some(tx) = ready.take()
        {
            let _ = tx.send(url.trim().to_owned());
        }
        let mut tail = lock(&output);
        if tail.len() == TAIL_LINES {
            tail.pop_front();
        }
        tail.push_back(format!("{prefix}{line}"));
        bytes.clear();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
