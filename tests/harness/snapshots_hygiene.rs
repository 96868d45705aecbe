//! Snapshots must be stable and safe: no raw JWT, no port, no timestamp.

use crate::helpers::root;

fn snapshots() -> Vec<(String, String)> {
    let dir = root("tests/harness/snapshots");
    let mut found: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    found.sort();
    found
}

#[test]
fn at_least_eight_scenario_snapshots_exist() {
    let count = snapshots().len();
    assert!(count >= 8, "only {count} snapshots");
}

#[test]
fn no_snapshot_holds_a_raw_jwt_a_loopback_port_or_an_epoch_timestamp() {
    for (file, text) in snapshots() {
        assert!(!text.contains("eyJ"), "{file} holds what looks like a raw JWT (base64 of '{{\"')");
        for (i, _) in text.match_indices("127.0.0.1:") {
            let next = text[i + "127.0.0.1:".len()..].chars().next();
            assert!(!next.is_some_and(|c| c.is_ascii_digit()), "{file} holds a loopback port");
        }
        let epochs = text
            .split(|c: char| !c.is_ascii_digit())
            .filter(|run| run.len() == 10 && run.starts_with('1'))
            .count();
        assert_eq!(epochs, 0, "{file} holds a 10-digit number that looks like an epoch timestamp");
    }
}
