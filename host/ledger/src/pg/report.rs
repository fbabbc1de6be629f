//! The report's figures in PostgreSQL's SQL (definitions in docs/report.md), as the
//! SQLite backend computes them: the same visits, the same rules, nearest-rank
//! percentiles (`percentile_disc`), text ordered bytewise.

use postgres::Client;

use super::{refs, Params};
use crate::report::*;
use crate::OUTPUT_SCHEMA_GATE;

/// A SQL condition on `runs` aliased `r` for `filter`, and its parameters.
pub(crate) fn runs_where(filter: &Filter) -> (String, Params) {
    let mut conds = vec!["TRUE".to_string()];
    let mut params: Params = Vec::new();
    if let Some(p) = &filter.pipeline {
        params.push(Box::new(super::text(p).into_owned()));
        conds.push(format!("r.pipeline = ${}", params.len()));
    }
    if let Some(id) = &filter.run {
        params.push(Box::new(super::text(id).into_owned()));
        conds.push(format!("r.id = ${}", params.len()));
    }
    if let Some(t) = filter.since_ms {
        params.push(Box::new(t));
        conds.push(format!("r.created_at >= ${}", params.len()));
    }
    if let Some(t) = filter.until_ms {
        params.push(Box::new(t));
        conds.push(format!("r.created_at < ${}", params.len()));
    }
    (conds.join(" AND "), params)
}

fn ratio(n: i64, d: i64) -> Option<f64> {
    (d > 0).then(|| n as f64 / d as f64)
}

/// Route targets that mean a handoff did not go on.
const STOPPED: &str = "('retry', 'human', 'reject', 'error')";

/// Builds the report for `filter`.
pub(crate) fn build(c: &mut Client, filter: &Filter) -> Result<Report, postgres::Error> {
    let (w, p) = runs_where(filter);
    Ok(Report::assemble(
        pipelines(c, &w, &p)?,
        seams(c, &w, &p)?,
        gates(c, &w, &p)?,
        agreement(c, &w, &p)?,
    ))
}

fn pipelines(c: &mut Client, w: &str, p: &Params) -> Result<Vec<PipelineReport>, postgres::Error> {
    let sql = format!(
        "SELECT r.pipeline, COUNT(*),
                COUNT(*) FILTER (WHERE r.status = 'completed'), COUNT(*) FILTER (WHERE r.status = 'rejected'),
                COUNT(*) FILTER (WHERE r.status = 'failed'), COUNT(*) FILTER (WHERE r.status = 'waiting'),
                COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM reviews v WHERE v.run_id = r.id AND v.kind = 'escalation'))
         FROM runs r WHERE {w} GROUP BY r.pipeline ORDER BY r.pipeline COLLATE \"C\""
    );
    Ok(c.query(&sql, &refs(p))?
        .iter()
        .map(|r| {
            let (completed, rejected, failed): (i64, i64, i64) = (r.get(2), r.get(3), r.get(4));
            PipelineReport {
                pipeline: r.get(0),
                runs: r.get(1),
                completed,
                rejected,
                failed,
                waiting: r.get(5),
                pending: r.get(5),
                escalated: r.get(6),
                end_to_end: ratio(completed, completed + rejected + failed),
                product_first_pass: None,
                product_after_recovery: None,
            }
        })
        .collect())
}

/// One row per visit (run × upstream step), as the SQLite backend's `visits`.
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
                   bool_or(attempt = 1 AND fixed_by IS NULL AND target NOT IN {STOPPED} AND target NOT LIKE 'fix:%') AS first_ok,
                   bool_or(last_target NOT IN {STOPPED} AND last_target NOT LIKE 'fix:%') AS ok,
                   COUNT(*) FILTER (WHERE target = 'retry') AS retries,
                   bool_or(attempt > 1 AND target NOT IN {STOPPED} AND target NOT LIKE 'fix:%') AS by_retry,
                   bool_or(fixed_by IS NOT NULL AND target NOT IN {STOPPED} AND target NOT LIKE 'fix:%') AS by_fix,
                   bool_or(last_by = 'review' AND last_target NOT IN {STOPPED}) AS by_review
            FROM hs GROUP BY pipeline, from_step, run_id
         )"
    )
}

fn seams(c: &mut Client, w: &str, p: &Params) -> Result<Vec<SeamReport>, postgres::Error> {
    let sql = format!(
        "{}
         SELECT pipeline, from_step, COUNT(*), COUNT(*) FILTER (WHERE first_ok), COUNT(*) FILTER (WHERE ok),
                SUM(retries)::BIGINT,
                COUNT(*) FILTER (WHERE NOT first_ok AND ok AND by_retry AND NOT by_review),
                COUNT(*) FILTER (WHERE NOT first_ok AND ok AND by_fix AND NOT by_retry AND NOT by_review),
                COUNT(*) FILTER (WHERE NOT first_ok AND ok AND by_review)
         FROM visits GROUP BY pipeline, from_step ORDER BY pipeline COLLATE \"C\", from_step COLLATE \"C\"",
        visits(w)
    );
    Ok(c.query(&sql, &refs(p))?
        .iter()
        .map(|r| {
            let (visits, first, ok): (i64, i64, i64) = (r.get(2), r.get(3), r.get(4));
            SeamReport {
                pipeline: r.get(0),
                seam: r.get(1),
                visits,
                first_pass: first,
                passed_after_recovery: ok,
                first_pass_reliability: ratio(first, visits),
                reliability_after_recovery: ratio(ok, visits),
                retries: r.get(5),
                recovered_by_retry: r.get(6),
                recovered_by_fix: r.get(7),
                recovered_by_review: r.get(8),
            }
        })
        .collect())
}

