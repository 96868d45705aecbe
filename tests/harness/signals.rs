//! Nothing outlives a run: after SIGTERM, SIGHUP or Ctrl-C (SIGINT) the harness stops every process
//! it started and removes its temporary files before it exits with 128 + the signal's number; after
//! SIGKILL, which it cannot handle, its children still end (a parent-death signal).
//!
//! Each run is started in a session of its own (`setsid`), so every process it starts, in whatever
//! process group, is found by its session id; temporary files go to a folder of the test's own
//! (`TMPDIR`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{BIN, extending, unique};

/// A scenario whose Piston answers after 6 s, so the run is still going when the signal comes
/// (in a folder of its own, apart from the run's temporary files).
fn slow_piston_scenario() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sph-signals-scenario-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("slow-piston.toml");
    let text = extending(
        "scenarios/happy-path.toml",
        "deadline_ms = 20000\n\n[[world.faults]]\nhop = \"piston\"\ndelay_ms = 6000\n",
    );
    std::fs::write(&file, text).unwrap();
    file
}

/// A fresh folder for the run's temporary files.
fn temp_folder() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sph-signals-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `setsid <program> <args>`: the child leads a new session, whose id is its pid.
fn in_new_session(program: &str, args: &[&str], tmp: &Path) -> Child {
    Command::new("setsid")
        .arg(program)
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("setsid (util-linux) runs")
}

/// Live (not zombie) processes of session `sid`, as `pid command` lines.
fn live_in_session(sid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().filter_map(Result::ok) {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
        let Some((_, after)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.len() > 3 && fields[0] != "Z" && fields[3] == sid.to_string() {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            found.push(format!("{} {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

/// Poll, bounded, until `done` holds; returns whether it did.
fn within(bound: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < bound {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

/// Start a run of the slow scenario in its own session and wait until its backend and session
/// container are up (three processes: the harness and its two children).
fn started_run(tmp: &Path, scenario: &Path) -> Child {
    let child = in_new_session(BIN, &["run", scenario.to_str().unwrap()], tmp);
    let sid = child.id();
    assert!(
        within(Duration::from_secs(20), || live_in_session(sid).len() >= 3),
        "the run started its processes: {:?}",
        live_in_session(sid)
    );
    child
}

fn assert_nothing_left(sid: u32, tmp: &Path) {
    assert!(
        within(Duration::from_secs(5), || live_in_session(sid).is_empty()),
        "processes of the run left behind: {:?}",
        live_in_session(sid)
    );
    let left: Vec<PathBuf> =
        std::fs::read_dir(tmp).unwrap().filter_map(Result::ok).map(|e| e.path()).collect();
    assert!(left.is_empty(), "temporary files of the run left behind: {left:?}");
}

#[rstest::rstest]
#[case::terminate(libc::SIGTERM, 143)]
#[case::hang_up(libc::SIGHUP, 129)]
#[case::interrupt(libc::SIGINT, 130)]
fn a_signal_stops_every_process_of_the_run_and_removes_its_files(
    #[case] signal: i32,
    #[case] code: i32,
) {
    // Arrange: a run whose processes are up and whose Piston has not answered yet.
    let tmp = temp_folder();
    let scenario = slow_piston_scenario();
    let mut run = started_run(&tmp, &scenario);

    // Act
    // SAFETY: kill(2) on the run's own pid; no memory is involved.
    unsafe {
        libc::kill(i32::try_from(run.id()).unwrap(), signal);
    }
    let status = run.wait().unwrap();

    // Assert
    let stderr = std::io::read_to_string(run.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(code), "{stderr}");
    assert!(stderr.contains("every process the harness started has been stopped"), "{stderr}");
    assert_nothing_left(run.id(), &tmp);
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::remove_dir_all(scenario.parent().unwrap()).unwrap();
}

#[test]
fn timeout_sending_sigterm_leaves_no_process_and_no_temporary_file_of_the_run() {
    let tmp = temp_folder();
    let scenario = slow_piston_scenario();

    let mut run = in_new_session(
        "timeout",
        &["--preserve-status", "-s", "TERM", "3", BIN, "run", scenario.to_str().unwrap()],
        &tmp,
    );
    let status = run.wait().unwrap();

    assert_eq!(status.code(), Some(143), "the harness's own exit code after SIGTERM");
    assert_nothing_left(run.id(), &tmp);
    std::fs::remove_dir_all(&tmp).unwrap();
    std::fs::remove_dir_all(scenario.parent().unwrap()).unwrap();
}

#[test]
fn sigkill_of_the_harness_still_ends_its_backend_and_session_container() {
    let tmp = temp_folder();
    let scenario = slow_piston_scenario();
    let mut run = started_run(&tmp, &scenario);

    run.kill().unwrap();
    run.wait().unwrap();

    // SIGKILL cannot be handled: the children end by their parent-death signal. Temporary files
    // cannot be removed then (the one thing SIGKILL leaves), so only processes are checked.
    assert!(
        within(Duration::from_secs(5), || live_in_session(run.id()).is_empty()),
        "children outlived a SIGKILLed harness: {:?}",
        live_in_session(run.id())
    );
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::remove_dir_all(scenario.parent().unwrap()).unwrap();
}
