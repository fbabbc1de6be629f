//! `seam describe`: what a plugin says about itself, with its settings schema.

use std::io::Write;

use anyhow::{Context, Result};
use clap::Args;

use super::{Exit, Format, RuntimeArgs};

/// Arguments of `seam describe`.
#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// A standard plugin's name or a path to a `.wasm` component.
    #[arg(value_name = "PLUGIN")]
    plugin: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(args: DescribeArgs, out: &mut dyn Write) -> Result<Exit> {
    let runtime = args.runtime.runtime()?;
    let source = args.runtime.search.source(&args.plugin)?;
    let (info, digest) = runtime
        .describe(&source, args.runtime.limits())
        .with_context(|| format!("describing plugin `{}`", args.plugin))?;
    match args.format {
        Format::Json => {
            let doc = serde_json::json!({"info": info, "sha256": digest});
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Pretty => {
            writeln!(out, "{} {} ({})", info.name, info.version, info.kind)?;
            writeln!(out, "  {}", info.description)?;
            writeln!(out, "  sha256 {digest}")?;
            writeln!(out, "settings schema:")?;
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&info.settings_schema)?
            )?;
        }
    }
    Ok(Exit::Passed)
}
