//! OpenTelemetry traces over OTLP/HTTP (protobuf), off unless the configuration has a
//! `[telemetry]` section: without one no exporter exists and nothing leaves the
//! process.
//!
//! - A `SERVER` span per request, named `METHOD ROUTE`, with the HTTP semantic
//!   conventions' attributes. A caller's W3C `traceparent` header continues its trace, so
//!   seam's spans sit under the orchestrator's step.
//! - A span per gate check, `check GATE`, timed by the check itself, with the GenAI
//!   semantic conventions' evaluation attributes (`gen_ai.evaluation.name`,
//!   `gen_ai.evaluation.score.value`, `gen_ai.evaluation.score.label`,
//!   `gen_ai.evaluation.explanation`) and a `gen_ai.evaluation.result` event; what those
//!   conventions do not cover is under `seam.*`. A span per router call, `route ROUTER`.
//! - The seam's decision as a `seam.decision` event on the request span.
//!
//! Spans are exported in batches from the SDK's own thread, over `ureq` (already a
//! dependency) rather than a second HTTP client; a failing collector is logged at most
//! once a minute and never slows a check.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{Span, SpanKind, Status, TraceContextExt, Tracer, TracerProvider};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use seam_pipeline::standalone::{action, Checked};
use seam_runtime::{CheckReport, Outcome};

use crate::config;

/// Longest `gen_ai.evaluation.explanation` sent, in bytes.
const MAX_EXPLANATION: usize = 1024;

