//! Checks made outside seam's runner (through `seam serve`, or from Python), recorded in
//! the ledger, so `seam report`, reviews and the feedback export cover pipelines that
//! run elsewhere.
//!
//! A recorded run is an *outside run*: its cursor is [`OUTSIDE_CURSOR`], seam never
//! drives it, and every recorded check moves it: `next` keeps it running (or completes
//! it when `to` is `done`), `retry` and `fix` keep it running, `human` makes it wait with
//! a pending review, `reject` ends it rejected, `error` failed.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use seam_ledger::{Ledger, LedgerError, NewHandoff, NewReview, NewRoute, NewRun, Phase, RunMove};
use seam_types::Handoff;

use crate::policy::Decision;
use crate::standalone::{Checked, StandaloneSeam, OUTSIDE_CURSOR};
use crate::VerdictRecord;

/// Why a check could not be recorded (the check itself was made).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The `record` fields are not usable (empty, too long, control characters).
    #[error("{0}")]
    Invalid(String),
    /// The run exists and is not an outside run of this pipeline.
    #[error("{0}")]
    Conflict(String),
    /// The ledger failed.
    #[error("{0}")]
    Ledger(String),
}

/// Longest pipeline, run or step name recorded.
pub const MAX_NAME: usize = 128;

/// Where a check goes in the ledger.
#[derive(Deserialize, Debug, Clone, PartialEq, Eq, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The pipeline as the report groups it.
    pub pipeline: String,
    /// The run this check belongs to (the caller's id; created on first use).
    pub run: String,
    /// The upstream step (default: the seam's name).
    #[serde(default)]
    pub step: Option<String>,
    /// The downstream step (default `next`); `done` completes the run when the handoff
    /// passes.
    #[serde(default)]
    pub to: Option<String>,
}

/// The ids a recorded check was given.
#[derive(Debug, Clone, Copy)]
pub struct Recorded {
    pub handoff_id: i64,
    pub review_id: Option<i64>,
}

fn check_name(value: &str, field: &str) -> Result<(), RecordError> {
    if value.is_empty() || value.len() > MAX_NAME || value.chars().any(char::is_control) {
        return Err(RecordError::Invalid(format!(
            "`record.{field}` must be 1 to {MAX_NAME} bytes without control characters"
        )));
    }
    Ok(())
}

impl Record {
    /// Checks every name: 1 to [`MAX_NAME`] bytes, no control characters.
    pub fn validate(&self) -> Result<(), RecordError> {
        check_name(&self.pipeline, "pipeline")?;
        check_name(&self.run, "run")?;
        if let Some(s) = &self.step {
            check_name(s, "step")?;
        }
        if let Some(t) = &self.to {
            check_name(t, "to")?;
        }
        Ok(())
    }
}

fn ledger_error(e: LedgerError) -> RecordError {
    RecordError::Ledger(format!(
        "{e}: {}; the check was made but not recorded",
        source_of(&e)
    ))
}

fn source_of(e: &LedgerError) -> String {
    std::error::Error::source(e).map_or_else(|| "no detail".into(), |s| s.to_string())
}

/// Makes sure `r.run` is an outside run of `r.pipeline`, creating it on first use.
fn outside_run(ledger: &dyn Ledger, r: &Record, origin: &str) -> Result<(), RecordError> {
    for _ in 0..2 {
        match ledger.run(&r.run) {
            Ok(row) if row.cursor != OUTSIDE_CURSOR => {
                return Err(RecordError::Conflict(format!(
                    "run `{}` is a pipeline run that seam drives (`seam run`); record outside checks under another run id",
                    r.run
                )))
            }
            Ok(row) if row.pipeline != r.pipeline => {
                return Err(RecordError::Conflict(format!(
                    "run `{}` belongs to pipeline `{}`, not `{}`; use one pipeline name per run",
                    r.run, row.pipeline, r.pipeline
                )))
            }
            Ok(_) => return Ok(()),
            Err(LedgerError::NotFound { .. }) => {
                let started = ledger.start_run(&NewRun {
                    id: &r.run,
                    pipeline: &r.pipeline,
                    pipeline_file: origin,
                    pipeline_digest: "",
                    input: "null",
                    cursor: OUTSIDE_CURSOR,
                    holder: origin,
                    lease: Duration::ZERO,
                });
                match started {
                    Ok(()) => return Ok(()),
                    // Another request created it meanwhile: look again.
                    Err(_) => continue,
                }
            }
            Err(e) => return Err(ledger_error(e)),
        }
    }
    Err(RecordError::Ledger(format!(
        "run `{}` could not be created in the ledger {}",
        r.run,
        ledger.location()
    )))
}

