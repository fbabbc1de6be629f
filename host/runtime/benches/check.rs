//! seam versus native: what a sandboxed check costs next to native Rust in the same run.
//!
//! `cargo bench -p seam-runtime --bench check` prints criterion's report for each case,
//! then a table of medians with their ratio to the native limit, the throughput of
//! four-gate handoffs on every core, and how soon runaway calls are stopped. Nothing
//! here is asserted: the numbers are for the closing notes and docs/sandbox.md.
//!
//! Two native baselines are measured:
//! - **native limit**: the same checks written as plain Rust over the text, with the
//!   settings already in hand (what no sandbox can beat);
//! - **plugin code, native**: the plugins' own code called directly after `prepare`,
//!   parsing the handoff's JSON as the component does.
//!
//! `SEAM_BENCH_QUICK=1` shortens every measurement (for a smoke run).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use seam_guest::{Gate, Prepare, Router};
use seam_runtime::{Limits, Plugin, PluginSource, Runtime, RuntimeConfig};
use seam_types::{GateVerdict, Handoff, PluginKind};
use serde_json::{json, Value};

const HEADPHONE: &str = "Block the noise, keep the music. These $89 noise-cancelling headphones deliver studio-grade silence and 30-hour battery — built for focus, priced for everyone.";

/// About 4 KB of prose: `paragraph` repeated, then `tail`.
fn text_4k(paragraph: &str, tail: &str) -> String {
    let mut text = String::new();
    while text.len() < 4000 {
        text.push_str(paragraph);
    }
    text.push_str(tail);
    text
}

fn pii_text() -> String {
    text_4k(
        "Thanks for your order of the noise-cancelling headphones. Our support team \
         will reach out within two working days to arrange the delivery window that suits you. \
         If anything is unclear, reply to this message or write to help@example.com, and quote \
         your order number. ",
        "Call +44 20 7946 0958 or pay with 4111 1111 1111 1111.",
    )
}

fn ad_text_4k() -> String {
    text_4k(
        "Block the noise, keep the music: studio-grade silence for the commute, the office \
         and the long flight home, with a battery that outlasts the week. ",
        " Now $89.",
    )
}

/// The four standard gates of the issue's handoff.
fn four_gates() -> [(&'static str, Value); 4] {
    [
        ("max-words", json!({"max_words": 40})),
        ("contains", json!({"required": ["$89"]})),
        ("regex", json!({"must_match": [r"\$\d+"]})),
        (
            "ban-list",
            json!({"words": ["cheap", "guaranteed", "miracle"]}),
        ),
    ]
}

/// A 20-property schema and a ~1 KB object that satisfies it.
fn schema_case() -> (Value, Value) {
    let mut properties = serde_json::Map::new();
    let mut object = serde_json::Map::new();
    for i in 0..20 {
        let (schema, value) = match i % 4 {
            0 => (
                json!({"type": "string", "minLength": 1, "maxLength": 80}),
                json!(format!("value number {i} of the product sheet, in words")),
            ),
            1 => (
                json!({"type": "number", "minimum": 0, "maximum": 10000}),
                json!(i * 37),
            ),
            2 => (
                json!({"type": "array", "items": {"type": "string"}, "maxItems": 8}),
                json!(["alpha", "beta", "gamma", "delta"]),
            ),
            _ => (
                json!({"type": "string", "enum": ["draft", "review", "final"]}),
                json!("review"),
            ),
        };
        properties.insert(format!("field_{i:02}"), schema);
        object.insert(format!("field_{i:02}"), value);
    }
    let required: Vec<String> = properties.keys().cloned().collect();
    let schema = json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false
    });
    (schema, Value::Object(object))
}

/// A native baseline: the same work without the sandbox.
type Native = Box<dyn Fn(&Handoff) -> usize>;

fn out_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("criterion")
}

