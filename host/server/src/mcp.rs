//! `seam mcp`: the configuration's seams and the standard gates as Model Context
//! Protocol tools (the official Rust SDK, `rmcp`), over stdio or streamable HTTP:
//!
//! - `check`: a configured seam (`seam`) or ad-hoc gates (`gates`) on one payload →
//!   the verdicts and, for a seam, its decision, as structured content (the same JSON
//!   as `POST /v1/seams/{name}/check` and `POST /v1/check`);
//! - `describe`: a plugin's info and settings schema;
//! - `list_gates`: the configured seams and the standard gates.
//!
//! A mistake in a call (an unknown seam, bad settings, a payload missing) is a tool
//! result with `isError` and the server's error body, so the model reads what to fix.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    JsonObject, ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{json, Value};

use crate::api::{self, ApiError};
use crate::Shared;

/// The tools over one server state (its configuration, runtime and ad-hoc gate cache).
#[derive(Clone)]
pub struct SeamTools {
    shared: Arc<Shared>,
    tools: Arc<Vec<Tool>>,
}

fn object(v: Value) -> Arc<JsonObject> {
    Arc::new(rmcp::model::object(v))
}

fn read_only() -> ToolAnnotations {
    ToolAnnotations::new()
        .read_only(true)
        .destructive(false)
        .idempotent(true)
        .open_world(false)
}

impl SeamTools {
    pub fn new(shared: Arc<Shared>) -> SeamTools {
        let config = shared.config();
        let seams: Vec<String> = config.seams.iter().map(|s| s.name.clone()).collect();
        let gates = seam_runtime::std_plugins::names();
        let check = Tool::new(
            "check",
            format!(
                "Check a payload (text or JSON) at a seam before it goes on. Give `seam` (one \
                 of: {}) for a configured seam's verdicts and its decision — next, retry with \
                 feedback, fix with a repaired payload, human, reject — or `gates` for ad-hoc \
                 gates (standard: {}).",
                if seams.is_empty() {
                    "none configured".to_string()
                } else {
                    seams.join(", ")
                },
                gates.join(", ")
            ),
            object(json!({
                "type": "object",
                "properties": {
                    "seam": if seams.is_empty() {
                        json!({"type": "string", "description": "A configured seam (none are)"})
                    } else {
                        json!({"type": "string", "description": "A configured seam", "enum": seams})
                    },
                    "gates": {
                        "type": "array",
                        "description": "Ad-hoc gates, instead of `seam`",
                        "items": {
                            "type": "object",
                            "properties": {
                                "gate": {"type": "string"},
                                "settings": {"type": "object"}
                            },
                            "required": ["gate"]
                        }
                    },
                    "payload": {"description": "The handoff: a string for text, or any JSON"},
                    "context": {"description": "What the upstream step was given (optional)"},
                    "attempt": {"type": "integer", "minimum": 1, "description": "The upstream step's attempt, from 1 (seam only)"},
                    "fixes": {"type": "integer", "minimum": 0, "description": "Fixes applied so far (seam only)"}
                },
                "required": ["payload"]
            })),
        )
        .with_title("Check a handoff")
        .with_annotations(read_only());
        let describe = Tool::new(
            "describe",
            "What a plugin is and the settings it accepts (its JSON Schema): a standard \
             plugin's name or BUNDLE/PLUGIN.",
            object(json!({
                "type": "object",
                "properties": {"plugin": {"type": "string", "examples": gates}},
                "required": ["plugin"]
            })),
        )
        .with_title("Describe a plugin")
        .with_annotations(read_only());
        let list = Tool::new(
            "list_gates",
            "The configured seams (their gates, router and policies) and the standard gates.",
            object(json!({"type": "object", "properties": {}})),
        )
        .with_title("List seams and gates")
        .with_annotations(read_only());
        SeamTools {
            shared,
            tools: Arc::new(vec![check, describe, list]),
        }
    }

    async fn check(&self, mut args: JsonObject) -> Result<Value, ApiError> {
        match (args.remove("seam"), args.contains_key("gates")) {
            (Some(_), true) => Err(ApiError::invalid("check: give `seam` or `gates`, not both")),
            (Some(Value::String(name)), false) => {
                let config = self.shared.config();
                let seam = api::find_seam(&config, &name)?;
                let doc = api::check_one(&self.shared, seam, Value::Object(args)).await?;
                Ok(serde_json::to_value(doc).unwrap_or_default())
            }
            (Some(other), false) => Err(ApiError::invalid(format!(
                "check: `seam` must be a seam's name, not {other}"
            ))),
            (None, true) => {
                for key in ["attempt", "fixes", "record"] {
                    if args.contains_key(key) {
                        return Err(ApiError::invalid(format!(
                            "check: `{key}` goes with `seam`, not with ad-hoc `gates`"
                        )));
                    }
                }
                let doc = api::ad_hoc_check(&self.shared, Value::Object(args)).await?;
                Ok(serde_json::to_value(doc).unwrap_or_default())
            }
            (None, false) => Err(ApiError::invalid(
                "check: give `seam` (a configured seam) or `gates` (ad-hoc gates), and `payload`",
            )),
        }
    }

