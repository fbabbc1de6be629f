//! The sandbox's limits: every default is a named constant, documented in
//! `docs/sandbox.md`, and every one can be overridden per plugin.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Wall-clock deadline of one call (`check`, `route` or `describe`).
pub const DEFAULT_DEADLINE_MS: u64 = 100;
/// Linear memory a plugin instance may grow to.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;
/// Largest payload plus context a plugin is sent.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Largest verdict (all strings of its findings plus its fix) or route a plugin may return.
pub const DEFAULT_MAX_VERDICT_BYTES: usize = 1 << 20;
/// Most findings in one verdict.
pub const DEFAULT_MAX_FINDINGS: usize = 1000;
/// Largest log (stdout, stderr and `host.log` together) kept per call; the rest is dropped.
pub const DEFAULT_MAX_LOG_BYTES: usize = 64 << 10;
/// How often the epoch ticker advances: the resolution of every deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Per-plugin limits. Every field is optional in files; a missing one takes the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Deadline of one call, in milliseconds (default 100).
    pub deadline_ms: u64,
    /// Memory limit in bytes (default 64 MiB).
    pub memory_bytes: usize,
    /// Instruction budget per call (default: none). Needs a runtime with fuel metering.
    pub fuel: Option<u64>,
    /// Cap on payload + context bytes sent (default 1 MiB).
    pub max_payload_bytes: usize,
    /// Cap on the bytes of a returned verdict or route (default 1 MiB).
    pub max_verdict_bytes: usize,
    /// Cap on findings per verdict (default 1000).
    pub max_findings: usize,
    /// Cap on log bytes kept per call (default 64 KiB).
    pub max_log_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline_ms: DEFAULT_DEADLINE_MS,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            fuel: None,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            max_verdict_bytes: DEFAULT_MAX_VERDICT_BYTES,
            max_findings: DEFAULT_MAX_FINDINGS,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
        }
    }
}

impl Limits {
    /// The deadline as a duration.
    pub fn deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms)
    }

    /// Epoch ticks to allow: the deadline rounded up, plus one for the tick in flight.
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let tick = EPOCH_TICK.as_millis().max(1) as u64;
        self.deadline_ms.div_ceil(tick).max(1).saturating_add(1)
    }
}
