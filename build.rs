//! Scenario snapshot tests are generated from `scenarios/*.toml` when the tests compile (rstest's
//! `#[files]`): rebuild when a scenario file is added, removed or changed, so `cargo test` sees it.
fn main() {
    println!("cargo:rerun-if-changed=scenarios");
    println!("cargo:rerun-if-changed=build.rs");
}