    async fn describe(&self, args: JsonObject) -> Result<Value, ApiError> {
        let Some(Value::String(name)) = args.get("plugin") else {
            return Err(ApiError::invalid(
                "describe: give `plugin`, a standard plugin's name or BUNDLE/PLUGIN",
            ));
        };
        let config = self.shared.config();
        let source = api::gate_source(&config, name)?;
        let runtime = self.shared.runtime.clone();
        let (info, digest) = tokio::task::spawn_blocking(move || {
            runtime.describe(&source, seam_runtime::Limits::default())
        })
        .await
        .map_err(|e| ApiError::invalid(format!("describe: {e}")))?
        .map_err(|e| ApiError::invalid(format!("describe: {e}")))?;
        let mut doc = serde_json::to_value(info).unwrap_or_default();
        doc["digest"] = Value::String(digest);
        Ok(doc)
    }

    fn list(&self) -> Value {
        let seams = api::seams_doc(&self.shared.config());
        let standard: Vec<Value> = seam_runtime::std_plugins::names()
            .into_iter()
            .map(|n| json!({ "name": n }))
            .collect();
        json!({"seams": seams.seams, "standard_gates": standard})
    }
}

/// A tool's answer: structured content and its JSON as text; an error is a result
/// with `isError` and the error body.
fn answer(result: Result<Value, ApiError>) -> CallToolResponse {
    match result {
        Ok(doc) => CallToolResult::structured(doc).into(),
        Err(e) => {
            let body = serde_json::to_value(e.body()).unwrap_or_default();
            let mut r = CallToolResult::structured_error(body);
            r.content = vec![ContentBlock::text(e.message.clone())];
            r.into()
        }
    }
}

impl ServerHandler for SeamTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("seam", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "seam checks handoffs between the steps of an AI pipeline with sandboxed \
                 gates. Call `check` with a configured `seam` before passing a draft on, and \
                 follow its decision (on `retry`, revise with the `feedback`).",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items((*self.tools).clone()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let args = request.arguments.unwrap_or_default();
        Ok(match request.name.as_ref() {
            "check" => answer(self.check(args).await),
            "describe" => answer(self.describe(args).await),
            "list_gates" => answer(Ok(self.list())),
            other => {
                return Err(McpError::invalid_params(
                    format!("no tool `{other}`; the tools are check, describe and list_gates"),
                    None,
                ))
            }
        })
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.tools.iter().find(|t| t.name == name).cloned()
    }
}

/// Serves the tools over stdin/stdout until the client closes them.
pub async fn serve_stdio(shared: Arc<Shared>) -> anyhow::Result<()> {
    use rmcp::ServiceExt;
    let running = SeamTools::new(shared)
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| anyhow::anyhow!("the MCP client's handshake failed: {e}"))?;
    running
        .waiting()
        .await
        .map_err(|e| anyhow::anyhow!("the MCP session stopped: {e}"))?;
    Ok(())
}

/// Serves the streamable HTTP endpoint on `listener` until `shutdown` completes.
pub async fn serve_http(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let stop = tokio_util::sync::CancellationToken::new();
    let app = router(shared, stop.clone());
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            stop.cancel();
        })
        .await
        .map_err(|e| anyhow::anyhow!("serving MCP over HTTP: {e}"))
}

/// The streamable HTTP endpoint at `/mcp`, behind the configuration's tokens (scope
/// `check`) like the rest of the API.
pub fn router(shared: Arc<Shared>, stop: tokio_util::sync::CancellationToken) -> axum::Router {
    use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };
    let tools = SeamTools::new(shared.clone());
    let config = StreamableHttpServerConfig::default()
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_cancellation_token(stop);
    let service: StreamableHttpService<SeamTools, LocalSessionManager> = StreamableHttpService::new(
        move || Ok(tools.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    axum::Router::new()
        .nest_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(shared, require_token))
}

async fn require_token(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match api::authorize_caller(&shared, request.headers(), crate::auth::Scope::Check) {
        Ok(_) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}
