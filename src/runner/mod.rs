//! The runner: one scenario from world to verdict.
//!
//! Start the stand-ins, start the session container and the backend as child processes with their
//! environment pointing at the stand-ins, send each step, diagnose from the transcript, check the
//! expectations, tear everything down. Its steps run under its deadline (counted from the processes being ready); children are
//! killed when the run ends, however it ends.

pub mod devtools;
pub mod engine;
pub mod expect;
pub use expect::Failure;
mod error;
pub mod isolate;
pub mod launch;
mod outcome;
pub mod process;
mod redaction;
mod staging;
mod steps;
#[cfg(test)]
mod tests;

pub use error::RunError;
use error::last_lines;
pub(crate) use outcome::ServeSession;
pub use outcome::{Outcome, StepOutcome};
use outcome::{ScenarioIdentity, say_what_was_not_checked, task_failure};
pub use staging::LiveWorld;
pub(crate) use staging::check_images;
use staging::fixed_ports;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::diagnosis::{self, Finding, RunProblem};
use crate::scenario::Scenario;
use crate::scenario::format::{CredentialChoice, RequestFile};
use crate::standins::StandIns;
use crate::transcript::{Exchange, Hop, RawRequest, RawResponse, Recorder};
use devtools::FakeTools;
use process::{ChildProcess, ProcessError};

/// Runs scenarios against the reference system (the `backend` and `adapter` subcommands of the
/// harness binary, which [`Runner::find`] locates).
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use session_pool_harness::{Runner, Scenario};
///
/// let scenario = Scenario::load("scenarios/missing-role.toml")?;
/// let outcome = Runner::find()?.run(&scenario).await;
/// assert!(outcome.passed, "{:?}", outcome.failures);
/// assert_eq!(outcome.findings[0].id.id(), "missing-role");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Runner {
    programs: launch::ProgramPaths,
    /// Counts finished scenarios, for a progress line.
    done: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

