//! `seam-guest`: write a seam gate or router as a plain Rust type.
//!
//! A gate is a struct, a `Settings` type and a `check` function, plus one
//! [`export_gate!`] line; a router is the same with [`Router`] and [`export_router!`].
//! Build the crate for `wasm32-wasip2` and the result is a WebAssembly component that
//! the seam host can load. Natively (plain `cargo test`) the export macros expand to
//! nothing, and [`testing`] runs the same code directly.
//!
//! This crate owns the plugin side of the `seam:plugin` WIT contract. It must not leak
//! `wit-bindgen` types: everything a plugin author touches is defined here.
//!
//! ```
//! use seam_guest::prelude::*;
//!
//! #[derive(Deserialize, JsonSchema)]
//! #[serde(deny_unknown_fields)]
//! struct Settings {
//!     /// Most words allowed.
//!     max: usize,
//! }
//!
//! struct ShortEnough;
//!
//! impl Gate for ShortEnough {
//!     type Settings = Settings;
//!     const NAME: &'static str = "short-enough";
//!     const DESCRIPTION: &'static str = "Fails payloads longer than `max` words.";
//!
//!     fn check(settings: &Settings, handoff: &Handoff) -> Result<Verdict, String> {
//!         let words: usize = handoff.texts("")?.iter().map(|t| t.text.split_whitespace().count()).sum();
//!         let mut verdict = Verdict::new();
//!         if words > settings.max {
//!             verdict.push(Finding::error("length.words", format!("{words} words, at most {} allowed", settings.max)));
//!         }
//!         Ok(verdict)
//!     }
//! }
//!
//! export_gate!(ShortEnough);
//!
//! let verdict = seam_guest::testing::check::<ShortEnough>(json!({"max": 2}), &Handoff::text("one two three")).unwrap();
//! assert!(!verdict.passed);
//! ```

extern crate self as seam_guest;

mod handoff;
pub mod log;
pub mod testing;
mod verdict;

pub use handoff::{pointer_escape, Handoff, Text};
pub use verdict::{Finding, GateVerdict, Route, Severity, Span, Verdict};

/// Everything a plugin usually needs, in one `use`.
pub mod prelude {
    pub use crate::{
        export_gate, export_router, Finding, Gate, GateVerdict, Handoff, Route, Router, Severity,
        Span, Text, Verdict,
    };
    pub use schemars::JsonSchema;
    pub use serde::Deserialize;
    pub use serde_json::{json, Value};
}

/// A verification gate: checks one handoff and answers with a [`Verdict`].
///
/// Return `Err` only when the gate could not answer (its own malfunction); a payload
/// that fails the check is `Ok` with a failed verdict.
pub trait Gate {
    /// The operator's settings. The host validates them against the JSON Schema
    /// generated from this type before any check runs.
    type Settings: serde::de::DeserializeOwned + schemars::JsonSchema;
    /// Short kebab-case name, e.g. `max-words`.
    const NAME: &'static str;
    /// One paragraph for operators.
    const DESCRIPTION: &'static str;
    /// Checks one handoff.
    fn check(settings: &Self::Settings, handoff: &Handoff) -> Result<Verdict, String>;
}

/// A router: decides where a handoff goes next from the verdicts of the seam's gates.
pub trait Router {
    /// The operator's settings, validated by the host like a gate's.
    type Settings: serde::de::DeserializeOwned + schemars::JsonSchema;
    /// Short kebab-case name, e.g. `verdict-router`.
    const NAME: &'static str;
    /// One paragraph for operators.
    const DESCRIPTION: &'static str;
    /// Routes one handoff.
    fn route(
        settings: &Self::Settings,
        handoff: &Handoff,
        verdicts: &[GateVerdict],
    ) -> Result<Route, String>;
}

/// The JSON Schema of a settings type, as the host receives it from `describe()`.
pub fn settings_schema<S: schemars::JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(S)).unwrap_or(serde_json::Value::Null)
}

/// Parses settings text the way the exported `check`/`route` do.
pub fn parse_settings<S: serde::de::DeserializeOwned>(settings: &str) -> Result<S, String> {
    let text = if settings.trim().is_empty() {
        "{}"
    } else {
        settings
    };
    serde_json::from_str(text).map_err(|e| format!("settings do not fit this plugin: {e}"))
}

/// Exports a [`Gate`] implementation as the component's `gate` world.
///
/// On targets other than `wasm32` this expands to nothing, so the plugin's unit tests
/// build natively.
#[macro_export]
macro_rules! export_gate {
    ($gate:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::gate as __bindings;
            struct __SeamGate;
            impl __bindings::Guest for __SeamGate {
                fn describe() -> __bindings::PluginInfo {
                    $crate::__private::describe_gate::<$gate>(env!("CARGO_PKG_VERSION"))
                }
                fn check(
                    settings: ::std::string::String,
                    handoff: __bindings::Handoff,
                ) -> ::std::result::Result<__bindings::Verdict, ::std::string::String> {
                    $crate::__private::check::<$gate>(settings, handoff)
                }
            }
            $crate::__private::gate::__export_gate_world!(__SeamGate with_types_in $crate::__private::gate);
        };
    };
}

/// Exports a [`Router`] implementation as the component's `router` world.
///
/// On targets other than `wasm32` this expands to nothing.
#[macro_export]
macro_rules! export_router {
    ($router:ty) => {
        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__private::router as __bindings;
            struct __SeamRouter;
            impl __bindings::Guest for __SeamRouter {
                fn describe() -> __bindings::PluginInfo {
                    $crate::__private::describe_router::<$router>(env!("CARGO_PKG_VERSION"))
                }
                fn route(
                    settings: ::std::string::String,
                    handoff: __bindings::Handoff,
                    verdicts: ::std::vec::Vec<__bindings::GateVerdict>,
                ) -> ::std::result::Result<__bindings::Route, ::std::string::String> {
                    $crate::__private::route::<$router>(settings, handoff, verdicts)
                }
            }
            $crate::__private::router::__export_router_world!(__SeamRouter with_types_in $crate::__private::router);
        };
    };
}

#[doc(hidden)]
pub mod __private;
