//! The sandboxed plugin runtime: one wasmtime engine, plugins loaded into immutable
//! [`Plugin`] handles, and a fresh store for every call.
//!
//! This module owns compiling, vetting and calling plugins. It must not decide what a
//! verdict means for a pipeline: it returns verdicts and error verdicts as data.
//!
//! ```no_run
//! use seam_runtime::{Runtime, RuntimeConfig, Limits};
//! use seam_types::{Handoff, PluginKind};
//!
//! let runtime = Runtime::new(RuntimeConfig::default())?;
//! let source = seam_runtime::standard("max-words").unwrap();
//! let gate = runtime.load(&source, PluginKind::Gate, &serde_json::json!({"max_words": 40}), Limits::default())?;
//! let report = gate.check_blocking(&Handoff::text("Block the noise, keep the music."));
//! assert!(report.outcome.passed());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bindings;
pub mod cache;
mod deadline;
mod error;
pub mod limits;
mod prepare;
mod recycle;
mod sandbox;
mod schema;
pub mod std_plugins;
mod vet;

use std::borrow::Cow;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use wasmtime::component::{Component, Linker};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap,
    UpdateDeadline,
};

use bindings::{v2, GatePre, RouterPre};
pub use cache::Cache;
use deadline::{DeadlinePassed, Meter, Metered};
pub use error::{ErrorCause, LoadError, SettingsProblem};
pub use limits::Limits;
pub use prepare::Preparation;
use sandbox::StoreState;
use seam_types::{GateVerdict, Handoff, PluginInfo, PluginKind, Route, Verdict};

/// Versions of the `seam:plugin` contract this host runs.
pub const SUPPORTED_CONTRACTS: &[&str] = &["0.1.0", "0.2.0"];

/// The WIT text of each supported contract, oldest first; the last is the one new
/// plugins target (`seam wit` writes them).
pub const CONTRACT_WIT: &[(&str, &str)] = &[
    ("0.1.0", include_str!("../../../wit/0.1.0/seam.wit")),
    ("0.2.0", include_str!("../../../wit/seam.wit")),
];

/// A version of the `seam:plugin` contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Contract {
    /// `seam:plugin@0.1.0`: `check(settings, handoff)`, no `prepare`.
    #[serde(rename = "0.1.0")]
    V0_1,
    /// `seam:plugin@0.2.0`: `prepare(settings)` once, then `check(handoff)`.
    #[serde(rename = "0.2.0")]
    V0_2,
}

impl std::fmt::Display for Contract {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Contract::V0_1 => "0.1.0",
            Contract::V0_2 => "0.2.0",
        })
    }
}

/// Engine-wide settings, fixed for the life of a [`Runtime`]. Every default is a named
/// constant in [`limits::engine`], documented in `docs/sandbox.md`.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Most plugin instances alive at once (the pooling allocator's size; default
    /// 128). A call waits for a free instance before its deadline starts.
    pub max_instances: u32,
    /// Threads that run calls made through the async API (default: the number of CPU
    /// cores). Blocking calls run on the caller's thread.
    pub worker_threads: usize,
    /// Ceiling for any plugin's memory limit, in bytes (default 256 MiB).
    pub max_memory_bytes: usize,
    /// Meter instructions so plugins can be given a fuel budget (default off; costs
    /// some speed for every plugin).
    pub fuel_metering: bool,
    /// Where compiled components are cached (default [`Cache::default_dir`]).
    pub cache: Option<Cache>,
    /// How many memories, core instances and tables one plugin may have.
    pub pool: PoolLimits,
    /// Reset and reuse a gate's instance after a check that ended well, instead of
    /// dropping it (default on). Each check still starts from the state a new
    /// instance would have; see `docs/sandbox.md`, "Recycled instances". Off, every
    /// check makes a new instance.
    pub recycle_instances: bool,
}

/// The pooling allocator's per-plugin limits. Components built from Python or
/// JavaScript have several linear memories and many core instances; the defaults admit
/// componentize-py and componentize-js (QuickJS and StarlingMonkey) components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolLimits {
    /// Linear memories per plugin (default 8).
    pub memories_per_plugin: u32,
    /// Core wasm instances per plugin (default 64).
    pub core_instances_per_plugin: u32,
    /// Tables per plugin (default 64).
    pub tables_per_plugin: u32,
    /// Memories in the whole pool per instance slot, on average (default 4).
    pub memories_per_slot: u32,
    /// Core instances in the whole pool per instance slot, on average (default 32).
    pub core_instances_per_slot: u32,
    /// Tables in the whole pool per instance slot, on average (default 32).
    pub tables_per_slot: u32,
}

impl Default for PoolLimits {
    fn default() -> Self {
        use limits::engine::*;
        PoolLimits {
            memories_per_plugin: MEMORIES_PER_PLUGIN,
            core_instances_per_plugin: CORE_INSTANCES_PER_PLUGIN,
            tables_per_plugin: TABLES_PER_PLUGIN,
            memories_per_slot: MEMORIES_PER_INSTANCE_SLOT,
            core_instances_per_slot: CORE_INSTANCES_PER_INSTANCE_SLOT,
            tables_per_slot: TABLES_PER_INSTANCE_SLOT,
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            max_instances: limits::engine::MAX_INSTANCES,
            worker_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_memory_bytes: limits::engine::MAX_MEMORY_BYTES,
            fuel_metering: false,
            cache: Cache::default_dir().map(Cache::new),
            pool: PoolLimits::default(),
            recycle_instances: true,
        }
    }
}

pub use seam_types::PluginSource;

/// A plugin embedded in `seam` (see [`std_plugins`]), by name.
pub fn standard(name: &str) -> Option<PluginSource> {
    std_plugins::get(name).map(|bytes| PluginSource {
        name: name.to_string(),
        bytes: Cow::Borrowed(bytes),
        named_by_file: false,
    })
}

/// A standard plugin by name, else a `.wasm` file path.
pub fn resolve(spec: &str) -> Result<PluginSource, LoadError> {
    if let Some(source) = standard(spec) {
        return Ok(source);
    }
    let path = Path::new(spec);
    if path.exists() || spec.ends_with(".wasm") || spec.contains('/') {
        return Ok(PluginSource::file(path)?);
    }
    let names = std_plugins::names();
    let hint = nearest(spec, &names)
        .map(|n| format!("did you mean `{n}`? "))
        .unwrap_or_default();
    Err(LoadError::Read {
        plugin: spec.to_string(),
        path: spec.to_string(),
        reason: format!(
            "no standard plugin has this name and no such file exists; {hint}standard plugins: {}",
            names.join(", ")
        ),
    })
}

