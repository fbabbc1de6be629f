//! The endpoint table: every route the server answers, with what it takes, what it
//! answers and the scope it needs. The router is built from it, and so is the OpenAPI
//! 3.1 document at `GET /v1/openapi.json` (its schemas generated from the request and
//! response types), so the document cannot leave a route out or describe one that is
//! not served.

use std::sync::{Arc, LazyLock};

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde_json::{json, Map, Value};

use crate::adapters::{self, LiteLlmRequest, LiteLlmResponse, NemoRequest, NemoResponse};
use crate::api::{self, *};
use crate::auth::Scope;
use crate::runs::{self, *};
use crate::Shared;

type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// What an endpoint answers with on success.
pub(crate) enum Body {
    Json(SchemaFn),
    /// `GET /v1/report`: the report as JSON, or its HTML page with `format=html`.
    JsonOrHtml(SchemaFn),
    /// Text of this content type.
    Text(&'static str),
}

/// One route.
pub(crate) struct Endpoint {
    pub method: &'static str,
    /// In axum's (and OpenAPI's) syntax: `/v1/seams/{name}/check`.
    pub path: &'static str,
    pub operation: &'static str,
    pub tag: &'static str,
    pub summary: &'static str,
    /// The scope a token needs; `None`: open to every caller.
    pub scope: Option<Scope>,
    /// Whether LiteLLM's `x-api-key` header counts as the bearer token.
    pub api_key: bool,
    pub request: Option<SchemaFn>,
    pub query: Option<SchemaFn>,
    pub answer: Body,
    /// Whether it may answer `202` (a run still going) with the same body.
    pub accepted: bool,
    /// Whether it passes admission (slots, queue, request deadline).
    pub admitted: bool,
    pub route: fn() -> MethodRouter<Arc<Shared>>,
}

/// Every route the server answers.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    let e = |method, path, operation, tag, summary, scope| Endpoint {
        method,
        path,
        operation,
        tag,
        summary,
        scope,
        api_key: false,
        request: None,
        query: None,
        answer: Body::Json(schema::<Value>),
        accepted: false,
        admitted: true,
        route: || get(api::healthz),
    };
    vec![
        Endpoint {
            request: Some(schema::<CheckRequest>),
            answer: Body::Json(schema::<CheckResponse>),
            route: || post(api::check),
            ..e("post", "/v1/check", "check", "checks",
                "Ad-hoc gates on one handoff: the verdicts, as `seam check --format json` prints them",
                Some(Scope::Check))
        },
        Endpoint {
            answer: Body::Json(schema::<SeamsResponse>),
            route: || get(api::seams),
            ..e("get", "/v1/seams", "listSeams", "checks",
                "The configured seams: their gates, router and policies", Some(Scope::Check))
        },
        Endpoint {
            request: Some(schema::<SeamCheckRequest>),
            answer: Body::Json(schema::<SeamCheckResponse>),
            route: || post(api::seam_check),
            ..e("post", "/v1/seams/{name}/check", "checkSeam", "checks",
                "A configured seam on one handoff: the verdicts and the decision (next, retry \
                 with feedback, fix with the repaired payload, human, reject, route); \
                 `record` writes it to the ledger",
                Some(Scope::Check))
        },
        Endpoint {
            request: Some(schema::<BatchRequest>),
            answer: Body::Json(schema::<BatchResponse>),
            route: || post(api::seam_batch),
            ..e("post", "/v1/seams/{name}/batch", "checkSeamBatch", "checks",
                "Many handoffs at a configured seam, one result each, in order; a bad item \
                 gets its own error and never fails the others",
                Some(Scope::Check))
        },
        Endpoint {
            request: Some(schema::<LiteLlmRequest>),
            answer: Body::Json(schema::<LiteLlmResponse>),
            api_key: true,
            route: || post(adapters::litellm),
            ..e("post", "/v1/litellm/{name}/beta/litellm_basic_guardrail_api", "litellmGuardrail",
                "adapters",
                "LiteLLM's Generic Guardrail API, answered by a configured seam (LiteLLM's \
                 `api_base` is `http://HOST:PORT/v1/litellm/SEAM`)",
                Some(Scope::Check))
        },
        Endpoint {
            request: Some(schema::<NemoRequest>),
            answer: Body::Json(schema::<NemoResponse>),
            route: || post(adapters::nemo_checks),
            ..e("post", "/v1/guardrail/checks", "nemoGuardrailChecks", "adapters",
                "NeMo Guardrails' check contract: `guardrails.config_id` names a seam",
                Some(Scope::Check))
        },
        Endpoint {
            query: Some(schema::<ReportQuery>),
            answer: Body::JsonOrHtml(schema::<seam_ledger::report::Report>),
            route: || get(api::report),
            ..e("get", "/v1/report", "report", "ledger",
                "The reliability report over the ledger, with `seam report`'s filters",
                Some(Scope::Review))
        },
        Endpoint {
            request: Some(schema::<StartRequest>),
            answer: Body::Json(schema::<seam_pipeline::RunOutcome>),
            accepted: true,
            route: || post(runs::start),
            ..e("post", "/v1/pipelines/{name}/runs", "startRun", "runs",
                "Starts a run of a served pipeline: its outcome when it ends within `wait_ms`, \
                 else 202 with its id",
                Some(Scope::Run))
        },
        Endpoint {
            answer: Body::Json(schema::<RunDoc>),
            route: || get(runs::show),
            ..e("get", "/v1/runs/{id}", "showRun", "runs",
                "A run's state, its step executions and its reviews", Some(Scope::Run))
        },
        Endpoint {
            request: Some(schema::<ResumeRequest>),
            answer: Body::Json(schema::<seam_pipeline::RunOutcome>),
            accepted: true,
            route: || post(runs::resume),
            ..e("post", "/v1/runs/{id}/resume", "resumeRun", "runs",
                "Goes on with a run from where the ledger has it", Some(Scope::Run))
        },
        Endpoint {
            query: Some(schema::<ReviewQuery>),
            answer: Body::Json(schema::<ReviewsResponse>),
            route: || get(runs::reviews),
            ..e("get", "/v1/reviews", "listReviews", "reviews",
                "Pending reviews, oldest first (`status=all` for every one)", Some(Scope::Review))
        },
        Endpoint {
            answer: Body::Json(schema::<seam_ledger::ReviewRow>),
            route: || get(runs::review),
            ..e("get", "/v1/reviews/{id}", "showReview", "reviews", "One review",
                Some(Scope::Review))
        },
        Endpoint {
            request: Some(schema::<DecideRequest>),
            answer: Body::Json(schema::<DecideResponse>),
            accepted: true,
            route: || post(runs::decide),
            ..e("post", "/v1/reviews/{id}/{decision}", "decideReview", "reviews",
                "Accepts or rejects a review (with a note, and an edited payload on accept); \
                 the run resumes",
                Some(Scope::Review))
        },
        Endpoint {
            answer: Body::Json(schema::<ReloadResponse>),
            route: || post(api::reload),
            ..e("post", "/v1/admin/reload", "reload", "operations",
                "Reads the configuration again and swaps it in whole when it is valid; a bad \
                 one is refused and the old one serves on",
                Some(Scope::Admin))
        },
        Endpoint {
            answer: Body::Json(schema::<Value>),
            admitted: false,
            route: || get(openapi),
            ..e("get", "/v1/openapi.json", "openapi", "operations", "This document", None)
        },
        Endpoint {
            answer: Body::Json(schema::<Health>),
            admitted: false,
            route: || get(api::healthz),
            ..e("get", "/healthz", "healthz", "operations", "The process answers", None)
        },
        Endpoint {
            answer: Body::Json(schema::<Readiness>),
            admitted: false,
            route: || get(api::readyz),
            ..e("get", "/readyz", "readyz", "operations",
                "The configuration's plugins are loaded and the ledger answers", None)
        },
        Endpoint {
            answer: Body::Text("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            admitted: false,
            route: || get(api::metrics),
            ..e("get", "/metrics", "metrics", "operations",
                "Prometheus metrics (names and labels in docs/server.md)", Some(Scope::Admin))
        },
    ]
}

