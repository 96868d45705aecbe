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
pub mod isolate;
pub mod launch;
pub mod process;
mod redaction;

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

/// What happened in one scenario.
#[derive(Debug, Clone)]
#[must_use = "an outcome is the scenario's verdict: check `passed` or `failures`"]
pub struct Outcome {
    /// The scenario's name (its file stem).
    pub name: String,
    /// Its file.
    pub file: PathBuf,
    /// Its description.
    pub description: String,
    /// Every expectation held and nothing broke.
    pub passed: bool,
    /// How long the whole scenario took.
    pub duration: Duration,
    /// Each step's answer from the backend.
    pub steps: Vec<StepOutcome>,
    /// Every exchange recorded, in the order its request started.
    pub exchanges: Vec<Exchange>,
    /// The diagnosis: `ok`, or each cause named.
    pub findings: Vec<Finding>,
    /// Why it did not pass (empty when it passed).
    pub failures: Vec<Failure>,
    /// Base URLs of this run and the hop each belongs to, for normalising output.
    pub endpoints: Vec<(String, Hop)>,
    /// The backend's last output lines.
    pub backend_output: Vec<String>,
    /// The secrets of this run (identity header, client secrets, the caller's credentials): they must
    /// appear in no output. Kept for tests that check exactly that; never printed.
    pub secrets: Vec<String>,
    /// Who played the backend and the session container: the team's own parts, and each
    /// reference part that stood in for a named part of theirs.
    pub players: Vec<crate::world::Player>,
    /// What the transcript does not show (exchanges past its bound, connections refused or cut),
    /// one line each; empty when it shows everything.
    pub losses: Vec<String>,
}

impl Outcome {
    /// The reference parts that stood in for named parts of the team's.
    pub fn substitutes(&self) -> impl Iterator<Item = &crate::world::Player> {
        self.players.iter().filter(|p| p.is_substitute())
    }
}

/// What the stand-ins saw while serving a hand-started backend.
#[derive(Debug, Clone)]
pub(crate) struct ServeSession {
    pub exchanges: Vec<Exchange>,
    pub findings: Vec<Finding>,
    /// What the transcript does not show (bounds, refused connections), counted.
    pub losses: crate::transcript::Losses,
}

/// The backend's answer to one step.
#[derive(Debug, Clone)]
pub struct StepOutcome {
    /// The step's name.
    pub name: String,
    /// The backend's status; `None` when it gave no answer.
    pub status: Option<u16>,
    /// Its body, as JSON (a string when it was not JSON).
    pub body: Option<Value>,
    /// What the step's `expect` found wrong.
    pub failures: Vec<String>,
    /// From sending the request to the end of the backend's answer (time to answer, or to fail).
    pub duration: Duration,
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

    /// Start a scenario's world (stand-ins and session container) and its backend, without sending
    /// anything: for benchmarks and tools that drive the backend themselves.
    pub async fn start(&self, scenario: &Scenario) -> Result<LiveWorld, RunError> {
        self.start_recording(scenario, &Recorder::new()).await
    }

    /// Start the session container and the reference backend, at its default settings, on stand-ins
    /// already running (e.g. with a wiremock server in front of a hop, [`StandIns::front`]). The
    /// backend gets [`StandIns::backend_env`].
    ///
    /// ```no_run
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use session_pool_harness::{Runner, StandIns, World};
    ///
    /// let stand_ins = StandIns::start(&World::builder().system_assigned().build()?).await?;
    /// let live = Runner::find()?.start_on(stand_ins).await?;
    /// let answer = reqwest::Client::new()
    ///     .post(format!("{}/api/v2/execute", live.backend_url().unwrap()))
    ///     .json(&serde_json::json!({"language": "python", "version": "3.10", "files": [{"content": "print(42)"}]}))
    ///     .send()
    ///     .await?;
    /// println!("{} {:?}", answer.status(), live.diagnose());
    /// # Ok(()) }
    /// ```
    pub async fn start_on(&self, stand_ins: StandIns) -> Result<LiveWorld, RunError> {
        let scenario = Scenario::for_world(stand_ins.world().clone());
        let mut live = LiveWorld::default();
        self.stage_on(&scenario, stand_ins, &mut live, true).await?;
        Ok(live)
    }

