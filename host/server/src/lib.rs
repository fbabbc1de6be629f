//! `seam-server`: `seam serve`, the gates and seams of a configuration over HTTP (axum
//! on tokio), for orchestrators that run their own steps. See docs/server.md.
//!
//! Every request under `/v1` is admitted by a bounded queue in front of a fixed number
//! of slots ([`config::Limits`]): a request that finds the queue full is answered `503`
//! with `Retry-After` at once, so memory never grows with load; one that outlives the
//! request deadline is answered `504`. Errors are JSON: `{"error": {"status", "code",
//! "message"}}`.

pub mod adapters;
pub mod api;
pub mod auth;
pub mod config;
pub mod mcp;
pub mod metrics;
pub mod openapi;
pub mod record;
pub mod runs;
pub mod telemetry;
pub mod ui;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use anyhow::Context;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::{Notify, Semaphore};

use seam_runtime::Runtime;

pub use api::ApiError;
pub use config::Config;

/// What every request shares.
pub struct Shared {
    pub runtime: Runtime,
    /// The ledger opened at start (`ledger` in the configuration).
    pub ledger: Option<Arc<dyn seam_ledger::Ledger>>,
    /// The configuration in force; a reload swaps it whole, and a request keeps the one
    /// it started with.
    current: RwLock<Arc<Config>>,
    pub metrics: metrics::Metrics,
    /// Ad-hoc gates by `(name, settings)`, most recently used last.
    pub(crate) ad_hoc: Mutex<Vec<((String, String), seam_runtime::Plugin)>>,
    slots: Semaphore,
    waiting: AtomicUsize,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// Traces, when `[telemetry]` is configured.
    pub telemetry: Option<telemetry::Telemetry>,
    /// A random secret of this process, from which the reviewers' page derives the
    /// token that its forms must carry (against cross-site requests).
    pub(crate) ui_secret: String,
}

/// A reload that took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub seams: Vec<String>,
    /// Settings that changed but only take effect at a restart (`listen`,
    /// `concurrency`).
    pub needs_restart: Vec<String>,
}

impl Shared {
    pub fn new(
        config: Config,
        runtime: Runtime,
        ledger: Option<Arc<dyn seam_ledger::Ledger>>,
        telemetry: Option<telemetry::Telemetry>,
    ) -> Shared {
        Shared {
            telemetry,
            ledger,
            slots: Semaphore::new(config.limits.concurrency),
            runtime,
            current: RwLock::new(Arc::new(config)),
            metrics: metrics::Metrics::default(),
            ad_hoc: Mutex::new(Vec::new()),
            waiting: AtomicUsize::new(0),
            reloading: tokio::sync::Mutex::new(()),
            ui_secret: ui::new_secret(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Reads the configuration file again and, when the whole of it is valid (every
    /// plugin loaded), swaps it in at once: requests in flight finish on the old one. A
    /// bad file changes nothing and its error is returned.
    pub async fn reload(&self) -> Result<Reloaded, String> {
        let _one_at_a_time = self.reloading.lock().await;
        let old = self.config();
        let file = old.file.clone();
        let runtime = self.runtime.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&file, &runtime))
            .await
            .map_err(|e| format!("the reload stopped: {e}"))?;
        let new = match loaded {
            Ok(c) => c,
            Err(e) => {
                self.metrics.reloads(false);
                tracing::warn!(error = %e, "reload refused; the configuration in force stays");
                return Err(e.to_string());
            }
        };
        let mut needs_restart = Vec::new();
        if new.listen != old.listen {
            needs_restart.push(format!("listen ({} → {})", old.listen, new.listen));
        }
        let pipelines = |c: &Config| {
            c.pipelines
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
        };
        if pipelines(&new) != pipelines(&old) {
            tracing::info!(pipelines = ?pipelines(&new), "pipelines reloaded");
        }
        if new.ledger != old.ledger {
            needs_restart.push("ledger".to_string());
        }
        if new.telemetry != old.telemetry {
            needs_restart.push("[telemetry]".to_string());
        }
        if new.limits.concurrency != old.limits.concurrency {
            needs_restart.push(format!(
                "[limits] concurrency ({} → {})",
                old.limits.concurrency, new.limits.concurrency
            ));
        }
        let seams = new.seams.iter().map(|s| s.name.clone()).collect();
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
        self.ad_hoc
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.metrics.reloads(true);
        tracing::info!(?seams, ?needs_restart, "configuration reloaded");
        Ok(Reloaded {
            seams,
            needs_restart,
        })
    }
}

/// The HTTP routes over `shared`.
pub fn router(shared: Arc<Shared>) -> Router {
    let (mut admitted, mut open) = (Router::new(), Router::new());
    for e in openapi::endpoints() {
        if e.admitted {
            admitted = admitted.route(e.path, (e.route)());
        } else {
            open = open.route(e.path, (e.route)());
        }
    }
    let admitted = admitted
        .merge(ui::routes())
        .layer(axum::middleware::from_fn_with_state(shared.clone(), admit));
    Router::new()
        .merge(admitted)
        .merge(open)
        .fallback(api::not_found)
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            observe,
        ))
        .with_state(shared)
}

