//! The pipeline file: TOML, read with `deny_unknown_fields`, then checked and resolved
//! into a [`Pipeline`] whose plugins are loaded and settings validated. Every error
//! names the file, line and column (see docs/pipeline.md for every field).

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use seam_runtime::{Limits, LoadError, Plugin, PluginSource, Runtime};
use seam_types::PluginKind;

/// A mistake in a pipeline file (or its lock file), with where it is. `line` 0 means
/// the whole file (the message may already say where).
#[derive(Debug, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Largest pipeline file read.
pub const MAX_PIPELINE_FILE_BYTES: u64 = 4 << 20;
/// Highest `concurrency` (and `seam run --concurrency`).
pub const MAX_CONCURRENCY: u64 = 256;
/// Longest `step_timeout_ms` / `timeout_ms` of a step (24 hours).
pub const MAX_STEP_TIMEOUT_MS: u64 = 24 * 60 * 60 * 1000;
/// Highest `max_step_runs`.
pub const MAX_STEP_RUNS: u64 = 10_000;
/// Highest `max_retries` and `max_fixes`.
pub const MAX_RETRIES: u64 = 100;

/// Deserializers of numbers that must lie in a documented range; toml reports the
/// error at the value's line and column. `ranged!(de_port, u16, 1, 65535)` defines
/// `fn de_port` for `#[serde(deserialize_with = "de_port")]` (the server's
/// configuration uses it too).
#[macro_export]
macro_rules! ranged {
    ($name:ident, $ty:ty, $low:expr, $high:expr) => {
        pub(crate) fn $name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
            let value = <u64 as serde::Deserialize>::deserialize(d)?;
            if !($low..=$high).contains(&value) {
                return Err(serde::de::Error::custom(format!(
                    "{value} is outside the allowed range {}..={}",
                    $low, $high
                )));
            }
            <$ty>::try_from(value).map_err(serde::de::Error::custom)
        }
    };
}

ranged!(de_concurrency, usize, 1, MAX_CONCURRENCY);
ranged!(de_timeout_ms, u64, 1, MAX_STEP_TIMEOUT_MS);
ranged!(de_step_runs, u32, 1, MAX_STEP_RUNS);
ranged!(de_retries, u32, 0, MAX_RETRIES);

fn de_some_timeout_ms<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    de_timeout_ms(d).map(Some)
}

fn de_some_retries<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    de_retries(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    pipeline: PipelineSection,
    #[serde(default)]
    defaults: DefaultsSection,
    #[serde(default)]
    bundles: BundlesSection,
    #[serde(default)]
    steps: Vec<StepSection>,
    #[serde(default)]
    seams: Vec<SeamSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PipelineSection {
    name: Spanned<String>,
    #[serde(default)]
    description: String,
    ledger: Option<String>,
}

/// `[bundles]`: where bundle references are looked up and who is trusted (also the
/// server configuration's).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct BundlesSection {
    /// Folders holding bundles, relative to the file.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Trusted public keys (text, or files relative to the file).
    #[serde(default)]
    pub trusted_keys: Vec<Spanned<String>>,
    #[serde(default)]
    pub require_signature: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultsSection {
    on_fail: Option<Spanned<String>>,
    on_error: Option<Spanned<String>>,
    #[serde(default = "default_max_retries", deserialize_with = "de_retries")]
    max_retries: u32,
    when_retries_exhausted: Option<Spanned<String>>,
    #[serde(default = "default_max_fixes", deserialize_with = "de_retries")]
    max_fixes: u32,
    #[serde(
        default = "default_step_timeout_ms",
        deserialize_with = "de_timeout_ms"
    )]
    step_timeout_ms: u64,
    #[serde(default = "default_max_step_runs", deserialize_with = "de_step_runs")]
    max_step_runs: u32,
    #[serde(default = "default_concurrency", deserialize_with = "de_concurrency")]
    concurrency: usize,
    #[serde(default)]
    limits: Option<Limits>,
}

impl Default for DefaultsSection {
    fn default() -> Self {
        DefaultsSection {
            on_fail: None,
            on_error: None,
            max_retries: default_max_retries(),
            when_retries_exhausted: None,
            max_fixes: default_max_fixes(),
            step_timeout_ms: default_step_timeout_ms(),
            max_step_runs: default_max_step_runs(),
            concurrency: default_concurrency(),
            limits: None,
        }
    }
}

