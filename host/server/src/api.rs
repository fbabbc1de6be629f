//! The handlers, their request bodies and the JSON error every failure answers with.

use std::sync::Arc;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use seam_pipeline::standalone::{action, Checked, DecisionDoc, StandaloneSeam};
use seam_runtime::{check_all, CheckReport, Limits, Outcome, Plugin};
use seam_types::{Handoff, PluginKind};

use crate::auth::{self, Denied, Scope};
use crate::metrics::AD_HOC;
use crate::{Config, Shared};

/// A failed request: its status and a JSON body
/// `{"error": {"status": 422, "code": "…", "message": "…"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    retry_after: Option<u64>,
    authenticate: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
            authenticate: false,
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    pub(crate) fn overloaded(concurrency: usize, queue: usize) -> Self {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                format!(
                    "the server is at capacity ({concurrency} requests in flight, {queue} waiting); \
                     retry after 1 s, or raise [limits] concurrency and queue"
                ),
            )
        }
    }

    pub(crate) fn deadline(ms: u64, doing: &str) -> Self {
        ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            "deadline",
            format!(
                "the request outlived its {ms} ms deadline while {doing}; raise [limits] \
                 request_timeout_ms, or send fewer handoffs per request"
            ),
        )
    }

    pub(crate) fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                code: self.code.to_string(),
                message: self.message.clone(),
            },
        }
    }
}

/// What every failed request answers with.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// A failure: the HTTP status again, a stable code to branch on, and a message that
/// says what was wrong and what to do.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ErrorDetail {
    pub status: u16,
    /// `bad_json`, `invalid_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `unknown_seam`, `body_too_large`, `overloaded`, `deadline`, `no_ledger`, …
    pub code: String,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.authenticate {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"seam\""),
            );
        }
        response
    }
}

/// Checks the caller's token for `scope`.
fn authorize(shared: &Shared, headers: &HeaderMap, scope: Scope) -> Result<(), ApiError> {
    authorize_with(shared, headers, scope, false).map(drop)
}

/// [`authorize`], returning the token's name (`None` without tokens).
pub(crate) fn authorize_caller(
    shared: &Shared,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Option<String>, ApiError> {
    authorize_with(shared, headers, scope, false)
}

/// [`authorize`] for a request that only reads (the report, reviews, a run): `view`
/// will do as well as `scope`.
pub(crate) fn authorize_reading(
    shared: &Shared,
    headers: &HeaderMap,
    scope: Scope,
) -> Result<Option<String>, ApiError> {
    authorize_among(shared, headers, &[scope, Scope::View], false)
}

/// [`authorize`]; with `x_api_key`, a token in an `x-api-key` header counts too (as
/// LiteLLM sends its `api_key`).
pub(crate) fn authorize_with(
    shared: &Shared,
    headers: &HeaderMap,
    scope: Scope,
    x_api_key: bool,
) -> Result<Option<String>, ApiError> {
    authorize_among(shared, headers, &[scope], x_api_key)
}

fn authorize_among(
    shared: &Shared,
    headers: &HeaderMap,
    scopes: &[Scope],
    x_api_key: bool,
) -> Result<Option<String>, ApiError> {
    let api_key = headers
        .get("x-api-key")
        .filter(|_| x_api_key)
        .and_then(|h| h.to_str().ok())
        .map(|k| format!("Bearer {k}"));
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or(api_key);
    match auth::authorize_any(&shared.config().tokens, header.as_deref(), scopes) {
        Ok(name) => Ok(name),
        Err(Denied::Missing) => Err(ApiError {
            authenticate: true,
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this server needs a token: send `Authorization: Bearer TOKEN`",
            )
        }),
        Err(Denied::Unknown) => Err(ApiError {
            authenticate: true,
            ..ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the bearer token is not one this server knows",
            )
        }),
        Err(Denied::Scope { token, needs }) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!(
                "token `{token}` lacks the `{}` scope this request needs; add it to the token's scopes",
                needs.as_str()
            ),
        )),
    }
}

/// A JSON request body, read up to the body cap and parsed with errors that say where.
pub struct JsonBody(pub Value);

