//! The command line: parse, call the library, map the result to an exit code.
//!
//! Exit codes of `run`: 0 every expectation held, 1 some did not, 2 unusable input; after a signal
//! (SIGINT, SIGTERM, SIGHUP), 128 + its number, once everything started has been stopped.
//! Exit codes of `explain`: 0 a diagnosis was made (`unexplained` included), 2 unusable input.
//! Exit codes of `check`: 0 nothing found, 1 findings, 2 unusable input.

mod evidence;
mod explain;
mod run;
mod signals;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::reference;
use crate::report;
use crate::runner::Runner;
use crate::scenario::write::Images;
use crate::scenario::{self, Scenario};

/// Reproduce Azure Container Apps session-pool auth and routing bugs locally.
#[derive(Debug, Parser)]
#[command(name = "session-pool-harness", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios against the reference backend and report transcript, diagnosis and fix.
    Run(run::RunArgs),
    /// Serve a scenario's stand-ins for a backend you start yourself: prints `export` lines, serves
    /// until Ctrl-C, SIGTERM, SIGHUP or the duration, then prints the transcript and the diagnosis.
    Serve {
        scenario: PathBuf,
        /// Stop after this long (e.g. 5s, 500ms, 2m); default: until Ctrl-C, SIGTERM or SIGHUP.
        #[arg(long = "for", value_parser = parse_duration)]
        duration: Option<std::time::Duration>,
        /// At exit, also write the session as an HTML report (sequence diagram, diagnosis, fix).
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
    },
    /// Measure scenario speed, harness overhead and the reference backend under load.
    Bench {
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Requests sent through the whole chain.
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
        /// Concurrent connections.
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        /// Scenarios timed one by one and as a suite.
        #[arg(long, default_value = "scenarios/")]
        scenarios: PathBuf,
        /// The world driven under load.
        #[arg(long, default_value = "scenarios/happy-path.toml")]
        load_scenario: PathBuf,
    },
    /// List scenarios with their descriptions.
    List {
        #[arg(default_value = "scenarios/")]
        paths: Vec<PathBuf>,
    },
    /// Diagnose an answer captured from real Azure (status, body, headers, token) with the runner's rules.
    Explain(explain::ExplainArgs),
    /// Build a scenario of your own world from `az … -o json` output (app, session pool, role assignments).
    Import {
        #[command(flatten)]
        files: evidence::AzArgs,
        /// Run the team's own images (the app's and the pool's) instead of the reference backend and
        /// adapter: writes [backend.image] and [world.pool.container] image.
        #[arg(long)]
        images: bool,
        /// Write the scenario here instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Check your world's configuration from the same `az` files, without running anything.
    Check {
        #[command(flatten)]
        files: evidence::AzArgs,
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// The backend's SDK (repeat for several); without it, what differs between SDKs is a note.
        #[arg(long, value_enum, value_name = "LANG")]
        sdk: Vec<crate::world::Sdk>,
    },
    /// Print the JSON Schema of the scenario format.
    Schema,
    /// Run the reference coding-engine backend (configured by environment variables).
    Backend,
    /// Run the reference session-container adapter (configured by environment variables).
    Adapter,
}

/// Output format of `run` and `explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// Write to standard output; a reader that went away (`| head`) ends the output, not the program.
pub fn emit(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(dispatch(cli.command))
}

async fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Run(args) => run::run_command(args).await,
        Command::List { paths } => list(&paths),
        Command::Bench { format, requests, concurrency, scenarios, load_scenario } => {
            let options =
                crate::bench::BenchOptions { scenarios, load_scenario, requests, concurrency };
            bench(&options, format).await
        }
        Command::Serve { scenario, duration, report } => {
            serve_scenario(&scenario, duration, report.as_deref()).await
        }
        Command::Explain(args) => explain::explain_command(args),
        Command::Import { files, output, images } => {
            let images = if images { Images::Run } else { Images::Recorded };
            evidence::import_command(&files, output.as_deref(), images)
        }
        Command::Check { files, format, sdk } => evidence::check_command(&files, format, &sdk),
        Command::Schema => {
            println!(
                "{}",
                serde_json::to_string_pretty(&scenario::json_schema())
                    .expect("a schema serialises")
            );
            ExitCode::SUCCESS
        }
        Command::Backend => serve("backend", reference::backend::serve()).await,
        Command::Adapter => serve("adapter", reference::adapter::serve()).await,
    }
}

