//! What a plugin sees inside its sandbox: a deny-all WASI context, a log that captures
//! stdout, stderr and `host.log` up to a cap, and a resource limiter that records when
//! a memory limit stopped the plugin.
//!
//! This module owns one check's store state. It must not hold anything that outlives
//! the check: a fresh [`StoreState`] is built for every call.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::{v2, Level, LogHost};
use super::deadline::Meter;
use super::limits::{MAX_RANDOM_BYTES, MAX_TABLE_ELEMENTS};
use super::PoolLimits;

/// The state of one sandboxed call.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(crate) limiter: Limiter,
    pub(crate) log: Log,
    /// The running call's time, read by the epoch callback.
    pub(crate) meter: Option<Arc<Meter>>,
}

impl StoreState {
    pub(crate) fn new(memory_bytes: usize, max_log_bytes: usize, pool: &PoolLimits) -> Self {
        let log = Log::new(max_log_bytes);
        // Deny-all: no preopened directories, no environment, no arguments, no network
        // (the builder's socket check refuses every address), stdin closed.
        let wasi = WasiCtx::builder()
            .stdout(log.clone())
            .stderr(log.clone())
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .max_random_size(MAX_RANDOM_BYTES)
            .build();
        StoreState {
            wasi,
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes,
                last_growth_refused: false,
                pool: *pool,
            },
            log,
            meter: None,
        }
    }
}

impl StoreState {
    /// Whether the call left host resources (streams, pollables…) open in its table.
    pub(crate) fn holds_resources(&self) -> bool {
        !self.table.is_empty()
    }
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl super::bindings::gate::seam::plugin::types::Host for StoreState {}

impl LogHost for StoreState {
    fn log(&mut self, level: Level, message: String) {
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.log.line(level, &message);
    }
}

impl v2::LogHost for StoreState {
    fn log(&mut self, level: v2::Level, message: String) {
        let level = match level {
            v2::Level::Trace => "trace",
            v2::Level::Debug => "debug",
            v2::Level::Info => "info",
            v2::Level::Warn => "warn",
            v2::Level::Error => "error",
        };
        self.log.line(level, &message);
    }
}

/// Enforces the per-plugin memory limit and remembers whether the latest growth
/// request was refused (a later successful growth means the plugin coped).
pub(crate) struct Limiter {
    memory_bytes: usize,
    pub(crate) last_growth_refused: bool,
    pool: PoolLimits,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.last_growth_refused = desired > self.memory_bytes;
        Ok(!self.last_growth_refused)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        self.pool.core_instances_per_plugin as usize
    }

    fn memories(&self) -> usize {
        self.pool.memories_per_plugin as usize
    }

    fn tables(&self) -> usize {
        self.pool.tables_per_plugin as usize
    }
}

/// The check's log: stdout, stderr and `host.log` lines, in order, capped.
#[derive(Clone)]
pub(crate) struct Log(Arc<Mutex<LogBuffer>>);

#[derive(Default)]
struct LogBuffer {
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Log {
    fn new(cap: usize) -> Self {
        Log(Arc::new(Mutex::new(LogBuffer {
            cap,
            ..Default::default()
        })))
    }

    /// Appends one `host.log` line: `[level] message`.
    fn line(&self, level: &str, message: &str) {
        self.append(format!("[{level}] {message}\n").as_bytes());
    }

    fn append(&self, data: &[u8]) {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let room = buf.cap.saturating_sub(buf.bytes.len());
        if data.len() > room {
            buf.truncated = true;
        }
        let take = data.len().min(room);
        buf.bytes.extend_from_slice(&data[..take]);
    }

    /// Takes the log text (invalid UTF-8 replaced) and whether it was truncated,
    /// leaving the log empty for the next call.
    pub(crate) fn take(&self) -> (String, bool) {
        let mut buf = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = std::mem::take(&mut buf.bytes);
        let truncated = std::mem::take(&mut buf.truncated);
        (String::from_utf8_lossy(&bytes).into_owned(), truncated)
    }
}

impl IsTerminal for Log {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Log {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Log {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for Log {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        // Past the cap, writes are accepted and dropped: a chatty plugin must not fail
        // because of its log.
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for Log {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