    /// [`Runner::start`], recording into `recorder`.
    pub(crate) async fn start_recording(
        &self,
        scenario: &Scenario,
        recorder: &Recorder,
    ) -> Result<LiveWorld, RunError> {
        let mut stage = LiveWorld::default();
        self.stage(scenario, recorder, &mut stage, true).await?;
        Ok(stage)
    }

    /// Serve a scenario's world for a backend started by hand: call `ready` with the environment it
    /// needs, wait for `until`, then return what the stand-ins saw and the diagnosis.
    pub(crate) async fn serve(
        &self,
        scenario: &Scenario,
        ready: impl FnOnce(&[(String, String)]),
        until: impl Future<Output = ()>,
    ) -> Result<ServeSession, RunError> {
        let recorder = Recorder::new();
        let mut live = LiveWorld::default();
        self.stage(scenario, &recorder, &mut live, false).await?;
        let env = live.stand_ins.as_ref().expect("staged").backend_env_with(&scenario.backend);
        ready(&env);
        until.await;
        let redactor =
            crate::transcript::redact::Redactor::new(secrets_of(scenario, live.stand_ins.as_ref()));
        live.stop().await;
        let mut exchanges = recorder.exchanges();
        let mut findings = diagnosis::diagnose(&exchanges, &scenario.world);
        exchanges.iter_mut().for_each(|e| redactor.exchange(e));
        findings.iter_mut().for_each(|f| redaction::finding(&redactor, f));
        Ok(ServeSession { exchanges, findings, losses: recorder.losses() })
    }

    /// Start the world: the stand-ins, then the session container (for a custom-container pool) and,
    /// when `with_backend`, the backend side by side: neither needs the other to start.
    async fn stage(
        &self,
        scenario: &Scenario,
        recorder: &Recorder,
        live: &mut LiveWorld,
        with_backend: bool,
    ) -> Result<(), RunError> {
        let stand_ins =
            StandIns::start_with(&scenario.world, recorder.clone()).await.map_err(|source| {
                RunError::StandIns { scenario: scenario.file.display().to_string(), source }
            })?;
        self.stage_on(scenario, stand_ins, live, with_backend).await
    }

    /// [`Runner::stage`] on stand-ins already running.
    async fn stage_on(
        &self,
        scenario: &Scenario,
        stand_ins: StandIns,
        live: &mut LiveWorld,
        with_backend: bool,
    ) -> Result<(), RunError> {
        live.endpoints = stand_ins.endpoints();
        // Prepared first (names, env files, container guards kept in `live`), started side by side.
        let run_id = crate::ids::guid().chars().take(12).collect::<String>();
        let wanted =
            scenario.world.pool.target_port.is_some() && scenario.world.pool.container_starts;
        let container_launch = match wanted {
            true => {
                let prepared = launch::container(scenario, &stand_ins, &self.programs, &run_id)
                    .map_err(RunError::launch)?;
                live.containers.extend(prepared.container);
                Some(prepared.launch)
            }
            false => None,
        };
        let container = async {
            match &container_launch {
                Some(launch) => Ok::<_, RunError>(Some(
                    ChildProcess::launch(launch).await.map_err(RunError::process)?,
                )),
                None => Ok(None),
            }
        };
        let (tools, backend_launch) = match with_backend {
            true => {
                let (tools, prepared) = self.backend_launch(scenario, &stand_ins, &run_id)?;
                live.containers.extend(prepared.container);
                (tools, Some(prepared.launch))
            }
            false => (None, None),
        };
        live.tools = tools;
        let backend = async {
            match &backend_launch {
                Some(launch) => Ok::<_, RunError>(Some(
                    ChildProcess::launch(launch).await.map_err(RunError::process)?,
                )),
                None => Ok(None),
            }
        };
        let (container, backend) = tokio::join!(container, backend);
        // Keep whatever started, so that it is stopped even when the other failed.
        let (container, backend) = match (container, backend) {
            (Ok(c), Ok(b)) => (c, b),
            (Ok(c), Err(e)) => {
                live.adapter = c;
                return Err(e);
            }
            (Err(e), Ok(b)) => {
                live.backend = b;
                return Err(e);
            }
            (Err(e), Err(_)) => return Err(e),
        };
        if let Some(container) = container {
            // Near-miss notes on the container's 404s only where its routes are known.
            let routes = if scenario.world.pool.container.is_none() {
                crate::reference::adapter::ROUTES
            } else {
                &[]
            };
            stand_ins.set_container(container.url(), routes);
            live.endpoints.push((container.url().to_owned(), Hop::Container));
            live.adapter = Some(container);
        }
        if let Some(backend) = backend {
            live.endpoints.push((backend.url().to_owned(), Hop::Backend));
            live.backend = Some(backend);
        }
        live.stand_ins = Some(stand_ins);
        Ok(())
    }

