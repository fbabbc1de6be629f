//! The `seam` command line: one file per subcommand; this file parses arguments, maps
//! outcomes to exit codes, prints errors, and holds the helpers the subcommands share.
//!
//! It lives in the library so that tests drive exactly what the binary runs, with
//! their own output buffers: [`main`] is the whole program.

mod bundle;
mod check;
mod demo;
mod describe;
pub mod io;
mod mcp;
mod new;
mod progress;
mod report;
pub mod review;
mod route;
pub mod run;
mod serve;
mod style;
mod wit;

use std::ffi::OsString;
use std::io::Write;
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
    /// Cap on each input read from a file or stdin (payload, context, settings, run
    /// input, review payload), in MiB; for `seam check` also the payload cap of the gates.
    #[arg(long, global = true, value_name = "MIB", default_value_t = io::DEFAULT_MAX_INPUT_MIB,
          value_parser = clap::value_parser!(u64).range(1..=io::MAX_INPUT_MIB))]
    max_input_mib: u64,
    /// When to colour the output: `auto` (when stdout is a terminal and `NO_COLOR` is
    /// not set), `always`, `never`.
    #[arg(long, global = true, value_enum, default_value_t = style::ColorChoice::Auto)]
    color: style::ColorChoice,
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
    /// Move a ledger: copy a SQLite ledger's records into a PostgreSQL one.
    Ledger(report::LedgerCommandArgs),
    /// Check a payload with one or more gates.
    Check(check::CheckArgs),
    /// Print a plugin's description and settings schema.
    Describe(describe::DescribeArgs),
    /// Ask a router where a handoff goes next, given gate verdicts.
    Route(route::RouteArgs),
    /// Serve seams and gates over HTTP for orchestrators (docs/server.md).
    Serve(serve::ServeArgs),
    /// Serve the seams and standard gates as MCP tools, over stdio or HTTP (docs/mcp.md).
    Mcp(mcp::McpArgs),
    /// Print or write the plugin contract (WIT) this seam runs, for binding generators.
    Wit(wit::WitArgs),
    /// Print a shell completion script (e.g. `seam completions bash > ~/.local/share/bash-completion/completions/seam`).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    /// Deadline of each plugin call, in milliseconds (1 to 600000).
    #[arg(long, value_name = "MS", default_value_t = seam_runtime::limits::DEFAULT_DEADLINE_MS,
          value_parser = clap::value_parser!(u64).range(1..=seam_runtime::limits::MAX_DEADLINE_MS))]
    deadline_ms: u64,
    /// Memory limit of each plugin instance, in MiB (1 to 4096; raises the 256 MiB
    /// ceiling if higher).
    #[arg(long, value_name = "MIB", default_value_t = (seam_runtime::limits::DEFAULT_MEMORY_BYTES >> 20) as u64,
          value_parser = clap::value_parser!(u64).range(1..=(seam_runtime::limits::MAX_MEMORY_BYTES >> 20) as u64))]
    memory_mib: u64,
    /// Instruction budget of each plugin call (1 or more; turns on fuel metering).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
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
        config.max_memory_bytes = config.max_memory_bytes.max(self.memory_bytes());
        start_runtime(config, self.no_cache)
    }

    fn memory_bytes(&self) -> usize {
        usize::try_from(self.memory_mib << 20).unwrap_or(usize::MAX)
    }

    fn limits(&self) -> Limits {
        Limits {
            deadline_ms: self.deadline_ms,
            memory_bytes: self.memory_bytes(),
            fuel: self.fuel,
            max_payload_bytes: usize::try_from(io::max_input_bytes()).unwrap_or(usize::MAX),
            ..Limits::default()
        }
    }
}

/// The whole program: parses `args` (program name first), runs the command writing its
/// output to `out`, prints any error with its cause chain to `err`, and returns the exit
/// code. Never panics on input. Text on `out` and `err` shows control characters as
/// escapes; a reader of `out` that goes away early does not change the exit code.
pub fn main(
    args: impl IntoIterator<Item = OsString>,
    out: &mut (dyn Write + Send),
    err: &mut dyn Write,
) -> u8 {
    main_on(args, out, err, Console::default())
}

/// What the process's streams are connected to (the `seam` binary asks the OS; in
/// tests nothing is a terminal).
#[derive(Debug, Clone, Copy, Default)]
pub struct Console {
    /// Stdout is a terminal: colour by default.
    pub stdout_is_terminal: bool,
}

/// [`main`] for streams that may be a terminal.
pub fn main_on(
    args: impl IntoIterator<Item = OsString>,
    out: &mut (dyn Write + Send),
    err: &mut dyn Write,
    console: Console,
) -> u8 {
    io::begin(io::DEFAULT_MAX_INPUT_MIB);
    let mut terminal = io::Terminal::new(out);
    let code = match run(args, &mut terminal, err, console) {
        Ok(code) => code as u8,
        Err(e) => {
            let _ = writeln!(
                err,
                "seam: error: {}",
                seam_types::text::visible(&e.to_string())
            );
            for cause in e.chain().skip(1) {
                let _ = writeln!(
                    err,
                    "  caused by: {}",
                    seam_types::text::visible(&cause.to_string())
                );
            }
            Exit::Error as u8
        }
    };
    let _ = terminal.flush();
    for note in io::take_notes() {
        let _ = writeln!(err, "seam: note: {}", seam_types::text::visible(&note));
    }
    code
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
        start_runtime(config, self.no_cache)
    }
}

