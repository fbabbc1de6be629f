//! Loading refuses what is not a plugin of the right kind, and settings that break the
//! plugin's schema, with messages that name the plugin and the cause.

use std::borrow::Cow;

use seam_runtime::{Cache, Limits, LoadError, PluginSource, SettingsProblem};
use seam_types::PluginKind;
use serde_json::{json, Value};

use crate::runtime;

fn load(source: &PluginSource, kind: PluginKind, settings: Value) -> LoadError {
    runtime()
        .load(source, kind, &settings, Limits::default())
        .expect_err("load must fail")
}

fn bytes(name: &str, bytes: &'static [u8]) -> PluginSource {
    PluginSource {
        name: name.into(),
        bytes: Cow::Borrowed(bytes),
        named_by_file: false,
    }
}

#[test]
fn bytes_that_are_not_wasm_are_refused() {
    let err = load(
        &bytes("junk", b"#!/bin/sh\necho hi\n"),
        PluginKind::Gate,
        json!({}),
    );
    assert_eq!(
        err.to_string(),
        "plugin `junk` is not WebAssembly (it does not start with the `\\0asm` header); a plugin is a component built for wasm32-wasip2"
    );
}

#[test]
fn a_core_module_is_refused_with_what_to_do() {
    let err = load(
        &bytes("core", b"\0asm\x01\0\0\0"),
        PluginKind::Gate,
        json!({}),
    );
    assert!(matches!(err, LoadError::CoreModule { .. }));
    assert!(
        err.to_string()
            .contains("build it with `cargo build --target wasm32-wasip2`"),
        "{err}"
    );
}

#[test]
fn a_broken_component_is_a_compile_error() {
    let err = load(
        &bytes("broken", b"\0asm\x0d\0\x01\0garbage"),
        PluginKind::Gate,
        json!({}),
    );
    assert!(matches!(err, LoadError::Compile { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("plugin `broken` could not be compiled:"),
        "{err}"
    );
}

#[test]
fn a_router_loaded_as_a_gate_is_refused() {
    let err = load(
        &seam_runtime::standard("verdict-router").unwrap(),
        PluginKind::Gate,
        json!({}),
    );
    assert_eq!(
        err.to_string(),
        "plugin `verdict-router` is a router, not a gate; use it where a router is expected"
    );
}

#[test]
fn a_gate_loaded_as_a_router_is_refused() {
    let err = load(
        &seam_runtime::standard("max-words").unwrap(),
        PluginKind::Router,
        json!({}),
    );
    assert!(matches!(
        err,
        LoadError::WrongKind {
            expected: PluginKind::Router,
            found: PluginKind::Gate,
            ..
        }
    ));
}

#[test]
fn invalid_settings_point_at_the_offending_setting() {
    let err = load(
        &seam_runtime::standard("max-words").unwrap(),
        PluginKind::Gate,
        json!({"max_words": "forty"}),
    );
    let LoadError::InvalidSettings { plugin, problems } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(plugin, "max-words");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].pointer, "/max_words");
    assert!(
        err.to_string()
            .starts_with("settings for plugin `max-words` are invalid:\n  - at `/max_words`: "),
        "{err}"
    );
}

#[test]
fn unknown_and_missing_settings_are_refused() {
    let err = load(
        &seam_runtime::standard("contains").unwrap(),
        PluginKind::Gate,
        json!({"require": ["$89"]}),
    );
    let LoadError::InvalidSettings { problems, .. } = err else {
        panic!()
    };
    let pointers: Vec<&str> = problems
        .iter()
        .map(|p: &SettingsProblem| p.pointer.as_str())
        .collect();
    assert_eq!(pointers, ["", ""], "{problems:?}");
    let all = problems
        .iter()
        .map(|p| p.message.clone())
        .collect::<Vec<_>>()
        .join(" | ");
    assert!(all.contains("\"required\" is a required property"), "{all}");
    assert!(all.contains("require"), "{all}");
}

#[test]
fn a_json_schema_setting_that_is_not_a_schema_is_refused_at_load() {
    let err = load(
        &seam_runtime::standard("json-schema").unwrap(),
        PluginKind::Gate,
        json!({"schema": {"type": 12}}),
    );
    let LoadError::InvalidSettings { problems, .. } = err else {
        panic!("{err:?}")
    };
    assert_eq!(problems[0].pointer, "/schema/type", "{problems:?}");
}

