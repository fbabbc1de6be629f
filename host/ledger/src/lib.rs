//! `seam-ledger`: every run, step execution, handoff, verdict, route and human
//! decision, behind the [`Ledger`] trait of domain operations; the reliability
//! [`report`] and the [`feedback`] export computed by the backend.
//!
//! The trait is the whole contract between the pipeline runner (and the server, the
//! CLI, the Python package) and storage: no SQL and no driver type crosses it. A
//! backend is done when [`conformance`] passes against it. [`SqliteLedger`] is the
//! embedded default (one file, WAL); [`PgLedger`] is a PostgreSQL database shared by
//! many processes and machines; [`open`] picks one by its location. The trait is synchronous — the runner drives a
//! run on a thread — and async callers use a blocking pool.
//!
//! A ledger must not decide anything: the runner tells it what happened, in phases
//! that also move the run's cursor, so a run killed at any moment resumes exactly
//! after its last recorded phase. A write that fails is an error for the caller.

pub mod conformance;
pub mod feedback;
pub mod pg;
pub mod report;
pub mod sqlite;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use pg::PgLedger;
pub use sqlite::SqliteLedger;

/// Opens the ledger at `location`: a `postgres://` (or `postgresql://`) URL is a
/// [`PgLedger`], anything else the path of a [`SqliteLedger`] file.
pub fn open(location: &str) -> Result<std::sync::Arc<dyn Ledger>, LedgerError> {
    if pg::is_url(location) {
        Ok(std::sync::Arc::new(PgLedger::open(location)?))
    } else {
        Ok(std::sync::Arc::new(SqliteLedger::open(
            std::path::Path::new(location),
        )?))
    }
}

/// Any backend's underlying error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong with the ledger. `location` is where it lives (a file path, or a
/// database URL without its password).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger {location}")]
    Open {
        location: String,
        #[source]
        source: BoxError,
    },
    #[error("the ledger {location} has schema version {found}, newer than this seam knows ({known}); upgrade seam")]
    TooNew {
        location: String,
        found: i64,
        known: i64,
    },
    #[error("writing {what} to the ledger {location} failed; the run stops here")]
    Write {
        what: String,
        location: String,
        #[source]
        source: BoxError,
    },
    #[error("reading {what} from the ledger {location} failed")]
    Read {
        what: String,
        location: String,
        #[source]
        source: BoxError,
    },
    #[error("no {what} `{id}` in the ledger {location}")]
    NotFound {
        what: &'static str,
        id: String,
        location: String,
    },
    /// The run is no longer where the phase says it starts, or the recording worker
    /// no longer holds it: another worker moved it on, and nothing of the phase was
    /// recorded.
    #[error("run `{run}` was moved on by another worker meanwhile; nothing was recorded twice (see `seam review list` and the run's status)")]
    Conflict { run: String },
    /// The review was decided already; nothing was recorded.
    #[error("review {review} is already {status}")]
    AlreadyDecided { review: i64, status: String },
}

/// The gate name under which the runner records a step's `output_schema` check. The
/// report leaves it out of gate-versus-human agreement: a person does not judge
/// whether JSON matches its schema.
pub const OUTPUT_SCHEMA_GATE: &str = "output_schema";

/// The cursor of an *outside run*: one whose checks were recorded through `seam serve`
/// by an orchestrator that runs its steps itself. seam never drives such a run, so no
/// worker ever picks one up.
pub const OUTSIDE_CURSOR: &str = "outside";

/// The statuses a run ends in, as a SQL list. The phase that moves a run into one of
/// them also releases its claim, in the same transaction: a worker killed between its
/// last phase and its release must not leave a finished run claimed.
const ENDED_STATUSES: &str = "('completed', 'rejected', 'failed')";

/// A run that needs a driver and had none, now claimed by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub run_id: String,
    pub pipeline: String,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}

