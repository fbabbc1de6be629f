//! The sandboxed plugin runtime: one wasmtime engine, plugins loaded into immutable
//! [`Plugin`] handles, and a fresh store for every call.
//!
//! This module owns compiling, vetting and calling plugins. It must not decide what a
//! verdict means for a pipeline: it returns verdicts and error verdicts as data.
//!
//! ```no_run
//! use seam_host::runtime::{Runtime, RuntimeConfig, PluginSource, Limits};
//! use seam_host::types::{Handoff, PluginKind};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let source = PluginSource::standard("max-words").unwrap();
//! let gate = runtime.load(&source, PluginKind::Gate, &serde_json::json!({"max_words": 40}), Limits::default())?;
//! let report = gate.check(&Handoff::text("Block the noise, keep the music."));
//! assert!(report.outcome.passed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bindings;
pub mod cache;
mod error;
pub mod limits;
mod sandbox;

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::component::{types::ComponentItem, Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use crate::types::{GateVerdict, Handoff, PluginInfo, PluginKind, Route, Verdict};
use bindings::{GatePre, RouterPre};
pub use cache::Cache;
pub use error::{ErrorCause, LoadError, SettingsProblem};
pub use limits::Limits;
use sandbox::StoreState;

/// Engine-wide settings, fixed for the life of a [`Runtime`].
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Most plugin instances alive at once (the pooling allocator's size; default 128).
    pub max_instances: u32,
    /// Most calls running at once (default: the number of CPU cores). A call waits for
    /// its turn, and its deadline starts when it runs, so a busy host does not make
    /// well-behaved plugins time out.
    pub max_running: usize,
    /// Ceiling for any plugin's memory limit, in bytes (default 256 MiB).
    pub max_memory_bytes: usize,
    /// Meter instructions so plugins can be given a fuel budget (default off; costs
    /// some speed for every plugin).
    pub fuel_metering: bool,
    /// Where compiled components are cached (default [`Cache::default_dir`]).
    pub cache: Option<Cache>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_instances: 128,
            max_running: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_memory_bytes: 256 << 20,
            fuel_metering: false,
            cache: Cache::default_dir().map(Cache::new),
        }
    }
}

/// Where a plugin's bytes come from, and the name it is known by.
#[derive(Debug, Clone)]
pub struct PluginSource {
    /// The name used in messages: a standard plugin's name or the file's stem.
    pub name: String,
    pub bytes: Cow<'static, [u8]>,
}

impl PluginSource {
    /// A plugin embedded in `seam` (see [`crate::std_plugins`]).
    pub fn standard(name: &str) -> Option<Self> {
        crate::std_plugins::get(name).map(|bytes| PluginSource {
            name: name.to_string(),
            bytes: Cow::Borrowed(bytes),
        })
    }