impl FromRequest<Arc<Shared>> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, shared: &Arc<Shared>) -> Result<Self, ApiError> {
        let cap = shared.config().limits.max_body_bytes();
        let bytes = axum::body::to_bytes(request.into_body(), cap)
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    format!(
                        "the request body is over the {} KiB cap; send less, or raise [limits] max_body_kib",
                        cap >> 10
                    ),
                )
            })?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                "the request body is empty; send a JSON object",
            ));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_json",
                format!("the request body is not JSON: {e}"),
            )
        })?;
        if !value.is_object() {
            return Err(ApiError::invalid("the request body must be a JSON object"));
        }
        Ok(JsonBody(value))
    }
}

/// `value` as `T`, with `required` fields present (a missing `payload` is an error, not
/// `null`); `what` names it in messages.
pub(crate) fn parse<T: DeserializeOwned>(
    value: Value,
    required: &[&str],
    what: &str,
) -> Result<T, ApiError> {
    for field in required {
        if value.get(field).is_none() {
            return Err(ApiError::invalid(format!(
                "{what}: missing field `{field}`"
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| ApiError::invalid(format!("{what}: {e}")))
}

/// An ad-hoc gate: a standard plugin's name or `BUNDLE/PLUGIN`, with its settings.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GateSpec {
    gate: String,
    /// The plugin's settings (`seam describe PLUGIN` shows what it accepts).
    #[serde(default)]
    settings: Option<Value>,
}

/// Ad-hoc gates on one handoff.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CheckRequest {
    /// 1 to 64 gates.
    gates: Vec<GateSpec>,
    /// The handoff's payload: any JSON (a string for plain text).
    payload: Value,
    /// What the upstream step was given.
    #[serde(default)]
    context: Option<Value>,
}

/// One handoff at a configured seam.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeamCheckRequest {
    /// The handoff's payload: any JSON (a string for plain text).
    payload: Value,
    /// What the upstream step was given.
    #[serde(default)]
    context: Option<Value>,
    /// The upstream step's attempt, 1 for the first.
    #[serde(default = "one")]
    attempt: u32,
    /// Fixes already applied to this handoff.
    #[serde(default)]
    fixes: u32,
    /// Where to record the check in the ledger (none: not recorded).
    #[serde(default)]
    record: Option<crate::record::Record>,
}

fn one() -> u32 {
    1
}

/// Many handoffs at one seam.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    /// 1 to `[limits] max_batch` handoffs; each is checked on its own.
    #[schemars(with = "Vec<SeamCheckRequest>")]
    items: Vec<Value>,
}

/// One gate's check as `seam check --format json` prints it, named `gate`.
#[derive(Debug, Serialize, JsonSchema)]
pub struct GateCheck {
    /// The gate's name: the plugin's for ad-hoc gates, the seam's name for it otherwise.
    pub gate: String,
    #[serde(flatten)]
    pub report: CheckReport,
    /// What the seam does when this gate fails (seam checks only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
}

/// The verdicts of ad-hoc gates on one handoff.
#[derive(Debug, Serialize, JsonSchema)]
pub struct CheckResponse {
    /// Whether every gate answered and passed.
    pub passed: bool,
    pub gates: Vec<GateCheck>,
}

/// The router's answer at a seam, or why there is none.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RouteDoc {
    pub router: String,
    /// Microseconds.
    pub duration: u64,
    pub log: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The error, when the router could not answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error's kind (`timeout`, `trap`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// Where a recorded check went in the ledger.
#[derive(Debug, Serialize, JsonSchema)]
pub struct RecordedDoc {
    pub pipeline: String,
    pub run: String,
    pub handoff_id: i64,
    /// The review the check opened, when the decision is `human`.
    pub review_id: Option<i64>,
}

/// A configured seam's verdicts on one handoff and its decision.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SeamCheckResponse {
    pub seam: String,
    /// Whether every gate passed (errors allowed by `on_error = "allow"` count as passed).
    pub passed: bool,
    pub gates: Vec<GateCheck>,
    /// What the caller does next.
    pub decision: DecisionDoc,
    /// The router's answer, when the seam has a router and it was asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<RouteDoc>,
    /// Where the check was recorded, when the request asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded: Option<RecordedDoc>,
}

/// One batch item's answer: its check, or its own error.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum BatchItem {
    Checked(Box<SeamCheckResponse>),
    Failed(ErrorBody),
}

/// A batch's answers, in the order of its items.
#[derive(Debug, Serialize, JsonSchema)]
pub struct BatchResponse {
    pub seam: String,
    pub results: Vec<BatchItem>,
}

fn handoff(payload: &Value, context: Option<&Value>) -> Handoff {
    let mut h = Handoff::new(payload.to_string());
    if let Some(c) = context {
        h.context = c.to_string();
    }
    h
}

