//! A user's crate: its tests in `tests/` drive session-pool-harness through its public API only.
