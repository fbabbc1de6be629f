//! Running a pipeline: steps, then at every seam the output schema (layer 1), the gates
//! (layer 3) and the router or the gates' policies (layer 2), every event written to
//! the ledger (layer 4) in the same transaction that moves the run's cursor.
//!
//! A run is a loop over its cursor: run a step, check a seam, wait for a review. The
//! cursor is stored with every record, so a run stopped at any point (a human gate, a
//! crash, `kill -9`) continues from the ledger with `resume`, without repeating a step
//! or a seam that was recorded.

use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::adapters::{self, StepFailure, StepInput};
use super::config::{Adapter, Next, OnError, Pipeline, Policy};
use super::policy::{decide, router_verdicts, Decision, Routed, SeamRules, Upstream};
use seam_ledger::{
    now_ms, Claim, HandoffRow, Ledger, LedgerError, NewHandoff, NewReview, NewRoute, NewRun,
    NewStepRun, NewVerdict, Phase, Recorded, ReviewRow, RunMove,
};
use seam_runtime::{check_all_blocking, CheckReport, Outcome};
use seam_types::{Finding, Handoff, Severity, Verdict};

/// Where a run continues; stored as JSON in the ledger with every record.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "kebab-case")]
enum Cursor {
    /// Run `step` (attempt `attempt`) on `payload`, with `feedback` from the last seam.
    Step {
        step: String,
        attempt: u32,
        payload: Value,
        feedback: Vec<Value>,
    },
    /// Check the seam after the recorded handoff.
    Seam { handoff_id: i64, fixes: u32 },
    /// Wait for a person's decision on the review (`attempt`: of a human step).
    Review {
        review_id: i64,
        #[serde(default = "first_attempt")]
        attempt: u32,
    },
    /// The run is over.
    End,
}

fn first_attempt() -> u32 {
    1
}

/// A step execution that produced an output, as the ledger records it.
struct Finished<'a> {
    step: &'a str,
    attempt: u32,
    adapter: &'a str,
    input: &'a str,
    output: &'a str,
    exit_code: Option<i32>,
    stderr_tail: Option<&'a str>,
    started_at: i64,
    duration_ms: i64,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    /// Paused for a person (`seam review`).
    Waiting,
    Completed,
    Rejected,
    /// A step, plugin or limit failed; the reason says which.
    Failed,
}

impl RunStatus {
    /// The status as stored in the ledger.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Waiting => "waiting",
            RunStatus::Completed => "completed",
            RunStatus::Rejected => "rejected",
            RunStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> RunStatus {
        match s {
            "waiting" => RunStatus::Waiting,
            "completed" => RunStatus::Completed,
            "rejected" => RunStatus::Rejected,
            "failed" => RunStatus::Failed,
            _ => RunStatus::Running,
        }
    }
}

/// How a run ended (or paused).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RunOutcome {
    pub run_id: String,
    pub status: RunStatus,
    /// The payload that came out of the last step, for a completed run.
    pub output: Option<Value>,
    pub reason: Option<String>,
}

/// One gate's result at a seam: a plugin gate's report, or the output-schema check.
pub struct GateResult {
    pub gate: String,
    pub plugin: String,
    pub digest: String,
    pub report: CheckReport,
    pub policy: Policy,
    pub on_error: OnError,
}

/// A gate's report as the ledger records it.
pub struct VerdictRecord {
    outcome: &'static str,
    score: Option<f64>,
    findings: String,
    fix: Option<String>,
    cause: Option<String>,
    error: Option<String>,
    policy: String,
}

impl VerdictRecord {
    pub fn of(r: &GateResult) -> VerdictRecord {
        let policy = match &r.report.outcome {
            Outcome::Error(_) if r.on_error == OnError::Allow => "allow".to_string(),
            Outcome::Error(_) => "block".to_string(),
            _ => r.policy.to_string(),
        };
        match &r.report.outcome {
            Outcome::Verdict(v) => VerdictRecord {
                outcome: if v.passed { "passed" } else { "failed" },
                score: v.score,
                findings: serde_json::to_string(&v.findings).unwrap_or_default(),
                fix: v.fix.clone(),
                cause: None,
                error: None,
                policy,
            },
            Outcome::Error(c) => VerdictRecord {
                outcome: "error",
                score: None,
                findings: "[]".to_string(),
                fix: None,
                cause: Some(c.kind().to_string()),
                error: Some(c.to_string()),
                policy,
            },
        }
    }

