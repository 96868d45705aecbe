//! `run`: scenarios against the reference system (or the user's programs), reported as text, JSON,
//! JUnit XML, HTML or Markdown; `--filter` and `--partition` choose which; `--isolate` runs them in a network
//! namespace with loopback only.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::emit;
use super::signals::{Shutdown, Signal};
use crate::report;
use crate::runner::{Runner, isolate};
use crate::scenario::Scenario;
use crate::scenario::select::{Filter, Partition, select};

/// Options of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario files or folders of them.
    #[arg(default_value = "scenarios/")]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = RunFormat::Text)]
    format: RunFormat,
    /// Scenarios run at once (default: the number of cores).
    #[arg(long)]
    jobs: Option<usize>,
    /// Allow scenario programs to be given non-loopback URLs.
    #[arg(long)]
    allow_non_loopback: bool,
    /// Only scenarios whose name contains this, or matches it as a glob (`*-role`); repeatable.
    #[arg(long, value_name = "PATTERN")]
    filter: Vec<Filter>,
    /// Only the K-th of N parts of the suite (stable, by file path), e.g. 2/3 on the second CI machine.
    #[arg(long, value_name = "K/N")]
    partition: Option<Partition>,
    /// Run inside a network namespace with loopback only (Linux: unshare, user namespaces).
    #[arg(long)]
    isolate: bool,
}

/// Output format of `run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunFormat {
    Text,
    Json,
    /// JUnit XML, for CI systems.
    Junit,
    /// One self-contained HTML page: an index, and a sequence diagram per scenario.
    Html,
    /// A results table and mermaid diagrams, for `$GITHUB_STEP_SUMMARY` or a pull-request comment.
    Markdown,
}

pub async fn run_command(args: RunArgs) -> ExitCode {
    if args.isolate && !isolate::is_isolated() {
        return run_isolated();
    }
    let scenarios = match Scenario::load_all(&args.paths) {
        Ok(scenarios) => select(scenarios, &args.filter, args.partition),
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    for warning in scenarios.iter().flat_map(|s| &s.warnings) {
        eprintln!("{warning}");
    }
    if let Err(error) = crate::runner::check_images(&scenarios) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let done = Arc::new(AtomicUsize::new(0));
    let runner = match Runner::current_exe() {
        Ok(runner) => runner.allow_non_loopback(args.allow_non_loopback).count_into(done.clone()),
        Err(error) => {
            eprintln!(
                "error: cannot find this program's own executable to start the reference backend: {error}"
            );
            return ExitCode::from(2);
        }
    };
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from))
        .max(1);
    let mut shutdown = match Shutdown::listen() {
        Ok(shutdown) => shutdown,
        Err(error) => {
            eprintln!("error: cannot listen for signals: {error}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let progress = tokio::spawn(progress_line(done, scenarios.len()));
    // On a signal every scenario still running is cancelled and awaited, which kills every process
    // it started and removes its temporary files, before exiting.
    let (signal_tx, signal_rx) = tokio::sync::oneshot::channel();
    let stop = async move {
        let _ = signal_tx.send(shutdown.received().await);
    };
    let outcomes = runner.run_all_until(scenarios, jobs, stop).await;
    let Some(outcomes) = outcomes else {
        progress.abort();
        let signal = signal_rx.await.unwrap_or(Signal::Interrupt);
        eprintln!(
            "\rinterrupted by {}: every process the harness started has been stopped",
            signal.name()
        );
        return signal.exit_code();
    };
    progress.abort();
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[K");
    }
    let output = match args.format {
        RunFormat::Text => {
            let mut text: String =
                outcomes.iter().map(|o| format!("{}\n", report::text(o))).collect();
            text.push_str(&format!(
                "{}\n",
                report::summary(&outcomes, started.elapsed().as_millis())
            ));
            text
        }
        RunFormat::Json => {
            serde_json::to_string_pretty(&report::json(&outcomes)).expect("a report serialises")
                + "\n"
        }
        RunFormat::Junit => report::junit::junit(&outcomes, started.elapsed().as_secs_f64()),
        RunFormat::Html => report::html::html(&outcomes, started.elapsed().as_millis()),
        RunFormat::Markdown => report::markdown::markdown(&outcomes, started.elapsed().as_millis()),
    };
    emit(&output);
    if outcomes.iter().all(|o| o.passed) { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// On a terminal, once a run takes more than a second: how many scenarios are done.
async fn progress_line(done: Arc<AtomicUsize>, total: usize) {
    if !std::io::stderr().is_terminal() {
        return;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        tick.tick().await;
        eprint!("\r{}/{total} scenarios done…", done.load(Ordering::Relaxed));
    }
}

/// This same command again, inside a network namespace; its exit code is the run's.
fn run_isolated() -> ExitCode {
    if let Err(why) = isolate::available() {
        eprintln!("error: {why}");
        return ExitCode::from(2);
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            eprintln!("error: cannot find this program's own executable: {error}");
            return ExitCode::from(2);
        }
    };
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    match isolate::command(&exe, &args).status() {
        Ok(status) => ExitCode::from(u8::try_from(status.code().unwrap_or(2)).unwrap_or(2)),
        Err(error) => {
            eprintln!("error: cannot start the isolated run: {error}");
            ExitCode::from(2)
        }
    }
}
