//! `seam report` and `seam feedback export`: what the ledger says about reliability, and
//! the judged candidates as training or retrieval data.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, Subcommand, ValueEnum};

use seam_ledger::feedback::{ExportFilter, Shape};
use seam_ledger::report::{self, Filter};
use seam_ledger::{now_ms, Ledger, SqliteLedger};

use super::progress::Activity;
use super::run::LedgerArgs;
use super::{Exit, Format};

/// Which runs to look at.
#[derive(Args, Debug, Clone, Default)]
pub struct FilterArgs {
    /// Only this pipeline.
    #[arg(long)]
    pipeline: Option<String>,
    /// Only this run.
    #[arg(long)]
    run: Option<String>,
    /// Only runs started within this long before now (e.g. 30m, 24h, 7d), or since
    /// this time (RFC 3339, e.g. 2026-11-01T00:00:00Z, or unix milliseconds).
    #[arg(long, value_name = "DURATION|TIME")]
    since: Option<String>,
    /// Only runs started before this time (RFC 3339 or unix milliseconds) or this long
    /// ago.
    #[arg(long, value_name = "DURATION|TIME")]
    until: Option<String>,
}

/// A time for `--since`/`--until` ([`report::parse_time`]), the error naming the flag.
fn time_arg(spec: &str, flag: &str) -> Result<i64> {
    report::parse_time(spec, now_ms())
        .map_err(|e| anyhow::anyhow!("--{flag} {:?}: {e}", spec.trim()))
}

impl FilterArgs {
    fn filter(&self) -> Result<Filter> {
        Ok(Filter {
            pipeline: self.pipeline.clone(),
            run: self.run.clone(),
            since_ms: self
                .since
                .as_deref()
                .map(|s| time_arg(s, "since"))
                .transpose()?,
            until_ms: self
                .until
                .as_deref()
                .map(|s| time_arg(s, "until"))
                .transpose()?,
        })
    }
}

/// Opens the ledger for reading only (a reader never waits behind a writer), and
/// remembers it and its WAL files as inputs that no output may replace; a PostgreSQL
/// ledger is opened as it is. Returns the ledger and how messages show it.
pub fn open_read_only(ledger: &LedgerArgs) -> Result<(Box<dyn Ledger>, String)> {
    let path = ledger.path(None);
    if super::run::is_url(&path) {
        return Ok((super::run::open_ledger(&path)?, super::run::shown(&path)));
    }
    if !path.exists() {
        bail!(
            "no ledger at {}; pass --ledger FILE (the one `seam run` printed)",
            path.display()
        );
    }
    note_ledger(&path);
    Ok((
        Box::new(SqliteLedger::open_read_only(&path)?),
        path.display().to_string(),
    ))
}

/// Remembers a ledger file and its `-wal` and `-shm` companions as inputs.
pub fn note_ledger(path: &std::path::Path) {
    super::io::note_input(path, "ledger");
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        super::io::note_input(std::path::Path::new(&companion), "ledger");
    }
}

/// Arguments of `seam report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    ledger: LedgerArgs,
    /// Terminal tables (default) or one JSON document (docs/report.md).
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Also write a self-contained HTML page with charts to FILE.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

pub fn run(args: ReportArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let (ledger, path) = open_read_only(&args.ledger)?;
    let filter = args.filter.filter()?;
    let activity = Activity::start(format!("reading the ledger {path}"));
    let report = ledger.report(&filter)?;
    drop(activity);
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Pretty => {
            if report.pipelines.is_empty() {
                writeln!(out, "no runs in {path} match")?;
            } else {
                out.write_all(report::render_text(&report).as_bytes())?;
            }
        }
    }
    if let Some(file) = &args.html {
        let title = format!("seam reliability report — {path}");
        let page = report::render_html(&report, &title);
        super::io::write_output(file, "HTML report", |w| w.write_all(page.as_bytes()))?;
        if args.format == Format::Pretty {
            writeln!(out, "\nHTML report: {}", file.display())?;
        }
    }
    Ok(Exit::Passed)
}

/// Arguments of `seam feedback`.
#[derive(Args, Debug)]
pub struct FeedbackArgs {
    #[command(subcommand)]
    command: FeedbackCommand,
}

#[derive(Subcommand, Debug)]
enum FeedbackCommand {
    /// Write judged candidates as JSONL (stdout, or --out FILE).
    Export(ExportArgs),
}

