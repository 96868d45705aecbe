//! Reliability: the real backend process under bad input, and the harness under faults.

use std::time::Duration;

use session_pool_harness::{Exchange, Hop, LiveWorld, Scenario};

use crate::helpers::{extending, root, runner};

/// Bodies that must each get a 4xx with a `message`, sent to the running backend process.
fn bad_requests() -> Vec<(&'static str, Option<&'static str>, Vec<u8>)> {
    let json = Some("application/json");
    vec![
        ("invalid JSON", json, b"{".to_vec()),
        ("not UTF-8", json, b"{\"language\":\"\xff\xfe\"}".to_vec()),
        (
            "wrong content type",
            Some("text/plain"),
            br#"{"language":"python","version":"3","files":[{"content":"1"}]}"#.to_vec(),
        ),
        (
            "no content type",
            None,
            br#"{"language":"python","version":"3","files":[{"content":"1"}]}"#.to_vec(),
        ),
        ("missing files", json, br#"{"language":"python","version":"3"}"#.to_vec()),
        ("empty files", json, br#"{"language":"python","version":"3","files":[]}"#.to_vec()),
        (
            "path in language",
            json,
            br#"{"language":"../../admin","version":"3","files":[{"content":"1"}]}"#.to_vec(),
        ),
        (
            "query in language",
            json,
            br#"{"language":"python?identifier=victim","version":"3","files":[{"content":"1"}]}"#
                .to_vec(),
        ),
        (
            "query in version",
            json,
            br#"{"language":"python","version":"3&api-version=x","files":[{"content":"1"}]}"#
                .to_vec(),
        ),
        ("huge body", json, vec![b' '; 2 * 1024 * 1024]),
    ]
}

#[tokio::test]
async fn the_backend_refuses_every_bad_request_with_a_message_and_stays_up() {
    // Arrange: the reference backend in the happy-path world.
    let scenario = Scenario::load(root("scenarios/happy-path.toml")).unwrap();
    let stage = runner().start(&scenario).await.unwrap();
    let url = format!("{}/api/v2/execute", stage.backend_url().unwrap());
    let client = reqwest::Client::new();

    // Act + Assert: each bad request is a 4xx with a Piston-style message.
    let cases = bad_requests();
    for (name, content_type, body) in &cases {
        let mut request = client.post(&url).body(body.clone());
        if let Some(ct) = content_type {
            request = request.header("content-type", *ct);
        }
        let answer =
            request.send().await.unwrap_or_else(|e| panic!("{name}: the backend must answer: {e}"));
        let status = answer.status().as_u16();
        let body: serde_json::Value =
            answer.json().await.unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        assert!((400..500).contains(&status), "{name}: {status} {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{name}: {body}");
    }
    let good = serde_json::json!({"language": "python", "version": "3.10", "files": [{"content": "print(42)"}]});
    let after: serde_json::Value =
        client.post(&url).json(&good).send().await.unwrap().json().await.unwrap();
    stage.stop().await;
    assert_eq!(after["run"]["stdout"], "42\n", "the backend still serves after the bad requests");
    println!(
        "reliability: {} bad requests refused over HTTP by the backend process, then a good one served",
        cases.len()
    );
}

/// The happy-path world with one fault on one hop, and short bounds on the backend.
fn faulty_world(hop: &str, fault: &str) -> Scenario {
    let bounds = "[backend]\npool_timeout_ms = 400\ntoken_timeout_ms = 400\npool_max_retries = 1\npool_retry_delay_ms = 5\nidentity_max_retries = 1\nidentity_retry_delay_ms = 5\n";
    let source = extending(
        "scenarios/happy-path.toml",
        &format!("deadline_ms = 5000\n{bounds}\n[[world.faults]]\nhop = \"{hop}\"\n{fault}\n"),
    );
    Scenario::parse(&root(&format!("scenarios/fault-{hop}.toml")), &source)
        .unwrap_or_else(|e| panic!("{e}\n{source}"))
}

#[tokio::test]
async fn every_hop_fault_gets_a_bounded_answer_naming_a_hop_and_leaves_no_process() {
    let faults = [
        ("refused connection", "refuse = true"),
        ("reset", "close = true"),
        ("hang", "delay_ms = 60000"),
        ("slow drip", "slow_body_ms = 20"),
        ("garbage", "status = 200\nbody = \"<html>garbage</html>\""),
        ("truncated JSON", "malformed_json = true"),
    ];
    let mut tried = 0;
    for hop in ["identity", "pool", "container", "piston"] {
        for (name, fault) in faults {
            let scenario = faulty_world(hop, fault);
            let outcome = runner().run(&scenario).await;
            tried += 1;
            let what = format!("{name} at {hop}");
            assert!(
                !outcome.failures.iter().any(|f| f.to_string().contains("deadline")),
                "{what}: the backend must answer before the scenario deadline: {:?}",
                outcome.failures
            );
            let step = &outcome.steps[0];
            let status =
                step.status.unwrap_or_else(|| panic!("{what}: no answer from the backend"));
            let message = step.body.as_ref().and_then(|b| b["message"].as_str()).unwrap_or("");
            match status {
                200 => assert!(
                    step.body.as_ref().is_some_and(|b| b["run"].is_object()),
                    "{what}: a 200 must carry a run object"
                ),
                502 | 504 => assert!(
                    message.contains(" hop failed:"),
                    "{what}: {status} without the hop named: {message}"
                ),
                other => panic!("{what}: unexpected status {other}: {message}"),
            }
        }
    }
    println!(
        "faults: {tried} hop faults (refused, reset, hang, slow drip, garbage, truncated JSON on identity, pool, container, Piston), each answered within its bounds"
    );
}

/// Pids of live processes whose environment holds `marker` (Linux /proc; zombies excluded).
/// The processes still marked after they had up to 2 s to exit (a kill is not instant).
async fn processes_left(marker: &str) -> Vec<u32> {
    let mut left = processes_marked(marker);
    for _ in 0..100 {
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        left = processes_marked(marker);
    }
    left
}

fn processes_marked(marker: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let zombie = status.lines().any(|l| l.starts_with("State:") && l.contains('Z'));
            !zombie && environ.windows(marker.len()).any(|w| w == marker.as_bytes())
        })
        .collect()
}