pub(crate) fn default_max_retries() -> u32 {
    2
}
pub(crate) fn default_max_fixes() -> u32 {
    2
}
fn default_step_timeout_ms() -> u64 {
    60_000
}
fn default_max_step_runs() -> u32 {
    50
}
fn default_concurrency() -> usize {
    4
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepSection {
    name: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default, deserialize_with = "de_some_timeout_ms")]
    timeout_ms: Option<u64>,
    output_schema: Option<Spanned<serde_json::Value>>,
    on_invalid: Option<Spanned<String>>,
    // command
    command: Option<Spanned<Vec<String>>>,
    cwd: Option<String>,
    #[serde(default)]
    env: HashMap<String, String>,
    output: Option<Spanned<String>>,
    // http
    url: Option<Spanned<String>>,
    #[serde(default)]
    headers: HashMap<String, String>,
    // openai
    base_url: Option<Spanned<String>>,
    model: Option<Spanned<String>>,
    prompt: Option<Spanned<String>>,
    system: Option<Spanned<String>>,
    api_key_env: Option<Spanned<String>>,
    temperature: Option<f64>,
    max_tokens: Option<u32>,
    // human
    instructions: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SeamSection {
    from: Spanned<String>,
    to: Option<Spanned<String>>,
    #[serde(default, deserialize_with = "de_some_retries")]
    max_retries: Option<u32>,
    #[serde(default)]
    gates: Vec<GateSection>,
    router: Option<RouterSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GateSection {
    pub(crate) name: Option<Spanned<String>>,
    pub(crate) plugin: Spanned<String>,
    #[serde(default = "empty_settings")]
    pub(crate) settings: serde_json::Value,
    pub(crate) on_fail: Option<Spanned<String>>,
    pub(crate) on_error: Option<Spanned<String>>,
    pub(crate) limits: Option<Limits>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouterSection {
    pub(crate) plugin: Spanned<String>,
    #[serde(default = "empty_settings")]
    pub(crate) settings: serde_json::Value,
    pub(crate) on_error: Option<Spanned<String>>,
    pub(crate) limits: Option<Limits>,
}

fn empty_settings() -> serde_json::Value {
    serde_json::json!({})
}

/// What happens when a gate fails a handoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Policy {
    /// Re-run the upstream step with the findings as feedback (bounded).
    Retry,
    /// Apply the gate's repaired payload and check the seam again (bounded).
    Fix,
    /// Pause the run for a person to decide.
    Escalate,
    /// Continue at another step with this payload.
    Route(String),
    /// End the run, rejected.
    Block,
    /// Record the failure and continue.
    Warn,
}

impl Policy {
    /// Precedence when several gates fail with different policies: the strictest wins.
    pub(crate) fn rank(&self) -> u8 {
        match self {
            Policy::Block => 5,
            Policy::Escalate => 4,
            Policy::Retry => 3,
            Policy::Fix => 2,
            Policy::Route(_) => 1,
            Policy::Warn => 0,
        }
    }
}

impl std::fmt::Display for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Policy::Retry => f.write_str("retry"),
            Policy::Fix => f.write_str("fix"),
            Policy::Escalate => f.write_str("escalate"),
            Policy::Route(step) => write!(f, "route:{step}"),
            Policy::Block => f.write_str("block"),
            Policy::Warn => f.write_str("warn"),
        }
    }
}

/// What happens when a gate or router malfunctions (an error verdict).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnError {
    /// Fail closed: the run ends with an error naming the plugin.
    Block,
    /// Fail open: the error is recorded and the gate counts as passed.
    Allow,
}

