//! The host side of the `seam:plugin` WIT contract: the only `bindgen!` in seam.
//!
//! One private module per world and contract version (0.1.0 in `wit/0.1.0/`, 0.2.0 in
//! `wit/`). Every world reuses the 0.1.0 gate's `types` interface, whose records are the
//! same in both versions, so there is one set of types; each version has its own `host`
//! interface (a 0.2.0 plugin imports `seam:plugin/host@0.2.0`). Only conversions to the
//! crate's own [`seam_types`] leave this module.

use seam_types as types;

pub(crate) mod gate {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "gate",
        exports: { default: async },
    });
}

pub(crate) mod router {
    wasmtime::component::bindgen!({
        path: "../../wit/0.1.0",
        world: "router",
        exports: { default: async },
        with: {
            "seam:plugin/types": super::gate::seam::plugin::types,
            "seam:plugin/host": super::gate::seam::plugin::host,
        },
    });
}

/// The 0.2.0 worlds: `prepare(settings)`, then `check(handoff)` / `route(handoff, verdicts)`.
pub(crate) mod v2 {
    pub(crate) mod gate {
        wasmtime::component::bindgen!({
            path: "../../wit",
            world: "gate",
            exports: { default: async },
            with: {
                "seam:plugin/types": crate::bindings::gate::seam::plugin::types,
            },
        });
    }

    pub(crate) mod router {
        wasmtime::component::bindgen!({
            path: "../../wit",
            world: "router",
            exports: { default: async },
            with: {
                "seam:plugin/types": crate::bindings::gate::seam::plugin::types,
                "seam:plugin/host": super::gate::seam::plugin::host,
            },
        });
    }

    pub(crate) use gate::seam::plugin::host::{Host as LogHost, Level};
    pub(crate) use gate::{Gate, GatePre};
    pub(crate) use router::{Router, RouterPre};
}

pub(crate) use gate::seam::plugin::host::{Host as LogHost, Level};
use gate::seam::plugin::types as wit;
pub(crate) use gate::seam::plugin::types::{
    GateVerdict as WitGateVerdict, Handoff as WitHandoff, PluginInfo as WitPluginInfo,
    Route as WitRoute, Verdict as WitVerdict,
};
pub(crate) use gate::{Gate, GatePre};
pub(crate) use router::{Router, RouterPre};

impl From<&types::Handoff> for wit::Handoff {
    fn from(h: &types::Handoff) -> Self {
        wit::Handoff {
            pipeline: h.pipeline.clone(),
            run_id: h.run_id.clone(),
            from_step: h.from_step.clone(),
            to_step: h.to_step.clone(),
            attempt: h.attempt,
            payload: h.payload.clone(),
            context: h.context.clone(),
        }
    }
}

impl From<wit::Verdict> for types::Verdict {
    fn from(v: wit::Verdict) -> Self {
        types::Verdict {
            passed: v.passed,
            score: v.score,
            findings: v
                .findings
                .into_iter()
                .map(|f| types::Finding {
                    code: f.code,
                    message: f.message,
                    path: f.path,
                    span: f.span.map(|s| types::Span {
                        start: s.start,
                        end: s.end,
                    }),
                    severity: match f.severity {
                        wit::Severity::Info => types::Severity::Info,
                        wit::Severity::Warning => types::Severity::Warning,
                        wit::Severity::Error => types::Severity::Error,
                    },
                })
                .collect(),
            fix: v.fix,
        }
    }
}

impl From<&types::Verdict> for wit::Verdict {
    fn from(v: &types::Verdict) -> Self {
        wit::Verdict {
            passed: v.passed,
            score: v.score,
            findings: v
                .findings
                .iter()
                .map(|f| wit::Finding {
                    code: f.code.clone(),
                    message: f.message.clone(),
                    path: f.path.clone(),
                    span: f.span.map(|s| wit::Span {
                        start: s.start,
                        end: s.end,
                    }),
                    severity: match f.severity {
                        types::Severity::Info => wit::Severity::Info,
                        types::Severity::Warning => wit::Severity::Warning,
                        types::Severity::Error => wit::Severity::Error,
                    },
                })
                .collect(),
            fix: v.fix.clone(),
        }
    }
}

impl From<&types::GateVerdict> for wit::GateVerdict {
    fn from(g: &types::GateVerdict) -> Self {
        wit::GateVerdict {
            gate: g.gate.clone(),
            verdict: (&g.verdict).into(),
        }
    }
}

impl From<wit::Route> for types::Route {
    fn from(r: wit::Route) -> Self {
        types::Route {
            target: r.target,
            reason: r.reason,
        }
    }
}

/// The parts of `plugin-info` before the schema text is parsed.
pub(crate) fn info_parts(
    i: wit::PluginInfo,
) -> (String, String, types::PluginKind, String, String) {
    let kind = match i.kind {
        wit::PluginKind::Gate => types::PluginKind::Gate,
        wit::PluginKind::Router => types::PluginKind::Router,
    };
    (i.name, i.version, kind, i.description, i.settings_schema)
}