/// The candidate closest to `name` by edit distance, when it is close enough to be what
/// was meant (at most a third of the name's length, and at most 3 edits).
pub fn nearest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).clamp(1, 3);
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|&(d, _)| d <= limit)
        .min()
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters (`_` and `-` count as the same).
fn edit_distance(a: &str, b: &str) -> usize {
    let norm = |c: char| {
        if c == '_' {
            '-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    let a: Vec<char> = a.chars().map(norm).collect();
    let b: Vec<char> = b.chars().map(norm).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let next = (row[j + 1] + 1).min(row[j] + 1).min(prev + cost);
            prev = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
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

/// The seam runtime: an engine, a linker with the deny-all host, an epoch ticker and
/// the threads that run async calls. Cheap to clone; clones share everything.
///
/// Every call is async at heart ([`Plugin::check`], [`Plugin::route`],
/// [`check_all`]) and safe to await on any tokio runtime (current-thread or
/// multi-thread, with or without timers): the call runs on the runtime's own
/// threads. The `*_blocking` forms run the call on the caller's thread, for code
/// that is not async (the CLI).
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    engine: Engine,
    linker: Linker<StoreState>,
    config: RuntimeConfig,
    /// Free instance slots of the pooling allocator.
    instances: Arc<tokio::sync::Semaphore>,
    executor: Executor,
    /// Why the configured cache was set aside.
    cache_unusable: Option<String>,
    /// Every plugin's recycled instances.
    shelves: Arc<recycle::Shelves>,
    /// Compiled functions, while a load is under way.
    functions: Arc<cache::FunctionCache>,
}

/// The runtime's own tokio runtime (with timers, which WASI clocks and deadlines
/// need), shut down without blocking when the last [`Runtime`] clone is dropped, even
/// from inside async code.
struct Executor(Option<tokio::runtime::Runtime>);

impl Drop for Executor {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl RuntimeInner {
    fn handle(&self) -> &tokio::runtime::Handle {
        self.executor
            .0
            .as_ref()
            .expect("the executor lives as long as the runtime")
            .handle()
    }

    /// Runs `task` on the runtime's threads and awaits it from any executor.
    async fn spawn<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, ErrorCause> {
        self.handle().spawn(task).await.map_err(host_failure)
    }

    /// Runs `task` in the caller's task when `cheap` and the caller's executor is one
    /// thread (no thread hop; this runtime's context is entered on every poll, so its
    /// timers serve the call's deadline and WASI clocks on any executor), otherwise on
    /// the runtime's threads. A panic in the task is an error either way, as it is for
    /// a spawned task.
    ///
    /// A multi-thread runtime's workers are left alone, as before: they serve a
    /// server's other requests, and `seam serve`'s load benchmark showed no gain from
    /// running its checks on them (peaks of 24 973–29 595 handoffs/s either way, run to
    /// run).
    async fn run<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
        cheap: bool,
    ) -> Result<T, ErrorCause> {
        let one_thread = tokio::runtime::Handle::try_current().map_or(true, |caller| {
            caller.runtime_flavor() == tokio::runtime::RuntimeFlavor::CurrentThread
        });
        if !(cheap && one_thread) {
            return self.spawn(task).await;
        }
        let handle = self.handle().clone();
        let mut task = std::pin::pin!(task);
        std::future::poll_fn(|cx| {
            let _entered = handle.enter();
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.as_mut().poll(cx)))
            {
                Ok(polled) => polled.map(Ok),
                Err(_) => std::task::Poll::Ready(Err(ErrorCause::Host {
                    message: "the host task running the call panicked".into(),
                })),
            }
        })
        .await
    }

    /// Runs `task` to completion on this thread (or, inside some other async runtime,
    /// on the runtime's threads while this thread waits).
    fn block_on<T: Send + 'static>(
        &self,
        task: impl Future<Output = T> + Send + 'static,
    ) -> Result<T, ErrorCause> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Ok(self.handle().block_on(task));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = tx.send(task.await);
        });
        rx.recv().map_err(|_| ErrorCause::Host {
            message: "the host task running the call stopped before answering".into(),
        })
    }
}

fn host_failure(e: tokio::task::JoinError) -> ErrorCause {
    ErrorCause::Host {
        message: format!("the host task running the call failed: {e}"),
    }
}

