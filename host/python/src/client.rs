//! `seam.connect(url, token=...)`: a client for `seam serve` that answers with the same
//! classes as the in-process API. Requests run with the GIL released; `acheck` and
//! `acheck_gates` run them on a thread for asyncio.

use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use serde_json::{json, Value};

use crate::{
    from_value, gate_specs, py_bool, to_value, verdict_class, CheckResult, Decision, ErrorCause,
    GateCheck, Recorded, RouteResult, SeamError, SeamResult,
};

pyo3::create_exception!(
    seam,
    ServerError,
    SeamError,
    "seam serve answered with an error (`status` and `code` say which), or could not be reached (`status` 0)."
);

/// A `seam serve` to send checks to.
#[pyclass(module = "seam", frozen)]
pub(crate) struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

fn server_error(py: Python<'_>, status: u16, code: &str, message: String) -> PyErr {
    let err = ServerError::new_err(message);
    let value = err.value(py);
    let _ = value.setattr("status", status);
    let _ = value.setattr("code", code);
    err
}

/// A client for the `seam serve` at `url` (`http://127.0.0.1:7878`), with a bearer
/// `token` when the server has tokens; `timeout` in seconds for each request.
#[pyfunction]
#[pyo3(signature = (url, *, token=None, timeout=30.0))]
pub(crate) fn connect(url: &str, token: Option<String>, timeout: f64) -> PyResult<Client> {
    let value_error = |m: String| PyErr::new::<pyo3::exceptions::PyValueError, _>(m);
    let base = url.trim().trim_end_matches('/').to_string();
    let rest = base
        .strip_prefix("http://")
        .or_else(|| base.strip_prefix("https://"))
        .ok_or_else(|| {
            value_error(format!(
                "url {url:?}: give the server's address, e.g. http://127.0.0.1:7878"
            ))
        })?;
    if rest.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(value_error(format!(
            "url {url:?}: give the server's address, e.g. http://127.0.0.1:7878"
        )));
    }
    if !(timeout.is_finite() && timeout > 0.0 && timeout <= 3600.0) {
        return Err(value_error(format!(
            "timeout {timeout}: give seconds, more than 0 and at most 3600"
        )));
    }
    if let Some(t) = &token {
        if t.is_empty() || t.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(value_error(
                "token: empty, or holds spaces or control characters".into(),
            ));
        }
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs_f64(timeout)))
        .build()
        .into();
    Ok(Client { base, token, agent })
}

