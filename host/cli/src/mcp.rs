//! `seam mcp`: the configuration's seams and the standard gates as MCP tools, over
//! stdio (the default: an MCP client starts `seam mcp` itself) or streamable HTTP
//! (`--http ADDR`, at `/mcp`). docs/mcp.md.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;

use seam_server::{mcp, Config, Shared};

use super::{EngineArgs, Exit};

/// Arguments of `seam mcp`.
#[derive(Args, Debug)]
pub struct McpArgs {
    /// The configuration whose seams become tools (the `seam serve` format;
    /// docs/server.md).
    #[arg(long, value_name = "FILE", default_value = "seam-server.toml")]
    config: PathBuf,
    /// Serve streamable HTTP at http://ADDR/mcp instead of stdio (e.g. 127.0.0.1:7879);
    /// beyond loopback the configuration needs [[tokens]] (scope check).
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn run(args: McpArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    if !args.config.exists() {
        bail!(
            "no configuration at {}; pass --config FILE (the `seam serve` format; an example: \
             examples/server/seam-server.toml)",
            args.config.display()
        );
    }
    let runtime = args.engine.runtime()?;
    let config = Config::load(&args.config, &runtime)?;
    if let Some(addr) = args.http {
        if config.tokens.is_empty() && !addr.ip().is_loopback() {
            bail!(
                "refusing to serve MCP on {addr} without tokens: anyone who can reach it could \
                 run checks; add [[tokens]] to {} (see docs/server.md) or use 127.0.0.1",
                args.config.display()
            );
        }
    }
    // stdout is the MCP channel over stdio: logs go to stderr only.
    super::serve::init_logs();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .thread_name("seam-mcp")
        .enable_all()
        .build()
        .context("starting the MCP server's threads")?;
    let ledger = seam_server::open_ledger(&config)?;
    let shared = Arc::new(Shared::new(config, runtime, ledger, None));
    tokio.block_on(async {
        match args.http {
            None => mcp::serve_stdio(shared).await,
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| {
                    format!("cannot listen on {addr}; is another server using it?")
                })?;
                let local = listener.local_addr().unwrap_or(addr);
                writeln!(out, "seam mcp: serving MCP at http://{local}/mcp")?;
                out.flush()?;
                mcp::serve_http(shared, listener, seam_server::shutdown_signal()).await?;
                writeln!(out, "seam mcp: stopped")?;
                Ok(())
            }
        }
    })?;
    Ok(Exit::Passed)
}
