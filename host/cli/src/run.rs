//! `seam run`: run inputs through a pipeline, printing each step and seam as it happens.
//! Also `seam demo` (the headphone example, offline) and the shared run printer.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Result};
use clap::Args;
use serde_json::Value;

use seam_ledger::{Ledger, SqliteLedger};
use seam_pipeline::{Event, Observer, Pipeline, RunOutcome, RunStatus, Runner};
use seam_runtime::Outcome;

use super::{json_arg, EngineArgs, Exit, Format};
use crate::style::{paint, Style};

/// Arguments of `seam run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The pipeline file (TOML; see docs/pipeline.md).
    #[arg(value_name = "PIPELINE.toml")]
    pipeline: PathBuf,
    /// The run's input: JSON inline or @FILE (default `null`).
    #[arg(long, value_name = "JSON|@FILE", conflicts_with_all = ["input_file", "resume"])]
    input: Option<String>,
    /// Many inputs, one JSON value per line; they run concurrently.
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    input_file: Option<PathBuf>,
    /// Continue a recorded run (after a review decision, or a crash).
    #[arg(long, value_name = "RUN")]
    resume: Option<String>,
    /// Most runs at once with --input-file (1 to 256; default: the pipeline's
    /// `concurrency`, 4). Never more than there are inputs.
    #[arg(long, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=seam_pipeline::config::MAX_CONCURRENCY))]
    concurrency: Option<u64>,
    #[command(flatten)]
    ledger: LedgerArgs,
    /// Output format: pretty lines as the run goes, or JSON outcomes at the end.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    runtime: EngineArgs,
}

/// Where the ledger is.
#[derive(Args, Debug, Clone)]
pub struct LedgerArgs {
    /// The ledger: a SQLite file or a postgres:// URL (default: the pipeline's
    /// `ledger`, else $SEAM_LEDGER, else ./seam-ledger.db).
    #[arg(long, value_name = "FILE|URL", global = true)]
    pub ledger: Option<PathBuf>,
}

/// Whether the ledger named `path` is a PostgreSQL URL rather than a file.
pub fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(seam_ledger::pg::is_url)
}

/// The ledger as messages show it: a file's path, or a URL without its password.
pub fn shown(path: &Path) -> String {
    match path.to_str() {
        Some(url) if seam_ledger::pg::is_url(url) => seam_ledger::pg::redact(url),
        _ => path.display().to_string(),
    }
}

/// Opens (creating when needed) the ledger named `path`: a SQLite file or a
/// PostgreSQL database.
pub fn open_ledger(path: &Path) -> Result<Box<dyn Ledger>> {
    Ok(match path.to_str() {
        Some(url) if seam_ledger::pg::is_url(url) => Box::new(seam_ledger::PgLedger::open(url)?),
        _ => Box::new(SqliteLedger::open(path)?),
    })
}

impl LedgerArgs {
    /// The ledger path: the flag, else the pipeline's, else $SEAM_LEDGER, else the default.
    pub fn path(&self, pipeline: Option<&Pipeline>) -> PathBuf {
        self.ledger
            .clone()
            .or_else(|| pipeline.and_then(|p| p.ledger.clone()))
            .or_else(|| {
                std::env::var_os("SEAM_LEDGER")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            })
            .unwrap_or_else(|| PathBuf::from("seam-ledger.db"))
    }
}

/// The exit code for a set of outcomes: 2 if any failed, else 1 if any was rejected,
/// else 3 if any waits for a person, else 0.
pub fn exit_for(outcomes: &[RunOutcome]) -> Exit {
    let has = |s| outcomes.iter().any(|o| o.status == s);
    if has(RunStatus::Failed) {
        Exit::Error
    } else if has(RunStatus::Rejected) {
        Exit::Rejected
    } else if has(RunStatus::Waiting) {
        Exit::Waiting
    } else {
        Exit::Passed
    }
}

