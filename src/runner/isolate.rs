//! `run --isolate`: the whole run inside a network namespace of its own that has only loopback
//! (Linux: `unshare` from util-linux, user namespaces, `ip` from iproute2). Whatever a process under
//! test does with proxies, nothing it sends can leave the machine.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// Set in the environment of the harness running inside the namespace.
pub const ISOLATED_ENV: &str = "SESSION_POOL_HARNESS_ISOLATED";

/// Whether this process already runs isolated.
pub fn is_isolated() -> bool {
    std::env::var_os(ISOLATED_ENV).is_some()
}

/// `program args…` inside a new network namespace whose loopback is up.
pub fn command(program: &Path, args: &[OsString]) -> Command {
    let mut command = Command::new("unshare");
    command
        .args([
            "--net",
            "--map-root-user",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$@\"",
            "sh",
        ])
        .arg(program)
        .args(args)
        .env(ISOLATED_ENV, "1");
    command
}

/// Whether namespaces can be made here; the error says what is missing.
pub fn available() -> Result<(), String> {
    let probe = command(Path::new("true"), &[])
        .output()
        .map_err(|e| format!("cannot run unshare ({e}): --isolate needs util-linux's unshare"))?;
    if probe.status.success() {
        return Ok(());
    }
    Err(format!(
        "cannot make a network namespace ({}): --isolate needs user namespaces and iproute2's ip; run without --isolate, where HTTP_PROXY is the only guard",
        String::from_utf8_lossy(&probe.stderr).trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_the_namespace_loopback_works_and_nothing_else_is_reachable() {
        if let Err(why) = available() {
            panic!("this machine should support --isolate: {why}");
        }
        let script = "python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); s.listen(); c=socket.create_connection(s.getsockname()); print(\"loopback ok\")'; \
                      python3 -c 'import socket; socket.create_connection((\"192.0.2.1\", 80), timeout=3)' 2>&1 | tail -n 1";
        let output = command(Path::new("sh"), &["-c".into(), script.into()]).output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("loopback ok"), "{text}");
        assert!(text.contains("Network is unreachable"), "{text}");
    }
}
