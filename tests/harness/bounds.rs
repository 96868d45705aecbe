//! Bounds: `serve` and the stand-ins under slow clients, large bodies and no file descriptors, and
//! what the transcript says about what it refused (issue 16).

use std::collections::BTreeMap;
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use session_pool_harness::{Hop, Scenario, StandIns};

use crate::helpers::{BIN, extending, request_token, root};

/// A `serve` process for a scenario, with the exports it printed.
struct Served {
    child: Child,
    stdout: BufReader<ChildStdout>,
    env: BTreeMap<String, String>,
}

impl Served {
    /// `serve` for a minute (the test ends it sooner), run through `sh -c <shell>`: `shell` ends
    /// with `exec "$0" serve …`, so the shell can set limits first and the pid is the harness's.
    fn start(shell: &str) -> Self {
        let mut child = Command::new("sh")
            .args(["-c", shell, BIN])
            .current_dir(root(""))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let env = crate::helpers::serve_exports(&mut stdout);
        assert!(env.contains_key("IDENTITY_ENDPOINT"), "serve printed no exports: {env:?}");
        Self { child, stdout, env }
    }

    fn happy_path() -> Self {
        Self::start(r#"exec "$0" serve scenarios/happy-path.toml --for 60s"#)
    }

    /// `host:port` of the identity stand-in.
    fn identity_addr(&self) -> String {
        let url = &self.env["IDENTITY_ENDPOINT"];
        url.trim_start_matches("http://").split('/').next().unwrap().to_owned()
    }

    /// A line of `/proc/<pid>/status`, e.g. `VmHWM`, in its unit (kB).
    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// CPU time the process used so far (user + system), from `/proc/<pid>/stat`.
    fn cpu_time(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap();
        // Fields after the command name (which may hold spaces) start at `state`, field 3.
        let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a configuration value.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        Duration::from_millis(ticks * 1000 / per_second)
    }

    /// Interrupt it (as Ctrl-C does) and return what it printed at exit.
    fn finish(mut self) -> String {
        let interrupted =
            Command::new("kill").args(["-INT", &self.child.id().to_string()]).status().unwrap();
        assert!(interrupted.success());
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "serve reports, then exits 128 + SIGINT: {rest}");
        rest
    }
}

/// `count` connections to `addr`, each sending half a request head and then nothing.
fn slow_connections(addr: &str, count: usize) -> Vec<TcpStream> {
    (0..count)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(b"GET /msi/token HTTP/1.1\r\nHost: 127.0.0.1\r\n").unwrap();
            stream
        })
        .collect()
}

/// Whether the server closed `stream` without sending anything (waiting at most 20 s).
fn closed_without_answer(mut stream: &TcpStream) -> bool {
    use std::io::ErrorKind::{TimedOut, WouldBlock};
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    match stream.read(&mut [0u8; 1]) {
        Ok(n) => n == 0,
        Err(error) => !matches!(error.kind(), WouldBlock | TimedOut),
    }
}

#[test]
fn serve_after_300_requests_of_1_mb_stays_under_150_mb_of_resident_memory() {
    // Arrange
    let served = Served::happy_path();
    let url = format!("{}/python/execute?identifier=memory", served.env["SESSION_POOL_ENDPOINT"]);
    let code = "x".repeat(1024 * 1024);
    let body = serde_json::json!({"properties": {"code": code}}).to_string();

    // Act: 300 requests, 10 at a time (no token: the pool answers 401 after reading each body).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let statuses: Vec<u16> = runtime.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut statuses = Vec::new();
        for _ in 0..30 {
            let batch = (0..10).map(|_| client.post(&url).body(body.clone()).send());
            for answer in futures_util::future::join_all(batch).await {
                statuses.push(answer.unwrap().status().as_u16());
            }
        }
        statuses
    });
    let peak_mb = served.status_kb("VmHWM") as f64 / 1024.0;
    let report = served.finish();

    // Assert
    println!("memory: serve after {} requests of 1 MB: peak RSS {peak_mb:.1} MB", statuses.len());
    assert!(statuses.iter().all(|s| *s == 401), "{statuses:?}");
    assert!(peak_mb < 150.0, "peak RSS {peak_mb:.1} MB");
    let cut =
        format!("request body cut to 65536 bytes in the transcript (it was {} bytes)", body.len());
    assert!(report.contains(&cut), "{}", &report[..report.len().min(2000)]);
}

#[test]
fn a_client_is_served_while_500_slow_connections_are_open_and_the_header_timeout_closes_them() {
    // Arrange
    let served = Served::happy_path();
    let slow = slow_connections(&served.identity_addr(), 500);

    // Act: an ordinary token request while the slow ones are open.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(async {
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap()
            .get(&served.env["IDENTITY_ENDPOINT"])
            .query(&[("api-version", "2019-08-01"), ("resource", "https://dynamicsessions.io")])
            .header("x-identity-header", &served.env["IDENTITY_HEADER"])
            .send()
            .await
            .map(|answer| answer.status().as_u16())
    });
    // Nothing else closes them: each read ends when the header-read timeout (5 s) does.
    let closed = slow.iter().filter(|stream| closed_without_answer(stream)).count();
    let report = served.finish();

    // Assert
    assert_eq!(status.ok(), Some(200), "the ordinary client was served");
    assert_eq!(closed, 500);
    assert!(
        report.contains("not shown: identity: 500 connections closed by the header-read timeout"),
        "{report}"
    );
}

