//! The reliability report: per gate, per seam and per pipeline figures, and
//! gate-versus-human agreement, computed by SQL over the ledger (nothing is loaded
//! whole, so a ledger of millions of verdicts reports in bounded memory).
//!
//! This module owns the definitions of the figures (docs/report.md); it must not write
//! to the ledger.

use rusqlite::{params_from_iter, Connection};
use serde::Serialize;

use crate::{Ledger, LedgerError};

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

impl Filter {
    /// A SQL condition on `runs` aliased `r`, and its parameters.
    pub(crate) fn runs_where(&self) -> (String, Vec<rusqlite::types::Value>) {
        let mut conds = vec!["1 = 1".to_string()];
        let mut params: Vec<rusqlite::types::Value> = Vec::new();
        if let Some(p) = &self.pipeline {
            params.push(p.clone().into());
            conds.push(format!("r.pipeline = ?{}", params.len()));
        }
        if let Some(id) = &self.run {
            params.push(id.clone().into());
            conds.push(format!("r.id = ?{}", params.len()));
        }
        if let Some(t) = self.since_ms {
            params.push(t.into());
            conds.push(format!("r.created_at >= ?{}", params.len()));
        }
        if let Some(t) = self.until_ms {
            params.push(t.into());
            conds.push(format!("r.created_at < ?{}", params.len()));
        }
        (conds.join(" AND "), params)
    }
}

/// The whole report. Its JSON form is stable: fields are only ever added.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub pipelines: Vec<PipelineReport>,
    pub seams: Vec<SeamReport>,
    pub gates: Vec<GateReport>,
    pub agreement: Vec<Agreement>,
}

/// One pipeline's runs.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineReport {
    pub pipeline: String,
    pub runs: i64,
    pub completed: i64,
    pub rejected: i64,
    pub failed: i64,
    /// Waiting for a person.
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Route targets that mean a handoff did not go on.
const STOPPED: &str = "('retry', 'human', 'reject', 'error')";

/// Builds the report for `filter`.
pub fn build(ledger: &Ledger, filter: &Filter) -> Result<Report, LedgerError> {
    ledger.read("the report", |c| {
        let (w, p) = filter.runs_where();
        let pipelines_raw = pipelines(c, &w, &p)?;
        let seams = seams(c, &w, &p)?;
        let gates = gates(c, &w, &p)?;
        let agreement = agreement(c, &w, &p)?;
        let pipelines = pipelines_raw
            .into_iter()
            .map(|mut pr| {
                let mine: Vec<&SeamReport> =
                    seams.iter().filter(|s| s.pipeline == pr.pipeline).collect();
                let product = |f: fn(&SeamReport) -> Option<f64>| -> Option<f64> {
                    if mine.is_empty() {
                        return None;
                    }
                    mine.iter().map(|s| f(s)).product::<Option<f64>>()
                };
                pr.product_first_pass = product(|s| s.first_pass_reliability);
                pr.product_after_recovery = product(|s| s.reliability_after_recovery);
                pr
            })
            .collect();
        Ok(Report {
            pipelines,
            seams,
            gates,
            agreement,
        })
    })
}

fn pipelines(
    c: &Connection,
    w: &str,
    p: &[rusqlite::types::Value],
) -> rusqlite::Result<Vec<PipelineReport>> {
    let sql = format!(
        "SELECT r.pipeline, COUNT(*),
                SUM(r.status = 'completed'), SUM(r.status = 'rejected'), SUM(r.status = 'failed'), SUM(r.status = 'waiting'),
                SUM(EXISTS (SELECT 1 FROM reviews v WHERE v.run_id = r.id AND v.kind = 'escalation'))
         FROM runs r WHERE {w} GROUP BY r.pipeline ORDER BY r.pipeline"
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(p.iter()), |r| {
        let (completed, rejected, failed): (i64, i64, i64) = (r.get(2)?, r.get(3)?, r.get(4)?);
        Ok(PipelineReport {
            pipeline: r.get(0)?,
            runs: r.get(1)?,
            completed,
            rejected,
            failed,
            pending: r.get(5)?,
            escalated: r.get(6)?,
            end_to_end: ratio(completed, completed + rejected + failed),
            product_first_pass: None,
            product_after_recovery: None,
        })
    })?;
    rows.collect()
}

fn seams(
    c: &Connection,
    w: &str,
    p: &[rusqlite::types::Value],
) -> rusqlite::Result<Vec<SeamReport>> {
    // One row per visit (run × upstream step) with what happened there, then summed.
    let sql = format!(
        "WITH hs AS (
            SELECT h.id, h.run_id, r.pipeline, h.from_step, h.attempt, h.fixed_by,
                   (SELECT o.target FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id LIMIT 1) AS target,
                   (SELECT o.decided_by FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id DESC LIMIT 1) AS last_by,
                   (SELECT o.target FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id DESC LIMIT 1) AS last_target
            FROM handoffs h JOIN runs r ON r.id = h.run_id
            WHERE {w} AND EXISTS (SELECT 1 FROM routes o WHERE o.handoff_id = h.id)
         ),
         visits AS (
            SELECT pipeline, from_step, run_id,
                   MAX(attempt = 1 AND fixed_by IS NULL AND target NOT IN {STOPPED} AND target NOT LIKE 'fix:%') AS first_ok,
                   MAX(last_target NOT IN {STOPPED} AND last_target NOT LIKE 'fix:%') AS ok,
                   SUM(target = 'retry') AS retries,
                   MAX(attempt > 1 AND target NOT IN {STOPPED} AND target NOT LIKE 'fix:%') AS by_retry,
                   MAX(fixed_by IS NOT NULL AND target NOT IN {STOPPED} AND target NOT LIKE 'fix:%') AS by_fix,
                   MAX(last_by = 'review' AND last_target NOT IN {STOPPED}) AS by_review
            FROM hs GROUP BY pipeline, from_step, run_id
         )
         SELECT pipeline, from_step, COUNT(*), SUM(first_ok), SUM(ok), SUM(retries),
                SUM(NOT first_ok AND ok AND by_retry AND NOT by_review),
                SUM(NOT first_ok AND ok AND by_fix AND NOT by_retry AND NOT by_review),
                SUM(NOT first_ok AND ok AND by_review)
         FROM visits GROUP BY pipeline, from_step ORDER BY pipeline, from_step"
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(p.iter()), |r| {
        let (visits, first, ok): (i64, i64, i64) = (r.get(2)?, r.get(3)?, r.get(4)?);
        Ok(SeamReport {
            pipeline: r.get(0)?,
            seam: r.get(1)?,
            visits,
            first_pass: first,
            passed_after_recovery: ok,
            first_pass_reliability: ratio(first, visits),
            reliability_after_recovery: ratio(ok, visits),
            retries: r.get(5)?,
            recovered_by_retry: r.get(6)?,
            recovered_by_fix: r.get(7)?,
            recovered_by_review: r.get(8)?,
        })
    })?;
    rows.collect()
}

