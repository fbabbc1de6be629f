//! seam versus native: what a sandboxed check costs next to the same Rust code called
//! directly (the physical limit), for a trivial gate and for `pii` on 4 KB of text.
//!
//! `cargo bench -p seam-runtime --bench check` prints criterion's report for each case and
//! then a table of medians with their ratio to native. Nothing here is asserted: the
//! numbers are for the closing notes and docs/sandbox.md.

use std::path::PathBuf;
use std::time::Duration;

use criterion::Criterion;
use seam_guest::Gate;
use seam_runtime::{Limits, PluginSource, Runtime, RuntimeConfig};
use seam_types::{Handoff, PluginKind};
use serde_json::json;

const HEADPHONE: &str = "Block the noise, keep the music. These $89 noise-cancelling headphones deliver studio-grade silence and 30-hour battery — built for focus, priced for everyone.";

/// About 4 KB of prose with a little personal data in it.
fn pii_text() -> String {
    let paragraph = "Thanks for your order of the noise-cancelling headphones. Our support team \
        will reach out within two working days to arrange the delivery window that suits you. \
        If anything is unclear, reply to this message or write to help@example.com, and quote \
        your order number. ";
    let mut text = String::new();
    while text.len() < 4000 {
        text.push_str(paragraph);
    }
    text.push_str("Call +44 20 7946 0958 or pay with 4111 1111 1111 1111.");
    text
}

struct Case {
    id: &'static str,
    plugin: &'static str,
    settings: serde_json::Value,
    text: String,
    native: fn(&str, &seam_guest::Handoff) -> usize,
}

fn native_max_words(settings: &str, h: &seam_guest::Handoff) -> usize {
    let s = seam_guest::parse_settings(settings).unwrap();
    seam_max_words::MaxWords::check(&s, h)
        .unwrap()
        .findings
        .len()
}

fn native_pii(settings: &str, h: &seam_guest::Handoff) -> usize {
    let s = seam_guest::parse_settings(settings).unwrap();
    seam_pii::Pii::check(&s, h).unwrap().findings.len()
}

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

fn main() {
    let cases = [
        Case {
            id: "max-words_headphone",
            plugin: "max-words",
            settings: json!({"max_words": 40}),
            text: HEADPHONE.to_string(),
            native: native_max_words,
        },
        Case {
            id: "pii_4KB",
            plugin: "pii",
            settings: json!({}),
            text: pii_text(),
            native: native_pii,
        },
    ];
    let runtime = Runtime::new(RuntimeConfig {
        cache: None,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let mut c = Criterion::default()
        .output_directory(&out_dir())
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for case in &cases {
        let handoff = Handoff::text(&case.text);
        let settings = case.settings.to_string();
        let gate = runtime
            .load(
                &seam_runtime::standard(case.plugin).unwrap(),
                PluginKind::Gate,
                &case.settings,
                Limits::default(),
            )
            .expect("loading the plugin");
        let mut warm = gate.warm();
        assert!(gate.check_blocking(&handoff).outcome.verdict().is_some());
        let mut group = c.benchmark_group(case.id);
        // The native path does what the guest does: parse the handoff and settings, check.
        group.bench_function("native", |b| {
            b.iter(|| {
                let h = seam_guest::Handoff::from_json(&handoff.payload, &handoff.context).unwrap();
                (case.native)(&settings, &h)
            })
        });
        group.bench_function("seam-fresh", |b| b.iter(|| gate.check_blocking(&handoff)));
        // The async API awaited from a caller's own runtime: the call hops to the seam
        // runtime's threads and back.
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        group.bench_function("seam-fresh-async", |b| {
            b.iter(|| caller.block_on(gate.check(&handoff)))
        });
        group.bench_function("seam-reuse", |b| b.iter(|| warm.check_blocking(&handoff)));
        group.finish();
    }
    c.final_summary();

    println!("\nmedians (ratio to native), from {}", out_dir().display());
    println!(
        "{:<22} {:>12} {:>22} {:>22} {:>22}",
        "case", "native", "seam fresh instance", "fresh, async API", "seam reused instance"
    );
    for case in &cases {
        let median = |f: &str| -> Option<f64> {
            let path = out_dir()
                .join(case.id)
                .join(f)
                .join("new")
                .join("estimates.json");
            let v: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
            v["median"]["point_estimate"].as_f64()
        };
        let (Some(native), Some(fresh), Some(fresh_async), Some(reuse)) = (
            median("native"),
            median("seam-fresh"),
            median("seam-fresh-async"),
            median("seam-reuse"),
        ) else {
            println!("{:<22} (not measured in this run)", case.id);
            continue;
        };
        let show = |ns: f64| {
            if ns >= 1000.0 {
                format!("{:.2} µs", ns / 1000.0)
            } else {
                format!("{ns:.0} ns")
            }
        };
        println!(
            "{:<22} {:>12} {:>22} {:>22} {:>22}",
            case.id,
            show(native),
            format!("{} ({:.1}×)", show(fresh), fresh / native),
            format!("{} ({:.1}×)", show(fresh_async), fresh_async / native),
            format!("{} ({:.1}×)", show(reuse), reuse / native),
        );
    }

    // How soon after its deadline a call is stopped: timed here, never asserted in tests.
    println!("\nstopping runaway calls (deadline 100 ms; median of 10, min–max)");
    for (name, path, text) in [
        ("infinite loop", seam_test_artifacts::INFINITE_LOOP, "x"),
        ("sleep(Duration::MAX)", seam_test_artifacts::SLEEPER, "max"),
    ] {
        let gate = runtime
            .load(
                &PluginSource::file(std::path::Path::new(path)).unwrap(),
                PluginKind::Gate,
                &json!({}),
                Limits::default(),
            )
            .expect("loading the fixture");
        let mut ms: Vec<f64> = (0..10)
            .map(|_| {
                gate.check_blocking(&Handoff::text(text))
                    .duration
                    .as_secs_f64()
                    * 1e3
            })
            .collect();
        ms.sort_by(f64::total_cmp);
        println!(
            "{name:<22} stopped after {:.1} ms ({:.1}–{:.1})",
            ms[5], ms[0], ms[9]
        );
    }
}
