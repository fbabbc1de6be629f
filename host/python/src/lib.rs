//! `seam._seam`: the gates and seams of seam in-process, for Python (the `seam`
//! package re-exports it; see docs/python.md).
//!
//! One runtime per process, made at first use. Checks release the GIL while plugins
//! run, so Python threads check in parallel and `asyncio` callers await them on a
//! thread (`acheck`). Results are typed classes, never JSON strings; errors are
//! exceptions under `seam.SeamError`, never a crash.

mod client;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use pyo3::exceptions::PyException;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use serde_json::Value;

use seam_ledger::Ledger;
use seam_pipeline::standalone::{Checked, DecisionDoc, StandaloneSeam};
use seam_runtime::{CheckReport, Limits, Outcome, Plugin, Runtime, RuntimeConfig};
use seam_types::{Handoff, PluginKind};

pyo3::create_exception!(
    seam,
    SeamError,
    PyException,
    "Every error seam raises: what was wrong, where, and what to do."
);
pyo3::create_exception!(
    seam,
    LoadError,
    SeamError,
    "A plugin could not be loaded (not found, not a seam plugin, not trusted, …)."
);
pyo3::create_exception!(
    seam,
    SettingsError,
    LoadError,
    "A plugin refused its settings (its schema, or its prepare())."
);
pyo3::create_exception!(
    seam,
    ConfigError,
    SeamError,
    "A seam's configuration is wrong; the message names the file, line and column."
);
pyo3::create_exception!(
    seam,
    PayloadError,
    SeamError,
    "A payload or context that is not JSON-serializable, or over a cap."
);
pyo3::create_exception!(
    seam,
    LedgerError,
    SeamError,
    "The ledger could not be opened or written."
);

/// The process's runtime, made at first use.
fn runtime() -> PyResult<&'static Runtime> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            Runtime::new(RuntimeConfig::default())
                .map_err(|e| format!("seam could not start its runtime: {e:#}"))
        })
        .as_ref()
        .map_err(|e| SeamError::new_err(e.clone()))
}

fn load_error(e: seam_runtime::LoadError) -> PyErr {
    use seam_runtime::LoadError as E;
    match e {
        E::Refused { .. } | E::InvalidSettings { .. } => SettingsError::new_err(e.to_string()),
        other => LoadError::new_err(other.to_string()),
    }
}

/// A Python value as JSON text: a `str` is a JSON string; anything else goes through
/// `json.dumps` (no NaN or infinity).
fn to_json(py: Python<'_>, value: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_string()).to_string());
    }
    static DUMPS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let kwargs = PyDict::new(py);
    kwargs.set_item(intern!(py, "allow_nan"), false)?;
    match DUMPS
        .import(py, "json", "dumps")?
        .call((value,), Some(&kwargs))
    {
        Ok(text) => Ok(text.extract::<String>()?),
        Err(e) => Err(PayloadError::new_err(format!(
            "{what} is not JSON-serializable ({}); pass a str, or dicts, lists, numbers, \
             booleans and None",
            e.value(py)
        ))),
    }
}

/// A Python value as a JSON value (for settings).
fn to_value(py: Python<'_>, value: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    let text = to_json(py, value, what)?;
    serde_json::from_str(&text).map_err(|e| PayloadError::new_err(format!("{what}: {e}")))
}

/// JSON text as a Python object, read by `json.loads` (integers of any size, as
/// Python reads them).
fn from_json(py: Python<'_>, text: &str) -> PyResult<Py<PyAny>> {
    static LOADS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    Ok(LOADS.import(py, "json", "loads")?.call1((text,))?.unbind())
}

/// A JSON value as the Python object `json.loads` would make of its text, built
/// directly: a round trip through the `json` module cost several microseconds per
/// check result.
fn from_value(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Null => py.None(),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any().unbind(),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i.into_pyobject(py)?.into_any().unbind(),
            (None, Some(u)) => u.into_pyobject(py)?.into_any().unbind(),
            _ => match n.as_f64() {
                Some(f) if n.is_f64() => f.into_pyobject(py)?.into_any().unbind(),
                // An integer beyond 64 bits: exact, as Python reads it.
                _ => from_json(py, &n.to_string())?,
            },
        },
        Value::String(s) => PyString::new(py, s).into_any().unbind(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(from_value(py, item)?)?;
            }
            list.into_any().unbind()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, from_value(py, item)?)?;
            }
            dict.into_any().unbind()
        }
    })
}

/// A byte range `[start, end)` of the string a finding points at.
#[pyclass(module = "seam", frozen, get_all)]
#[derive(Clone)]
struct Span {
    start: u32,
    end: u32,
}

#[pymethods]
impl Span {
    fn __repr__(&self) -> String {
        format!("Span({}, {})", self.start, self.end)
    }
}

