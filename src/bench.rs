//! The benchmark behind `session-pool-harness bench`: scenario speed, harness overhead, and the
//! reference backend under load through the whole chain, measured in one run on one machine.
//!
//! Targets live here and in docs/performance.md, never in tests: timings depend on the machine.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::runner::{RunError, Runner};
use crate::scenario::{LoadError, Scenario};
use crate::transcript::{Hop, Recorder};

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Folder of scenarios for the suite timings.
    pub scenarios: PathBuf,
    /// The world driven under load (a custom-container happy path).
    pub load_scenario: PathBuf,
    /// Requests sent through the whole chain.
    pub requests: usize,
    /// Concurrent connections of the load.
    pub concurrency: usize,
}

/// The figures (keys as docs/performance.md names them).
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub scenario_count: usize,
    pub scenario_median_ms: f64,
    pub scenario_p95_ms: f64,
    pub scenario_max_ms: f64,
    pub slowest_scenario: String,
    pub suite_total_ms: f64,
    pub overhead_ms: f64,
    pub overhead_ratio: f64,
    pub backend_requests: usize,
    pub backend_concurrency: usize,
    pub backend_errors: usize,
    pub backend_rps: f64,
    pub backend_p50_ms: f64,
    pub backend_p99_ms: f64,
    pub backend_peak_rss_mb: f64,
    pub token_requests: usize,
    pub direct_rps: f64,
    pub backend_vs_direct_ratio: f64,
    pub cores: usize,
    pub bench_total_ms: f64,
    /// Scenarios in the large HTML report (the suite's outcomes repeated).
    pub report_scenarios: usize,
    pub report_mb: f64,
    /// Chromium's time to load and lay out that report, beyond an empty page; `None` without Chromium.
    pub report_render_ms: Option<f64>,
    /// Median time to start and stop the stand-ins of the load world (in code, as a Rust test does).
    pub standins_start_stop_ms: f64,
    /// Median time to start and drop a `wiremock::MockServer` with `MockServer::start`, measured in
    /// the same run: wiremock keeps a pool of servers, so after the first this is a checkout.
    pub wiremock_start_drop_ms: f64,
    /// The same for a server of its own (`MockServer::builder().start()`: a fresh bind, no pool).
    pub wiremock_fresh_start_drop_ms: f64,
    /// What a Rust test pays for `StandIns::start` next to the `MockServer::start` it already uses.
    pub standins_vs_wiremock_ratio: f64,
    /// The same against a fresh (unpooled) wiremock server.
    pub standins_vs_fresh_wiremock_ratio: f64,
}

/// A benchmark that could not run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    Run(#[from] RunError),
    #[error("the load world {0} has no custom-container pool to drive")]
    NotDrivable(String),
    #[error("cannot build the load client: {0}")]
    Client(String),
}

