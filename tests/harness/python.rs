//! The Python interpreter for `{python}` in the Python scenarios: the repository's `.venv`, holding
//! exactly `fixtures/python-backend/requirements.txt`.
//!
//! `fixtures/python-backend/prepare_venv.py` (the same script `.ci/run` runs before `cargo test`) checks the
//! venv's marker, a hash of requirements.txt, and installs only when it is missing or stale. It runs
//! once per test binary; a failure fails the tests with the command to run, never skips them.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::helpers::root;

/// The venv's python, prepared on first use (concurrent callers wait for the first).
pub fn python() -> PathBuf {
    static PYTHON: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PYTHON.get_or_init(prepare).clone().unwrap_or_else(|problem| panic!("{problem}"))
}

fn prepare() -> Result<PathBuf, String> {
    let script = root("fixtures/python-backend/prepare_venv.py");
    let remedy = format!(
        "run `python3 {}` (or `python3 -m venv .venv && .venv/bin/pip install -r fixtures/python-backend/requirements.txt`) at the repository root",
        "fixtures/python-backend/prepare_venv.py"
    );
    let output = Command::new("python3")
        .arg(&script)
        .current_dir(root(""))
        .output()
        .map_err(|e| format!("cannot run python3 to prepare the Python fixture's venv ({e}): install CPython 3.9+ and {remedy}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "preparing the Python fixture's venv failed ({}): {remedy}\n{}{}",
            output.status,
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let python = PathBuf::from(stdout.trim());
    if !python.exists() {
        return Err(format!(
            "{} printed {python:?}, which does not exist: {remedy}",
            script.display()
        ));
    }
    Ok(python)
}
