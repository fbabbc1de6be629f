//! `seam-server.toml`: where to listen, who may call, the limits, and the named seams.
//! Every field has a documented default (docs/server.md); unknown fields are refused,
//! and every error names the file, line and column.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use seam_pipeline::config::BundlesSection;
use seam_pipeline::standalone::{self, SeamSection, StandaloneSeam};
use seam_pipeline::ConfigError;
use seam_runtime::Runtime;

use crate::auth::{Scope, Token};

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;
/// The address served when the file names none.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

// Numbers that must lie in a documented range, reported at their line and column.
use seam_pipeline::ranged;

ranged!(de_body_kib, usize, 1, 1 << 20);
ranged!(de_concurrency, usize, 1, 4096);
ranged!(de_queue, usize, 0, 1_000_000);
ranged!(de_ms, u64, 1, 3_600_000);
ranged!(de_batch, usize, 1, 10_000);
ranged!(de_cached, usize, 0, 4096);
ranged!(de_pickup_ms, u64, 0, 3_600_000);
ranged!(de_lease_ms, u64, 100, 3_600_000);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    listen: Option<Spanned<String>>,
    /// The ledger checks are recorded in (relative to the file).
    ledger: Option<String>,
    /// Pipeline files whose runs the server starts (relative to the file).
    #[serde(default)]
    pipelines: Vec<Spanned<String>>,
    #[serde(default)]
    bundles: BundlesSection,
    #[serde(default)]
    limits: Limits,
    #[serde(default)]
    runs: Runs,
    #[serde(default)]
    tokens: Vec<TokenSection>,
    #[serde(default)]
    telemetry: Option<TelemetrySection>,
    #[serde(default)]
    seams: BTreeMap<Spanned<String>, SeamSection>,
}

/// `[telemetry]`: OpenTelemetry traces over OTLP/HTTP. Without it, nothing is sent
/// anywhere.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TelemetrySection {
    /// The collector's OTLP/HTTP address, e.g. `http://127.0.0.1:4318`; traces go to
    /// its `/v1/traces` (a URL already ending in `/v1/traces` is used as it is).
    otlp_endpoint: Spanned<String>,
    /// `service.name` of the traces (default `seam`).
    #[serde(default)]
    service_name: Option<Spanned<String>>,
    /// Headers sent with every export (an API key the collector wants).
    #[serde(default)]
    headers: BTreeMap<String, Spanned<String>>,
    /// How long one export may take, in ms (default 5000).
    #[serde(default = "default_export_ms", deserialize_with = "de_ms")]
    export_timeout_ms: u64,
}

fn default_export_ms() -> u64 {
    5000
}

/// Where traces go: `[telemetry]` checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telemetry {
    /// The full URL spans are posted to (`…/v1/traces`).
    pub traces_url: String,
    pub service_name: String,
    pub headers: Vec<(String, String)>,
    pub export_timeout: Duration,
}

/// `[limits]`: what one request, and all of them together, may take.
#[derive(Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request body, in KiB (default 1024; 1 to 1048576).
    #[serde(default = "default_body_kib", deserialize_with = "de_body_kib")]
    pub max_body_kib: usize,
    /// Requests handled at once (default 64; 1 to 4096).
    #[serde(default = "default_concurrency", deserialize_with = "de_concurrency")]
    pub concurrency: usize,
    /// Requests that may wait for a slot (default 1024; 0 to 1000000); beyond that a
    /// request is answered `503` with `Retry-After` at once.
    #[serde(default = "default_queue", deserialize_with = "de_queue")]
    pub queue: usize,
    /// Deadline of a whole request, waiting included, in ms (default 10000); past it the
    /// answer is `504`.
    #[serde(default = "default_request_ms", deserialize_with = "de_ms")]
    pub request_timeout_ms: u64,
    /// How long a shutdown waits for requests in flight, in ms (default 10000).
    #[serde(default = "default_drain_ms", deserialize_with = "de_ms")]
    pub drain_timeout_ms: u64,
    /// Most handoffs in one batch request (default 1000; 1 to 10000).
    #[serde(default = "default_batch", deserialize_with = "de_batch")]
    pub max_batch: usize,
    /// Ad-hoc gates (`POST /v1/check`) kept loaded, by name and settings (default 64;
    /// 0 to 4096).
    #[serde(default = "default_cached", deserialize_with = "de_cached")]
    pub cached_gates: usize,
}

fn default_body_kib() -> usize {
    1024
}
fn default_concurrency() -> usize {
    64
}
fn default_queue() -> usize {
    1024
}
fn default_request_ms() -> u64 {
    10_000
}
fn default_drain_ms() -> u64 {
    10_000
}
fn default_batch() -> usize {
    1000
}
fn default_cached() -> usize {
    64
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_kib: default_body_kib(),
            concurrency: default_concurrency(),
            queue: default_queue(),
            request_timeout_ms: default_request_ms(),
            drain_timeout_ms: default_drain_ms(),
            max_batch: default_batch(),
            cached_gates: default_cached(),
        }
    }
}