/// The tracer, and the provider that flushes it at shutdown.
pub struct Telemetry {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
    propagator: TraceContextPropagator,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Telemetry {
    /// The exporter and tracer for `[telemetry]`. Nothing is sent until spans end.
    pub fn start(config: &config::Telemetry) -> anyhow::Result<Telemetry> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(config.export_timeout))
            .build()
            .into();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(config.traces_url.clone())
            .with_protocol(Protocol::HttpBinary)
            .with_timeout(config.export_timeout)
            .with_headers(config.headers.iter().cloned().collect::<HashMap<_, _>>())
            .with_http_client(Exporter {
                agent,
                url: config.traces_url.clone(),
                last_warning: Mutex::new(None),
            })
            .build()
            .map_err(|e| anyhow::anyhow!("[telemetry] {}: {e}", config.traces_url))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer_with_scope(
            InstrumentationScope::builder("seam-server")
                .with_version(env!("CARGO_PKG_VERSION"))
                .build(),
        );
        Ok(Telemetry {
            provider,
            tracer,
            propagator: TraceContextPropagator::new(),
        })
    }

    /// Sends what is buffered and stops the exporter (blocking, within its timeout).
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "the last traces could not be exported");
        }
    }

    /// The request's span, under the caller's trace when it sent a `traceparent`.
    pub(crate) fn request(
        &self,
        headers: &axum::http::HeaderMap,
        method: &str,
        route: &str,
        path: &str,
    ) -> Context {
        let parent = self
            .propagator
            .extract(&opentelemetry_http::HeaderExtractor(headers));
        let span = self
            .tracer
            .span_builder(format!("{method} {route}"))
            .with_kind(SpanKind::Server)
            .with_attributes([
                KeyValue::new("http.request.method", method.to_string()),
                KeyValue::new("http.route", route.to_string()),
                KeyValue::new("url.path", path.to_string()),
                KeyValue::new("url.scheme", "http"),
            ])
            .start_with_context(&self.tracer, &parent);
        parent.with_span(span)
    }

    /// Ends the request's span with its status.
    pub(crate) fn answered(context: &Context, status: u16) {
        let span = context.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            span.set_status(Status::error(format!("HTTP {status}")));
        }
        span.end();
    }

    /// A span for one gate check, under the current request's span.
    pub(crate) fn gate(&self, seam: &str, gate: &str, report: &CheckReport, policy: Option<&str>) {
        let parent = Context::current();
        let started = report
            .finished_at
            .checked_sub(report.duration)
            .unwrap_or(report.finished_at);
        let mut evaluation = vec![KeyValue::new("gen_ai.evaluation.name", gate.to_string())];
        let mut attributes = vec![
            KeyValue::new("seam.seam", seam.to_string()),
            KeyValue::new("seam.gate", gate.to_string()),
            KeyValue::new("seam.plugin", report.plugin.clone()),
            KeyValue::new("seam.check.duration_us", report.duration.as_micros() as i64),
        ];
        if let Some(policy) = policy {
            attributes.push(KeyValue::new("seam.policy", policy.to_string()));
        }
        let mut status = Status::Ok;
        match &report.outcome {
            Outcome::Verdict(v) => {
                let label = if v.passed { "pass" } else { "fail" };
                evaluation.push(KeyValue::new("gen_ai.evaluation.score.label", label));
                if let Some(score) = v.score {
                    evaluation.push(KeyValue::new("gen_ai.evaluation.score.value", score));
                }
                if !v.findings.is_empty() {
                    let mut text = v
                        .findings
                        .iter()
                        .map(|f| format!("{}: {}", f.code, f.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    if text.len() > MAX_EXPLANATION {
                        let mut end = MAX_EXPLANATION;
                        while !text.is_char_boundary(end) {
                            end -= 1;
                        }
                        text.truncate(end);
                        text.push('…');
                    }
                    evaluation.push(KeyValue::new("gen_ai.evaluation.explanation", text));
                }
                attributes.push(KeyValue::new("seam.outcome", label));
                attributes.push(KeyValue::new("seam.findings", v.findings.len() as i64));
            }
            Outcome::Error(cause) => {
                let kind = cause.kind().to_string();
                evaluation.push(KeyValue::new("gen_ai.evaluation.score.label", "error"));
                evaluation.push(KeyValue::new(
                    "gen_ai.evaluation.explanation",
                    cause.to_string(),
                ));
                attributes.push(KeyValue::new("seam.outcome", "error"));
                attributes.push(KeyValue::new("error.type", kind));
                status = Status::error(format!("plugin `{}` {cause}", report.plugin));
            }
        }
        attributes.extend(evaluation.iter().cloned());
        let mut span = self
            .tracer
            .span_builder(format!("check {gate}"))
            .with_kind(SpanKind::Internal)
            .with_start_time(started)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        span.add_event_with_timestamp("gen_ai.evaluation.result", report.finished_at, evaluation);
        span.set_status(status);
        span.end_with_timestamp(report.finished_at);
    }

    /// Spans for a checked handoff's gates and router, and its decision as an event on
    /// the request's span.
    pub(crate) fn checked(&self, seam: &str, checked: &Checked) {
        for r in &checked.results {
            let policy = r.policy.to_string();
            self.gate(seam, &r.gate, &r.report, Some(&policy));
        }
        if let Some(route) = &checked.route {
            let started = route
                .finished_at
                .checked_sub(route.duration)
                .unwrap_or(route.finished_at);
            let mut attributes = vec![
                KeyValue::new("seam.seam", seam.to_string()),
                KeyValue::new("seam.router", route.plugin.clone()),
            ];
            let status = match &route.route {
                Ok(answer) => {
                    attributes.push(KeyValue::new("seam.route.target", answer.target.clone()));
                    attributes.push(KeyValue::new("seam.route.reason", answer.reason.clone()));
                    Status::Ok
                }
                Err(cause) => {
                    attributes.push(KeyValue::new("error.type", cause.kind().to_string()));
                    Status::error(format!("router `{}` {cause}", route.plugin))
                }
            };
            let mut span = self
                .tracer
                .span_builder(format!("route {}", route.plugin))
                .with_kind(SpanKind::Internal)
                .with_start_time(started)
                .with_attributes(attributes)
                .start_with_context(&self.tracer, &Context::current());
            span.set_status(status);
            span.end_with_timestamp(route.finished_at);
        }
        Context::current().span().add_event(
            "seam.decision",
            vec![
                KeyValue::new("seam.seam", seam.to_string()),
                KeyValue::new("seam.decision.action", action(&checked.decision)),
                KeyValue::new("seam.decision.by", checked.decided_by.clone()),
                KeyValue::new("seam.decision.reason", checked.reason.clone()),
                KeyValue::new("seam.passed", checked.passed()),
            ],
        );
    }
}

/// The exporter's HTTP client: `ureq`, blocking, on the SDK's export thread.
struct Exporter {
    agent: ureq::Agent,
    url: String,
    last_warning: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for Exporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Exporter({})", self.url)
    }
}

impl Exporter {
    /// Logs a failed export, at most once a minute.
    fn warn(&self, why: &str) {
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60)) {
            *last = Some(Instant::now());
            tracing::warn!(url = %self.url, error = why, "traces could not be exported; they are dropped (logged at most once a minute)");
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for Exporter {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = ureq::http::Request::from_parts(parts, body.to_vec());
        let mut answer = match self.agent.run(request) {
            Ok(a) => a,
            Err(e) => {
                self.warn(&e.to_string());
                return Err(Box::new(e));
            }
        };
        let status = answer.status();
        if !status.is_success() {
            self.warn(&format!("the collector answered {status}"));
        }
        let headers = answer.headers().clone();
        let bytes = answer
            .body_mut()
            .with_config()
            .limit(4 << 20)
            .read_to_vec()?;
        let mut response = Response::new(Bytes::from(bytes));
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