/// Run every measurement.
pub async fn run(runner: &Runner, options: &BenchOptions) -> Result<BenchReport, BenchError> {
    let started = Instant::now();
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let scenarios = Scenario::load_all(std::slice::from_ref(&options.scenarios))?;

    // Per scenario, one at a time, so each time is its own.
    let mut times = Vec::new();
    for scenario in &scenarios {
        let outcome = runner.run(scenario).await;
        times.push((millis(outcome.duration), scenario.name.clone()));
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    let suite_started = Instant::now();
    let outcomes = runner.run_all(scenarios.clone(), cores).await;
    let suite_total_ms = millis(suite_started.elapsed());
    let report = large_report(&outcomes, REPORT_SCENARIOS);

    let load_world = Scenario::load(&options.load_scenario)?;
    let (scenario_ms, direct_ms) = overhead(runner, &load_world).await?;
    let load = load(runner, &load_world, options).await?;
    let (standins_ms, wiremock_ms, fresh_ms) = start_stop(&load_world).await?;
    let values: Vec<f64> = times.iter().map(|(t, _)| *t).collect();
    Ok(BenchReport {
        scenario_count: times.len(),
        scenario_median_ms: percentile(&values, 50.0),
        scenario_p95_ms: percentile(&values, 95.0),
        scenario_max_ms: values.last().copied().unwrap_or(0.0),
        slowest_scenario: times.last().map(|(_, n)| n.clone()).unwrap_or_default(),
        suite_total_ms,
        overhead_ms: scenario_ms - direct_ms,
        overhead_ratio: ratio(scenario_ms, direct_ms),
        backend_requests: options.requests,
        backend_concurrency: options.concurrency,
        backend_errors: load.errors,
        backend_rps: load.rps,
        backend_p50_ms: load.p50_ms,
        backend_p99_ms: load.p99_ms,
        backend_peak_rss_mb: load.peak_rss_mb,
        token_requests: load.token_requests,
        direct_rps: load.direct_rps,
        backend_vs_direct_ratio: ratio(load.rps, load.direct_rps),
        cores,
        bench_total_ms: millis(started.elapsed()),
        report_scenarios: REPORT_SCENARIOS,
        report_mb: report.len() as f64 / 1e6,
        report_render_ms: render_in_chromium(&report),
        standins_start_stop_ms: standins_ms,
        wiremock_start_drop_ms: wiremock_ms,
        wiremock_fresh_start_drop_ms: fresh_ms,
        standins_vs_wiremock_ratio: ratio(standins_ms, wiremock_ms),
        standins_vs_fresh_wiremock_ratio: ratio(standins_ms, fresh_ms),
    })
}

/// Median times, over 30 rounds each after one warm-up, of `StandIns::start` + `stop` on the load
/// world, of `wiremock::MockServer::start` + drop (pooled) and of a fresh wiremock server, alternating
/// so that all three see the same machine.
async fn start_stop(scenario: &Scenario) -> Result<(f64, f64, f64), BenchError> {
    const ROUNDS: usize = 30;
    let (mut standins, mut wiremock, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=ROUNDS {
        let started = Instant::now();
        let stand_ins =
            crate::standins::StandIns::start(&scenario.world).await.map_err(|source| {
                RunError::StandIns { scenario: scenario.file.display().to_string(), source }
            })?;
        stand_ins.stop().await;
        let standins_ms = millis(started.elapsed());
        let started = Instant::now();
        drop(wiremock::MockServer::start().await);
        let wiremock_ms = millis(started.elapsed());
        let started = Instant::now();
        drop(wiremock::MockServer::builder().start().await);
        let fresh_ms = millis(started.elapsed());
        if round > 0 {
            standins.push(standins_ms);
            wiremock.push(wiremock_ms);
            fresh.push(fresh_ms);
        }
    }
    for times in [&mut standins, &mut wiremock, &mut fresh] {
        times.sort_by(f64::total_cmp);
    }
    Ok((percentile(&standins, 50.0), percentile(&wiremock, 50.0), percentile(&fresh, 50.0)))
}

/// Scenarios in the large report the bench renders.
const REPORT_SCENARIOS: usize = 500;

/// The HTML report of `count` outcomes: the suite's, repeated.
fn large_report(outcomes: &[crate::runner::Outcome], count: usize) -> String {
    let many: Vec<crate::runner::Outcome> = outcomes.iter().cycle().take(count).cloned().collect();
    crate::report::html::html(&many, 0)
}

/// A page that loads `report.html` in a frame and writes, once it is loaded and laid out, the time
/// since the page started.
const TIMING_PAGE: &str = r#"<!DOCTYPE html><html><body><pre id="result">pending</pre>
<iframe id="report" src="report.html" width="1280" height="1600"></iframe>
<script>
document.getElementById('report').addEventListener('load', (event) => {
  event.target.contentDocument.body.getBoundingClientRect();
  document.getElementById('result').textContent = performance.now();
});
</script></body></html>"#;

/// Median over three runs of Chromium's time to load and lay out `report` (headless, from a file),
/// minus the same for an empty page. `None` when Chromium is not installed or does not answer.
fn render_in_chromium(report: &str) -> Option<f64> {
    let chromium =
        ["chromium", "chromium-browser", "google-chrome"].into_iter().find_map(|name| {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file())
        })?;
    let dir = std::env::temp_dir().join(format!("sph-bench-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    std::fs::write(dir.join("timing.html"), TIMING_PAGE).ok()?;
    let time = |page: &str| -> Option<f64> {
        std::fs::write(dir.join("report.html"), page).ok()?;
        let mut runs = Vec::new();
        for _ in 0..3 {
            let output = std::process::Command::new(&chromium)
                .args([
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--allow-file-access-from-files",
                    "--dump-dom",
                ])
                .arg(format!("file://{}", dir.join("timing.html").display()))
                .output()
                .ok()?;
            let dom = String::from_utf8_lossy(&output.stdout);
            let (_, rest) = dom.split_once("<pre id=\"result\">")?;
            runs.push(rest.split_once("</pre>")?.0.parse::<f64>().ok()?);
        }
        runs.sort_by(f64::total_cmp);
        Some(runs[1])
    };
    let empty = time("<!DOCTYPE html><html><body></body></html>");
    let full = time(report);
    let _ = std::fs::remove_dir_all(&dir);
    Some(full? - empty?)
}

/// The scenario's median time, and the median time of the same exchanges sent straight to warm
/// stand-ins (token, then the pool call that runs through container and Piston).
async fn overhead(runner: &Runner, scenario: &Scenario) -> Result<(f64, f64), BenchError> {
    let mut scenario_times = Vec::new();
    for _ in 0..10 {
        scenario_times.push(millis(runner.run(scenario).await.duration));
    }
    let stage = runner.start(scenario).await?;
    let stand_ins =
        stage.stand_ins().ok_or_else(|| BenchError::NotDrivable(scenario.name.clone()))?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| BenchError::Client(e.to_string()))?;
    let request = &scenario
        .steps
        .first()
        .ok_or_else(|| BenchError::NotDrivable(scenario.name.clone()))?
        .request;
    let crate::scenario::format::RequestFile::Execute(execute) = request else {
        return Err(BenchError::NotDrivable(scenario.name.clone()));
    };
    let mut direct_times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let token: serde_json::Value = client
            .get(stand_ins.identity_endpoint())
            .query(&[("api-version", "2019-08-01"), ("resource", "https://dynamicsessions.io")])
            .header("x-identity-header", stand_ins.identity_header())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| BenchError::Client(e.to_string()))?
            .json()
            .await
            .map_err(|e| BenchError::Client(e.to_string()))?;
        let body = json!({ "properties": { "code": execute.code, "stdin": "", "version": execute.version } });
        let url = format!(
            "{}/{}/execute?identifier={}",
            stand_ins.pool_endpoint(),
            execute.language,
            scenario.backend.identifier
        );
        let bearer = token["access_token"].as_str().unwrap_or_default();
        client
            .post(url)
            .bearer_auth(bearer)
            .json(&body)
            .send()
            .await
            .map_err(|e| BenchError::Client(e.to_string()))?;
        direct_times.push(millis(t.elapsed()));
    }
    stage.stop().await;
    Ok((percentile(&scenario_times, 50.0), percentile(&direct_times, 50.0)))
}