impl Runner {
    /// A runner whose reference processes are `program backend` and `program adapter`.
    /// `{python}` in scenarios is `$SESSION_POOL_HARNESS_PYTHON`, else `.venv/bin/python` when that
    /// exists, else `python3`; [`Runner::with_python`] sets it explicitly.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        let python = std::env::var_os("SESSION_POOL_HARNESS_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let venv = PathBuf::from(".venv/bin/python");
                // Absolute but not canonical: resolving the symlink would give the base interpreter,
                // which does not see the venv's packages.
                if venv.exists() {
                    std::path::absolute(&venv).unwrap_or(venv)
                } else {
                    PathBuf::from("python3")
                }
            });
        Self {
            programs: launch::ProgramPaths {
                harness: program.into(),
                python,
                allow_non_loopback: false,
            },
            done: None,
        }
    }

    /// Count every scenario [`Runner::run_all`] finishes into `done` (for a progress line).
    #[must_use]
    pub fn count_into(mut self, done: Arc<std::sync::atomic::AtomicUsize>) -> Self {
        self.done = Some(done);
        self
    }

    /// Let scenario programs be given non-loopback URLs (refused by default: nothing under test may
    /// leave the machine unless the user says so).
    #[must_use]
    pub fn allow_non_loopback(mut self, allow: bool) -> Self {
        self.programs.allow_non_loopback = allow;
        self
    }

    /// Use this Python interpreter for `{python}`.
    #[must_use]
    pub fn with_python(mut self, python: impl Into<PathBuf>) -> Self {
        self.programs.python = python.into();
        self
    }

    /// A runner using the installed harness binary, found by itself: `$SESSION_POOL_HARNESS_BIN`,
    /// else `session-pool-harness` next to the running test executable (cargo's `target/<profile>`,
    /// where a workspace's `cargo test` builds it), else on `PATH`, else in `$CARGO_HOME/bin`.
    ///
    /// ```no_run
    /// let runner = session_pool_harness::Runner::find()?;
    /// # Ok::<(), session_pool_harness::RunError>(())
    /// ```
    pub fn find() -> Result<Self, RunError> {
        let name = format!("session-pool-harness{}", std::env::consts::EXE_SUFFIX);
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(bin) = std::env::var_os("SESSION_POOL_HARNESS_BIN") {
            let bin = PathBuf::from(bin);
            return match bin.is_file() {
                true => Ok(Self::new(bin)),
                false => Err(RunError::HarnessNotFound { searched: vec![bin] }),
            };
        }
        if let Ok(exe) = std::env::current_exe() {
            // target/<profile>/deps/<test> and target/<profile>/<example or binary>.
            for dir in exe.ancestors().skip(1).take(2) {
                candidates.push(dir.join(&name));
            }
        }
        if let Some(path) = std::env::var_os("PATH") {
            candidates.extend(std::env::split_paths(&path).map(|dir| dir.join(&name)));
        }
        let cargo_home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
        candidates.extend(cargo_home.map(|home| home.join("bin").join(&name)));
        match candidates.iter().find(|c| c.is_file()) {
            Some(found) => Ok(Self::new(found.clone())),
            None => Err(RunError::HarnessNotFound { searched: candidates }),
        }
    }

    /// A runner using the currently running executable (the CLI).
    pub fn current_exe() -> std::io::Result<Self> {
        Ok(Self::new(std::env::current_exe()?))
    }

    /// Run one scenario. Never panics on bad behaviour of the processes: it is reported in the outcome.
    pub async fn run(&self, scenario: &Scenario) -> Outcome {
        let started = Instant::now();
        let recorder = Recorder::new();
        let mut live = LiveWorld::default();
        // The deadline counts from the moment the backend and the session container are ready (their
        // start has bounds of its own): a slow start on a loaded machine is not the scenario's time.
        let result = match self.stage(scenario, &recorder, &mut live, true).await {
            Err(error) => Ok(Err(error)),
            Ok(()) => {
                let steps = self.drive(scenario, &recorder, &mut live);
                tokio::time::timeout(scenario.deadline, steps).await
            }
        };
        let mut failures = Vec::new();
        let mut problems = Vec::new();
        let backend_output = |live: &LiveWorld| {
            live.backend.as_ref().map(ChildProcess::output_tail).unwrap_or_default()
        };
        let steps = match result {
            Ok(Ok(steps)) => steps,
            Ok(Err(error)) => {
                problems.push((error.problem(), error.to_string()));
                Vec::new()
            }
            Err(_) => {
                let deadline = format!(
                    "the scenario did not finish within its deadline of {} ms (deadline_ms)",
                    scenario.deadline.as_millis()
                );
                problems.push((
                    RunProblem::Harness(format!(
                        "{deadline}; the backend's last output: {}",
                        last_lines(&backend_output(&live))
                    )),
                    deadline,
                ));
                std::mem::take(&mut live.steps)
            }
        };
        if let Some(status) = live.backend.as_mut().and_then(ChildProcess::exited) {
            let text = format!(
                "the backend exited during the run ({status}); its last output: {}",
                last_lines(&backend_output(&live))
            );
            problems.push((RunProblem::BackendNotStarted(text.clone()), text));
        }
        let backend_output = backend_output(&live);
        let secrets = secrets_of(scenario, live.stand_ins.as_ref());
        let endpoints = live.endpoints.clone();
        live.stop().await;

        let exchanges = recorder.exchanges();
        let losses = recorder.losses().lines();
        let players = scenario.players();
        let mut findings = diagnosis::diagnose_run(
            &exchanges,
            &scenario.world,
            &problems.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(),
        );
        say_what_was_not_checked(&mut findings, &players);
        // A problem of the run is a failure, unless the scenario expects exactly that diagnosis.
        for (problem, text) in problems {
            if !scenario.expect.diagnoses.contains(&problem.id()) {
                failures.push(Failure::Run(text));
            }
        }
        failures.extend(steps.iter().flat_map(|s| {
            s.failures.iter().map(|f| Failure::Step { step: s.name.clone(), problem: f.clone() })
        }));
        failures.extend(expect::check_diagnoses(&scenario.expect.diagnoses, &findings));
        failures.extend(expect::check_calls(&scenario.expect.calls, &exchanges));
        Outcome {
            name: scenario.name.clone(),
            file: scenario.file.clone(),
            description: scenario.description.clone(),
            passed: failures.is_empty(),
            duration: started.elapsed(),
            steps,
            exchanges,
            findings,
            failures,
            endpoints,
            backend_output,
            secrets,
            players,
            losses,
        }
        // What the processes printed and answered may hold their token or the identity header.
        .redacted()
    }

    /// Run scenarios, at most `jobs` at once; outcomes come back in the scenarios' order, one per
    /// scenario whatever happens: a scenario whose run panics or whose task fails is a failed outcome
    /// (`harness-error` with the message), never a missing one.
    /// Scenarios listening on the same fixed port (`[world.piston] port`, an image's port) never
    /// run at once.
    #[must_use = "the outcomes are the verdicts: check each `passed`"]
    pub async fn run_all(&self, scenarios: Vec<Scenario>, jobs: usize) -> Vec<Outcome> {
        self.run_all_until(scenarios, jobs, std::future::pending()).await.unwrap_or_default()
    }

    /// [`Runner::run_all`] until `stop` completes first: then every scenario still running is
    /// cancelled and awaited (its processes killed, its temporary files removed) and `None` returned.
    pub(crate) async fn run_all_until(
        &self,
        scenarios: Vec<Scenario>,
        jobs: usize,
        stop: impl Future<Output = ()>,
    ) -> Option<Vec<Outcome>> {
        let run = |runner: Runner, scenario: Scenario| async move { runner.run(&scenario).await };
        self.run_each(scenarios, jobs, stop, run).await
    }

    /// The loop of [`Runner::run_all_until`], with `run` making each outcome (a test's seam).
    async fn run_each<F, Fut>(
        &self,
        scenarios: Vec<Scenario>,
        jobs: usize,
        stop: impl Future<Output = ()>,
        run: F,
    ) -> Option<Vec<Outcome>>
    where
        F: Fn(Runner, Scenario) -> Fut,
        Fut: Future<Output = Outcome> + Send + 'static,
    {
        let permits = Arc::new(tokio::sync::Semaphore::new(jobs));
        let mut ports: std::collections::HashMap<u16, Arc<tokio::sync::Mutex<()>>> =
            std::collections::HashMap::new();
        let mut tasks = tokio::task::JoinSet::new();
        let mut scenario_of = std::collections::HashMap::new();
        let mut identities = Vec::new();
        for (index, scenario) in scenarios.into_iter().enumerate() {
            identities.push(ScenarioIdentity::of(&scenario));
            let (runner, permits) = (self.clone(), permits.clone());
            let locks: Vec<_> = fixed_ports(&scenario)
                .into_iter()
                .map(|p| ports.entry(p).or_default().clone())
                .collect();
            let done = runner.done.clone();
            let outcome = run(runner, scenario);
            let task = tasks.spawn(async move {
                // Ports first (in order, so two scenarios never wait for each other), then a job slot:
                // a scenario waiting for its port holds no slot.
                let mut _ports = Vec::new();
                for lock in locks {
                    _ports.push(lock.lock_owned().await);
                }
                let _permit = permits.acquire_owned().await;
                let outcome = outcome.await;
                if let Some(done) = &done {
                    done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                (index, outcome)
            });
            scenario_of.insert(task.id(), index);
        }
        let mut outcomes: Vec<Option<Outcome>> = identities.iter().map(|_| None).collect();
        let mut stop = std::pin::pin!(stop);
        loop {
            let joined = tokio::select! {
                joined = tasks.join_next_with_id() => joined,
                () = &mut stop => {
                    // Cancel and await: each run's LiveWorld is dropped (processes killed, folders
                    // removed) before this returns, not at some later poll.
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                    return None;
                }
            };
            match joined {
                None => break,
                Some(Ok((_, (index, outcome)))) => outcomes[index] = Some(outcome),
                Some(Err(error)) => {
                    let index = scenario_of.get(&error.id()).copied();
                    let message = task_failure(error);
                    if let Some(index) = index {
                        outcomes[index] = Some(identities[index].crashed(&message));
                    }
                }
            }
        }
        Some(
            outcomes
                .into_iter()
                .zip(&identities)
                .map(|(outcome, identity)| {
                    outcome.unwrap_or_else(|| {
                        identity.crashed("the scenario's task ended without an outcome")
                    })
                })
                .collect(),
        )
    }
}

/// Every secret a run hands out or receives.
fn secrets_of(scenario: &Scenario, stand_ins: Option<&StandIns>) -> Vec<String> {
    let mut secrets: Vec<String> =
        stand_ins.map(|s| s.identity_header().to_owned()).into_iter().collect();
    secrets.extend(stand_ins.into_iter().flat_map(|s| s.secret_values().map(str::to_owned)));
    secrets.extend(scenario.world.applications.iter().filter_map(|a| a.client_secret.clone()));
    secrets.extend(scenario.backend.client_secret.clone());
    secrets.extend(scenario.backend.identity_header.clone());
    for step in &scenario.steps {
        let credentials =
            step.headers.iter().filter(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        secrets.extend(credentials.map(|(_, v)| v.trim_start_matches("Bearer ").to_owned()));
    }
    secrets
}