    /// A plugin read from a `.wasm` file.
    pub fn file(path: &Path) -> Result<Self, LoadError> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let bytes = std::fs::read(path).map_err(|e| LoadError::Read {
            plugin: name.clone(),
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Ok(PluginSource {
            name,
            bytes: Cow::Owned(bytes),
        })
    }

    /// A standard plugin by name, else a file path.
    pub fn resolve(spec: &str) -> Result<Self, LoadError> {
        if let Some(source) = Self::standard(spec) {
            return Ok(source);
        }
        let path = Path::new(spec);
        if path.exists() || spec.ends_with(".wasm") || spec.contains('/') {
            return Self::file(path);
        }
        Err(LoadError::Read {
            plugin: spec.to_string(),
            path: spec.to_string(),
            reason: format!(
                "no standard plugin has this name and no such file exists; standard plugins: {}",
                crate::std_plugins::names().join(", ")
            ),
        })
    }
}

/// The interface names (without version) a plugin may import. Everything the WASI
/// context offers is denied at run time: no files, environment, arguments or network.
pub const ALLOWED_IMPORTS: &[&str] = &[
    "seam:plugin/host",
    "seam:plugin/types",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// The seam runtime: an engine, a linker with the deny-all host, and an epoch ticker.
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<StoreState>,
    config: RuntimeConfig,
    ticker: Arc<Ticker>,
    instances: Permits,
    running: Permits,
}

impl Runtime {
    /// Builds the engine (pooling allocator, epoch interruption, optional fuel) and
    /// starts the epoch ticker, which stops when the engine is dropped.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let mut pool = PoolingAllocationConfig::new();
        let n = config.max_instances;
        pool.total_component_instances(n)
            .total_core_instances(n * 16)
            .total_memories(n * 2)
            .total_tables(n * 16)
            .max_core_instances_per_component(16)
            .max_memories_per_component(2)
            .max_tables_per_component(16)
            .max_memory_size(config.max_memory_bytes)
            // Keep a little of each slot's memory mapped between instances: the first
            // call of a fresh instance then touches fewer new pages.
            .linear_memory_keep_resident(256 << 10)
            .table_keep_resident(64 << 10);
        let mut c = Config::new();
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .consume_fuel(config.fuel_metering)
            .wasm_component_model(true)
            .max_wasm_stack(1 << 20);
        let engine = Engine::new(&c)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        bindings::gate::Gate::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )?;
        let ticker = Ticker::spawn(&engine)
            .map_err(|e| anyhow::anyhow!("starting the epoch ticker thread: {e}"))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                ticker,
                instances: Permits::new(n as usize),
                running: Permits::new(config.max_running),
                engine,
                linker,
                config,
            }),
        })
    }

    /// The engine-wide configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Compiles (or loads from the cache), vets and describes a plugin, then validates
    /// `settings` against its schema. Refuses anything that is not a component of the
    /// `expected` kind importing only allowed interfaces.
    pub fn load(
        &self,
        source: &PluginSource,
        expected: PluginKind,
        settings: &serde_json::Value,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        let mut inner = self.open(source, Some(expected), limits)?;
        let plugin = &inner.name;
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&inner.info.settings_schema)
            .map_err(|e| LoadError::BadSchema {
                plugin: plugin.clone(),
                reason: e.to_string(),
            })?;
        let problems: Vec<SettingsProblem> = validator
            .iter_errors(settings)
            .map(|e| SettingsProblem {
                pointer: e.instance_path().to_string(),
                message: e.to_string(),
            })
            .collect();
        if !problems.is_empty() {
            return Err(LoadError::InvalidSettings {
                plugin: plugin.clone(),
                problems,
            });
        }
        inner.settings = settings.to_string();
        Ok(Plugin {
            inner: Arc::new(inner),
        })
    }

    /// The interfaces a component imports, as written in it (compiles it, or loads it
    /// from the cache; runs nothing).
    pub fn imports(&self, source: &PluginSource) -> Result<Vec<String>, LoadError> {
        let (component, _) = self.compile(source)?;
        let ty = component.component_type();
        Ok(ty
            .imports(&self.inner.engine)
            .map(|(name, _)| name.to_string())
            .collect())
    }

    /// Compiles a component (or loads it from the cache); returns it with its SHA-256.
    fn compile(&self, source: &PluginSource) -> Result<(Component, String), LoadError> {
        let rt = &self.inner;
        let bytes = &source.bytes[..];
        let digest = cache::sha256_hex(bytes);
        let compiled = match &rt.config.cache {
            Some(cache) => cache
                .load_or_compile(&rt.engine, &digest, bytes)
                .map(|(c, _)| c),
            None => Component::new(&rt.engine, bytes),
        };
        let component = compiled.map_err(|e| LoadError::Compile {
            plugin: source.name.clone(),
            reason: format!("{e:#}"),
        })?;
        Ok((component, digest))
    }

    /// What a plugin says about itself (gate or router), without any settings: the
    /// same vetting as [`load`](Self::load), then `describe()`.
    pub fn describe(&self, source: &PluginSource) -> Result<(PluginInfo, String), LoadError> {
        let inner = self.open(source, None, Limits::default())?;
        Ok((inner.info, inner.digest))
    }

    fn open(
        &self,
        source: &PluginSource,
        expected: Option<PluginKind>,
        limits: Limits,
    ) -> Result<PluginInner, LoadError> {
        let plugin = source.name.clone();
        let rt = &self.inner;
        if limits.memory_bytes > rt.config.max_memory_bytes {
            return Err(LoadError::Limits {
                plugin,
                reason: format!(
                    "memory limit {} bytes is over the runtime's ceiling of {} bytes",
                    limits.memory_bytes, rt.config.max_memory_bytes
                ),
            });
        }
        if limits.fuel.is_some() && !rt.config.fuel_metering {
            return Err(LoadError::Limits {
                plugin,
                reason: "a fuel budget needs a runtime with fuel metering on (`--fuel`)".into(),
            });
        }
        let bytes = &source.bytes[..];
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => {
                return Err(LoadError::CoreModule { plugin })
            }
            Some([0, b'a', b's', b'm', ..]) => {}
            _ => {
                return Err(LoadError::NotWasm {
                    plugin,
                    reason: "it does not start with the `\\0asm` header".into(),
                })
            }
        }
        let (component, digest) = self.compile(source)?;

        let ty = component.component_type();
        for (name, _) in ty.imports(&rt.engine) {
            let interface = name.split('@').next().unwrap_or(name);
            if !ALLOWED_IMPORTS.contains(&interface) {
                return Err(LoadError::ForbiddenImport {
                    plugin,
                    import: name.to_string(),
                });
            }
        }
        let exports: Vec<String> = ty
            .exports(&rt.engine)
            .filter(|(_, item)| matches!(item.ty, ComponentItem::ComponentFunc(_)))
            .map(|(name, _)| name.to_string())
            .collect();
        let has = |n: &str| exports.iter().any(|e| e == n);
        let found = match (has("check"), has("route")) {
            (true, false) => PluginKind::Gate,
            (false, true) => PluginKind::Router,
            _ => {
                let exports = if exports.is_empty() {
                    "no functions".to_string()
                } else {
                    exports
                        .iter()
                        .map(|e| format!("`{e}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                return Err(LoadError::NotAPlugin { plugin, exports });
            }
        };
        if let Some(expected) = expected.filter(|&e| e != found) {
            return Err(LoadError::WrongKind {
                plugin,
                expected,
                found,
            });
        }
        let contract = |e: wasmtime::Error| LoadError::Contract {
            plugin: plugin.clone(),
            reason: format!("{e:#}"),
        };
        let instance_pre = rt.linker.instantiate_pre(&component).map_err(contract)?;
        let pre = match found {
            PluginKind::Gate => Pre::Gate(GatePre::new(instance_pre).map_err(contract)?),
            PluginKind::Router => Pre::Router(RouterPre::new(instance_pre).map_err(contract)?),
        };

        let mut inner = PluginInner {
            name: plugin.clone(),
            digest,
            info: PluginInfo {
                name: String::new(),
                version: String::new(),
                kind: found,
                description: String::new(),
                settings_schema: serde_json::Value::Null,
            },
            settings: "{}".to_string(),
            limits,
            runtime: self.inner.clone(),
            pre,
        };
        let call = inner.call(|store, pre| match pre {
            Pre::Gate(p) => p.instantiate(&mut *store)?.call_describe(&mut *store),
            Pre::Router(p) => p.instantiate(&mut *store)?.call_describe(&mut *store),
        });
        let (name, version, kind, description, schema_text) = match call.result {
            Ok(info) => bindings::info_parts(info),
            Err(cause) => return Err(LoadError::Describe { plugin, cause }),
        };
        if kind != found {
            return Err(LoadError::Contract {
                plugin,
                reason: format!(
                    "describe() says it is a {kind}, but it exports the {found} functions"
                ),
            });
        }
        let settings_schema: serde_json::Value =
            serde_json::from_str(&schema_text).map_err(|e| LoadError::BadSchema {
                plugin: plugin.clone(),
                reason: format!("not JSON: {e}"),
            })?;
        inner.info = PluginInfo {
            name,
            version,
            kind,
            description,
            settings_schema,
        };
        Ok(inner)
    }
}

/// A counting semaphore: callers wait for a free permit.
struct Permits {
    free: Mutex<usize>,
    cond: Condvar,
}

impl Permits {
    fn new(n: usize) -> Self {
        Permits {
            free: Mutex::new(n.max(1)),
            cond: Condvar::new(),
        }
    }
}

/// Which of the runtime's limits a [`Permit`] counts against.
#[derive(Clone, Copy)]
enum Kind {
    /// A live instance (a slot of the pooling allocator).
    Instance,
    /// A running call (a CPU).
    Running,
}

/// One taken permit, given back on drop.
struct Permit(Arc<RuntimeInner>, Kind);

impl Permit {
    fn acquire(runtime: &Arc<RuntimeInner>, kind: Kind) -> Permit {
        let permits = runtime.permits(kind);
        let mut free = permits.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = permits.cond.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Permit(runtime.clone(), kind)
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let permits = self.0.permits(self.1);
        *permits.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        permits.cond.notify_one();
    }
}

impl RuntimeInner {
    fn permits(&self, kind: Kind) -> &Permits {
        match kind {
            Kind::Instance => &self.instances,
            Kind::Running => &self.running,
        }
    }
}

/// The wall clock behind every deadline: a thread that advances the engine's epoch
/// once per [`limits::EPOCH_TICK`], counting ticks from its start (not one per sleep, so
/// oversleeping does not stretch deadlines). Stops when the engine is dropped.
struct Ticker {
    start: Instant,
    /// Epoch increments made so far (the engine's epoch).
    done: std::sync::atomic::AtomicU64,
}

impl Ticker {
    fn spawn(engine: &Engine) -> std::io::Result<Arc<Ticker>> {
        let ticker = Arc::new(Ticker {
            start: Instant::now(),
            done: std::sync::atomic::AtomicU64::new(0),
        });
        let weak = engine.weak();
        let t = ticker.clone();
        std::thread::Builder::new()
            .name("seam-epoch".into())
            .spawn(move || loop {
                std::thread::sleep(limits::EPOCH_TICK);
                let Some(engine) = weak.upgrade() else { break };
                let due = t.due();
                while t.done.load(std::sync::atomic::Ordering::Relaxed) < due {
                    engine.increment_epoch();
                    t.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })?;
        Ok(ticker)
    }

    /// Ticks of wall-clock time since the start.
    fn due(&self) -> u64 {
        (self.start.elapsed().as_nanos() / limits::EPOCH_TICK.as_nanos().max(1)) as u64
    }

    /// How far the engine's epoch is behind the wall clock: a deadline set now must add
    /// it, or the ticker catching up would end the call early.
    fn lag(&self) -> u64 {
        self.due()
            .saturating_sub(self.done.load(std::sync::atomic::Ordering::Relaxed))
    }
}

enum Pre {
    Gate(GatePre<StoreState>),
    Router(RouterPre<StoreState>),
}

/// A loaded plugin with its validated settings: immutable, cheap to clone, and safe
/// to call from many threads at once (every call gets its own instance).
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

struct PluginInner {
    name: String,
    digest: String,
    info: PluginInfo,
    settings: String,
    limits: Limits,
    runtime: Arc<RuntimeInner>,
    pre: Pre,
}

/// What one call produced, with its log and duration.
struct Call<T> {
    result: Result<T, ErrorCause>,
    log: String,
    log_truncated: bool,
    duration: Duration,
}

impl PluginInner {
    /// A fresh store with this plugin's memory limit and log cap.
    fn new_store(&self) -> Store<StoreState> {
        let limits = &self.limits;
        let mut store = Store::new(
            &self.runtime.engine,
            StoreState::new(limits.memory_bytes, limits.max_log_bytes),
        );
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_trap();
        store
    }

    /// Starts the deadline (and fuel budget) for the next call on `store`.
    fn arm(&self, store: &mut Store<StoreState>) {
        store.set_epoch_deadline(
            self.limits
                .deadline_ticks()
                .saturating_add(self.runtime.ticker.lag()),
        );
        if let Some(fuel) = self.limits.fuel {
            // Cannot fail: fuel metering is on whenever a budget is set (checked at load).
            let _ = store.set_fuel(fuel);
        }
    }

    /// Runs `f` in a fresh store, holding a pool slot, and collects its log.
    fn call<T>(
        &self,
        f: impl FnOnce(&mut Store<StoreState>, &Pre) -> wasmtime::Result<T>,
    ) -> Call<T> {
        let _instance = Permit::acquire(&self.runtime, Kind::Instance);
        let _running = Permit::acquire(&self.runtime, Kind::Running);
        let started = Instant::now();
        let mut store = self.new_store();
        self.arm(&mut store);
        let result = f(&mut store, &self.pre).map_err(|e| self.cause(&e, &store));
        let duration = started.elapsed();
        let (log, log_truncated) = store.data().log.take();
        Call {
            result,
            log,
            log_truncated,
            duration,
        }
    }

    fn cause(&self, err: &wasmtime::Error, store: &Store<StoreState>) -> ErrorCause {
        let memory_hit = store.data().limiter.memory_hit;
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => ErrorCause::Timeout {
                deadline_ms: self.limits.deadline_ms,
            },
            Some(Trap::OutOfFuel) => ErrorCause::OutOfFuel {
                fuel: self.limits.fuel.unwrap_or_default(),
            },
            Some(Trap::StackOverflow) => ErrorCause::StackOverflow,
            _ if memory_hit => ErrorCause::OutOfMemory {
                limit_bytes: self.limits.memory_bytes,
            },
            Some(trap) => {
                let mut message = trap.to_string();
                match trap {
                    Trap::UnreachableCodeReached => {
                        message.push_str(" (a Rust plugin panics this way)");
                    }
                    Trap::MemoryOutOfBounds => {
                        message.push_str(
                            " (often a stack overflow in the plugin, e.g. unbounded recursion)",
                        );
                    }
                    _ => {}
                }
                if let Some(panic) = panic_message(&store.data().log.peek()) {
                    message.push_str(&format!("; {panic}"));
                }
                ErrorCause::Trap { message }
            }
            None => ErrorCause::Instantiate {
                message: format!("{err:#}"),
            },
        }
    }

    fn payload_cap(&self, handoff: &Handoff) -> Result<(), ErrorCause> {
        let size = handoff.payload.len() + handoff.context.len();
        if size > self.limits.max_payload_bytes {
            return Err(ErrorCause::PayloadTooLarge {
                size,
                limit: self.limits.max_payload_bytes,
            });
        }
        Ok(())
    }
}

/// The panic line a Rust plugin printed to stderr before trapping, joined with the
/// message on the line after it: `panicked at src/lib.rs:9:5: boom`.
fn panic_message(log: &str) -> Option<String> {
    let mut lines = log.lines();
    while let Some(line) = lines.next() {
        if let Some(at) = line.find("panicked at ") {
            let place = line[at..].trim_end_matches(':');
            return Some(match lines.next() {
                Some(msg) => format!("{place}: {msg}"),
                None => place.to_string(),
            });
        }
    }
    None
}

/// The outcome of one gate check: a verdict, or an error verdict with its cause.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    Verdict(Verdict),
    Error(ErrorCause),
}

