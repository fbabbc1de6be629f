//! `seam demo`: the headphone example as a pipeline, offline, with nothing to install.
//! The example's files are embedded and written to a fresh folder, then run.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use seam_ledger::SqliteLedger;
use seam_pipeline::Pipeline;

use super::run::{execute, exit_for, Printer};
use super::{EngineArgs, Exit, Format};

const FILES: &[(&str, &str)] = &[
    (
        "pipeline.toml",
        include_str!("../../../examples/headphones/pipeline.toml"),
    ),
    (
        "writer.sh",
        include_str!("../../../examples/headphones/writer.sh"),
    ),
    (
        "publish.sh",
        include_str!("../../../examples/headphones/publish.sh"),
    ),
    (
        "input.json",
        include_str!("../../../examples/headphones/input.json"),
    ),
];

/// Arguments of `seam demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to put the example's files and ledger (default: a new temporary folder).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    runtime: EngineArgs,
}

pub fn run(args: DemoArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!(
            "seam-demo-{}-{}",
            std::process::id(),
            seam_ledger::now_ms()
        )),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Never overwrite: a file already there must be the demo's own (from an earlier
    // `seam demo --dir` here); anything else stops the demo before it writes.
    for (name, text) in FILES {
        let path = dir.join(name);
        if path.symlink_metadata().is_ok() {
            let same = !path.is_symlink()
                && seam_types::files::read_regular(&path, 1 << 20)
                    .is_ok_and(|b| b == text.as_bytes());
            if !same {
                bail!(
                    "{} already exists and is not the demo's own file; seam demo never \
                     overwrites files: give --dir a new or empty folder",
                    path.display()
                );
            }
        }
    }
    for (name, text) in FILES {
        let path = dir.join(name);
        if path.exists() {
            continue;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(
            &mut options,
            if name.ends_with(".sh") { 0o755 } else { 0o644 },
        );
        options
            .open(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let runtime = args.runtime.runtime()?;
    let pipeline = Pipeline::load(&dir.join("pipeline.toml"), &runtime)?;
    let ledger_path = dir.join("seam-ledger.db");
    let ledger = SqliteLedger::open(&ledger_path)?;
    let input: serde_json::Value = serde_json::from_str(FILES[3].1).context("the demo's input")?;
    let pretty = args.format == Format::Pretty;
    if pretty {
        writeln!(out, "seam demo: the headphone example ({})", dir.display())?;
        writeln!(
            out,
            "task: {}\n",
            input["task"].as_str().unwrap_or_default()
        )?;
    }
    let printer = Printer::new(out, pretty, false);
    let outcomes = execute(&pipeline, &ledger, &printer, None, vec![input], 1)?;
    let out = printer.into_inner();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&outcomes[0])?)?,
        Format::Pretty => {
            writeln!(out, "\nledger: {}", ledger_path.display())?;
            writeln!(
                out,
                "run it again by hand: seam run {} --input @{} --ledger {}",
                dir.join("pipeline.toml").display(),
                dir.join("input.json").display(),
                ledger_path.display()
            )?;
        }
    }
    Ok(exit_for(&outcomes))
}
