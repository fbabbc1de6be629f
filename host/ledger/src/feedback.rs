//! Feedback export: every judged candidate in the ledger — accepted or rejected, by the
//! gates, a router or a person — as JSONL for fine-tuning or retrieval. Each backend
//! streams rows to the writer ([`crate::Ledger::export`]); memory holds at most one
//! run's seam at a time. This module holds the shapes and writes the pairs.
//!
//! Two shapes (docs/report.md): `records`, one line per judged candidate, and `pairs`,
//! one line per (rejected, chosen) pair of candidates for the same run and seam.

use std::io::Write;

use serde::Serialize;
use serde_json::Value;

use crate::report::Filter;
use crate::LedgerError;

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

pub(crate) fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// Writes one pair per rejected candidate of one run's seam, against the last accepted
/// one; returns how many.
pub(crate) fn write_pairs(group: &[Record], out: &mut dyn Write) -> std::io::Result<u64> {
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

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}