/// Direct children of a process (Linux /proc).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>()
        })
        .collect()
}

/// A world whose backend waits a minute for a token: only a deadline or an interrupt ends it.
fn hanging_scenario_source(marker: &str, deadline_ms: u64) -> String {
    let rest = format!(
        "deadline_ms = {deadline_ms}\n[backend]\nidentifier = \"{marker}\"\ntoken_timeout_ms = 60000\n\n[[world.faults]]\nhop = \"identity\"\ndelay_ms = 60000\n"
    );
    extending("scenarios/happy-path.toml", &rest)
}

#[tokio::test]
async fn a_scenario_past_its_deadline_is_stopped_and_its_processes_killed() {
    let marker = format!("deadline-{}", crate::helpers::unique());
    let scenario =
        Scenario::parse(&root("scenarios/hang.toml"), &hanging_scenario_source(&marker, 800))
            .unwrap();

    let outcome = runner().run(&scenario).await;

    assert!(
        outcome
            .failures
            .iter()
            .any(|f| f.to_string().contains("did not finish within its deadline of 800 ms")),
        "{:?}",
        outcome.failures
    );
    assert!(outcome.duration < std::time::Duration::from_secs(30), "the deadline bounded the run");
    let left = processes_left(&marker).await;
    assert!(left.is_empty(), "processes outlived the run: {left:?}");
}

