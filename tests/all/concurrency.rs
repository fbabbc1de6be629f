//! Many checks at once: hostile plugins next to good ones never spoil a good verdict.

use seam_host::runtime::{Limits, Outcome};
use seam_host::types::Handoff;
use seam_test_artifacts as fixtures;
use serde_json::json;

use crate::{fixture, gate};

#[test]
fn hundred_hostile_checks_beside_good_ones_leave_every_good_verdict_right() {
    let _alone = crate::exclusive();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let hostile = [
        fixture(fixtures::INFINITE_LOOP, json!({}), Limits::default()),
        fixture(
            fixtures::MEMORY_HOG,
            json!({}),
            Limits {
                memory_bytes: 16 << 20,
                ..Limits::default()
            },
        ),
        fixture(fixtures::PANICS, json!({}), Limits::default()),
        fixture(fixtures::DEEP_RECURSION, json!({}), Limits::default()),
    ];
    let good = gate("max-words", json!({"max_words": 5}));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let bad = hostile[i % hostile.len()].clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            (None, bad.check(&Handoff::text("x")))
        }));
        // i + 1 words: passes up to 5, fails above with an exact message.
        let words = i % 10 + 1;
        let good = good.clone();
        let text = vec!["word"; words].join(" ");
        tasks.push(tokio::task::spawn_blocking(move || {
            (Some(words), good.check(&Handoff::text(&text)))
        }));
    }
    let (mut good_checked, mut hostile_stopped) = (0, 0);
    for task in tasks {
        let (words, report) = task.await.unwrap();
        match words {
            Some(words) => {
                let Outcome::Verdict(v) = &report.outcome else {
                    panic!("good gate errored: {:?}", report.outcome)
                };
                assert_eq!(v.passed, words <= 5, "{words} words: {v:?}");
                if words > 5 {
                    assert_eq!(
                        v.findings[0].message,
                        format!("{words} words, at most 5 allowed")
                    );
                }
                good_checked += 1;
            }
            None => {
                assert!(
                    report.outcome.error().is_some(),
                    "hostile plugin answered: {:?}",
                    report.outcome
                );
                hostile_stopped += 1;
            }
        }
    }
    assert_eq!((good_checked, hostile_stopped), (100, 100));
}