/// One thing a gate found.
#[pyclass(module = "seam", frozen, get_all)]
#[derive(Clone)]
struct Finding {
    code: String,
    message: String,
    /// A JSON pointer into the payload, when the finding is about part of it.
    path: Option<String>,
    span: Option<Span>,
    /// `"info"`, `"warning"` or `"error"`.
    severity: String,
}

#[pymethods]
impl Finding {
    fn __repr__(&self) -> String {
        format!("Finding({:?}, {:?})", self.code, self.message)
    }
}

/// A gate's answer about one handoff.
#[pyclass(module = "seam", frozen, get_all)]
struct Verdict {
    passed: bool,
    score: Option<f64>,
    findings: Vec<Finding>,
    /// The repaired payload the gate would pass, as a Python value.
    fix: Option<Py<PyAny>>,
}

#[pymethods]
impl Verdict {
    fn __repr__(&self) -> String {
        format!(
            "Verdict(passed={}, findings={})",
            py_bool(self.passed),
            self.findings.len()
        )
    }
}

/// Why a gate could not answer: `kind` is `timeout`, `out-of-memory`, `trap`,
/// `plugin`, …; `message` says it in words.
#[pyclass(module = "seam", frozen, get_all)]
#[derive(Clone)]
struct ErrorCause {
    kind: String,
    message: String,
}

#[pymethods]
impl ErrorCause {
    fn __repr__(&self) -> String {
        format!("ErrorCause({:?}, {:?})", self.kind, self.message)
    }
}

/// One gate's check of one handoff: a verdict, or an error.
#[pyclass(module = "seam", frozen, get_all)]
struct GateCheck {
    /// The gate's name: its plugin's for ad-hoc gates, the seam's name for it otherwise.
    gate: String,
    plugin: String,
    /// Whether the gate answered and its verdict passed.
    passed: bool,
    verdict: Option<Py<Verdict>>,
    error: Option<ErrorCause>,
    duration_us: u64,
    /// What the plugin printed or logged.
    log: String,
    /// What the seam does when this gate fails (seam checks only).
    policy: Option<String>,
}