/// Most gates in one ad-hoc check.
pub const MAX_AD_HOC_GATES: usize = 64;

/// An ad-hoc gate: a standard plugin or `BUNDLE/PLUGIN` from the configured bundle
/// paths, never a file path; loaded once per name and settings.
async fn ad_hoc_gate(
    shared: &Shared,
    config: &Config,
    spec: &GateSpec,
) -> Result<Plugin, ApiError> {
    let settings = spec.settings.clone().unwrap_or_else(|| json!({}));
    let key = (spec.gate.clone(), settings.to_string());
    {
        let mut cache = shared.ad_hoc.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = cache.iter().position(|(k, _)| *k == key) {
            let entry = cache.remove(i);
            let plugin = entry.1.clone();
            cache.push(entry);
            return Ok(plugin);
        }
    }
    let source = gate_source(config, &spec.gate)?;
    let plugin = shared
        .runtime
        .load_async(source, PluginKind::Gate, settings, Limits::default())
        .await
        .map_err(|e| ApiError::invalid(format!("gate `{}`: {e}", spec.gate)))?;
    let cap = config.limits.cached_gates;
    if cap > 0 {
        let mut cache = shared.ad_hoc.lock().unwrap_or_else(|e| e.into_inner());
        if !cache.iter().any(|(k, _)| *k == key) {
            if cache.len() >= cap {
                cache.remove(0);
            }
            cache.push((key, plugin.clone()));
        }
    }
    Ok(plugin)
}

/// A plugin named in a request: a standard plugin or `BUNDLE/PLUGIN` from the
/// configured bundle paths, never a file path.
pub(crate) fn gate_source(
    config: &Config,
    name: &str,
) -> Result<seam_runtime::PluginSource, ApiError> {
    Ok(match seam_runtime::standard(name) {
        Some(s) => s,
        None => match seam_bundle::PluginRef::parse(name) {
            Some(Ok(r)) if !name.ends_with(".wasm") => config
                .resolver
                .source(&r)
                .map(|(_, source)| source)
                .map_err(|e| ApiError::invalid(format!("gate `{name}`: {e}")))?,
            Some(Err(e)) => return Err(ApiError::invalid(format!("gate `{name}`: {e}"))),
            _ => {
                let names = seam_runtime::std_plugins::names();
                let hint = seam_runtime::nearest(name, &names)
                    .map(|n| format!("did you mean `{n}`? "))
                    .unwrap_or_default();
                return Err(ApiError::invalid(format!(
                    "unknown gate `{name}`: {hint}the server loads standard gates ({}) and \
                     BUNDLE/PLUGIN from its bundle paths, never files",
                    names.join(", ")
                )));
            }
        },
    })
}

/// `POST /v1/check`: ad-hoc gates on one handoff → the verdicts, as `seam check
/// --format json` prints them.
pub async fn check(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<CheckResponse>, ApiError> {
    authorize(&shared, &headers, Scope::Check)?;
    Ok(Json(ad_hoc_check(&shared, body).await?))
}

/// Ad-hoc gates on one handoff (`POST /v1/check`'s body as `request`), for the API and
/// MCP's `check` tool.
pub(crate) async fn ad_hoc_check(
    shared: &Shared,
    request: Value,
) -> Result<CheckResponse, ApiError> {
    let request: CheckRequest = parse(request, &["gates", "payload"], "the check request")?;
    if request.gates.is_empty() || request.gates.len() > MAX_AD_HOC_GATES {
        return Err(ApiError::invalid(format!(
            "the check request: `gates` must name 1 to {MAX_AD_HOC_GATES} gates, e.g. [{{\"gate\": \"max-words\", \"settings\": {{\"max\": 120}}}}]"
        )));
    }
    let config = shared.config();
    let mut plugins = Vec::with_capacity(request.gates.len());
    for spec in &request.gates {
        plugins.push(ad_hoc_gate(shared, &config, spec).await?);
    }
    let h = handoff(&request.payload, request.context.as_ref());
    let reports = check_all(&plugins, &h).await;
    let mut passed = true;
    let gates: Vec<GateCheck> = reports
        .into_iter()
        .map(|r| {
            shared.metrics.check(AD_HOC, &r.plugin, &r);
            if let Some(t) = &shared.telemetry {
                t.gate(AD_HOC, &r.plugin, &r, None);
            }
            passed &= matches!(&r.outcome, Outcome::Verdict(v) if v.passed);
            GateCheck {
                gate: r.plugin.clone(),
                report: r,
                policy: None,
            }
        })
        .collect();
    Ok(CheckResponse { passed, gates })
}

pub(crate) fn find_seam<'a>(
    config: &'a Config,
    name: &str,
) -> Result<&'a StandaloneSeam, ApiError> {
    config.seams.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = config.seams.iter().map(|s| s.name.as_str()).collect();
        let hint = seam_runtime::nearest(name, &names)
            .map(|n| format!("did you mean `{n}`? "))
            .unwrap_or_default();
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_seam",
            format!(
                "no seam `{name}` in {}: {hint}its seams: {}",
                config.file.display(),
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        )
    })
}