/// Starts the runtime, and says once when no compile cache can be used (unless
/// `--no-cache` asked for none): every start then compiles every plugin.
fn start_runtime(config: RuntimeConfig, no_cache: bool) -> Result<Runtime> {
    let wanted = config.cache.is_some();
    let runtime = Runtime::new(config).context("starting the wasm runtime")?;
    let cost = "every start compiles its plugins again (0.3 s for a Rust plugin, about 9 s for a Python one)";
    if let Some(why) = runtime.cache_unusable() {
        io::note(format!(
            "the compile cache is not used: {why}; {cost}. Fix the folder, or point \
             SEAM_CACHE_DIR at an owner-only folder"
        ));
    } else if !wanted && !no_cache {
        io::note(format!(
            "no compile cache: none of SEAM_CACHE_DIR, XDG_CACHE_HOME or HOME is set; {cost}"
        ));
    }
    Ok(runtime)
}

/// Parses the command line and runs the command; returns the exit code.
fn run(
    args: impl IntoIterator<Item = OsString>,
    out: &mut io::Terminal,
    err: &mut dyn Write,
    console: Console,
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
    io::begin(cli.max_input_mib);
    out.set_colour(style::wanted(
        cli.color,
        console.stdout_is_terminal,
        std::env::var_os("NO_COLOR"),
    ));
    let out: &mut (dyn Write + Send) = out;
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
        Command::Wit(args) => wit::run(args, out),
        Command::Report(args) => report::run(args, out),
        Command::Feedback(args) => report::feedback(args, out),
        Command::Ledger(args) => report::ledger(args, out),
        Command::Route(args) => route::run(args, out),
        Command::Serve(args) => serve::run(args, out),
        Command::Mcp(args) => mcp::run(args, out),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "seam", out);
            Ok(Exit::Passed)
        }
    }
}

/// JSON text parsed strictly (duplicate keys refused), with an error that names
/// the input, where it came from, and the line and column.
fn parse_json(text: &str, what: &str, origin: &str, hint: &str) -> Result<serde_json::Value> {
    seam_types::json::parse_strict(text).map_err(|e| {
        anyhow::anyhow!(
            "the {what} from {origin} is not valid JSON (line {}, column {}): {}{hint}",
            e.line(),
            e.column(),
            seam_types::json::message(&e)
        )
    })
}

/// A JSON value given inline or as `@FILE` (`@-` for stdin).
fn json_arg(spec: &str, what: &str) -> Result<serde_json::Value> {
    let (text, origin) = match spec.strip_prefix('@') {
        Some(path) => (
            io::read_input(path, what)?,
            if path == "-" {
                "stdin".to_string()
            } else {
                path.to_string()
            },
        ),
        None => (spec.to_string(), "the command line".to_string()),
    };
    parse_json(
        &text,
        what,
        &origin,
        "; give JSON inline ('{\"max_words\": 40}') or as @FILE",
    )
}

/// How a payload is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PayloadFormat {
    /// JSON when it comes from a `.json` file or is a whole JSON object or array; text
    /// otherwise (so `[Sponsored] Great` and `"Great," she said` are text).
    #[default]
    Auto,
    /// Always JSON (a JSON string, number, object, …).
    Json,
    /// Always plain text (sent as a JSON string).
    Text,
}

/// A payload's text as the value handed on ([`seam_types::payload::read`]), with an
/// error naming where it came from. `json_file` says it came from a `.json` file.
pub fn payload_value(
    text: &str,
    origin: &str,
    format: PayloadFormat,
    json_file: bool,
) -> Result<serde_json::Value> {
    let format = match format {
        PayloadFormat::Auto => seam_types::payload::Format::Auto,
        PayloadFormat::Json => seam_types::payload::Format::Json,
        PayloadFormat::Text => seam_types::payload::Format::Text,
    };
    seam_types::payload::read(text, format, json_file).map_err(|e| {
        anyhow::anyhow!(
            "the payload from {origin} is not valid JSON (line {}, column {}): {}; pass \
             --payload-format text to check it as plain text",
            e.line(),
            e.column(),
            seam_types::json::message(&e)
        )
    })
}

/// Reads the payload (a file, or `-` for stdin) and optional context into a handoff.
fn read_handoff(payload: &str, format: PayloadFormat, context: Option<&str>) -> Result<Handoff> {
    let text = io::read_input(payload, "payload")?;
    let origin = if payload == "-" { "stdin" } else { payload };
    let json_file = Path::new(payload).extension().is_some_and(|e| e == "json");
    let value = payload_value(&text, origin, format, json_file)?;
    let mut handoff = Handoff::new(value.to_string());
    if let Some(context) = context {
        let value = json_arg(&format!("@{context}"), "context")?;
        handoff = handoff.with_context(value.to_string());
    }
    Ok(handoff)
}
