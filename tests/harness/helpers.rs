//! Shared helpers: the harness binary and a runner using it.

use std::path::{Path, PathBuf};

use session_pool_harness::Runner;

/// The harness binary built by cargo for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_session-pool-harness");

/// A runner whose reference backend and adapter are this build's binary.
pub fn runner() -> Runner {
    Runner::new(BIN)
}

/// A path under the crate root.
pub fn root(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A scenario that extends a shipped one (by absolute path, so it can be written anywhere) and
/// adds `rest`: what a user writes to vary a world.
pub fn extending(shipped: &str, rest: &str) -> String {
    format!("extends = {:?}\n{rest}", root(shipped).display().to_string())
}

/// The `export NAME='value'` lines `serve` prints, read up to its `# serving until` line.
pub fn serve_exports(stdout: impl std::io::BufRead) -> std::collections::BTreeMap<String, String> {
    let mut env = std::collections::BTreeMap::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line.starts_with("# serving until") {
            break;
        }
        if let Some((key, value)) = line.strip_prefix("export ").and_then(|kv| kv.split_once('=')) {
            env.insert(key.to_owned(), value.trim_matches('\'').to_owned());
        }
    }
    env
}

/// A value no other call in this process returns (for temporary names and markers).
pub fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A token request to the identity stand-in, as the Azure SDKs send it (Container Apps protocol).
pub async fn request_token(stand_ins: &session_pool_harness::StandIns) -> reqwest::Response {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(stand_ins.identity_endpoint())
        .query(&[("api-version", "2019-08-01"), ("resource", "https://dynamicsessions.io")])
        .header("x-identity-header", stand_ins.identity_header())
        .send()
        .await
        .unwrap()
}

/// The diagnosis ids of an `explain --format json` report, in rank order.
pub fn diagnosis_ids(report: &serde_json::Value) -> Vec<String> {
    report["diagnoses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The scenarios of the reports guide's screenshot: a refused pool, an identity failure, the happy path.
pub const REPORTED: [&str; 3] = [
    "scenarios/missing-role.toml",
    "scenarios/identity-not-specified.toml",
    "scenarios/happy-path.toml",
];

/// `run <files> --format <format>`: its standard output.
pub fn report(format: &str, files: &[&str]) -> String {
    let output = std::process::Command::new(BIN)
        .current_dir(root(""))
        .arg("run")
        .args(files)
        .args(["--format", format])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}