impl Runtime {
    /// Builds the engine (pooling allocator, epoch interruption, optional fuel), starts
    /// the epoch ticker (which stops when the engine is dropped) and the call threads.
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        use limits::engine::{KEEP_RESIDENT_MEMORY_BYTES, KEEP_RESIDENT_TABLE_BYTES};
        let n = config.max_instances.max(1);
        let p = config.pool;
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(p.core_instances_per_slot))
            .total_memories(n.saturating_mul(p.memories_per_slot))
            .total_tables(n.saturating_mul(p.tables_per_slot))
            .total_stacks(n)
            .max_core_instances_per_component(p.core_instances_per_plugin)
            .max_memories_per_component(p.memories_per_plugin)
            .max_tables_per_component(p.tables_per_plugin)
            .max_memory_size(config.max_memory_bytes)
            .linear_memory_keep_resident(KEEP_RESIDENT_MEMORY_BYTES)
            .table_keep_resident(KEEP_RESIDENT_TABLE_BYTES)
            // Where the kernel has PAGEMAP_SCAN (Linux 6.7+), reset only the pages an
            // instance touched, instead of the whole kept-resident range.
            .pagemap_scan(wasmtime::Enabled::Auto);
        let mut c = Config::new();
        c.allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .epoch_interruption(true)
            .consume_fuel(config.fuel_metering)
            .wasm_component_model(true)
            .max_wasm_stack(limits::MAX_WASM_STACK_BYTES)
            .async_stack_size(limits::CALL_STACK_BYTES);
        let functions = Arc::new(cache::FunctionCache::default());
        c.enable_incremental_compilation(functions.clone())?;
        let engine = Engine::new(&c)?;
        let mut config = config;
        let cache_unusable = match &config.cache {
            Some(cache) => cache.prepare().err(),
            None => None,
        };
        if cache_unusable.is_some() {
            config.cache = None;
        }
        if let Some(cache) = &config.cache {
            functions.keep_in(cache.functions_path(&engine));
        }
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        bindings::gate::Gate::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )?;
        bindings::v2::Gate::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
            &mut linker,
            |s| s,
        )?;
        add_module_loader_stub(&mut linker)?;
        spawn_ticker(&engine)
            .map_err(|e| anyhow::anyhow!("starting the epoch ticker thread: {e}"))?;
        let executor = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads.max(1))
            .thread_name("seam-call")
            .enable_time()
            .build()
            .map_err(|e| anyhow::anyhow!("starting the call threads: {e}"))?;
        Ok(Runtime {
            inner: Arc::new(RuntimeInner {
                instances: Arc::new(tokio::sync::Semaphore::new(n as usize)),
                executor: Executor(Some(executor)),
                engine,
                linker,
                config,
                cache_unusable,
                shelves: Arc::new(recycle::Shelves::new(n)),
                functions,
            }),
        })
    }

    /// Why the configured compile cache cannot be used (then every start compiles
    /// every plugin), or `None` when it is in use or none was configured.
    pub fn cache_unusable(&self) -> Option<&str> {
        self.inner.cache_unusable.as_deref()
    }

    /// The engine-wide configuration.
    pub fn config(&self) -> &RuntimeConfig {
        &self.inner.config
    }

    /// Compiles (or loads from the cache), vets and describes a plugin, then validates
    /// `settings` against its schema. Refuses anything that is not a component of the
    /// `expected` kind importing only allowed interfaces. Blocking: compiling a large
    /// component takes seconds; from async code use [`load_async`](Self::load_async).
    ///
    /// A `seam:plugin@0.2.0` plugin is then prepared: `prepare(settings)` runs once, and
    /// every call starts from a snapshot of the prepared instance ([`Preparation`]);
    /// settings that `prepare` refuses are a load error.
    pub fn load(
        &self,
        source: &PluginSource,
        expected: PluginKind,
        settings: &serde_json::Value,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        let _loading = self.inner.functions.loading();
        let code = code_of(source);
        let (mut inner, snapshotting) = self.open(source, code, Some(expected), limits)?;
        schema::validate_settings(&inner.name, &inner.info.settings_schema, settings)?;
        inner.settings = settings.to_string();
        if inner.pre.contract() == Contract::V0_2 {
            self.prepare(&mut inner, code, snapshotting)?;
        }
        let refused = if !self.inner.config.recycle_instances {
            Err("recycling is off in the runtime's configuration".to_string())
        } else if inner.preparation.each_call() {
            // A reset would undo `prepare`: there is no snapshot to reset to.
            Err("every call runs prepare first".to_string())
        } else {
            vet::reusable(code)
        };
        match refused {
            Ok(()) => inner.shelf = Some(self.inner.shelves.shelf()),
            Err(reason) => inner.not_recycled = Some(reason),
        }
        Ok(Plugin {
            inner: Arc::new(inner),
        })
    }

    /// [`load`](Self::load) on the runtime's blocking pool, for async callers.
    pub async fn load_async(
        &self,
        source: PluginSource,
        expected: PluginKind,
        settings: serde_json::Value,
        limits: Limits,
    ) -> Result<Plugin, LoadError> {
        let runtime = self.clone();
        let name = source.name.clone();
        self.inner
            .handle()
            .spawn_blocking(move || runtime.load(&source, expected, &settings, limits))
            .await
            .unwrap_or_else(|e| {
                Err(LoadError::Describe {
                    plugin: name,
                    cause: host_failure(e),
                })
            })
    }

    /// The interfaces a component imports, as written in it (reads the binary; compiles
    /// and runs nothing).
    pub fn imports(&self, source: &PluginSource) -> Result<Vec<String>, LoadError> {
        check_header(source)?;
        Ok(shape_of(source)?.imports)
    }

    /// Compiles `code`, the component of `source` that runs ([`code_of`]), or loads it
    /// from the cache; returns it with the SHA-256 of `source`'s bytes, which name the
    /// plugin.
    fn compile(
        &self,
        source: &PluginSource,
        code: &[u8],
    ) -> Result<(Component, String), LoadError> {
        let rt = &self.inner;
        let digest = seam_types::sha256_hex(&source.bytes);
        let compiled = match &rt.config.cache {
            Some(cache) => {
                let key = code_digest(source, code, &digest);
                cache
                    .load_or_compile(&rt.engine, &key, code)
                    .map(|(c, _)| c)
            }
            None => Component::new(&rt.engine, code),
        };
        let component = compiled.map_err(|e| LoadError::Compile {
            plugin: source.name.clone(),
            reason: format!("{e:#}"),
        })?;
        Ok((component, digest))
    }

    /// What a plugin says about itself (gate or router), without any settings: the
    /// same vetting as [`load`](Self::load), then `describe()` under `limits`.
    pub fn describe(
        &self,
        source: &PluginSource,
        limits: Limits,
    ) -> Result<(PluginInfo, String), LoadError> {
        let _loading = self.inner.functions.loading();
        let (inner, _) = self.open(source, code_of(source), None, limits)?;
        Ok((inner.info, inner.digest))
    }

    /// Vets, compiles, links and describes a plugin. A `seam:plugin@0.2.0` plugin is
    /// compiled in the instrumented form its snapshot is made from, when it has one
    /// (see [`prepare`]): `describe()` runs the same in it, and a first load compiles
    /// the component twice (instrumented, then the snapshot) instead of three times.
    fn open(
        &self,
        source: &PluginSource,
        code: &[u8],
        expected: Option<PluginKind>,
        limits: Limits,
    ) -> Result<(PluginInner, prepare::Snapshotting), LoadError> {
        let plugin = source.name.clone();
        let rt = &self.inner;
        check_limits(&plugin, &limits, &rt.config)?;
        check_header(source)?;

        // Everything that can be read off the binary is vetted before compiling.
        let shape = shape_of(source)?;
        let mut contract_version: Option<&str> = None;
        for name in &shape.imports {
            let (interface, version) = vet::split_version(name);
            if !ALLOWED_IMPORTS.contains(&interface) {
                return Err(LoadError::ForbiddenImport {
                    plugin,
                    import: name.clone(),
                });
            }
            if interface.starts_with("seam:plugin/") {
                let version = version.unwrap_or("(none)");
                if !SUPPORTED_CONTRACTS.contains(&version) {
                    return Err(LoadError::UnsupportedContract {
                        plugin,
                        found: version.to_string(),
                        supported: SUPPORTED_CONTRACTS.join(", seam:plugin@"),
                    });
                }
                match contract_version {
                    Some(seen) if seen != version => {
                        return Err(LoadError::Contract {
                            plugin,
                            reason: format!(
                                "it imports two versions of the contract, seam:plugin@{seen} and seam:plugin@{version}; build it against one"
                            ),
                        })
                    }
                    _ => contract_version = Some(version),
                }
            }
        }
        let has = |n: &str| shape.functions.iter().any(|e| e == n);
        let found = match (has("check"), has("route")) {
            (true, false) => PluginKind::Gate,
            (false, true) => PluginKind::Router,
            _ => {
                let exports = if shape.functions.is_empty() {
                    "no functions".to_string()
                } else {
                    shape
                        .functions
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
        let contract =
            match (contract_version, has("prepare")) {
                (Some("0.2.0") | None, true) => Contract::V0_2,
                (Some("0.1.0") | None, false) => Contract::V0_1,
                (Some(version), prepare) => {
                    return Err(LoadError::Contract {
                        plugin,
                        reason: format!(
                        "it imports seam:plugin@{version} but {} `prepare`, which that version {}",
                        if prepare { "exports" } else { "does not export" },
                        if prepare { "does not have" } else { "requires" },
                    ),
                    })
                }
            };

        let (component, digest, snapshotting) = match contract {
            Contract::V0_2 => self.compile_instrumented(source, code)?,
            Contract::V0_1 => {
                let (component, digest) = self.compile(source, code)?;
                (component, digest, prepare::Snapshotting::NotNeeded)
            }
        };
        let pre = self
            .pre(&component, found, contract)
            .map_err(|e| LoadError::Contract {
                plugin: plugin.clone(),
                reason: format!("{e:#}"),
            })?;

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
            preparation: Preparation::None,
            cost_ns: Arc::default(),
            shelf: None,
            not_recycled: None,
        };
        let call = self
            .inner
            .block_on(Arc::new(inner.clone()).call(Request::Describe))
            .unwrap_or_else(Call::failed);
        let info = match call.result {
            Ok(Answer::Info(info)) => info,
            Ok(_) => unreachable!("describe answers with plugin info"),
            Err(cause) => return Err(LoadError::Describe { plugin, cause }),
        };
        let (name, version, kind, description, schema_text) = bindings::info_parts(info);
        if kind != found {
            return Err(LoadError::Contract {
                plugin,
                reason: format!(
                    "describe() says it is a {kind}, but it exports the {found} functions"
                ),
            });
        }
        let settings_schema = schema::parse(&plugin, &schema_text)?;
        if source.named_by_file && !name.trim().is_empty() {
            inner.name = name.clone();
        }
        inner.info = PluginInfo {
            name,
            version,
            kind,
            description,
            settings_schema,
        };
        Ok((inner, snapshotting))
    }
}

impl Runtime {
    /// Links a compiled component as a plugin of `kind` under `contract`.
    fn pre(
        &self,
        component: &Component,
        kind: PluginKind,
        contract: Contract,
    ) -> wasmtime::Result<Pre> {
        let instance_pre = self.inner.linker.instantiate_pre(component)?;
        Ok(match (kind, contract) {
            (PluginKind::Gate, Contract::V0_1) => Pre::Gate(GatePre::new(instance_pre)?),
            (PluginKind::Router, Contract::V0_1) => Pre::Router(RouterPre::new(instance_pre)?),
            (PluginKind::Gate, Contract::V0_2) => Pre::Gate2(v2::GatePre::new(instance_pre)?),
            (PluginKind::Router, Contract::V0_2) => Pre::Router2(v2::RouterPre::new(instance_pre)?),
        })
    }
}

/// The digest `code` (the component of `source` that runs, [`code_of`]) is cached
/// under: the file's, `digest`, when it is the whole file; its own when it is the
/// component inside a wrapper, so an entry of the whole wrapper is never taken for it.
fn code_digest(source: &PluginSource, code: &[u8], digest: &str) -> String {
    if code.len() == source.bytes.len() {
        digest.to_string()
    } else {
        seam_types::sha256_hex(code)
    }
}

/// Refuses limits the runtime cannot honour.
fn check_limits(plugin: &str, limits: &Limits, config: &RuntimeConfig) -> Result<(), LoadError> {
    let refuse = |reason: String| {
        Err(LoadError::Limits {
            plugin: plugin.to_string(),
            reason,
        })
    };
    if limits.memory_bytes > config.max_memory_bytes {
        return refuse(format!(
            "memory limit {} bytes is over the runtime's ceiling of {} bytes",
            limits.memory_bytes, config.max_memory_bytes
        ));
    }
    if !(1..=limits::MAX_DEADLINE_MS).contains(&limits.deadline_ms) {
        return refuse(format!(
            "deadline {} ms is outside 1..={} ms",
            limits.deadline_ms,
            limits::MAX_DEADLINE_MS
        ));
    }
    let ranges: [(&str, usize, usize, usize); 5] = [
        (
            "memory_bytes",
            limits.memory_bytes,
            limits::MIN_MEMORY_BYTES,
            limits::MAX_MEMORY_BYTES,
        ),
        (
            "max_payload_bytes",
            limits.max_payload_bytes,
            1,
            limits::MAX_MAX_PAYLOAD_BYTES,
        ),
        (
            "max_verdict_bytes",
            limits.max_verdict_bytes,
            1,
            limits::MAX_MAX_VERDICT_BYTES,
        ),
        (
            "max_findings",
            limits.max_findings,
            1,
            limits::MAX_MAX_FINDINGS,
        ),
        (
            "max_log_bytes",
            limits.max_log_bytes,
            0,
            limits::MAX_MAX_LOG_BYTES,
        ),
    ];
    for (name, value, low, high) in ranges {
        if !(low..=high).contains(&value) {
            return refuse(format!("{name} {value} is outside {low}..={high}"));
        }
    }
    match limits.fuel {
        Some(0) => refuse("a fuel budget of 0 instructions cannot run anything; give at least 1, or no budget".into()),
        Some(_) if !config.fuel_metering => refuse(
            "a fuel budget needs a runtime with fuel metering on (the CLI turns it on by itself: `--fuel N`, or `fuel` in a pipeline file)".into(),
        ),
        _ => Ok(()),
    }
}

fn check_header(source: &PluginSource) -> Result<(), LoadError> {
    let plugin = source.name.clone();
    match source.bytes.get(..8) {
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => Err(LoadError::CoreModule { plugin }),
        Some([0, b'a', b's', b'm', ..]) => Ok(()),
        _ => Err(LoadError::NotWasm {
            plugin,
            reason: "it does not start with the `\\0asm` header".into(),
        }),
    }
}

/// The component of `source` that runs: the component itself, or the one it wraps
/// beside a stub for componentize-js's build-time module loader
/// ([`vet::loader_wrapped`]), which the host's linker stubs the same way. Vetting reads
/// `source` itself; the wrapped component imports nothing more.
fn code_of(source: &PluginSource) -> &[u8] {
    vet::loader_wrapped(&source.bytes)
        .and_then(|range| source.bytes.get(range))
        .unwrap_or(&source.bytes)
}

fn shape_of(source: &PluginSource) -> Result<vet::Shape, LoadError> {
    vet::shape(&source.bytes).map_err(|reason| LoadError::Compile {
        plugin: source.name.clone(),
        reason: format!("the component is malformed: {reason}"),
    })
}

/// componentize-js's module loader ([`vet::MODULE_LOADER`]) as its own stub in the
/// components it builds has it: every call traps. It loads the JavaScript while the
/// component is built; nothing calls it at run time.
fn add_module_loader_stub(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    fn trap() -> wasmtime::Error {
        wasmtime::Error::msg(format!(
            "`{}` is only available while a component is built",
            vet::MODULE_LOADER
        ))
    }
    let mut loader = linker.instance(vet::MODULE_LOADER)?;
    loader.func_wrap(
        "resolve",
        |_, _: (String, String)| -> wasmtime::Result<(Result<String, String>,)> { Err(trap()) },
    )?;
    loader.func_wrap(
        "load",
        |_, _: (String,)| -> wasmtime::Result<(Result<String, String>,)> { Err(trap()) },
    )?;
    Ok(())
}

/// The clock behind every deadline check: a thread that advances the engine's epoch
/// once per [`limits::EPOCH_TICK`], so running wasm is checked against its budget
/// that often. Stops when the engine is dropped.
fn spawn_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("seam-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(limits::EPOCH_TICK);
            let Some(engine) = weak.upgrade() else { break };
            engine.increment_epoch();
        })?;
    Ok(())
}