async fn serve(
    name: &str,
    server: impl Future<Output = Result<(), reference::StartError>>,
) -> ExitCode {
    init_tracing();
    match server.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{name}: {error}");
            ExitCode::from(2)
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn serve_scenario(
    path: &std::path::Path,
    duration: Option<std::time::Duration>,
    report_file: Option<&std::path::Path>,
) -> ExitCode {
    let started = std::time::Instant::now();
    let (scenario, runner) = match (Scenario::load(path), Runner::current_exe()) {
        (Ok(scenario), Ok(runner)) => (scenario, runner),
        (Err(error), _) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
        (_, Err(error)) => {
            eprintln!("error: cannot find this program's own executable: {error}");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = crate::runner::check_images(std::slice::from_ref(&scenario)) {
        eprintln!("error: {error}");
        return ExitCode::from(2);
    }
    let mut shutdown = match signals::Shutdown::listen() {
        Ok(shutdown) => shutdown,
        Err(error) => {
            eprintln!("error: cannot listen for signals: {error}");
            return ExitCode::from(2);
        }
    };
    let (signal_tx, signal_rx) = tokio::sync::oneshot::channel();
    // A signal ends serving like the duration does: the report is still printed, then the exit
    // code says which signal ended it.
    let until = async move {
        let signal = match duration {
            Some(duration) => tokio::select! {
                () = tokio::time::sleep(duration) => None,
                signal = shutdown.received() => Some(signal),
            },
            None => Some(shutdown.received().await),
        };
        let _ = signal_tx.send(signal);
    };
    let print_exports = |env: &[(String, String)]| {
        println!(
            "# session-pool-harness: stand-ins for {} are up; run your backend with:",
            scenario.name
        );
        for line in report::export_lines(env) {
            println!("{line}");
        }
        let stop = duration.map_or_else(
            || "Ctrl-C (or SIGTERM)".to_owned(),
            |d| format!("{} ms or Ctrl-C (or SIGTERM)", d.as_millis()),
        );
        println!("# serving until {stop}");
    };
    match runner.serve(&scenario, print_exports, until).await {
        Ok(served) => {
            println!("{}", report::served_text(&served));
            if let Some(file) = report_file {
                let page = report::html::served(
                    &scenario.name,
                    &scenario.description,
                    &served,
                    started.elapsed().as_millis(),
                );
                if let Err(error) = std::fs::write(file, page) {
                    eprintln!("error: cannot write the report to {}: {error}", file.display());
                    return ExitCode::from(2);
                }
                eprintln!("# report written to {}", file.display());
            }
            match signal_rx.await.ok().flatten() {
                Some(signal) => signal.exit_code(),
                None => ExitCode::SUCCESS,
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

async fn bench(options: &crate::bench::BenchOptions, format: Format) -> ExitCode {
    let runner = match Runner::current_exe() {
        Ok(runner) => runner,
        Err(error) => {
            eprintln!("error: cannot find this program's own executable: {error}");
            return ExitCode::from(2);
        }
    };
    match crate::bench::run(&runner, options).await {
        Ok(report) => {
            match format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&report).expect("a report serialises")
                ),
                Format::Text => print!("{}", crate::bench::text(&report)),
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

/// `5s`, `500ms`, `2m`, `1h`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("'{text}' is not a duration: use e.g. 500ms, 5s, 2m, 1h"))?;
    let per_unit: u64 = match unit {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(format!("'{text}': unknown unit '{unit}': use ms, s, m or h")),
    };
    let ms = value.checked_mul(per_unit).ok_or_else(|| {
        format!("'{text}' is too long a duration: use at most {} h", u64::MAX / 3_600_000)
    })?;
    Ok(std::time::Duration::from_millis(ms))
}

fn list(paths: &[PathBuf]) -> ExitCode {
    match Scenario::load_all(paths) {
        Ok(scenarios) => {
            for scenario in scenarios {
                println!("{:<32} {}", scenario.name, scenario.description);
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_their_unit_and_refuse_what_does_not_fit() {
        assert_eq!(parse_duration("500ms"), Ok(std::time::Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(std::time::Duration::from_secs(120)));
        assert!(parse_duration("99999999999999999h").unwrap_err().contains("too long"));
        assert!(parse_duration("5x").unwrap_err().contains("unknown unit"));
    }
}