/// Counts a checked handoff's gate checks and decision in the metrics (and traces them).
pub(crate) fn count_checked(shared: &Shared, seam: &StandaloneSeam, checked: &Checked) {
    if let Some(t) = &shared.telemetry {
        t.checked(&seam.name, checked);
    }
    for r in &checked.results {
        shared.metrics.check(&seam.name, &r.gate, &r.report);
    }
    shared
        .metrics
        .decisions
        .get_or_create(&crate::metrics::DecisionLabels {
            seam: seam.name.clone(),
            action: action(&checked.decision).to_string(),
        })
        .inc();
}

/// A checked handoff as the seam endpoints answer it.
fn checked_doc(shared: &Shared, seam: &StandaloneSeam, checked: &Checked) -> SeamCheckResponse {
    count_checked(shared, seam, checked);
    let gates = checked
        .results
        .iter()
        .map(|r| GateCheck {
            gate: r.gate.clone(),
            report: r.report.clone(),
            policy: Some(r.policy.to_string()),
        })
        .collect();
    let route = checked.route.as_ref().map(|route| {
        let (target, reason, error, cause) = match &route.route {
            Ok(answer) => (
                Some(answer.target.clone()),
                Some(answer.reason.clone()),
                None,
                None,
            ),
            Err(cause) => (
                None,
                None,
                Some(cause.to_string()),
                Some(cause.kind().to_string()),
            ),
        };
        RouteDoc {
            router: route.plugin.clone(),
            duration: route.duration.as_micros() as u64,
            log: route.log.clone(),
            target,
            reason,
            error,
            cause,
        }
    });
    SeamCheckResponse {
        seam: seam.name.clone(),
        passed: checked.passed(),
        gates,
        decision: DecisionDoc::of(checked),
        route,
        recorded: None,
    }
}

pub(crate) async fn check_one(
    shared: &Shared,
    seam: &StandaloneSeam,
    item: Value,
) -> Result<SeamCheckResponse, ApiError> {
    let request: SeamCheckRequest = parse(item, &["payload"], "the handoff")?;
    if request.attempt == 0 {
        return Err(ApiError::invalid(
            "the handoff: `attempt` counts from 1 (the upstream step's first attempt)",
        ));
    }
    let ledger = match &request.record {
        None => None,
        Some(r) => {
            r.validate().map_err(crate::record::api_error)?;
            let ledger = shared.ledger.clone().ok_or_else(|| {
                ApiError::invalid(format!(
                    "`record` needs a ledger, and this server has none: set `ledger = \"FILE\"` in {}",
                    shared.config().file.display()
                ))
            })?;
            Some(ledger)
        }
    };
    let h = handoff(&request.payload, request.context.as_ref());
    let checked = seam.check(&h, request.attempt, request.fixes).await;
    let mut doc = checked_doc(shared, seam, &checked);
    if let (Some(ledger), Some(r)) = (ledger, &request.record) {
        let origin = format!("seam serve ({})", shared.config().file.display());
        // A SQLite write takes about a millisecond: done in place, off the async path.
        let recorded = tokio::task::block_in_place(|| {
            crate::record::record(&*ledger, &origin, seam, r, &h, request.attempt, &checked)
        })
        .map_err(crate::record::api_error)?;
        doc.recorded = Some(RecordedDoc {
            pipeline: r.pipeline.clone(),
            run: r.run.clone(),
            handoff_id: recorded.handoff_id,
            review_id: recorded.review_id,
        });
    }
    Ok(doc)
}