pub fn run(args: RunArgs, out: &mut (dyn Write + Send)) -> Result<Exit> {
    let runtime = args.runtime.runtime_for(&args.pipeline)?;
    let pipeline = Pipeline::load(&args.pipeline, &runtime)?;
    let inputs: Vec<Value> = match (&args.input, &args.input_file) {
        (_, Some(file)) => read_jsonl(file)?,
        (Some(spec), None) => vec![json_arg(spec, "input")?],
        (None, None) => vec![Value::Null],
    };
    let ledger_path = args.ledger.path(Some(&pipeline));
    let ledger = open_ledger(&ledger_path)?;
    let concurrency = args
        .concurrency
        .map_or(pipeline.concurrency, |n| n as usize)
        .clamp(1, inputs.len().max(1));
    let printer =
        Printer::new(out, args.format == Format::Pretty, inputs.len() > 1).counting(inputs.len());
    if args.resume.is_some() || inputs.len() == 1 {
        let outcomes = execute(
            &pipeline,
            &*ledger,
            &printer,
            args.resume.as_deref(),
            inputs,
            concurrency,
        )?;
        let out = printer.into_inner();
        return finish(out, args.format, &outcomes, &[], &ledger_path);
    }
    // Many inputs: a run that cannot go on is reported beside the others' outcomes.
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    for (i, result) in execute_each(&pipeline, &*ledger, &printer, inputs, concurrency) {
        match result {
            Ok(outcome) => outcomes.push(outcome),
            Err(e) => errors.push((i + 1, format!("{:#}", anyhow::Error::from(e)))),
        }
    }
    let out = printer.into_inner();
    finish(out, args.format, &outcomes, &errors, &ledger_path)
}

/// Runs (or resumes), with at most `concurrency` runs
/// at once, and returns their outcomes in input order.
pub fn execute(
    pipeline: &Pipeline,
    ledger: &dyn Ledger,
    observer: &dyn Observer,
    resume: Option<&str>,
    inputs: Vec<Value>,
    concurrency: usize,
) -> Result<Vec<RunOutcome>> {
    let runner = Runner::new(pipeline, ledger, observer);
    if let Some(run_id) = resume {
        return Ok(vec![runner.resume(run_id)?]);
    }
    execute_each(pipeline, ledger, observer, inputs, concurrency)
        .into_iter()
        .map(|(_, r)| r.map_err(anyhow::Error::from))
        .collect()
}

/// Starts one run per input, at most `concurrency` at once; every input's result, in
/// input order, with its index: one run that cannot go on does not hide the others.
pub fn execute_each(
    pipeline: &Pipeline,
    ledger: &dyn Ledger,
    observer: &dyn Observer,
    inputs: Vec<Value>,
    concurrency: usize,
) -> Vec<(usize, Result<RunOutcome, seam_pipeline::RunError>)> {
    let runner = Runner::new(pipeline, ledger, observer);
    let queue = Mutex::new(inputs.into_iter().enumerate());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| loop {
                let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                let Some((i, input)) = next else { break };
                let outcome = runner.start(input);
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((i, outcome));
            });
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results.sort_by_key(|(i, _)| *i);
    results
}

/// Prints the outcomes (and, for many inputs, the inputs whose run could not go on:
/// (1-based input number, error)) and returns the exit code: 2 when any run could not
/// go on, else the worst outcome's.
fn finish(
    out: &mut (dyn Write + Send),
    format: Format,
    outcomes: &[RunOutcome],
    errors: &[(usize, String)],
    ledger: &Path,
) -> Result<Exit> {
    let exit = match errors.is_empty() {
        true => exit_for(outcomes),
        false => Exit::Error,
    };
    let many = outcomes.len() + errors.len() > 1;
    match format {
        Format::Json => {
            let doc = if !many {
                serde_json::to_value(&outcomes[0])?
            } else if errors.is_empty() {
                serde_json::to_value(outcomes)?
            } else {
                serde_json::json!({
                    "outcomes": outcomes,
                    "errors": errors
                        .iter()
                        .map(|(input, error)| serde_json::json!({"input": input, "error": error}))
                        .collect::<Vec<_>>(),
                })
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Pretty => {
            for (input, error) in errors {
                writeln!(out, "✗ input {input} could not run: {error}")?;
            }
            if many {
                let count = |s| outcomes.iter().filter(|o| o.status == s).count();
                writeln!(
                    out,
                    "\n{} runs: {} completed, {} rejected, {} waiting, {} failed, {} could not run",
                    outcomes.len() + errors.len(),
                    count(RunStatus::Completed),
                    count(RunStatus::Rejected),
                    count(RunStatus::Waiting),
                    count(RunStatus::Failed),
                    errors.len()
                )?;
            }
            if outcomes.iter().any(|o| o.status == RunStatus::Waiting) {
                writeln!(
                    out,
                    "waiting for review: seam review list --ledger {0}; then seam review accept|reject ID --ledger {0}",
                    shown(ledger)
                )?;
            }
            writeln!(out, "ledger: {}", shown(ledger))?;
        }
    }
    Ok(exit)
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>> {
    let text = seam_types::files::read_regular_text(path, super::io::MAX_INPUT_FILE_BYTES)
        .map_err(|e| {
            anyhow::anyhow!(
                "reading inputs from {}: {e}; split it into files of at most {}",
                path.display(),
                super::io::human_bytes(super::io::MAX_INPUT_FILE_BYTES)
            )
        })?;
    super::io::note_input(path, "input file");
    let cap = super::io::max_input_bytes();
    let mut inputs = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if line.len() as u64 > cap {
            bail!(
                "{}:{}: the input on this line is {} bytes, over the {} cap; raise it with \
                 --max-input-mib (1 to {})",
                path.display(),
                n + 1,
                line.len(),
                super::io::human_bytes(cap),
                super::io::MAX_INPUT_MIB
            );
        }
        let value = seam_types::json::parse_strict(line).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}:{}: not a JSON value: {}",
                path.display(),
                n + 1,
                e.column(),
                seam_types::json::message(&e)
            )
        })?;
        inputs.push(value);
    }
    if inputs.is_empty() {
        bail!(
            "{} holds no inputs (one JSON value per line)",
            path.display()
        );
    }
    Ok(inputs)
}

