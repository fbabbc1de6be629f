//! The feedback export in PostgreSQL's SQL: the candidates are read through a portal in
//! batches, with their verdicts batch by batch, so memory holds one batch and one run's
//! seam whatever the ledger's size.

use std::io::Write;

use postgres::Client;

use super::refs;
use super::report::runs_where;
use crate::feedback::*;

/// Candidates read per round trip.
const BATCH: i32 = 500;

/// Writes the export to `out`; returns the number of lines written.
pub(crate) fn export(
    c: &mut Client,
    filter: &ExportFilter,
    shape: Shape,
    out: &mut dyn Write,
) -> Result<u64, crate::BoxError> {
    let (w, mut p) = runs_where(&filter.runs);
    let mut conds = w;
    if let Some(g) = &filter.gate {
        p.push(Box::new(super::text(g).into_owned()));
        conds.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM verdicts v WHERE v.handoff_id = h.id AND v.gate = ${})",
            p.len()
        ));
    }
    let sql = format!(
        "SELECT h.id, h.run_id, r.pipeline, h.from_step, h.attempt, h.created_at, r.input, h.context, h.payload,
                (SELECT o.target FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id DESC LIMIT 1),
                (SELECT o.decided_by FROM routes o WHERE o.handoff_id = h.id ORDER BY o.id DESC LIMIT 1),
                x.status, x.decided_by, x.note
         FROM handoffs h JOIN runs r ON r.id = h.run_id
         LEFT JOIN LATERAL (SELECT status, decided_by, note FROM reviews x
                            WHERE x.handoff_id = h.id AND x.status <> 'pending' ORDER BY x.id DESC LIMIT 1) x ON TRUE
         WHERE {conds} AND EXISTS (SELECT 1 FROM routes o WHERE o.handoff_id = h.id)
         ORDER BY h.run_id COLLATE \"C\", h.from_step COLLATE \"C\", h.id"
    );
    // One snapshot for the whole export.
    let mut tx = c
        .build_transaction()
        .isolation_level(postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()?;
    let portal = tx.bind(&sql, &refs(&p))?;
    let mut exporter = Exporter::new(filter, shape, out);
    loop {
        let rows = tx.query_portal(&portal, BATCH)?;
        if rows.is_empty() {
            break;
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
        let mut judgments: std::collections::HashMap<i64, Vec<Judgment>> =
            std::collections::HashMap::new();
        for v in tx.query(
            "SELECT handoff_id, gate, outcome, score, findings FROM verdicts
             WHERE handoff_id = ANY($1) ORDER BY id",
            &[&ids],
        )? {
            judgments.entry(v.get(0)).or_default().push(Judgment {
                gate: v.get(1),
                outcome: v.get(2),
                score: v.get(3),
                findings: json(&v.get::<_, String>(4)),
            });
        }
        for row in &rows {
            let id: i64 = row.get(0);
            let mine = judgments.remove(&id).unwrap_or_default();
            let review = row
                .get::<_, Option<String>>(11)
                .map(|status| (status, row.get(12), row.get(13)));
            let candidate = Candidate {
                run_id: row.get(1),
                pipeline: row.get(2),
                step: row.get(3),
                attempt: row.get::<_, i64>(4) as u32,
                created_at: row.get(5),
                input: row.get(6),
                context: row.get(7),
                payload: row.get(8),
                target: row.get(9),
                decided_by: row.get(10),
                review,
            };
            exporter.push(candidate, mine)?;
        }
    }
    let written = exporter.finish()?;
    tx.commit()?;
    Ok(written)
}
