//! The contracts other systems already speak, answered by a configured seam:
//!
//! - LiteLLM's Generic Guardrail API: `POST /v1/litellm/{seam}/beta/litellm_basic_guardrail_api`
//!   (LiteLLM's `api_base` is `http://HOST:7878/v1/litellm/SEAM`; it appends the rest).
//!   Each of `texts` is a handoff; `BLOCKED` with the seam's reason when one is
//!   rejected, sent back for a retry, escalated, routed elsewhere or not checkable;
//!   `GUARDRAIL_INTERVENED` with the repaired `texts` when a gate's fix applies; `NONE`
//!   otherwise.
//! - NeMo Guardrails' `POST /v1/guardrail/checks`: `guardrails.config_id` (or
//!   `config_ids`) names seams; user messages are checked as `SEAM input`, assistant
//!   messages as `SEAM output`; `status` is `blocked` when any is.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use seam_pipeline::policy::Decision;
use seam_pipeline::standalone::{Checked, StandaloneSeam};
use seam_types::Handoff;

use crate::api::{authorize_with, count_checked, find_seam, parse, ApiError, JsonBody};
use crate::auth::Scope;
use crate::Shared;

/// What an outside contract can do with a seam's decision.
enum Outcome {
    Pass,
    Fixed(String),
    Blocked(String),
}

fn outcome(seam: &StandaloneSeam, checked: &Checked) -> Outcome {
    match &checked.decision {
        Decision::Next(_) | Decision::Done => Outcome::Pass,
        Decision::Fix { payload, .. } => {
            // A text's fix is a JSON string; anything else is handed on as JSON text.
            let text = match serde_json::from_str::<Value>(payload) {
                Ok(Value::String(s)) => s,
                _ => payload.clone(),
            };
            Outcome::Fixed(text)
        }
        Decision::Retry { feedback } => Outcome::Blocked(format!(
            "seam `{}`: {}",
            seam.name,
            seam_pipeline::adapters::feedback_text(feedback)
        )),
        _ => Outcome::Blocked(format!("seam `{}`: {}", seam.name, checked.reason)),
    }
}

/// The fields of LiteLLM's request that seam reads; every other field (and `null`s,
/// which LiteLLM sends for whatever is empty) is accepted and ignored.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct LiteLlmRequest {
    /// Each text is checked as a handoff at the seam.
    #[serde(default)]
    texts: Option<Vec<String>>,
    /// `request` or `response`, passed to the gates in the context.
    #[serde(default)]
    input_type: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    litellm_call_id: Option<String>,
}

/// LiteLLM's guardrail verdict.
#[derive(Debug, Serialize, JsonSchema)]
pub struct LiteLlmResponse {
    pub action: LiteLlmAction,
    /// Why, for `BLOCKED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_reason: Option<String>,
    /// The repaired texts, for `GUARDRAIL_INTERVENED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub texts: Option<Vec<String>>,
}

/// What LiteLLM does with the call.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LiteLlmAction {
    /// Nothing to do: every text passed.
    None,
    /// Refuse the call (`blocked_reason` says why).
    Blocked,
    /// Go on with the repaired `texts`.
    GuardrailIntervened,
}

/// `POST /v1/litellm/{seam}/beta/litellm_basic_guardrail_api`. LiteLLM sends its
/// `api_key` as `x-api-key`, which is read as the bearer token.
pub async fn litellm(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<LiteLlmResponse>, ApiError> {
    authorize_with(&shared, &headers, Scope::Check, true)?;
    let config = shared.config();
    let seam = find_seam(&config, &name)?;
    let request: LiteLlmRequest = parse(body, &[], "the LiteLLM guardrail request")?;
    let texts = request.texts.unwrap_or_default();
    let context = json!({
        "input_type": request.input_type,
        "model": request.model,
        "litellm_call_id": request.litellm_call_id,
    })
    .to_string();
    let mut replaced = texts.clone();
    let mut intervened = false;
    for (i, text) in texts.iter().enumerate() {
        let mut h = Handoff::new(Value::String(text.clone()).to_string());
        h.context = context.clone();
        let checked = seam.check(&h, 1, 0).await;
        count_checked(&shared, seam, &checked);
        match outcome(seam, &checked) {
            Outcome::Pass => {}
            Outcome::Fixed(t) => {
                replaced[i] = t;
                intervened = true;
            }
            Outcome::Blocked(reason) => {
                let reason = if texts.len() > 1 {
                    format!("text {i}: {reason}")
                } else {
                    reason
                };
                return Ok(Json(LiteLlmResponse {
                    action: LiteLlmAction::Blocked,
                    blocked_reason: Some(reason),
                    texts: None,
                }));
            }
        }
    }
    Ok(Json(if intervened {
        LiteLlmResponse {
            action: LiteLlmAction::GuardrailIntervened,
            blocked_reason: None,
            texts: Some(replaced),
        }
    } else {
        LiteLlmResponse {
            action: LiteLlmAction::None,
            blocked_reason: None,
            texts: None,
        }
    }))
}

/// Which seams check the messages.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct NemoGuardrails {
    /// A seam of this server.
    #[serde(default)]
    config_id: Option<String>,
    /// Seams of this server, each checking every message.
    #[serde(default)]
    config_ids: Option<Vec<String>>,
    /// Inline configurations are refused: name a seam.
    #[serde(default)]
    config: Option<Value>,
}

