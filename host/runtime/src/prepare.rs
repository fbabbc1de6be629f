//! Preparing `seam:plugin@0.2.0` plugins: `prepare(settings)` runs once per plugin and
//! settings, and every call starts from a snapshot of the prepared instance.
//!
//! The snapshot is made with wasmtime's Wizer: the component is instrumented so its
//! memories and globals can be read, instantiated, prepared, and its state written back
//! out as a new component whose data segments *are* the prepared memory. That component
//! is compiled once (and cached on disk under a key of the component's digest, the
//! settings and the memory limit); instantiating it maps the prepared memory
//! copy-on-write, so a call gets the prepared state in a fresh, isolated instance for
//! the cost of an ordinary instantiation.
//!
//! When a snapshot cannot be made (a component shape Wizer does not support, or a
//! `prepare` that leaves host resources open), every call's instance runs `prepare`
//! first instead: slower, equally isolated, and the reason is kept in
//! [`Preparation::EachCall`].
//!
//! This module must not change what a call means: a snapshot-started call and a
//! prepare-first call answer the same.

use std::sync::Arc;

use serde::Serialize;
use wasmparser::{Validator, WasmFeatures};
use wasmtime::component::{Component, Instance, Lift, WasmList};
use wasmtime::Store;
use wasmtime_wizer::{ComponentContext, ComponentInstanceState, Wizer};

use super::bindings::v2;
use super::deadline::Metered;
use super::sandbox::StoreState;
use super::{Answer, ErrorCause, LoadError, PluginInner, PluginSource, Request, Runtime};
use seam_types::PluginKind;

/// How a loaded plugin's calls reach its prepared state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Preparation {
    /// A `seam:plugin@0.1.0` plugin: nothing to prepare; every call is given the
    /// settings.
    None,
    /// Every call starts from a snapshot of the instance `prepare(settings)` left.
    Snapshot {
        /// The compiled snapshot came from the on-disk cache (`prepare` did not run in
        /// this process).
        from_cache: bool,
    },
    /// Every call's instance runs `prepare(settings)` before its call, because no
    /// snapshot could be made; `reason` says why.
    EachCall { reason: String },
}

impl Preparation {
    pub(crate) fn each_call(&self) -> bool {
        matches!(self, Preparation::EachCall { .. })
    }
}

impl std::fmt::Display for Preparation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Preparation::None => f.write_str("none (contract 0.1.0)"),
            Preparation::Snapshot { from_cache: true } => {
                f.write_str("snapshot of the prepared instance (from the cache)")
            }
            Preparation::Snapshot { from_cache: false } => {
                f.write_str("snapshot of the prepared instance")
            }
            Preparation::EachCall { reason } => {
                write!(f, "prepare() before every call, because {reason}")
            }
        }
    }
}

/// The cache key of a prepared snapshot: what the snapshot depends on.
fn snapshot_key(digest: &str, settings: &str, memory_bytes: usize) -> String {
    let key = format!("seam-snapshot-1\0{digest}\0{memory_bytes}\0{settings}");
    format!("prepared-{}", seam_types::sha256_hex(key.as_bytes()))
}

/// What [`Runtime::open`](super::Runtime) compiled a `seam:plugin@0.2.0` plugin as, for
/// the snapshot to be made from.
pub(crate) enum Snapshotting {
    /// A `seam:plugin@0.1.0` plugin: nothing to prepare.
    NotNeeded,
    /// `open` compiled, linked and described the instrumented component: the
    /// plugin's `pre` is what the snapshot is made from.
    Instrumented,
    /// The component itself, because it cannot be instrumented: why not.
    Cannot(String),
}

/// The cache key of a plugin's instrumented component.
fn instrumented_key(digest: &str) -> String {
    format!("instrumented-{digest}")
}