#[pymethods]
impl GateCheck {
    fn __repr__(&self) -> String {
        match &self.error {
            Some(e) => format!("GateCheck({:?}, error={:?})", self.gate, e.kind),
            None => format!(
                "GateCheck({:?}, passed={})",
                self.gate,
                py_bool(self.passed)
            ),
        }
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// A verdict as the Python class: findings with spans and severities, the fix as a
/// Python value.
fn verdict_class(py: Python<'_>, v: &seam_types::Verdict) -> PyResult<Verdict> {
    let findings = v
        .findings
        .iter()
        .map(|f| Finding {
            code: f.code.clone(),
            message: f.message.clone(),
            path: f.path.clone(),
            span: f.span.map(|s| Span {
                start: s.start,
                end: s.end,
            }),
            severity: match f.severity {
                seam_types::Severity::Info => "info",
                seam_types::Severity::Warning => "warning",
                seam_types::Severity::Error => "error",
            }
            .to_string(),
        })
        .collect();
    Ok(Verdict {
        passed: v.passed,
        score: v.score,
        findings,
        fix: v.fix.as_deref().map(|t| from_json(py, t)).transpose()?,
    })
}

fn gate_check(
    py: Python<'_>,
    gate: &str,
    report: &CheckReport,
    policy: Option<String>,
) -> PyResult<GateCheck> {
    let (verdict, error) = match &report.outcome {
        Outcome::Verdict(v) => {
            let verdict = verdict_class(py, v)?;
            (Some(Py::new(py, verdict)?), None)
        }
        Outcome::Error(cause) => (
            None,
            Some(ErrorCause {
                kind: cause.kind().to_string(),
                message: format!("plugin `{}` {cause}", report.plugin),
            }),
        ),
    };
    Ok(GateCheck {
        gate: gate.to_string(),
        plugin: report.plugin.clone(),
        passed: report.outcome.passed(),
        verdict,
        error,
        duration_us: report.duration.as_micros() as u64,
        log: report.log.clone(),
        policy,
    })
}

/// The verdicts of ad-hoc gates on one handoff.
#[pyclass(module = "seam", frozen, get_all)]
struct CheckResult {
    /// Whether every gate answered and passed.
    passed: bool,
    gates: Vec<Py<GateCheck>>,
}

#[pymethods]
impl CheckResult {
    fn __repr__(&self, py: Python<'_>) -> String {
        let gates: Vec<String> = self.gates.iter().map(|g| g.get().__repr__()).collect();
        let _ = py;
        format!(
            "CheckResult(passed={}, gates=[{}])",
            py_bool(self.passed),
            gates.join(", ")
        )
    }

    fn __bool__(&self) -> bool {
        self.passed
    }
}

/// What the caller does next with a handoff checked at a seam.
#[pyclass(module = "seam", frozen, get_all)]
struct Decision {
    /// `next`, `retry`, `fix`, `human`, `reject`, `route` or `error`.
    action: String,
    /// `policy` or `router:NAME`.
    decided_by: String,
    reason: String,
    /// For `retry`: the findings as the text the upstream step should be given.
    feedback: Option<String>,
    /// For `retry` and `human`: the findings behind the decision (dicts).
    findings: Option<Py<PyAny>>,
    /// For `fix`: the gate whose fix was taken.
    gate: Option<String>,
    /// For `fix`: the repaired payload.
    payload: Option<Py<PyAny>>,
    /// For `route`: the step the router chose.
    target: Option<String>,
}

#[pymethods]
impl Decision {
    fn __repr__(&self) -> String {
        format!("Decision({:?}, {:?})", self.action, self.reason)
    }
}

fn decision(py: Python<'_>, checked: &Checked) -> PyResult<Decision> {
    let d = DecisionDoc::of(checked);
    let action = serde_json::to_value(d.action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    Ok(Decision {
        action,
        decided_by: d.decided_by,
        reason: d.reason,
        feedback: d.feedback,
        findings: d
            .findings
            .map(|f| from_value(py, &Value::Array(f)))
            .transpose()?,
        gate: d.gate,
        payload: d.payload.map(|p| from_value(py, &p)).transpose()?,
        target: d.target,
    })
}

/// The router's answer at a seam, or why there is none.
#[pyclass(module = "seam", frozen, get_all)]
struct RouteResult {
    router: String,
    target: Option<String>,
    reason: Option<String>,
    error: Option<ErrorCause>,
    duration_us: u64,
}

#[pymethods]
impl RouteResult {
    fn __repr__(&self) -> String {
        format!("RouteResult({:?}, target={:?})", self.router, self.target)
    }
}

/// Where a check was recorded in the ledger.
#[pyclass(module = "seam", frozen, get_all)]
struct Recorded {
    pipeline: String,
    run: String,
    handoff_id: i64,
    /// The review the check opened, when the decision is `human`.
    review_id: Option<i64>,
}

#[pymethods]
impl Recorded {
    fn __repr__(&self) -> String {
        format!(
            "Recorded(pipeline={:?}, run={:?}, handoff_id={})",
            self.pipeline, self.run, self.handoff_id
        )
    }
}

/// A seam's verdicts on one handoff and its decision.
#[pyclass(module = "seam", frozen, get_all)]
struct SeamResult {
    seam: String,
    /// Whether every gate passed (errors allowed by `on_error = "allow"` count as passed).
    passed: bool,
    gates: Vec<Py<GateCheck>>,
    decision: Py<Decision>,
    route: Option<Py<RouteResult>>,
    recorded: Option<Py<Recorded>>,
}

#[pymethods]
impl SeamResult {
    fn __repr__(&self) -> String {
        let d = self.decision.get();
        format!(
            "SeamResult({:?}, passed={}, action={:?})",
            self.seam,
            py_bool(self.passed),
            d.action
        )
    }

    fn __bool__(&self) -> bool {
        self.passed
    }
}

/// One handoff: the payload as JSON text, and the context (`null` without one).
fn handoff(
    py: Python<'_>,
    payload: &Bound<'_, PyAny>,
    context: Option<&Bound<'_, PyAny>>,
) -> PyResult<Handoff> {
    let mut h = Handoff::new(to_json(py, payload, "the payload")?);
    if let Some(c) = context {
        h.context = to_json(py, c, "the context")?;
    }
    Ok(h)
}

/// Where `BUNDLE/PLUGIN` gates are found and which bundles are trusted.
fn resolver(
    bundle_paths: Option<Vec<PathBuf>>,
    trusted_keys: Option<Vec<String>>,
    require_signature: bool,
) -> PyResult<seam_bundle::Resolver> {
    let keys = trusted_keys
        .unwrap_or_default()
        .iter()
        .map(|k| seam_bundle::parse_public_key(k))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| LoadError::new_err(format!("trusted_keys: {e}")))?;
    let mut paths = bundle_paths.unwrap_or_default();
    paths.extend(seam_bundle::env_paths());
    Ok(seam_bundle::Resolver {
        paths,
        policy: seam_bundle::TrustPolicy {
            require_signature: require_signature || !keys.is_empty(),
            trusted_keys: keys,
        },
        lock: None,
    })
}

/// A standard plugin, a `.wasm` file, or `BUNDLE/PLUGIN` from the bundle paths.
fn source(spec: &str, resolver: &seam_bundle::Resolver) -> PyResult<seam_runtime::PluginSource> {
    match seam_bundle::PluginRef::parse(spec) {
        Some(Ok(r)) => resolver
            .source(&r)
            .map(|(_, s)| s)
            .map_err(|e| LoadError::new_err(format!("gate `{spec}`: {e}"))),
        Some(Err(e)) => Err(LoadError::new_err(format!("gate `{spec}`: {e}"))),
        None => seam_runtime::resolve(spec).map_err(load_error),
    }
}

/// One gate of a `Gates` list: `"name"`, `("name", settings)` or
/// `{"gate": "name", "settings": {...}}`.
fn gate_spec(py: Python<'_>, item: &Bound<'_, PyAny>, i: usize) -> PyResult<(String, Value)> {
    let bad = || {
        PyErr::new::<pyo3::exceptions::PyTypeError, _>(format!(
            "gates[{i}]: a gate is \"name\", (\"name\", settings) or {{\"gate\": \"name\", \
             \"settings\": {{…}}}}, e.g. (\"max-words\", {{\"max_words\": 40}})"
        ))
    };
    if let Ok(name) = item.extract::<String>() {
        return Ok((name, Value::Object(Default::default())));
    }
    if let Ok(t) = item.cast::<PyTuple>() {
        if t.len() != 2 {
            return Err(bad());
        }
        let name: String = t.get_item(0)?.extract().map_err(|_| bad())?;
        let settings = to_value(py, &t.get_item(1)?, &format!("gates[{i}] settings"))?;
        return Ok((name, settings));
    }
    if let Ok(d) = item.cast::<PyDict>() {
        let name: String = match d.get_item("gate")? {
            Some(n) => n.extract().map_err(|_| bad())?,
            None => return Err(bad()),
        };
        for key in d.keys() {
            let key: String = key.extract()?;
            if key != "gate" && key != "settings" {
                return Err(PyErr::new::<pyo3::exceptions::PyTypeError, _>(format!(
                    "gates[{i}]: unknown key `{key}`; a gate takes `gate` and `settings`"
                )));
            }
        }
        let settings = match d.get_item("settings")? {
            Some(s) if !s.is_none() => to_value(py, &s, &format!("gates[{i}] settings"))?,
            _ => Value::Object(Default::default()),
        };
        return Ok((name, settings));
    }
    Err(bad())
}

/// A `Gates` list as (name, settings) pairs: a list of gates, one gate, or a mapping
/// of name to settings.
fn gate_specs(py: Python<'_>, gates: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Value)>> {
    let mut specs = Vec::new();
    if let Ok(d) = gates.cast::<PyDict>() {
        for (i, (k, v)) in d.iter().enumerate() {
            let item = PyTuple::new(py, [k, v])?;
            specs.push(gate_spec(py, item.as_any(), i)?);
        }
    } else if gates.cast::<PyString>().is_ok() {
        specs.push(gate_spec(py, gates, 0)?);
    } else {
        let list = gates.try_iter().map_err(|_| {
            PyErr::new::<pyo3::exceptions::PyTypeError, _>(
                "gates: give a list of gates, e.g. [(\"max-words\", {\"max_words\": 40}), \"pii\"]",
            )
        })?;
        for (i, item) in list.enumerate() {
            specs.push(gate_spec(py, &item?, i)?);
        }
    }
    Ok(specs)
}

/// Limits for plugins loaded from Python: the CLI's defaults, with a deadline and
/// memory of the caller's choosing.
fn limits(deadline_ms: Option<u64>, memory_mib: Option<u64>) -> PyResult<Limits> {
    let mut limits = Limits::default();
    if let Some(ms) = deadline_ms {
        if ms == 0 || ms > 3_600_000 {
            return Err(PyErr::new::<pyo3::exceptions::PyValueError, _>(format!(
                "deadline_ms {ms} is outside 1..=3600000"
            )));
        }
        limits.deadline_ms = ms;
    }
    if let Some(mib) = memory_mib {
        let cap = (RuntimeConfig::default().max_memory_bytes >> 20) as u64;
        if mib == 0 || mib > cap {
            return Err(PyErr::new::<pyo3::exceptions::PyValueError, _>(format!(
                "memory_mib {mib} is outside 1..={cap}"
            )));
        }
        limits.memory_bytes = (mib << 20) as usize;
    }
    Ok(limits)
}

/// Ad-hoc gates, loaded once: `Gates([("max-words", {"max_words": 40}), "pii"])`.
#[pyclass(module = "seam", frozen)]
struct Gates {
    gates: Vec<(String, Plugin)>,
}

#[pymethods]
impl Gates {
    #[new]
    #[pyo3(signature = (gates, *, bundle_paths=None, trusted_keys=None, require_signature=false, deadline_ms=None, memory_mib=None))]
    fn new(
        py: Python<'_>,
        gates: &Bound<'_, PyAny>,
        bundle_paths: Option<Vec<PathBuf>>,
        trusted_keys: Option<Vec<String>>,
        require_signature: bool,
        deadline_ms: Option<u64>,
        memory_mib: Option<u64>,
    ) -> PyResult<Gates> {
        let specs = gate_specs(py, gates)?;
        if specs.is_empty() {
            return Err(PyErr::new::<pyo3::exceptions::PyValueError, _>(
                "gates: give at least one gate, e.g. [(\"max-words\", {\"max_words\": 40})]",
            ));
        }
        let resolver = resolver(bundle_paths, trusted_keys, require_signature)?;
        let limits = limits(deadline_ms, memory_mib)?;
        let runtime = runtime()?;
        let mut loaded = Vec::with_capacity(specs.len());
        for (name, settings) in specs {
            let source = source(&name, &resolver)?;
            let plugin = py
                .detach(|| runtime.load(&source, PluginKind::Gate, &settings, limits.clone()))
                .map_err(load_error)?;
            loaded.push((name, plugin));
        }
        Ok(Gates { gates: loaded })
    }

    /// Checks one handoff with every gate; the GIL is released while they run.
    #[pyo3(signature = (payload, context=None))]
    fn check(
        &self,
        py: Python<'_>,
        payload: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<CheckResult> {
        let h = handoff(py, payload, context)?;
        let plugins: Vec<Plugin> = self.gates.iter().map(|(_, p)| p.clone()).collect();
        let reports = py.detach(|| seam_runtime::check_all_blocking(&plugins, &h));
        let mut gates = Vec::with_capacity(reports.len());
        for ((name, _), report) in self.gates.iter().zip(&reports) {
            gates.push(Py::new(py, gate_check(py, name, report, None)?)?);
        }
        Ok(CheckResult {
            passed: reports.iter().all(|r| r.outcome.passed()),
            gates,
        })
    }

    /// The gates' names, in order.
    /// [`check`](Self::check) for asyncio: a coroutine that runs the check on a thread
    /// (`asyncio.to_thread`), so the event loop goes on while the gates run.
    #[pyo3(signature = (payload, context=None))]
    fn acheck<'py>(
        slf: &Bound<'py, Self>,
        payload: &Bound<'py, PyAny>,
        context: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        py.import("asyncio")?
            .call_method1("to_thread", (slf.getattr("check")?, payload, context))
    }

    #[getter]
    fn names(&self) -> Vec<String> {
        self.gates.iter().map(|(n, _)| n.clone()).collect()
    }

    fn __len__(&self) -> usize {
        self.gates.len()
    }

    fn __repr__(&self) -> String {
        format!("Gates({:?})", self.names())
    }
}

/// A configured seam: its gates, router and policies, deciding what happens to each
/// handoff (`next`, `retry` with feedback, `fix`, `human`, `reject`, `route`).
#[pyclass(module = "seam", frozen)]
struct Seam {
    seam: Arc<StandaloneSeam>,
    ledger: Option<Arc<dyn Ledger>>,
    origin: String,
}

/// Loads `[seams.NAME]` from TOML text (`file` names it in errors).
fn load_seam(py: Python<'_>, file: &Path, text: &str, name: &str) -> PyResult<StandaloneSeam> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        bundles: seam_pipeline::config::BundlesSection,
        #[serde(default)]
        seams: std::collections::BTreeMap<
            toml::Spanned<String>,
            seam_pipeline::standalone::SeamSection,
        >,
    }
    let f: File = toml::from_str(text).map_err(|e| {
        let (line, column) =
            seam_types::position::line_column(text, e.span().map_or(0, |s| s.start));
        ConfigError::new_err(format!(
            "{}:{line}:{column}: {}",
            file.display(),
            e.message().trim()
        ))
    })?;
    let names: Vec<String> = f.seams.keys().map(|k| k.get_ref().clone()).collect();
    if !names.iter().any(|n| n == name) {
        return Err(ConfigError::new_err(format!(
            "no seam `{name}` in {}; its seams: {}",
            file.display(),
            if names.is_empty() {
                "none (add [seams.NAME])".to_string()
            } else {
                names.join(", ")
            }
        )));
    }
    let sections = f
        .seams
        .into_iter()
        .filter(|(k, _)| k.get_ref() == name)
        .collect();
    let runtime = runtime()?;
    let (seams, _) = py
        .detach(|| {
            seam_pipeline::standalone::load_seams(file, text, &f.bundles, &sections, runtime)
        })
        .map_err(|e| {
            if file.to_string_lossy().starts_with("<seam ") {
                // The text was made from a mapping: its lines mean nothing to the caller.
                ConfigError::new_err(format!("seam `{name}`: {}", e.message))
            } else {
                ConfigError::new_err(e.to_string())
            }
        })?;
    seams
        .into_iter()
        .next()
        .ok_or_else(|| ConfigError::new_err(format!("no seam `{name}` in {}", file.display())))
}

/// A ledger file, or a PostgreSQL database by its `postgres://` URL.
fn open_ledger(path: Option<PathBuf>) -> PyResult<Option<Arc<dyn Ledger>>> {
    path.map(|p| {
        let location = p.to_string_lossy();
        seam_ledger::open(&location).map_err(|e| {
            LedgerError::new_err(if seam_ledger::pg::is_url(&location) {
                // It names the URL without its password.
                ledger_error_text(&e)
            } else {
                format!("opening the ledger {}: {e}", p.display())
            })
        })
    })
    .transpose()
}

/// A ledger error with its causes, as one line.
fn ledger_error_text(e: &seam_ledger::LedgerError) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

#[pymethods]
impl Seam {
    /// A seam from a mapping in the vocabulary of a `[seams.NAME]` table:
    /// `Seam("reply", {"on_fail": "retry", "gates": [{"plugin": "max-words",
    /// "settings": {"max_words": 40}}]})`.
    #[new]
    #[pyo3(signature = (name, config, *, ledger=None))]
    fn new(
        py: Python<'_>,
        name: &str,
        config: &Bound<'_, PyAny>,
        ledger: Option<PathBuf>,
    ) -> PyResult<Seam> {
        let section = to_value(py, config, &format!("seam `{name}`'s configuration"))?;
        if !section.is_object() {
            return Err(ConfigError::new_err(format!(
                "seam `{name}`: the configuration must be a mapping, e.g. {{\"gates\": [{{\"plugin\": \"pii\"}}]}}"
            )));
        }
        let mut seams = toml::Table::new();
        let table: toml::Value = serde_json::from_value(section)
            .map_err(|e| ConfigError::new_err(format!("seam `{name}`: {e} (TOML has no null)")))?;
        seams.insert(name.to_string(), table);
        let mut doc = toml::Table::new();
        doc.insert("seams".into(), toml::Value::Table(seams));
        let text = toml::to_string(&doc)
            .map_err(|e| ConfigError::new_err(format!("seam `{name}`: {e}")))?;
        let file = PathBuf::from(format!("<seam {name}>"));
        let seam = load_seam(py, &file, &text, name)?;
        Ok(Seam {
            seam: Arc::new(seam),
            ledger: open_ledger(ledger)?,
            origin: "seam (Python)".into(),
        })
    }

