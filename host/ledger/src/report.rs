//! The reliability report: per gate, per seam and per pipeline figures, and
//! gate-versus-human agreement (definitions in docs/report.md), and its renderings.
//! Each backend computes the figures in its own query language ([`crate::Ledger::report`]),
//! in bounded memory; this module holds the shapes and turns them into text and HTML.

use serde::Serialize;

/// Which part of the ledger to report on.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub pipeline: Option<String>,
    pub run: Option<String>,
    /// Only runs created at or after this time (unix milliseconds).
    pub since_ms: Option<i64>,
    /// Only runs created before this time (unix milliseconds).
    pub until_ms: Option<i64>,
}

/// The whole report. Its JSON form is stable: fields are only ever added.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Report {
    pub pipelines: Vec<PipelineReport>,
    pub seams: Vec<SeamReport>,
    pub gates: Vec<GateReport>,
    pub agreement: Vec<Agreement>,
}

/// One pipeline's runs.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct PipelineReport {
    pub pipeline: String,
    pub runs: i64,
    pub completed: i64,
    pub rejected: i64,
    pub failed: i64,
    /// Runs waiting for a person (status `waiting`).
    pub waiting: i64,
    /// The same number as `waiting`, under its old name; kept so the JSON stays
    /// stable, and to be removed in 0.2.
    pub pending: i64,
    /// Runs that were escalated to a person at least once.
    pub escalated: i64,
    /// completed / (completed + rejected + failed); `null` with no finished run.
    pub end_to_end: Option<f64>,
    /// The product of the seams' first-pass reliability: what the pipeline would do
    /// if nothing were recovered (the compounding arithmetic).
    pub product_first_pass: Option<f64>,
    /// The product of the seams' reliability after retries, fixes and reviews.
    pub product_after_recovery: Option<f64>,
}

/// One seam (the checks after one step).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SeamReport {
    pub pipeline: String,
    /// The upstream step.
    pub seam: String,
    /// Times a run reached this seam (run × seam).
    pub visits: i64,
    /// Visits whose first handoff passed at once.
    pub first_pass: i64,
    /// Visits that eventually went on (after retries, fixes or a review).
    pub passed_after_recovery: i64,
    pub first_pass_reliability: Option<f64>,
    pub reliability_after_recovery: Option<f64>,
    /// Retries the seam asked for.
    pub retries: i64,
    /// Visits that failed first and went on after a retry, a fix, or a review.
    pub recovered_by_retry: i64,
    pub recovered_by_fix: i64,
    pub recovered_by_review: i64,
}

/// One gate of one seam.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct GateReport {
    pub pipeline: String,
    pub seam: String,
    pub gate: String,
    pub checks: i64,
    pub passed: i64,
    pub failed: i64,
    pub errors: i64,
    pub pass_rate: Option<f64>,
    /// Error verdicts by cause (`timeout`, `out-of-memory`, …).
    pub errors_by_cause: Vec<(String, i64)>,
    pub latency_us_p50: Option<i64>,
    pub latency_us_p95: Option<i64>,
    pub latency_us_p99: Option<i64>,
}

/// How often people agreed with a gate on handoffs they reviewed.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Agreement {
    pub pipeline: String,
    pub seam: String,
    pub gate: String,
    /// Reviewed handoffs this gate had a verdict on.
    pub reviewed: i64,
    pub agreed: i64,
    /// The gate failed the handoff; the person accepted it.
    pub overruled_to_accept: i64,
    /// The gate passed the handoff; the person rejected it.
    pub overruled_to_reject: i64,
}

fn pct(x: Option<f64>) -> String {
    x.map_or("—".into(), |v| format!("{:.1}%", v * 100.0))
}

fn us(x: Option<i64>) -> String {
    match x {
        None => "—".into(),
        Some(v) if v >= 1000 => format!("{:.1} ms", v as f64 / 1000.0),
        Some(v) => format!("{v} µs"),
    }
}