/// Instruments `code` for a snapshot, or says why it cannot be.
///
/// Wizer validates with every WebAssembly feature on, then takes what it read to have
/// none the engine lacks: an exception tag or an exact function import, which the
/// engine refuses, is a panic in it. Bytes that have not been compiled yet reach it
/// here, so they are validated first without those features (what fails goes on to be
/// compiled as it is, and refused there if the engine refuses it), and a panic in Wizer
/// is taken as its refusal.
fn instrument(code: &[u8]) -> Result<(ComponentContext<'_>, Vec<u8>), String> {
    let cannot = |why: String| format!("the component's shape cannot be snapshotted ({why})");
    let features = WasmFeatures::all()
        - WasmFeatures::EXCEPTIONS
        - WasmFeatures::LEGACY_EXCEPTIONS
        - WasmFeatures::CUSTOM_DESCRIPTORS;
    Validator::new_with_features(features)
        .validate_all(code)
        .map_err(|e| cannot(e.to_string()))?;
    match std::panic::catch_unwind(|| Wizer::new().instrument_component(code)) {
        Ok(Ok(made)) => Ok(made),
        Ok(Err(e)) => Err(cannot(format!("{e:#}"))),
        Err(_) => Err(cannot("Wizer failed on it".into())),
    }
}

/// What preparing found.
enum Prepared {
    Snapshot(Component),
    EachCall(String),
}

impl Runtime {
    /// Compiles `code` instrumented for a snapshot (or loads it from the cache), with the
    /// SHA-256 of `source`'s bytes. The instrumented component exports what `code` does,
    /// and the accessors Wizer reads its state through; describing the plugin in it
    /// spares compiling `code` itself. When `code` cannot be instrumented, or its
    /// instrumented form not compiled, `code` is compiled as it is, and the reason kept.
    pub(crate) fn compile_instrumented(
        &self,
        source: &PluginSource,
        code: &[u8],
    ) -> Result<(Component, String, Snapshotting), LoadError> {
        let rt = &self.inner;
        let digest = seam_types::sha256_hex(&source.bytes);
        let key = instrumented_key(&super::code_digest(source, code, &digest));
        if let Some(component) = rt
            .config
            .cache
            .as_ref()
            .and_then(|c| c.load(&rt.engine, &key))
        {
            return Ok((component, digest, Snapshotting::Instrumented));
        }
        let reason = match instrument(code) {
            Ok((_, instrumented)) => match Component::new(&rt.engine, &instrumented) {
                Ok(component) => {
                    if let Some(cache) = &rt.config.cache {
                        cache.store(&rt.engine, &key, &component);
                    }
                    return Ok((component, digest, Snapshotting::Instrumented));
                }
                Err(e) => format!("the instrumented component could not be compiled ({e:#})"),
            },
            Err(reason) => reason,
        };
        let (component, digest) = self.compile(source, code)?;
        Ok((component, digest, Snapshotting::Cannot(reason)))
    }

    /// Runs `prepare(settings)` and makes the snapshot calls start from (see the module
    /// documentation); settings `prepare` refuses are a load error.
    pub(crate) fn prepare(
        &self,
        inner: &mut PluginInner,
        code: &[u8],
        snapshotting: Snapshotting,
    ) -> Result<(), LoadError> {
        let rt = &self.inner;
        let kind = inner.info.kind;
        let key = snapshot_key(&inner.digest, &inner.settings, inner.limits.memory_bytes);
        if let Some(component) = rt
            .config
            .cache
            .as_ref()
            .and_then(|c| c.load(&rt.engine, &key))
        {
            if let Ok(pre) = self.pre(&component, kind, super::Contract::V0_2) {
                inner.pre = pre;
                inner.preparation = Preparation::Snapshot { from_cache: true };
                return Ok(());
            }
        }
        let p = Arc::new(inner.clone());
        let bytes = code.to_vec();
        let runtime = self.clone();
        let prepared = self
            .inner
            .block_on(async move {
                match snapshotting {
                    Snapshotting::Instrumented => runtime.snapshot(p, bytes).await,
                    Snapshotting::Cannot(reason) => prepare_alone(p, reason).await,
                    Snapshotting::NotNeeded => Ok(Prepared::EachCall(
                        "the plugin was not opened for preparing".into(),
                    )),
                }
            })
            .map_err(|cause| LoadError::Prepare {
                plugin: inner.name.clone(),
                cause,
            })??;
        match prepared {
            Prepared::Snapshot(component) => {
                match self.pre(&component, kind, super::Contract::V0_2) {
                    Ok(pre) => {
                        if let Some(cache) = &rt.config.cache {
                            cache.store(&rt.engine, &key, &component);
                        }
                        inner.pre = pre;
                        inner.preparation = Preparation::Snapshot { from_cache: false };
                    }
                    Err(e) => {
                        inner.preparation = Preparation::EachCall {
                            reason: format!("the snapshot could not be linked: {e:#}"),
                        }
                    }
                }
            }
            Prepared::EachCall(reason) => inner.preparation = Preparation::EachCall { reason },
        }
        Ok(())
    }