fn gates(
    c: &Connection,
    w: &str,
    p: &[rusqlite::types::Value],
) -> rusqlite::Result<Vec<GateReport>> {
    let sql = format!(
        "SELECT r.pipeline, h.from_step, v.gate, COUNT(*), SUM(v.outcome = 'passed'), SUM(v.outcome = 'failed'), SUM(v.outcome = 'error')
         FROM verdicts v JOIN handoffs h ON h.id = v.handoff_id JOIN runs r ON r.id = v.run_id
         WHERE {w} GROUP BY r.pipeline, h.from_step, v.gate ORDER BY r.pipeline, h.from_step, v.gate"
    );
    let mut st = c.prepare(&sql)?;
    let mut out: Vec<GateReport> = st
        .query_map(params_from_iter(p.iter()), |r| {
            let (checks, passed): (i64, i64) = (r.get(3)?, r.get(4)?);
            Ok(GateReport {
                pipeline: r.get(0)?,
                seam: r.get(1)?,
                gate: r.get(2)?,
                checks,
                passed,
                failed: r.get(5)?,
                errors: r.get(6)?,
                pass_rate: ratio(passed, checks),
                errors_by_cause: Vec::new(),
                latency_us_p50: None,
                latency_us_p95: None,
                latency_us_p99: None,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let n = p.len();
    let scope = format!(
        "FROM verdicts v JOIN handoffs h ON h.id = v.handoff_id JOIN runs r ON r.id = v.run_id
         WHERE {w} AND r.pipeline = ?{} AND h.from_step = ?{} AND v.gate = ?{}",
        n + 1,
        n + 2,
        n + 3
    );
    let mut causes = c.prepare(&format!(
        "SELECT v.error_cause, COUNT(*) {scope} AND v.outcome = 'error' GROUP BY v.error_cause ORDER BY COUNT(*) DESC, v.error_cause"
    ))?;
    let mut nth = c.prepare(&format!(
        "SELECT v.duration_us {scope} ORDER BY v.duration_us LIMIT 1 OFFSET ?{}",
        n + 4
    ))?;
    for g in &mut out {
        let mut args: Vec<rusqlite::types::Value> = p.to_vec();
        args.extend([
            g.pipeline.clone().into(),
            g.seam.clone().into(),
            g.gate.clone().into(),
        ]);
        g.errors_by_cause = causes
            .query_map(params_from_iter(args.iter()), |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?
                        .unwrap_or_else(|| "unknown".into()),
                    r.get(1)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        // Nearest-rank percentiles, one indexed lookup each.
        let mut pct = |q: f64| -> rusqlite::Result<Option<i64>> {
            let rank = ((q * g.checks as f64).ceil() as i64).clamp(1, g.checks) - 1;
            let mut a = args.clone();
            a.push(rank.into());
            nth.query_row(params_from_iter(a.iter()), |r| r.get(0))
                .map(Some)
        };
        if g.checks > 0 {
            g.latency_us_p50 = pct(0.50)?;
            g.latency_us_p95 = pct(0.95)?;
            g.latency_us_p99 = pct(0.99)?;
        }
    }
    Ok(out)
}

fn agreement(
    c: &Connection,
    w: &str,
    p: &[rusqlite::types::Value],
) -> rusqlite::Result<Vec<Agreement>> {
    let sql = format!(
        "SELECT r.pipeline, h.from_step, v.gate, COUNT(*),
                SUM((v.outcome = 'failed' AND x.status = 'rejected') OR (v.outcome = 'passed' AND x.status = 'accepted')),
                SUM(v.outcome = 'failed' AND x.status = 'accepted'),
                SUM(v.outcome = 'passed' AND x.status = 'rejected')
         FROM reviews x JOIN handoffs h ON h.id = x.handoff_id JOIN verdicts v ON v.handoff_id = h.id JOIN runs r ON r.id = x.run_id
         WHERE {w} AND x.kind = 'escalation' AND x.status IN ('accepted', 'rejected') AND v.outcome IN ('passed', 'failed')
         GROUP BY r.pipeline, h.from_step, v.gate ORDER BY r.pipeline, h.from_step, v.gate"
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(p.iter()), |r| {
        Ok(Agreement {
            pipeline: r.get(0)?,
            seam: r.get(1)?,
            gate: r.get(2)?,
            reviewed: r.get(3)?,
            agreed: r.get(4)?,
            overruled_to_accept: r.get(5)?,
            overruled_to_reject: r.get(6)?,
        })
    })?;
    rows.collect()
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
        "pending",
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
            p.pending,
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