/// `POST /v1/seams/{name}/check`: a configured seam on one handoff → the verdicts and
/// the decision.
pub async fn seam_check(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<SeamCheckResponse>, ApiError> {
    authorize(&shared, &headers, Scope::Check)?;
    let config = shared.config();
    let seam = find_seam(&config, &name)?;
    Ok(Json(check_one(&shared, seam, body).await?))
}

/// `POST /v1/seams/{name}/batch`: many handoffs, one result each, in order; a bad item
/// gets its own error and never fails the others.
pub async fn seam_batch(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<BatchResponse>, ApiError> {
    authorize(&shared, &headers, Scope::Check)?;
    let config = shared.config();
    let seam = find_seam(&config, &name)?;
    let request: BatchRequest = parse(body, &["items"], "the batch request")?;
    let cap = config.limits.max_batch;
    if request.items.is_empty() || request.items.len() > cap {
        return Err(ApiError::invalid(format!(
            "the batch request: `items` must hold 1 to {cap} handoffs ([limits] max_batch), it holds {}",
            request.items.len()
        )));
    }
    let mut results = Vec::with_capacity(request.items.len());
    for (i, item) in request.items.into_iter().enumerate() {
        let item = if item.is_object() {
            check_one(&shared, seam, item).await
        } else {
            Err(ApiError::invalid("the handoff must be a JSON object"))
        };
        results.push(match item {
            Ok(v) => BatchItem::Checked(Box::new(v)),
            Err(e) => {
                let mut body = e.body();
                body.error.message = format!("item {i}: {}", e.message);
                BatchItem::Failed(body)
            }
        });
    }
    Ok(Json(BatchResponse {
        seam: seam.name.clone(),
        results,
    }))
}

/// A configured seam: its gates, router and policies.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SeamDoc {
    pub name: String,
    pub description: String,
    pub gates: Vec<SeamGateDoc>,
    /// The router plugin, when the seam has one.
    pub router: Option<String>,
    pub max_retries: u32,
    pub max_fixes: u32,
    /// The steps a router may choose.
    pub routes: Vec<String>,
}

/// A gate of a configured seam.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SeamGateDoc {
    /// The gate's name in the seam.
    pub gate: String,
    pub plugin: String,
    pub version: String,
    /// SHA-256 of the plugin's component.
    pub digest: String,
    /// What a failed check does: `retry`, `fix`, `escalate`, `reject`, …
    pub on_fail: String,
    /// What an error verdict does: `block` or `allow`.
    pub on_error: String,
}

/// The configured seams.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SeamsResponse {
    pub seams: Vec<SeamDoc>,
}

/// `GET /v1/seams`: the configured seams, their gates, router and policies.
pub async fn seams(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<SeamsResponse>, ApiError> {
    authorize(&shared, &headers, Scope::Check)?;
    Ok(Json(seams_doc(&shared.config())))
}

/// The configuration's seams as `GET /v1/seams` (and MCP's `list_gates`) describe them.
pub(crate) fn seams_doc(config: &Config) -> SeamsResponse {
    let seams = config
        .seams
        .iter()
        .map(|s| SeamDoc {
            name: s.name.clone(),
            description: s.description.clone(),
            gates: s
                .gates
                .iter()
                .map(|g| SeamGateDoc {
                    gate: g.name.clone(),
                    plugin: g.plugin.name().to_string(),
                    version: g.plugin.info().version.clone(),
                    digest: g.plugin.digest().to_string(),
                    on_fail: g.on_fail.to_string(),
                    on_error: match g.on_error {
                        seam_pipeline::OnError::Block => "block",
                        seam_pipeline::OnError::Allow => "allow",
                    }
                    .to_string(),
                })
                .collect(),
            router: s.router.as_ref().map(|r| r.plugin.name().to_string()),
            max_retries: s.max_retries,
            max_fixes: s.max_fixes,
            routes: s.routes.clone(),
        })
        .collect();
    SeamsResponse { seams }
}

/// `GET /v1/report`'s query: `seam report`'s filters and the format.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportQuery {
    /// Only this pipeline.
    pipeline: Option<String>,
    /// Only this run.
    run: Option<String>,
    /// Only runs created since: a duration before now (`30m`, `24h`, `7d`), an RFC 3339
    /// time (`2026-11-01T00:00:00Z`) or unix milliseconds.
    since: Option<String>,
    /// Only runs created before: the same forms as `since`.
    until: Option<String>,
    /// `json` (default) or `html`.
    format: Option<String>,
}