/// A run as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRow {
    pub id: String,
    pub pipeline: String,
    pub pipeline_file: String,
    pub pipeline_digest: String,
    pub input: String,
    pub status: String,
    pub cursor: String,
    pub output: Option<String>,
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A handoff as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandoffRow {
    pub id: i64,
    pub run_id: String,
    pub step_run_id: Option<i64>,
    pub from_step: String,
    pub to_step: String,
    pub attempt: u32,
    pub payload: String,
    pub context: String,
    pub fixed_by: Option<String>,
}

/// A review (an escalation or a human step) as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ReviewRow {
    pub id: i64,
    pub run_id: String,
    pub pipeline: String,
    pub handoff_id: Option<i64>,
    pub step: String,
    pub kind: String,
    pub status: String,
    /// The payload under review, as JSON.
    #[serde(serialize_with = "seam_types::json::as_json")]
    #[schemars(with = "serde_json::Value")]
    pub payload: String,
    /// The findings that sent it to review, as JSON.
    #[serde(serialize_with = "seam_types::json::as_json")]
    #[schemars(with = "Vec<serde_json::Value>")]
    pub findings: String,
    pub reason: String,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    pub note: Option<String>,
    #[serde(serialize_with = "seam_types::json::as_json_opt")]
    #[schemars(with = "Option<serde_json::Value>")]
    pub output: Option<String>,
    pub created_at: i64,
}

/// A verdict as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictRow {
    pub gate: String,
    pub plugin: String,
    pub outcome: String,
    pub score: Option<f64>,
    pub findings: String,
    pub error: Option<String>,
    pub policy: String,
    pub duration_us: i64,
}

/// Where a recorded handoff went, and who decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteRow {
    pub handoff_id: i64,
    /// `policy`, `review`, or the router that chose.
    pub decided_by: String,
    pub target: String,
    pub reason: String,
}

/// One run's visit to a seam (its handoffs from one upstream step), as the report
/// counts it: the rows behind a seam's figures.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SeamVisit {
    pub run_id: String,
    /// The run's status now.
    pub status: String,
    /// When the run started (unix milliseconds).
    pub created_at: i64,
    /// Handoffs checked at this seam in this run (attempts and fixes).
    pub handoffs: i64,
    /// The first handoff passed at once.
    pub first_pass: bool,
    /// The visit went on in the end (after retries, fixes or a review).
    pub passed: bool,
    /// What recovered a visit that failed first and went on: `retry`, `fix` or
    /// `review` (the report's rule: a review counts before a retry, a retry before a
    /// fix).
    pub recovered_by: Option<String>,
}

/// A step execution as recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepRunRow {
    pub id: i64,
    pub step: String,
    pub attempt: u32,
    pub input: String,
    pub output: Option<String>,
    pub status: String,
    pub error: Option<String>,
}

/// A new run, claimed by the worker that starts it.
#[derive(Debug, Clone)]
pub struct NewRun<'a> {
    pub id: &'a str,
    pub pipeline: &'a str,
    pub pipeline_file: &'a str,
    pub pipeline_digest: &'a str,
    pub input: &'a str,
    pub cursor: &'a str,
    /// The worker that drives it first, and how long its claim lasts unrenewed.
    pub holder: &'a str,
    pub lease: Duration,
}

/// A finished (or failed) step execution.
#[derive(Debug, Clone)]
pub struct NewStepRun<'a> {
    pub step: &'a str,
    pub attempt: u32,
    pub adapter: &'a str,
    pub input: &'a str,
    pub output: Option<&'a str>,
    /// Set when the step failed.
    pub error: Option<&'a str>,
    pub exit_code: Option<i32>,
    pub stderr_tail: Option<&'a str>,
    pub started_at: i64,
    pub duration_ms: i64,
}

/// A handoff. Its `step_run_id` is the step execution recorded in the same phase, if
/// any, else the one given.
#[derive(Debug, Clone)]
pub struct NewHandoff<'a> {
    pub step_run_id: Option<i64>,
    pub from_step: &'a str,
    pub to_step: &'a str,
    pub attempt: u32,
    pub payload: &'a str,
    pub context: &'a str,
    /// The gate whose fix produced this handoff.
    pub fixed_by: Option<&'a str>,
}

