//! Why a run could not even send its steps, and what problem of the run that is for the diagnosis.

#[allow(unused_imports)]
use super::*;

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
    pub(super) fn process(error: ProcessError) -> Self {
        Self::Process { process: error.name().to_owned(), message: error.to_string() }
    }

    pub(super) fn launch(error: launch::LaunchError) -> Self {
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
pub(super) fn last_lines(lines: &[String]) -> String {
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
