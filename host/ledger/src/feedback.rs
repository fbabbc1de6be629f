//! Feedback export: every judged candidate in the ledger — accepted or rejected, by the
//! gates, a router or a person — as JSONL for fine-tuning or retrieval. Rows stream from
//! SQLite to the writer; memory holds at most one run's seam at a time.
//!
//! Two shapes (docs/report.md): `records`, one line per judged candidate, and `pairs`,
//! one line per (rejected, chosen) pair of candidates for the same run and seam.

use std::io::Write;

use rusqlite::params_from_iter;
use serde::Serialize;
use serde_json::Value;

use crate::report::Filter;
use crate::{Ledger, LedgerError};

/// The export's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Records,
    Pairs,
}

/// What to export.
#[derive(Debug, Clone, Default)]
pub struct ExportFilter {
    pub runs: Filter,
    /// Only candidates this gate judged.
    pub gate: Option<String>,
    /// Only `accepted` or only `rejected` candidates (records only).
    pub decision: Option<String>,
}

/// One gate's judgment of a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Judgment {
    pub gate: String,
    pub outcome: String,
    pub score: Option<f64>,
    pub findings: Value,
}

/// A person's decision on a candidate.
#[derive(Debug, Clone, Serialize)]
pub struct HumanDecision {
    pub decision: String,
    pub by: Option<String>,
    pub note: Option<String>,
}

/// One judged candidate (the `records` shape).
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub run_id: String,
    pub pipeline: String,
    pub step: String,
    pub attempt: u32,
    pub created_at: i64,
    /// The run's input.
    pub input: Value,
    /// What the step was given (its prompt and inputs).
    pub context: Value,
    /// The step's output that was judged.
    pub candidate: Value,
    /// `accepted` (it went on) or `rejected`.
    pub label: String,
    /// `policy`, `router:<plugin>` or `review`.
    pub decided_by: String,
    pub verdicts: Vec<Judgment>,
    pub review: Option<HumanDecision>,
}

/// A rejected candidate and the accepted one for the same run and seam (`pairs`).
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub run_id: String,
    pub pipeline: String,
    pub step: String,
    pub input: Value,
    /// What the step was given on the rejected attempt.
    pub prompt: Value,
    pub chosen: Value,
    pub rejected: Value,
    /// The findings that rejected it, with the gate that found each.
    pub reasons: Vec<Value>,
    pub review_note: Option<String>,
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Writes the export to `out`; returns the number of lines written.
pub fn export(
    ledger: &Ledger,
    filter: &ExportFilter,
    shape: Shape,
    out: &mut dyn Write,
) -> Result<u64, ExportError> {
    ledger
        .read("the feedback export", |c| {
            let (w, mut p) = filter.runs.runs_where();
            let mut conds = w;
            if let Some(g) = &filter.gate {
                p.push(g.clone().into());
                conds.push_str(&format!(" AND EXISTS (SELECT 1 FROM verdicts v WHERE v.handoff_id = h.id AND v.gate = ?{})", p.len()));
            }
            let sql = format!(
                "SELECT h.id, h.run_id, r.pipeline, h.from_step, h.attempt, h.created_at, r.input, h.context, h.payload,
                        (SELECT o.target FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id DESC LIMIT 1),
                        (SELECT o.decided_by FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id DESC LIMIT 1),
                        (SELECT x.status || char(31) || COALESCE(x.decided_by, '') || char(31) || COALESCE(x.note, '')
                           FROM reviews x WHERE x.handoff_id = h.id AND x.status != 'pending' ORDER BY x.id DESC LIMIT 1)
                 FROM handoffs h JOIN runs r ON r.id = h.run_id
                 WHERE {conds} AND EXISTS (SELECT 1 FROM routes o WHERE o.handoff_id = h.id)
                 ORDER BY h.run_id, h.from_step, h.id"
            );
            let mut st = c.prepare(&sql)?;
            let mut verdicts = c.prepare("SELECT gate, outcome, score, findings FROM verdicts WHERE handoff_id = ?1 ORDER BY id")?;
            let mut rows = st.query(params_from_iter(p.iter()))?;
            let mut written = 0u64;
            let mut group: Vec<Record> = Vec::new();
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let target: String = row.get(9)?;
                let review: Option<String> = row.get(11)?;
                let label = if matches!(target.as_str(), "retry" | "human" | "reject" | "error") || target.starts_with("fix:") {
                    "rejected"
                } else {
                    "accepted"
                };
                let judgments = verdicts
                    .query_map([id], |v| {
                        Ok(Judgment {
                            gate: v.get(0)?,
                            outcome: v.get(1)?,
                            score: v.get(2)?,
                            findings: json(&v.get::<_, String>(3)?),
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let review = review.map(|s| {
                    let mut parts = s.split('\u{1f}');
                    let decision = parts.next().unwrap_or_default().to_string();
                    let by = parts.next().filter(|b| !b.is_empty()).map(str::to_string);
                    let note = parts.next().filter(|n| !n.is_empty()).map(str::to_string);
                    HumanDecision { decision, by, note }
                });
                let label = match &review {
                    Some(r) if r.decision == "rejected" => "rejected",
                    _ => label,
                };
                let record = Record {
                    run_id: row.get(1)?,
                    pipeline: row.get(2)?,
                    step: row.get(3)?,
                    attempt: row.get(4)?,
                    created_at: row.get(5)?,
                    input: json(&row.get::<_, String>(6)?),
                    context: json(&row.get::<_, String>(7)?),
                    candidate: json(&row.get::<_, String>(8)?),
                    label: label.to_string(),
                    decided_by: row.get(10)?,
                    verdicts: judgments,
                    review,
                };
                if let Some(last) = group.last() {
                    if last.run_id != record.run_id || last.step != record.step {
                        if shape == Shape::Pairs {
                            written += write_pairs(&group, out).map_err(io_to_sql)?;
                        }
                        group.clear();
                    }
                }
                if shape == Shape::Records && filter.decision.as_deref().is_none_or(|d| d == record.label) {
                    writeln!(out, "{}", serde_json::to_string(&record).map_err(|e| io_to_sql(e.into()))?).map_err(io_to_sql)?;
                    written += 1;
                }
                group.push(record);
            }
            if shape == Shape::Pairs {
                written += write_pairs(&group, out).map_err(io_to_sql)?;
            }
            Ok(written)
        })
        .map_err(ExportError::from)
}

/// Writes one pair per rejected candidate of one run's seam, against the last accepted
/// one; returns how many.
fn write_pairs(group: &[Record], out: &mut dyn Write) -> std::io::Result<u64> {
    let Some(chosen) = group.iter().rev().find(|r| r.label == "accepted") else {
        return Ok(0);
    };
    let mut n = 0;
    for rej in group.iter().filter(|r| r.label == "rejected") {
        let reasons: Vec<Value> = rej
            .verdicts
            .iter()
            .filter(|j| j.outcome != "passed")
            .flat_map(|j| {
                j.findings
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|mut f| {
                        f["gate"] = Value::String(j.gate.clone());
                        f
                    })
            })
            .collect();
        let pair = Pair {
            run_id: rej.run_id.clone(),
            pipeline: rej.pipeline.clone(),
            step: rej.step.clone(),
            input: rej.input.clone(),
            prompt: rej.context.clone(),
            chosen: chosen.candidate.clone(),
            rejected: rej.candidate.clone(),
            reasons,
            review_note: rej.review.as_ref().and_then(|r| r.note.clone()),
        };
        writeln!(out, "{}", serde_json::to_string(&pair)?)?;
        n += 1;
    }
    Ok(n)
}

fn io_to_sql(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}