/// Prints a run's events as lines (pretty format only), with a transient progress line
/// on stderr when that is a terminal (in either format: JSON on stdout stays clean). Its lines carry seam's colour markers ([`crate::style`]): write them
/// through an [`io::Terminal`](crate::io::Terminal), which colours or drops them.
pub struct Printer<'w> {
    out: Mutex<&'w mut (dyn Write + Send)>,
    pretty: bool,
    prefix_runs: bool,
    progress: bool,
    /// Runs to go through (`--input-file`), for the progress line's counter.
    total: usize,
    finished: std::sync::atomic::AtomicUsize,
}

impl<'w> Printer<'w> {
    pub fn new(out: &'w mut (dyn Write + Send), pretty: bool, prefix_runs: bool) -> Self {
        Printer {
            out: Mutex::new(out),
            pretty,
            prefix_runs,
            progress: std::io::stderr().is_terminal(),
            total: 0,
            finished: Default::default(),
        }
    }

    /// Counts finished runs out of `total` on the progress line.
    pub fn counting(mut self, total: usize) -> Self {
        self.total = total;
        self
    }

    /// `[k/N runs finished] ` while counting, else nothing (also once all are done,
    /// so the line is cleared).
    fn counter(&self) -> String {
        let done = self.finished.load(std::sync::atomic::Ordering::Relaxed);
        if self.total > 1 && done < self.total {
            format!("[{done}/{} runs finished] ", self.total)
        } else {
            String::new()
        }
    }

    pub fn into_inner(self) -> &'w mut (dyn Write + Send) {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner())
    }

    fn lines(&self, run_id: &str, event: &Event) -> Vec<String> {
        let short = |s: &str| -> String {
            let s = s.replace('\n', " ");
            if s.chars().count() > 160 {
                format!("{}…", s.chars().take(160).collect::<String>())
            } else {
                s
            }
        };
        match event {
            Event::Started { input } => vec![format!(
                "▶ run {run_id}  input: {}",
                short(&input.to_string())
            )],
            Event::Resumed {
                status,
                pipeline_changed,
            } => {
                let mut lines = vec![format!("▶ run {run_id} resumed ({})", status.as_str())];
                if *pipeline_changed {
                    lines.push(
                        "  note: the pipeline file changed since this run started; it goes on with the file as it is now"
                            .into(),
                    );
                }
                lines
            }
            Event::StepStarted { .. } => vec![],
            Event::StepDone {
                step,
                attempt,
                duration,
            } => {
                vec![format!(
                    "  step {step} (attempt {attempt}): ok in {} ms",
                    duration.as_millis()
                )]
            }
            Event::StepFailed { failure } => vec![format!("  {failure}")],
            Event::Seam { from, to, results } => {
                let mut lines = vec![format!("  seam {from} → {to}")];
                for r in results.iter() {
                    let label = if r.gate == r.plugin {
                        r.gate.clone()
                    } else {
                        format!("{} ({})", r.gate, r.plugin)
                    };
                    match &r.report.outcome {
                        Outcome::Verdict(v) => {
                            let mark = match v.passed {
                                true => paint(Style::Pass, "✓"),
                                false => paint(Style::Fail, "✗"),
                            };
                            let score = v
                                .score
                                .map(|s| format!("  score {s:.2}"))
                                .unwrap_or_default();
                            lines.push(format!("    {mark} {label}{score}"));
                            for f in &v.findings {
                                lines.push(format!("        {}  {}", f.code, short(&f.message)));
                            }
                        }
                        Outcome::Error(cause) => lines.push(format!(
                            "    {} {label}  {}: {cause}",
                            paint(Style::Warn, "!"),
                            paint(Style::Warn, "error")
                        )),
                    }
                }
                lines
            }
            Event::Decision {
                decided_by,
                target,
                reason,
            } => {
                vec![format!("    → {target}  ({decided_by}: {})", short(reason))]
            }
            Event::Waiting { review_id, reason } => {
                vec![format!(
                    "⏸ waiting for review {review_id}: {}",
                    short(reason)
                )]
            }
            Event::Finished {
                status,
                reason,
                output,
            } => {
                let style = match status {
                    RunStatus::Completed => Style::Pass,
                    RunStatus::Waiting => Style::Warn,
                    _ => Style::Fail,
                };
                let mut line = paint(style, format!("■ {}", status.as_str()));
                if let Some(r) = reason {
                    line.push_str(&format!(": {}", short(r)));
                }
                if let Some(o) = output {
                    line.push_str(&format!("  output: {}", short(&o.to_string())));
                }
                vec![line]
            }
        }
    }
}