impl Client {
    /// Sends `body` (JSON) to `path` with the GIL released; the answer's JSON, or the
    /// server's error as `ServerError`.
    fn call(
        &self,
        py: Python<'_>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> PyResult<Value> {
        let url = format!("{}{path}", self.base);
        let answer = py.detach(|| -> Result<(u16, String), String> {
            let mut response = match (method, body) {
                ("GET", _) => {
                    let mut r = self.agent.get(&url);
                    if let Some(t) = &self.token {
                        r = r.header("authorization", format!("Bearer {t}"));
                    }
                    r.call()
                }
                (_, body) => {
                    let mut r = self
                        .agent
                        .post(&url)
                        .header("content-type", "application/json");
                    if let Some(t) = &self.token {
                        r = r.header("authorization", format!("Bearer {t}"));
                    }
                    r.send(body.unwrap_or(json!({})).to_string())
                }
            }
            .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let text = response
                .body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_string()
                .map_err(|e| e.to_string())?;
            Ok((status, text))
        });
        let (status, text) = answer.map_err(|e| {
            server_error(
                py,
                0,
                "unreachable",
                format!("cannot reach seam serve at {}: {e}", self.base),
            )
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|_| {
            server_error(
                py,
                status,
                "not_json",
                format!(
                    "{method} {url} answered {status} with something other than JSON; is {} a seam serve?",
                    self.base
                ),
            )
        })?;
        if status >= 400 {
            let e = &value["error"];
            let code = e["code"].as_str().unwrap_or("unknown").to_string();
            let message = e["message"]
                .as_str()
                .map_or_else(|| value.to_string(), str::to_string);
            return Err(server_error(py, status, &code, message));
        }
        Ok(value)
    }
}

fn text(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or_default().to_string()
}

fn opt_text(v: &Value, key: &str) -> Option<String> {
    v[key].as_str().map(str::to_string)
}

/// A gate's check as the server writes it, as the in-process class.
fn gate_check(py: Python<'_>, g: &Value) -> PyResult<GateCheck> {
    let plugin = text(g, "plugin");
    let (verdict, error) = if g["outcome"] == "verdict" {
        let v: seam_types::Verdict = serde_json::from_value(g.clone()).map_err(|e| {
            server_error(py, 200, "bad_answer", format!("the server's verdict: {e}"))
        })?;
        let verdict = verdict_class(py, &v)?;
        (Some(Py::new(py, verdict)?), None)
    } else {
        let cause: Option<seam_runtime::ErrorCause> = serde_json::from_value(g.clone()).ok();
        let (kind, message) = match cause {
            Some(c) => (c.kind().to_string(), format!("plugin `{plugin}` {c}")),
            None => (text(g, "cause"), format!("plugin `{plugin}` failed")),
        };
        (None, Some(ErrorCause { kind, message }))
    };
    Ok(GateCheck {
        gate: text(g, "gate"),
        passed: verdict.as_ref().is_some_and(|v| v.get().passed),
        plugin,
        verdict,
        error,
        duration_us: g["duration"].as_u64().unwrap_or_default(),
        log: text(g, "log"),
        policy: opt_text(g, "policy"),
    })
}

fn gate_checks(py: Python<'_>, doc: &Value) -> PyResult<Vec<Py<GateCheck>>> {
    doc["gates"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|g| Py::new(py, gate_check(py, g)?))
        .collect()
}

fn seam_result(py: Python<'_>, doc: &Value) -> PyResult<SeamResult> {
    let d = &doc["decision"];
    let decision = Decision {
        action: text(d, "action"),
        decided_by: text(d, "decided_by"),
        reason: text(d, "reason"),
        feedback: opt_text(d, "feedback"),
        findings: d.get("findings").map(|f| from_value(py, f)).transpose()?,
        gate: opt_text(d, "gate"),
        payload: d.get("payload").map(|p| from_value(py, p)).transpose()?,
        target: opt_text(d, "target"),
    };
    let route = match doc.get("route") {
        None => None,
        Some(r) => {
            let error = r.get("error").map(|e| ErrorCause {
                kind: text(r, "cause"),
                message: e.as_str().unwrap_or_default().to_string(),
            });
            Some(Py::new(
                py,
                RouteResult {
                    router: text(r, "router"),
                    target: opt_text(r, "target"),
                    reason: opt_text(r, "reason"),
                    error,
                    duration_us: r["duration"].as_u64().unwrap_or_default(),
                },
            )?)
        }
    };
    let recorded = match doc.get("recorded") {
        None => None,
        Some(r) => Some(Py::new(
            py,
            Recorded {
                pipeline: text(r, "pipeline"),
                run: text(r, "run"),
                handoff_id: r["handoff_id"].as_i64().unwrap_or_default(),
                review_id: r["review_id"].as_i64(),
            },
        )?),
    };
    Ok(SeamResult {
        seam: text(doc, "seam"),
        passed: doc["passed"].as_bool().unwrap_or(false),
        gates: gate_checks(py, doc)?,
        decision: Py::new(py, decision)?,
        route,
        recorded,
    })
}

fn seam_path(seam: &str) -> PyResult<String> {
    if !seam_pipeline::standalone::valid_name(seam) {
        return Err(PyErr::new::<pyo3::exceptions::PyValueError, _>(format!(
            "seam {seam:?}: a seam's name is letters, digits, `_`, `-` or `.`"
        )));
    }
    Ok(format!("/v1/seams/{seam}"))
}

fn handoff_item(
    py: Python<'_>,
    payload: &Bound<'_, PyAny>,
    context: Option<&Bound<'_, PyAny>>,
    attempt: u32,
    fixes: u32,
    record: Option<&Bound<'_, PyAny>>,
) -> PyResult<Value> {
    if attempt == 0 {
        return Err(PyErr::new::<pyo3::exceptions::PyValueError, _>(
            "attempt counts from 1 (the upstream step's first attempt)",
        ));
    }
    let mut item = json!({
        "payload": to_value(py, payload, "the payload")?,
        "attempt": attempt,
        "fixes": fixes,
    });
    if let Some(c) = context.filter(|c| !c.is_none()) {
        item["context"] = to_value(py, c, "the context")?;
    }
    if let Some(r) = record.filter(|r| !r.is_none()) {
        item["record"] = to_value(py, r, "record")?;
    }
    Ok(item)
}

#[pymethods]
impl Client {
    /// A configured seam of the server on one handoff: verdicts and decision. `record`
    /// ({"pipeline", "run", "step", "to"}) records it in the server's ledger.
    #[pyo3(signature = (seam, payload, context=None, *, attempt=1, fixes=0, record=None))]
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        py: Python<'_>,
        seam: &str,
        payload: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        attempt: u32,
        fixes: u32,
        record: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<SeamResult> {
        let body = handoff_item(py, payload, context, attempt, fixes, record)?;
        let doc = self.call(
            py,
            "POST",
            &format!("{}/check", seam_path(seam)?),
            Some(body),
        )?;
        seam_result(py, &doc)
    }