impl Outcome {
    /// Whether the gate answered and its verdict passed.
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Verdict(v) if v.passed)
    }

    /// The verdict, if the gate answered.
    pub fn verdict(&self) -> Option<&Verdict> {
        match self {
            Outcome::Verdict(v) => Some(v),
            Outcome::Error(_) => None,
        }
    }

    /// The cause, if the call ended in an error verdict.
    pub fn error(&self) -> Option<&ErrorCause> {
        match self {
            Outcome::Verdict(_) => None,
            Outcome::Error(e) => Some(e),
        }
    }
}

/// One gate check, as reported to callers, the CLI and (later) the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The plugin's name as loaded.
    pub gate: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall-clock time of the call, including instantiation.
    #[serde(serialize_with = "micros")]
    pub duration: Duration,
    /// The plugin's stdout, stderr and `host.log` lines.
    pub log: String,
    pub log_truncated: bool,
}

impl CheckReport {
    /// The error verdict in words, naming the plugin and the seam: `plugin `x` timed out…`.
    pub fn error_message(&self, handoff: &Handoff) -> Option<String> {
        self.outcome
            .error()
            .map(|cause| format!("plugin `{}`{} {cause}", self.gate, handoff.seam_label()))
    }
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

/// One routing decision, or the error that prevented it.
#[derive(Debug, Clone, Serialize)]
pub struct RouteReport {
    pub router: String,
    pub route: Result<Route, ErrorCause>,
    #[serde(serialize_with = "micros")]
    pub duration: Duration,
    pub log: String,
    pub log_truncated: bool,
}

impl Plugin {
    /// The name the plugin was loaded under.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// What the plugin said about itself.
    pub fn info(&self) -> &PluginInfo {
        &self.inner.info
    }

