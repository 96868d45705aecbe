//! Integration tests: one binary, one module per concern (Zero To Production layout).

mod bounds;
mod cli;
mod dataflow;
mod docs;
mod evidence;
mod explain;
mod facade;
mod helpers;
mod machine;
mod noisy;
mod pasted;
mod python;
mod rbac;
mod reliability;
mod reports;
mod scenario_errors;
mod scenarios;
mod schema;
mod secrets;
mod signals;
mod snapshots_hygiene;