    /// The seam `name` of a TOML file with `[seams.NAME]` tables (a `seam serve`
    /// configuration); plugins and bundles are found relative to the file.
    #[staticmethod]
    #[pyo3(signature = (path, name, *, ledger=None))]
    fn from_file(
        py: Python<'_>,
        path: PathBuf,
        name: &str,
        ledger: Option<PathBuf>,
    ) -> PyResult<Seam> {
        let text = seam_types::files::read_regular_text(&path, 1 << 20)
            .map_err(|e| ConfigError::new_err(format!("cannot read {}: {e}", path.display())))?;
        let seam = load_seam(py, &path, &text, name)?;
        Ok(Seam {
            seam: Arc::new(seam),
            ledger: open_ledger(ledger)?,
            origin: format!("seam (Python, {})", path.display()),
        })
    }

    /// Checks one handoff and decides. `attempt` is the upstream step's attempt (1 for
    /// the first) and `fixes` the fixes applied so far. The GIL is released while the
    /// gates run.
    ///
    /// `record={"pipeline": ..., "run": ..., "step": ..., "to": ...}` writes the handoff,
    /// verdicts and decision to the seam's ledger as part of an outside run (`step`
    /// defaults to the seam's name, `to` to `next`; `to="done"` completes the run when
    /// the handoff passes), so `seam report`, review and export cover it.
    #[pyo3(signature = (payload, context=None, *, attempt=1, fixes=0, record=None))]
    fn check(
        &self,
        py: Python<'_>,
        payload: &Bound<'_, PyAny>,
        context: Option<&Bound<'_, PyAny>>,
        attempt: u32,
        fixes: u32,
        record: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<SeamResult> {
        if attempt == 0 {
            return Err(PyErr::new::<pyo3::exceptions::PyValueError, _>(
                "attempt counts from 1 (the upstream step's first attempt)",
            ));
        }
        let record = match record {
            None => None,
            Some(r) if r.is_none() => None,
            Some(r) => {
                let value = to_value(py, r, "record")?;
                let record: seam_pipeline::outside::Record = serde_json::from_value(value)
                    .map_err(|e| {
                        PyErr::new::<pyo3::exceptions::PyValueError, _>(format!(
                            "record: {e}; give {{\"pipeline\": ..., \"run\": ...}} and \
                             optionally \"step\" and \"to\""
                        ))
                    })?;
                record
                    .validate()
                    .map_err(|e| PyErr::new::<pyo3::exceptions::PyValueError, _>(e.to_string()))?;
                let ledger = self.ledger.clone().ok_or_else(|| {
                    LedgerError::new_err(
                        "record needs a ledger: make the seam with ledger=\"seam-ledger.db\"",
                    )
                })?;
                Some((record, ledger))
            }
        };
        let h = handoff(py, payload, context)?;
        let seam = self.seam.clone();
        let origin = &self.origin;
        let (checked, recorded) = py.detach(|| {
            // On this thread: a hop to the runtime's threads and back costs more than
            // the small gates a seam usually holds.
            let checked = seam.check_blocking(&h, attempt, fixes);
            let recorded = record.as_ref().map(|(r, ledger)| {
                seam_pipeline::outside::record(&**ledger, origin, &seam, r, &h, attempt, &checked)
                    .map(|ids| (r, ids))
            });
            (checked, recorded)
        });
        let recorded = match recorded {
            None => None,
            Some(Ok((r, ids))) => Some(Recorded {
                pipeline: r.pipeline.clone(),
                run: r.run.clone(),
                handoff_id: ids.handoff_id,
                review_id: ids.review_id,
            }),
            Some(Err(e)) => return Err(LedgerError::new_err(e.to_string())),
        };
        seam_result(py, &self.seam, &checked, recorded)
    }

    /// [`check`](Self::check) for asyncio: a coroutine that runs the check on a thread
    /// (`asyncio.to_thread`), so the event loop goes on while the gates run.
    #[pyo3(signature = (payload, context=None, *, attempt=1, fixes=0, record=None))]
    fn acheck<'py>(
        slf: &Bound<'py, Self>,
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
            (slf.getattr("check")?, payload, context),
            Some(&kwargs),
        )
    }