#[derive(Clone)]
enum Pre {
    Gate(GatePre<StoreState>),
    Router(RouterPre<StoreState>),
    Gate2(v2::GatePre<StoreState>),
    Router2(v2::RouterPre<StoreState>),
}

impl Pre {
    /// The linked component, whatever its contract.
    fn instance_pre(&self) -> &wasmtime::component::InstancePre<StoreState> {
        match self {
            Pre::Gate(pre) => pre.instance_pre(),
            Pre::Router(pre) => pre.instance_pre(),
            Pre::Gate2(pre) => pre.instance_pre(),
            Pre::Router2(pre) => pre.instance_pre(),
        }
    }

    fn contract(&self) -> Contract {
        match self {
            Pre::Gate(_) | Pre::Router(_) => Contract::V0_1,
            Pre::Gate2(_) | Pre::Router2(_) => Contract::V0_2,
        }
    }
}

/// A loaded plugin with its validated settings: immutable, cheap to clone, and safe
/// to call from many threads at once (every call gets its own instance).
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("name", &self.inner.name)
            .field("kind", &self.inner.info.kind)
            .field("digest", &self.inner.digest)
            .field("contract", &self.contract())
            .field("preparation", &self.inner.preparation)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
struct PluginInner {
    name: String,
    digest: String,
    info: PluginInfo,
    settings: String,
    limits: Limits,
    runtime: Arc<RuntimeInner>,
    pre: Pre,
    /// How a 0.2.0 plugin's calls reach its prepared state.
    preparation: Preparation,
    /// Recent cost of a check, in nanoseconds (a moving average; 0 before the first),
    /// shared by clones; [`check_all`] decides from it whether to spread the gates.
    cost_ns: Arc<std::sync::atomic::AtomicU64>,
    /// The plugin's recycled instances ([`recycle`]), when its instances can be reset.
    shelf: Option<Arc<recycle::Shelf>>,
    /// Why the plugin's instances are not recycled.
    not_recycled: Option<String>,
}

/// What a call asks of a plugin.
enum Request<'a> {
    Describe,
    /// `prepare(settings)` alone, in an instance of its own (0.2.0).
    Prepare,
    Check(&'a bindings::WitHandoff),
    Route(&'a bindings::WitHandoff, &'a [bindings::WitGateVerdict]),
}

/// What a plugin answered.
enum Answer {
    Info(bindings::WitPluginInfo),
    Prepared(Result<(), String>),
    Verdict(Result<bindings::WitVerdict, String>),
    Route(Result<bindings::WitRoute, String>),
}

/// Where a call failed: making the instance, or in the call itself.
struct Failure {
    instantiating: bool,
    error: wasmtime::Error,
}

/// What one call produced, with its log and duration.
struct Call<T> {
    result: Result<T, ErrorCause>,
    log: String,
    log_truncated: bool,
    duration: Duration,
}

impl<T> Call<T> {
    fn failed(cause: ErrorCause) -> Self {
        Call {
            result: Err(cause),
            log: String::new(),
            log_truncated: false,
            duration: Duration::ZERO,
        }
    }
}

