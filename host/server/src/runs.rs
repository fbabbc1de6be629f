//! Pipeline runs and reviews over HTTP: start a configured pipeline's run, read its
//! state and records, resume it; list, show and decide reviews (a decided review's run
//! resumes). Runs are driven on the blocking pool by the same runner as `seam run`, with
//! the same durable ledger: a run cut by a shutdown is resumed later from where it was.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use seam_ledger::{Ledger, LedgerError, ReviewRow};
use seam_pipeline::standalone::OUTSIDE_CURSOR;
use seam_pipeline::{
    decide_review, Event, Observer, Pipeline, RunError, RunOutcome, RunStatus, Runner,
};

use crate::api::{authorize_caller, authorize_reading, parse, ApiError, JsonBody};
use crate::auth::Scope;
use crate::{Config, Shared};

/// Hands the run's id over as soon as the runner has recorded the run.
struct Announce(Mutex<Option<tokio::sync::oneshot::Sender<String>>>);

impl Observer for Announce {
    fn event(&self, run_id: &str, event: &Event) {
        if matches!(event, Event::Started { .. } | Event::Resumed { .. }) {
            if let Some(tx) = self.0.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = tx.send(run_id.to_string());
            }
        }
    }
}

/// The server's ledger, or `404 no_ledger` naming the setting to add.
pub(crate) fn ledger_of(shared: &Shared) -> Result<Arc<dyn Ledger>, ApiError> {
    shared.ledger.clone().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "no_ledger",
            format!(
                "this server has no ledger: set `ledger = \"FILE\"` in {}",
                shared.config().file.display()
            ),
        )
    })
}

fn ledger_failure(e: LedgerError) -> ApiError {
    match e {
        LedgerError::NotFound { what, id, .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} `{id}` in the ledger"),
        ),
        other => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ledger",
            format!("the ledger failed: {other}"),
        ),
    }
}

fn run_failure(e: RunError) -> ApiError {
    match e {
        RunError::Ledger(l) => ledger_failure(l),
        other => ApiError::new(StatusCode::CONFLICT, "run_conflict", other.to_string()),
    }
}

fn find_pipeline<'a>(config: &'a Config, name: &str) -> Result<&'a Pipeline, ApiError> {
    config
        .pipelines
        .iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = config.pipelines.iter().map(|p| p.name.as_str()).collect();
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_pipeline",
                format!(
                    "no pipeline `{name}` is served by {}; its pipelines: {}",
                    config.file.display(),
                    if names.is_empty() {
                        "none (add `pipelines = [\"FILE\"]`)".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            )
        })
}

/// Drives a run (a new one with `input`, or `resume`) on the blocking pool; answers
/// with its outcome when it ends within `wait`, else (`202`) with its id and status
/// `running` while it goes on.
async fn drive(
    shared: &Shared,
    pipeline: &str,
    input: Option<Value>,
    resume: Option<String>,
    wait: Duration,
) -> Result<(StatusCode, RunOutcome), ApiError> {
    let config = shared.config();
    find_pipeline(&config, pipeline)?;
    let ledger = ledger_of(shared)?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let name = pipeline.to_string();
    let task = tokio::task::spawn_blocking(move || -> Result<RunOutcome, RunError> {
        let pipeline = config
            .pipelines
            .iter()
            .find(|p| p.name == name)
            .expect("looked up above");
        let announce = Announce(Mutex::new(Some(tx)));
        let runner = Runner::new(pipeline, &*ledger, &announce).with_lease(config.runs.lease());
        match &resume {
            Some(id) => runner.resume(id),
            None => runner.start(input.unwrap_or(Value::Null)),
        }
    });
    let started = rx.await;
    let finished = match &started {
        Ok(_) => tokio::time::timeout(wait, task).await,
        // Never announced: the runner returned before the run started (a refused
        // resume, a failed start), so its task is ending; wait for its answer. Timing
        // it out with a zero `wait` raced that end and answered 504 instead of 409.
        Err(_) => Ok(task.await),
    };
    match (finished, started) {
        (Ok(Ok(Ok(outcome))), _) => Ok((StatusCode::OK, outcome)),
        (Ok(Ok(Err(e))), _) => Err(run_failure(e)),
        (Ok(Err(e)), _) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "run_panicked",
            format!("the run stopped unexpectedly: {e}; resume it"),
        )),
        // Still going: the caller polls GET /v1/runs/{id}.
        (Err(_), Ok(id)) => Ok((
            StatusCode::ACCEPTED,
            RunOutcome {
                run_id: id,
                status: RunStatus::Running,
                output: None,
                reason: None,
            },
        )),
        (Err(_), Err(_)) => Err(ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "deadline",
            "the run did not start within the wait; look for it in GET /v1/runs/{id} later",
        )),
    }
}

