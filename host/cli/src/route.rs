//! `seam route`: ask a router where a handoff goes next.

use std::io::Write;

use anyhow::{bail, Context, Result};
use clap::Args;

use seam_types::{Finding, GateVerdict, PluginKind, Severity, Verdict};

use super::{json_arg, read_handoff, Exit, Format, PayloadFormat, RuntimeArgs};

/// Arguments of `seam route`.
#[derive(Args, Debug)]
pub struct RouteArgs {
    /// A router: a standard plugin's name (e.g. `verdict-router`) or a `.wasm` path.
    #[arg(long, value_name = "ROUTER")]
    router: String,
    /// The router's settings (JSON inline or @FILE).
    #[arg(long, value_name = "JSON|@FILE")]
    settings: Option<String>,
    /// The payload: a file, or `-` for stdin.
    #[arg(long, value_name = "FILE|-")]
    payload: String,
    /// How to read the payload.
    #[arg(long, value_enum, default_value_t)]
    payload_format: PayloadFormat,
    /// What the upstream step was given (a JSON file).
    #[arg(long, value_name = "FILE")]
    context: Option<String>,
    /// The gates' verdicts: a JSON file with a list of `{"gate", "verdict"}`, or the
    /// output of `seam check --format json`.
    #[arg(long, value_name = "FILE")]
    verdicts: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    #[command(flatten)]
    runtime: RuntimeArgs,
}

pub fn run(args: RouteArgs, out: &mut dyn Write) -> Result<Exit> {
    let settings = match &args.settings {
        Some(spec) => json_arg(spec, &format!("settings for router `{}`", args.router))?,
        None => serde_json::json!({}),
    };
    let handoff = read_handoff(&args.payload, args.payload_format, args.context.as_deref())?;
    let verdicts = read_verdicts(&args.verdicts)?;
    let runtime = args.runtime.runtime()?;
    let source = args.runtime.search.source(&args.router)?;
    let router = runtime
        .load(
            &source,
            PluginKind::Router,
            &settings,
            args.runtime.limits(),
        )
        .with_context(|| format!("loading router `{}`", args.router))?;
    let report = router.route_blocking(&handoff, &verdicts);
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Pretty => match &report.route {
            Ok(route) => writeln!(out, "→ {}  ({})", route.target, route.reason)?,
            Err(cause) => writeln!(out, "! {}  error: {cause}", report.plugin)?,
        },
    }
    Ok(if report.route.is_ok() {
        Exit::Passed
    } else {
        Exit::Error
    })
}

/// Reads verdicts from a list of gate verdicts or from `seam check --format json`
/// output, where a gate's error verdict becomes a failed verdict with a `seam.error`
/// finding (a router must see a malfunction as a failure).
fn read_verdicts(path: &str) -> Result<Vec<GateVerdict>> {
    let value = json_arg(&format!("@{path}"), "verdicts")?;
    if value.is_array() {
        return serde_json::from_value(value).with_context(|| {
            format!("{path} is not a list of {{\"gate\": NAME, \"verdict\": {{\"passed\": BOOL, ...}}}}")
        });
    }
    let Some(gates) = value.get("gates").and_then(|g| g.as_array()) else {
        bail!("{path} is neither a list of gate verdicts nor the output of `seam check --format json`");
    };
    gates
        .iter()
        .map(|g| {
            let gate = g
                .get("gate")
                .and_then(|n| n.as_str())
                .context("a gate report without `gate`")?
                .to_string();
            let verdict = match g.get("outcome").and_then(|o| o.as_str()) {
                Some("verdict") => serde_json::from_value::<Verdict>(g.clone())
                    .with_context(|| format!("reading the verdict of gate `{gate}` in {path}"))?,
                _ => Verdict {
                    passed: false,
                    score: None,
                    findings: vec![Finding {
                        code: "seam.error".into(),
                        message: g
                            .get("cause")
                            .and_then(|c| c.as_str())
                            .unwrap_or("error")
                            .to_string(),
                        path: None,
                        span: None,
                        severity: Severity::Error,
                    }],
                    fix: None,
                },
            };
            Ok(GateVerdict { gate, verdict })
        })
        .collect()
}
