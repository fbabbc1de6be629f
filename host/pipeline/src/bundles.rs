//! Bundles through the real host: running a bundle's test cases, and describing its
//! components for `seam bundle build`. `seam-bundle` reads, verifies and resolves
//! bundles without wasmtime; what needs the runtime lives here.

use seam_bundle::{Bundle, BundleError};
use seam_runtime::{Limits, Runtime};
use seam_types::{PluginInfo, PluginKind, PluginSource};
use serde::Serialize;

/// Builds a bundle from a source folder, describing each component with `runtime`
/// under the default limits (see [`Bundle::build`]).
/// `compiling` hears each plugin's name before its component is compiled (the slow part),
/// for a progress line.
pub fn build(
    dir: &std::path::Path,
    runtime: &Runtime,
    compiling: impl Fn(&str),
) -> Result<Bundle, BundleError> {
    Bundle::build(
        dir,
        |source: &PluginSource| -> Result<(PluginInfo, String), String> {
            compiling(&source.name);
            runtime
                .describe(source, Limits::default())
                .map_err(|e| e.to_string())
        },
    )
}

/// The result of one bundled test case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub plugin: String,
    pub name: String,
    pub passed: bool,
    /// What differed from the expectation (empty when passed).
    pub problems: Vec<String>,
}

/// Runs every case of `bundle` through the real host (each plugin loaded with the
/// case's settings, the default limits, a fresh sandbox per check).
pub fn run_cases(bundle: &Bundle, runtime: &Runtime) -> Result<Vec<CaseResult>, BundleError> {
    bundle.verify_files()?;
    let mut results = Vec::new();
    for case in &bundle.manifest.cases {
        let (entry, source) = bundle.plugin(&case.plugin)?;
        let mut problems = Vec::new();
        let handoff = {
            let mut h = seam_types::Handoff::new(case.payload.to_string());
            if let Some(c) = &case.context {
                h.context = c.to_string();
            }
            h
        };
        match runtime.load(&source, entry.kind, &case.settings, Limits::default()) {
            Err(e) => {
                if case.expect.outcome != "error" {
                    problems.push(format!("did not load: {e}"));
                }
            }
            Ok(plugin) if entry.kind == PluginKind::Router => {
                match plugin.route_blocking(&handoff, &case.verdicts).route {
                    Ok(route) if route.target == case.expect.outcome => {}
                    Ok(route) => problems.push(format!(
                        "routed to `{}` ({}), expected `{}`",
                        route.target, route.reason, case.expect.outcome
                    )),
                    Err(cause) if case.expect.outcome == "error" => drop(cause),
                    Err(cause) => problems.push(format!("could not answer: {cause}")),
                }
            }
            Ok(plugin) => {
                let report = plugin.check_blocking(&handoff);
                match &report.outcome {
                    seam_runtime::Outcome::Error(cause) => {
                        if case.expect.outcome != "error" {
                            problems.push(format!("could not answer: {cause}"));
                        }
                    }
                    seam_runtime::Outcome::Verdict(v) => {
                        let outcome = if v.passed { "passed" } else { "failed" };
                        if outcome != case.expect.outcome {
                            problems.push(format!("{outcome}, expected {}", case.expect.outcome));
                        }
                        let codes: Vec<String> =
                            v.findings.iter().map(|f| f.code.clone()).collect();
                        if let Some(expected) = &case.expect.codes {
                            if &codes != expected {
                                problems.push(format!(
                                    "finding codes {codes:?}, expected {expected:?}"
                                ));
                            }
                        }
                        if let Some(expected) = &case.expect.fix {
                            let fix: Option<serde_json::Value> =
                                v.fix.as_deref().and_then(|f| serde_json::from_str(f).ok());
                            if fix.as_ref() != Some(expected) {
                                problems.push(format!(
                                    "fix {}, expected {expected}",
                                    fix.map_or("none".to_string(), |f| f.to_string())
                                ));
                            }
                        }
                    }
                }
            }
        }
        results.push(CaseResult {
            plugin: case.plugin.clone(),
            name: case.name.clone(),
            passed: problems.is_empty(),
            problems,
        });
    }
    Ok(results)
}