#[test]
fn an_invalid_regex_is_refused_at_load_naming_the_plugin_and_the_pattern() {
    let err = runtime()
        .load(
            &seam_runtime::standard("regex").unwrap(),
            PluginKind::Gate,
            &json!({"must_match": ["("]}),
            Limits::default(),
        )
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with(
            "plugin `regex` refused its settings: prepare() said \"pattern `(` is not a valid regex"
        ),
        "{text}"
    );
    // From the command line: a usage error (exit 2) before any check, naming the gate.
    let (code, out, err) = crate::seam(&[
        "check",
        "--gate",
        "regex",
        "--settings",
        r#"{"must_not_match": ["ok", "[z-a]"]}"#,
        "--payload",
        "/dev/null",
    ]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(
        err.contains("plugin `regex` refused its settings: prepare() said \"pattern `[z-a]` is not a valid regex"),
        "{err}"
    );
}

#[test]
fn a_memory_limit_over_the_ceiling_is_refused() {
    let limits = Limits {
        memory_bytes: 1 << 40,
        ..Limits::default()
    };
    let err = runtime()
        .load(
            &seam_runtime::standard("max-words").unwrap(),
            PluginKind::Gate,
            &json!({}),
            limits,
        )
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "plugin `max-words`: memory limit 1099511627776 bytes is over the runtime's ceiling of 268435456 bytes"
    );
}

#[test]
fn a_fuel_budget_without_metering_is_refused() {
    let limits = Limits {
        fuel: Some(5),
        ..Limits::default()
    };
    let err = runtime()
        .load(
            &seam_runtime::standard("max-words").unwrap(),
            PluginKind::Gate,
            &json!({}),
            limits,
        )
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .ends_with("a fuel budget needs a runtime with fuel metering on (the CLI turns it on by itself: `--fuel N`, or `fuel` in a pipeline file)"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_a_read_error_naming_it() {
    let err = seam_runtime::resolve("no/such/gate.wasm").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("could not read plugin `gate` from no/such/gate.wasm:"),
        "{err}"
    );
    let err = seam_runtime::resolve("max-wordz").unwrap_err();
    assert!(err.to_string().contains("standard plugins: ban-list, brand-voice, contains, json-schema, max-words, pii, regex, verdict-router"), "{err}");
}

#[test]
fn every_standard_plugin_describes_itself() {
    for name in seam_runtime::std_plugins::names() {
        let (info, digest) = runtime()
            .describe(&seam_runtime::standard(name).unwrap(), Limits::default())
            .unwrap();
        assert_eq!(info.name, name);
        assert_eq!(info.version, "0.1.0");
        let expected = if name == "verdict-router" {
            PluginKind::Router
        } else {
            PluginKind::Gate
        };
        assert_eq!(info.kind, expected, "{name}");
        assert!(info.settings_schema.is_object(), "{name}");
        assert_eq!(digest.len(), 64);
    }
}

#[test]
fn the_compile_cache_is_reused_and_survives_damage() {
    let dir = std::env::temp_dir().join(format!("seam-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cache = Cache::new(&dir);
    let engine = wasmtime::Engine::default();
    let bytes = seam_runtime::std_plugins::get("max-words").unwrap();
    let digest = seam_types::sha256_hex(bytes);
    let (_, cached) = cache.load_or_compile(&engine, &digest, bytes).unwrap();
    assert!(!cached, "first load compiles");
    let (_, cached) = cache.load_or_compile(&engine, &digest, bytes).unwrap();
    assert!(cached, "second load comes from the cache");
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::write(entry.unwrap().path(), b"damaged").unwrap();
    }
    let (_, cached) = cache.load_or_compile(&engine, &digest, bytes).unwrap();
    assert!(!cached, "a damaged entry is recompiled");
    let (_, cached) = cache.load_or_compile(&engine, &digest, bytes).unwrap();
    assert!(cached, "and rewritten");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn fuel_metering_without_a_budget_runs_the_gate_unmetered() {
    let runtime = crate::metered_runtime();
    let gate = runtime
        .load(
            &seam_runtime::standard("max-words").unwrap(),
            PluginKind::Gate,
            &json!({"max_words": 3}),
            Limits::default(),
        )
        .unwrap();
    let report = gate.check_blocking(&seam_types::Handoff::text("one two"));
    assert!(report.outcome.passed(), "{:?}", report.outcome);
}

#[test]
fn a_fuel_budget_of_zero_is_refused_at_load() {
    let runtime = crate::metered_runtime();
    let err = runtime
        .load(
            &seam_runtime::standard("max-words").unwrap(),
            PluginKind::Gate,
            &json!({}),
            Limits {
                fuel: Some(0),
                ..Limits::default()
            },
        )
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "plugin `max-words`: a fuel budget of 0 instructions cannot run anything; give at least 1, or no budget"
    );
}

#[test]
fn a_deadline_outside_its_range_is_refused_at_load() {
    for deadline_ms in [0, seam_runtime::limits::MAX_DEADLINE_MS + 1, u64::MAX] {
        let err = runtime()
            .load(
                &seam_runtime::standard("max-words").unwrap(),
                PluginKind::Gate,
                &json!({}),
                Limits {
                    deadline_ms,
                    ..Limits::default()
                },
            )
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            format!("plugin `max-words`: deadline {deadline_ms} ms is outside 1..=600000 ms")
        );
    }
}

/// The top-level sections of a component: where each begins (its id byte) and ends.
fn outer_sections(b: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut sections = Vec::new();
    let mut i = 8;
    while i < b.len() {
        let start = i;
        i += 1;
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let byte = b[i];
            i += 1;
            size |= usize::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
        }
        i += size;
        sections.push(start..i);
    }
    assert_eq!(i, b.len(), "the sections end where the file does");
    sections
}