/// Records a checked handoff: the handoff, then its verdicts, route and (for `human`)
/// a pending review, moving the run. `origin` names who recorded it (`seam serve
/// (FILE)`), as the run's pipeline file.
pub fn record(
    ledger: &dyn Ledger,
    origin: &str,
    seam: &StandaloneSeam,
    r: &Record,
    h: &Handoff,
    attempt: u32,
    checked: &Checked,
) -> Result<Recorded, RecordError> {
    outside_run(ledger, r, origin)?;
    let from = r.step.as_deref().unwrap_or(&seam.name);
    let to = r.to.as_deref().unwrap_or("next");
    let running = |_: &seam_ledger::Recorded| RunMove {
        status: "running".into(),
        cursor: OUTSIDE_CURSOR.into(),
        output: None,
        reason: None,
    };
    let mut phase = Phase::new(&r.run, OUTSIDE_CURSOR, &running);
    phase.handoff = Some(NewHandoff {
        step_run_id: None,
        from_step: from,
        to_step: to,
        attempt,
        payload: &h.payload,
        context: &h.context,
        fixed_by: None,
    });
    let handoff_id = ledger
        .record("an outside check's handoff", phase)
        .map_err(ledger_error)?
        .handoff_id
        .unwrap_or_default();

    let (status, output, reason) = match &checked.decision {
        Decision::Next(_) | Decision::Done if to == "done" => {
            ("completed", Some(h.payload.clone()), None)
        }
        Decision::Reject(why) => ("rejected", None, Some(why.clone())),
        Decision::Fail(why) => ("failed", None, Some(why.clone())),
        Decision::Escalate { .. } => ("waiting", None, None),
        _ => ("running", None, None),
    };
    let target = match &checked.decision {
        Decision::Next(_) | Decision::Done => to.to_string(),
        other => other.target(),
    };
    let then = |_: &seam_ledger::Recorded| RunMove {
        status: status.into(),
        cursor: OUTSIDE_CURSOR.into(),
        output: output.clone(),
        reason: reason.clone(),
    };
    let rows: Vec<VerdictRecord> = checked.results.iter().map(VerdictRecord::of).collect();
    let mut phase = Phase::new(&r.run, OUTSIDE_CURSOR, &then);
    phase.verdicts = checked
        .results
        .iter()
        .zip(&rows)
        .map(|(result, row)| row.new_verdict(result, handoff_id))
        .collect();
    phase.route = Some(NewRoute {
        handoff_id,
        decided_by: &checked.decided_by,
        target: &target,
        reason: &checked.reason,
    });
    let findings;
    if let Decision::Escalate { findings: f, .. } = &checked.decision {
        findings = Value::Array(f.clone()).to_string();
        phase.review = Some(NewReview {
            handoff_id: Some(handoff_id),
            step: from,
            kind: "escalation",
            payload: &h.payload,
            findings: &findings,
            reason: &checked.reason,
        });
    }
    let ids = ledger
        .record("an outside check's verdicts and decision", phase)
        .map_err(ledger_error)?;
    Ok(Recorded {
        handoff_id,
        review_id: ids.review_id,
    })
}
