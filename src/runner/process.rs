//! Processes under test: spawned with an explicit environment, ready when they say so, killed on drop.
//!
//! The child's environment is cleared and rebuilt from the given pairs, so nothing of the harness's
//! own environment (an `IDENTITY_ENDPOINT`, a proxy) leaks in. Readiness is the child's
//! `listening on <url>` line, awaited with a bound; all output is kept (a bounded tail) for reports.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
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
    #[error("cannot start {}: {source}", program.display())]
    Spawn { program: PathBuf, source: std::io::Error },
    #[error("{name} did not print '{READY_PREFIX}<url>' within {} ms; its output:\n{output}", within.as_millis())]
    NotReady { name: String, within: Duration, output: String },
    #[error("{name} exited before it was ready ({status}); its output:\n{output}")]
    Exited { name: String, status: String, output: String },
}

/// A running child process. Dropping it kills it.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    child: Child,
    url: String,
    output: Arc<Mutex<VecDeque<String>>>,
}

impl ChildProcess {
    /// Start `program args…` with exactly `env`, and wait up to `ready_within` for its readiness line.
    pub async fn spawn(name: &str, program: &Path, args: &[&str], env: &[(String, String)], ready_within: Duration) -> Result<Self, ProcessError> {
        let mut command = Command::new(program);
        command.args(args).env_clear().envs(env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
        let mut child = command.spawn().map_err(|source| ProcessError::Spawn { program: program.to_owned(), source })?;
        let output = Arc::new(Mutex::new(VecDeque::new()));
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<String>();
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(collect(stdout, "", output.clone(), Some(ready_tx)));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(collect(stderr, "stderr: ", output.clone(), None));
        }
        let tail = |output: &Arc<Mutex<VecDeque<String>>>| lock(output).iter().cloned().collect::<Vec<_>>().join("\n");
        match tokio::time::timeout(ready_within, ready_rx).await {
            Ok(Ok(url)) => Ok(Self { name: name.to_owned(), child, url, output }),
            Ok(Err(_)) | Err(_) => {
                // stdout closed or time ran out: report what it said, and why if it exited.
                let exited = tokio::time::timeout(Duration::from_millis(200), child.wait()).await;
                let _ = child.start_kill();
                let _ = child.wait().await;
                match exited {
                    Ok(Ok(status)) => Err(ProcessError::Exited { name: name.to_owned(), status: status.to_string(), output: tail(&output) }),
                    _ => Err(ProcessError::NotReady { name: name.to_owned(), within: ready_within, output: tail(&output) }),
                }
            }
        }
    }

    /// The URL the process announced.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The last lines it printed (stderr lines prefixed `stderr: `).
    pub fn output_tail(&self) -> Vec<String> {
        lock(&self.output).iter().cloned().collect()
    }

    /// Kill it now and reap it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

async fn collect(stream: impl AsyncRead + Unpin, prefix: &'static str, output: Arc<Mutex<VecDeque<String>>>, mut ready: Option<tokio::sync::oneshot::Sender<String>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
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
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
