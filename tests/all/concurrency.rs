//! Many checks at once: hostile plugins next to good ones never spoil a good verdict.

use seam_runtime::{Limits, Outcome};
use seam_test_artifacts as fixtures;
use seam_types::Handoff;
use serde_json::json;

use crate::{fixture, gate};

#[test]
fn hundred_hostile_checks_beside_good_ones_leave_every_good_verdict_right() {
    let _alone = crate::exclusive();
    // A current-thread runtime without timers: the async API must be safe on any.
    let rt = tokio::runtime::Builder::new_current_thread()
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
        tasks.push(tokio::spawn(async move {
            (None, bad.check(&Handoff::text("x")).await)
        }));
        // i + 1 words: passes up to 5, fails above with an exact message.
        let words = i % 10 + 1;
        let good = good.clone();
        let text = vec!["word"; words].join(" ");
        tasks.push(tokio::spawn(async move {
            (Some(words), good.check(&Handoff::text(&text)).await)
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

/// Load does not change verdicts: with every core saturated by busy threads, a real
/// gate with a tight deadline never times out, because its deadline counts the call's
/// own time, not the time it waited for a CPU.
#[test]
fn a_saturated_machine_does_not_make_a_real_gate_time_out() {
    let _alone = crate::exclusive();
    let schema = json!({
        "type": "object",
        "required": ["title", "price", "tags"],
        "properties": {
            "title": {"type": "string", "minLength": 3, "maxLength": 80},
            "price": {"type": "number", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10}
        }
    });
    let gate = crate::runtime()
        .load(
            &seam_runtime::standard("json-schema").unwrap(),
            seam_types::PluginKind::Gate,
            &json!({ "schema": schema }),
            Limits {
                deadline_ms: 20,
                ..Limits::default()
            },
        )
        .unwrap();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..cores * 4)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            })
        })
        .collect();
    let handoff = Handoff::new(r#"{"title": "Headphones", "price": 89, "tags": ["audio"]}"#);
    let results: Vec<_> = std::thread::scope(|s| {
        let checkers: Vec<_> = (0..cores)
            .map(|_| {
                s.spawn(|| {
                    (0..150)
                        .map(|_| gate.check_blocking(&handoff).outcome)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        checkers
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect()
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for b in busy {
        b.join().unwrap();
    }
    let failed: Vec<_> = results.iter().filter(|o| !o.passed()).collect();
    assert_eq!(results.len(), cores * 150);
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        results.len(),
        failed.first()
    );
}