    /// The record of `r`'s verdict on the handoff `handoff_id`.
    pub fn new_verdict<'a>(&'a self, r: &'a GateResult, handoff_id: i64) -> NewVerdict<'a> {
        NewVerdict {
            handoff_id,
            gate: &r.gate,
            plugin: &r.plugin,
            plugin_digest: &r.digest,
            outcome: self.outcome,
            score: self.score,
            findings: &self.findings,
            fix: self.fix.as_deref(),
            error_cause: self.cause.as_deref(),
            error: self.error.as_deref(),
            policy: &self.policy,
            duration_us: r.report.duration.as_micros() as i64,
        }
    }
}

impl GateResult {
    /// A seam gate's report, with the gate's name and policies.
    pub fn of(gate: &crate::config::Gate, report: CheckReport) -> GateResult {
        GateResult {
            gate: gate.name.clone(),
            plugin: gate.plugin.name().to_string(),
            digest: gate.plugin.digest().to_string(),
            report,
            policy: gate.on_fail.clone(),
            on_error: gate.on_error,
        }
    }
}

/// What happened, as it happens, for people watching a run.
pub enum Event<'a> {
    Started {
        input: &'a Value,
    },
    /// `pipeline_changed`: the file differs from the one the run started with.
    Resumed {
        status: RunStatus,
        pipeline_changed: bool,
    },
    StepStarted {
        step: &'a str,
        attempt: u32,
    },
    StepDone {
        step: &'a str,
        attempt: u32,
        duration: Duration,
    },
    StepFailed {
        failure: &'a StepFailure,
    },
    Seam {
        from: &'a str,
        to: &'a str,
        results: &'a [GateResult],
    },
    Decision {
        decided_by: &'a str,
        target: &'a str,
        reason: &'a str,
    },
    Waiting {
        review_id: i64,
        reason: &'a str,
    },
    Finished {
        status: RunStatus,
        reason: Option<&'a str>,
        output: Option<&'a Value>,
    },
}

/// Receives a run's events (the CLI prints them). Called from the run's thread.
pub trait Observer: Sync {
    fn event(&self, run_id: &str, event: &Event);
}

/// An observer that ignores everything.
pub struct Silent;

impl Observer for Silent {
    fn event(&self, _: &str, _: &Event) {}
}

/// Why a run could not go on at all (as opposed to ending rejected or failed, which is
/// an outcome and is recorded).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error("run `{run}` has {status} and cannot be resumed")]
    Finished { run: String, status: String },
    #[error("run `{run}` belongs to pipeline `{found}`, not `{expected}`; resume it with its own pipeline file ({file})")]
    OtherPipeline {
        run: String,
        found: String,
        expected: String,
        file: String,
    },
    #[error("run `{run}` cannot continue with this pipeline file: {reason}")]
    Mismatch { run: String, reason: String },
    #[error("run `{run}` was moved on by another process meanwhile; nothing was recorded twice (see `seam review list` or the ledger for where it is)")]
    Conflict { run: String },
    #[error("review {review} is {status}, not pending: it was decided already")]
    AlreadyDecided { review: i64, status: String },
    #[error("run `{run}`: this worker lost its claim on the run (its lease lapsed before it could renew it) and stopped before running anything more; resume the run to continue it")]
    ClaimLost { run: String },
    #[error("run `{run}` is being driven by another worker ({holder}), whose claim lasts {seconds} s more; nothing was run. Wait for it to finish, or resume after its claim lapses (a worker that died loses its claim then)")]
    Claimed {
        run: String,
        holder: String,
        seconds: i64,
    },
}

/// Most findings the output-schema check reports for one handoff (the first ones in
/// document order); the rest are not listed.
pub const MAX_SCHEMA_FINDINGS: usize = 100;

/// How long a worker's claim on a run lasts without renewal; the driving worker renews
/// it every third of this while it drives, so only a dead (or cut-off) worker loses it.
/// Longer than the ledger's busy timeout, so one slow write cannot make it lapse.
pub const RUN_LEASE: Duration = Duration::from_secs(60);

/// Runs pipelines against one ledger.
pub struct Runner<'a> {
    pipeline: &'a Pipeline,
    ledger: &'a dyn Ledger,
    observer: &'a dyn Observer,
    /// This worker's name in claims: process id and a random suffix.
    holder: String,
    lease: Duration,
}

/// The handoff the plugins see, from its record.
fn handoff_of(pipeline: &str, run_id: &str, h: &HandoffRow) -> Handoff {
    Handoff {
        pipeline: pipeline.to_string(),
        run_id: run_id.to_string(),
        from_step: h.from_step.clone(),
        to_step: h.to_step.clone(),
        attempt: h.attempt,
        payload: h.payload.clone(),
        context: h.context.clone(),
    }
}