/// An OpenAI-style chat message.
#[derive(Deserialize, JsonSchema)]
pub(crate) struct NemoMessage {
    /// `user` messages are checked as input, `assistant` ones as output; others are
    /// skipped.
    role: String,
    /// A string, or OpenAI content parts whose `text`s are joined.
    #[serde(default)]
    content: Option<Value>,
}

/// The part of NeMo's request seam reads (the OpenAI parameters beside it are accepted
/// and ignored: a check never calls a model).
#[derive(Deserialize, JsonSchema)]
pub(crate) struct NemoRequest {
    #[allow(dead_code)]
    model: String,
    messages: Vec<NemoMessage>,
    #[serde(default)]
    guardrails: Option<NemoGuardrails>,
}

/// A message's text: a string, or the `text` parts of an OpenAI content array.
fn message_text(content: &Option<Value>) -> Option<String> {
    match content {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Array(parts)) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

/// NeMo Guardrails' check result.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NemoResponse {
    /// `success`, or `blocked` when any rail blocked.
    pub status: String,
    /// Per `SEAM input` / `SEAM output`: `{"status": "success" | "blocked"}`.
    pub rails_status: BTreeMap<String, NemoRail>,
    pub guardrails_data: NemoData,
}

/// One rail's status.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NemoRail {
    pub status: String,
}

/// The seams that checked.
#[derive(Debug, Serialize, JsonSchema)]
pub struct NemoData {
    pub config_ids: Vec<String>,
}

/// `POST /v1/guardrail/checks`, NeMo Guardrails' check contract.
pub async fn nemo_checks(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Json<NemoResponse>, ApiError> {
    authorize_with(&shared, &headers, Scope::Check, false)?;
    let request: NemoRequest = parse(body, &["model", "messages"], "the guardrail check request")?;
    let g = request.guardrails.unwrap_or(NemoGuardrails {
        config_id: None,
        config_ids: None,
        config: None,
    });
    if g.config.is_some() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the guardrail check request: inline `guardrails.config` is not supported; name a seam of this server as `guardrails.config_id`",
        ));
    }
    let names: Vec<String> = match (g.config_id, g.config_ids) {
        (Some(id), None) => vec![id],
        (None, Some(ids)) if !ids.is_empty() => ids,
        (Some(_), Some(_)) => return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the guardrail check request: give `guardrails.config_id` or `config_ids`, not both",
        )),
        _ => return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "the guardrail check request: no `guardrails.config_id`: name the seam to check with",
        )),
    };
    let config = shared.config();
    let seams = names
        .iter()
        .map(|n| find_seam(&config, n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut rails: BTreeMap<String, NemoRail> = BTreeMap::new();
    let mut blocked = false;
    for seam in seams {
        for m in &request.messages {
            let rail = match m.role.as_str() {
                "user" => "input",
                "assistant" => "output",
                _ => continue,
            };
            let Some(text) = message_text(&m.content) else {
                continue;
            };
            let h = Handoff::new(Value::String(text).to_string());
            let checked = seam.check(&h, 1, 0).await;
            count_checked(&shared, seam, &checked);
            let ok = matches!(outcome(seam, &checked), Outcome::Pass);
            blocked |= !ok;
            let key = format!("{} {rail}", seam.name);
            let was_ok = rails.get(&key).is_none_or(|r| r.status == "success");
            let status = if ok && was_ok { "success" } else { "blocked" };
            rails.insert(
                key,
                NemoRail {
                    status: status.into(),
                },
            );
        }
    }
    Ok(Json(NemoResponse {
        status: if blocked { "blocked" } else { "success" }.into(),
        rails_status: rails,
        guardrails_data: NemoData { config_ids: names },
    }))
}