/// How a step is run.
#[derive(Debug, Clone)]
pub enum Adapter {
    /// A subprocess: JSON on stdin, JSON (or text) on stdout.
    Command {
        argv: Vec<String>,
        cwd: PathBuf,
        env: HashMap<String, String>,
        text_output: bool,
    },
    /// POST JSON to a URL, JSON back.
    Http {
        url: String,
        headers: HashMap<String, String>,
    },
    /// An OpenAI-compatible chat-completions endpoint.
    OpenAi {
        base_url: String,
        model: String,
        prompt: String,
        system: Option<String>,
        api_key_env: Option<String>,
        temperature: Option<f64>,
        max_tokens: Option<u32>,
        json_output: bool,
    },
    /// The run pauses for a person.
    Human { instructions: String },
}

impl Adapter {
    /// The adapter's kind as written in the file.
    pub fn kind(&self) -> &'static str {
        match self {
            Adapter::Command { .. } => "command",
            Adapter::Http { .. } => "http",
            Adapter::OpenAi { .. } => "openai",
            Adapter::Human { .. } => "human",
        }
    }
}

/// One step of a pipeline.
pub struct Step {
    pub name: String,
    pub adapter: Adapter,
    pub timeout: Duration,
    /// The JSON Schema its output must match (layer 1), with the policy for a mismatch.
    pub output_schema: Option<(serde_json::Value, jsonschema::Validator)>,
    pub on_invalid: Policy,
}

/// One gate at a seam.
pub struct Gate {
    /// The gate's name in this seam (defaults to the plugin's).
    pub name: String,
    pub plugin: Plugin,
    pub on_fail: Policy,
    pub on_error: OnError,
}

/// The router of a seam.
pub struct SeamRouter {
    pub plugin: Plugin,
    pub on_error: OnError,
}

/// Where a seam hands the payload on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Step(String),
    Done,
}

impl Next {
    /// The step's name, or `done`: as handoffs and routes record it.
    pub fn label(&self) -> String {
        match self {
            Next::Step(s) => s.clone(),
            Next::Done => "done".into(),
        }
    }
}

/// The checks between a step and the next.
pub struct Seam {
    pub from: String,
    pub to: Next,
    pub max_retries: u32,
    pub gates: Vec<Gate>,
    pub router: Option<SeamRouter>,
}

/// A checked pipeline, its plugins loaded.
pub struct Pipeline {
    pub name: String,
    pub description: String,
    /// The file it was read from.
    pub file: PathBuf,
    /// SHA-256 of the file's text, recorded with every run.
    pub digest: String,
    /// The ledger the file names, resolved against its folder.
    pub ledger: Option<PathBuf>,
    pub steps: Vec<Step>,
    /// Seams by the name of their upstream step.
    pub seams: HashMap<String, Seam>,
    /// Retries of a step whose seam does not say (`defaults.max_retries`).
    pub max_retries: u32,
    pub when_retries_exhausted: Policy,
    pub max_fixes: u32,
    pub max_step_runs: u32,
    pub concurrency: usize,
    /// The bundles its plugins came from (what `seam lock` pins).
    pub bundles: Vec<seam_bundle::Locked>,
}