    /// SHA-256 of the component's bytes.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// The limits this plugin runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// Checks one handoff in a fresh, sandboxed instance. Never fails: anything that
    /// goes wrong is an error verdict in the report.
    pub fn check(&self, handoff: &Handoff) -> CheckReport {
        let p = &self.inner;
        let call = match p.payload_cap(handoff) {
            Err(cause) => Call {
                result: Err(cause),
                log: String::new(),
                log_truncated: false,
                duration: Duration::ZERO,
            },
            Ok(()) => {
                let wit_handoff = handoff.into();
                p.call(|store, pre| match pre {
                    Pre::Gate(pre) => {
                        let gate = pre.instantiate(&mut *store)?;
                        gate.call_check(&mut *store, &p.settings, &wit_handoff)
                    }
                    Pre::Router(_) => Ok(Err("this plugin is a router, not a gate".into())),
                })
            }
        };
        let outcome = outcome_of(call.result, &p.limits);
        CheckReport {
            gate: p.name.clone(),
            outcome,
            duration: call.duration,
            log: call.log,
            log_truncated: call.log_truncated,
        }
    }

    /// Routes one handoff given the seam's gate verdicts, in a fresh instance.
    pub fn route(&self, handoff: &Handoff, verdicts: &[GateVerdict]) -> RouteReport {
        let p = &self.inner;
        let call = match p.payload_cap(handoff) {
            Err(cause) => Call {
                result: Err(cause),
                log: String::new(),
                log_truncated: false,
                duration: Duration::ZERO,
            },
            Ok(()) => {
                let wit_handoff = handoff.into();
                let wit_verdicts: Vec<_> = verdicts.iter().map(Into::into).collect();
                p.call(|store, pre| match pre {
                    Pre::Router(pre) => {
                        let router = pre.instantiate(&mut *store)?;
                        router.call_route(&mut *store, &p.settings, &wit_handoff, &wit_verdicts)
                    }
                    Pre::Gate(_) => Ok(Err("this plugin is a gate, not a router".into())),
                })
            }
        };
        let route = match call.result {
            Err(cause) => Err(cause),
            Ok(Err(message)) => Err(ErrorCause::Plugin { message }),
            Ok(Ok(route)) => vet_route(route.into(), &p.limits),
        };
        RouteReport {
            router: p.name.clone(),
            route,
            duration: call.duration,
            log: call.log,
            log_truncated: call.log_truncated,
        }
    }
}

/// What a gate's call amounts to: its verdict once vetted, or the error verdict.
fn outcome_of(
    result: Result<Result<bindings::WitVerdict, String>, ErrorCause>,
    limits: &Limits,
) -> Outcome {
    match result {
        Err(cause) => Outcome::Error(cause),
        Ok(Err(message)) => Outcome::Error(ErrorCause::Plugin { message }),
        Ok(Ok(verdict)) => match vet_verdict(verdict.into(), limits) {
            Ok(v) => Outcome::Verdict(v),
            Err(cause) => Outcome::Error(cause),
        },
    }
}

/// A gate kept in one live instance that serves many checks: the opt-in reuse mode.
///
/// Much faster than a fresh instance per check, but state survives from one check to
/// the next (a plugin could carry data between handoffs), so it is only for one plugin
/// with one set of settings, owned by one caller. Deadlines, fuel, caps and the log
/// still apply per check; after an error verdict the instance is dropped and the next
/// check starts a fresh one. The live instance holds one slot of the instance pool.
pub struct WarmGate {
    plugin: Plugin,
    live: Option<(Permit, Store<StoreState>, bindings::Gate)>,
}

impl Plugin {
    /// This gate in reuse mode (see [`WarmGate`]).
    pub fn warm(&self) -> WarmGate {
        WarmGate {
            plugin: self.clone(),
            live: None,
        }
    }
}

impl WarmGate {
    /// Checks one handoff on the live instance, starting one first if there is none.
    pub fn check(&mut self, handoff: &Handoff) -> CheckReport {
        let p = &self.plugin.inner;
        let Pre::Gate(pre) = &p.pre else {
            return self.plugin.check(handoff);
        };
        if p.payload_cap(handoff).is_err() {
            return self.plugin.check(handoff);
        }
        // Instance before running, in the same order as fresh calls: no deadlock.
        let slot = match self.live.is_none() {
            true => Some(Permit::acquire(&p.runtime, Kind::Instance)),
            false => None,
        };
        let _running = Permit::acquire(&p.runtime, Kind::Running);
        let started = Instant::now();
        if let Some(slot) = slot {
            let mut store = p.new_store();
            p.arm(&mut store);
            match pre.instantiate(&mut store) {
                Ok(gate) => self.live = Some((slot, store, gate)),
                Err(e) => {
                    let cause = p.cause(&e, &store);
                    let (log, log_truncated) = store.data().log.take();
                    return CheckReport {
                        gate: p.name.clone(),
                        outcome: Outcome::Error(cause),
                        duration: started.elapsed(),
                        log,
                        log_truncated,
                    };
                }
            }
        }
        let (_, store, gate) = self.live.as_mut().expect("started above");
        p.arm(store);
        let result = gate
            .call_check(&mut *store, &p.settings, &handoff.into())
            .map_err(|e| p.cause(&e, store));
        let duration = started.elapsed();
        let (log, log_truncated) = store.data().log.take();
        let outcome = outcome_of(result, &p.limits);
        if outcome.error().is_some() {
            self.live = None;
        }
        CheckReport {
            gate: p.name.clone(),
            outcome,
            duration,
            log,
            log_truncated,
        }
    }
}

/// Checks a verdict against the caps and the contract's rules.
fn vet_verdict(v: Verdict, limits: &Limits) -> Result<Verdict, ErrorCause> {
    if v.findings.len() > limits.max_findings {
        return Err(ErrorCause::OutputTooLarge {
            what: "verdict (findings)".into(),
            size: v.findings.len(),
            limit: limits.max_findings,
        });
    }
    let size: usize = v
        .findings
        .iter()
        .map(|f| f.code.len() + f.message.len() + f.path.as_ref().map_or(0, String::len))
        .sum::<usize>()
        + v.fix.as_ref().map_or(0, String::len);
    if size > limits.max_verdict_bytes {
        return Err(ErrorCause::OutputTooLarge {
            what: "verdict (bytes)".into(),
            size,
            limit: limits.max_verdict_bytes,
        });
    }
    let malformed = |reason: String| Err(ErrorCause::Malformed { reason });
    if let Some(score) = v.score {
        if !(0.0..=1.0).contains(&score) {
            return malformed(format!("score {score} is outside [0, 1]"));
        }
    }
    for (i, f) in v.findings.iter().enumerate() {
        if f.code.trim().is_empty() {
            return malformed(format!("finding {i} has an empty code"));
        }
        if let Some(path) = &f.path {
            if !path.is_empty() && !path.starts_with('/') {
                return malformed(format!(
                    "finding {i} (`{}`) has path {path:?}, which is not a JSON pointer",
                    f.code
                ));
            }
        }
        if let Some(span) = f.span {
            if span.start > span.end {
                return malformed(format!(
                    "finding {i} (`{}`) has span {}..{}, which ends before it starts",
                    f.code, span.start, span.end
                ));
            }
        }
    }
    if let Some(fix) = &v.fix {
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(fix) {
            return malformed(format!("the fix is not valid JSON: {e}"));
        }
    }
    Ok(v)
}

/// Checks a route against the caps and the contract's rules.
fn vet_route(r: Route, limits: &Limits) -> Result<Route, ErrorCause> {
    let size = r.target.len() + r.reason.len();
    if size > limits.max_verdict_bytes {
        return Err(ErrorCause::OutputTooLarge {
            what: "route (bytes)".into(),
            size,
            limit: limits.max_verdict_bytes,
        });
    }
    if r.target.trim().is_empty() {
        return Err(ErrorCause::Malformed {
            reason: "the route has an empty target".into(),
        });
    }
    Ok(r)
}

/// Runs several gates on one handoff concurrently (one blocking task each) and returns
/// their reports in the order of `gates`.
pub async fn check_all(gates: &[Plugin], handoff: &Handoff) -> Vec<CheckReport> {
    let handoff = Arc::new(handoff.clone());
    let tasks: Vec<_> = gates
        .iter()
        .map(|gate| {
            let (gate, handoff) = (gate.clone(), handoff.clone());
            tokio::task::spawn_blocking(move || gate.check(&handoff))
        })
        .collect();
    let mut reports = Vec::with_capacity(tasks.len());
    for (task, gate) in tasks.into_iter().zip(gates) {
        reports.push(task.await.unwrap_or_else(|e| CheckReport {
            gate: gate.name().to_string(),
            outcome: Outcome::Error(ErrorCause::Trap {
                message: format!("the host task running the check failed: {e}"),
            }),
            duration: Duration::ZERO,
            log: String::new(),
            log_truncated: false,
        }));
    }
    reports
}