fn load_any(runtime: &Runtime, name: &str, settings: &Value) -> Plugin {
    let source = seam_runtime::standard(name)
        .map(Ok)
        .unwrap_or_else(|| PluginSource::file(std::path::Path::new(name)))
        .expect("the plugin");
    runtime
        .load(&source, PluginKind::Gate, settings, Limits::default())
        .expect("loading the plugin")
}

fn load(runtime: &Runtime, name: &str, settings: &Value) -> Plugin {
    let plugin = load_any(runtime, name, settings);
    assert!(
        matches!(
            plugin.preparation(),
            seam_runtime::Preparation::Snapshot { .. }
        ),
        "{name}: {:?}",
        plugin.preparation()
    );
    plugin
}

/// The plugins' code, prepared natively, for the four-gate baseline.
struct NativeFour {
    max_words: <seam_max_words::MaxWords as Gate>::Prepared,
    contains: <seam_contains::Contains as Gate>::Prepared,
    regex: <seam_regex::RegexGate as Gate>::Prepared,
    ban_list: <seam_ban_list::BanList as Gate>::Prepared,
}

fn prepared<G: Gate>(settings: &Value) -> G::Prepared {
    let s: G::Settings = seam_guest::parse_settings(&settings.to_string()).unwrap();
    G::Prepared::prepare(s).unwrap()
}

impl NativeFour {
    fn new() -> Self {
        let g = four_gates();
        NativeFour {
            max_words: prepared::<seam_max_words::MaxWords>(&g[0].1),
            contains: prepared::<seam_contains::Contains>(&g[1].1),
            regex: prepared::<seam_regex::RegexGate>(&g[2].1),
            ban_list: prepared::<seam_ban_list::BanList>(&g[3].1),
        }
    }

    /// What the four components do: parse the handoff (once each), check.
    fn check(&self, h: &Handoff) -> usize {
        let parse = || seam_guest::Handoff::from_json(&h.payload, &h.context).unwrap();
        seam_max_words::MaxWords::check(&self.max_words, &parse())
            .unwrap()
            .findings
            .len()
            + seam_contains::Contains::check(&self.contains, &parse())
                .unwrap()
                .findings
                .len()
            + seam_regex::RegexGate::check(&self.regex, &parse())
                .unwrap()
                .findings
                .len()
            + seam_ban_list::BanList::check(&self.ban_list, &parse())
                .unwrap()
                .findings
                .len()
    }
}

/// The four checks as plain Rust over the text: the limit.
struct LimitFour {
    price: regex::Regex,
    banned: Vec<&'static str>,
}

impl LimitFour {
    fn new() -> Self {
        LimitFour {
            price: regex::Regex::new(r"\$\d+").unwrap(),
            banned: vec!["cheap", "guaranteed", "miracle"],
        }
    }

    fn check(&self, text: &str) -> bool {
        let short = text.split_whitespace().count() <= 40;
        let has_price = text.contains("$89");
        let matches = self.price.is_match(text);
        let lower = text.to_lowercase();
        let clean = !self.banned.iter().any(|w| lower.contains(w));
        short & has_price & matches & clean
    }
}