impl Pipeline {
    /// The step named `name`.
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.name == name)
    }

    /// The lock file of this pipeline: `NAME.lock` beside `NAME.toml`.
    pub fn lock_path(&self) -> PathBuf {
        self.file.with_extension("lock")
    }

    /// Where a payload goes after step `name` when its seam lets it through.
    pub fn next_after(&self, name: &str) -> Next {
        if let Some(seam) = self.seams.get(name) {
            return seam.to.clone();
        }
        let i = self.steps.iter().position(|s| s.name == name);
        match i.and_then(|i| self.steps.get(i + 1)) {
            Some(next) => Next::Step(next.name.clone()),
            None => Next::Done,
        }
    }

    /// Reads, checks and resolves a pipeline file, loading every plugin it names.
    /// Whether the pipeline file at `path` gives any gate or router a fuel budget (a
    /// `fuel` key anywhere in it), so the engine that loads it must meter fuel. A file
    /// that cannot be read or parsed says no: loading it reports why.
    pub fn sets_fuel(path: &Path) -> bool {
        fn has_fuel(v: &toml::Value) -> bool {
            match v {
                toml::Value::Table(t) => t.iter().any(|(k, v)| k == "fuel" || has_fuel(v)),
                toml::Value::Array(items) => items.iter().any(has_fuel),
                _ => false,
            }
        }
        seam_types::files::read_regular_text(path, MAX_PIPELINE_FILE_BYTES)
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok())
            .is_some_and(|t| has_fuel(&toml::Value::Table(t)))
    }

    pub fn load(path: &Path, runtime: &Runtime) -> Result<Pipeline, ConfigError> {
        Self::load_with(path, runtime, true)
    }

    /// Like [`load`](Self::load); `enforce_lock = false` ignores the lock file (for
    /// `seam lock`, which writes it).
    pub fn load_with(
        path: &Path,
        runtime: &Runtime,
        enforce_lock: bool,
    ) -> Result<Pipeline, ConfigError> {
        let text =
            seam_types::files::read_regular_text(path, MAX_PIPELINE_FILE_BYTES).map_err(|e| {
                ConfigError {
                    file: path.display().to_string(),
                    line: 0,
                    column: 0,
                    message: format!("cannot read the pipeline file: {e}"),
                }
            })?;
        // Recorded with every run, so `seam review` can resume it from any folder.
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Self::parse_with(&path, &text, runtime, enforce_lock)
    }

    /// Like [`load`](Self::load), from text already read.
    pub fn parse(path: &Path, text: &str, runtime: &Runtime) -> Result<Pipeline, ConfigError> {
        Self::parse_with(path, text, runtime, true)
    }

    fn parse_with(
        path: &Path,
        text: &str,
        runtime: &Runtime,
        enforce_lock: bool,
    ) -> Result<Pipeline, ConfigError> {
        let ctx = Ctx {
            file: path.display().to_string(),
            text,
            enforce_lock,
        };
        let file: File = toml::from_str(text).map_err(|e| {
            let message = e.message().trim().to_string();
            ctx.err(e.span().unwrap_or(0..0), message)
        })?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        ctx.resolve(file, &dir, path, runtime)
    }
}

impl ConfigError {
    fn render(&self) -> String {
        match self.line {
            0 if self.message.starts_with(&self.file) => self.message.clone(),
            0 => format!("{}: {}", self.file, self.message),
            _ => format!(
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            ),
        }
    }
}

pub(crate) struct Ctx<'a> {
    pub(crate) file: String,
    pub(crate) text: &'a str,
    /// Enforce the lock file next to the pipeline, if there is one.
    pub(crate) enforce_lock: bool,
}

/// Where bundle references are resolved, and which bundles were used.
pub(crate) struct Bundles {
    pub(crate) resolver: seam_bundle::Resolver,
    used: Vec<seam_bundle::Locked>,
}

/// What a seam's gates and router get when they do not say.
pub(crate) struct SeamDefaults<'a> {
    pub(crate) on_fail: &'a Policy,
    pub(crate) on_error: OnError,
    pub(crate) limits: &'a Limits,
    /// What `route:<target>` may name (a pipeline's steps).
    pub(crate) targets: &'a [String],
}

