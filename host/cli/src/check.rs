//! `seam check`: run gates on one payload and print their verdicts.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::{ArgMatches, Args};

use seam_runtime::{check_all_blocking, CheckReport, Outcome};
use seam_types::{Handoff, PluginKind, Severity};

use super::{json_arg, read_handoff, Exit, Format, PayloadFormat, RuntimeArgs};
use crate::style::{paint, Style};

/// Arguments of `seam check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// A gate: a standard plugin's name (e.g. `max-words`) or a path to a `.wasm`
    /// component. Repeat to run several gates concurrently.
    #[arg(long = "gate", value_name = "GATE", required = true)]
    gates: Vec<String>,
    /// Settings (JSON inline or @FILE) for the `--gate` just before it.
    #[arg(long = "settings", value_name = "JSON|@FILE")]
    settings: Vec<String>,
    /// The payload to check: a file, or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    payload: String,
    /// How to read the payload.
    #[arg(long, value_enum, default_value_t)]
    payload_format: PayloadFormat,
    /// What the upstream step was given (a JSON file), passed to the gates as context.
    #[arg(long, value_name = "FILE")]
    context: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

/// Pairs every `--settings` with the `--gate` before it on the command line.
fn pair_settings(
    args: &CheckArgs,
    matches: &ArgMatches,
) -> Result<Vec<(String, serde_json::Value)>> {
    let gate_at: Vec<usize> = matches
        .indices_of("gates")
        .map(Iterator::collect)
        .unwrap_or_default();
    let settings_at: Vec<usize> = matches
        .indices_of("settings")
        .map(Iterator::collect)
        .unwrap_or_default();
    let mut pairs: Vec<(String, Option<serde_json::Value>)> =
        args.gates.iter().map(|g| (g.clone(), None)).collect();
    for (spec, at) in args.settings.iter().zip(settings_at) {
        let Some(owner) = gate_at.iter().rposition(|&g| g < at) else {
            bail!("--settings {spec} comes before any --gate; put each --settings right after its --gate");
        };
        let gate = &pairs[owner].0;
        if pairs[owner].1.is_some() {
            bail!("gate `{gate}` has two --settings; give one per --gate");
        }
        let value = json_arg(spec, &format!("settings for gate `{gate}`"))?;
        pairs[owner].1 = Some(value);
    }
    Ok(pairs
        .into_iter()
        .map(|(g, s)| (g, s.unwrap_or_else(|| serde_json::json!({}))))
        .collect())
}