fn wait_of(shared: &Shared, wait_ms: Option<u64>) -> Duration {
    // Answer before the request deadline cuts the answer off.
    let cap = shared
        .config()
        .limits
        .request_timeout()
        .saturating_sub(Duration::from_millis(50));
    wait_ms
        .map_or(Duration::ZERO, Duration::from_millis)
        .min(cap)
}

/// A new run of a served pipeline.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StartRequest {
    /// The first step's input (any JSON).
    #[serde(default)]
    input: Value,
    /// How long to wait for the run to end before answering `202` with its id.
    #[serde(default)]
    wait_ms: Option<u64>,
}

/// `POST /v1/pipelines/{name}/runs`: starts a run of a configured pipeline.
pub async fn start(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<RunOutcome>), ApiError> {
    authorize_caller(&shared, &headers, Scope::Run)?;
    let request: StartRequest = parse(body, &[], "the run request")?;
    let wait = wait_of(&shared, request.wait_ms);
    let (status, body) = drive(&shared, &name, Some(request.input), None, wait).await?;
    Ok((status, Json(body)))
}

/// Going on with a run.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResumeRequest {
    /// How long to wait for the run to end before answering `202` with its id.
    #[serde(default)]
    wait_ms: Option<u64>,
}

/// `POST /v1/runs/{id}/resume`: goes on with a run from where the ledger has it.
pub async fn resume(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<RunOutcome>), ApiError> {
    authorize_caller(&shared, &headers, Scope::Run)?;
    let request: ResumeRequest = parse(body, &[], "the resume request")?;
    let ledger = ledger_of(&shared)?;
    let run = tokio::task::block_in_place(|| ledger.run(&id)).map_err(ledger_failure)?;
    if run.cursor == OUTSIDE_CURSOR {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "run_conflict",
            format!("run `{id}` runs outside seam (its checks were recorded through this server); its own orchestrator drives it"),
        ));
    }
    let wait = wait_of(&shared, request.wait_ms);
    let (status, body) = drive(&shared, &run.pipeline, None, Some(id), wait).await?;
    Ok((status, Json(body)))
}

/// A run as the ledger has it.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RunDoc {
    pub run_id: String,
    pub pipeline: String,
    /// `running`, `waiting`, `completed`, `rejected` or `failed`.
    pub status: String,
    /// Whether its checks were recorded from outside (its own orchestrator drives it).
    pub outside: bool,
    pub input: Value,
    pub output: Option<Value>,
    pub reason: Option<String>,
    /// Unix milliseconds.
    pub created_at: i64,
    pub updated_at: i64,
    pub steps: Vec<StepDoc>,
    pub reviews: Vec<ReviewRow>,
}

/// One step execution of a run.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StepDoc {
    pub step: String,
    pub attempt: u32,
    pub status: String,
    pub output: Option<Value>,
    pub error: Option<String>,
}

/// `GET /v1/runs/{id}`: the run's state, its step executions and its reviews.
pub async fn show(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<RunDoc>, ApiError> {
    authorize_reading(&shared, &headers, Scope::Run)?;
    let ledger = ledger_of(&shared)?;
    let (run, steps, reviews) = tokio::task::block_in_place(|| {
        let run = ledger.run(&id)?;
        let steps = ledger.step_runs(&id)?;
        let reviews: Vec<_> = ledger
            .reviews(None)?
            .into_iter()
            .filter(|r| r.run_id == id)
            .collect();
        Ok::<_, LedgerError>((run, steps, reviews))
    })
    .map_err(ledger_failure)?;
    let parse_json = |s: &str| serde_json::from_str::<Value>(s).unwrap_or(Value::String(s.into()));
    Ok(Json(RunDoc {
        outside: run.cursor == OUTSIDE_CURSOR,
        input: parse_json(&run.input),
        output: run.output.as_deref().map(parse_json),
        run_id: run.id,
        pipeline: run.pipeline,
        status: run.status,
        reason: run.reason,
        created_at: run.created_at,
        updated_at: run.updated_at,
        steps: steps
            .into_iter()
            .map(|s| StepDoc {
                output: s.output.as_deref().map(parse_json),
                step: s.step,
                attempt: s.attempt,
                status: s.status,
                error: s.error,
            })
            .collect(),
        reviews,
    }))
}

/// `GET /v1/reviews`'s query.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewQuery {
    /// `pending` (default) or `all`.
    status: Option<String>,
}