    #[getter]
    fn name(&self) -> &str {
        &self.seam.name
    }

    /// The gates' names in the seam, in order.
    #[getter]
    fn gates(&self) -> Vec<String> {
        self.seam.gates.iter().map(|g| g.name.clone()).collect()
    }

    fn __repr__(&self) -> String {
        format!("Seam({:?}, gates={:?})", self.seam.name, self.gates())
    }
}

fn seam_result(
    py: Python<'_>,
    seam: &StandaloneSeam,
    checked: &Checked,
    recorded: Option<Recorded>,
) -> PyResult<SeamResult> {
    let mut gates = Vec::with_capacity(checked.results.len());
    for r in &checked.results {
        gates.push(Py::new(
            py,
            gate_check(py, &r.gate, &r.report, Some(r.policy.to_string()))?,
        )?);
    }
    let route = match &checked.route {
        None => None,
        Some(r) => {
            let (target, reason, error) = match &r.route {
                Ok(a) => (Some(a.target.clone()), Some(a.reason.clone()), None),
                Err(cause) => (
                    None,
                    None,
                    Some(ErrorCause {
                        kind: cause.kind().to_string(),
                        message: format!("router `{}` {cause}", r.plugin),
                    }),
                ),
            };
            Some(Py::new(
                py,
                RouteResult {
                    router: r.plugin.clone(),
                    target,
                    reason,
                    error,
                    duration_us: r.duration.as_micros() as u64,
                },
            )?)
        }
    };
    Ok(SeamResult {
        seam: seam.name.clone(),
        passed: checked.passed(),
        gates,
        decision: Py::new(py, decision(py, checked)?)?,
        route,
        recorded: recorded.map(|r| Py::new(py, r)).transpose()?,
    })
}

