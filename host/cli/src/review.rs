//! `seam review`: what waits for a person, and their decisions. Accepting or rejecting
//! records who and when, then resumes the run (unless `--no-resume`).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::Value;

use seam_ledger::{Ledger, ReviewRow};
use seam_pipeline::{decide_review, Pipeline};

use super::run::{execute, exit_for, LedgerArgs, Printer};
use super::{io, payload_value, EngineArgs, Exit, Format, PayloadFormat};

/// Arguments of `seam review`.
#[derive(Args, Debug)]
pub struct ReviewArgs {
    #[command(subcommand)]
    /// Without a command: go through the pending reviews one by one, interactively.
    command: Option<ReviewCommand>,
    #[command(flatten)]
    ledger: LedgerArgs,
}

#[derive(Subcommand, Debug)]
enum ReviewCommand {
    /// List reviews waiting for a decision (all reviews with --all).
    List {
        #[arg(long)]
        all: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Show one review: the payload, the findings, and the run it belongs to.
    Show {
        id: i64,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Accept: the handoff goes on (with --payload, an edited payload instead).
    Accept(Decide),
    /// Reject: the run ends rejected.
    Reject(Decide),
}

#[derive(Args, Debug)]
struct Decide {
    /// The review to decide.
    id: i64,
    /// Why; recorded with the decision.
    #[arg(long)]
    note: Option<String>,
    /// Who decides (default: $SEAM_REVIEWER, else $USER, else $LOGNAME; seam says when
    /// none is set and records `unknown`).
    #[arg(long)]
    by: Option<String>,
    /// The payload to hand on instead of the reviewed one, read as `seam check` reads
    /// a payload: inline, or @FILE, or `-` for stdin; for a human step, its output.
    #[arg(long, value_name = "TEXT|@FILE|-")]
    payload: Option<String>,
    /// How to read --payload (auto: JSON when it is a whole JSON object or array, or
    /// a .json file; text otherwise).
    #[arg(long, value_enum, default_value_t)]
    payload_format: PayloadFormat,
    /// Record the decision without resuming the run.
    #[arg(long)]
    no_resume: bool,
    #[command(flatten)]
    runtime: EngineArgs,
}

fn reviewer(by: &Option<String>) -> String {
    by.clone()
        .or_else(|| {
            std::env::var("SEAM_REVIEWER")
                .ok()
                .filter(|v| !v.is_empty())
        })
        .or_else(|| std::env::var("USER").ok().filter(|v| !v.is_empty()))
        .or_else(|| std::env::var("LOGNAME").ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| {
            io::note(
                "no reviewer name is known (--by, $SEAM_REVIEWER, $USER and $LOGNAME are all \
                 unset): the decision is recorded as made by `unknown`; pass --by NAME"
                    .into(),
            );
            "unknown".into()
        })
}

pub fn run(args: ReviewArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let path = args.ledger.path(None);
    if !super::run::is_url(&path) && !path.exists() {
        anyhow::bail!(
            "no ledger at {}; pass --ledger FILE (the one `seam run` printed)",
            path.display()
        );
    }
    let read_only = matches!(
        args.command,
        Some(ReviewCommand::List { .. } | ReviewCommand::Show { .. })
    );
    let ledger = if read_only {
        super::report::open_read_only(&args.ledger)?.0
    } else {
        super::run::open_ledger(&path)?
    };
    let ledger = &*ledger;
    // Messages show a PostgreSQL URL without its password.
    let shown = super::run::shown(&path);
    let path = Path::new(&shown);
    let Some(command) = args.command else {
        let stdin = std::io::stdin();
        return interactive_on(ledger, path, &mut stdin.lock(), out);
    };
    match command {
        ReviewCommand::List { all, format } => {
            let reviews = ledger.reviews(if all { None } else { Some("pending") })?;
            if format == Format::Json {
                writeln!(out, "{}", serde_json::to_string_pretty(&reviews)?)?;
            } else if reviews.is_empty() {
                writeln!(out, "nothing waits for review in {}", path.display())?;
            } else {
                for r in &reviews {
                    writeln!(
                        out,
                        "{:>4}  {:<9} {:<11} run {}  {} / {}  {}",
                        r.id,
                        r.status,
                        r.kind,
                        r.run_id,
                        r.pipeline,
                        r.step,
                        one_line(&r.reason, 100)
                    )?;
                }
            }
            Ok(Exit::Passed)
        }
        ReviewCommand::Show { id, format } => {
            let r = ledger.review(id)?;
            if format == Format::Json {
                writeln!(out, "{}", serde_json::to_string_pretty(&r)?)?;
            } else {
                show(out, &r)?;
            }
            Ok(Exit::Passed)
        }
        ReviewCommand::Accept(d) => decide(ledger, path, d, true, out),
        ReviewCommand::Reject(d) => decide(ledger, path, d, false, out),
    }
}

fn one_line(s: &str, n: usize) -> String {
    let s = s.replace('\n', " ");
    if s.chars().count() > n {
        format!("{}…", s.chars().take(n).collect::<String>())
    } else {
        s
    }
}

/// A review for people: the payload with every finding's span marked «like this».
pub fn show(out: &mut dyn Write, r: &ReviewRow) -> Result<()> {
    writeln!(
        out,
        "review {} ({}, {}) of run {} — pipeline {}, step {}",
        r.id, r.kind, r.status, r.run_id, r.pipeline, r.step
    )?;
    writeln!(out, "why: {}", r.reason)?;
    let payload: Value = serde_json::from_str(&r.payload).unwrap_or(Value::Null);
    let findings: Vec<Value> = serde_json::from_str(&r.findings).unwrap_or_default();
    writeln!(out, "payload:")?;
    match &payload {
        Value::String(text) => writeln!(out, "  {}", mark(text, "", &findings))?,
        other => writeln!(out, "{}", serde_json::to_string_pretty(other)?)?,
    }
    if !findings.is_empty() {
        writeln!(out, "findings:")?;
        for f in &findings {
            let at = f["path"]
                .as_str()
                .filter(|p| !p.is_empty())
                .map(|p| format!("  at {p}"))
                .unwrap_or_default();
            writeln!(
                out,
                "  - {} {}  {}{at}",
                f["gate"].as_str().unwrap_or(""),
                f["code"].as_str().unwrap_or(""),
                f["message"].as_str().unwrap_or("")
            )?;
        }
    }
    if let Some(by) = &r.decided_by {
        writeln!(
            out,
            "decided by {by}{}",
            r.note
                .as_deref()
                .map(|n| format!(": {n}"))
                .unwrap_or_default()
        )?;
    }
    Ok(())
}

/// `text` with the spans of the findings at `pointer` wrapped in « ».
fn mark(text: &str, pointer: &str, findings: &[Value]) -> String {
    let mut spans: Vec<(usize, usize)> = findings
        .iter()
        .filter(|f| f["path"].as_str().unwrap_or("") == pointer)
        .filter_map(|f| {
            Some((
                f["span"]["start"].as_u64()? as usize,
                f["span"]["end"].as_u64()? as usize,
            ))
        })
        .filter(|&(s, e)| s <= e && text.get(s..e).is_some())
        .collect();
    spans.sort_unstable();
    let mut out = String::new();
    let mut last = 0;
    for (s, e) in spans {
        if s < last {
            continue;
        }
        out.push_str(&text[last..s]);
        out.push('«');
        out.push_str(&text[s..e]);
        out.push('»');
        last = e;
    }
    out.push_str(&text[last..]);
    out
}

fn decide(
    ledger: &dyn Ledger,
    path: &std::path::Path,
    d: Decide,
    accept: bool,
    out: &mut (dyn Write + Send),
) -> Result<Exit> {
    let payload = d
        .payload
        .as_deref()
        .map(|spec| {
            let (text, origin, json_file) = match spec {
                "-" => (io::read_input("-", "payload")?, "stdin", false),
                _ => match spec.strip_prefix('@') {
                    Some(file) => (
                        io::read_input(file, "payload")?,
                        if file == "-" { "stdin" } else { file },
                        Path::new(file).extension().is_some_and(|e| e == "json"),
                    ),
                    None => (spec.to_string(), "the command line", false),
                },
            };
            payload_value(&text, origin, d.payload_format, json_file)
        })
        .transpose()?;
    let by = reviewer(&d.by);
    let r = decide_review(
        ledger,
        d.id,
        accept,
        &by,
        d.note.as_deref(),
        payload.as_ref(),
    )?;
    writeln!(out, "review {} {} by {by}", r.id, r.status)?;
    let run = ledger.run(&r.run_id)?;
    if let Some(note) = outside(&run) {
        writeln!(out, "{note}")?;
        return Ok(Exit::Passed);
    }
    let resume_hint = format!(
        "seam run {} --resume {} --ledger {}",
        run.pipeline_file,
        r.run_id,
        path.display()
    );
    if d.no_resume {
        writeln!(out, "resume the run with: {resume_hint}")?;
        return Ok(Exit::Passed);
    }
    let runtime = d.runtime.runtime_for(Path::new(&run.pipeline_file))?;
    let pipeline = Pipeline::load(&PathBuf::from(&run.pipeline_file), &runtime)
        .with_context(|| {
            format!(
                "the decision is recorded, but the pipeline of run {} did not load; fix it, then resume with: {resume_hint}",
                r.run_id
            )
        })?;
    let printer = Printer::new(out, true, false);
    let outcomes = execute(&pipeline, ledger, &printer, Some(&r.run_id), Vec::new(), 1)?;
    Ok(exit_for(&outcomes))
}

/// For a run that runs outside seam (recorded through `seam serve`): there is nothing
/// to resume, and this says so.
fn outside(run: &seam_ledger::RunRow) -> Option<String> {
    (run.cursor == seam_pipeline::standalone::OUTSIDE_CURSOR).then(|| {
        format!(
            "run {} runs outside seam (its checks were recorded through `seam serve`): nothing to \
             resume here; its orchestrator reads the decision",
            run.id
        )
    })
}

/// Longest answer line read in an interactive review (a note included).
const MAX_ANSWER_BYTES: u64 = 64 << 10;

/// Goes through the pending reviews one by one: shows each (payload with its findings
/// marked), then reads a decision line — `a` accept, `r` reject, `n NOTE` annotate (the
/// note goes with the decision), `s` skip, `q` quit. Each decision is recorded with who
/// and when, and the run resumes.
pub fn interactive(
    ledger: &dyn Ledger,
    path: &std::path::Path,
    input: &mut dyn std::io::BufRead,
    out: &mut (dyn Write + Send),
) -> Result<Exit> {
    // Text from plugins and steps shown as data, and seam's colour markers dropped,
    // whatever `out` is.
    let mut plain = super::io::Terminal::new(out);
    interactive_on(ledger, path, input, &mut plain)
}

/// [`interactive`] on the command line's own stdout, which may be coloured.
fn interactive_on(
    ledger: &dyn Ledger,
    path: &std::path::Path,
    input: &mut dyn std::io::BufRead,
    out: &mut (dyn Write + Send),
) -> Result<Exit> {
    let by = reviewer(&None);
    let mut outcomes = Vec::new();
    let pending = ledger.reviews(Some("pending"))?;
    if pending.is_empty() {
        writeln!(out, "nothing waits for review in {}", path.display())?;
        return Ok(Exit::Passed);
    }
    'reviews: for r in pending {
        show(out, &r)?;
        let mut note: Option<String> = None;
        loop {
            write!(out, "[a]ccept, [r]eject, [n]ote TEXT, [s]kip, [q]uit > ")?;
            out.flush()?;
            let mut line = String::new();
            // An answer is a letter and a note: a line is read up to a cap, not whole.
            let read = std::io::BufRead::read_line(
                &mut std::io::Read::take(&mut *input, MAX_ANSWER_BYTES),
                &mut line,
            )?;
            if read == 0 {
                writeln!(out)?;
                break 'reviews;
            }
            if read as u64 >= MAX_ANSWER_BYTES && !line.ends_with('\n') {
                anyhow::bail!(
                    "an answer over {} KiB; answer a, r, n TEXT (a shorter note), s or q",
                    MAX_ANSWER_BYTES >> 10
                );
            }
            let line = line.trim();
            let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
            let accept = match cmd {
                "a" | "accept" => true,
                "r" | "reject" => false,
                "n" | "note" => {
                    note = Some(rest.trim().to_string()).filter(|n| !n.is_empty());
                    writeln!(out, "note: {}", note.as_deref().unwrap_or("(none)"))?;
                    continue;
                }
                "s" | "skip" => continue 'reviews,
                "q" | "quit" => break 'reviews,
                _ => {
                    writeln!(out, "answer a, r, n TEXT, s or q")?;
                    continue;
                }
            };
            let d = decide_review(ledger, r.id, accept, &by, note.as_deref(), None)?;
            writeln!(out, "review {} {} by {by}", d.id, d.status)?;
            let run = ledger.run(&d.run_id)?;
            if let Some(note) = outside(&run) {
                writeln!(out, "{note}\n")?;
                continue 'reviews;
            }
            let runtime = EngineArgs::default().runtime_for(Path::new(&run.pipeline_file))?;
            match Pipeline::load(&PathBuf::from(&run.pipeline_file), &runtime) {
                Ok(pipeline) => {
                    let printer = Printer::new(out, true, false);
                    outcomes.extend(execute(&pipeline, ledger, &printer, Some(&d.run_id), Vec::new(), 1)?);
                }
                Err(e) => writeln!(
                    out,
                    "the decision is recorded, but the pipeline did not load ({e}); resume with: seam run {} --resume {} --ledger {}",
                    run.pipeline_file,
                    d.run_id,
                    path.display()
                )?,
            }
            writeln!(out)?;
            continue 'reviews;
        }
    }
    // The worst outcome of the runs resumed decides the exit code.
    Ok(exit_for(&outcomes))
}