/// Reviews, oldest first.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReviewsResponse {
    pub reviews: Vec<ReviewRow>,
}

/// `GET /v1/reviews`: pending reviews, oldest first (`?status=all` for every one).
pub async fn reviews(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<Query<ReviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ReviewsResponse>, ApiError> {
    authorize_reading(&shared, &headers, Scope::Review)?;
    let Query(q) =
        query.map_err(|e| ApiError::invalid(format!("the review query: {}", e.body_text())))?;
    let status = match q.status.as_deref() {
        None | Some("pending") => Some("pending"),
        Some("all") => None,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "the review query: `status` {other:?}: use pending or all"
            )))
        }
    };
    let ledger = ledger_of(&shared)?;
    let rows = tokio::task::block_in_place(|| ledger.reviews(status)).map_err(ledger_failure)?;
    Ok(Json(ReviewsResponse { reviews: rows }))
}

/// `GET /v1/reviews/{id}`.
pub async fn review(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<ReviewRow>, ApiError> {
    authorize_reading(&shared, &headers, Scope::Review)?;
    let id = review_id(&id)?;
    let ledger = ledger_of(&shared)?;
    let row = tokio::task::block_in_place(|| ledger.review(id)).map_err(ledger_failure)?;
    Ok(Json(row))
}

fn review_id(id: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no review `{id}`: review ids are numbers (see GET /v1/reviews)"),
        )
    })
}

/// A person's decision on a review.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecideRequest {
    /// Who decided (default: the token's name, or `api` without tokens).
    #[serde(default)]
    by: Option<String>,
    /// Why, in the decider's words (kept in the ledger and the feedback export).
    #[serde(default)]
    note: Option<String>,
    /// An edited payload to go on with instead (accept only).
    #[serde(default)]
    payload: Option<Value>,
    /// How long to wait for the resumed run to end before answering `202`.
    #[serde(default)]
    wait_ms: Option<u64>,
}

/// A decided review and, when the server drives its run, how the run went on.
#[derive(Debug, Serialize, JsonSchema)]
pub struct DecideResponse {
    pub review: ReviewRow,
    /// The resumed run's outcome (`null` when this server does not drive the run).
    pub run: Option<RunOutcome>,
    pub resumed: bool,
    /// How to resume a run this server does not drive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `POST /v1/reviews/{id}/accept` and `/reject`: records the decision, then resumes
/// the run (a run of a pipeline this server serves; an outside run's orchestrator reads
/// the decision itself).
pub async fn decide(
    State(shared): State<Arc<Shared>>,
    Path((id, verb)): Path<(String, String)>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<DecideResponse>), ApiError> {
    let caller = authorize_caller(&shared, &headers, Scope::Review)?;
    let id = review_id(&id)?;
    let accept = match verb.as_str() {
        "accept" => true,
        "reject" => false,
        other => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no endpoint POST /v1/reviews/{id}/{other}; use accept or reject"),
            ))
        }
    };
    let request: DecideRequest = parse(body, &[], "the review decision")?;
    if !accept && request.payload.is_some() {
        return Err(ApiError::invalid(
            "the review decision: `payload` goes with accept (an edited payload to go on with), not reject",
        ));
    }
    let by = request
        .by
        .clone()
        .filter(|b| !b.trim().is_empty())
        .or(caller)
        .unwrap_or_else(|| "api".into());
    let (status, response) = decide_and_resume(
        &shared,
        id,
        accept,
        &by,
        request.note.as_deref(),
        request.payload.as_ref(),
        request.wait_ms,
    )
    .await?;
    Ok((status, Json(response)))
}