#[test]
fn serve_without_file_descriptors_backs_off_instead_of_spinning_and_says_so() {
    // Arrange: serve with 64 descriptors, then more connections than it can accept.
    let served =
        Served::start(r#"ulimit -n 64 && exec "$0" serve scenarios/happy-path.toml --for 60s"#);
    let slow = slow_connections(&served.identity_addr(), 100);

    // Act: measure the CPU time it spends while accepting keeps failing (the slow connections hold
    // every descriptor until the 5 s header-read timeout).
    std::thread::sleep(Duration::from_millis(500));
    let before = served.cpu_time();
    std::thread::sleep(Duration::from_secs(2));
    let spent = served.cpu_time() - before;
    drop(slow);
    let report = served.finish();

    // Assert: spinning on accept would spend about the whole 2 s.
    println!("back-off: {} ms of CPU in 2 s without descriptors", spent.as_millis());
    assert!(spent < Duration::from_millis(400), "{} ms of CPU in 2 s", spent.as_millis());
    assert!(
        report.contains("identity: accepting a connection failed")
            && report.contains("(Too many open files (os error 24))"),
        "{report}"
    );
}

/// Send `bytes` to `addr` as they are, and read the answer until the server closes.
fn raw_answer(addr: &str, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[tokio::test]
async fn answers_given_before_any_handler_saw_the_request_are_in_the_transcript() {
    // Arrange
    let scenario = Scenario::load(root("scenarios/happy-path.toml")).unwrap();
    let stand_ins = StandIns::start(scenario.world()).await.unwrap();
    let pool = stand_ins.pool_endpoint().trim_start_matches("http://").to_owned();

    // Act: a body over the limit, then a malformed chunked body.
    let (too_large, malformed) = tokio::task::spawn_blocking(move || {
        let too_large = raw_answer(
            &pool,
            b"POST /python/execute HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n",
        );
        let malformed = raw_answer(
            &pool,
            b"POST /python/execute HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nnot-hex\r\n",
        );
        (too_large, malformed)
    })
    .await
    .unwrap();

    // Assert
    assert!(too_large.starts_with("HTTP/1.1 413"), "{too_large}");
    assert!(malformed.starts_with("HTTP/1.1 400"), "{malformed}");
    let exchanges = stand_ins.exchanges();
    let seen: Vec<(Hop, Option<u16>, bool)> = exchanges
        .iter()
        .map(|e| {
            (
                e.to,
                e.status,
                e.note.as_deref().is_some_and(|n| n.contains("before the stand-in saw it")),
            )
        })
        .collect();
    assert_eq!(seen, [(Hop::Pool, Some(413), true), (Hop::Pool, Some(400), true)]);
    assert!(
        exchanges[1].to_string().contains("request body could not be read"),
        "{}",
        exchanges[1]
    );
}

#[tokio::test]
async fn an_identity_status_fault_answers_without_a_token() {
    // Arrange: the identity endpoint fails every call with 500.
    let source = extending(
        "scenarios/happy-path.toml",
        "[[world.faults]]\nhop = \"identity\"\nstatus = 500\n",
    );
    let scenario = Scenario::parse(&root("scenarios/identity-500.toml"), &source).unwrap();
    let stand_ins = StandIns::start(scenario.world()).await.unwrap();

    // Act
    let answer = request_token(&stand_ins).await;

    // Assert
    assert_eq!(answer.status(), 500);
    let body = answer.text().await.unwrap();
    assert!(!body.contains("access_token") && !body.contains("eyJ"), "{body}");
    assert_eq!(body, "", "empty: the fault gives no body");
    assert_eq!(stand_ins.exchanges()[0].response_body, None);
}

#[tokio::test]
async fn a_container_status_fault_answers_for_the_container_so_nothing_runs_there() {
    // Arrange: the container answers 403 by fault (as in container-refuses).
    let scenario = Scenario::load(root("scenarios/container-refuses.toml")).unwrap();

    // Act
    let outcome = crate::helpers::runner().run(&scenario).await;

    // Assert: the pool got the fault's answer; no code reached Piston.
    assert!(outcome.passed, "{:?}", outcome.failures);
    let hops: Vec<(Hop, Option<u16>)> =
        outcome.exchanges.iter().map(|e| (e.to, e.status)).collect();
    assert!(hops.contains(&(Hop::Container, Some(403))), "{hops:?}");
    assert!(!hops.iter().any(|(hop, _)| *hop == Hop::Piston), "{hops:?}");
}

#[test]
fn a_fault_status_outside_http_is_refused_at_its_line() {
    let source = extending(
        "scenarios/happy-path.toml",
        "[[world.faults]]\nhop = \"identity\"\nstatus = 1000\n",
    );

    let error = Scenario::parse(&root("scenarios/status-1000.toml"), &source).unwrap_err();

    let text = error.to_string();
    assert!(text.contains(":4:"), "points at the status line: {text}");
    assert!(
        text.contains(
            "1000 is out of range: between 100 and 599 (an HTTP status code is 100 to 599)"
        ),
        "{text}"
    );
}