    /// The backend's launch, with its fake tools and federated token file when it needs them.
    fn backend_launch(
        &self,
        scenario: &Scenario,
        stand_ins: &StandIns,
        run_id: &str,
    ) -> Result<(Option<FakeTools>, launch::Prepared), RunError> {
        let workload = scenario.backend.credential == CredentialChoice::WorkloadIdentity;
        let uses_tools = workload
            || scenario.backend.credential == CredentialChoice::DeveloperTools
            || scenario.backend.process.is_some();
        let tools = if uses_tools {
            Some(FakeTools::install(&scenario.world, &scenario.backend).map_err(RunError::Tools)?)
        } else {
            None
        };
        let mut extra = Vec::new();
        if let (true, Some(tools)) = (workload, &tools) {
            let file = tools
                .write_federated_token(&scenario.world, &scenario.backend)
                .map_err(RunError::Tools)?;
            extra.push(("AZURE_FEDERATED_TOKEN_FILE".into(), file.display().to_string()));
        }
        let prepared =
            launch::backend(scenario, stand_ins, &self.programs, tools.as_ref(), extra, run_id)
                .map_err(RunError::launch)?;
        Ok((tools, prepared))
    }

    async fn drive(
        &self,
        scenario: &Scenario,
        recorder: &Recorder,
        live: &mut LiveWorld,
    ) -> Result<Vec<StepOutcome>, RunError> {
        let backend_url = live.backend.as_ref().map(|b| b.url().to_owned()).unwrap_or_default();
        let client = crate::standins::loopback_client();
        for step in &scenario.steps {
            let outcome = send_step(&client, &backend_url, step, recorder).await;
            live.steps.push(outcome);
        }
        Ok(std::mem::take(&mut live.steps))
    }
}

/// What is running for a scenario, so it can be stopped however the run ends. Dropping it kills
/// the processes; [`LiveWorld::stop`] also waits for them.
#[derive(Debug, Default)]
pub struct LiveWorld {
    stand_ins: Option<StandIns>,
    adapter: Option<ChildProcess>,
    backend: Option<ChildProcess>,
    tools: Option<FakeTools>,
    /// The containers of the team's images: removed when dropped.
    containers: Vec<engine::ContainerGuard>,
    endpoints: Vec<(String, Hop)>,
    steps: Vec<StepOutcome>,
}

impl LiveWorld {
    /// The running stand-ins.
    pub fn stand_ins(&self) -> Option<&StandIns> {
        self.stand_ins.as_ref()
    }

    /// The running backend.
    pub(crate) fn backend_process(&self) -> Option<&ChildProcess> {
        self.backend.as_ref()
    }