    /// Instantiates the instrumented component (`p.pre`, compiled from `bytes`),
    /// prepares it, and writes the prepared instance out as a compiled component.
    async fn snapshot(&self, p: Arc<PluginInner>, bytes: Vec<u8>) -> Result<Prepared, LoadError> {
        let rt = &self.inner;
        let wizer = Wizer::new();
        // What Wizer reads the prepared state by (the compiled form may have come from
        // the cache).
        let cx = match instrument(&bytes) {
            Ok((cx, _)) => cx,
            Err(reason) => return prepare_alone(p, reason).await,
        };
        let instance_pre = p.pre.instance_pre().clone();

        let plugin = p.name.clone();
        let failed = |cause: ErrorCause| LoadError::Prepare {
            plugin: plugin.clone(),
            cause,
        };
        let _slot = p.slot().await.map_err(&failed)?;
        let mut store = p.new_store();
        let meter = p.arm_for(&mut store, p.limits.prepare_deadline());
        let settings = p.settings.clone();
        let kind = p.info.kind;
        let call = async {
            let instance = instance_pre
                .instantiate_async(&mut store)
                .await
                .map_err(|error| (true, error))?;
            let prepared = match kind {
                PluginKind::Gate => {
                    let gate = v2::Gate::new(&mut store, &instance).map_err(|e| (true, e))?;
                    gate.call_prepare(&mut store, &settings).await
                }
                PluginKind::Router => {
                    let router = v2::Router::new(&mut store, &instance).map_err(|e| (true, e))?;
                    router.call_prepare(&mut store, &settings).await
                }
            };
            prepared
                .map(|answer| (instance, answer))
                .map_err(|error| (false, error))
        };
        let outcome = Metered::new(call, meter.clone()).await;
        store.data_mut().meter = None;
        let instance = match outcome {
            Ok(Ok((instance, Ok(())))) => instance,
            Ok(Ok((_, Err(message)))) => {
                return Err(LoadError::Refused {
                    plugin: p.name.clone(),
                    message,
                })
            }
            Ok(Err((instantiating, error))) => {
                let failure = super::Failure {
                    instantiating,
                    error,
                };
                return Err(failed(p.cause(&failure, &store, &meter)));
            }
            Err(passed) => {
                return Err(failed(ErrorCause::Timeout {
                    deadline_ms: p.limits.prepare_deadline().as_millis() as u64,
                    wall_clock: passed == super::deadline::DeadlinePassed::Backstop,
                }))
            }
        };
        if store.data().holds_resources() {
            return Ok(Prepared::EachCall(
                "prepare() left host resources open (a stream or a pollable, for instance), which a snapshot cannot carry".into(),
            ));
        }
        let mut access = Access {
            store: &mut store,
            instance,
            error: None,
        };
        let snapshot = wizer.snapshot_component(&cx, &mut access).await;
        let snapshot = match (snapshot, access.error) {
            (Ok(bytes), None) => bytes,
            (Err(e), _) => {
                return Ok(Prepared::EachCall(format!(
                    "the prepared instance could not be snapshotted ({e:#})"
                )))
            }
            (_, Some(e)) => {
                return Ok(Prepared::EachCall(format!(
                    "the prepared instance could not be read ({e})"
                )))
            }
        };
        Ok(match Component::new(&rt.engine, &snapshot) {
            Ok(component) => Prepared::Snapshot(component),
            Err(e) => Prepared::EachCall(format!("the snapshot could not be compiled ({e:#})")),
        })
    }
}

