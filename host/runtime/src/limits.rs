//! The sandbox's limits: every default is a named constant, documented in
//! `docs/sandbox.md`, and every one can be overridden per plugin.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Deadline of one call (`check`, `route` or `describe`): the call's own time, CPU time
/// running plus time waiting on its own requests (see `deadline.rs`).
pub const DEFAULT_DEADLINE_MS: u64 = 100;
/// Least time `prepare(settings)` is given, when the plugin's deadline is shorter:
/// setup is paid once per plugin and settings, so it may take longer than a check.
pub const MIN_PREPARE_DEADLINE_MS: u64 = 1_000;
/// Longest deadline a plugin may be given (10 minutes).
pub const MAX_DEADLINE_MS: u64 = 600_000;
/// The wall-clock backstop of a call is this many times its deadline: a call alive
/// that long is stopped however it spent the time (a starved or stuck call).
pub const WALL_BACKSTOP_FACTOR: u32 = 10;
/// Linear memory a plugin instance may grow to.
pub const DEFAULT_MEMORY_BYTES: usize = 64 << 20;
/// Most memory a plugin instance may be given: a 32-bit wasm memory's whole range.
pub const MAX_MEMORY_BYTES: usize = 4 << 30;
/// Least memory a plugin instance may be given: one wasm page.
pub const MIN_MEMORY_BYTES: usize = 64 << 10;
/// Largest payload plus context a plugin is sent.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Highest payload cap a plugin may be given.
pub const MAX_MAX_PAYLOAD_BYTES: usize = 1 << 30;
/// Largest verdict (all strings of its findings plus its fix) or route a plugin may return.
pub const DEFAULT_MAX_VERDICT_BYTES: usize = 1 << 20;
/// Highest verdict cap a plugin may be given.
pub const MAX_MAX_VERDICT_BYTES: usize = 64 << 20;
/// Most findings in one verdict.
pub const DEFAULT_MAX_FINDINGS: usize = 1000;
/// Highest findings cap a plugin may be given.
pub const MAX_MAX_FINDINGS: usize = 100_000;
/// Largest log (stdout, stderr and `host.log` together) kept per call; the rest is dropped.
pub const DEFAULT_MAX_LOG_BYTES: usize = 64 << 10;
/// Highest log cap a plugin may be given.
pub const MAX_MAX_LOG_BYTES: usize = 16 << 20;
/// How often the epoch ticker advances: how often running wasm is checked against its
/// deadline, so the resolution of every deadline.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Most random bytes one `wasi:random` call may ask for (wasmtime's default is 64 MiB,
/// which takes longer to produce than a deadline).
pub const MAX_RANDOM_BYTES: u64 = 1 << 20;
/// Most elements a plugin may grow a table to.
pub const MAX_TABLE_ELEMENTS: usize = 100_000;
/// wasm's own call stack per call.
pub const MAX_WASM_STACK_BYTES: usize = 1 << 20;
/// The native stack a call runs on (it holds the wasm stack plus host frames).
pub const CALL_STACK_BYTES: usize = 2 << 20;

/// Largest settings schema (JSON text) a plugin may describe.
pub const MAX_SCHEMA_BYTES: usize = 256 << 10;
/// Most nodes (objects, arrays and values) in a settings schema.
pub const MAX_SCHEMA_NODES: usize = 20_000;
/// Deepest nesting of a settings schema.
pub const MAX_SCHEMA_DEPTH: usize = 64;
/// Most schema nodes a validation may visit per level of the settings, counting every
/// local `$ref` as the nodes it points to (stops `allOf`/`$ref` fan-out bombs).
pub const MAX_SCHEMA_EXPANDED_NODES: usize = 100_000;
/// Longest the host spends compiling a plugin's settings schema and validating the
/// operator's settings against it.
pub const SCHEMA_TIME_LIMIT: Duration = Duration::from_secs(2);