impl Limits {
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_kib << 10
    }
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
    pub fn drain_timeout(&self) -> Duration {
        Duration::from_millis(self.drain_timeout_ms)
    }
}

/// `[runs]`: how the served pipelines' runs are driven when several servers share one
/// ledger (docs/operations.md).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Runs {
    /// How long a server's claim on a run it drives lasts unrenewed, in ms (default
    /// 60000; 100 to 3600000). It renews every third of it, so only a dead server's
    /// claims lapse; a shorter lease hands its runs over sooner.
    #[serde(default = "default_lease_ms", deserialize_with = "de_lease_ms")]
    pub lease_ms: u64,
    /// How often the server looks for orphaned runs of its pipelines to take over, in
    /// ms (default 1000; 0 turns it off).
    #[serde(default = "default_pickup_ms", deserialize_with = "de_pickup_ms")]
    pub pickup_interval_ms: u64,
    /// How long after a review's decision a run nobody resumed counts as orphaned, in
    /// ms (default: the lease).
    #[serde(default, deserialize_with = "de_grace_ms")]
    pub takeover_grace_ms: Option<u64>,
}

fn de_grace_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_pickup_ms(d).map(Some)
}

fn default_lease_ms() -> u64 {
    seam_pipeline::RUN_LEASE.as_millis() as u64
}
fn default_pickup_ms() -> u64 {
    1000
}

impl Default for Runs {
    fn default() -> Self {
        Runs {
            lease_ms: default_lease_ms(),
            pickup_interval_ms: default_pickup_ms(),
            takeover_grace_ms: None,
        }
    }
}

impl Runs {
    pub fn lease(&self) -> Duration {
        Duration::from_millis(self.lease_ms)
    }
    pub fn takeover_grace(&self) -> Duration {
        Duration::from_millis(self.takeover_grace_ms.unwrap_or(self.lease_ms))
    }
}

/// `[[tokens]]`: a caller, by the SHA-256 of its bearer token, and what it may do.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenSection {
    name: Spanned<String>,
    sha256: Spanned<String>,
    scopes: Spanned<Vec<Spanned<String>>>,
}

/// A checked configuration, its seams loaded.
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    pub listen: SocketAddr,
    /// The ledger that recorded checks and runs go to, and `GET /v1/report` reads: a
    /// SQLite file (resolved against the configuration's folder) or a `postgres://`
    /// URL.
    pub ledger: Option<String>,
    /// The pipelines whose runs it starts, resumes and reviews.
    pub pipelines: Vec<seam_pipeline::Pipeline>,
    pub limits: Limits,
    /// `[runs]`: leases and the pickup of orphaned runs.
    pub runs: Runs,
    pub tokens: Vec<Token>,
    pub seams: Vec<StandaloneSeam>,
    /// Where `BUNDLE/PLUGIN` gates of ad-hoc checks are found.
    pub resolver: seam_bundle::Resolver,
    /// Where traces go (`None`: no traces, no network).
    pub telemetry: Option<Telemetry>,
}

impl Config {
    /// Reads, checks and loads the configuration at `path` (every seam's plugins with
    /// `runtime`).
    pub fn load(path: &Path, runtime: &Runtime) -> Result<Config, ConfigError> {
        let text = seam_types::files::read_regular_text(path, MAX_CONFIG_BYTES).map_err(|e| {
            ConfigError {
                file: path.display().to_string(),
                line: 0,
                column: 0,
                message: format!("cannot read the server configuration: {e}"),
            }
        })?;
        Config::parse(path, &text, runtime)
    }