/// The report as terminal tables.
pub fn render_text(r: &Report) -> String {
    let mut s = String::new();
    s.push_str("PIPELINES\n");
    s.push_str(&format!(
        "  {:<20} {:>6} {:>9} {:>8} {:>6} {:>7} {:>9}  {:>10} {:>16} {:>19}\n",
        "pipeline",
        "runs",
        "completed",
        "rejected",
        "failed",
        "waiting",
        "escalated",
        "end-to-end",
        "∏ first-pass",
        "∏ after recovery"
    ));
    for p in &r.pipelines {
        s.push_str(&format!(
            "  {:<20} {:>6} {:>9} {:>8} {:>6} {:>7} {:>9}  {:>10} {:>16} {:>19}\n",
            p.pipeline,
            p.runs,
            p.completed,
            p.rejected,
            p.failed,
            p.waiting,
            p.escalated,
            pct(p.end_to_end),
            pct(p.product_first_pass),
            pct(p.product_after_recovery)
        ));
    }
    s.push_str("\nSEAMS\n");
    s.push_str(&format!(
        "  {:<20} {:<14} {:>7} {:>11} {:>16} {:>8} {:>10} {:>8} {:>9}\n",
        "pipeline",
        "after step",
        "visits",
        "first pass",
        "after recovery",
        "retries",
        "by retry",
        "by fix",
        "by review"
    ));
    for x in &r.seams {
        s.push_str(&format!(
            "  {:<20} {:<14} {:>7} {:>11} {:>16} {:>8} {:>10} {:>8} {:>9}\n",
            x.pipeline,
            x.seam,
            x.visits,
            pct(x.first_pass_reliability),
            pct(x.reliability_after_recovery),
            x.retries,
            x.recovered_by_retry,
            x.recovered_by_fix,
            x.recovered_by_review
        ));
    }
    s.push_str("\nGATES\n");
    s.push_str(&format!(
        "  {:<20} {:<14} {:<14} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9}  errors by cause\n",
        "pipeline", "after step", "gate", "checks", "pass rate", "errors", "p50", "p95", "p99"
    ));
    for g in &r.gates {
        let causes = g
            .errors_by_cause
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        s.push_str(&format!(
            "  {:<20} {:<14} {:<14} {:>7} {:>9} {:>7} {:>9} {:>9} {:>9}  {}\n",
            g.pipeline,
            g.seam,
            g.gate,
            g.checks,
            pct(g.pass_rate),
            g.errors,
            us(g.latency_us_p50),
            us(g.latency_us_p95),
            us(g.latency_us_p99),
            causes
        ));
    }
    if !r.agreement.is_empty() {
        s.push_str("\nGATE VERSUS HUMAN (reviewed handoffs)\n");
        s.push_str(&format!(
            "  {:<20} {:<14} {:<14} {:>8} {:>7} {:>22} {:>22}\n",
            "pipeline",
            "after step",
            "gate",
            "reviewed",
            "agreed",
            "gate failed, accepted",
            "gate passed, rejected"
        ));
        for a in &r.agreement {
            s.push_str(&format!(
                "  {:<20} {:<14} {:<14} {:>8} {:>7} {:>22} {:>22}\n",
                a.pipeline,
                a.seam,
                a.gate,
                a.reviewed,
                a.agreed,
                a.overruled_to_accept,
                a.overruled_to_reject
            ));
        }
    }
    s
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart as inline SVG: one row per (label, value in [0, max]).
fn bars(
    id: &str,
    title: &str,
    rows: &[(String, Vec<(f64, &str)>)],
    max: f64,
    unit: &dyn Fn(f64) -> String,
) -> String {
    let row_h = 26.0;
    let label_w = 260.0;
    let bar_w = 420.0;
    let series = rows.iter().map(|r| r.1.len()).max().unwrap_or(1).max(1) as f64;
    let height = 30.0 + rows.len() as f64 * row_h * series.max(1.0) * 0.8 + 10.0;
    let mut svg = format!(
        "<figure id=\"{id}\"><figcaption>{}</figcaption><svg class=\"chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {} {height}\" width=\"{}\" height=\"{height}\">",
        esc(title), esc(title), label_w + bar_w + 120.0, label_w + bar_w + 120.0
    );
    let mut y = 20.0;
    for (label, values) in rows {
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{}\" class=\"label\">{}</text>",
            y + 12.0,
            esc(label)
        ));
        for (v, color) in values {
            let w = if max > 0.0 {
                (v / max).clamp(0.0, 1.0) * bar_w
            } else {
                0.0
            };
            svg.push_str(&format!(
                "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{:.1}\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{}</text>",
                row_h * 0.8 - 4.0,
                label_w + w + 6.0,
                y + 12.0,
                esc(&unit(*v))
            ));
            y += row_h * 0.8;
        }
        y += 4.0;
    }
    svg.push_str("</svg></figure>");
    svg
}