/// One verdict (or error verdict) on a recorded handoff.
#[derive(Debug, Clone)]
pub struct NewVerdict<'a> {
    pub handoff_id: i64,
    pub gate: &'a str,
    pub plugin: &'a str,
    pub plugin_digest: &'a str,
    /// `passed`, `failed` or `error`.
    pub outcome: &'a str,
    pub score: Option<f64>,
    /// The findings as JSON.
    pub findings: &'a str,
    pub fix: Option<&'a str>,
    /// The error cause's kind (`timeout`, …) and the error in words.
    pub error_cause: Option<&'a str>,
    pub error: Option<&'a str>,
    pub policy: &'a str,
    pub duration_us: i64,
}

/// Where a recorded handoff went, and who decided.
#[derive(Debug, Clone)]
pub struct NewRoute<'a> {
    pub handoff_id: i64,
    pub decided_by: &'a str,
    pub target: &'a str,
    pub reason: &'a str,
}

/// A pending review.
#[derive(Debug, Clone)]
pub struct NewReview<'a> {
    pub handoff_id: Option<i64>,
    pub step: &'a str,
    /// `escalation` or `human-step`.
    pub kind: &'a str,
    pub payload: &'a str,
    /// The findings as JSON.
    pub findings: &'a str,
    pub reason: &'a str,
}

/// The ids a phase's new records were given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recorded {
    pub step_run_id: Option<i64>,
    pub handoff_id: Option<i64>,
    pub review_id: Option<i64>,
}

/// Where a phase leaves the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMove {
    /// `running`, `waiting`, `completed`, `rejected` or `failed`.
    pub status: String,
    /// The run's next position (the runner's cursor, as text).
    pub cursor: String,
    pub output: Option<String>,
    pub reason: Option<String>,
}

/// One phase of a run: the records it produced and the run's next position, written
/// atomically — all of it, or (on any error) none of it.
pub struct Phase<'a> {
    pub run_id: &'a str,
    /// The position the run must still be at; otherwise the phase is refused with
    /// [`LedgerError::Conflict`].
    pub at: &'a str,
    /// The worker recording it, when it must still hold the run's claim (the runner
    /// always sets it); otherwise the phase is refused with [`LedgerError::Conflict`].
    pub holder: Option<&'a str>,
    pub step_run: Option<NewStepRun<'a>>,
    pub handoff: Option<NewHandoff<'a>>,
    pub verdicts: Vec<NewVerdict<'a>>,
    pub route: Option<NewRoute<'a>>,
    pub review: Option<NewReview<'a>>,
    /// The run's next position, given the ids of the new records.
    pub then: &'a dyn Fn(&Recorded) -> RunMove,
}

impl<'a> Phase<'a> {
    /// A phase of `run_id` from position `at` with no records yet.
    pub fn new(run_id: &'a str, at: &'a str, then: &'a dyn Fn(&Recorded) -> RunMove) -> Self {
        Phase {
            run_id,
            at,
            holder: None,
            step_run: None,
            handoff: None,
            verdicts: Vec::new(),
            route: None,
            review: None,
            then,
        }
    }
}

/// The outcome of asking to drive a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The caller holds the run until `until_ms` (renew before then).
    Held { until_ms: i64 },
    /// Another worker holds it until `until_ms`.
    HeldByOther { holder: String, until_ms: i64 },
}

/// Record counts per kind, for checks and tests.
pub type Counts = Vec<(String, i64)>;

/// A ledger backend: domain operations only. Every method is atomic; writes that move
/// a run check where the run is, so two workers never both record the same phase.
pub trait Ledger: Send + Sync {
    /// Where the ledger lives, for messages (a file path, or a URL without password).
    fn location(&self) -> String;

