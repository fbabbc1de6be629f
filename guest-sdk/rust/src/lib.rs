//! `seam-guest`: write a seam gate or router as a plain Rust type.
//!
//! A gate is a struct, a `Settings` type and a `check` function, plus one
//! [`export_gate!`] line; a router is the same with [`Router`] and [`export_router!`].
//!
//! Setup that a check should not repeat (compiling patterns, schemas, tables) goes in
//! a `Prepared` type built from the settings by [`Prepare`]: the host runs it once per
//! plugin and settings, at load, and every check starts from a snapshot of the result.
//! A gate with nothing to set up uses its settings as they are
//! (`type Prepared = Settings;`).
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
//!     type Prepared = Settings;
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
//!
//! With setup: compile once in [`Prepare::prepare`], use it in every check.
//!
//! ```
//! use seam_guest::prelude::*;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Settings {
//!     /// Words that must not appear.
//!     banned: Vec<String>,
//! }
//!
//! /// The banned words, lower-cased once.
//! struct Banned(Vec<String>);
//!
//! impl Prepare<Settings> for Banned {
//!     fn prepare(settings: Settings) -> Result<Self, String> {
//!         if settings.banned.iter().any(|w| w.trim().is_empty()) {
//!             return Err("`banned` has an empty word".into());
//!         }
//!         Ok(Banned(settings.banned.iter().map(|w| w.to_lowercase()).collect()))
//!     }
//! }
//!
//! struct NoBannedWords;
//!
//! impl Gate for NoBannedWords {
//!     type Settings = Settings;
//!     type Prepared = Banned;
//!     const NAME: &'static str = "no-banned-words";
//!     const DESCRIPTION: &'static str = "Fails payloads with a banned word.";
//!
//!     fn check(banned: &Banned, handoff: &Handoff) -> Result<Verdict, String> {
//!         let mut verdict = Verdict::new();
//!         for text in handoff.texts("")? {
//!             let lower = text.text.to_lowercase();
//!             for word in banned.0.iter().filter(|w| lower.contains(w.as_str())) {
//!                 verdict.push(Finding::error("banned.word", format!("`{word}` is banned")));
//!             }
//!         }
//!         Ok(verdict)
//!     }
//! }
//!
//! export_gate!(NoBannedWords);
//!
//! let refused = seam_guest::testing::prepare::<NoBannedWords>(json!({"banned": [" "]}));
//! assert_eq!(refused.err().as_deref(), Some("`banned` has an empty word"));
//! ```

extern crate self as seam_guest;

mod handoff;
mod json;
pub mod log;
pub mod testing;
mod verdict;

pub use handoff::{pointer_escape, Handoff, Text};
pub use verdict::{Finding, GateVerdict, Route, Severity, Span, Verdict};

/// Everything a plugin usually needs, in one `use`.
pub mod prelude {
    pub use crate::{
        export_gate, export_router, Finding, Gate, GateVerdict, Handoff, Prepare, Route, Router,
        Severity, Span, Text, Verdict,
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
    /// What every check works from, built once from the settings by
    /// [`Prepare::prepare`]: compiled patterns, schemas, tables. `Settings` itself when
    /// there is nothing to set up.
    type Prepared: Prepare<Self::Settings> + 'static;
    /// Short kebab-case name, e.g. `max-words`.
    const NAME: &'static str;
    /// One paragraph for operators.
    const DESCRIPTION: &'static str;
    /// Checks one handoff.
    fn check(prepared: &Self::Prepared, handoff: &Handoff) -> Result<Verdict, String>;
}

/// Builds what a plugin's calls work from out of its settings, once per plugin and
/// settings. `Err` refuses the settings: the host reports the message as a load error
/// naming the plugin (a bad pattern is caught when the pipeline loads, not at the
/// first check).
///
/// Every type prepares from itself, so `type Prepared = Settings;` needs no code.
pub trait Prepare<S>: Sized {
    /// Validates `settings` and does the expensive setup.
    fn prepare(settings: S) -> Result<Self, String>;
}

impl<S> Prepare<S> for S {
    fn prepare(settings: S) -> Result<S, String> {
        Ok(settings)
    }
}

/// A router: decides where a handoff goes next from the verdicts of the seam's gates.
pub trait Router {
    /// The operator's settings, validated by the host like a gate's.
    type Settings: serde::de::DeserializeOwned + schemars::JsonSchema;
    /// What every call works from, as a gate's [`Gate::Prepared`].
    type Prepared: Prepare<Self::Settings> + 'static;
    /// Short kebab-case name, e.g. `verdict-router`.
    const NAME: &'static str;
    /// One paragraph for operators.
    const DESCRIPTION: &'static str;
    /// Routes one handoff.
    fn route(
        prepared: &Self::Prepared,
        handoff: &Handoff,
        verdicts: &[GateVerdict],
    ) -> Result<Route, String>;
}

/// The JSON Schema of a settings type, as the host receives it from `describe()`.
pub fn settings_schema<S: schemars::JsonSchema>() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(S)).unwrap_or(serde_json::Value::Null)
}

/// Parses settings text the way the exported `prepare` does.
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
            ::std::thread_local! {
                static __PREPARED: $crate::__private::Slot<<$gate as $crate::Gate>::Prepared> =
                    const { $crate::__private::Slot::new() };
            }
            impl __bindings::Guest for __SeamGate {
                fn describe() -> __bindings::PluginInfo {
                    $crate::__private::describe_gate::<$gate>(env!("CARGO_PKG_VERSION"))
                }
                fn prepare(
                    settings: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    __PREPARED.with(|slot| $crate::__private::prepare_gate::<$gate>(slot, settings))
                }
                fn check(
                    handoff: __bindings::Handoff,
                ) -> ::std::result::Result<__bindings::Verdict, ::std::string::String> {
                    __PREPARED.with(|slot| $crate::__private::check::<$gate>(slot, handoff))
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
            ::std::thread_local! {
                static __PREPARED: $crate::__private::Slot<<$router as $crate::Router>::Prepared> =
                    const { $crate::__private::Slot::new() };
            }
            impl __bindings::Guest for __SeamRouter {
                fn describe() -> __bindings::PluginInfo {
                    $crate::__private::describe_router::<$router>(env!("CARGO_PKG_VERSION"))
                }
                fn prepare(
                    settings: ::std::string::String,
                ) -> ::std::result::Result<(), ::std::string::String> {
                    __PREPARED.with(|slot| $crate::__private::prepare_router::<$router>(slot, settings))
                }
                fn route(
                    handoff: __bindings::Handoff,
                    verdicts: ::std::vec::Vec<__bindings::GateVerdict>,
                ) -> ::std::result::Result<__bindings::Route, ::std::string::String> {
                    __PREPARED.with(|slot| $crate::__private::route::<$router>(slot, handoff, verdicts))
                }
            }
            $crate::__private::router::__export_router_world!(__SeamRouter with_types_in $crate::__private::router);
        };
    };
}

#[doc(hidden)]
pub mod __private;
