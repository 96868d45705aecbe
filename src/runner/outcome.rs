//! What a run gives back: a scenario's outcome (its steps, exchanges, diagnosis, failures and who
//! played which part), the outcome of a scenario whose run crashed, and what `serve` saw.

#[allow(unused_imports)]
use super::*;

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

/// An `ok` with a reference part in place of one of the team's says so: what ran was checked, the
/// replaced part was not.
pub(super) fn say_what_was_not_checked(findings: &mut [Finding], players: &[crate::world::Player]) {
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

/// What names a scenario in a report, kept apart so that a scenario whose run crashed still has
/// its line in every format.
#[derive(Debug, Clone)]
pub(super) struct ScenarioIdentity {
    name: String,
    file: PathBuf,
    description: String,
}

impl ScenarioIdentity {
    pub(super) fn of(scenario: &Scenario) -> Self {
        Self {
            name: scenario.name.clone(),
            file: scenario.file.clone(),
            description: scenario.description.clone(),
        }
    }

    /// The failed outcome of a scenario whose run did not come back.
    pub(super) fn crashed(&self, message: &str) -> Outcome {
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
pub(super) fn task_failure(error: tokio::task::JoinError) -> String {
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
