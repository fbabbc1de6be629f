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