/// Instantiates the plugin in `store` and makes one call. A 0.2.0 plugin whose calls
/// cannot start from a snapshot runs `prepare(settings)` first, in the same instance.
async fn invoke(
    store: &mut Store<StoreState>,
    p: &PluginInner,
    request: Request<'_>,
) -> Result<Answer, Failure> {
    let instantiating = |error| Failure {
        instantiating: true,
        error,
    };
    let calling = |error| Failure {
        instantiating: false,
        error,
    };
    let settings = p.settings.as_str();
    let prepare_first = p.preparation.each_call() && !matches!(request, Request::Describe);
    match &p.pre {
        Pre::Gate(pre) => {
            let gate = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(instantiating)?;
            match request {
                Request::Describe => gate.call_describe(&mut *store).await.map(Answer::Info),
                Request::Check(h) => gate
                    .call_check(&mut *store, settings, h)
                    .await
                    .map(Answer::Verdict),
                Request::Prepare => Ok(Answer::Prepared(Ok(()))),
                Request::Route(..) => Ok(Answer::Route(Err(
                    "this plugin is a gate, not a router".into()
                ))),
            }
            .map_err(calling)
        }
        Pre::Router(pre) => {
            let router = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(instantiating)?;
            match request {
                Request::Describe => router.call_describe(&mut *store).await.map(Answer::Info),
                Request::Route(h, verdicts) => router
                    .call_route(&mut *store, settings, h, verdicts)
                    .await
                    .map(Answer::Route),
                Request::Prepare => Ok(Answer::Prepared(Ok(()))),
                Request::Check(_) => Ok(Answer::Verdict(Err(
                    "this plugin is a router, not a gate".into(),
                ))),
            }
            .map_err(calling)
        }
        Pre::Gate2(pre) => {
            let gate = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(instantiating)?;
            if prepare_first || matches!(request, Request::Prepare) {
                let prepared = gate
                    .call_prepare(&mut *store, settings)
                    .await
                    .map_err(calling)?;
                if prepared.is_err() || matches!(request, Request::Prepare) {
                    return Ok(Answer::Prepared(prepared));
                }
            }
            match request {
                Request::Describe => gate.call_describe(&mut *store).await.map(Answer::Info),
                Request::Check(h) => gate.call_check(&mut *store, h).await.map(Answer::Verdict),
                Request::Prepare => Ok(Answer::Prepared(Ok(()))),
                Request::Route(..) => Ok(Answer::Route(Err(
                    "this plugin is a gate, not a router".into()
                ))),
            }
            .map_err(calling)
        }
        Pre::Router2(pre) => {
            let router = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(instantiating)?;
            if prepare_first || matches!(request, Request::Prepare) {
                let prepared = router
                    .call_prepare(&mut *store, settings)
                    .await
                    .map_err(calling)?;
                if prepared.is_err() || matches!(request, Request::Prepare) {
                    return Ok(Answer::Prepared(prepared));
                }
            }
            match request {
                Request::Describe => router.call_describe(&mut *store).await.map(Answer::Info),
                Request::Route(h, verdicts) => router
                    .call_route(&mut *store, h, verdicts)
                    .await
                    .map(Answer::Route),
                Request::Prepare => Ok(Answer::Prepared(Ok(()))),
                Request::Check(_) => Ok(Answer::Verdict(Err(
                    "this plugin is a router, not a gate".into(),
                ))),
            }
            .map_err(calling)
        }
    }
}

impl PluginInner {
    /// A fresh store with this plugin's memory limit, log cap and deadline check.
    fn new_store(&self) -> Store<StoreState> {
        let limits = &self.limits;
        let pool = &self.runtime.config.pool;
        let mut store = Store::new(
            &self.runtime.engine,
            StoreState::new(limits.memory_bytes, limits.max_log_bytes, pool),
        );
        store.limiter(|s| &mut s.limiter);
        store.epoch_deadline_callback(|ctx| {
            let passed = ctx
                .data()
                .meter
                .as_ref()
                .is_some_and(|m| m.check_running().is_err());
            Ok(match passed {
                true => UpdateDeadline::Interrupt,
                false => UpdateDeadline::Continue(1),
            })
        });
        store
    }

    /// Starts the deadline (and fuel budget) for the next call on `store`.
    fn arm(&self, store: &mut Store<StoreState>) -> Arc<Meter> {
        self.arm_for(store, self.limits.deadline())
    }

    /// Starts a budget of `deadline` (with its backstop) for the next call on `store`.
    fn arm_for(&self, store: &mut Store<StoreState>, deadline: Duration) -> Arc<Meter> {
        let backstop = deadline.saturating_mul(limits::WALL_BACKSTOP_FACTOR);
        let meter = Meter::new(deadline, backstop);
        store.data_mut().meter = Some(meter.clone());
        // A refused growth in an earlier call on a kept-warm instance says nothing
        // about this one.
        store.data_mut().limiter.last_growth_refused = false;
        store.set_epoch_deadline(1);
        if self.runtime.config.fuel_metering {
            // A plugin without a budget runs unmetered in a metered engine. Cannot fail:
            // metering is on.
            let _ = store.set_fuel(self.limits.fuel.unwrap_or(u64::MAX));
        }
        meter
    }

    /// Waits for a free instance slot, for at most the call's wall-clock backstop
    /// (slots can be held for long by kept-warm gates).
    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ErrorCause> {
        if let Ok(slot) = self.runtime.instances.clone().try_acquire_owned() {
            return Ok(slot);
        }
        // Idle recycled instances give their slots up before anyone waits.
        while self.runtime.shelves.free_one() {
            if let Ok(slot) = self.runtime.instances.clone().try_acquire_owned() {
                return Ok(slot);
            }
        }
        let wait = self.limits.wall_backstop();
        match tokio::time::timeout(wait, self.runtime.instances.clone().acquire_owned()).await {
            Ok(Ok(slot)) => Ok(slot),
            Ok(Err(_)) => Err(ErrorCause::Host {
                message: "the runtime is shutting down".into(),
            }),
            Err(_) => Err(ErrorCause::ResourceLimit {
                message: format!(
                    "no instance slot came free within {} ms: all {} are in use (raise RuntimeConfig::max_instances, or keep fewer gates warm)",
                    wait.as_millis(),
                    self.runtime.config.max_instances
                ),
            }),
        }
    }

    /// Makes one call in a fresh store, holding an instance slot, and collects its log.
    async fn call(self: Arc<Self>, request: Request<'_>) -> Call<Answer> {
        let _slot = match self.slot().await {
            Ok(slot) => slot,
            Err(cause) => return Call::failed(cause),
        };
        let started = Instant::now();
        let mut store = self.new_store();
        self.run(&mut store, request, started).await
    }

    /// Makes one call on an existing store (fresh or kept warm).
    async fn run(
        &self,
        store: &mut Store<StoreState>,
        request: Request<'_>,
        started: Instant,
    ) -> Call<Answer> {
        let meter = self.arm(store);
        let outcome = Metered::new(invoke(store, self, request), meter.clone()).await;
        let result = match outcome {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(failure)) => Err(self.cause(&failure, store, &meter)),
            Err(passed) => Err(self.timeout(passed)),
        };
        let duration = started.elapsed();
        store.data_mut().meter = None;
        let (log, log_truncated) = store.data().log.take();
        Call {
            result,
            log,
            log_truncated,
            duration,
        }
    }

    fn timeout(&self, passed: DeadlinePassed) -> ErrorCause {
        ErrorCause::Timeout {
            deadline_ms: self.limits.deadline_ms,
            wall_clock: passed == DeadlinePassed::Backstop,
        }
    }

    /// The cause of a failed call, in the host's words: what the host itself saw
    /// (its deadline, its limiter, the trap code), never text the plugin wrote.
    fn cause(&self, failure: &Failure, store: &Store<StoreState>, meter: &Meter) -> ErrorCause {
        let err = &failure.error;
        match err.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) => self.timeout(meter.passed().unwrap_or(DeadlinePassed::Budget)),
            Some(Trap::OutOfFuel) => ErrorCause::OutOfFuel {
                fuel: self.limits.fuel.unwrap_or_default(),
            },
            Some(Trap::StackOverflow) => ErrorCause::StackOverflow,
            Some(Trap::UnreachableCodeReached) if store.data().limiter.last_growth_refused => {
                ErrorCause::OutOfMemory {
                    limit_bytes: self.limits.memory_bytes,
                }
            }
            Some(trap) => {
                let hint = match trap {
                    Trap::UnreachableCodeReached => {
                        " (the plugin aborted: a Rust plugin panics this way, a Python or JavaScript one on an uncaught exception; its log may say why)"
                    }
                    Trap::MemoryOutOfBounds => {
                        " (often a stack overflow in the plugin, e.g. unbounded recursion)"
                    }
                    _ => "",
                };
                ErrorCause::Trap {
                    message: format!("{trap}{hint}"),
                }
            }
            None => {
                if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
                    ErrorCause::Exited { code: exit.0 }
                } else if failure.instantiating {
                    ErrorCause::Instantiate {
                        message: format!("{err:#}"),
                    }
                } else {
                    ErrorCause::ResourceLimit {
                        message: format!("{err:#}"),
                    }
                }
            }
        }
    }

    /// Folds a check's duration into the moving average of its cost.
    fn observe(&self, took: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let old = self.cost_ns.load(Relaxed);
        let new = if old == 0 {
            took
        } else {
            old - old / 8 + took / 8
        };
        self.cost_ns.store(new.max(1), Relaxed);
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

/// The outcome of one gate check: a verdict, or an error verdict with its cause.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
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

/// One check by a gate plugin, as reported to callers, the CLI and the ledger. It
/// names the plugin; the gate's name in a seam is the caller's (a pipeline's
/// `GateResult` holds both).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CheckReport {
    /// The plugin's name as loaded.
    pub plugin: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall-clock time of the call, including instantiation.
    #[serde(serialize_with = "micros")]
    #[schemars(with = "u64")]
    pub duration: Duration,
    /// The plugin's stdout, stderr and `host.log` lines.
    pub log: String,
    pub log_truncated: bool,
    /// When the call ended (for traces: it started `duration` before).
    #[serde(skip)]
    #[schemars(skip)]
    pub finished_at: SystemTime,
}