/// The methods served at a concrete path, matched against the table's templates.
pub(crate) fn methods_at(path: &str) -> Vec<&'static str> {
    let segments: Vec<&str> = path.split('/').collect();
    endpoints()
        .into_iter()
        .filter(|e| {
            let template: Vec<&str> = e.path.split('/').collect();
            template.len() == segments.len()
                && template
                    .iter()
                    .zip(&segments)
                    .all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
        })
        .map(|e| e.method)
        .collect()
}

/// What a path parameter means.
fn parameter(name: &str) -> Value {
    let (description, schema) = match name {
        "name" => (
            "The seam's (or pipeline's) name in the configuration",
            json!({"type": "string"}),
        ),
        "id" => ("The run's or review's id", json!({"type": "string"})),
        "decision" => (
            "The decision",
            json!({"type": "string", "enum": ["accept", "reject"]}),
        ),
        _ => ("", json!({"type": "string"})),
    };
    json!({"name": name, "in": "path", "required": true, "description": description, "schema": schema})
}

fn content(media: &str, schema: Value) -> Value {
    json!({ media: { "schema": schema } })
}

/// The OpenAPI 3.1 document.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut requests = settings.clone().for_deserialize().into_generator();
    // Query parameters are listed one by one, so their schema is wanted inline.
    let mut queries = settings
        .clone()
        .with(|s| s.inline_subschemas = true)
        .for_deserialize()
        .into_generator();
    let mut responses = settings.for_serialize().into_generator();
    let error = Value::from(schema::<ErrorBody>(&mut responses));
    let mut paths = Map::new();
    for e in endpoints() {
        let mut op = Map::new();
        op.insert("operationId".into(), e.operation.into());
        op.insert("tags".into(), json!([e.tag]));
        op.insert("summary".into(), e.summary.into());
        let mut parameters: Vec<Value> = e
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(parameter)
            .collect();
        if let Some(query) = e.query {
            let query = Value::from(query(&mut queries));
            let properties = query["properties"].as_object().cloned().unwrap_or_default();
            for (name, mut schema) in properties {
                let description = schema
                    .as_object_mut()
                    .and_then(|o| o.remove("description"))
                    .unwrap_or_else(|| "".into());
                // A parameter left out is the absence; it is never `null`.
                if schema["type"] == json!(["string", "null"]) {
                    schema["type"] = "string".into();
                }
                parameters.push(json!({"name": name, "in": "query", "required": false,
                                       "description": description, "schema": schema}));
            }
        }
        if !parameters.is_empty() {
            op.insert("parameters".into(), parameters.into());
        }
        if let Some(request) = e.request {
            let schema = Value::from(request(&mut requests));
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": content("application/json", schema)}),
            );
        }
        let ok = match e.answer {
            Body::Json(f) => content("application/json", f(&mut responses).into()),
            Body::JsonOrHtml(f) => {
                let mut c = content("application/json", f(&mut responses).into());
                c["text/html"] = json!({"schema": {"type": "string"}});
                c
            }
            Body::Text(media) => content(media, json!({"type": "string"})),
        };
        let mut answers = Map::new();
        answers.insert("200".into(), json!({"description": "done", "content": ok}));
        if e.accepted {
            answers.insert(
                "202".into(),
                json!({"description": "still running: poll GET /v1/runs/{id}", "content": ok}),
            );
        }
        answers.insert(
            "default".into(),
            json!({"description": "an error: its status, a stable code and a message that \
                   says what to do (401/403 auth, 404 unknown, 413 body cap, 422 invalid, \
                   503 overloaded with Retry-After, 504 deadline)",
                   "content": content("application/json", error.clone())}),
        );
        op.insert("responses".into(), answers.into());
        match e.scope {
            None => {
                op.insert("security".into(), json!([]));
            }
            Some(scope) => {
                op.insert(
                    "description".into(),
                    format!(
                        "Needs a token with the `{}` scope{} when the server has tokens \
                         (`admin` implies every scope).",
                        scope.as_str(),
                        if e.method == "get" && matches!(scope, Scope::Run | Scope::Review) {
                            " (or `view`: it only reads)"
                        } else {
                            ""
                        }
                    )
                    .into(),
                );
                let mut security = vec![json!({"bearer": []})];
                if e.api_key {
                    security.push(json!({"apiKey": []}));
                }
                op.insert("security".into(), security.into());
            }
        }
        let item = paths
            .entry(e.path)
            .or_insert_with(|| Value::Object(Map::new()));
        item[e.method] = Value::Object(op);
    }
    let mut schemas = requests.take_definitions(true);
    for (name, schema) in responses.take_definitions(true) {
        if let Some(other) = schemas.get(&name) {
            debug_assert_eq!(
                other, &schema,
                "schema `{name}` differs as request and answer"
            );
        }
        schemas.insert(name, schema);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "seam serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Gates and seams over HTTP: check handoffs, run pipelines, decide \
                            reviews and read the reliability report. See docs/server.md.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "checks", "description": "Gates and configured seams on handoffs"},
            {"name": "adapters", "description": "Contracts other systems already speak"},
            {"name": "runs", "description": "Served pipelines' runs"},
            {"name": "reviews", "description": "Human review"},
            {"name": "ledger", "description": "The reliability report"},
            {"name": "operations", "description": "Health, readiness, metrics, reload"},
        ],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "A token from the configuration's [[tokens]] \
                                           (`seam serve --new-token NAME --scope S` makes one)"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                           "description": "The same token, as LiteLLM sends its api_key"},
            },
        },
    })
}