/// The JSONL shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ShapeArg {
    /// One line per judged candidate, with its verdicts and any human decision.
    Records,
    /// One line per (rejected, chosen) pair for the same run and seam.
    Pairs,
    /// `pairs` as TRL's preference rows: `prompt`, `chosen`, `rejected`.
    Dpo,
    /// `records` as TRL's unpaired preference rows: `prompt`, `completion`, `label`.
    Kto,
}

/// Only accepted or only rejected candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Decision {
    Accepted,
    Rejected,
}

#[derive(Args, Debug)]
struct ExportArgs {
    #[arg(long, value_enum, default_value = "records")]
    shape: ShapeArg,
    /// Only candidates this gate judged.
    #[arg(long)]
    gate: Option<String>,
    /// Only accepted or rejected candidates (records).
    #[arg(long, value_enum)]
    decision: Option<Decision>,
    #[command(flatten)]
    filter: FilterArgs,
    #[command(flatten)]
    ledger: LedgerArgs,
    /// Write to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn feedback(args: FeedbackArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let FeedbackCommand::Export(a) = args.command;
    let (ledger, _) = open_read_only(&a.ledger)?;
    let filter = ExportFilter {
        runs: a.filter.filter()?,
        gate: a.gate.clone(),
        decision: a.decision.map(|d| match d {
            Decision::Accepted => "accepted".to_string(),
            Decision::Rejected => "rejected".to_string(),
        }),
    };
    let shape = match a.shape {
        ShapeArg::Records => Shape::Records,
        ShapeArg::Pairs => Shape::Pairs,
        ShapeArg::Dpo => Shape::Dpo,
        ShapeArg::Kto => Shape::Kto,
    };
    match &a.out {
        Some(file) => {
            let mut lines = Ok(0);
            super::io::write_output(file, "export", |w| {
                lines = ledger.export(&filter, shape, w);
                match &lines {
                    Ok(_) => Ok(()),
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                }
            })?;
            let n = lines?;
            writeln!(out, "wrote {n} lines to {}", file.display())?;
        }
        None => {
            ledger.export(&filter, shape, out)?;
        }
    }
    Ok(Exit::Passed)
}

/// Arguments of `seam ledger`.
#[derive(Args, Debug)]
pub struct LedgerCommandArgs {
    #[command(subcommand)]
    command: LedgerCommand,
}

#[derive(Subcommand, Debug)]
enum LedgerCommand {
    /// Copy every record of a SQLite ledger into an empty PostgreSQL ledger (ids and
    /// times unchanged), all or nothing.
    Import {
        /// The SQLite ledger to copy from.
        #[arg(value_name = "FILE")]
        from: PathBuf,
        /// The PostgreSQL ledger to copy into (postgres://USER@HOST/DB); created and
        /// migrated when new, and it must hold no runs.
        #[arg(long = "to", value_name = "URL")]
        to: String,
    },
}

pub fn ledger(args: LedgerCommandArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let LedgerCommand::Import { from, to } = args.command;
    if !seam_ledger::pg::is_url(&to) {
        bail!(
            "--to {:?} is not a PostgreSQL URL; give postgres://USER@HOST:PORT/DATABASE",
            to
        );
    }
    if super::run::is_url(&from) {
        bail!(
            "{} is a PostgreSQL URL; `seam ledger import` copies from a SQLite ledger FILE",
            super::run::shown(&from)
        );
    }
    if !from.is_file() {
        bail!(
            "no ledger file at {}; give the SQLite ledger to copy (the one `seam run` printed)",
            from.display()
        );
    }
    note_ledger(&from);
    let shown = from.display().to_string();
    let source = SqliteLedger::open_read_only(&from)?;
    let target = seam_ledger::PgLedger::open(&to)?;
    let activity = Activity::start(format!(
        "copying {shown} into {}",
        seam_ledger::pg::redact(&to)
    ));
    let counts = target.import_sqlite(&source)?;
    drop(activity);
    let total: i64 = counts.iter().map(|(_, n)| n).sum();
    let parts: Vec<String> = counts.iter().map(|(t, n)| format!("{n} {t}")).collect();
    writeln!(
        out,
        "copied {total} records from {shown} into {}: {}",
        seam_ledger::pg::redact(&to),
        parts.join(", ")
    )?;
    Ok(Exit::Passed)
}
