//! The `seam` command line: one file per subcommand; this file parses arguments, maps
//! outcomes to exit codes, prints errors, and holds the helpers the subcommands share.
//!
//! It lives in the library so that tests drive exactly what the binary runs, with
//! their own output buffers: [`main`] is the whole program.

mod bundle;
mod check;
mod demo;
mod describe;
mod new;
mod report;
pub mod review;
mod route;
pub mod run;

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;

use anyhow::{Context, Result};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

use seam_runtime::{Limits, Runtime, RuntimeConfig};
use seam_types::Handoff;

/// Exit codes: the contract with scripts and orchestrators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every gate passed (or the command succeeded).
    Passed = 0,
    /// A gate rejected the payload.
    Rejected = 1,
    /// Usage, configuration or plugin error.
    Error = 2,
    /// A run waits for a person (`seam review`).
    Waiting = 3,
}

#[derive(Parser)]
#[command(
    name = "seam",
    version,
    about = "Sandboxed verification gates and routers for AI pipelines",
    long_about = "Runs gate and router plugins (WebAssembly components) in a sandbox at the \
                  handoffs between the steps of an AI pipeline.\n\nExit codes: 0 passed (a run \
                  completed), 1 rejected by a gate, 2 usage, configuration, plugin or step \
                  error, 3 a run waits for a person."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the headphone example pipeline, offline (the quickest way to see seam work).
    Demo(demo::DemoArgs),
    /// Run inputs through a pipeline (or resume a run).
    Run(run::RunArgs),
    /// List, show and decide what waits for a person.
    Review(review::ReviewArgs),
    /// Build, inspect, test, sign and verify bundles of plugins.
    Bundle(bundle::BundleArgs),
    /// Make an ed25519 key pair for signing bundles.
    Keygen(bundle::KeygenArgs),
    /// Pin the digest of every bundle a pipeline loads (PIPELINE.lock).
    Lock(bundle::LockArgs),
    /// Start a new gate or router crate on the guest SDK.
    New(new::NewArgs),
    /// The reliability report over the ledger: gates, seams, pipelines, people.
    Report(report::ReportArgs),
    /// Export judged candidates (accepted and rejected) as JSONL.
    Feedback(report::FeedbackArgs),
    /// Check a payload with one or more gates.
    Check(check::CheckArgs),
    /// Print a plugin's description and settings schema.
    Describe(describe::DescribeArgs),
    /// Ask a router where a handoff goes next, given gate verdicts.
    Route(route::RouteArgs),
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// For people.
    #[default]
    Pretty,
    /// One JSON document on stdout (stable; see docs/cli.md).
    Json,
}

/// Runtime options shared by every command that runs plugins.
#[derive(Args, Debug, Clone)]
pub struct RuntimeArgs {
    /// Deadline of each plugin call, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = seam_runtime::limits::DEFAULT_DEADLINE_MS)]
    deadline_ms: u64,
    /// Memory limit of each plugin instance, in MiB (raises the 256 MiB ceiling if higher).
    #[arg(long, value_name = "MIB", default_value_t = seam_runtime::limits::DEFAULT_MEMORY_BYTES >> 20)]
    memory_mib: usize,
    /// Instruction budget of each plugin call (turns on fuel metering).
    #[arg(long, value_name = "N")]
    fuel: Option<u64>,
    /// Do not read or write the compiled-component cache.
    #[arg(long)]
    no_cache: bool,
    #[command(flatten)]
    pub search: bundle::SearchArgs,
}

impl RuntimeArgs {
    fn runtime(&self) -> Result<Runtime> {
        let mut config = RuntimeConfig {
            fuel_metering: self.fuel.is_some(),
            ..RuntimeConfig::default()
        };
        if self.no_cache {
            config.cache = None;
        }
        config.max_memory_bytes = config.max_memory_bytes.max(self.memory_mib << 20);
        Runtime::new(config).context("starting the wasm runtime")
    }

    fn limits(&self) -> Limits {
        Limits {
            deadline_ms: self.deadline_ms,
            memory_bytes: self.memory_mib << 20,
            fuel: self.fuel,
            ..Limits::default()
        }
    }
}

/// The whole program: parses `args` (program name first), runs the command writing its
/// output to `out`, prints any error with its cause chain to `err`, and returns the exit
/// code. Never panics on input; a broken pipe on `out` counts as success.
pub fn main(
    args: impl IntoIterator<Item = OsString>,
    out: &mut (dyn Write + Send),
    err: &mut dyn Write,
) -> u8 {
    match run(args, out, err) {
        Ok(code) => code as u8,
        Err(e) => {
            let broken_pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if broken_pipe {
                return Exit::Passed as u8;
            }
            let _ = writeln!(err, "seam: error: {e}");
            for cause in e.chain().skip(1) {
                let _ = writeln!(err, "  caused by: {cause}");
            }
            Exit::Error as u8
        }
    }
}

