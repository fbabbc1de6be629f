//! `seam serve`: the configuration's seams and the standard gates over HTTP
//! (docs/server.md).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use seam_server::auth::{self, Scope};
use seam_server::{Config, Server};

use super::{EngineArgs, Exit};

/// Arguments of `seam serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The server configuration (docs/server.md; examples/server/seam-server.toml).
    #[arg(long, value_name = "FILE", default_value = "seam-server.toml")]
    config: PathBuf,
    /// Check the configuration (loading every plugin), print what it serves, and exit.
    #[arg(long)]
    check: bool,
    /// Print a new bearer token and its `[[tokens]]` entry, then exit.
    #[arg(long, value_name = "NAME", conflicts_with = "check")]
    new_token: Option<String>,
    /// A scope of the new token: check, run, review or admin (repeatable; default check).
    #[arg(long = "scope", value_name = "SCOPE", requires = "new_token")]
    scopes: Vec<String>,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: ServeArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    if let Some(name) = &args.new_token {
        return new_token(name, &args.scopes, out);
    }
    if !args.config.exists() {
        bail!(
            "no server configuration at {}; pass --config FILE (an example: \
             examples/server/seam-server.toml; every field: docs/server.md)",
            args.config.display()
        );
    }
    let runtime = args.engine.runtime()?;
    let config = Config::load(&args.config, &runtime)?;
    let summary = format!(
        "{} seams ({}), {} tokens{}",
        config.seams.len(),
        config
            .seams
            .iter()
            .map(|s| format!("{}: {} gates", s.name, s.gates.len()))
            .collect::<Vec<_>>()
            .join("; "),
        config.tokens.len(),
        match &config.telemetry {
            Some(t) => format!(", traces to {}", t.traces_url),
            None => String::new(),
        }
    );
    if args.check {
        writeln!(
            out,
            "{}: ok; would listen on {}; {summary}",
            args.config.display(),
            config.listen
        )?;
        return Ok(Exit::Passed);
    }
    init_logs();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("seam-serve")
        .enable_all()
        .build()
        .context("starting the server's threads")?;
    let drain = config.limits.drain_timeout();
    let drained = tokio.block_on(async {
        let server = Server::bind(config, runtime).await?;
        writeln!(
            out,
            "seam serve: listening on http://{}; {summary}",
            server.local_addr()
        )?;
        out.flush()?;
        tracing::info!(address = %server.local_addr(), "listening");
        anyhow::Ok(server.run(seam_server::shutdown_signal()).await)
    })?;
    // Runs started over HTTP go on on the blocking pool; one still in a step after
    // another drain's worth of time is left to its ledger, where a resume picks it up.
    tokio.shutdown_timeout(drain);
    writeln!(
        out,
        "seam serve: stopped{}",
        match drained.cut {
            0 => String::new(),
            n => format!("; {n} requests in flight were cut at the drain deadline"),
        }
    )?;
    Ok(Exit::Passed)
}

/// Logs on stderr: JSON lines when stderr is not a terminal, text when it is; the level
/// from `SEAM_LOG` (error, warn, info — the default —, debug, trace).
pub(crate) fn init_logs() {
    let level = match std::env::var("SEAM_LOG").as_deref().map(str::trim) {
        Ok("error") => tracing::Level::ERROR,
        Ok("warn") => tracing::Level::WARN,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false);
    // A second `seam serve` in one process (tests) keeps the first subscriber.
    let _ = if std::io::stderr().is_terminal() {
        builder.try_init()
    } else {
        builder.json().with_ansi(false).try_init()
    };
}

fn new_token(name: &str, scopes: &[String], out: &mut (dyn Write + Send)) -> Result<Exit> {
    if name.trim().is_empty() || name.contains(['"', '\\', '\n']) {
        bail!("--new-token {name:?}: give the token a plain name, e.g. --new-token langgraph");
    }
    let mut parsed = Vec::new();
    for s in scopes {
        let scope = Scope::parse(s).with_context(|| {
            format!(
                "--scope {s:?}: unknown scope; use {}",
                Scope::ALL.map(|s| s.as_str()).join(", ")
            )
        })?;
        if !parsed.contains(&scope) {
            parsed.push(scope);
        }
    }
    if parsed.is_empty() {
        parsed.push(Scope::Check);
    }
    let (token, hash) =
        auth::new_token().map_err(|e| anyhow::anyhow!("drawing a random token: {e}"))?;
    let scopes = parsed
        .iter()
        .map(|s| format!("\"{}\"", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    writeln!(
        out,
        "token (give it to the caller; it is not stored anywhere): {token}\n\n\
         add to the server configuration:\n\n[[tokens]]\nname = \"{name}\"\nsha256 = \"{hash}\"\nscopes = [{scopes}]"
    )?;
    Ok(Exit::Passed)
}