/// The ledger's judged candidates as a feedback export (docs/report.md): `records`,
/// `pairs`, or the rows TRL's trainers read, `dpo` (`prompt`, `chosen`, `rejected`) and
/// `kto` (`prompt`, `completion`, `label`). Returns the rows as dicts, or with `out`
/// writes them as JSONL (whole or not at all) and returns how many.
#[pyfunction]
#[pyo3(signature = (ledger, *, shape="records", out=None, pipeline=None, run=None, since=None, until=None, gate=None, decision=None))]
#[allow(clippy::too_many_arguments)]
fn export_feedback(
    py: Python<'_>,
    ledger: PathBuf,
    shape: &str,
    out: Option<PathBuf>,
    pipeline: Option<String>,
    run: Option<String>,
    since: Option<String>,
    until: Option<String>,
    gate: Option<String>,
    decision: Option<String>,
) -> PyResult<Py<PyAny>> {
    use seam_ledger::feedback::{ExportFilter, Shape};
    let value_error = |m: String| PyErr::new::<pyo3::exceptions::PyValueError, _>(m);
    let shape = match shape {
        "records" => Shape::Records,
        "pairs" => Shape::Pairs,
        "dpo" => Shape::Dpo,
        "kto" => Shape::Kto,
        other => {
            return Err(value_error(format!(
                "shape {other:?}: use records, pairs, dpo or kto"
            )))
        }
    };
    if let Some(d) = &decision {
        if d != "accepted" && d != "rejected" {
            return Err(value_error(format!(
                "decision {d:?}: use accepted or rejected"
            )));
        }
    }
    let now = seam_ledger::now_ms();
    let time = |spec: &Option<String>, name: &str| -> PyResult<Option<i64>> {
        spec.as_deref()
            .map(|s| {
                seam_ledger::report::parse_time(s, now)
                    .map_err(|e| value_error(format!("{name} {s:?}: {e}")))
            })
            .transpose()
    };
    let filter = ExportFilter {
        runs: seam_ledger::report::Filter {
            pipeline,
            run,
            since_ms: time(&since, "since")?,
            until_ms: time(&until, "until")?,
        },
        gate,
        decision,
    };
    let location = ledger.to_string_lossy().into_owned();
    let is_url = seam_ledger::pg::is_url(&location);
    if !is_url && !ledger.is_file() {
        return Err(LedgerError::new_err(format!(
            "no ledger at {}; pass the file seam recorded to, or a postgres:// URL",
            ledger.display()
        )));
    }
    let opened: Box<dyn Ledger> = if is_url {
        Box::new(
            py.detach(|| seam_ledger::PgLedger::open(&location))
                .map_err(|e| LedgerError::new_err(ledger_error_text(&e)))?,
        )
    } else {
        Box::new(
            seam_ledger::SqliteLedger::open_read_only(&ledger).map_err(|e| {
                LedgerError::new_err(format!("opening the ledger {}: {e}", ledger.display()))
            })?,
        )
    };
    // Named in messages: a URL without its password.
    let ledger = PathBuf::from(if is_url {
        seam_ledger::pg::redact(&location)
    } else {
        location
    });
    match out {
        None => {
            let mut buf = Vec::new();
            py.detach(|| opened.export(&filter, shape, &mut buf))
                .map_err(|e| {
                    LedgerError::new_err(format!("exporting {}: {e}", ledger.display()))
                })?;
            let text = String::from_utf8_lossy(&buf);
            let rows = pyo3::types::PyList::empty(py);
            for line in text.lines() {
                rows.append(from_json(py, line)?)?;
            }
            Ok(rows.into_any().unbind())
        }
        Some(out) => {
            let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
                (Ok(x), Ok(y)) => x == y,
                _ => false,
            };
            let companions = ["", "-wal", "-shm"].map(|suffix| {
                let mut p = ledger.as_os_str().to_owned();
                p.push(suffix);
                PathBuf::from(p)
            });
            if companions.iter().any(|c| same(c, &out)) {
                return Err(value_error(format!(
                    "out {} is the ledger being read; write the export elsewhere",
                    out.display()
                )));
            }
            let dir = match out.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            let tmp = dir.join(format!(
                ".{}.seam-export-{}",
                out.file_name()
                    .map_or("export".into(), |n| n.to_string_lossy()),
                std::process::id()
            ));
            let written = py.detach(|| -> Result<u64, String> {
                let file = std::fs::File::create(&tmp)
                    .map_err(|e| format!("creating {}: {e}", tmp.display()))?;
                let mut w = std::io::BufWriter::new(file);
                let n = opened
                    .export(&filter, shape, &mut w)
                    .map_err(|e| format!("exporting {}: {e}", ledger.display()));
                let flushed = std::io::Write::flush(&mut w)
                    .map_err(|e| format!("writing {}: {e}", tmp.display()));
                match (n, flushed) {
                    (Ok(n), Ok(())) => std::fs::rename(&tmp, &out)
                        .map(|()| n)
                        .map_err(|e| format!("writing {}: {e}", out.display())),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                }
            });
            match written {
                Ok(n) => Ok(n.into_pyobject(py)?.into_any().unbind()),
                Err(e) => {
                    let _ = std::fs::remove_file(&tmp);
                    Err(LedgerError::new_err(e))
                }
            }
        }
    }
}