static DOCUMENT: LazyLock<String> = LazyLock::new(|| document().to_string());

/// `GET /v1/openapi.json`.
pub async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_is_in_the_document_once_with_its_schemas_resolved() {
        let doc = document();
        let mut seen = std::collections::BTreeSet::new();
        for e in endpoints() {
            assert!(
                seen.insert((e.method, e.path)),
                "{} {} twice",
                e.method,
                e.path
            );
            let op = &doc["paths"][e.path][e.method];
            assert_eq!(op["operationId"], e.operation, "{} {}", e.method, e.path);
        }
        let listed: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|item| item.as_object().unwrap().len())
            .sum();
        assert_eq!(listed, seen.len());
        // Every `$ref` points at a schema in the document.
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for part in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(schemas.contains_key(name), "dangling $ref to {name}");
        }
        if let Ok(path) = std::env::var("SEAM_OPENAPI_OUT") {
            std::fs::write(path, serde_json::to_string_pretty(&doc).unwrap()).unwrap();
        }
    }

    #[test]
    fn methods_at_matches_templates_segment_by_segment() {
        assert_eq!(methods_at("/v1/seams/reply/check"), ["post"]);
        assert_eq!(methods_at("/v1/reviews/7"), ["get"]);
        assert_eq!(methods_at("/v1/reviews/7/accept"), ["post"]);
        assert_eq!(methods_at("/v1/seams//check"), Vec::<&str>::new());
        assert_eq!(methods_at("/v1/nothing"), Vec::<&str>::new());
    }
}