impl CheckReport {
    /// The error verdict in words, naming the plugin and the seam: `plugin `x` timed out…`.
    pub fn error_message(&self, handoff: &Handoff) -> Option<String> {
        self.outcome
            .error()
            .map(|cause| format!("plugin `{}`{} {cause}", self.plugin, handoff.seam_label()))
    }
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

/// One routing decision, or the error that prevented it.
#[derive(Debug, Clone, Serialize)]
pub struct RouteReport {
    /// The router plugin's name as loaded.
    pub plugin: String,
    pub route: Result<Route, ErrorCause>,
    #[serde(serialize_with = "micros")]
    pub duration: Duration,
    pub log: String,
    pub log_truncated: bool,
    /// When the call ended.
    #[serde(skip)]
    pub finished_at: SystemTime,
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

    /// The contract version the plugin was built against.
    pub fn contract(&self) -> Contract {
        self.inner.pre.contract()
    }

    /// How its calls reach the prepared state (a snapshot, or `prepare` before every
    /// call, and why).
    pub fn preparation(&self) -> &Preparation {
        &self.inner.preparation
    }

    /// Whether a gate's checks (a router's routes) run on recycled instances (reset to
    /// the state a new instance has, then reused), or why not: the component's code
    /// could change state a reset does not restore, every call runs `prepare` first,
    /// recycling is off, or wasmtime refused to reset one of its instances.
    pub fn recycling(&self) -> Result<(), String> {
        match (&self.inner.shelf, &self.inner.not_recycled) {
            (Some(shelf), _) if shelf.in_use() => Ok(()),
            (Some(_), _) => Err("wasmtime could not reset its instances".into()),
            (None, Some(reason)) => Err(reason.clone()),
            (None, None) => Err("it was never set up for recycling".into()),
        }
    }

    /// How many reset instances of this plugin wait for its next calls (0 when it is
    /// not recycled).
    pub fn idle_instances(&self) -> usize {
        self.inner.shelf.as_ref().map_or(0, |shelf| shelf.len())
    }

    /// How many of this plugin's resets were quick: no page fault showed that the call
    /// reached a page the reset before had not rewritten, so only those pages were
    /// rewritten, without the kernel's page scan — unless the memory had grown or that
    /// reset had found more than 4096 written regions, which are scanned anyway (see
    /// `docs/sandbox.md`, "Recycled instances").
    pub fn quick_resets(&self) -> u64 {
        self.inner
            .shelf
            .as_ref()
            .map_or(0, |shelf| shelf.quick_resets())
    }

    /// Checks one handoff in a fresh, sandboxed instance. Never fails: anything that
    /// goes wrong is an error verdict in the report. Safe to await on any executor: a
    /// gate whose recent checks were cheap (see [`limits::engine::CHECK_IN_CALLER_NS`])
    /// runs in the caller's task when the caller runs on one thread (a current-thread
    /// runtime, or none), any other on the runtime's own threads.
    pub async fn check(&self, handoff: &Handoff) -> CheckReport {
        let task = self.check_task(handoff);
        let gate = self.inner.name.clone();
        let here = in_caller(std::slice::from_ref(self));
        self.inner
            .runtime
            .run(task, here)
            .await
            .unwrap_or_else(|cause| CheckReport::failed(gate, cause))
    }

    /// [`check`](Self::check) on this thread, for code that is not async.
    pub fn check_blocking(&self, handoff: &Handoff) -> CheckReport {
        let task = self.check_task(handoff);
        self.inner
            .runtime
            .block_on(task)
            .unwrap_or_else(|cause| CheckReport::failed(self.inner.name.clone(), cause))
    }

    fn check_task(&self, handoff: &Handoff) -> impl Future<Output = CheckReport> + Send + 'static {
        let p = self.inner.clone();
        let request: Result<bindings::WitHandoff, _> =
            p.payload_cap(handoff).map(|()| handoff.into());
        async move {
            match request {
                Err(cause) => p.report(Call::failed(cause), ""),
                Ok(handoff) => match p.shelf.as_ref().filter(|s| s.in_use()) {
                    Some(shelf) => {
                        let (call, live) =
                            live_call(&p, shelf.take(), Request::Check(&handoff)).await;
                        p.observe(call.duration);
                        let report = p.report(call, &handoff.payload);
                        if let Some(live) = live.filter(|_| report.outcome.error().is_none()) {
                            shelf.put_back(live);
                        }
                        report
                    }
                    None => {
                        let call = p.clone().call(Request::Check(&handoff)).await;
                        p.observe(call.duration);
                        p.report(call, &handoff.payload)
                    }
                },
            }
        }
    }

    /// Routes one handoff given the seam's gate verdicts, in a fresh instance. Safe to
    /// await on any tokio runtime.
    pub async fn route(&self, handoff: &Handoff, verdicts: &[GateVerdict]) -> RouteReport {
        let task = self.route_task(handoff, verdicts);
        let router = self.inner.name.clone();
        self.inner
            .runtime
            .spawn(task)
            .await
            .unwrap_or_else(|cause| RouteReport::failed(router, cause))
    }

    /// [`route`](Self::route) on this thread, for code that is not async.
    pub fn route_blocking(&self, handoff: &Handoff, verdicts: &[GateVerdict]) -> RouteReport {
        let task = self.route_task(handoff, verdicts);
        self.inner
            .runtime
            .block_on(task)
            .unwrap_or_else(|cause| RouteReport::failed(self.inner.name.clone(), cause))
    }

    fn route_task(
        &self,
        handoff: &Handoff,
        verdicts: &[GateVerdict],
    ) -> impl Future<Output = RouteReport> + Send + 'static {
        let p = self.inner.clone();
        let request: Result<(bindings::WitHandoff, Vec<_>), _> = p
            .payload_cap(handoff)
            .map(|()| (handoff.into(), verdicts.iter().map(Into::into).collect()));
        async move {
            let shelf = p.shelf.as_ref().filter(|s| s.in_use());
            let (call, live) = match (&request, shelf) {
                (Err(cause), _) => (Call::failed(cause.clone()), None),
                (Ok((handoff, verdicts)), Some(shelf)) => {
                    live_call(&p, shelf.take(), Request::Route(handoff, verdicts)).await
                }
                (Ok((handoff, verdicts)), None) => {
                    let call = p.clone().call(Request::Route(handoff, verdicts)).await;
                    (call, None)
                }
            };
            let route = match call.result {
                Err(cause) => Err(cause),
                Ok(Answer::Route(Err(message)) | Answer::Prepared(Err(message))) => {
                    Err(ErrorCause::Plugin { message })
                }
                Ok(Answer::Route(Ok(route))) => vet_route(route.into(), &p.limits),
                Ok(_) => Err(ErrorCause::Host {
                    message: "the call answered with something other than a route".into(),
                }),
            };
            // As for a check: only an instance whose call answered well is reused.
            if let (Some(shelf), Some(live), Ok(_)) = (shelf, live, &route) {
                shelf.put_back(live);
            }
            RouteReport {
                plugin: p.name.clone(),
                route,
                duration: call.duration,
                log: call.log,
                log_truncated: call.log_truncated,
                finished_at: SystemTime::now(),
            }
        }
    }

    /// Calls `describe()` again in a fresh instance (the info given at load is kept in
    /// [`info`](Self::info)); for probing a plugin's behaviour under its limits.
    pub async fn describe(&self) -> Result<PluginInfo, ErrorCause> {
        let p = self.inner.clone();
        let call = self
            .inner
            .runtime
            .spawn(async move { p.call(Request::Describe).await })
            .await?;
        match call.result? {
            Answer::Info(info) => {
                let (name, version, kind, description, schema) = bindings::info_parts(info);
                Ok(PluginInfo {
                    name,
                    version,
                    kind,
                    description,
                    settings_schema: serde_json::from_str(&schema)
                        .unwrap_or(serde_json::Value::Null),
                })
            }
            _ => Err(ErrorCause::Host {
                message: "the call answered with something other than plugin info".into(),
            }),
        }
    }
}

