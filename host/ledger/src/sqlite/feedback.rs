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
    let (w, mut p) = runs_where(&filter.runs);
    let mut conds = w;
    if let Some(g) = &filter.gate {
        p.push(g.clone().into());
        conds.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM verdicts v WHERE v.handoff_id = h.id AND v.gate = ?{})",
            p.len()
        ));
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
    let mut verdicts = c.prepare(
        "SELECT gate, outcome, score, findings FROM verdicts WHERE handoff_id = ?1 ORDER BY id",
    )?;
    let mut rows = st.query(params_from_iter(p.iter()))?;
    let mut exporter = Exporter::new(filter, shape, out);
    while let Some(row) = rows.next()? {
        let id: i64 = row.get(0)?;
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
        let review = row.get::<_, Option<String>>(11)?.map(|s| {
            let mut parts = s.split('\u{1f}');
            let decision = parts.next().unwrap_or_default().to_string();
            let by = parts.next().map(str::to_string);
            let note = parts.next().map(str::to_string);
            (decision, by, note)
        });
        let candidate = Candidate {
            run_id: row.get(1)?,
            pipeline: row.get(2)?,
            step: row.get(3)?,
            attempt: row.get(4)?,
            created_at: row.get(5)?,
            input: row.get(6)?,
            context: row.get(7)?,
            payload: row.get(8)?,
            target: row.get(9)?,
            decided_by: row.get(10)?,
            review,
        };
        exporter.push(candidate, judgments).map_err(io_to_sql)?;
    }
    exporter.finish().map_err(io_to_sql)
}

fn io_to_sql(e: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(e))
}
