//! `seam wit [--version V] [--out DIR]`: the `seam:plugin` contract this seam runs, as
//! WIT, for plugin authors' binding generators (wit-bindgen, componentize-py, jco).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;

use super::Exit;

/// Arguments of `seam wit`.
#[derive(Args, Debug)]
pub struct WitArgs {
    /// The contract version (default: the newest, which new plugins target). `--list`
    /// names them all.
    #[arg(long, value_name = "VERSION")]
    version: Option<String>,
    /// Write `DIR/seam.wit` (the folder is made if needed) instead of printing it.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// List the contract versions this seam runs, newest last.
    #[arg(long, conflicts_with_all = ["version", "out"])]
    list: bool,
}

pub fn run(args: WitArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let contracts = seam_runtime::CONTRACT_WIT;
    if args.list {
        for (version, _) in contracts {
            writeln!(out, "seam:plugin@{version}")?;
        }
        return Ok(Exit::Passed);
    }
    let (version, text) = match &args.version {
        None => contracts[contracts.len() - 1],
        Some(v) => {
            let wanted = v.trim().trim_start_matches("seam:plugin@");
            match contracts.iter().find(|(known, _)| *known == wanted) {
                Some(c) => *c,
                None => bail!(
                    "--version {v:?}: this seam runs seam:plugin@{}; pick one of those",
                    contracts
                        .iter()
                        .map(|(v, _)| *v)
                        .collect::<Vec<_>>()
                        .join(", seam:plugin@")
                ),
            }
        }
    };
    let Some(dir) = args.out else {
        out.write_all(text.as_bytes())?;
        return Ok(Exit::Passed);
    };
    if dir.exists() && !dir.is_dir() {
        bail!(
            "--out {}: not a folder; give the folder to write seam.wit into",
            dir.display()
        );
    }
    std::fs::create_dir_all(&dir)
        .map_err(|e| anyhow::anyhow!("--out {}: cannot make the folder: {e}", dir.display()))?;
    let path = dir.join("seam.wit");
    if path.is_dir() {
        bail!(
            "--out {}: {} is a folder; remove it or choose another folder",
            dir.display(),
            path.display()
        );
    }
    crate::io::write_output(&path, "contract", |w| w.write_all(text.as_bytes()))?;
    writeln!(out, "wrote {} (seam:plugin@{version})", path.display())?;
    Ok(Exit::Passed)
}
