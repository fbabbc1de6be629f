//! Verdicts, findings and routes: what a plugin answers.

use serde::{Deserialize, Serialize};

/// How much a finding matters. Only `Error` fails a verdict built with [`Verdict::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// A byte range `[start, end)` in the string a finding points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

/// One thing a gate found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Machine-readable, dotted code, e.g. `pii.email`.
    pub code: String,
    /// One human-readable sentence.
    pub message: String,
    /// JSON pointer to the value the finding is about (`""` = the whole payload).
    pub path: Option<String>,
    /// Byte range inside the string at `path`.
    pub span: Option<Span>,
    pub severity: Severity,
}

impl Finding {
    fn new(severity: Severity, code: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            code: code.into(),
            message: message.into(),
            path: None,
            span: None,
            severity,
        }
    }

    /// A finding that fails the gate.
    pub fn error(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A finding worth a look that does not fail the gate.
    pub fn warning(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    /// A finding for information only.
    pub fn info(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(Severity::Info, code, message)
    }

    /// Points the finding at the value at JSON pointer `path`.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Points the finding at bytes `start..end` of the string at its path.
    pub fn span(mut self, start: usize, end: usize) -> Self {
        self.span = Some(Span {
            start: start as u32,
            end: end as u32,
        });
        self
    }
}

/// A gate's answer. A failed verdict is the gate doing its job, not an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub passed: bool,
    /// Optional score in `[0, 1]`.
    pub score: Option<f64>,
    pub findings: Vec<Finding>,
    /// Optional repaired payload, as JSON text.
    pub fix: Option<String>,
}

impl Default for Verdict {
    fn default() -> Self {
        Self::new()
    }
}

impl Verdict {
    /// A passing verdict with no findings; [`push`](Self::push) findings into it.
    pub fn new() -> Self {
        Verdict {
            passed: true,
            score: None,
            findings: Vec::new(),
            fix: None,
        }
    }

    /// A verdict from findings: it passes unless one of them is an error.
    pub fn from_findings(findings: Vec<Finding>) -> Self {
        let passed = !findings.iter().any(|f| f.severity == Severity::Error);
        Verdict {
            passed,
            findings,
            ..Self::new()
        }
    }

    /// Adds a finding; an error finding fails the verdict.
    pub fn push(&mut self, finding: Finding) {
        if finding.severity == Severity::Error {
            self.passed = false;
        }
        self.findings.push(finding);
    }

    /// Sets the score (clamped into `[0, 1]`).
    pub fn with_score(mut self, score: f64) -> Self {
        self.score = Some(if score.is_nan() {
            0.0
        } else {
            score.clamp(0.0, 1.0)
        });
        self
    }

    /// Sets the repaired payload the gate would pass.
    pub fn with_fix(mut self, payload: &serde_json::Value) -> Self {
        self.fix = Some(crate::json::to_text(payload));
        self
    }

    /// Whether any finding has this code.
    pub fn has(&self, code: &str) -> bool {
        self.findings.iter().any(|f| f.code == code)
    }
}

/// One gate's verdict, as a router sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateVerdict {
    pub gate: String,
    pub verdict: Verdict,
}

/// Where a handoff goes next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// A step name, or `next`, `retry`, `human`, `done`, `reject`.
    pub target: String,
    pub reason: String,
}

impl Route {
    /// Routes to `target` (a step name or one of the reserved targets).
    pub fn to(target: impl Into<String>, reason: impl Into<String>) -> Self {
        Route {
            target: target.into(),
            reason: reason.into(),
        }
    }
}