    /// Like [`load`](Self::load), from text already read.
    pub fn parse(path: &Path, text: &str, runtime: &Runtime) -> Result<Config, ConfigError> {
        let err = |span: std::ops::Range<usize>, message: String| {
            let (line, column) = seam_types::position::line_column(text, span.start);
            ConfigError {
                file: path.display().to_string(),
                line,
                column,
                message,
            }
        };
        let f: File = toml::from_str(text)
            .map_err(|e| err(e.span().unwrap_or(0..0), e.message().trim().to_string()))?;
        let listen = match &f.listen {
            None => DEFAULT_LISTEN.parse().expect("the default address parses"),
            Some(l) => l.get_ref().parse::<SocketAddr>().map_err(|_| {
                err(
                    l.span(),
                    format!(
                        "`{}` is not an address to listen on; write IP:PORT, e.g. {DEFAULT_LISTEN} or [::1]:7878",
                        l.get_ref()
                    ),
                )
            })?,
        };
        let mut tokens: Vec<Token> = Vec::new();
        for t in &f.tokens {
            let name = t.name.get_ref();
            if name.is_empty() || tokens.iter().any(|x| &x.name == name) {
                return Err(err(
                    t.name.span(),
                    format!(
                        "token name `{name}` is empty or used twice; give each token its own name"
                    ),
                ));
            }
            let hash = t.sha256.get_ref().trim().to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err(
                    t.sha256.span(),
                    format!(
                        "token `{name}`: sha256 must be 64 hex digits, the SHA-256 of the token \
                         (`seam serve --new-token NAME` makes a token and prints its entry); the \
                         token itself never goes in the file"
                    ),
                ));
            }
            if tokens.iter().any(|x| x.sha256 == hash) {
                return Err(err(
                    t.sha256.span(),
                    format!("token `{name}` has the same hash as another token"),
                ));
            }
            let mut scopes = Vec::new();
            for s in t.scopes.get_ref() {
                let scope = Scope::parse(s.get_ref()).ok_or_else(|| {
                    err(
                        s.span(),
                        format!(
                            "unknown scope `{}`; use {}",
                            s.get_ref(),
                            Scope::ALL.map(|s| s.as_str()).join(", ")
                        ),
                    )
                })?;
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
            if scopes.is_empty() {
                return Err(err(
                    t.scopes.span(),
                    format!(
                        "token `{name}` has no scopes; give it some of check, run, review, view, admin"
                    ),
                ));
            }
            tokens.push(Token {
                name: name.clone(),
                sha256: hash,
                scopes,
            });
        }
        if tokens.is_empty() && !listen.ip().is_loopback() {
            let span = f.listen.as_ref().map_or(0..0, |l| l.span());
            return Err(err(
                span,
                format!(
                    "refusing to listen on {listen} without tokens: anyone who can reach it could \
                     run checks; add [[tokens]] (see docs/server.md) or listen on 127.0.0.1"
                ),
            ));
        }
        let telemetry = match &f.telemetry {
            None => None,
            Some(t) => Some(telemetry(t).map_err(|(span, message)| err(span, message))?),
        };
        let (seams, resolver) = standalone::load_seams(path, text, &f.bundles, &f.seams, runtime)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if f.ledger.is_none() {
            if let Some(p) = f.pipelines.first() {
                return Err(err(
                    p.span(),
                    "pipelines need a ledger to record their runs in: set `ledger = \"FILE\"` (or a postgres:// URL)"
                        .into(),
                ));
            }
        }
        let mut pipelines: Vec<seam_pipeline::Pipeline> = Vec::new();
        for p in &f.pipelines {
            let loaded = seam_pipeline::Pipeline::load(&dir.join(p.get_ref()), runtime)?;
            if pipelines.iter().any(|x| x.name == loaded.name) {
                return Err(err(
                    p.span(),
                    format!(
                        "two pipelines are named `{}`; serve one of them",
                        loaded.name
                    ),
                ));
            }
            pipelines.push(loaded);
        }
        Ok(Config {
            file: path.to_path_buf(),
            listen,
            ledger: f.ledger.as_ref().map(|l| {
                if seam_ledger::pg::is_url(l) {
                    l.clone()
                } else {
                    dir.join(l).display().to_string()
                }
            }),
            pipelines,
            limits: f.limits,
            runs: f.runs,
            tokens,
            seams,
            resolver,
            telemetry,
        })
    }
}

/// `[telemetry]` checked: an http(s) URL without credentials in it, a service name,
/// headers that HTTP can carry.
fn telemetry(t: &TelemetrySection) -> Result<Telemetry, (std::ops::Range<usize>, String)> {
    let url = t.otlp_endpoint.get_ref().trim();
    let bad = |why: &str| {
        (
            t.otlp_endpoint.span(),
            format!(
                "otlp_endpoint `{url}` {why}; give the collector's OTLP/HTTP address, e.g. \
                 http://127.0.0.1:4318"
            ),
        )
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| bad("is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() {
        return Err(bad("has no host"));
    }
    if host.contains('@') {
        return Err(bad(
            "carries credentials; send them as [telemetry] headers instead",
        ));
    }
    if url.contains(['?', '#']) || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("has a query, a fragment or a space"));
    }
    if url.parse::<axum::http::Uri>().is_err() {
        return Err(bad("is not a valid URL"));
    }
    let base = url.trim_end_matches('/');
    let traces_url = if base.ends_with("/v1/traces") {
        base.to_string()
    } else {
        format!("{base}/v1/traces")
    };
    let service_name = match &t.service_name {
        None => "seam".to_string(),
        Some(n) if n.get_ref().trim().is_empty() || n.get_ref().len() > 255 => {
            return Err((
                n.span(),
                "service_name must be 1 to 255 characters".to_string(),
            ))
        }
        Some(n) => n.get_ref().clone(),
    };
    let mut headers = Vec::new();
    for (name, value) in &t.headers {
        let ok_name = axum::http::HeaderName::from_bytes(name.as_bytes()).is_ok();
        let ok_value = axum::http::HeaderValue::from_str(value.get_ref()).is_ok();
        if !ok_name || !ok_value {
            return Err((
                value.span(),
                format!(
                    "telemetry header `{name}` cannot be sent over HTTP (names are letters, \
                     digits and `-`; values are visible ASCII)"
                ),
            ));
        }
        headers.push((name.clone(), value.get_ref().clone()));
    }
    Ok(Telemetry {
        traces_url,
        service_name,
        headers,
        export_timeout: Duration::from_millis(t.export_timeout_ms),
    })
}