struct Load {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: usize,
    peak_rss_mb: f64,
    token_requests: usize,
    direct_rps: f64,
}

/// The reference backend through the whole chain, then Piston alone, under the same load.
async fn load(
    runner: &Runner,
    scenario: &Scenario,
    options: &BenchOptions,
) -> Result<Load, BenchError> {
    let recorder = Recorder::new();
    let stage = runner.start_recording(scenario, &recorder).await?;
    let backend =
        stage.backend_process().ok_or_else(|| BenchError::NotDrivable(scenario.name.clone()))?;
    let crate::scenario::format::RequestFile::Execute(execute) = &scenario.steps[0].request else {
        return Err(BenchError::NotDrivable(scenario.name.clone()));
    };
    let body = json!({ "language": execute.language, "version": execute.version, "files": [{ "content": execute.code }] });
    let through_backend = format!("{}/api/v2/execute", backend.url());
    let (rps, latencies, errors) = hammer(&through_backend, &body, options).await?;
    let peak_rss_mb = backend.pid().and_then(peak_rss_kb).map_or(0.0, |kb| kb as f64 / 1024.0);
    let token_requests = recorder.count_to(Hop::Identity);
    let piston =
        format!("{}/api/v2/execute", stage.stand_ins().map(|s| s.piston_url()).unwrap_or_default());
    let (direct_rps, _, _) = hammer(&piston, &body, options).await?;
    stage.stop().await;
    Ok(Load {
        rps,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        errors,
        peak_rss_mb,
        token_requests,
        direct_rps,
    })
}

