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