fn main() {
    // Criterion keeps every case's last estimates on disk; the tables below show only
    // the ones written by this run (a filtered run, or one without the guest gates,
    // must not print older figures as if measured now).
    let started = std::time::SystemTime::now();
    let quick = std::env::var_os("SEAM_BENCH_QUICK").is_some();
    let runtime = Runtime::new(RuntimeConfig {
        cache: None,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    // The same gates with a new instance per check (recycling off), for comparison.
    let unrecycled = Runtime::new(RuntimeConfig {
        cache: None,
        recycle_instances: false,
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let mut c = Criterion::default()
        .output_directory(&out_dir())
        .warm_up_time(Duration::from_millis(if quick { 200 } else { 1000 }))
        .measurement_time(Duration::from_millis(if quick { 500 } else { 3000 }))
        .configure_from_args();

    // One gate: trivial (answers a fixed verdict), pii on 4 KB, json-schema on 1 KB.
    let trivial_settings = json!({"verdict": {"passed": true, "findings": []}});
    let (schema, object) = schema_case();
    let singles: Vec<(&str, Plugin, Handoff, Native)> = vec![
        (
            "trivial",
            load(
                &runtime,
                seam_test_artifacts::SAYS_ANYTHING,
                &trivial_settings,
            ),
            Handoff::text("x"),
            Box::new(|h: &Handoff| {
                let h = seam_guest::Handoff::from_json(&h.payload, &h.context).unwrap();
                usize::from(h.payload().is_string())
            }),
        ),
        (
            "pii_4KB",
            load(&runtime, "pii", &json!({})),
            Handoff::text(&pii_text()),
            {
                let p = prepared::<seam_pii::Pii>(&json!({}));
                Box::new(move |h: &Handoff| {
                    let h = seam_guest::Handoff::from_json(&h.payload, &h.context).unwrap();
                    seam_pii::Pii::check(&p, &h).unwrap().findings.len()
                })
            },
        ),
        (
            "json-schema_1KB",
            load(&runtime, "json-schema", &json!({"schema": schema})),
            Handoff::new(object.to_string()),
            {
                let p = prepared::<seam_json_schema::JsonSchemaGate>(&json!({"schema": schema}));
                Box::new(move |h: &Handoff| {
                    let h = seam_guest::Handoff::from_json(&h.payload, &h.context).unwrap();
                    seam_json_schema::JsonSchemaGate::check(&p, &h)
                        .unwrap()
                        .findings
                        .len()
                })
            },
        ),
    ];
    for (id, gate, handoff, native) in &singles {
        assert!(gate.check_blocking(handoff).outcome.verdict().is_some());
        assert_eq!(gate.recycling(), Ok(()), "{id}");
        let mut warm = gate.warm();
        let mut group = c.benchmark_group(*id);
        group.bench_function("native", |b| b.iter(|| native(handoff)));
        group.bench_function("seam-fresh", |b| b.iter(|| gate.check_blocking(handoff)));
        if *id == "trivial" {
            let plain = load(
                &unrecycled,
                seam_test_artifacts::SAYS_ANYTHING,
                &trivial_settings,
            );
            group.bench_function("seam-new-instance", |b| {
                b.iter(|| plain.check_blocking(handoff))
            });
        }
        group.bench_function("seam-reuse", |b| b.iter(|| warm.check_blocking(handoff)));
        group.finish();
    }

    // Four gates on one handoff.
    let gates: Vec<Plugin> = four_gates()
        .iter()
        .map(|(name, settings)| load(&runtime, name, settings))
        .collect();
    let native_four = NativeFour::new();
    let limit_four = LimitFour::new();
    let fours = [
        ("four-gates_headphone", HEADPHONE.to_string()),
        ("four-gates_4KB", ad_text_4k()),
    ];
    for (id, text) in &fours {
        let handoff = Handoff::text(text);
        for report in seam_runtime::check_all_blocking(&gates, &handoff) {
            assert!(report.outcome.verdict().is_some(), "{report:?}");
        }
        let mut warm: Vec<_> = gates.iter().map(Plugin::warm).collect();
        let plain: Vec<Plugin> = four_gates()
            .iter()
            .map(|(name, settings)| load(&unrecycled, name, settings))
            .collect();
        let mut group = c.benchmark_group(*id);
        group.bench_function("native", |b| b.iter(|| limit_four.check(text)));
        group.bench_function("plugin-code-native", |b| {
            b.iter(|| native_four.check(&handoff))
        });
        group.bench_function("seam-fresh", |b| {
            b.iter(|| {
                gates
                    .iter()
                    .map(|g| g.check_blocking(&handoff))
                    .collect::<Vec<_>>()
            })
        });
        group.bench_function("seam-new-instance", |b| {
            b.iter(|| {
                plain
                    .iter()
                    .map(|g| g.check_blocking(&handoff))
                    .collect::<Vec<_>>()
            })
        });
        group.bench_function("seam-fresh-check_all", |b| {
            b.iter(|| seam_runtime::check_all_blocking(&gates, &handoff))
        });
        let caller = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        group.bench_function("seam-fresh-check_all-async", |b| {
            b.iter(|| caller.block_on(seam_runtime::check_all(&gates, &handoff)))
        });
        group.bench_function("seam-reuse", |b| {
            b.iter(|| {
                warm.iter_mut()
                    .map(|g| g.check_blocking(&handoff))
                    .collect::<Vec<_>>()
            })
        });
        group.finish();
    }

    // A router: verdict-router's rules over the four gates' verdicts on the sentence.
    const ROUTER: &str = "router_four-verdicts";
    {
        let settings = json!({
            "rules": [
                {"gate": "regex", "outcome": "failed", "route": "retry"},
                {"finding": "ban.", "route": "human"}
            ],
            "otherwise": "next"
        });
        let handoff = Handoff::text(HEADPHONE);
        let verdicts: Vec<GateVerdict> = gates
            .iter()
            .map(|g| GateVerdict {
                gate: g.info().name.clone(),
                verdict: g
                    .check_blocking(&handoff)
                    .outcome
                    .verdict()
                    .cloned()
                    .expect("a verdict"),
            })
            .collect();
        let load_router = |runtime: &Runtime| {
            runtime
                .load(
                    &seam_runtime::standard("verdict-router").expect("the plugin"),
                    PluginKind::Router,
                    &settings,
                    Limits::default(),
                )
                .expect("loading the router")
        };
        let router = load_router(&runtime);
        assert_eq!(router.recycling(), Ok(()));
        let route = router
            .route_blocking(&handoff, &verdicts)
            .route
            .expect("a route");
        assert_eq!(route.target, "next");
        let plain = load_router(&unrecycled);
        let native_router = {
            let p: <seam_verdict_router::VerdictRouter as Router>::Prepared = {
                let s = seam_guest::parse_settings(&settings.to_string()).unwrap();
                Prepare::prepare(s).unwrap()
            };
            let h = seam_guest::Handoff::from_json(&handoff.payload, &handoff.context).unwrap();
            let v: Vec<seam_guest::GateVerdict> =
                serde_json::from_value(serde_json::to_value(&verdicts).unwrap()).unwrap();
            move || {
                seam_verdict_router::VerdictRouter::route(&p, &h, &v)
                    .unwrap()
                    .target
                    .len()
            }
        };
        let mut group = c.benchmark_group(ROUTER);
        group.bench_function("native", |b| b.iter(&native_router));
        group.bench_function("seam-fresh", |b| {
            b.iter(|| router.route_blocking(&handoff, &verdicts))
        });
        group.bench_function("seam-new-instance", |b| {
            b.iter(|| plain.route_blocking(&handoff, &verdicts))
        });
        group.finish();
    }

    // Gates by language: the Rust and Python gates `seam new` makes (max_chars 10 on a
    // 20-character text), built by bench/guests.sh, which passes their paths.
    let guests: Vec<(&str, String)> = [
        ("rust", "SEAM_BENCH_RUST_GATE"),
        ("python", "SEAM_BENCH_PYTHON_GATE"),
        ("typescript", "SEAM_BENCH_TYPESCRIPT_GATE"),
    ]
    .iter()
    .filter_map(|(lang, var)| std::env::var(var).ok().map(|p| (*lang, p)))
    .collect();
    const GUESTS: &str = "template_max-chars";
    if !guests.is_empty() {
        let settings = json!({"max_chars": 10});
        let text = "far too long for ten";
        let handoff = Handoff::text(text);
        let mut group = c.benchmark_group(GUESTS);
        group.bench_function("native", |b| {
            b.iter(|| std::hint::black_box(text).chars().count() > 10)
        });
        for (lang, path) in &guests {
            // Not every guest can be snapshotted (componentize-js nests modules in
            // components): such a gate prepares before every check, and says so.
            let gate = load_any(&runtime, path, &settings);
            println!("{lang}: preparation {}", gate.preparation());
            let v = gate.check_blocking(&handoff);
            assert_eq!(
                v.outcome.verdict().map(|v| v.passed),
                Some(false),
                "{lang}: {v:?}"
            );
            let mut warm = gate.warm();
            group.bench_function(format!("{lang}-fresh"), |b| {
                b.iter(|| gate.check_blocking(&handoff))
            });
            group.bench_function(format!("{lang}-reuse"), |b| {
                b.iter(|| warm.check_blocking(&handoff))
            });
        }
        group.finish();
    }
    c.final_summary();

    let median = |group: &str, f: &str| -> Option<f64> {
        let path = out_dir()
            .join(group)
            .join(f)
            .join("new")
            .join("estimates.json");
        if std::fs::metadata(&path).ok()?.modified().ok()? < started {
            return None;
        }
        let v: Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
        v["median"]["point_estimate"].as_f64()
    };
    let show = |ns: f64| {
        if ns >= 1000.0 {
            format!("{:.2} µs", ns / 1000.0)
        } else {
            format!("{ns:.0} ns")
        }
    };
    println!("\nmedians (ratio to native), from {}", out_dir().display());
    let columns = [
        "native",
        "plugin-code-native",
        "seam-fresh",
        "seam-new-instance",
        "seam-fresh-check_all",
        "seam-fresh-check_all-async",
        "seam-reuse",
    ];
    println!("{:<22} {}", "case", columns.join(" | "));
    let groups: Vec<&str> = singles
        .iter()
        .map(|s| s.0)
        .chain(fours.iter().map(|f| f.0))
        .chain([ROUTER])
        .collect();
    for group in groups {
        let Some(native) = median(group, "native") else {
            println!("{group:<22} (not measured in this run)");
            continue;
        };
        let cells: Vec<String> = columns
            .iter()
            .map(|f| match median(group, f) {
                Some(ns) if *f == "native" => show(ns),
                Some(ns) => format!("{} ({:.1}×)", show(ns), ns / native),
                None => "–".into(),
            })
            .collect();
        println!("{group:<22} {}", cells.join(" | "));
    }

    if let Some(native) = median(GUESTS, "native") {
        let columns = [
            "rust-fresh",
            "rust-reuse",
            "python-fresh",
            "python-reuse",
            "typescript-fresh",
            "typescript-reuse",
        ];
        println!(
            "\n{:<22} native | {}",
            "gates by language",
            columns.join(" | ")
        );
        let cells: Vec<String> = columns
            .iter()
            .map(|f| match median(GUESTS, f) {
                Some(ns) => format!("{} ({:.0}×)", show(ns), ns / native),
                None => "–".into(),
            })
            .collect();
        println!("{GUESTS:<22} {} | {}", show(native), cells.join(" | "));
    }

    // Throughput: four-gate handoffs, one caller thread per core, fresh instances.
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let handoff = Handoff::text(HEADPHONE);
    let run_for = Duration::from_secs(if quick { 1 } else { 5 });
    for (mode, concurrent) in [("sequential per caller", false), ("check_all", true)] {
        let started = Instant::now();
        let total: u64 = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut n = 0u64;
                        while started.elapsed() < run_for {
                            if concurrent {
                                seam_runtime::check_all_blocking(&gates, &handoff);
                            } else {
                                for g in &gates {
                                    g.check_blocking(&handoff);
                                }
                            }
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        let secs = started.elapsed().as_secs_f64();
        println!(
            "\nthroughput, four gates per handoff, {threads} caller threads, {mode}: {:.0} handoffs/s ({total} in {secs:.1} s)",
            total as f64 / secs
        );
    }
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < run_for {
        std::hint::black_box(limit_four.check(HEADPHONE));
        n += 1;
    }
    println!(
        "native limit, one thread: {:.0} handoffs/s",
        n as f64 / started.elapsed().as_secs_f64()
    );

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