    /// Where the running backend listens (`http://127.0.0.1:<port>`).
    pub fn backend_url(&self) -> Option<&str> {
        self.backend.as_ref().map(ChildProcess::url)
    }

    /// Every exchange the stand-ins recorded so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.stand_ins.as_ref().map(StandIns::exchanges).unwrap_or_default()
    }

    /// What the stand-ins saw so far, diagnosed with the world they play.
    pub fn diagnose(&self) -> Vec<Finding> {
        self.stand_ins.as_ref().map(StandIns::diagnose).unwrap_or_default()
    }

    /// Stop everything and wait for the processes to exit (both at once).
    pub async fn stop(self) {
        let stop = |process: Option<ChildProcess>| async move {
            if let Some(process) = process {
                process.stop().await;
            }
        };
        tokio::join!(stop(self.backend), stop(self.adapter));
        if let Some(stand_ins) = self.stand_ins {
            stand_ins.stop().await;
        }
        drop(self.tools);
    }
}

// Here rather than in `standins`: the stand-ins serve and record, diagnosis judges, and neither
// depends on the other; the runner is where they meet.
impl StandIns {
    /// What the stand-ins saw so far, diagnosed with the world they play.
    pub fn diagnose(&self) -> Vec<Finding> {
        diagnosis::diagnose(&self.exchanges(), self.world())
    }
}

/// A run that could not even send its steps.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    #[error("cannot start the stand-ins of {scenario}: {source}")]
    /// The stand-ins could not listen.
    StandIns {
        /// The scenario's file.
        scenario: String,
        /// Why.
        source: std::io::Error,
    },
    /// A process (`backend`, `container`) did not start or did not get ready.
    #[error("{message}")]
    Process {
        /// `backend` or `container`.
        process: String,
        /// What happened, with the process's last output.
        message: String,
    },
    /// The HTTP client for the steps could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    /// No harness binary was found.
    #[error(
        "cannot find the session-pool-harness binary (looked at {}): build it (`cargo build -p session-pool-harness`), install it (`cargo install --path <checkout>`), or set SESSION_POOL_HARNESS_BIN to its path",
        searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    HarnessNotFound {
        /// Where [`Runner::find`] looked.
        searched: Vec<PathBuf>,
    },
    /// The fake `az`/`azd` could not be written.
    #[error("cannot write the fake developer tools: {0}")]
    Tools(std::io::Error),
    /// A process's specification cannot be used (`process` names it when it is about one).
    #[error("{message}")]
    Launch {
        /// `backend` or `container`, when it is about one.
        process: Option<String>,
        /// What is wrong and what to do.
        message: String,
    },
}

impl RunError {
    fn process(error: ProcessError) -> Self {
        Self::Process { process: error.name().to_owned(), message: error.to_string() }
    }

    fn launch(error: launch::LaunchError) -> Self {
        Self::Launch { process: error.process().map(str::to_owned), message: error.to_string() }
    }
}

impl RunError {
    /// The run problem this error is, for the diagnosis (never `ok` when the run could not even start).
    pub(crate) fn problem(&self) -> RunProblem {
        let text = last_lines(&self.to_string().lines().map(str::to_owned).collect::<Vec<_>>());
        match self {
            Self::Process { process, .. } if process == "container" => {
                RunProblem::ContainerNotStarted(text)
            }
            Self::Process { .. } => RunProblem::BackendNotStarted(text),
            Self::Launch { process: Some(p), .. } if p == "container" => {
                RunProblem::ContainerNotStarted(text)
            }
            Self::Launch { process: Some(p), .. } if p == "backend" => {
                RunProblem::BackendNotStarted(text)
            }
            Self::Launch { .. }
            | Self::StandIns { .. }
            | Self::Client(_)
            | Self::Tools(_)
            | Self::HarnessNotFound { .. } => RunProblem::Harness(text),
        }
    }
}