/// A new run identifier: time-ordered, unique across processes.
fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("run-{:011x}-{:06x}", now_ms(), h.finish() & 0xff_ffff)
}

impl<'a> Runner<'a> {
    /// A runner for `pipeline` writing to `ledger`. A run is driven on the calling
    /// thread; the gates of a seam run concurrently on the seam runtime's threads.
    pub fn new(pipeline: &'a Pipeline, ledger: &'a dyn Ledger, observer: &'a dyn Observer) -> Self {
        Runner {
            pipeline,
            ledger,
            observer,
            holder: format!("pid {} ({})", std::process::id(), &new_run_id()[4..]),
            lease: RUN_LEASE,
        }
    }

    /// Claims runs as `holder`: a worker that has claimed a run already (an orphan it
    /// picked up) drives it under that claim.
    pub fn with_holder(mut self, holder: impl Into<String>) -> Self {
        self.holder = holder.into();
        self
    }

    /// Claims runs for `lease` instead of [`RUN_LEASE`] (a shorter lease hands a dead
    /// worker's runs over sooner, at the cost of more renewals).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// Starts a run with `input` and drives it until it ends or waits for a person.
    pub fn start(&self, input: Value) -> Result<RunOutcome, RunError> {
        let id = new_run_id();
        let p = self.pipeline;
        let cursor = Cursor::Step {
            step: p.steps[0].name.clone(),
            attempt: 1,
            payload: Value::Null,
            feedback: Vec::new(),
        };
        let cursor_text = serde_json::to_string(&cursor).expect("cursor serializes");
        self.ledger.start_run(&NewRun {
            id: &id,
            pipeline: &p.name,
            pipeline_file: &p.file.display().to_string(),
            pipeline_digest: &p.digest,
            input: &input.to_string(),
            cursor: &cursor_text,
            holder: &self.holder,
            lease: self.lease,
        })?;
        self.observer.event(&id, &Event::Started { input: &input });
        self.drive_claimed(&id, &input, cursor, cursor_text)
    }

    /// Continues a recorded run from where it stopped.
    pub fn resume(&self, run_id: &str) -> Result<RunOutcome, RunError> {
        let row = self.ledger.run(run_id)?;
        if row.cursor == crate::standalone::OUTSIDE_CURSOR {
            return Err(RunError::Mismatch {
                run: run_id.into(),
                reason: "it runs outside seam (its checks were recorded through `seam serve`);                          its own orchestrator drives it"
                    .into(),
            });
        }
        if row.pipeline != self.pipeline.name {
            return Err(RunError::OtherPipeline {
                run: run_id.into(),
                found: row.pipeline,
                expected: self.pipeline.name.clone(),
                file: row.pipeline_file,
            });
        }
        let status = RunStatus::parse(&row.status);
        if matches!(
            status,
            RunStatus::Completed | RunStatus::Rejected | RunStatus::Failed
        ) {
            let why = row.reason.map(|r| format!(" ({r})")).unwrap_or_default();
            return Err(RunError::Finished {
                run: run_id.into(),
                status: format!("{}{why}", row.status),
            });
        }
        if let Claim::HeldByOther { holder, until_ms } =
            self.ledger.claim(run_id, &self.holder, self.lease)?
        {
            return Err(RunError::Claimed {
                run: run_id.into(),
                holder,
                seconds: ((until_ms - now_ms()).max(0) + 999) / 1000,
            });
        }
        // Claimed: read the run again, in case the previous holder moved it meanwhile.
        let row = match self.ledger.run(run_id) {
            Ok(row) => row,
            Err(e) => {
                let _ = self.ledger.release(run_id, &self.holder);
                return Err(e.into());
            }
        };
        let cursor: Cursor = match serde_json::from_str(&row.cursor) {
            Ok(cursor) => cursor,
            Err(e) => {
                let _ = self.ledger.release(run_id, &self.holder);
                return Err(RunError::Mismatch {
                    run: run_id.into(),
                    reason: format!("its recorded position is unreadable: {e}"),
                });
            }
        };
        let input: Value = serde_json::from_str(&row.input).unwrap_or(Value::Null);
        let pipeline_changed = row.pipeline_digest != self.pipeline.digest;
        self.observer.event(
            run_id,
            &Event::Resumed {
                status,
                pipeline_changed,
            },
        );
        self.drive_claimed(run_id, &input, cursor, row.cursor)
    }

