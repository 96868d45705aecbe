//! Staging a world: the stand-ins, then the session container and the backend side by side, each
//! prepared first (names, env files, container guards) so that whatever started is stopped however
//! the run ends; the fixed ports and images a scenario needs.

#[allow(unused_imports)]
use super::*;

impl Runner {
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
    pub(super) async fn stage(
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
    pub(super) async fn stage_on(
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
    pub(super) fn backend_launch(
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
}

/// What is running for a scenario, so it can be stopped however the run ends. Dropping it kills
/// the processes; [`LiveWorld::stop`] also waits for them.
#[derive(Debug, Default)]
pub struct LiveWorld {
    pub(super) stand_ins: Option<StandIns>,
    pub(super) adapter: Option<ChildProcess>,
    pub(super) backend: Option<ChildProcess>,
    pub(super) tools: Option<FakeTools>,
    /// The containers of the team's images: removed when dropped.
    pub(super) containers: Vec<engine::ContainerGuard>,
    pub(super) endpoints: Vec<(String, Hop)>,
    pub(super) steps: Vec<StepOutcome>,
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
pub(super) fn fixed_ports(scenario: &Scenario) -> Vec<u16> {
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