/// Send `options.requests` POSTs with `options.concurrency` workers; throughput, latencies, errors.
pub async fn hammer(
    url: &str,
    body: &serde_json::Value,
    options: &BenchOptions,
) -> Result<(f64, Vec<f64>, usize), BenchError> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .map_err(|e| BenchError::Client(e.to_string()))?;
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.concurrency {
        let (client, next, url, body, total) =
            (client.clone(), next.clone(), url.to_owned(), body.clone(), options.requests);
        workers.spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                match client.post(&url).json(&body).send().await {
                    Ok(answer) if answer.status().is_success() => {
                        let _ = answer.bytes().await;
                    }
                    _ => errors += 1,
                }
                latencies.push(millis(t.elapsed()));
            }
            (latencies, errors)
        });
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    while let Some(Ok((l, e))) = workers.join_next().await {
        latencies.extend(l);
        errors += e;
    }
    let rps = options.requests as f64 / started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    Ok((rps, latencies, errors))
}

/// Peak resident set (VmHWM) of a process, in KiB (Linux).
fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Nearest-rank percentile of a sorted or unsorted slice.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// The bench figures as text.
pub fn text(r: &BenchReport) -> String {
    format!(
        "scenarios ({}): median {:.1} ms, p95 {:.1} ms, max {:.1} ms ({}); suite {:.0} ms\n\
         overhead (happy path vs the same exchanges sent directly): +{:.1} ms, ratio {:.2}\n\
         backend through the whole chain ({} requests, {} connections): {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, {} errors, peak RSS {:.1} MB, {} token request(s)\n\
         Piston stand-in alone: {:.0} req/s; backend / direct = {:.2}\n\
         HTML report of {} scenarios: {:.1} MB, loaded and laid out by Chromium in {}\n\
         StandIns::start + stop {:.3} ms, wiremock::MockServer::start + drop {:.3} ms (pooled; ratio {:.1}), a fresh one {:.3} ms (ratio {:.1})\n\
         {} cores; bench took {:.1} s\n",
        r.scenario_count,
        r.scenario_median_ms,
        r.scenario_p95_ms,
        r.scenario_max_ms,
        r.slowest_scenario,
        r.suite_total_ms,
        r.overhead_ms,
        r.overhead_ratio,
        r.backend_requests,
        r.backend_concurrency,
        r.backend_rps,
        r.backend_p50_ms,
        r.backend_p99_ms,
        r.backend_errors,
        r.backend_peak_rss_mb,
        r.token_requests,
        r.direct_rps,
        r.backend_vs_direct_ratio,
        r.report_scenarios,
        r.report_mb,
        r.report_render_ms.map_or_else(
            || "(not measured: no Chromium on PATH)".to_owned(),
            |ms| format!("{ms:.0} ms")
        ),
        r.standins_start_stop_ms,
        r.wiremock_start_drop_ms,
        r.standins_vs_wiremock_ratio,
        r.wiremock_fresh_start_drop_ms,
        r.standins_vs_fresh_wiremock_ratio,
        r.cores,
        r.bench_total_ms / 1000.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(
            (percentile(&values, 50.0), percentile(&values, 95.0), percentile(&values, 1.0)),
            (3.0, 5.0, 1.0)
        );
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn peak_rss_is_read_from_proc() {
        assert!(peak_rss_kb(std::process::id()).is_some_and(|kb| kb > 0));
    }
}