    /// Drives a run this worker has claimed, renewing the claim while it drives and
    /// releasing it at the end, however the drive ends (a panic included). If a renewal
    /// finds the claim gone, the drive stops before its next phase.
    fn drive_claimed(
        &self,
        id: &str,
        input: &Value,
        cursor: Cursor,
        at: String,
    ) -> Result<RunOutcome, RunError> {
        let lost = &AtomicBool::new(false);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let result = std::thread::scope(|s| {
            let heartbeat = s.spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(self.lease / 3)
                {
                    if !matches!(self.ledger.renew(id, &self.holder, self.lease), Ok(true)) {
                        lost.store(true, AtomicOrdering::SeqCst);
                        break;
                    }
                }
            });
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.drive(id, input, cursor, at, lost)
            }));
            drop(stop);
            let _ = heartbeat.join();
            result
        });
        // After the heartbeat has stopped, so no renewal can follow the release.
        let _ = self.ledger.release(id, &self.holder);
        result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }

    /// A phase of run `id` recorded by this worker, which must still hold the run.
    fn phase<'p>(
        &'p self,
        id: &'p str,
        at: &'p str,
        then: &'p dyn Fn(&Recorded) -> RunMove,
    ) -> Phase<'p> {
        let mut phase = Phase::new(id, at, then);
        phase.holder = Some(&self.holder);
        phase
    }

    fn finish(
        &self,
        id: &str,
        status: RunStatus,
        output: Option<Value>,
        reason: Option<String>,
    ) -> RunOutcome {
        self.observer.event(
            id,
            &Event::Finished {
                status,
                reason: reason.as_deref(),
                output: output.as_ref(),
            },
        );
        RunOutcome {
            run_id: id.to_string(),
            status,
            output,
            reason,
        }
    }

    fn end(
        &self,
        id: &str,
        at: &str,
        status: RunStatus,
        output: Option<Value>,
        reason: Option<String>,
    ) -> Result<RunOutcome, RunError> {
        let end = serde_json::to_string(&Cursor::End).expect("cursor serializes");
        let out_text = output.as_ref().map(Value::to_string);
        let then = |_: &Recorded| RunMove {
            status: status.as_str().to_string(),
            cursor: end.clone(),
            output: out_text.clone(),
            reason: reason.clone(),
        };
        self.ledger
            .record("the end of the run", self.phase(id, at, &then))?;
        Ok(self.finish(id, status, output, reason))
    }

    /// Drives the run from `cursor`, which the ledger records as the text `at`, until
    /// it ends, waits, or `lost` says this worker's claim is gone.
    fn drive(
        &self,
        id: &str,
        input: &Value,
        mut cursor: Cursor,
        mut at: String,
        lost: &AtomicBool,
    ) -> Result<RunOutcome, RunError> {
        loop {
            if lost.load(AtomicOrdering::SeqCst) {
                return Err(RunError::ClaimLost { run: id.into() });
            }
            let step = match cursor {
                Cursor::Step {
                    step,
                    attempt,
                    payload,
                    feedback,
                } => self.step(id, &at, input, &step, attempt, payload, feedback),
                Cursor::Seam { handoff_id, fixes } => self.seam(id, &at, handoff_id, fixes),
                Cursor::Review { review_id, attempt } => {
                    self.after_review(id, &at, review_id, attempt)
                }
                Cursor::End => {
                    let row = self.ledger.run(id)?;
                    return Ok(RunOutcome {
                        run_id: id.into(),
                        status: RunStatus::parse(&row.status),
                        output: row.output.and_then(|o| serde_json::from_str(&o).ok()),
                        reason: row.reason,
                    });
                }
            };
            // The ledger refuses a move from a position the run is no longer at.
            let step = step.map_err(|e| match e {
                RunError::Ledger(LedgerError::Conflict { run }) => RunError::Conflict { run },
                other => other,
            })?;
            match step {
                Ok(next) => {
                    at = serde_json::to_string(&next).expect("cursor serializes");
                    cursor = next;
                }
                Err(outcome) => return Ok(outcome),
            }
        }
    }

    /// Runs one step; `Ok(Err(outcome))` when the run stops (failed or waiting).
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        id: &str,
        at: &str,
        input: &Value,
        name: &str,
        attempt: u32,
        payload: Value,
        feedback: Vec<Value>,
    ) -> Result<Result<Cursor, RunOutcome>, RunError> {
        let p = self.pipeline;
        let Some(step) = p.step(name) else {
            return Err(RunError::Mismatch {
                run: id.into(),
                reason: format!("it was about to run step `{name}`, which this file does not have"),
            });
        };
        let done = self.ledger.step_runs(id)?.len() as u32;
        if done >= p.max_step_runs {
            let reason = format!(
                "the run has executed {done} steps, the most allowed (max_step_runs); check the routes for a loop"
            );
            return self
                .end(id, at, RunStatus::Failed, None, Some(reason))
                .map(Err);
        }
        if let Adapter::Human { instructions } = &step.adapter {
            let reason = if instructions.is_empty() {
                format!("step `{name}` is done by a person")
            } else {
                instructions.clone()
            };
            let findings = Value::Array(feedback).to_string();
            let payload_text = payload.to_string();
            let then = |ids: &Recorded| RunMove {
                status: "waiting".into(),
                cursor: serde_json::to_string(&Cursor::Review {
                    review_id: ids.review_id.unwrap_or_default(),
                    attempt,
                })
                .expect("cursor serializes"),
                output: None,
                reason: None,
            };
            let mut phase = self.phase(id, at, &then);
            phase.review = Some(NewReview {
                handoff_id: None,
                step: name,
                kind: "human-step",
                payload: &payload_text,
                findings: &findings,
                reason: &reason,
            });
            let review_id = self
                .ledger
                .record("a review for a human step", phase)?
                .review_id
                .unwrap_or_default();
            self.observer.event(
                id,
                &Event::Waiting {
                    review_id,
                    reason: &reason,
                },
            );
            return Ok(Err(RunOutcome {
                run_id: id.into(),
                status: RunStatus::Waiting,
                output: None,
                reason: Some(reason),
            }));
        }
        let step_input = StepInput {
            run_id: id.into(),
            pipeline: p.name.clone(),
            step: name.into(),
            attempt,
            input: input.clone(),
            payload,
            feedback,
        };
        let input_text = serde_json::to_string(&step_input).expect("step input serializes");
        self.observer.event(
            id,
            &Event::StepStarted {
                step: name,
                attempt,
            },
        );
        let started_at = now_ms();
        let clock = Instant::now();
        let result = adapters::run(step, &step_input);
        let duration = clock.elapsed();
        let ms = duration.as_millis() as i64;
        let kind = step.adapter.kind();
        match result {
            Err(failure) => {
                let reason = failure.to_string();
                let end = serde_json::to_string(&Cursor::End).expect("cursor");
                let then = |_: &Recorded| RunMove {
                    status: "failed".into(),
                    cursor: end.clone(),
                    output: None,
                    reason: Some(reason.clone()),
                };
                let mut phase = self.phase(id, at, &then);
                phase.step_run = Some(NewStepRun {
                    step: name,
                    attempt,
                    adapter: kind,
                    input: &input_text,
                    output: None,
                    error: Some(&failure.message),
                    exit_code: failure.exit_code,
                    stderr_tail: Some(&failure.stderr_tail),
                    started_at,
                    duration_ms: ms,
                });
                self.ledger.record("a failed step", phase)?;
                self.observer
                    .event(id, &Event::StepFailed { failure: &failure });
                Ok(Err(self.finish(id, RunStatus::Failed, None, Some(reason))))
            }
            Ok(out) => {
                let output_text = out.output.to_string();
                let handoff_id = self.record_finished(
                    id,
                    at,
                    &Finished {
                        step: name,
                        attempt,
                        adapter: kind,
                        input: &input_text,
                        output: &output_text,
                        exit_code: out.exit_code,
                        stderr_tail: Some(&out.stderr_tail),
                        started_at,
                        duration_ms: ms,
                    },
                )?;
                self.observer.event(
                    id,
                    &Event::StepDone {
                        step: name,
                        attempt,
                        duration,
                    },
                );
                Ok(Ok(Cursor::Seam {
                    handoff_id,
                    fixes: 0,
                }))
            }
        }
    }

    /// Checks the seam after handoff `handoff_id` and applies the decision.
    fn seam(
        &self,
        id: &str,
        at: &str,
        handoff_id: i64,
        fixes: u32,
    ) -> Result<Result<Cursor, RunOutcome>, RunError> {
        let p = self.pipeline;
        let h = self.ledger.handoff(handoff_id)?;
        if p.step(&h.from_step).is_none() {
            return Err(RunError::Mismatch {
                run: id.into(),
                reason: format!(
                    "its handoff comes from step `{}`, which this file does not have",
                    h.from_step
                ),
            });
        }
        let payload: Value = serde_json::from_str(&h.payload).unwrap_or(Value::Null);
        let next = p.next_after(&h.from_step);
        let mut results = Vec::new();
        if let Some((_, validator)) = p.step(&h.from_step).and_then(|s| s.output_schema.as_ref()) {
            let clock = Instant::now();
            let findings: Vec<Finding> = validator
                .iter_errors(&payload)
                .take(MAX_SCHEMA_FINDINGS)
                .map(|e| Finding {
                    code: format!("schema.{}", e.kind().keyword()),
                    message: e.to_string(),
                    path: Some(e.instance_path().to_string()),
                    span: None,
                    severity: Severity::Error,
                })
                .collect();
            let passed = findings.is_empty();
            results.push(GateResult {
                gate: seam_ledger::OUTPUT_SCHEMA_GATE.into(),
                plugin: seam_ledger::OUTPUT_SCHEMA_GATE.into(),
                digest: p.digest.clone(),
                report: CheckReport {
                    plugin: seam_ledger::OUTPUT_SCHEMA_GATE.into(),
                    outcome: Outcome::Verdict(Verdict {
                        passed,
                        score: None,
                        findings,
                        fix: None,
                    }),
                    duration: clock.elapsed(),
                    log: String::new(),
                    log_truncated: false,
                    finished_at: std::time::SystemTime::now(),
                },
                policy: p
                    .step(&h.from_step)
                    .map_or(Policy::Retry, |s| s.on_invalid.clone()),
                on_error: OnError::Block,
            });
        }
        let seam = p.seams.get(&h.from_step);
        if let Some(seam) = seam {
            let handoff = handoff_of(&p.name, id, &h);
            let plugins: Vec<_> = seam.gates.iter().map(|g| g.plugin.clone()).collect();
            let reports = check_all_blocking(&plugins, &handoff);
            for (gate, report) in seam.gates.iter().zip(reports) {
                results.push(GateResult::of(gate, report));
            }
        }
        let (decided_by, decision, reason) = self.decide(id, &h, &results, &next, fixes);
        let target = decision.target();
        // A seam without checks is recorded but not worth a line on screen.
        if !results.is_empty() {
            self.observer.event(
                id,
                &Event::Seam {
                    from: &h.from_step,
                    to: &h.to_step,
                    results: &results,
                },
            );
            self.observer.event(
                id,
                &Event::Decision {
                    decided_by: &decided_by,
                    target: &target,
                    reason: &reason,
                },
            );
        }
        self.apply(
            id,
            at,
            &h,
            &results,
            decision,
            &decided_by,
            &target,
            &reason,
            fixes,
        )
    }

    /// The router's decision (calling it, when the seam has one), then the policies'.
    fn decide(
        &self,
        id: &str,
        h: &HandoffRow,
        results: &[GateResult],
        next: &Next,
        fixes: u32,
    ) -> (String, Decision, String) {
        let p = self.pipeline;
        let seam = p.seams.get(&h.from_step);
        let steps: Vec<String> = p.steps.iter().map(|s| s.name.clone()).collect();
        let rules = SeamRules {
            max_retries: seam.map_or(p.max_retries, |s| s.max_retries),
            when_retries_exhausted: &p.when_retries_exhausted,
            max_fixes: p.max_fixes,
            steps: &steps,
        };
        let upstream = Upstream {
            from_step: &h.from_step,
            to_step: &h.to_step,
            attempt: h.attempt,
        };
        // Under on_error = block a malfunction stops the run before any router is asked.
        let blocked = results
            .iter()
            .any(|r| r.report.outcome.error().is_some() && r.on_error == OnError::Block);
        let routed = match seam.and_then(|s| s.router.as_ref()) {
            Some(router) if !blocked => {
                let verdicts = router_verdicts(results);
                let handoff = handoff_of(&p.name, id, h);
                Some(Routed {
                    router: router.plugin.name().to_string(),
                    on_error: router.on_error,
                    route: router.plugin.route_blocking(&handoff, &verdicts).route,
                })
            }
            _ => None,
        };
        decide(&rules, &upstream, results, next, fixes, routed.as_ref())
    }

    /// Records a finished step and the handoff of its output, and moves the run to the
    /// seam after it, in one transaction; returns the handoff's id.
    fn record_finished(&self, id: &str, at: &str, f: &Finished) -> Result<i64, RunError> {
        let to = self.pipeline.next_after(f.step).label();
        let then = |ids: &Recorded| RunMove {
            status: "running".into(),
            cursor: serde_json::to_string(&Cursor::Seam {
                handoff_id: ids.handoff_id.unwrap_or_default(),
                fixes: 0,
            })
            .expect("cursor serializes"),
            output: None,
            reason: None,
        };
        let mut phase = self.phase(id, at, &then);
        phase.step_run = Some(NewStepRun {
            step: f.step,
            attempt: f.attempt,
            adapter: f.adapter,
            input: f.input,
            output: Some(f.output),
            error: None,
            exit_code: f.exit_code,
            stderr_tail: f.stderr_tail,
            started_at: f.started_at,
            duration_ms: f.duration_ms,
        });
        phase.handoff = Some(NewHandoff {
            step_run_id: None,
            from_step: f.step,
            to_step: &to,
            attempt: f.attempt,
            payload: f.output,
            context: f.input,
            fixed_by: None,
        });
        let ids = self
            .ledger
            .record("a finished step and its handoff", phase)?;
        Ok(ids.handoff_id.unwrap_or_default())
    }

    /// Records the seam's verdicts and decision and moves the cursor, in one transaction.
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        id: &str,
        at: &str,
        h: &HandoffRow,
        results: &[GateResult],
        decision: Decision,
        decided_by: &str,
        target: &str,
        reason: &str,
        fixes: u32,
    ) -> Result<Result<Cursor, RunOutcome>, RunError> {
        // The upstream step's own input payload, for a retry.
        let upstream = match (&decision, h.step_run_id) {
            (Decision::Retry { .. }, Some(sid)) => {
                let input: Value =
                    serde_json::from_str(&self.ledger.step_input(sid)?).unwrap_or(Value::Null);
                input.get("payload").cloned().unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        let payload: Value = serde_json::from_str(&h.payload).unwrap_or(Value::Null);
        let (status, output, end_reason) = match &decision {
            Decision::Next(Next::Done) | Decision::Done => {
                (RunStatus::Completed, Some(payload.clone()), None)
            }
            Decision::Reject(r) => (RunStatus::Rejected, None, Some(r.clone())),
            Decision::Fail(r) => (RunStatus::Failed, None, Some(r.clone())),
            Decision::Escalate { .. } => (RunStatus::Waiting, None, None),
            _ => (RunStatus::Running, None, None),
        };
        let rows: Vec<VerdictRecord> = results.iter().map(VerdictRecord::of).collect();
        let cursor_for = |ids: &Recorded| match &decision {
            Decision::Next(Next::Step(step)) | Decision::Route(step) => Cursor::Step {
                step: step.clone(),
                attempt: 1,
                payload: payload.clone(),
                feedback: Vec::new(),
            },
            Decision::Retry { feedback } => Cursor::Step {
                step: h.from_step.clone(),
                attempt: h.attempt + 1,
                payload: upstream.clone(),
                feedback: feedback.clone(),
            },
            Decision::Fix { .. } => Cursor::Seam {
                handoff_id: ids.handoff_id.unwrap_or_default(),
                fixes: fixes + 1,
            },
            Decision::Escalate { .. } => Cursor::Review {
                review_id: ids.review_id.unwrap_or_default(),
                attempt: h.attempt,
            },
            _ => Cursor::End,
        };
        let out_text = output.as_ref().map(Value::to_string);
        let then = |ids: &Recorded| RunMove {
            status: status.as_str().to_string(),
            cursor: serde_json::to_string(&cursor_for(ids)).expect("cursor serializes"),
            output: out_text.clone(),
            reason: end_reason.clone(),
        };
        let mut phase = self.phase(id, at, &then);
        phase.verdicts = results
            .iter()
            .zip(&rows)
            .map(|(r, row)| row.new_verdict(r, h.id))
            .collect();
        phase.route = Some(NewRoute {
            handoff_id: h.id,
            decided_by,
            target,
            reason,
        });
        let escalation_findings;
        match &decision {
            Decision::Fix { gate, payload } => {
                phase.handoff = Some(NewHandoff {
                    step_run_id: h.step_run_id,
                    from_step: &h.from_step,
                    to_step: &h.to_step,
                    attempt: h.attempt,
                    payload,
                    context: &h.context,
                    fixed_by: Some(gate),
                });
            }
            Decision::Escalate { reason, findings } => {
                escalation_findings = Value::Array(findings.clone()).to_string();
                phase.review = Some(NewReview {
                    handoff_id: Some(h.id),
                    step: &h.from_step,
                    kind: "escalation",
                    payload: &h.payload,
                    findings: &escalation_findings,
                    reason,
                });
            }
            _ => {}
        }
        let ids = self
            .ledger
            .record("a seam's verdicts and decision", phase)?;
        let next_cursor = cursor_for(&ids);
        Ok(match next_cursor {
            Cursor::End => Err(self.finish(id, status, output, end_reason)),
            Cursor::Review { review_id, .. } => {
                self.observer
                    .event(id, &Event::Waiting { review_id, reason });
                Err(RunOutcome {
                    run_id: id.into(),
                    status: RunStatus::Waiting,
                    output: None,
                    reason: Some(reason.to_string()),
                })
            }
            cursor => Ok(cursor),
        })
    }

    /// Continues after a review: waits while it is pending, else follows the decision.
    fn after_review(
        &self,
        id: &str,
        at: &str,
        review_id: i64,
        attempt: u32,
    ) -> Result<Result<Cursor, RunOutcome>, RunError> {
        let r = self.ledger.review(review_id)?;
        let by = r.decided_by.clone().unwrap_or_default();
        match r.status.as_str() {
            "accepted" => {}
            "rejected" => {
                let note = r
                    .note
                    .as_deref()
                    .map(|n| format!(": {n}"))
                    .unwrap_or_default();
                let reason = format!("rejected in review {review_id} by {by}{note}");
                return self
                    .end(id, at, RunStatus::Rejected, None, Some(reason))
                    .map(Err);
            }
            _ => {
                return Ok(Err(RunOutcome {
                    run_id: id.into(),
                    status: RunStatus::Waiting,
                    output: None,
                    reason: Some(r.reason),
                }))
            }
        }
        if self.pipeline.step(&r.step).is_none() {
            return Err(RunError::Mismatch {
                run: id.into(),
                reason: format!(
                    "its review is about step `{}`, which this file does not have",
                    r.step
                ),
            });
        }
        let payload_text = r.output.clone().unwrap_or_else(|| r.payload.clone());
        let payload: Value = serde_json::from_str(&payload_text).unwrap_or(Value::Null);
        let p = self.pipeline;
        if r.kind == "human-step" {
            // The person's decision is the step's output.
            let input = json!({"review": review_id, "payload": serde_json::from_str::<Value>(&r.payload).unwrap_or(Value::Null)}).to_string();
            let decided_at = r.decided_at.unwrap_or_else(now_ms);
            let hid = self.record_finished(
                id,
                at,
                &Finished {
                    step: &r.step,
                    attempt,
                    adapter: "human",
                    input: &input,
                    output: &payload_text,
                    exit_code: None,
                    stderr_tail: None,
                    started_at: r.created_at,
                    duration_ms: decided_at - r.created_at,
                },
            )?;
            return Ok(Ok(Cursor::Seam {
                handoff_id: hid,
                fixes: 0,
            }));
        }
        // An escalation: the person let the handoff through.
        let h = self.ledger.handoff(r.handoff_id.unwrap_or_default())?;
        let next = p.next_after(&h.from_step);
        let reason = format!("accepted in review {review_id} by {by}");
        let (status, cursor, output) = match &next {
            Next::Step(step) => (
                RunStatus::Running,
                Cursor::Step {
                    step: step.clone(),
                    attempt: 1,
                    payload: payload.clone(),
                    feedback: Vec::new(),
                },
                None,
            ),
            Next::Done => (RunStatus::Completed, Cursor::End, Some(payload.clone())),
        };
        let target = next.label();
        let text = serde_json::to_string(&cursor).expect("cursor serializes");
        let out_text = output.as_ref().map(Value::to_string);
        let then = |_: &Recorded| RunMove {
            status: status.as_str().to_string(),
            cursor: text.clone(),
            output: out_text.clone(),
            reason: None,
        };
        let mut phase = self.phase(id, at, &then);
        phase.route = Some(NewRoute {
            handoff_id: h.id,
            decided_by: "review",
            target: &target,
            reason: &reason,
        });
        self.ledger.record("a review's decision", phase)?;
        self.observer.event(
            id,
            &Event::Decision {
                decided_by: "review",
                target: &target,
                reason: &reason,
            },
        );
        Ok(match cursor {
            Cursor::End => Err(self.finish(id, status, output, None)),
            c => Ok(c),
        })
    }
}

/// Records a person's decision on a pending review. `output` replaces the payload
/// (an edited draft, or a human step's answer); the run continues on its next resume.
pub fn decide_review(
    ledger: &dyn Ledger,
    review_id: i64,
    accept: bool,
    by: &str,
    note: Option<&str>,
    output: Option<&Value>,
) -> Result<ReviewRow, RunError> {
    let review = ledger.review(review_id)?;
    if review.status != "pending" {
        return Err(RunError::AlreadyDecided {
            review: review_id,
            status: review.status,
        });
    }
    let out = output.map(Value::to_string);
    ledger
        .decide_review(review_id, accept, by, note, out.as_deref())
        .map_err(|e| match e {
            LedgerError::AlreadyDecided { review, status } => {
                RunError::AlreadyDecided { review, status }
            }
            other => other.into(),
        })?;
    Ok(ledger.review(review_id)?)
}
