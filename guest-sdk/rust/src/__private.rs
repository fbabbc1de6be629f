//! Glue between the SDK's types and the generated `wit-bindgen` bindings. Not public API:
//! the export macros are the only users.

pub use wit_bindgen;

/// Bindings of the `gate` world. Its export macro is `__export_gate_world!`.
#[allow(clippy::too_many_arguments)]
pub mod gate {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "gate",
        pub_export_macro: true,
        export_macro_name: "__export_gate_world",
        default_bindings_module: "seam_guest::__private::gate",
        runtime_path: "seam_guest::__private::wit_bindgen::rt",
    });
    pub use self::seam::plugin::types::{Finding, GateVerdict, PluginKind, Route, Severity, Span};
}

/// Bindings of the `router` world; the shared interfaces come from [`gate`].
#[allow(clippy::too_many_arguments)]
pub mod router {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "router",
        pub_export_macro: true,
        export_macro_name: "__export_router_world",
        default_bindings_module: "seam_guest::__private::router",
        runtime_path: "seam_guest::__private::wit_bindgen::rt",
        with: {
            "seam:plugin/types@0.2.0": super::gate::seam::plugin::types,
            "seam:plugin/host@0.2.0": super::gate::seam::plugin::host,
        },
    });
}

use crate::{Gate, Prepare, Router};

/// Where a plugin keeps what `prepare` made, for the life of its instance (the host
/// snapshots the instance after `prepare`, so every call finds it filled).
pub struct Slot<P>(std::cell::RefCell<Option<P>>);

impl<P> Slot<P> {
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Slot(std::cell::RefCell::new(None))
    }

    fn fill(&self, prepared: P) {
        *self.0.borrow_mut() = Some(prepared);
    }

    fn with<T>(&self, f: impl FnOnce(&P) -> Result<T, String>) -> Result<T, String> {
        match &*self.0.borrow() {
            Some(prepared) => f(prepared),
            None => Err(
                "called before prepare(): the host must prepare a plugin before calling it".into(),
            ),
        }
    }
}

pub fn prepare_gate<G: Gate>(slot: &Slot<G::Prepared>, settings: String) -> Result<(), String> {
    let settings: G::Settings = crate::parse_settings(&settings)?;
    slot.fill(G::Prepared::prepare(settings)?);
    make_heap_room();
    Ok(())
}

pub fn prepare_router<R: Router>(slot: &Slot<R::Prepared>, settings: String) -> Result<(), String> {
    let settings: R::Settings = crate::parse_settings(&settings)?;
    slot.fill(R::Prepared::prepare(settings)?);
    make_heap_room();
    Ok(())
}

/// Heap a plugin's checks can use without growing its memory.
pub const HEAP_ROOM: usize = 1 << 20;

/// Grows the heap by [`HEAP_ROOM`] once, at the end of `prepare`, and frees it again:
/// the allocator keeps the room (wasm memory never shrinks) and the host's snapshot of
/// the prepared instance starts every check with it. Without it, a check whose payload
/// needs more heap than `prepare` left grew the memory every time, and the host, which
/// resets an instance's memory to its size at the snapshot after each check, paid for
/// the growth, its release and a full page scan on every check (`pii` on 4 KB: 16 µs of
/// its 89). Pages of the room no check writes cost nothing.
fn make_heap_room() {
    if cfg!(target_arch = "wasm32") {
        // `black_box`: an allocation nobody reads may otherwise be elided.
        drop(std::hint::black_box(Vec::<u8>::with_capacity(HEAP_ROOM)));
    }
}

fn info(
    name: &str,
    version: &str,
    kind: gate::PluginKind,
    description: &str,
    schema: serde_json::Value,
) -> gate::PluginInfo {
    gate::PluginInfo {
        name: name.to_string(),
        version: version.to_string(),
        kind,
        description: description.to_string(),
        settings_schema: schema.to_string(),
    }
}

pub fn describe_gate<G: Gate>(version: &str) -> gate::PluginInfo {
    info(
        G::NAME,
        version,
        gate::PluginKind::Gate,
        G::DESCRIPTION,
        crate::settings_schema::<G::Settings>(),
    )
}

pub fn describe_router<R: Router>(version: &str) -> gate::PluginInfo {
    info(
        R::NAME,
        version,
        gate::PluginKind::Router,
        R::DESCRIPTION,
        crate::settings_schema::<R::Settings>(),
    )
}

pub fn check<G: Gate>(
    slot: &Slot<G::Prepared>,
    handoff: gate::Handoff,
) -> Result<gate::Verdict, String> {
    let handoff = crate::Handoff::from_wit(handoff)?;
    slot.with(|prepared| G::check(prepared, &handoff).map(Into::into))
}

pub fn route<R: Router>(
    slot: &Slot<R::Prepared>,
    handoff: gate::Handoff,
    verdicts: Vec<gate::GateVerdict>,
) -> Result<gate::Route, String> {
    let handoff = crate::Handoff::from_wit(handoff)?;
    let verdicts: Vec<crate::GateVerdict> = verdicts.into_iter().map(Into::into).collect();
    slot.with(|prepared| R::route(prepared, &handoff, &verdicts))
        .map(|r| gate::Route {
            target: r.target,
            reason: r.reason,
        })
}

impl From<crate::Verdict> for gate::Verdict {
    fn from(v: crate::Verdict) -> Self {
        gate::Verdict {
            passed: v.passed,
            score: v.score,
            findings: v.findings.into_iter().map(Into::into).collect(),
            fix: v.fix,
        }
    }
}

impl From<crate::Finding> for gate::Finding {
    fn from(f: crate::Finding) -> Self {
        gate::Finding {
            code: f.code,
            message: f.message,
            path: f.path,
            span: f.span.map(|s| gate::Span {
                start: s.start,
                end: s.end,
            }),
            severity: match f.severity {
                crate::Severity::Info => gate::Severity::Info,
                crate::Severity::Warning => gate::Severity::Warning,
                crate::Severity::Error => gate::Severity::Error,
            },
        }
    }
}

impl From<gate::GateVerdict> for crate::GateVerdict {
    fn from(g: gate::GateVerdict) -> Self {
        let v = g.verdict;
        crate::GateVerdict {
            gate: g.gate,
            verdict: crate::Verdict {
                passed: v.passed,
                score: v.score,
                findings: v
                    .findings
                    .into_iter()
                    .map(|f| crate::Finding {
                        code: f.code,
                        message: f.message,
                        path: f.path,
                        span: f.span.map(|s| crate::Span {
                            start: s.start,
                            end: s.end,
                        }),
                        severity: match f.severity {
                            gate::Severity::Info => crate::Severity::Info,
                            gate::Severity::Warning => crate::Severity::Warning,
                            gate::Severity::Error => crate::Severity::Error,
                        },
                    })
                    .collect(),
                fix: v.fix,
            },
        }
    }
}

/// Writes a log line through the host import (wasm only).
#[cfg(target_arch = "wasm32")]
pub fn host_log(level: crate::log::Level, message: &str) {
    use gate::seam::plugin::host::{log, Level};
    let level = match level {
        crate::log::Level::Trace => Level::Trace,
        crate::log::Level::Debug => Level::Debug,
        crate::log::Level::Info => Level::Info,
        crate::log::Level::Warn => Level::Warn,
        crate::log::Level::Error => Level::Error,
    };
    log(level, message);
}