pub fn run(args: CheckArgs, matches: &ArgMatches, out: &mut dyn Write) -> Result<Exit> {
    let pairs = pair_settings(&args, matches)?;
    let handoff = read_handoff(&args.payload, args.payload_format, args.context.as_deref())?;
    let runtime = args.runtime.runtime()?;
    let limits = args.runtime.limits();
    let mut gates = Vec::new();
    // Gates from files are named by their own describe(); two different files must not
    // answer to one name.
    let mut from_files: Vec<(String, String, Option<seam_types::files::FileId>)> = Vec::new();
    for (spec, settings) in &pairs {
        let source = args.runtime.search.source(spec)?;
        let gate = runtime
            .load(&source, PluginKind::Gate, settings, limits.clone())
            .with_context(|| format!("loading gate `{spec}`"))?;
        if source.named_by_file {
            let id = seam_types::files::FileId::of(std::path::Path::new(spec));
            if let Some((_, other, _)) = from_files
                .iter()
                .find(|(name, _, other_id)| name == gate.name() && *other_id != id)
            {
                bail!(
                    "gates {other} and {spec} both call themselves `{}`; their verdicts could \
                     not be told apart: rename one plugin",
                    gate.name()
                );
            }
            from_files.push((gate.name().to_string(), spec.clone(), id));
        }
        gates.push(gate);
    }
    let reports = check_all_blocking(&gates, &handoff);

    let errors = reports
        .iter()
        .filter(|r| r.outcome.error().is_some())
        .count();
    let failed = reports
        .iter()
        .filter(|r| matches!(&r.outcome, Outcome::Verdict(v) if !v.passed))
        .count();
    let exit = if errors > 0 {
        Exit::Error
    } else if failed > 0 {
        Exit::Rejected
    } else {
        Exit::Passed
    };
    match args.format {
        Format::Json => {
            // Each gate of `seam check` is named after its plugin: `gate` and `plugin`.
            let gates: Vec<serde_json::Value> = reports
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    v["gate"] = serde_json::Value::String(r.plugin.clone());
                    v
                })
                .collect();
            let doc = serde_json::json!({
                "passed": exit == Exit::Passed,
                "gates": gates,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        Format::Pretty => {
            for report in &reports {
                out.write_all(pretty(report, &handoff).as_bytes())?;
            }
            let n = reports.len();
            let summary = match exit {
                Exit::Passed => {
                    format!("{}: {n} of {n} gates passed", paint(Style::Pass, "passed"))
                }
                Exit::Rejected => {
                    format!(
                        "{}: {failed} of {n} gates failed",
                        paint(Style::Fail, "rejected")
                    )
                }
                Exit::Error | Exit::Waiting => format!(
                    "{}: {errors} of {n} gates could not answer (see above); {failed} failed",
                    paint(Style::Warn, "error")
                ),
            };
            writeln!(out, "\n{summary}")?;
        }
    }
    Ok(exit)
}

/// Most characters of a fix or log shown in pretty output.
const PREVIEW_CHARS: usize = 300;

fn preview(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// One gate's report, for people.
pub fn pretty(report: &CheckReport, handoff: &Handoff) -> String {
    let mut s = String::new();
    let ms = report.duration.as_secs_f64() * 1000.0;
    match &report.outcome {
        Outcome::Verdict(v) => {
            let (mark, status) = match v.passed {
                true => (paint(Style::Pass, "✓"), paint(Style::Pass, "passed")),
                false => (paint(Style::Fail, "✗"), paint(Style::Fail, "failed")),
            };
            let score = v
                .score
                .map(|s| format!("  score {s:.2}"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "{mark} {}  {status}{score}  {}",
                paint(Style::Strong, &report.plugin),
                paint(Style::Dim, format!("({ms:.2} ms)"))
            );
            let payload: Option<serde_json::Value> = serde_json::from_str(&handoff.payload).ok();
            for f in &v.findings {
                let sev = match f.severity {
                    Severity::Error => paint(Style::Fail, "error  "),
                    Severity::Warning => paint(Style::Warn, "warning"),
                    Severity::Info => paint(Style::Dim, "info   "),
                };
                let _ = write!(s, "    {sev} {}  {}", f.code, f.message);
                let path = f.path.as_deref();
                if let Some(p) = path.filter(|p| !p.is_empty()) {
                    let _ = write!(s, "  at {p}");
                }
                if let Some(span) = f.span {
                    let text = payload
                        .as_ref()
                        .and_then(|v| v.pointer(path.unwrap_or("")))
                        .and_then(|v| v.as_str())
                        .and_then(|t| t.get(span.start as usize..span.end as usize));
                    match text {
                        Some(t) => {
                            let _ = write!(s, "  [{}..{}] {:?}", span.start, span.end, preview(t));
                        }
                        None => {
                            let _ =
                                write!(s, "  [{}..{}] (outside the text)", span.start, span.end);
                        }
                    }
                }
                s.push('\n');
            }
            if let Some(fix) = &v.fix {
                let _ = writeln!(s, "    fix: {}", preview(fix));
            }
        }
        Outcome::Error(cause) => {
            let _ = writeln!(
                s,
                "{} {}  {}: {cause}  {}",
                paint(Style::Warn, "!"),
                paint(Style::Strong, &report.plugin),
                paint(Style::Warn, "error"),
                paint(Style::Dim, format!("({ms:.2} ms)"))
            );
        }
    }
    if !report.log.is_empty() {
        let _ = writeln!(
            s,
            "    plugin log{} (the plugin's own output):",
            if report.log_truncated {
                " (truncated)"
            } else {
                ""
            }
        );
        for line in report.log.lines().take(20) {
            let _ = writeln!(s, "      {}", preview(line));
        }
    }
    s
}