/// The report as one self-contained HTML page (inline CSS and SVG; no network).
pub fn render_html(r: &Report, title: &str) -> String {
    let pc = |v: f64| format!("{:.1}%", v * 100.0);
    let ms = |v: f64| us(Some(v as i64));
    let pipelines: Vec<(String, Vec<(f64, &str)>)> = r
        .pipelines
        .iter()
        .map(|p| {
            (
                p.pipeline.clone(),
                vec![
                    (p.end_to_end.unwrap_or(0.0), "#2e7d32"),
                    (p.product_first_pass.unwrap_or(0.0), "#c62828"),
                    (p.product_after_recovery.unwrap_or(0.0), "#1565c0"),
                ],
            )
        })
        .collect();
    let seams: Vec<(String, Vec<(f64, &str)>)> = r
        .seams
        .iter()
        .map(|s| {
            (
                format!("{} · after {}", s.pipeline, s.seam),
                vec![
                    (s.first_pass_reliability.unwrap_or(0.0), "#c62828"),
                    (s.reliability_after_recovery.unwrap_or(0.0), "#1565c0"),
                ],
            )
        })
        .collect();
    let gates: Vec<(String, Vec<(f64, &str)>)> = r
        .gates
        .iter()
        .map(|g| {
            (
                format!("{} · {} · {}", g.pipeline, g.seam, g.gate),
                vec![(g.pass_rate.unwrap_or(0.0), "#2e7d32")],
            )
        })
        .collect();
    let max_lat = r
        .gates
        .iter()
        .filter_map(|g| g.latency_us_p99)
        .max()
        .unwrap_or(1) as f64;
    let latency: Vec<(String, Vec<(f64, &str)>)> = r
        .gates
        .iter()
        .map(|g| {
            (
                format!("{} · {} · {}", g.pipeline, g.seam, g.gate),
                vec![
                    (g.latency_us_p50.unwrap_or(0) as f64, "#90caf9"),
                    (g.latency_us_p95.unwrap_or(0) as f64, "#42a5f5"),
                    (g.latency_us_p99.unwrap_or(0) as f64, "#1565c0"),
                ],
            )
        })
        .collect();
    let agreement: Vec<(String, Vec<(f64, &str)>)> = r
        .agreement
        .iter()
        .map(|a| {
            let n = a.reviewed.max(1) as f64;
            (
                format!("{} · {} · {}", a.pipeline, a.seam, a.gate),
                vec![
                    (a.agreed as f64 / n, "#2e7d32"),
                    (a.overruled_to_accept as f64 / n, "#ef6c00"),
                    (a.overruled_to_reject as f64 / n, "#6a1b9a"),
                ],
            )
        })
        .collect();
    let table = esc(&render_text(r));
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>
body{{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222}} h1{{font-size:1.4rem}}
figure{{margin:1.5rem 0}} figcaption{{font-weight:600;margin-bottom:.3rem}}
.chart .label{{font-size:12px}} .chart .value{{font-size:11px;fill:#444}}
.legend span{{display:inline-block;margin-right:1rem}} .legend i{{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle}}
pre{{background:#f6f6f6;padding:1rem;overflow:auto;font-size:12px}}
</style></head><body><h1>{t}</h1>
<p class=\"legend\"><span><i style=\"background:#2e7d32\"></i>measured / passed / agreed</span><span><i style=\"background:#c62828\"></i>first pass (∏ = no recovery)</span><span><i style=\"background:#1565c0\"></i>after retries, fixes, reviews</span><span><i style=\"background:#ef6c00\"></i>gate failed, person accepted</span><span><i style=\"background:#6a1b9a\"></i>gate passed, person rejected</span></p>
{c1}{c2}{c3}{c4}{c5}
<h2>Tables</h2><pre>{table}</pre></body></html>\n",
        t = esc(title),
        c1 = bars("chart-pipelines", "End-to-end reliability: measured, ∏ first pass, ∏ after recovery", &pipelines, 1.0, &pc),
        c2 = bars("chart-seams", "Per-seam reliability: first pass, after recovery", &seams, 1.0, &pc),
        c3 = bars("chart-gates", "Gate pass rate", &gates, 1.0, &pc),
        c4 = bars("chart-latency", "Gate latency p50 / p95 / p99", &latency, max_lat, &ms),
        c5 = bars("chart-agreement", "Gate versus human", &agreement, 1.0, &pc),
    )
}

/// The last millisecond of the year 9999, the latest time a filter accepts.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// A time for a report filter (`--since`, `--until`): a duration before `now_ms`
/// (`30m`, `24h`, `7d`, `1h 30m`), an RFC 3339 time (`2026-11-01T00:00:00Z`,
/// `2026-11-01 08:00:00`, UTC), or unix milliseconds — in 1970 to 9999 whichever way.
/// Parsed by `humantime`, which rejects what it does not know (any unit, any
/// character) with a message instead of panicking. The error says what was wrong and
/// what to give instead.
pub fn parse_time(spec: &str, now_ms: i64) -> Result<i64, String> {
    let spec = spec.trim();
    let hint = "give a duration before now (30m, 24h, 7d), a time (2026-11-01T00:00:00Z) or unix milliseconds";
    if let Ok(ms) = spec.parse::<i64>() {
        if !(0..=MAX_TIME_MS).contains(&ms) {
            return Err(format!(
                "unix milliseconds must lie in 0..={MAX_TIME_MS} (1970 to 9999); {hint}"
            ));
        }
        return Ok(ms);
    }
    if spec.starts_with(['-', '+']) {
        return Err(format!("a signed number is not a time; {hint}"));
    }
    if let Ok(at) = humantime::parse_rfc3339_weak(spec) {
        return match at.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) if d.as_millis() <= MAX_TIME_MS as u128 => Ok(d.as_millis() as i64),
            _ => Err(format!("the time lies outside 1970 to 9999; {hint}")),
        };
    }
    match humantime::parse_duration(spec) {
        Ok(ago) => match i64::try_from(ago.as_millis()) {
            Ok(ago) if ago <= now_ms => Ok(now_ms - ago),
            _ => Err(
                "it reaches back before 1970, so it would match every run while saying it \
                 filters; give a shorter duration, or leave the filter out"
                    .into(),
            ),
        },
        Err(e) => Err(format!("{e}; {hint}")),
    }
}