/// Admission: a slot at once, else a place in the bounded queue, else `503` with
/// `Retry-After`; then the request deadline (waiting included).
async fn admit(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let config = shared.config();
    let limits = &config.limits;
    let deadline = limits.request_timeout();
    let permit = match shared.slots.try_acquire() {
        Ok(p) => p,
        Err(_) => {
            // `waiting` only grows past the cap by the requests turned away here.
            if shared.waiting.fetch_add(1, Ordering::AcqRel) >= limits.queue {
                shared.waiting.fetch_sub(1, Ordering::AcqRel);
                shared.metrics.shed.inc();
                return ApiError::overloaded(limits.concurrency, limits.queue).into_response();
            }
            shared.metrics.queue_depth.inc();
            let waited = tokio::time::timeout(deadline, shared.slots.acquire()).await;
            shared.metrics.queue_depth.dec();
            shared.waiting.fetch_sub(1, Ordering::AcqRel);
            match waited {
                Ok(Ok(p)) => p,
                // The semaphore is never closed.
                Ok(Err(_)) | Err(_) => {
                    return ApiError::deadline(limits.request_timeout_ms, "waiting for a slot")
                        .into_response()
                }
            }
        }
    };
    shared.metrics.in_flight.inc();
    let answered = tokio::time::timeout(deadline, next.run(request)).await;
    shared.metrics.in_flight.dec();
    drop(permit);
    answered.unwrap_or_else(|_| {
        ApiError::deadline(limits.request_timeout_ms, "answering").into_response()
    })
}

/// Counts and times every request by its route pattern, and logs it at debug level.
async fn observe(State(shared): State<Arc<Shared>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let method = request.method().as_str().to_string();
    let response = match &shared.telemetry {
        None => next.run(request).await,
        Some(t) => {
            use opentelemetry::context::FutureExt;
            let context = t.request(request.headers(), &method, &route, request.uri().path());
            let response = next.run(request).with_context(context.clone()).await;
            telemetry::Telemetry::answered(&context, response.status().as_u16());
            response
        }
    };
    let status = response.status().as_u16();
    let took = started.elapsed();
    shared.metrics.request(&route, &method, status, took);
    tracing::debug!(%method, %route, status, micros = took.as_micros() as u64, "request");
    response
}

/// A bound server, not yet serving.
pub struct Server {
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
}

/// How a shutdown went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Requests still in flight when the drain deadline passed (0: all finished).
    pub cut: usize,
}

impl Server {
    /// Binds the configuration's address (port 0 picks a free one).
    pub async fn bind(config: Config, runtime: Runtime) -> anyhow::Result<Server> {
        let addr = config.listen;
        let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
            format!(
                "cannot listen on {addr} (from {}); is another server using it? change `listen`",
                config.file.display()
            )
        })?;
        let ledger = open_ledger(&config)?;
        let telemetry = match &config.telemetry {
            Some(t) => Some(telemetry::Telemetry::start(t).with_context(|| {
                format!(
                    "starting traces (`[telemetry]` in {})",
                    config.file.display()
                )
            })?),
            None => None,
        };
        Ok(Server {
            shared: Arc::new(Shared::new(config, runtime, ledger, telemetry)),
            listener,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or(self.shared.config().listen)
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serves until `shutdown` completes, then stops accepting and waits for the
    /// requests in flight, at most the drain deadline.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Drained {
        let drain = self.shared.config().limits.drain_timeout();
        let hangups = tokio::spawn(reload_on_hangup(self.shared.clone()));
        let pickup = tokio::spawn(runs::pick_up_orphans(self.shared.clone()));
        let stopping = Arc::new(Notify::new());
        let signal = stopping.clone();
        let app = router(self.shared.clone());
        let serve = axum::serve(self.listener, app).with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; draining requests in flight");
            signal.notify_one();
        });
        let drained = tokio::select! {
            result = std::future::IntoFuture::into_future(serve) => {
                if let Err(e) = result {
                    tracing::error!(error = %e, "the server stopped on an error");
                }
                Drained { cut: 0 }
            }
            _ = async { stopping.notified().await; tokio::time::sleep(drain).await } => {
                let cut = usize::try_from(self.shared.metrics.in_flight.get()).unwrap_or(0);
                tracing::warn!(cut, drain_ms = drain.as_millis() as u64, "drain deadline passed; requests still in flight were cut");
                Drained { cut }
            }
        };
        hangups.abort();
        pickup.abort();
        // Send the spans still buffered (each export within its timeout).
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(t) = &shared.telemetry {
                t.shutdown();
            }
        })
        .await;
        drained
    }
}

/// The configuration's ledger, opened (created when missing); `None` without one.
pub fn open_ledger(config: &Config) -> anyhow::Result<Option<Arc<dyn seam_ledger::Ledger>>> {
    let Some(location) = &config.ledger else {
        return Ok(None);
    };
    let opened = seam_ledger::open(location).with_context(|| {
        format!(
            "opening the ledger {} (`ledger` in {})",
            seam_ledger::pg::redact(location),
            config.file.display()
        )
    })?;
    Ok(Some(opened))
}

/// Reloads the configuration on every SIGHUP.
async fn reload_on_hangup(shared: Arc<Shared>) {
    #[cfg(unix)]
    {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!("SIGHUP cannot be caught here; reload with POST /v1/admin/reload");
            return;
        };
        while hangups.recv().await.is_some() {
            // The outcome is logged by `reload`.
            let _ = shared.reload().await;
        }
    }
    #[cfg(not(unix))]
    drop(shared);
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