impl PluginInner {
    /// A gate's call as a report.
    fn report(&self, call: Call<Answer>, payload: &str) -> CheckReport {
        let outcome = match call.result {
            Err(cause) => Outcome::Error(cause),
            Ok(Answer::Verdict(Err(message)) | Answer::Prepared(Err(message))) => {
                Outcome::Error(ErrorCause::Plugin { message })
            }
            Ok(Answer::Verdict(Ok(verdict))) => {
                match vet_verdict(verdict.into(), &self.limits, payload) {
                    Ok(v) => Outcome::Verdict(v),
                    Err(cause) => Outcome::Error(cause),
                }
            }
            Ok(_) => Outcome::Error(ErrorCause::Host {
                message: "the call answered with something other than a verdict".into(),
            }),
        };
        CheckReport {
            plugin: self.name.clone(),
            outcome,
            duration: call.duration,
            log: call.log,
            log_truncated: call.log_truncated,
            finished_at: SystemTime::now(),
        }
    }
}

impl CheckReport {
    fn failed(plugin: String, cause: ErrorCause) -> Self {
        CheckReport {
            plugin,
            outcome: Outcome::Error(cause),
            duration: Duration::ZERO,
            log: String::new(),
            log_truncated: false,
            finished_at: SystemTime::now(),
        }
    }
}

impl RouteReport {
    fn failed(plugin: String, cause: ErrorCause) -> Self {
        RouteReport {
            plugin,
            route: Err(cause),
            duration: Duration::ZERO,
            log: String::new(),
            log_truncated: false,
            finished_at: SystemTime::now(),
        }
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
    live: Option<Live>,
}

/// A live instance: its pool slot, store and bindings.
struct Live {
    _slot: tokio::sync::OwnedSemaphorePermit,
    store: Store<StoreState>,
    plugin: LivePlugin,
    /// When it was last reset for reuse, the thread and that thread's page-fault
    /// count ([`recycle`]).
    reset_at: Option<recycle::FaultMark>,
    /// Whether its last call waited, so that it may have run on several threads.
    waited: bool,
}

/// The bindings of a live instance, by kind and contract version.
enum LivePlugin {
    Gate(bindings::Gate),
    Router(bindings::Router),
    Gate2(v2::Gate),
    Router2(v2::Router),
}

impl LivePlugin {
    /// Makes the live instance; a 0.2.0 plugin without a snapshot is prepared in it.
    async fn make(p: &PluginInner, store: &mut Store<StoreState>) -> Result<LivePlugin, Failure> {
        let instantiating = |error| Failure {
            instantiating: true,
            error,
        };
        let made = match &p.pre {
            Pre::Gate(pre) => pre
                .instantiate_async(&mut *store)
                .await
                .map(LivePlugin::Gate),
            Pre::Router(pre) => pre
                .instantiate_async(&mut *store)
                .await
                .map(LivePlugin::Router),
            Pre::Gate2(pre) => pre
                .instantiate_async(&mut *store)
                .await
                .map(LivePlugin::Gate2),
            Pre::Router2(pre) => pre
                .instantiate_async(&mut *store)
                .await
                .map(LivePlugin::Router2),
        };
        let live = made.map_err(instantiating)?;
        live.prepare_each_call(p, store)
            .await
            .map_err(instantiating)?;
        Ok(live)
    }

    /// Runs `prepare(settings)` in this instance if the plugin's calls cannot start
    /// from a snapshot ([`Preparation::EachCall`]).
    async fn prepare_each_call(
        &self,
        p: &PluginInner,
        store: &mut Store<StoreState>,
    ) -> wasmtime::Result<()> {
        if !p.preparation.each_call() {
            return Ok(());
        }
        let prepared = match self {
            LivePlugin::Gate2(gate) => gate.call_prepare(&mut *store, &p.settings).await?,
            LivePlugin::Router2(router) => router.call_prepare(&mut *store, &p.settings).await?,
            LivePlugin::Gate(_) | LivePlugin::Router(_) => return Ok(()),
        };
        if let Err(message) = prepared {
            wasmtime::bail!("prepare() refused the settings it had accepted at load: {message:?}");
        }
        Ok(())
    }

    /// Calls `check` or `route`; asking a gate to route (or a router to check) is
    /// answered as the plugin's error, as in a fresh instance.
    async fn call(
        &self,
        store: &mut Store<StoreState>,
        settings: &str,
        request: &Request<'_>,
    ) -> wasmtime::Result<Answer> {
        Ok(match (self, request) {
            (LivePlugin::Gate(gate), Request::Check(h)) => {
                Answer::Verdict(gate.call_check(store, settings, h).await?)
            }
            (LivePlugin::Gate2(gate), Request::Check(h)) => {
                Answer::Verdict(gate.call_check(store, h).await?)
            }
            (LivePlugin::Router(router), Request::Route(h, verdicts)) => {
                Answer::Route(router.call_route(store, settings, h, verdicts).await?)
            }
            (LivePlugin::Router2(router), Request::Route(h, verdicts)) => {
                Answer::Route(router.call_route(store, h, verdicts).await?)
            }
            (LivePlugin::Gate(_) | LivePlugin::Gate2(_), _) => {
                Answer::Route(Err("this plugin is a gate, not a router".into()))
            }
            (LivePlugin::Router(_) | LivePlugin::Router2(_), _) => {
                Answer::Verdict(Err("this plugin is a router, not a gate".into()))
            }
        })
    }
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
    pub async fn check(&mut self, handoff: &Handoff) -> CheckReport {
        let task = self.task(handoff);
        let result = self.plugin.inner.runtime.spawn(task).await;
        self.finish(result)
    }

    /// [`check`](Self::check) on this thread, for code that is not async.
    pub fn check_blocking(&mut self, handoff: &Handoff) -> CheckReport {
        let task = self.task(handoff);
        let result = self.plugin.inner.runtime.block_on(task);
        self.finish(result)
    }

    fn finish(&mut self, result: Result<(CheckReport, Option<Live>), ErrorCause>) -> CheckReport {
        match result {
            Ok((report, live)) => {
                self.live = live;
                report
            }
            Err(cause) => CheckReport::failed(self.plugin.inner.name.clone(), cause),
        }
    }

    fn task(
        &mut self,
        handoff: &Handoff,
    ) -> impl Future<Output = (CheckReport, Option<Live>)> + Send + 'static {
        let p = self.plugin.inner.clone();
        let live = self.live.take();
        let request = p.payload_cap(handoff).map(|()| handoff.into());
        async move {
            let handoff: bindings::WitHandoff = match request {
                Ok(h) => h,
                Err(cause) => return (p.report(Call::failed(cause), ""), live),
            };
            let payload = handoff.payload.as_str();
            if !matches!(p.pre, Pre::Gate(_) | Pre::Gate2(_)) {
                let call = Call::failed(ErrorCause::Host {
                    message: "this plugin is a router, not a gate".into(),
                });
                return (p.report(call, payload), None);
            }
            let (call, live) = live_call(&p, live, Request::Check(&handoff)).await;
            let report = p.report(call, payload);
            let keep = report.outcome.error().is_none();
            (report, live.filter(|_| keep))
        }
    }
}