/// Records a person's decision on review `id`, then resumes its run when this server
/// drives it, waiting up to `wait_ms` for the run to end (`202` when it goes on
/// longer). Shared by the API and the reviewers' page. A review decided already is
/// `409 already_decided`, and nothing is recorded.
pub(crate) async fn decide_and_resume(
    shared: &Arc<Shared>,
    id: i64,
    accept: bool,
    by: &str,
    note: Option<&str>,
    payload: Option<&Value>,
    wait_ms: Option<u64>,
) -> Result<(StatusCode, DecideResponse), ApiError> {
    let ledger = ledger_of(shared)?;
    let decided =
        tokio::task::block_in_place(|| decide_review(&*ledger, id, accept, by, note, payload))
            .map_err(|e| match e {
                RunError::AlreadyDecided { .. } => {
                    ApiError::new(StatusCode::CONFLICT, "already_decided", e.to_string())
                }
                other => run_failure(other),
            })?;
    let run =
        tokio::task::block_in_place(|| ledger.run(&decided.run_id)).map_err(ledger_failure)?;
    let not_resumed = |note: Option<String>| DecideResponse {
        review: decided.clone(),
        run: None,
        resumed: false,
        note,
    };
    if run.cursor == OUTSIDE_CURSOR {
        return Ok((StatusCode::OK, not_resumed(None)));
    }
    let config = shared.config();
    if find_pipeline(&config, &run.pipeline).is_err() {
        let note = format!(
            "pipeline `{}` is not served here; resume with: seam run {} --resume {}",
            run.pipeline, run.pipeline_file, run.id
        );
        return Ok((StatusCode::OK, not_resumed(Some(note))));
    }
    let wait = wait_of(shared, wait_ms);
    let (status, outcome) = drive(shared, &run.pipeline, None, Some(run.id.clone()), wait).await?;
    Ok((
        status,
        DecideResponse {
            review: decided,
            run: Some(outcome),
            resumed: true,
            note: None,
        },
    ))
}

/// Orphans claimed per look: the rest wait for the next one (so one server does not
/// take every orphan of a dead peer at once).
const PICKUPS_PER_LOOK: usize = 8;

/// Takes over the served pipelines' orphaned runs — a dead server's running runs once
/// their claims lapse, and waiting runs whose review was decided while nobody resumed
/// them — every `[runs] pickup_interval_ms`, until the server stops. Each is claimed
/// with a holder of its own and resumed exactly after its last record.
pub(crate) async fn pick_up_orphans(shared: Arc<Shared>) {
    let Some(ledger) = shared.ledger.clone() else {
        return;
    };
    let me = &seam_types::sha256_hex(format!("instance:{}", shared.ui_secret).as_bytes())[..12];
    let mut picked: u64 = 0;
    loop {
        let config = shared.config();
        let interval = config.runs.pickup_interval_ms;
        tokio::time::sleep(Duration::from_millis(if interval == 0 {
            1000
        } else {
            interval
        }))
        .await;
        if interval == 0 || config.pipelines.is_empty() {
            continue;
        }
        let names: Vec<String> = config.pipelines.iter().map(|p| p.name.clone()).collect();
        for _ in 0..PICKUPS_PER_LOOK {
            picked += 1;
            let holder = format!("seam serve {me} pid {} pickup {picked}", std::process::id());
            let (lease, grace) = (config.runs.lease(), config.runs.takeover_grace());
            let found = {
                let (ledger, holder, names) = (ledger.clone(), holder.clone(), names.clone());
                tokio::task::spawn_blocking(move || {
                    ledger.claim_orphan(&holder, &names, lease, grace)
                })
                .await
            };
            match found {
                Ok(Ok(Some(orphan))) => {
                    tracing::info!(run = %orphan.run_id, pipeline = %orphan.pipeline, "taking over an orphaned run");
                    shared.metrics.runs_taken_over.inc();
                    tokio::spawn(take_over(shared.clone(), config.clone(), orphan, holder));
                }
                Ok(Ok(None)) => break,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "looking for orphaned runs failed; trying again later");
                    break;
                }
                Err(_) => break,
            }
        }
    }
}

/// Resumes a claimed orphan under `holder`. A run that cannot go on is held for a
/// lease before it is looked at again, so a broken run is not retried in a loop.
async fn take_over(
    shared: Arc<Shared>,
    config: Arc<Config>,
    orphan: seam_ledger::Orphan,
    holder: String,
) {
    let Some(ledger) = shared.ledger.clone() else {
        return;
    };
    let _ = tokio::task::spawn_blocking(move || {
        let Some(pipeline) = config.pipelines.iter().find(|p| p.name == orphan.pipeline) else {
            return;
        };
        let lease = config.runs.lease();
        let runner = Runner::new(pipeline, &*ledger, &seam_pipeline::Silent)
            .with_lease(lease)
            .with_holder(holder.clone());
        match runner.resume(&orphan.run_id) {
            Ok(outcome) => tracing::info!(
                run = %orphan.run_id,
                status = outcome.status.as_str(),
                "an orphaned run went on"
            ),
            Err(e) => {
                tracing::warn!(run = %orphan.run_id, error = %e, "an orphaned run could not go on; looking at it again after a lease");
                let _ = ledger.claim(&orphan.run_id, &holder, lease);
            }
        }
    })
    .await;
}