    /// [`check`](Self::check) for asyncio, on a thread.
    #[pyo3(signature = (seam, payload, context=None, *, attempt=1, fixes=0, record=None))]
    #[allow(clippy::too_many_arguments)]
    fn acheck<'py>(
        slf: &Bound<'py, Self>,
        seam: &str,
        payload: &Bound<'py, PyAny>,
        context: Option<&Bound<'py, PyAny>>,
        attempt: u32,
        fixes: u32,
        record: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let kwargs = PyDict::new(py);
        kwargs.set_item("attempt", attempt)?;
        kwargs.set_item("fixes", fixes)?;
        kwargs.set_item("record", record)?;
        py.import("asyncio")?.call_method(
            "to_thread",
            (slf.getattr("check")?, seam, payload, context),
            Some(&kwargs),
        )
    }

    /// Ad-hoc gates of the server (standard plugins or its bundles' `BUNDLE/PLUGIN`) on
    /// one handoff, given as for `seam.Gates`.
    #[pyo3(signature = (gates, payload, context=None))]
    fn check_gates(
        &self,
        py: Python<'_>,
        gates: &Bound<'_, PyAny>,
        payload: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CheckResult> {
        let specs = gate_specs(py, gates)?;
        let mut body = json!({
            "gates": specs.iter().map(|(g, s)| json!({"gate": g, "settings": s})).collect::<Vec<_>>(),
            "payload": to_value(py, payload, "the payload")?,
        });
        if let Some(c) = context.filter(|c| !c.is_none()) {
            body["context"] = to_value(py, c, "the context")?;
        }
        let doc = self.call(py, "POST", "/v1/check", Some(body))?;
        Ok(CheckResult {
            passed: doc["passed"].as_bool().unwrap_or(false),
            gates: gate_checks(py, &doc)?,
        })
    }

    /// [`check_gates`](Self::check_gates) for asyncio, on a thread.
    #[pyo3(signature = (gates, payload, context=None))]
    fn acheck_gates<'py>(
        slf: &Bound<'py, Self>,
        gates: &Bound<'py, PyAny>,
        payload: &Bound<'py, PyAny>,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("asyncio")?.call_method1(
            "to_thread",
            (slf.getattr("check_gates")?, gates, payload, context),
        )
    }

    /// Many handoffs at one seam in one request: a `SeamResult` per payload, in order,
    /// or the `ServerError` of an item that failed (returned, not raised).
    fn batch(
        &self,
        py: Python<'_>,
        seam: &str,
        payloads: &Bound<'_, PyAny>,
    ) -> PyResult<Py<PyList>> {
        let mut items = Vec::new();
        for p in payloads.try_iter()? {
            items.push(json!({"payload": to_value(py, &p?, "a payload")?}));
        }
        let doc = self.call(
            py,
            "POST",
            &format!("{}/batch", seam_path(seam)?),
            Some(json!({ "items": items })),
        )?;
        let out = PyList::empty(py);
        for r in doc["results"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            if let Some(e) = r.get("error") {
                let err = server_error(
                    py,
                    e["status"].as_u64().unwrap_or_default() as u16,
                    e["code"].as_str().unwrap_or("unknown"),
                    e["message"].as_str().unwrap_or_default().to_string(),
                );
                out.append(err.value(py))?;
            } else {
                out.append(Py::new(py, seam_result(py, r)?)?)?;
            }
        }
        Ok(out.unbind())
    }

    /// The server's seams: name, gates, router and policies, as dicts.
    fn seams(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let doc = self.call(py, "GET", "/v1/seams", None)?;
        from_value(py, &doc["seams"])
    }

    /// Whether the server is ready (`GET /readyz`).
    fn ready(&self, py: Python<'_>) -> bool {
        self.call(py, "GET", "/readyz", None).is_ok()
    }

    #[getter]
    fn url(&self) -> &str {
        &self.base
    }

    fn __repr__(&self) -> String {
        format!(
            "Client({:?}, token={})",
            self.base,
            py_bool(self.token.is_some())
        )
    }
}