/// The section at `range` of `b` re-encoded to claim one byte more than it holds.
fn overstated(b: &[u8], range: &std::ops::Range<usize>) -> Vec<u8> {
    let mut i = range.start + 1;
    while b[i] & 0x80 != 0 {
        i += 1;
    }
    let contents = &b[i + 1..range.end];
    let mut out = b[..range.start].to_vec();
    out.push(b[range.start]);
    let mut size = contents.len() + 1;
    loop {
        let byte = (size & 0x7f) as u8;
        size >>= 7;
        if size == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(contents);
    out.extend_from_slice(&b[range.end..]);
    out
}

/// Plugin files damaged the ways files get damaged — a section missing, the file cut
/// inside a section, a section claiming a byte more than it holds — at every one of a
/// gate's and a router's top-level sections: each loads (a dropped custom section
/// leaves a valid plugin) or is refused with an error naming the plugin. None panics.
#[test]
fn a_plugin_with_any_section_dropped_cut_or_overstated_is_refused_naming_it() {
    for name in ["max-words", "verdict-router"] {
        let whole = seam_runtime::standard(name)
            .expect("a standard plugin")
            .bytes
            .into_owned();
        let sections = outer_sections(&whole);
        assert!(sections.len() > 5, "{name}: {} sections", sections.len());
        let mut refused = 0;
        for (i, range) in sections.iter().enumerate() {
            let mut dropped = whole.clone();
            dropped.drain(range.clone());
            let cut = whole[..(range.start + range.end) / 2].to_vec();
            let damaged = [
                ("dropped", dropped),
                ("cut", cut),
                ("overstated", overstated(&whole, range)),
            ];
            for (how, bytes) in damaged {
                let source = PluginSource {
                    name: "damaged".into(),
                    bytes: Cow::Owned(bytes),
                    named_by_file: false,
                };
                for kind in [PluginKind::Gate, PluginKind::Router] {
                    let loaded = std::panic::catch_unwind(|| {
                        runtime().load(&source, kind, &json!({}), Limits::default())
                    });
                    match loaded {
                        Err(_) => {
                            panic!("{name}, section {i} {how}: loading it as a {kind:?} panicked")
                        }
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => {
                            refused += 1;
                            assert!(
                                e.to_string().starts_with("plugin `damaged`"),
                                "{name}, section {i} {how}, as a {kind:?}: {e}"
                            );
                        }
                    }
                }
            }
        }
        // Cut and overstated files are refused as either kind; so is every plugin
        // loaded as the other kind.
        assert!(refused >= sections.len() * 4, "{name}: {refused} refused");
    }
}
