//! The feedback export in SQLite's SQL: rows stream from the database to the writer.

use std::io::Write;

use rusqlite::{params_from_iter, Connection};

use super::report::runs_where;
use crate::feedback::*;

/// Writes the export to `out`; returns the number of lines written.
pub(crate) fn export(
    c: &Connection,
    filter: &ExportFilter,
    shape: Shape,
    out: &mut dyn Write,
) -> rusqlite::Result<u64> {
    {
        {
            let (w, mut p) = runs_where(&filter.runs);
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
                let label = if matches!(target.as_str(), "retry" | "human" | "reject" | "error")
                    || target.starts_with("fix:")
                {
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
                        if shape.paired() {
                            written += write_pairs(&group, shape, out).map_err(io_to_sql)?;
                        }
                        group.clear();
                    }
                }
                if !shape.paired() && filter.decision.as_deref().is_none_or(|d| d == record.label) {
                    write_record(shape, &record, out).map_err(io_to_sql)?;
                    written += 1;
                }
                group.push(record);
            }
            if shape.paired() {
                written += write_pairs(&group, shape, out).map_err(io_to_sql)?;
            }
            Ok(written)
        }
    }
}

fn io_to_sql(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}
