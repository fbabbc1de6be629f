//! seam's integration tests: one binary, the real host runtime, the real standard
//! plugins and the hostile fixtures built from `tests/fixtures`.

mod bundles;
mod cli;
mod concurrency;
mod hardening;
mod hostile;
mod http;
mod ledger;
mod loading;
mod pipeline;
mod postgres;
mod replicas;
mod report;
mod server;
mod std_plugins;

use std::sync::OnceLock;

use seam_runtime::{Cache, Limits, Plugin, PluginSource, Runtime, RuntimeConfig};
use seam_types::PluginKind;
use serde_json::Value;

/// A runtime shared by the tests, with its compile cache in the system temp dir.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(RuntimeConfig {
            cache: Some(Cache::new(test_cache_dir())),
            ..RuntimeConfig::default()
        })
        .expect("starting the runtime")
    })
}

/// A small runtime of its own with fuel metering on and no compile cache.
pub fn metered_runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        fuel_metering: true,
        cache: None,
        max_instances: 4,
        ..RuntimeConfig::default()
    })
    .expect("starting a metered runtime")
}

pub fn test_cache_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("seam-test-cache")
}

/// A standard gate with settings and default limits.
pub fn gate(name: &str, settings: Value) -> Plugin {
    let source =
        seam_runtime::standard(name).unwrap_or_else(|| panic!("no standard plugin {name}"));
    runtime()
        .load(&source, PluginKind::Gate, &settings, Limits::default())
        .unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// A fixture gate (a path from `seam_test_artifacts`) with settings and limits.
pub fn fixture(path: &str, settings: Value, limits: Limits) -> Plugin {
    fixture_in(runtime(), path, settings, limits)
}

/// [`fixture`] in a runtime of the test's own.
pub fn fixture_in(runtime: &Runtime, path: &str, settings: Value, limits: Limits) -> Plugin {
    let source = PluginSource::file(std::path::Path::new(path)).expect("reading the fixture");
    runtime
        .load(&source, PluginKind::Gate, &settings, limits)
        .unwrap_or_else(|e| panic!("loading {path}: {e}"))
}

/// Serialises the tests that measure time against the ones that load every core, so a
/// deadline is measured on a machine that is not saturated by the test run itself.
pub fn exclusive() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the `seam` command line in-process; returns (exit code, stdout, stderr).
pub fn seam(args: &[&str]) -> (u8, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = std::iter::once("seam")
        .chain(args.iter().copied())
        .map(Into::into);
    let code = seam_cli::main(argv, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

/// Path of a file under the repository root.
pub fn repo(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}
