//! The report's figures in SQLite's SQL (definitions in docs/report.md): nothing is
//! loaded whole, so a ledger of millions of verdicts reports in bounded memory.

use rusqlite::{params_from_iter, Connection};

use crate::report::*;
use crate::OUTPUT_SCHEMA_GATE;

/// A SQL condition on `runs` aliased `r` for `filter`, and its parameters.
pub(crate) fn runs_where(filter: &Filter) -> (String, Vec<rusqlite::types::Value>) {
    let mut conds = vec!["1 = 1".to_string()];
    let mut params: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(p) = &filter.pipeline {
        params.push(p.clone().into());
        conds.push(format!("r.pipeline = ?{}", params.len()));
    }
    if let Some(id) = &filter.run {
        params.push(id.clone().into());
        conds.push(format!("r.id = ?{}", params.len()));
    }
    if let Some(t) = filter.since_ms {
        params.push(t.into());
        conds.push(format!("r.created_at >= ?{}", params.len()));
    }
    if let Some(t) = filter.until_ms {
        params.push(t.into());
        conds.push(format!("r.created_at < ?{}", params.len()));
    }
    (conds.join(" AND "), params)
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Route targets that mean a handoff did not go on.
const STOPPED: &str = "('retry', 'human', 'reject', 'error')";

/// Builds the report for `filter`.
pub(crate) fn build(c: &Connection, filter: &Filter) -> rusqlite::Result<Report> {
    let (w, p) = runs_where(filter);
    Ok(Report::assemble(
        pipelines(c, &w, &p)?,
        seams(c, &w, &p)?,
        gates(c, &w, &p)?,
        agreement(c, &w, &p)?,
    ))
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
            waiting: r.get(5)?,
            pending: r.get(5)?,
            escalated: r.get(6)?,
            end_to_end: ratio(completed, completed + rejected + failed),
            product_first_pass: None,
            product_after_recovery: None,
        })
    })?;
    rows.collect()
}

/// One row per visit (run × upstream step) with what happened there: `pipeline`,
/// `from_step`, `run_id`, `first_ok`, `ok`, `retries`, `by_retry`, `by_fix`,
/// `by_review`. A handoff counts at a seam when a gate or a router looked at it: the
/// last step's output, routed to the end by the policy alone, is no seam.
fn visits(w: &str) -> String {
    format!(
        "WITH hs AS (
            SELECT h.id, h.run_id, r.pipeline, h.from_step, h.attempt, h.fixed_by,
                   (SELECT o.target FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id LIMIT 1) AS target,
                   (SELECT o.decided_by FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id DESC LIMIT 1) AS last_by,
                   (SELECT o.target FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id DESC LIMIT 1) AS last_target
            FROM handoffs h JOIN runs r ON r.id = h.run_id
            WHERE {w} AND EXISTS (SELECT 1 FROM routes o WHERE o.handoff_id = h.id)
              AND (EXISTS (SELECT 1 FROM verdicts v WHERE v.handoff_id = h.id)
                   OR EXISTS (SELECT 1 FROM routes o WHERE o.handoff_id = h.id AND o.decided_by <> 'policy'))
         ),
         visits AS (
            SELECT pipeline, from_step, run_id, COUNT(*) AS handoffs,
                   MAX(attempt = 1 AND fixed_by IS NULL AND target NOT IN {STOPPED} AND target NOT LIKE 'fix:%') AS first_ok,
                   MAX(last_target NOT IN {STOPPED} AND last_target NOT LIKE 'fix:%') AS ok,
                   SUM(target = 'retry') AS retries,
                   MAX(attempt > 1 AND target NOT IN {STOPPED} AND target NOT LIKE 'fix:%') AS by_retry,
                   MAX(fixed_by IS NOT NULL AND target NOT IN {STOPPED} AND target NOT LIKE 'fix:%') AS by_fix,
                   MAX(last_by = 'review' AND last_target NOT IN {STOPPED}) AS by_review
            FROM hs GROUP BY pipeline, from_step, run_id
         )"
    )
}

fn seams(
    c: &Connection,
    w: &str,
    p: &[rusqlite::types::Value],
) -> rusqlite::Result<Vec<SeamReport>> {
    let sql = format!(
        "{}
         SELECT pipeline, from_step, COUNT(*), SUM(first_ok), SUM(ok), SUM(retries),
                SUM(NOT first_ok AND ok AND by_retry AND NOT by_review),
                SUM(NOT first_ok AND ok AND by_fix AND NOT by_retry AND NOT by_review),
                SUM(NOT first_ok AND ok AND by_review)
         FROM visits GROUP BY pipeline, from_step ORDER BY pipeline, from_step",
        visits(w)
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

/// The visits behind one seam's figures, newest run first, counted as [`seams`] does.
pub(crate) fn seam_visits(
    c: &Connection,
    filter: &Filter,
    pipeline: &str,
    seam: &str,
    limit: usize,
) -> rusqlite::Result<Vec<crate::SeamVisit>> {
    let (w, mut p) = runs_where(filter);
    let n = p.len();
    p.push(pipeline.to_string().into());
    p.push(seam.to_string().into());
    p.push((limit.min(i64::MAX as usize) as i64).into());
    let sql = format!(
        "{}
         SELECT x.run_id, r.status, r.created_at, x.handoffs, x.first_ok, x.ok,
                CASE WHEN x.first_ok OR NOT x.ok THEN NULL
                     WHEN x.by_review THEN 'review' WHEN x.by_retry THEN 'retry'
                     WHEN x.by_fix THEN 'fix' END
         FROM visits x JOIN runs r ON r.id = x.run_id
         WHERE x.pipeline = ?{} AND x.from_step = ?{}
         ORDER BY r.created_at DESC, x.run_id DESC LIMIT ?{}",
        visits(&w),
        n + 1,
        n + 2,
        n + 3
    );
    let mut st = c.prepare(&sql)?;
    let rows = st.query_map(params_from_iter(p.iter()), |r| {
        Ok(crate::SeamVisit {
            run_id: r.get(0)?,
            status: r.get(1)?,
            created_at: r.get(2)?,
            handoffs: r.get(3)?,
            first_pass: r.get(4)?,
            passed: r.get(5)?,
            recovered_by: r.get(6)?,
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
           AND v.gate <> '{OUTPUT_SCHEMA_GATE}'
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