    /// Records a new run, claimed by `run.holder`.
    fn start_run(&self, run: &NewRun<'_>) -> Result<(), LedgerError>;

    /// Records one phase of a run and moves the run, atomically; `what` names the
    /// phase in errors.
    fn record(&self, what: &str, phase: Phase<'_>) -> Result<Recorded, LedgerError>;

    /// Claims run `run_id` for `holder` for `lease`: granted when nobody holds it, the
    /// holder's lease has lapsed, or `holder` holds it already (a renewal).
    fn claim(&self, run_id: &str, holder: &str, lease: Duration) -> Result<Claim, LedgerError>;

    /// Extends `holder`'s claim on `run_id` by `lease` from now, only if it still holds
    /// it (a lapsed claim is not renewed: another worker may have taken the run).
    /// Returns whether it did.
    fn renew(&self, run_id: &str, holder: &str, lease: Duration) -> Result<bool, LedgerError>;

    /// Claims for `holder`, for `lease`, the oldest run of `pipelines` that needs a
    /// driver and has none: a `running` run whose claim lapsed (its worker died), or a
    /// `waiting` run with no pending review, whose last review was decided at least
    /// `grace` ago and which nobody resumed (its worker died between the decision and
    /// the resume). Outside runs are never picked. A run another worker is claiming at
    /// the same moment is skipped, not waited for. `None` when there is none.
    fn claim_orphan(
        &self,
        holder: &str,
        pipelines: &[String],
        lease: Duration,
        grace: Duration,
    ) -> Result<Option<Orphan>, LedgerError>;

    /// Gives up `holder`'s claim on `run_id` (nothing happens if it holds none).
    fn release(&self, run_id: &str, holder: &str) -> Result<(), LedgerError>;

    /// Decides a pending review; [`LedgerError::AlreadyDecided`] if it is not pending.
    fn decide_review(
        &self,
        id: i64,
        accepted: bool,
        by: &str,
        note: Option<&str>,
        output: Option<&str>,
    ) -> Result<(), LedgerError>;

    /// The run `id`.
    fn run(&self, id: &str) -> Result<RunRow, LedgerError>;
    /// Every run, newest first, optionally only those with `status`.
    fn runs(&self, status: Option<&str>) -> Result<Vec<RunRow>, LedgerError>;
    /// The handoff `id`.
    fn handoff(&self, id: i64) -> Result<HandoffRow, LedgerError>;
    /// The input a recorded step execution was given.
    fn step_input(&self, step_run_id: i64) -> Result<String, LedgerError>;
    /// The step executions of run `run_id`, in order.
    fn step_runs(&self, run_id: &str) -> Result<Vec<StepRunRow>, LedgerError>;
    /// The handoffs of run `run_id`, in order.
    fn handoffs(&self, run_id: &str) -> Result<Vec<HandoffRow>, LedgerError>;
    /// The routes of handoff `handoff_id`, in order.
    fn routes(&self, handoff_id: i64) -> Result<Vec<RouteRow>, LedgerError>;
    /// The visits behind seam `seam` (the checks after step `seam`) of `pipeline`
    /// within `filter`, newest run first, at most `limit` of them.
    fn seam_visits(
        &self,
        filter: &report::Filter,
        pipeline: &str,
        seam: &str,
        limit: usize,
    ) -> Result<Vec<SeamVisit>, LedgerError>;
    /// The verdicts on handoff `handoff_id`, in order.
    fn verdicts(&self, handoff_id: i64) -> Result<Vec<VerdictRow>, LedgerError>;
    /// The review `id`.
    fn review(&self, id: i64) -> Result<ReviewRow, LedgerError>;
    /// Reviews, oldest first, optionally only those with `status`.
    fn reviews(&self, status: Option<&str>) -> Result<Vec<ReviewRow>, LedgerError>;
    /// Counts of records per kind: runs, step_runs, handoffs, verdicts, routes, reviews.
    fn counts(&self) -> Result<Counts, LedgerError>;

    /// The reliability report's figures for `filter`, computed by the backend.
    fn report(&self, filter: &report::Filter) -> Result<report::Report, LedgerError>;

    /// Streams the feedback export to `out`; returns the number of lines written.
    fn export(
        &self,
        filter: &feedback::ExportFilter,
        shape: feedback::Shape,
        out: &mut dyn std::io::Write,
    ) -> Result<u64, LedgerError>;
}
