//! One test per scenario file, found when the tests run (not when they compile: editing or adding a
//! scenario recompiles nothing): run it and snapshot the normalised transcript, the backend's
//! answers and the diagnosis. `scenarios/*.toml` run with the reference system;
//! `scenarios/python/*.toml` with the Python backend fixture in the repository's `.venv` (snapshots
//! named `python-<scenario>`). Snapshots live in `tests/harness/snapshots/`.

#[path = "harness/helpers.rs"]
#[allow(dead_code)]
mod helpers;
#[path = "harness/python.rs"]
mod python;

use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use session_pool_harness::Normalizer;
use session_pool_harness::{Outcome, Scenario};

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let trials = [("scenarios", ""), ("scenarios/python", "python-")]
        .iter()
        .flat_map(|(dir, prefix)| {
            scenario_files(dir).into_iter().map(move |file| trial(file, prefix))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit_code()
}

/// The `*.toml` files of a folder, sorted (bases live in subfolders and are not scenarios).
fn scenario_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(helpers::root(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    files
}

fn trial(file: PathBuf, prefix: &'static str) -> Trial {
    let stem = file.file_stem().unwrap_or_default().to_string_lossy().into_owned();
    Trial::test(format!("{prefix}{stem}"), move || run_and_snapshot(&file, prefix))
}

fn run_and_snapshot(file: &Path, prefix: &str) -> Result<(), Failed> {
    let scenario = Scenario::load(file).map_err(|e| format!("a shipped scenario is valid: {e}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let runner = if prefix.is_empty() {
        helpers::runner()
    } else {
        helpers::runner().with_python(python::python())
    };
    let outcome = runtime.block_on(runner.run(&scenario));
    std::panic::catch_unwind(|| {
        assert_snapshot_and_expectations(
            &scenario,
            &outcome,
            &format!("{prefix}{}", scenario.name()),
        )
    })
    .map_err(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "the snapshot or an expectation failed".into())
            .into()
    })
}

/// The snapshot matches, every expectation held, and no request left loopback.
fn assert_snapshot_and_expectations(scenario: &Scenario, outcome: &Outcome, snapshot_name: &str) {
    let snapshot = Normalizer::new(&outcome.endpoints).outcome(outcome);
    insta::with_settings!({ snapshot_path => "harness/snapshots", prepend_module_to_snapshot => false, omit_expression => true, description => scenario.description() }, {
        insta::assert_yaml_snapshot!(snapshot_name, snapshot);
    });
    assert!(outcome.passed, "{}", outcome.report_text());
    for exchange in &outcome.exchanges {
        let host = exchange.request_headers.get("host").and_then(|h| h.as_str());
        assert!(
            host.is_none_or(|h| h == "169.254.169.254"),
            "#{} tried to leave loopback for {host:?}",
            exchange.seq
        );
    }
}