/// The last lines of a process's output (or an error text), joined for one explanation.
fn last_lines(lines: &[String]) -> String {
    const KEEP: usize = 12;
    let lines: Vec<&str> = lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()).collect();
    let start = lines.len().saturating_sub(KEEP);
    let kept = lines[start..].join(" | ");
    if kept.trim().is_empty() {
        "(none)".into()
    } else if start > 0 {
        format!("… {kept}")
    } else {
        kept
    }
}

/// An `ok` with a reference part in place of one of the team's says so: what ran was checked, the
/// replaced part was not.
fn say_what_was_not_checked(findings: &mut [Finding], players: &[crate::world::Player]) {
    let replaced: Vec<String> =
        players.iter().filter(|p| p.is_substitute()).map(|p| p.to_string()).collect();
    if replaced.is_empty() {
        return;
    }
    for finding in findings.iter_mut().filter(|f| f.id == crate::catalogue::Diagnosis::Ok) {
        finding.explanation.push_str(&format!(
            " (checked with a stand-in for the team's part: {}; what ran was checked, the replaced part was not)",
            replaced.join("; ")
        ));
    }
}

/// Every image the scenarios name is on this machine, and an engine to run them answers: checked
/// before anything runs, so a missing image is unusable input (the user pulls or builds it), not a
/// failed scenario.
pub(crate) fn check_images(scenarios: &[Scenario]) -> Result<(), engine::EngineError> {
    let images: std::collections::BTreeSet<&str> =
        scenarios.iter().flat_map(|s| s.images()).collect();
    if images.is_empty() {
        return Ok(());
    }
    let engine = engine::Engine::detect()?;
    images.into_iter().try_for_each(|image| engine.require_image(image))
}

impl Scenario {
    /// The images it runs: the backend's and the session container's.
    fn images(&self) -> impl Iterator<Item = &str> {
        let container = match &self.world.pool.container {
            Some(crate::world::SessionContainer::Image(image)) => Some(image.name.as_str()),
            _ => None,
        };
        self.backend.image.as_ref().map(|i| i.name.as_str()).into_iter().chain(container)
    }
}

