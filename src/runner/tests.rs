//! The run loop's own guarantees: one outcome per scenario whatever happens, and a stop that
//! awaits every run it cancels.

use std::sync::atomic::{AtomicBool, Ordering};

use super::*;
use crate::test_support;

fn named(name: &str) -> Scenario {
    let mut scenario = test_support::scenario(|s| s);
    scenario.name = name.to_owned();
    scenario
}

#[tokio::test]
async fn a_scenario_whose_run_panics_is_a_failed_harness_error_and_the_others_still_count() {
    let runner = Runner::new("unused");
    let scenarios = vec![named("crashes"), named("passes")];

    let outcomes = runner
        .run_each(scenarios, 2, std::future::pending(), |_, scenario| async move {
            assert!(scenario.name != "crashes", "attempt to add with overflow");
            ScenarioIdentity::of(&scenario).crashed("not really: a stand-in outcome")
        })
        .await
        .expect("no stop was asked for");

    let names: Vec<&str> = outcomes.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["crashes", "passes"], "one outcome per scenario, in order");
    let crashed = &outcomes[0];
    assert!(!crashed.passed);
    assert_eq!(crashed.findings[0].id, crate::catalogue::Diagnosis::HarnessError);
    assert!(
        crashed.failures[0].to_string().contains("panicked: attempt to add with overflow"),
        "{:?}",
        crashed.failures
    );
}

#[tokio::test]
async fn a_stop_cancels_every_running_scenario_and_waits_until_each_is_dropped() {
    struct Guard(Arc<AtomicBool>);
    impl Drop for Guard {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = dropped.clone();

    let outcomes = Runner::new("unused")
        .run_each(vec![named("forever")], 1, async {}, move |_, _| {
            let guard = Guard(flag.clone());
            async move {
                let _guard = guard;
                std::future::pending::<Outcome>().await
            }
        })
        .await;

    assert!(outcomes.is_none(), "a stopped run has no verdicts");
    assert!(dropped.load(Ordering::SeqCst), "the running scenario was dropped before returning");
}