/// One check or route on `live`, or on a live instance made first (holding a slot of
/// the pool) when there is none. Returns the call, and the instance unless making it
/// failed.
async fn live_call(
    p: &Arc<PluginInner>,
    live: Option<Live>,
    request: Request<'_>,
) -> (Call<Answer>, Option<Live>) {
    let started = Instant::now();
    let mut fresh_meter = None;
    let mut live = match live {
        Some(live) => live,
        None => {
            let slot = match p.slot().await {
                Ok(slot) => slot,
                Err(cause) => return (Call::failed(cause), None),
            };
            let mut store = p.new_store();
            // One budget covers making the instance and its first check, as for a
            // fresh call.
            let meter = p.arm(&mut store);
            fresh_meter = Some(meter.clone());
            let made = Metered::new(LivePlugin::make(p, &mut store), meter.clone()).await;
            let plugin = match made {
                Ok(Ok(plugin)) => plugin,
                Ok(Err(failure)) => {
                    let cause = p.cause(&failure, &store, &meter);
                    let (log, log_truncated) = store.data().log.take();
                    let call = Call {
                        result: Err(cause),
                        log,
                        log_truncated,
                        duration: started.elapsed(),
                    };
                    return (call, None);
                }
                Err(passed) => return (Call::failed(p.timeout(passed)), None),
            };
            Live {
                _slot: slot,
                store,
                plugin,
                reset_at: None,
                waited: false,
            }
        }
    };
    let meter = match fresh_meter {
        Some(meter) => meter,
        None => p.arm(&mut live.store),
    };
    // Whether the call ever waited: then other threads may have run parts of it.
    let mut waited = false;
    let called = {
        let mut metered = std::pin::pin!(Metered::new(
            live.plugin.call(&mut live.store, &p.settings, &request),
            meter.clone(),
        ));
        std::future::poll_fn(|cx| {
            let polled = metered.as_mut().poll(cx);
            waited |= polled.is_pending();
            polled
        })
        .await
    };
    live.waited = waited;
    let result = match called {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(error)) => Err(p.cause(
            &Failure {
                instantiating: false,
                error,
            },
            &live.store,
            &meter,
        )),
        Err(passed) => Err(p.timeout(passed)),
    };
    live.store.data_mut().meter = None;
    let (log, log_truncated) = live.store.data().log.take();
    let call = Call {
        result,
        log,
        log_truncated,
        duration: started.elapsed(),
    };
    (call, Some(live))
}

/// Whether this host lets a recycled instance's reset skip the page scan when the
/// check faulted no page in: on Linux, unless transparent huge pages are `always` on
/// (see [`Plugin::quick_resets`]).
pub fn resets_can_skip_scans() -> bool {
    recycle::huge_pages_stay_put()
}

/// Checks a verdict against the caps and the contract's rules, and its findings'
/// paths and spans against the `payload` (JSON text) they point into
/// ([`seam_types::vet`]).
pub fn vet_verdict(v: Verdict, limits: &Limits, payload: &str) -> Result<Verdict, ErrorCause> {
    seam_types::vet::verdict(&v, caps(limits), payload).map_err(breach)?;
    Ok(v)
}

/// Checks a route against the caps and the contract's rules.
pub fn vet_route(r: Route, limits: &Limits) -> Result<Route, ErrorCause> {
    seam_types::vet::route(&r, caps(limits)).map_err(breach)?;
    Ok(r)
}

fn caps(limits: &Limits) -> seam_types::vet::Caps {
    seam_types::vet::Caps {
        max_findings: limits.max_findings,
        max_verdict_bytes: limits.max_verdict_bytes,
    }
}

fn breach(b: seam_types::vet::Breach) -> ErrorCause {
    match b {
        seam_types::vet::Breach::TooLarge { what, size, limit } => {
            ErrorCause::OutputTooLarge { what, size, limit }
        }
        seam_types::vet::Breach::Malformed(reason) => ErrorCause::Malformed { reason },
    }
}

/// Whether [`check_all`] spreads these gates across threads: only when together they
/// cost more than [`limits::engine::CHECK_ALL_SPREAD_NS`], judged by their recent
/// checks. Below it, a thread hop per gate costs more than it saves, so they run one
/// after another on one thread.
fn spread(gates: &[Plugin]) -> bool {
    let cost: u64 = gates
        .iter()
        .map(|g| g.inner.cost_ns.load(std::sync::atomic::Ordering::Relaxed))
        .fold(0u64, u64::saturating_add);
    gates.len() > 1 && cost > limits::engine::CHECK_ALL_SPREAD_NS
}

/// Whether an async check of these gates runs in the caller's task: when each one's
/// recent cost is known and together they cost less than
/// [`limits::engine::CHECK_IN_CALLER_NS`].
fn in_caller(gates: &[Plugin]) -> bool {
    let mut total = 0u64;
    for gate in gates {
        match gate
            .inner
            .cost_ns
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => return false,
            cost => total = total.saturating_add(cost),
        }
    }
    total < limits::engine::CHECK_IN_CALLER_NS
}

/// Runs several gates on one handoff and returns their reports in the order of
/// `gates`. Gates that are cheap together (see [`limits::engine::CHECK_ALL_SPREAD_NS`])
/// run one after another, in the caller's task when very cheap
/// ([`limits::engine::CHECK_IN_CALLER_NS`]) and the caller runs on one thread, or else
/// on one of the runtime's threads; costlier ones run concurrently, one task each.
/// Safe to await on any executor.
pub async fn check_all(gates: &[Plugin], handoff: &Handoff) -> Vec<CheckReport> {
    let Some(first) = gates.first() else {
        return Vec::new();
    };
    if !spread(gates) {
        return first
            .inner
            .runtime
            .run(in_sequence(gates, handoff), in_caller(gates))
            .await
            .unwrap_or_else(|cause| failed_all(gates, cause));
    }
    let tasks: Vec<_> = gates
        .iter()
        .map(|gate| {
            let task = gate.check_task(handoff);
            gate.inner.runtime.handle().spawn(task)
        })
        .collect();
    let mut reports = Vec::with_capacity(tasks.len());
    for (task, gate) in tasks.into_iter().zip(gates) {
        reports.push(
            task.await
                .unwrap_or_else(|e| CheckReport::failed(gate.name().to_string(), host_failure(e))),
        );
    }
    reports
}

/// The gates' checks one after another, as one task.
fn in_sequence(
    gates: &[Plugin],
    handoff: &Handoff,
) -> impl Future<Output = Vec<CheckReport>> + Send + 'static {
    let tasks: Vec<_> = gates.iter().map(|g| g.check_task(handoff)).collect();
    async move {
        let mut reports = Vec::with_capacity(tasks.len());
        for task in tasks {
            reports.push(task.await);
        }
        reports
    }
}

fn failed_all(gates: &[Plugin], cause: ErrorCause) -> Vec<CheckReport> {
    gates
        .iter()
        .map(|g| CheckReport::failed(g.name().to_string(), cause.clone()))
        .collect()
}

/// [`check_all`] for code that is not async: cheap gates run on this thread.
pub fn check_all_blocking(gates: &[Plugin], handoff: &Handoff) -> Vec<CheckReport> {
    let Some(first) = gates.first() else {
        return Vec::new();
    };
    let task = if spread(gates) {
        let gates = gates.to_vec();
        let handoff = handoff.clone();
        Box::pin(async move { check_all(&gates, &handoff).await })
            as std::pin::Pin<Box<dyn Future<Output = Vec<CheckReport>> + Send>>
    } else {
        Box::pin(in_sequence(gates, handoff))
    };
    first
        .inner
        .runtime
        .block_on(task)
        .unwrap_or_else(|cause| failed_all(gates, cause))
}