fn gates(c: &mut Client, w: &str, p: &Params) -> Result<Vec<GateReport>, postgres::Error> {
    let from = format!(
        "FROM verdicts v JOIN handoffs h ON h.id = v.handoff_id JOIN runs r ON r.id = v.run_id WHERE {w}"
    );
    let sql = format!(
        "SELECT r.pipeline, h.from_step, v.gate, COUNT(*), COUNT(*) FILTER (WHERE v.outcome = 'passed'),
                COUNT(*) FILTER (WHERE v.outcome = 'failed'), COUNT(*) FILTER (WHERE v.outcome = 'error'),
                percentile_disc(0.50) WITHIN GROUP (ORDER BY v.duration_us),
                percentile_disc(0.95) WITHIN GROUP (ORDER BY v.duration_us),
                percentile_disc(0.99) WITHIN GROUP (ORDER BY v.duration_us)
         {from}
         GROUP BY r.pipeline, h.from_step, v.gate
         ORDER BY r.pipeline COLLATE \"C\", h.from_step COLLATE \"C\", v.gate COLLATE \"C\""
    );
    let mut out: Vec<GateReport> = c
        .query(&sql, &refs(p))?
        .iter()
        .map(|r| {
            let (checks, passed): (i64, i64) = (r.get(3), r.get(4));
            GateReport {
                pipeline: r.get(0),
                seam: r.get(1),
                gate: r.get(2),
                checks,
                passed,
                failed: r.get(5),
                errors: r.get(6),
                pass_rate: ratio(passed, checks),
                errors_by_cause: Vec::new(),
                latency_us_p50: r.get(7),
                latency_us_p95: r.get(8),
                latency_us_p99: r.get(9),
            }
        })
        .collect();
    let causes = c.query(
        &format!(
            "SELECT r.pipeline, h.from_step, v.gate, v.error_cause, COUNT(*)
             {from} AND v.outcome = 'error'
             GROUP BY r.pipeline, h.from_step, v.gate, v.error_cause
             ORDER BY COUNT(*) DESC, v.error_cause COLLATE \"C\" NULLS FIRST"
        ),
        &refs(p),
    )?;
    for row in &causes {
        let (pipeline, seam, gate): (String, String, String) = (row.get(0), row.get(1), row.get(2));
        if let Some(g) = out
            .iter_mut()
            .find(|g| g.pipeline == pipeline && g.seam == seam && g.gate == gate)
        {
            g.errors_by_cause.push((
                row.get::<_, Option<String>>(3)
                    .unwrap_or_else(|| "unknown".into()),
                row.get(4),
            ));
        }
    }
    Ok(out)
}

fn agreement(c: &mut Client, w: &str, p: &Params) -> Result<Vec<Agreement>, postgres::Error> {
    let sql = format!(
        "SELECT r.pipeline, h.from_step, v.gate, COUNT(*),
                COUNT(*) FILTER (WHERE (v.outcome = 'failed' AND x.status = 'rejected') OR (v.outcome = 'passed' AND x.status = 'accepted')),
                COUNT(*) FILTER (WHERE v.outcome = 'failed' AND x.status = 'accepted'),
                COUNT(*) FILTER (WHERE v.outcome = 'passed' AND x.status = 'rejected')
         FROM reviews x JOIN handoffs h ON h.id = x.handoff_id JOIN verdicts v ON v.handoff_id = h.id JOIN runs r ON r.id = x.run_id
         WHERE {w} AND x.kind = 'escalation' AND x.status IN ('accepted', 'rejected') AND v.outcome IN ('passed', 'failed')
           AND v.gate <> '{OUTPUT_SCHEMA_GATE}'
         GROUP BY r.pipeline, h.from_step, v.gate
         ORDER BY r.pipeline COLLATE \"C\", h.from_step COLLATE \"C\", v.gate COLLATE \"C\""
    );
    Ok(c.query(&sql, &refs(p))?
        .iter()
        .map(|r| Agreement {
            pipeline: r.get(0),
            seam: r.get(1),
            gate: r.get(2),
            reviewed: r.get(3),
            agreed: r.get(4),
            overruled_to_accept: r.get(5),
            overruled_to_reject: r.get(6),
        })
        .collect())
}

/// The visits behind one seam's figures, newest run first.
pub(crate) fn seam_visits(
    c: &mut Client,
    filter: &Filter,
    pipeline: &str,
    seam: &str,
    limit: usize,
) -> Result<Vec<crate::SeamVisit>, postgres::Error> {
    let (w, mut p) = runs_where(filter);
    let n = p.len();
    p.push(Box::new(super::text(pipeline).into_owned()));
    p.push(Box::new(super::text(seam).into_owned()));
    p.push(Box::new(limit.min(i64::MAX as usize) as i64));
    let sql = format!(
        "{}
         SELECT x.run_id, r.status, r.created_at, x.handoffs, x.first_ok, x.ok,
                CASE WHEN x.first_ok OR NOT x.ok THEN NULL
                     WHEN x.by_review THEN 'review' WHEN x.by_retry THEN 'retry'
                     WHEN x.by_fix THEN 'fix' END
         FROM visits x JOIN runs r ON r.id = x.run_id
         WHERE x.pipeline = ${} AND x.from_step = ${}
         ORDER BY r.created_at DESC, x.run_id COLLATE \"C\" DESC LIMIT ${}",
        visits(&w),
        n + 1,
        n + 2,
        n + 3
    );
    Ok(c.query(&sql, &refs(&p))?
        .iter()
        .map(|r| crate::SeamVisit {
            run_id: r.get(0),
            status: r.get(1),
            created_at: r.get(2),
            handoffs: r.get(3),
            first_pass: r.get(4),
            passed: r.get(5),
            recovered_by: r.get(6),
        })
        .collect())
}