impl Ctx<'_> {
    pub(crate) fn err(&self, span: Range<usize>, message: impl Into<String>) -> ConfigError {
        let (line, column) = seam_types::position::line_column(self.text, span.start);
        ConfigError {
            file: self.file.clone(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Checks a prompt template; a mistake is reported at its place in the file (exact
    /// for strings without escapes, near it otherwise).
    fn template(&self, t: &Spanned<String>, field: &str, step: &str) -> Result<(), ConfigError> {
        let Err(e) = crate::adapters::check_template(t.get_ref()) else {
            return Ok(());
        };
        let span = t.span();
        let raw = self.text.get(span.clone()).unwrap_or("");
        let quote = if raw.starts_with("\"\"\"") || raw.starts_with("'''") {
            3 + if raw[3..].starts_with("\r\n") {
                2
            } else {
                usize::from(raw[3..].starts_with('\n'))
            }
        } else {
            1
        };
        let at = (span.start + quote + e.offset).min(span.end.saturating_sub(1).max(span.start));
        Err(self.err(at..at, format!("step `{step}`: `{field}`: {}", e.message)))
    }

    pub(crate) fn policy(
        &self,
        s: &Spanned<String>,
        steps: &[String],
    ) -> Result<Policy, ConfigError> {
        let v = s.get_ref().as_str();
        Ok(match v {
            "retry" => Policy::Retry,
            "fix" => Policy::Fix,
            "escalate" => Policy::Escalate,
            "block" => Policy::Block,
            "warn" => Policy::Warn,
            _ => match v.strip_prefix("route:") {
                Some(step) if steps.iter().any(|s| s == step) => Policy::Route(step.to_string()),
                Some(step) => {
                    return Err(self.err(s.span(), format!("`{v}` routes to `{step}`, which is not a step of this pipeline (steps: {})", steps.join(", "))))
                }
                None => {
                    return Err(self.err(
                        s.span(),
                        format!("unknown policy `{v}`; use retry, fix, escalate, block, warn or route:<step>"),
                    ))
                }
            },
        })
    }

    /// `when_retries_exhausted`: block (the default) or escalate.
    pub(crate) fn when_retries_exhausted(
        &self,
        s: Option<&Spanned<String>>,
        targets: &[String],
    ) -> Result<Policy, ConfigError> {
        let Some(s) = s else {
            return Ok(Policy::Block);
        };
        match self.policy(s, targets)? {
            p @ (Policy::Block | Policy::Escalate) => Ok(p),
            _ => Err(self.err(s.span(), "when_retries_exhausted must be block or escalate")),
        }
    }

    pub(crate) fn on_error(&self, s: &Spanned<String>) -> Result<OnError, ConfigError> {
        match s.get_ref().as_str() {
            "block" => Ok(OnError::Block),
            "allow" => Ok(OnError::Allow),
            other => Err(self.err(
                s.span(),
                format!("unknown on_error `{other}`; use block or allow"),
            )),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn plugin(
        &self,
        spec: &Spanned<String>,
        kind: PluginKind,
        settings: &serde_json::Value,
        limits: Limits,
        dir: &Path,
        runtime: &Runtime,
        bundles: &mut Bundles,
    ) -> Result<Plugin, ConfigError> {
        let name = spec.get_ref();
        let at = |e: String| self.err(spec.span(), e);
        let source = if let Some(r) = seam_bundle::PluginRef::parse(name) {
            let r = r.map_err(|e| at(e.to_string()))?;
            let (bundle, source) = bundles.resolver.source(&r).map_err(|e| at(e.to_string()))?;
            let locked = seam_bundle::Locked {
                name: bundle.manifest.bundle.name.clone(),
                version: bundle.manifest.bundle.version.clone(),
                sha256: bundle.digest(),
            };
            if !bundles.used.contains(&locked) {
                bundles.used.push(locked);
            }
            Ok(source)
        } else {
            match seam_runtime::standard(name) {
                Some(s) => Ok(s),
                None => {
                    let path = dir.join(name);
                    if path.exists() || name.ends_with(".wasm") {
                        PluginSource::file(&path).map_err(LoadError::from)
                    } else {
                        seam_runtime::resolve(name)
                    }
                }
            }
        };
        source
            .and_then(|s| runtime.load(&s, kind, settings, limits))
            .map_err(|e: LoadError| at(e.to_string()))
    }

    /// The resolver of the file's `[bundles]` (plus `$SEAM_BUNDLE_PATH`), with the lock
    /// file beside the pipeline when there is one.
    pub(crate) fn bundles(
        &self,
        b: &BundlesSection,
        dir: &Path,
        path: &Path,
    ) -> Result<Bundles, ConfigError> {
        let mut paths: Vec<PathBuf> = b.paths.iter().map(|p| dir.join(p)).collect();
        paths.extend(seam_bundle::env_paths());
        let mut trusted_keys = Vec::new();
        for k in &b.trusted_keys {
            let spec = k.get_ref();
            let spec = if spec.starts_with("seam-ed25519-public:") {
                spec.clone()
            } else {
                dir.join(spec).display().to_string()
            };
            trusted_keys.push(
                seam_bundle::parse_public_key(&spec)
                    .map_err(|e| self.err(k.span(), e.to_string()))?,
            );
        }
        let lock_path = path.with_extension("lock");
        let lock = if self.enforce_lock && lock_path.exists() {
            let lock = seam_bundle::Lock::read(&lock_path).map_err(|e| ConfigError {
                file: lock_path.display().to_string(),
                line: 0,
                column: 0,
                message: e.to_string(),
            })?;
            Some((lock_path, lock))
        } else {
            None
        };
        Ok(Bundles {
            resolver: seam_bundle::Resolver {
                paths,
                policy: seam_bundle::TrustPolicy {
                    require_signature: b.require_signature || !trusted_keys.is_empty(),
                    trusted_keys,
                },
                lock,
            },
            used: Vec::new(),
        })
    }

    /// A seam's gates, each with its policies (the seam's defaults where it names none);
    /// two gates of one seam may not share a name. `seam` names the seam in errors.
    pub(crate) fn gates(
        &self,
        sections: &[GateSection],
        seam: &str,
        d: &SeamDefaults<'_>,
        dir: &Path,
        runtime: &Runtime,
        bundles: &mut Bundles,
    ) -> Result<Vec<Gate>, ConfigError> {
        let mut gates: Vec<Gate> = Vec::new();
        for g in sections {
            let limits = g.limits.clone().unwrap_or_else(|| d.limits.clone());
            let plugin = self.plugin(
                &g.plugin,
                PluginKind::Gate,
                &g.settings,
                limits,
                dir,
                runtime,
                bundles,
            )?;
            let name = match &g.name {
                Some(n) => n.get_ref().clone(),
                None => plugin.info().name.clone(),
            };
            if gates.iter().any(|x| x.name == name) {
                let span = g.name.as_ref().map_or(g.plugin.span(), |n| n.span());
                return Err(self.err(
                    span,
                    format!("two gates named `{name}` at the seam {seam}; give one a `name`"),
                ));
            }
            let on_fail = match &g.on_fail {
                Some(s) => self.policy(s, d.targets)?,
                None => d.on_fail.clone(),
            };
            let on_error = match &g.on_error {
                Some(s) => self.on_error(s)?,
                None => d.on_error,
            };
            gates.push(Gate {
                name,
                plugin,
                on_fail,
                on_error,
            });
        }
        Ok(gates)
    }

    /// A seam's router, if it has one.
    pub(crate) fn router(
        &self,
        section: Option<&RouterSection>,
        d: &SeamDefaults<'_>,
        dir: &Path,
        runtime: &Runtime,
        bundles: &mut Bundles,
    ) -> Result<Option<SeamRouter>, ConfigError> {
        let Some(r) = section else {
            return Ok(None);
        };
        let limits = r.limits.clone().unwrap_or_else(|| d.limits.clone());
        let plugin = self.plugin(
            &r.plugin,
            PluginKind::Router,
            &r.settings,
            limits,
            dir,
            runtime,
            bundles,
        )?;
        let on_error = match &r.on_error {
            Some(s) => self.on_error(s)?,
            None => d.on_error,
        };
        Ok(Some(SeamRouter { plugin, on_error }))
    }

    fn resolve(
        &self,
        f: File,
        dir: &Path,
        path: &Path,
        runtime: &Runtime,
    ) -> Result<Pipeline, ConfigError> {
        let d = &f.defaults;
        let names: Vec<String> = f.steps.iter().map(|s| s.name.get_ref().clone()).collect();
        let mut bundles = self.bundles(&f.bundles, dir, path)?;
        if f.steps.is_empty() {
            return Err(self.err(
                f.pipeline.name.span(),
                "the pipeline has no steps; add at least one [[steps]]",
            ));
        }
        let default_on_fail = match &d.on_fail {
            Some(s) => self.policy(s, &names)?,
            None => Policy::Block,
        };
        let default_on_error = match &d.on_error {
            Some(s) => self.on_error(s)?,
            None => OnError::Block,
        };
        let when_retries_exhausted =
            self.when_retries_exhausted(d.when_retries_exhausted.as_ref(), &names)?;
        let gate_limits = d.limits.clone().unwrap_or_default();

        let mut steps = Vec::new();
        for (i, s) in f.steps.iter().enumerate() {
            let name = s.name.get_ref();
            if name.is_empty()
                || matches!(
                    name.as_str(),
                    "retry" | "human" | "done" | "reject" | "next"
                )
            {
                return Err(self.err(
                    s.name.span(),
                    format!("`{name}` cannot name a step (empty, or a reserved route target)"),
                ));
            }
            if names[..i].contains(name) {
                return Err(self.err(
                    s.name.span(),
                    format!("a step named `{name}` is already defined"),
                ));
            }
            steps.push(self.step(s, dir, d.step_timeout_ms, &names)?);
        }

        let mut seams = HashMap::new();
        for seam in &f.seams {
            let from = seam.from.get_ref();
            let Some(i) = names.iter().position(|n| n == from) else {
                return Err(self.err(
                    seam.from.span(),
                    format!(
                        "seam from `{from}`, which is not a step (steps: {})",
                        names.join(", ")
                    ),
                ));
            };
            if seams.contains_key(from) {
                return Err(self.err(seam.from.span(), format!("a seam from `{from}` is already defined; put all its gates in one [[seams]]")));
            }
            let to = match &seam.to {
                Some(to) if to.get_ref() == "done" => Next::Done,
                Some(to) if names.contains(to.get_ref()) => Next::Step(to.get_ref().clone()),
                Some(to) => {
                    return Err(self.err(
                        to.span(),
                        format!(
                            "seam to `{}`, which is not a step (steps: {}) nor `done`",
                            to.get_ref(),
                            names.join(", ")
                        ),
                    ))
                }
                None => names
                    .get(i + 1)
                    .map_or(Next::Done, |n| Next::Step(n.clone())),
            };
            let defaults = SeamDefaults {
                on_fail: &default_on_fail,
                on_error: default_on_error,
                limits: &gate_limits,
                targets: &names,
            };
            let at = format!("from `{from}`");
            let gates = self.gates(&seam.gates, &at, &defaults, dir, runtime, &mut bundles)?;
            let router =
                self.router(seam.router.as_ref(), &defaults, dir, runtime, &mut bundles)?;
            seams.insert(
                from.clone(),
                Seam {
                    from: from.clone(),
                    to,
                    max_retries: seam.max_retries.unwrap_or(d.max_retries),
                    gates,
                    router,
                },
            );
        }

        Ok(Pipeline {
            name: f.pipeline.name.get_ref().clone(),
            description: f.pipeline.description.clone(),
            file: path.to_path_buf(),
            digest: seam_types::sha256_hex(self.text.as_bytes()),
            ledger: f.pipeline.ledger.as_ref().map(|l| dir.join(l)),
            steps,
            seams,
            max_retries: d.max_retries,
            when_retries_exhausted,
            max_fixes: d.max_fixes,
            max_step_runs: d.max_step_runs,
            concurrency: d.concurrency,
            bundles: bundles.used,
        })
    }

    fn step(
        &self,
        s: &StepSection,
        dir: &Path,
        default_timeout: u64,
        names: &[String],
    ) -> Result<Step, ConfigError> {
        let name = s.name.get_ref();
        let kind = s.kind.get_ref().as_str();
        // Fields that belong to other kinds are mistakes, not silently ignored.
        let present: Vec<(&str, Option<Range<usize>>)> = vec![
            ("command", s.command.as_ref().map(|v| v.span())),
            ("output", s.output.as_ref().map(|v| v.span())),
            ("url", s.url.as_ref().map(|v| v.span())),
            ("base_url", s.base_url.as_ref().map(|v| v.span())),
            ("model", s.model.as_ref().map(|v| v.span())),
            ("prompt", s.prompt.as_ref().map(|v| v.span())),
            ("api_key_env", s.api_key_env.as_ref().map(|v| v.span())),
        ];
        let allowed: &[&str] = match kind {
            "command" => &["command", "output"],
            "http" => &["url"],
            "openai" => &["base_url", "model", "prompt", "api_key_env", "output"],
            "human" => &[],
            other => {
                return Err(self.err(
                    s.kind.span(),
                    format!("unknown step kind `{other}`; use command, http, openai or human"),
                ));
            }
        };
        for (field, span) in &present {
            if let Some(span) = span {
                if !allowed.contains(field) {
                    return Err(self.err(
                        span.clone(),
                        format!("`{field}` does not apply to a {kind} step (step `{name}`)"),
                    ));
                }
            }
        }
        // The same for fields without a recorded position: point at the step's kind.
        let unplaced = [
            ("cwd", s.cwd.is_some(), &["command"][..]),
            ("env", !s.env.is_empty(), &["command"][..]),
            ("headers", !s.headers.is_empty(), &["http"][..]),
            ("system", s.system.is_some(), &["openai"][..]),
            ("temperature", s.temperature.is_some(), &["openai"][..]),
            ("max_tokens", s.max_tokens.is_some(), &["openai"][..]),
            ("instructions", s.instructions.is_some(), &["human"][..]),
        ];
        for (field, present, kinds) in unplaced {
            if present && !kinds.contains(&kind) {
                return Err(self.err(
                    s.kind.span(),
                    format!("`{field}` does not apply to a {kind} step (step `{name}`)"),
                ));
            }
        }
        let required = |v: Option<&Spanned<String>>, field: &str| -> Result<String, ConfigError> {
            v.map(|v| v.get_ref().clone()).ok_or_else(|| {
                self.err(
                    s.kind.span(),
                    format!("a {kind} step needs `{field}` (step `{name}`)"),
                )
            })
        };
        let output_json = |default_json: bool| -> Result<bool, ConfigError> {
            match &s.output {
                None => Ok(default_json),
                Some(o) => match o.get_ref().as_str() {
                    "json" => Ok(true),
                    "text" => Ok(false),
                    other => Err(self.err(
                        o.span(),
                        format!("unknown output `{other}`; use json or text"),
                    )),
                },
            }
        };
        let adapter = match kind {
            "command" => {
                let Some(argv) = &s.command else {
                    return Err(self.err(s.kind.span(), format!("a command step needs `command = [\"program\", \"arg\", ...]` (step `{name}`)")));
                };
                if argv.get_ref().is_empty() {
                    return Err(self.err(
                        argv.span(),
                        "`command` is empty; give the program and its arguments",
                    ));
                }
                Adapter::Command {
                    argv: argv.get_ref().clone(),
                    cwd: s
                        .cwd
                        .as_ref()
                        .map_or_else(|| dir.to_path_buf(), |c| dir.join(c)),
                    env: s.env.clone(),
                    text_output: !output_json(true)?,
                }
            }
            "http" => Adapter::Http {
                url: required(s.url.as_ref(), "url")?,
                headers: s.headers.clone(),
            },
            "openai" => Adapter::OpenAi {
                base_url: required(s.base_url.as_ref(), "base_url")?,
                model: required(s.model.as_ref(), "model")?,
                prompt: {
                    let prompt = required(s.prompt.as_ref(), "prompt")?;
                    if let Some(p) = &s.prompt {
                        self.template(p, "prompt", name)?;
                    }
                    prompt
                },
                system: match &s.system {
                    Some(sys) => {
                        self.template(sys, "system", name)?;
                        Some(sys.get_ref().clone())
                    }
                    None => None,
                },
                api_key_env: s.api_key_env.as_ref().map(|v| v.get_ref().clone()),
                temperature: s.temperature,
                max_tokens: s.max_tokens,
                json_output: output_json(false)?,
            },
            _ => Adapter::Human {
                instructions: s.instructions.clone().unwrap_or_default(),
            },
        };
        let output_schema = match &s.output_schema {
            Some(schema) => {
                let validator = jsonschema::validator_for(schema.get_ref()).map_err(|e| {
                    self.err(
                        schema.span(),
                        format!("output_schema of step `{name}` is not a valid JSON Schema: {e}"),
                    )
                })?;
                Some((schema.get_ref().clone(), validator))
            }
            None => None,
        };
        let on_invalid = match &s.on_invalid {
            Some(p) => match self.policy(p, names)? {
                Policy::Fix => {
                    return Err(self.err(
                        p.span(),
                        "on_invalid cannot be `fix`: the output schema offers no repaired payload; use retry, escalate, block, warn or route:<step>",
                    ))
                }
                policy => policy,
            },
            None => Policy::Retry,
        };
        Ok(Step {
            name: name.clone(),
            adapter,
            timeout: Duration::from_millis(s.timeout_ms.unwrap_or(default_timeout)),
            output_schema,
            on_invalid,
        })
    }
}