/// Engine options of the commands whose limits come from a pipeline file.
#[derive(Args, Debug, Clone, Default)]
pub struct EngineArgs {
    /// Meter instructions even when the pipeline sets no `fuel` budget (metering is
    /// turned on by itself when it does).
    #[arg(long, hide = true)]
    fuel_metering: bool,
    /// Do not read or write the compiled-component cache.
    #[arg(long)]
    no_cache: bool,
}

impl EngineArgs {
    /// The engine for the pipeline file at `pipeline`: fuel is metered when the file
    /// sets a `fuel` budget anywhere.
    fn runtime_for(&self, pipeline: &Path) -> Result<Runtime> {
        let mut args = self.clone();
        args.fuel_metering |= seam_pipeline::Pipeline::sets_fuel(pipeline);
        args.runtime()
    }

    fn runtime(&self) -> Result<Runtime> {
        let mut config = RuntimeConfig {
            fuel_metering: self.fuel_metering,
            ..RuntimeConfig::default()
        };
        if self.no_cache {
            config.cache = None;
        }
        Runtime::new(config).context("starting the wasm runtime")
    }
}

/// Parses the command line and runs the command; returns the exit code.
fn run(
    args: impl IntoIterator<Item = OsString>,
    out: &mut (dyn Write + Send),
    err: &mut dyn Write,
) -> Result<Exit> {
    let matches = match Cli::command().try_get_matches_from(args) {
        Ok(m) => m,
        Err(e) => {
            let text = e.render().to_string();
            return Ok(match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    out.write_all(text.as_bytes())?;
                    Exit::Passed
                }
                _ => {
                    err.write_all(text.as_bytes())?;
                    Exit::Error
                }
            });
        }
    };
    let cli = Cli::from_arg_matches(&matches)?;
    match cli.command {
        Command::Check(args) => {
            let sub = matches
                .subcommand_matches("check")
                .expect("clap matched check");
            check::run(args, sub, out)
        }
        Command::Describe(args) => describe::run(args, out),
        Command::Demo(args) => demo::run(args, out),
        Command::Run(args) => run::run(args, out),
        Command::Review(args) => review::run(args, out),
        Command::Bundle(args) => bundle::run(args, out),
        Command::Keygen(args) => bundle::keygen(args, out),
        Command::Lock(args) => bundle::lock(args, out),
        Command::New(args) => new::run(args, out),
        Command::Report(args) => report::run(args, out),
        Command::Feedback(args) => report::feedback(args, out),
        Command::Route(args) => route::run(args, out),
    }
}

/// Reads `-` (stdin) or a file, naming the file in any error.
fn read_input(spec: &str, what: &str) -> Result<String> {
    if spec == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .with_context(|| format!("reading the {what} from stdin"))?;
        return Ok(text);
    }
    std::fs::read_to_string(spec).with_context(|| format!("reading the {what} from {spec}"))
}

/// A JSON value given inline or as `@FILE`.
fn json_arg(spec: &str, what: &str) -> Result<serde_json::Value> {
    let (text, origin) = match spec.strip_prefix('@') {
        Some(path) => (read_input(path, what)?, path.to_string()),
        None => (spec.to_string(), "the command line".to_string()),
    };
    serde_json::from_str(&text).map_err(|e| {
        anyhow::anyhow!(
            "the {what} from {origin} is not valid JSON (line {}, column {}): {e}; \
             give JSON inline ('{{\"max_words\": 40}}') or as @FILE",
            e.line(),
            e.column()
        )
    })
}

/// How a payload file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PayloadFormat {
    /// JSON when the file is `.json` or starts with `{`, `[` or `"`; text otherwise.
    #[default]
    Auto,
    /// Always JSON.
    Json,
    /// Always plain text (sent as a JSON string).
    Text,
}

/// Reads the payload (and optional context) into a handoff.
fn read_handoff(payload: &str, format: PayloadFormat, context: Option<&str>) -> Result<Handoff> {
    let text = read_input(payload, "payload")?;
    let looks_json = Path::new(payload).extension().is_some_and(|e| e == "json")
        || text.trim_start().starts_with(['{', '[', '"']);
    let as_json = match format {
        PayloadFormat::Json => true,
        PayloadFormat::Text => false,
        PayloadFormat::Auto => looks_json,
    };
    let mut handoff = if as_json {
        let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "the payload {payload} is not valid JSON (line {}, column {}): {e}; \
                 pass --payload-format text to check it as plain text",
                e.line(),
                e.column()
            )
        })?;
        Handoff::new(value.to_string())
    } else {
        // A text file's final newline is a file convention, not part of the payload.
        let body = text
            .strip_suffix('\n')
            .map(|t| t.strip_suffix('\r').unwrap_or(t))
            .unwrap_or(&text);
        Handoff::text(body)
    };
    if let Some(context) = context {
        let value = json_arg(&format!("@{context}"), "context")?;
        handoff = handoff.with_context(value.to_string());
    }
    Ok(handoff)
}