/// `GET /v1/report`: the reliability report over the ledger, with `seam report`'s
/// filters (`pipeline`, `run`, `since`, `until`); `format=html` for the page.
pub async fn report(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    authorize_reading(&shared, &headers, Scope::Review)?;
    let axum::extract::Query(q) =
        query.map_err(|e| ApiError::invalid(format!("the report query: {}", e.body_text())))?;
    let ledger = crate::runs::ledger_of(&shared)?;
    let now = seam_ledger::now_ms();
    let time = |spec: &Option<String>, name: &str| {
        spec.as_deref()
            .map(|s| {
                seam_ledger::report::parse_time(s, now).map_err(|e| {
                    ApiError::invalid(format!("the report query: `{name}` {s:?}: {e}"))
                })
            })
            .transpose()
    };
    let filter = seam_ledger::report::Filter {
        pipeline: q.pipeline.clone(),
        run: q.run.clone(),
        since_ms: time(&q.since, "since")?,
        until_ms: time(&q.until, "until")?,
    };
    let html = match q.format.as_deref() {
        None | Some("json") => false,
        Some("html") => true,
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "the report query: `format` {other:?}: use json or html"
            )))
        }
    };
    let report = tokio::task::block_in_place(|| ledger.report(&filter)).map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ledger",
            format!("reading the report from the ledger failed: {e}"),
        )
    })?;
    Ok(if html {
        let title = format!("seam reliability report — {}", ledger.location());
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            seam_ledger::report::render_html(&report, &title),
        )
            .into_response()
    } else {
        Json(report).into_response()
    })
}

/// `GET /healthz`'s answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Health {
    /// `alive`.
    pub status: String,
}

/// `GET /healthz`: the process answers.
pub async fn healthz() -> Json<Health> {
    Json(Health {
        status: "alive".into(),
    })
}

/// `GET /readyz`'s answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: String,
    pub seams: usize,
    pub gates: usize,
    /// Where the ledger is, when the server has one.
    pub ledger: Option<String>,
}

/// `GET /readyz`: the configuration's plugins are loaded and checks can be served.
pub async fn readyz(State(shared): State<Arc<Shared>>) -> Result<Json<Readiness>, ApiError> {
    let config = shared.config();
    let ledger = match &shared.ledger {
        None => None,
        Some(ledger) => {
            // A run that cannot exist: `not found` proves the ledger answers.
            match tokio::task::block_in_place(|| ledger.run("\u{0}readyz")) {
                Ok(_) | Err(seam_ledger::LedgerError::NotFound { .. }) => Some(ledger.location()),
                Err(e) => {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "not_ready",
                        format!("the ledger {} does not answer: {e}", ledger.location()),
                    ))
                }
            }
        }
    };
    Ok(Json(Readiness {
        status: "ready".into(),
        seams: config.seams.len(),
        gates: config.seams.iter().map(|s| s.gates.len()).sum(),
        ledger,
    }))
}

/// `POST /v1/admin/reload`'s answer.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ReloadResponse {
    pub reloaded: bool,
    /// The names of the seams now served.
    pub seams: Vec<String>,
    /// Changed settings that take effect only at a restart (`listen`, `concurrency`, …).
    pub needs_restart: Vec<String>,
}

/// `POST /v1/admin/reload`: reads the configuration file again and swaps it in when
/// the whole of it is valid; otherwise `422` with its error, and the old one serves on.
pub async fn reload(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Json<ReloadResponse>, ApiError> {
    authorize(&shared, &headers, Scope::Admin)?;
    match shared.reload().await {
        Ok(r) => Ok(Json(ReloadResponse {
            reloaded: true,
            seams: r.seams,
            needs_restart: r.needs_restart,
        })),
        Err(message) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_config",
            format!("{message}; the configuration in force is unchanged"),
        )),
    }
}

/// `GET /metrics`: Prometheus text format (the `admin` scope when tokens are set).
pub async fn metrics(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize(&shared, &headers, Scope::Admin)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(),
    )
        .into_response())
}

/// Any other path.
pub async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no endpoint {} {}; see GET /v1/seams and docs/server.md",
            request.method(),
            request.uri().path()
        ),
    )
}

/// A known path with the wrong method.
pub async fn method_not_allowed(request: Request) -> ApiError {
    let path = request.uri().path();
    let allowed = crate::openapi::methods_at(path)
        .iter()
        .map(|m| m.to_uppercase())
        .collect::<Vec<_>>()
        .join(" or ");
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {path}; use {allowed}",
            request.method()
        ),
    )
}