/// Engine-wide defaults (`RuntimeConfig`).
pub mod engine {
    /// Most plugin instances alive at once: the size of the pooling allocator.
    pub const MAX_INSTANCES: u32 = 128;
    /// Ceiling for any plugin's memory limit.
    pub const MAX_MEMORY_BYTES: usize = 256 << 20;
    /// Most linear memories one component may have (componentize-py has 2, a QuickJS
    /// componentize-js component 3).
    pub const MEMORIES_PER_PLUGIN: u32 = 8;
    /// Most core instances one component may have (a componentize-py component has
    /// around 20: CPython, libc, the WASI adapter and their shims).
    pub const CORE_INSTANCES_PER_PLUGIN: u32 = 64;
    /// Most tables one component may have.
    pub const TABLES_PER_PLUGIN: u32 = 64;
    /// Linear memories in the whole pool, per instance on average.
    pub const MEMORIES_PER_INSTANCE_SLOT: u32 = 4;
    /// Core instances in the whole pool, per instance on average.
    pub const CORE_INSTANCES_PER_INSTANCE_SLOT: u32 = 32;
    /// Tables in the whole pool, per instance on average.
    pub const TABLES_PER_INSTANCE_SLOT: u32 = 32;
    /// Bytes of each memory slot kept mapped between instances and reset in place, so
    /// a fresh instance takes fewer page faults. Where the kernel has `PAGEMAP_SCAN`
    /// this is a budget of touched pages, not a range: only the pages calls in this
    /// slot wrote are reset (copied back from the image, or zeroed), and a plugin that
    /// writes more has the rest unmapped (and faulted in again by the next call). A Rust
    /// gate writes a few pages; QuickJS and CPython write megabytes per call. Measured
    /// per fresh check (1 MiB → 16 MiB): a TypeScript (QuickJS) gate 484 → 258 µs,
    /// `json-schema` on 1 KB ~95 → ~80 µs, a Python gate 2.7 → 2.3 ms (noisy), Rust
    /// gates unchanged (~21–24 µs). The cost is that much resident memory at most per
    /// warm slot of a plugin that writes it. (Pages no call touched are skipped only
    /// with the patched wasmtime in `vendor/`; see its README.)
    pub const KEEP_RESIDENT_MEMORY_BYTES: usize = 16 << 20;
    /// Below this total recent cost (in nanoseconds) of the gates of one `check_all`,
    /// they run one after another on one thread instead of a task each, because a
    /// thread hop per gate costs more than it saves. Measured on 2 cores: the four
    /// standard gates on a short handoff (~35 µs each) took 306 µs spread and 146 µs
    /// in sequence; on 4 KB (~85 µs each), 337 µs either way.
    pub const CHECK_ALL_SPREAD_NS: u64 = 1_000_000;
    /// Below this total recent cost (in nanoseconds), an async check (or `check_all`)
    /// from a caller on one thread (a current-thread runtime, or none) runs in the
    /// caller's own task instead of hopping to the runtime's threads and back: waking a parked thread and being woken cost more than a cheap check (the
    /// four standard gates on a short handoff, 14 µs on the caller's thread, took
    /// 52–93 µs through the hop). Costlier checks still leave the caller's executor
    /// free; a gate whose cost is not known yet (its first check) counts as costly.
    pub const CHECK_IN_CALLER_NS: u64 = 100_000;
    /// Bytes of each table slot kept mapped between instances.
    pub const KEEP_RESIDENT_TABLE_BYTES: usize = 64 << 10;
}

/// Per-plugin limits. Every field is optional in files; a missing one takes the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Deadline of one call, in milliseconds of the call's own time (default 100,
    /// at most 600000).
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

    /// The deadline of `prepare(settings)`: the plugin's deadline, but at least
    /// [`MIN_PREPARE_DEADLINE_MS`].
    pub fn prepare_deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.max(MIN_PREPARE_DEADLINE_MS))
    }

    /// The wall-clock backstop: [`WALL_BACKSTOP_FACTOR`] times the deadline.
    pub fn wall_backstop(&self) -> Duration {
        self.deadline()
            .saturating_mul(WALL_BACKSTOP_FACTOR)
            .max(Duration::from_millis(1))
    }
}
