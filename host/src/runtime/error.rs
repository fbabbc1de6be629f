//! Errors of the runtime: why a plugin could not be loaded, and why a call produced an
//! error verdict instead of an answer.

use serde::{Deserialize, Serialize};

use crate::types::PluginKind;

/// Why a plugin could not be loaded. Every variant names the plugin and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("could not read plugin `{plugin}` from {path}: {reason}")]
    Read {
        plugin: String,
        path: String,
        reason: String,
    },
    #[error("plugin `{plugin}` is not WebAssembly ({reason}); a plugin is a component built for wasm32-wasip2")]
    NotWasm { plugin: String, reason: String },
    #[error("plugin `{plugin}` is a core WebAssembly module, not a component; build it with `cargo build --target wasm32-wasip2` (see docs/plugin-authoring.md)")]
    CoreModule { plugin: String },
    #[error("plugin `{plugin}` could not be compiled: {reason}")]
    Compile { plugin: String, reason: String },
    #[error("plugin `{plugin}` imports `{import}`, which seam does not allow: a plugin may import only `seam:plugin/host` and the WASI interfaces listed in docs/sandbox.md")]
    ForbiddenImport { plugin: String, import: String },
    #[error(
        "plugin `{plugin}` is a {found}, not a {expected}; use it where a {found} is expected"
    )]
    WrongKind {
        plugin: String,
        expected: PluginKind,
        found: PluginKind,
    },
    #[error("plugin `{plugin}` is not a seam plugin: it exports {exports}, but a gate exports `describe` and `check`, a router `describe` and `route` (see docs/wit.md)")]
    NotAPlugin { plugin: String, exports: String },
    #[error("plugin `{plugin}` does not fit the seam:plugin contract: {reason}")]
    Contract { plugin: String, reason: String },
    #[error("plugin `{plugin}` failed in describe(): {cause}")]
    Describe { plugin: String, cause: ErrorCause },
    #[error(
        "plugin `{plugin}` declares a settings schema that is not a valid JSON Schema: {reason}"
    )]
    BadSchema { plugin: String, reason: String },
    #[error("settings for plugin `{plugin}` are invalid:{}", problems.iter().map(|p| format!("\n  - {p}")).collect::<String>())]
    InvalidSettings {
        plugin: String,
        problems: Vec<SettingsProblem>,
    },
    #[error("plugin `{plugin}`: {reason}")]
    Limits { plugin: String, reason: String },
}

/// One way an operator's settings break a plugin's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettingsProblem {
    /// JSON pointer of the offending setting (`""` = the settings object itself).
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for SettingsProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let at = if self.pointer.is_empty() {
            "settings"
        } else {
            &self.pointer
        };
        write!(f, "at `{at}`: {}", self.message)
    }
}

/// Why a call ended in an error verdict rather than an answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum ErrorCause {
    /// The call ran past its deadline and was interrupted.
    #[error("timed out after {deadline_ms} ms (deadline)")]
    Timeout { deadline_ms: u64 },
    /// The plugin tried to grow its memory past the limit.
    #[error("ran out of memory (limit {limit_bytes} bytes)")]
    OutOfMemory { limit_bytes: usize },
    /// The plugin used up its instruction budget.
    #[error("ran out of fuel (budget {fuel} instructions)")]
    OutOfFuel { fuel: u64 },
    /// The plugin exhausted its call stack (e.g. unbounded recursion).
    #[error("overflowed its stack")]
    StackOverflow,
    /// The plugin trapped: a panic, `unreachable`, an out-of-bounds access…
    #[error("trapped: {message}")]
    Trap { message: String },
    /// The plugin returned `err`: it could not answer.
    #[error("reported an error: {message}")]
    Plugin { message: String },
    /// The payload sent to the plugin was over the cap.
    #[error("payload and context are {size} bytes, over the {limit}-byte cap")]
    PayloadTooLarge { size: usize, limit: usize },
    /// The plugin's answer was over a cap.
    #[error("returned an oversized {what}: {size}, over the cap of {limit}")]
    OutputTooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
    /// The plugin's answer broke the contract (score out of range, fix not JSON…).
    #[error("returned a malformed answer: {reason}")]
    Malformed { reason: String },
    /// The plugin could not be instantiated.
    #[error("could not be instantiated: {message}")]
    Instantiate { message: String },
}