impl Observer for Printer<'_> {
    fn event(&self, run_id: &str, event: &Event) {
        if matches!(event, Event::Finished { .. }) {
            self.finished
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        if self.progress {
            let mut err = std::io::stderr();
            let counter = self.counter();
            match event {
                Event::StepStarted { step, attempt } => {
                    let _ = write!(
                        err,
                        "\r\x1b[K  {counter}… running step {step} (attempt {attempt})"
                    );
                }
                _ if !counter.is_empty() => {
                    let _ = write!(err, "\r\x1b[K  {counter}");
                }
                _ => {
                    let _ = write!(err, "\r\x1b[K");
                }
            }
            let _ = err.flush();
        }
        if !self.pretty {
            return;
        }
        let lines = self.lines(run_id, event);
        if lines.is_empty() {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        for line in lines {
            let _ = if self.prefix_runs {
                writeln!(
                    out,
                    "[{}] {line}",
                    &run_id[run_id.len().saturating_sub(6)..]
                )
            } else {
                writeln!(out, "{line}")
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(id: &str, status: RunStatus) -> RunOutcome {
        RunOutcome {
            run_id: id.into(),
            status,
            output: None,
            reason: None,
        }
    }

    #[test]
    fn a_run_that_could_not_go_on_is_reported_beside_the_others() {
        let outcomes = [
            outcome("run-a", RunStatus::Completed),
            outcome("run-c", RunStatus::Rejected),
        ];
        let errors = [(
            2,
            "writing the new run to the ledger l.db failed".to_string(),
        )];
        let mut out = Vec::new();
        let exit = finish(
            &mut out,
            Format::Pretty,
            &outcomes,
            &errors,
            Path::new("l.db"),
        )
        .unwrap();
        assert_eq!(exit, Exit::Error);
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with(
                "✗ input 2 could not run: writing the new run to the ledger l.db failed\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "\n3 runs: 1 completed, 1 rejected, 0 waiting, 0 failed, 1 could not run\n"
            ),
            "{text}"
        );

        let mut out = Vec::new();
        finish(
            &mut out,
            Format::Json,
            &outcomes,
            &errors,
            Path::new("l.db"),
        )
        .unwrap();
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["outcomes"].as_array().unwrap().len(), 2);
        assert_eq!(doc["outcomes"][1]["run_id"], "run-c");
        assert_eq!(
            doc["errors"],
            serde_json::json!([{"input": 2, "error": "writing the new run to the ledger l.db failed"}])
        );
    }

    #[test]
    fn without_errors_the_worst_outcome_decides_the_exit_code() {
        let outcomes = [
            outcome("run-a", RunStatus::Completed),
            outcome("run-b", RunStatus::Waiting),
        ];
        let mut out = Vec::new();
        let exit = finish(&mut out, Format::Json, &outcomes, &[], Path::new("l.db")).unwrap();
        assert_eq!(exit, Exit::Waiting);
        let doc: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            doc.as_array().unwrap().len(),
            2,
            "an array of outcomes, as before"
        );
    }
}