/// The fixed ports a scenario listens on: Piston's when pinned, and those of the team's images
/// (host networking), in order.
fn fixed_ports(scenario: &Scenario) -> Vec<u16> {
    let world = &scenario.world;
    let mut ports: Vec<u16> = world.piston.port.into_iter().collect();
    ports.extend(scenario.backend.image.as_ref().and_then(|i| i.port));
    if matches!(world.pool.container, Some(crate::world::SessionContainer::Image(_))) {
        ports.extend(world.pool.target_port);
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// What names a scenario in a report, kept apart so that a scenario whose run crashed still has
/// its line in every format.
#[derive(Debug, Clone)]
struct ScenarioIdentity {
    name: String,
    file: PathBuf,
    description: String,
}

impl ScenarioIdentity {
    fn of(scenario: &Scenario) -> Self {
        Self {
            name: scenario.name.clone(),
            file: scenario.file.clone(),
            description: scenario.description.clone(),
        }
    }

    /// The failed outcome of a scenario whose run did not come back.
    fn crashed(&self, message: &str) -> Outcome {
        let text = format!("the harness failed while running this scenario: {message}");
        let finding = RunProblem::Harness(text.clone()).finding(&diagnosis::FixContext::default());
        Outcome {
            name: self.name.clone(),
            file: self.file.clone(),
            description: self.description.clone(),
            passed: false,
            duration: Duration::ZERO,
            steps: Vec::new(),
            exchanges: Vec::new(),
            findings: vec![finding],
            failures: vec![Failure::Run(text)],
            endpoints: Vec::new(),
            backend_output: Vec::new(),
            secrets: Vec::new(),
            players: Vec::new(),
            losses: Vec::new(),
        }
    }
}

/// Why a scenario's task did not return: its panic message, or that it was cancelled.
fn task_failure(error: tokio::task::JoinError) -> String {
    if !error.is_panic() {
        return format!("its task was cancelled ({error})");
    }
    let payload = error.into_panic();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    format!("panicked: {message} (a bug of the harness: please report it with the scenario file)")
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

async fn send_step(
    client: &reqwest::Client,
    backend_url: &str,
    step: &crate::scenario::format::StepFile,
    recorder: &Recorder,
) -> StepOutcome {
    let (method, path, body) = match &step.request {
        RequestFile::Execute(e) => {
            let mut body = serde_json::json!({ "language": e.language, "version": e.version, "files": [{ "content": e.code }] });
            if let Some(stdin) = &e.stdin {
                body["stdin"] = Value::String(stdin.clone());
            }
            ("POST", "/api/v2/execute", Some(body))
        }
        RequestFile::Runtimes {} => ("GET", "/api/v2/runtimes", None),
    };
    let bytes = body.as_ref().map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let mut headers: Vec<(&str, &str)> =
        if body.is_some() { vec![("content-type", "application/json")] } else { vec![] };
    headers.extend(step.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let pending = recorder.begin(
        Hop::Client,
        Hop::Backend,
        &RawRequest { method, path, query: None, headers: headers.clone(), body: &bytes },
    );
    let started = Instant::now();
    let mut request =
        client.request(method.parse().expect("a valid method"), format!("{backend_url}{path}"));
    for (name, value) in &headers {
        request = request.header(*name, *value);
    }
    if body.is_some() {
        request = request.body(bytes.clone());
    }
    let (status, answer) = match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.bytes().await.unwrap_or_default();
            recorder.finish(pending, &RawResponse { status, body: &text, ..Default::default() });
            (
                Some(status),
                serde_json::from_slice::<Value>(&text).ok().or_else(|| {
                    (!text.is_empty())
                        .then(|| Value::String(String::from_utf8_lossy(&text).into_owned()))
                }),
            )
        }
        Err(error) => {
            recorder.fail(pending, format!("backend unreachable: {error}"));
            (None, None)
        }
    };
    let failures = expect::check_step(&step.expect, status, answer.as_ref());
    StepOutcome {
        name: step.name.clone(),
        status,
        body: answer,
        failures,
        duration: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;
    use crate::test_support;

    fn named(name: &str) -> Scenario {
        let mut scenario = test_support::scenario(|s| s);
        scenario.name = name.to_owned();
        scenario
    }

    #[tokio::test]
    async fn a_scenario_whose_run_panics_is_a_failed_harness_error_and_the_others_still_count() {
        let runner = Runner::new("unused");
        let scenarios = vec![named("crashes"), named("passes")];

        let outcomes = runner
            .run_each(scenarios, 2, std::future::pending(), |_, scenario| async move {
                assert!(scenario.name != "crashes", "attempt to add with overflow");
                ScenarioIdentity::of(&scenario).crashed("not really: a stand-in outcome")
            })
            .await
            .expect("no stop was asked for");

        let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["crashes", "passes"], "one outcome per scenario, in order");
        let crashed = &outcomes[0];
        assert!(!crashed.passed);
        assert_eq!(crashed.findings[0].id, crate::catalogue::Diagnosis::HarnessError);
        assert!(
            crashed.failures[0].to_string().contains("panicked: attempt to add with overflow"),
            "{:?}",
            crashed.failures
        );
    }

    #[tokio::test]
    async fn a_stop_cancels_every_running_scenario_and_waits_until_each_is_dropped() {
        struct Guard(Arc<AtomicBool>);
        impl Drop for Guard {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = dropped.clone();

        let outcomes = Runner::new("unused")
            .run_each(vec![named("forever")], 1, async {}, move |_, _| {
                let guard = Guard(flag.clone());
                async move {
                    let _guard = guard;
                    std::future::pending::<Outcome>().await
                }
            })
            .await;

        assert!(outcomes.is_none(), "a stopped run has no verdicts");
        assert!(
            dropped.load(Ordering::SeqCst),
            "the running scenario was dropped before returning"
        );
    }
}
