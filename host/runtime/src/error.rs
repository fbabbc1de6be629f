//! Errors of the runtime: why a plugin could not be loaded, and why a call produced an
//! error verdict instead of an answer.

use serde::{Deserialize, Serialize};

use seam_types::PluginKind;

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
    #[error("plugin `{plugin}` targets the contract seam:plugin@{found}, which this host does not support (it supports seam:plugin@{supported}); rebuild the plugin against a supported version (`wit/` in the seam release you run)")]
    UnsupportedContract {
        plugin: String,
        found: String,
        supported: String,
    },
    #[error("plugin `{plugin}` refused its settings: prepare() said {message:?}; fix the settings (`seam describe {plugin}` shows what it accepts)")]
    Refused { plugin: String, message: String },
    #[error("plugin `{plugin}` failed in prepare(): {cause}")]
    Prepare { plugin: String, cause: ErrorCause },
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
#[derive(
    Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error, schemars::JsonSchema,
)]
#[serde(tag = "cause", rename_all = "kebab-case")]
pub enum ErrorCause {
    /// The call used up its deadline (its own CPU time plus the time it waited on its
    /// own requests), or, with `wall_clock`, outlived its wall-clock backstop.
    #[error("{}", timeout_text(*deadline_ms, *wall_clock))]
    Timeout {
        deadline_ms: u64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        wall_clock: bool,
    },
    /// The plugin tried to grow its memory past the limit.
    #[error("ran out of memory (limit {limit_bytes} bytes)")]
    OutOfMemory { limit_bytes: usize },
    /// The plugin used up its instruction budget.
    #[error("ran out of fuel (budget {fuel} instructions)")]
    OutOfFuel { fuel: u64 },
    /// The plugin exhausted its call stack (e.g. unbounded recursion).
    #[error("overflowed its stack")]
    StackOverflow,
    /// The plugin trapped: a panic, `unreachable`, an out-of-bounds access… The
    /// message is the host's description of the trap; what the plugin printed is in
    /// the call's log.
    #[error("trapped: {message}")]
    Trap { message: String },
    /// The plugin called `exit` instead of returning.
    #[error("exited with status {code} instead of returning an answer")]
    Exited { code: i32 },
    /// A host call the plugin made was refused because it asked for more than a cap
    /// allows (random bytes, a table, the instance pool…).
    #[error("was refused by the host: {message}")]
    ResourceLimit { message: String },
    /// The plugin returned `err`: it could not answer. The message is the plugin's
    /// own text, shown quoted.
    #[error("returned an error, saying: {message:?}")]
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
    /// The host failed while running the call (a bug in seam, or shutdown).
    #[error("could not be run by the host: {message}")]
    Host { message: String },
    /// The plugin could not be instantiated.
    #[error("could not be instantiated: {message}")]
    Instantiate { message: String },
}

impl ErrorCause {
    /// The cause's kind as its JSON `cause` field names it: `timeout`, `out-of-memory`,
    /// `trap`, … (stable: metrics labels and traces use it).
    pub fn kind(&self) -> &'static str {
        match self {
            ErrorCause::Timeout { .. } => "timeout",
            ErrorCause::OutOfMemory { .. } => "out-of-memory",
            ErrorCause::OutOfFuel { .. } => "out-of-fuel",
            ErrorCause::StackOverflow => "stack-overflow",
            ErrorCause::Trap { .. } => "trap",
            ErrorCause::Exited { .. } => "exited",
            ErrorCause::ResourceLimit { .. } => "resource-limit",
            ErrorCause::Plugin { .. } => "plugin",
            ErrorCause::PayloadTooLarge { .. } => "payload-too-large",
            ErrorCause::OutputTooLarge { .. } => "output-too-large",
            ErrorCause::Malformed { .. } => "malformed",
            ErrorCause::Host { .. } => "host",
            ErrorCause::Instantiate { .. } => "instantiate",
        }
    }
}

fn timeout_text(deadline_ms: u64, wall_clock: bool) -> String {
    if wall_clock {
        format!(
            "was stopped by its wall-clock backstop after {} ms ({} × its {deadline_ms} ms deadline)",
            deadline_ms.saturating_mul(super::limits::WALL_BACKSTOP_FACTOR as u64),
            super::limits::WALL_BACKSTOP_FACTOR
        )
    } else {
        format!("timed out: used its {deadline_ms} ms deadline (time running and waiting)")
    }
}

impl From<seam_types::ReadError> for LoadError {
    fn from(e: seam_types::ReadError) -> Self {
        LoadError::Read {
            plugin: e.plugin,
            path: e.path,
            reason: e.reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCause;

    #[test]
    fn kind_is_the_json_cause_of_every_variant() {
        let causes = [
            ErrorCause::Timeout {
                deadline_ms: 1,
                wall_clock: false,
            },
            ErrorCause::OutOfMemory { limit_bytes: 1 },
            ErrorCause::OutOfFuel { fuel: 1 },
            ErrorCause::StackOverflow,
            ErrorCause::Trap {
                message: "x".into(),
            },
            ErrorCause::Exited { code: 1 },
            ErrorCause::ResourceLimit {
                message: "x".into(),
            },
            ErrorCause::Plugin {
                message: "x".into(),
            },
            ErrorCause::PayloadTooLarge { size: 2, limit: 1 },
            ErrorCause::OutputTooLarge {
                what: "log".into(),
                size: 2,
                limit: 1,
            },
            ErrorCause::Malformed { reason: "x".into() },
            ErrorCause::Host {
                message: "x".into(),
            },
            ErrorCause::Instantiate {
                message: "x".into(),
            },
        ];
        for cause in causes {
            let json = serde_json::to_value(&cause).unwrap();
            assert_eq!(json["cause"], cause.kind(), "{cause:?}");
        }
    }
}