/// Runs `prepare(settings)` once in an instance of its own, so settings it refuses are
/// a load error even when no snapshot can be made; then calls will prepare first.
async fn prepare_alone(p: Arc<PluginInner>, reason: String) -> Result<Prepared, LoadError> {
    let call = p.clone().call(Request::Prepare).await;
    match call.result {
        Ok(Answer::Prepared(Ok(()))) => Ok(Prepared::EachCall(reason)),
        Ok(Answer::Prepared(Err(message))) => Err(LoadError::Refused {
            plugin: p.name.clone(),
            message,
        }),
        Ok(_) => Err(LoadError::Prepare {
            plugin: p.name.clone(),
            cause: ErrorCause::Host {
                message: "prepare() answered with something else".into(),
            },
        }),
        Err(cause) => Err(LoadError::Prepare {
            plugin: p.name.clone(),
            cause,
        }),
    }
}

/// Wizer's view of the prepared instance: calls to the accessors its instrumentation
/// added. A failed accessor is recorded (and the snapshot given up), never a panic.
struct Access<'a> {
    store: &'a mut Store<StoreState>,
    instance: Instance,
    error: Option<String>,
}

impl Access<'_> {
    async fn call<R: Lift + Default + Send + Sync + 'static>(
        &mut self,
        instance: &str,
        func: &str,
    ) -> R {
        match self.try_call::<R>(instance, func).await {
            Ok(value) => value,
            Err(e) => {
                self.error
                    .get_or_insert(format!("calling `{instance}#{func}`: {e:#}"));
                R::default()
            }
        }
    }

    async fn try_call<R: Lift + Send + Sync + 'static>(
        &mut self,
        instance: &str,
        func: &str,
    ) -> wasmtime::Result<R> {
        let store = &mut *self.store;
        let (_, outer) = self
            .instance
            .get_export(&mut *store, None, instance)
            .ok_or_else(|| wasmtime::format_err!("no such export"))?;
        let (_, index) = self
            .instance
            .get_export(&mut *store, Some(&outer), func)
            .ok_or_else(|| wasmtime::format_err!("no such function"))?;
        let typed = self
            .instance
            .get_typed_func::<(), (R,)>(&mut *store, index)?;
        let (value,) = typed.call_async(&mut *store, ()).await?;
        Ok(value)
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        match self.try_call::<WasmList<u8>>(instance, func).await {
            Ok(list) => contents(list.as_le_slice(&*self.store)),
            Err(e) => {
                self.error
                    .get_or_insert(format!("calling `{instance}#{func}`: {e:#}"));
                contents(&[]);
            }
        }
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func).await
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func).await
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call::<f32>(instance, func).await.to_bits()
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call::<f64>(instance, func).await.to_bits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{code_of, standard, Limits, RuntimeConfig};

    /// A snapshot has the functions of the instrumented component it is made from:
    /// compiling it takes them from the function cache, which the end of the load
    /// empties.
    #[test]
    fn the_snapshot_is_compiled_from_the_instrumented_components_functions() {
        let rt = Runtime::new(RuntimeConfig {
            cache: None,
            ..RuntimeConfig::default()
        })
        .unwrap();
        let source = standard("max-words").unwrap();
        let code = code_of(&source);
        let loading = rt.inner.functions.loading();
        let (mut inner, snapshotting) = rt
            .open(&source, code, Some(PluginKind::Gate), Limits::default())
            .unwrap();
        let opened = rt.inner.functions.counts();
        inner.settings = r#"{"max_words":3}"#.into();
        rt.prepare(&mut inner, code, snapshotting).unwrap();
        assert_eq!(
            inner.preparation,
            Preparation::Snapshot { from_cache: false }
        );
        let prepared = rt.inner.functions.counts();
        let (taken, compiled) = (prepared.0 - opened.0, prepared.1 - opened.1);
        // Three in four at least. The rest are trampolines between the component's
        // parts, and how many varies from run to run with the order of the parallel
        // compile: 692 to 724 of 777 when this was written (CI once saw 696, which an
        // earlier bound of nine in ten refused). With incremental compilation off, 0.
        assert!(
            taken > 0 && taken * 4 >= (taken + compiled) * 3,
            "{taken} taken, {compiled} compiled"
        );
        assert!(rt.inner.functions.bytes() > 0);
        drop(loading);
        assert_eq!(rt.inner.functions.bytes(), 0);
    }
}