#[test]
fn an_interrupted_run_leaves_no_process_behind() {
    let marker = format!("interrupt-{}", crate::helpers::unique());
    let dir = std::env::temp_dir().join(&marker);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("hang.toml");
    std::fs::write(&file, hanging_scenario_source(&marker, 120_000)).unwrap();

    let mut harness = std::process::Command::new(crate::helpers::BIN)
        .args(["run", file.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let wait_until = |check: &dyn Fn() -> bool| {
        for _ in 0..500 {
            if check() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        false
    };
    assert!(wait_until(&|| !processes_marked(&marker).is_empty()), "the backend never started");
    let started = children_of(harness.id());
    assert!(
        started.len() >= 2,
        "the backend and the adapter are the harness's children: {started:?}"
    );

    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &harness.id().to_string()])
        .status()
        .unwrap();
    let status = harness.wait().unwrap();

    assert!(interrupted.success());
    assert_eq!(status.code(), Some(130), "the harness reports the interrupt");
    let alive = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .is_ok_and(|s| !s.lines().any(|l| l.starts_with("State:") && l.contains('Z')))
    };
    assert!(
        wait_until(&|| !started.iter().any(alive)),
        "processes outlived the interrupted run: {:?}",
        started.iter().filter(|p| alive(p)).collect::<Vec<_>>()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Drive the happy-path world's backend with `requests` at `concurrency`; (errors, token requests, seconds).
async fn load(scenario: &Scenario, requests: usize, concurrency: usize) -> (usize, usize, f64) {
    let stage = runner().start(scenario).await.unwrap();
    let url = format!("{}/api/v2/execute", stage.backend_url().unwrap());
    let body = serde_json::json!({"language": "python", "version": "3.10", "files": [{"content": "print(42)"}]});
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = std::time::Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, url, body) = (client.clone(), next.clone(), url.clone(), body.clone());
        workers.spawn(async move {
            let mut errors = 0;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < requests {
                match client.post(&url).json(&body).send().await {
                    Ok(answer) if answer.status().is_success() => drop(answer.bytes().await),
                    _ => errors += 1,
                }
            }
            errors
        });
    }
    let errors: usize = workers.join_all().await.into_iter().sum();
    let seconds = started.elapsed().as_secs_f64();
    let tokens =
        stage.exchanges().iter().filter(|e| e.to == session_pool_harness::Hop::Identity).count();
    stage.stop().await;
    (errors, tokens, seconds)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_requests_at_100_concurrent_all_succeed_with_one_token() {
    let scenario = Scenario::load(root("scenarios/happy-path.toml")).unwrap();

    let (errors, tokens, seconds) = load(&scenario, 10_000, 100).await;

    println!(
        "load: 10000 requests at 100 concurrent through the whole chain in {seconds:.1} s: {errors} errors, {tokens} token request(s)"
    );
    assert_eq!((errors, tokens), (0, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_second_tokens_are_refreshed_before_expiry_by_one_request_at_a_time() {
    // Arrange: 3-second tokens, and a pool that allows no clock skew at all, so a token used one
    // second past its exp is refused (with Azure's 5 minutes, an expired token would pass).
    let source = extending(
        "scenarios/happy-path.toml",
        "[world.identity_endpoint]\ntoken_lifetime_secs = 3\n\n[world.pool]\ntoken_clock_skew_secs = 0\n",
    );
    let scenario = Scenario::parse(&root("scenarios/short-tokens.toml"), &source).unwrap();
    let stage = runner().start(&scenario).await.unwrap();

    // Act: requests from 50 callers for 5 seconds, longer than a token lives.
    let errors = load_for(&stage, Duration::from_secs(5), 50).await;

    // Assert
    let exchanges = stage.exchanges();
    stage.stop().await;
    let tokens = exchanges.iter().filter(|e| e.to == Hop::Identity).count();
    let pool: Vec<&Exchange> = exchanges.iter().filter(|e| e.to == Hop::Pool).collect();
    let expired: Vec<u64> = pool
        .iter()
        .filter(|e| {
            let exp = e.bearer_claims().and_then(|c| c["exp"].as_u64());
            exp.is_none_or(|exp| e.clock.is_none_or(|now| exp <= now))
        })
        .map(|e| e.seq)
        .collect();
    println!(
        "load: 3-second tokens, {} pool calls from 50 callers over 5 s: {errors} errors, {tokens} token requests, {} carrying an expired token",
        pool.len(),
        expired.len()
    );
    assert!(tokens >= 2, "5 s of 3-second tokens need a refresh: {tokens} token request(s)");
    // Refreshed at half-life (every 1-1.5 s), one request per refresh however many callers wait;
    // without single flight a refresh would be up to 50 requests at once.
    assert!(tokens <= 2 * 5 + 3, "{tokens} token requests: refreshes did not collapse into one");
    assert!(expired.is_empty(), "pool calls carrying an expired token: {expired:?}");
    assert_eq!(errors, 0, "every call succeeded");
}

/// Send executions from `callers` callers until `duration` has passed; the number that failed.
async fn load_for(stage: &LiveWorld, duration: Duration, callers: usize) -> usize {
    let url = format!("{}/api/v2/execute", stage.backend_url().unwrap());
    let body = serde_json::json!({"language": "python", "version": "3.10", "files": [{"content": "print(42)"}]});
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let until = std::time::Instant::now() + duration;
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..callers {
        let (client, url, body) = (client.clone(), url.clone(), body.clone());
        workers.spawn(async move {
            let mut errors = 0;
            while std::time::Instant::now() < until {
                match client.post(&url).json(&body).send().await {
                    Ok(answer) if answer.status().is_success() => drop(answer.bytes().await),
                    _ => errors += 1,
                }
            }
            errors
        });
    }
    workers.join_all().await.into_iter().sum()
}

#[tokio::test]
async fn what_a_backend_started_does_not_outlive_the_scenario() {
    let marker = format!("grandchild-{}", crate::helpers::unique());
    // `sh` starts a sleeper in the background (a grandchild of the harness), then becomes the backend.
    let rest = format!(
        "[backend]\nidentifier = \"{marker}\"\n\n[backend.process]\ncommand = [\"sh\", \"-c\", \"sleep 600 & exec \\\"$0\\\" backend\", \"{{harness}}\"]\nready_path = \"/\"\n"
    );
    let scenario = Scenario::parse(
        &root("scenarios/grandchild.toml"),
        &extending("scenarios/happy-path.toml", &rest),
    )
    .unwrap();

    let outcome = runner().run(&scenario).await;

    assert!(outcome.steps.iter().any(|s| s.status == Some(200)), "{:?}", outcome.failures);
    let left = processes_left(&marker).await;
    assert!(left.is_empty(), "the backend's grandchild outlived the scenario: {left:?}");
}