/// The names of the standard plugins embedded in seam.
#[pyfunction]
fn standard_plugins() -> Vec<String> {
    seam_runtime::std_plugins::names()
        .into_iter()
        .map(str::to_string)
        .collect()
}

#[pymodule]
fn _seam(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Gates>()?;
    m.add_class::<Seam>()?;
    m.add_class::<CheckResult>()?;
    m.add_class::<SeamResult>()?;
    m.add_class::<GateCheck>()?;
    m.add_class::<Verdict>()?;
    m.add_class::<Finding>()?;
    m.add_class::<Span>()?;
    m.add_class::<ErrorCause>()?;
    m.add_class::<Decision>()?;
    m.add_class::<RouteResult>()?;
    m.add_class::<Recorded>()?;
    m.add_function(wrap_pyfunction!(standard_plugins, m)?)?;
    m.add_function(wrap_pyfunction!(export_feedback, m)?)?;
    m.add_function(wrap_pyfunction!(client::connect, m)?)?;
    m.add_class::<client::Client>()?;
    m.add("ServerError", py.get_type::<client::ServerError>())?;
    m.add("SeamError", py.get_type::<SeamError>())?;
    m.add("LoadError", py.get_type::<LoadError>())?;
    m.add("SettingsError", py.get_type::<SettingsError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("PayloadError", py.get_type::<PayloadError>())?;
    m.add("LedgerError", py.get_type::<LedgerError>())?;
    Ok(())
}
