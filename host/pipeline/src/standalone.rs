//! A seam of its own, outside any pipeline: the gates, router and policies of a
//! pipeline seam, for callers that run their own steps (`seam serve`'s `[seams.NAME]`).
//! It checks a handoff and decides what happens to it exactly as a pipeline's seam does
//! ([`policy::decide`]); the caller carries out the decision.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use seam_runtime::{check_all, check_all_blocking, Limits, RouteReport, Runtime};
use seam_types::Handoff;

use crate::config::{
    de_retries, default_max_fixes, default_max_retries, BundlesSection, ConfigError, Ctx, Gate,
    GateSection, Next, Policy, RouterSection, SeamDefaults, SeamRouter,
};
use crate::policy::{self, decide, Decision, Routed, SeamRules, Upstream};
use crate::run::GateResult;

/// The cursor of an *outside run*: one whose checks were recorded through `seam serve`
/// by an orchestrator that runs its steps itself. seam never drives such a run.
pub use seam_ledger::OUTSIDE_CURSOR;

/// Longest seam name (it is a URL path segment and a metrics label).
pub const MAX_SEAM_NAME: usize = 64;

/// `[seams.NAME]`: a seam's gates, router and policies, in a pipeline seam's words.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeamSection {
    /// What the seam is for (shown in listings).
    #[serde(default)]
    description: String,
    /// The targets a `route:<target>` policy or the router may name (the caller's own
    /// steps or nodes); none by default.
    #[serde(default)]
    routes: Vec<Spanned<String>>,
    /// The policy of a gate that says none (default `block`).
    on_fail: Option<Spanned<String>>,
    /// What a gate or router malfunction does when it says nothing (default `block`).
    on_error: Option<Spanned<String>>,
    #[serde(default = "default_max_retries", deserialize_with = "de_retries")]
    max_retries: u32,
    /// `block` (default) or `escalate`.
    when_retries_exhausted: Option<Spanned<String>>,
    #[serde(default = "default_max_fixes", deserialize_with = "de_retries")]
    max_fixes: u32,
    /// The limits of every gate and router that sets none.
    limits: Option<Limits>,
    #[serde(default)]
    gates: Vec<GateSection>,
    router: Option<RouterSection>,
}

/// A loaded seam of its own.
pub struct StandaloneSeam {
    pub name: String,
    pub description: String,
    pub gates: Vec<Gate>,
    pub router: Option<SeamRouter>,
    pub max_retries: u32,
    pub max_fixes: u32,
    pub when_retries_exhausted: Policy,
    pub routes: Vec<String>,
}

/// A handoff checked at a seam, and what the seam decided.
pub struct Checked {
    pub results: Vec<GateResult>,
    /// The router's answer, when the seam has a router and it was asked.
    pub route: Option<RouteReport>,
    /// `policy` or `router:NAME`.
    pub decided_by: String,
    pub decision: Decision,
    pub reason: String,
}

impl Checked {
    /// Whether every gate passed (errors allowed by `on_error = allow` count as passed).
    pub fn passed(&self) -> bool {
        self.results
            .iter()
            .all(|r| match r.report.outcome.verdict() {
                Some(v) => v.passed,
                None => r.on_error == crate::OnError::Allow,
            })
    }

    /// The retry's feedback as the text the upstream step should be given (empty unless
    /// the decision is a retry).
    pub fn feedback_text(&self) -> String {
        match &self.decision {
            Decision::Retry { feedback } => crate::adapters::feedback_text(feedback),
            _ => String::new(),
        }
    }
}

/// Whether `name` may name a seam: 1 to [`MAX_SEAM_NAME`] of `A-Z a-z 0-9 _ - .`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SEAM_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Loads every `[seams.NAME]` of the file at `file` (whose text is `text`), resolving
/// plugin references against `bundles` and the file's folder; returns them with the
/// bundle resolver (for plugins named later). Errors name the file, line and column.
pub fn load_seams(
    file: &Path,
    text: &str,
    bundles: &BundlesSection,
    sections: &BTreeMap<Spanned<String>, SeamSection>,
    runtime: &Runtime,
) -> Result<(Vec<StandaloneSeam>, seam_bundle::Resolver), ConfigError> {
    let ctx = Ctx {
        file: file.display().to_string(),
        text,
        enforce_lock: false,
    };
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut resolved = ctx.bundles(bundles, &dir, file)?;
    let mut seams = Vec::new();
    for (name, s) in sections {
        let n = name.get_ref();
        if !valid_name(n) {
            return Err(ctx.err(
                name.span(),
                format!(
                    "`{n}` cannot name a seam: use 1 to {MAX_SEAM_NAME} letters, digits, `_`, `-` or `.`"
                ),
            ));
        }
        let mut routes: Vec<String> = Vec::new();
        for r in &s.routes {
            let t = r.get_ref();
            if matches!(t.as_str(), "next" | "retry" | "human" | "reject" | "done") || t.is_empty()
            {
                return Err(ctx.err(
                    r.span(),
                    format!("`{t}` cannot be a route: it is empty or a decision of its own (next, retry, human, reject, done)"),
                ));
            }
            if routes.contains(t) {
                return Err(ctx.err(r.span(), format!("route `{t}` is listed twice")));
            }
            routes.push(t.clone());
        }
        let on_fail = match &s.on_fail {
            Some(p) => ctx.policy(p, &routes)?,
            None => Policy::Block,
        };
        let on_error = match &s.on_error {
            Some(e) => ctx.on_error(e)?,
            None => crate::OnError::Block,
        };
        let when_retries_exhausted =
            ctx.when_retries_exhausted(s.when_retries_exhausted.as_ref(), &routes)?;
        let limits = s.limits.clone().unwrap_or_default();
        let defaults = SeamDefaults {
            on_fail: &on_fail,
            on_error,
            limits: &limits,
            targets: &routes,
        };
        let at = format!("`{n}`");
        let gates = ctx.gates(&s.gates, &at, &defaults, &dir, runtime, &mut resolved)?;
        let router = ctx.router(s.router.as_ref(), &defaults, &dir, runtime, &mut resolved)?;
        if gates.is_empty() && router.is_none() {
            return Err(ctx.err(
                name.span(),
                format!(
                    "seam `{n}` has no gates and no router; add `gates = [{{ plugin = \"…\" }}]`"
                ),
            ));
        }
        seams.push(StandaloneSeam {
            name: n.clone(),
            description: s.description.clone(),
            gates,
            router,
            max_retries: s.max_retries,
            max_fixes: s.max_fixes,
            when_retries_exhausted,
            routes,
        });
    }
    Ok((seams, resolved.resolver))
}

impl StandaloneSeam {
    /// Checks `handoff` with every gate (at once), asks the router when there is one and
    /// no malfunction blocks, and decides. `attempt` is the upstream step's attempt
    /// (1 for the first) and `fixes` the fixes applied so far, as the caller counts them.
    pub async fn check(&self, handoff: &Handoff, attempt: u32, fixes: u32) -> Checked {
        let plugins: Vec<_> = self.gates.iter().map(|g| g.plugin.clone()).collect();
        let results = self.results(check_all(&plugins, handoff).await);
        let route = match &self.router {
            Some(router) if !blocked(&results) => Some(
                router
                    .plugin
                    .route(handoff, &policy::router_verdicts(&results))
                    .await,
            ),
            _ => None,
        };
        self.decided(results, route, attempt, fixes)
    }

    /// [`check`](Self::check) on this thread, for callers that are not async (the
    /// Python package): cheap gates and the router run here, with no hop to the
    /// runtime's threads and back, which costs more than small gates. Must not be
    /// called from inside an async runtime.
    pub fn check_blocking(&self, handoff: &Handoff, attempt: u32, fixes: u32) -> Checked {
        let plugins: Vec<_> = self.gates.iter().map(|g| g.plugin.clone()).collect();
        let results = self.results(check_all_blocking(&plugins, handoff));
        let route = match &self.router {
            Some(router) if !blocked(&results) => Some(
                router
                    .plugin
                    .route_blocking(handoff, &policy::router_verdicts(&results)),
            ),
            _ => None,
        };
        self.decided(results, route, attempt, fixes)
    }

    fn results(&self, reports: Vec<seam_runtime::CheckReport>) -> Vec<GateResult> {
        self.gates
            .iter()
            .zip(reports)
            .map(|(gate, report)| GateResult::of(gate, report))
            .collect()
    }

    /// The decision on the gates' results and the router's answer.
    fn decided(
        &self,
        results: Vec<GateResult>,
        route: Option<RouteReport>,
        attempt: u32,
        fixes: u32,
    ) -> Checked {
        let routed = route
            .as_ref()
            .zip(self.router.as_ref())
            .map(|(r, router)| Routed {
                router: router.plugin.name().to_string(),
                on_error: router.on_error,
                route: r.route.clone(),
            });
        let rules = SeamRules {
            max_retries: self.max_retries,
            when_retries_exhausted: &self.when_retries_exhausted,
            max_fixes: self.max_fixes,
            steps: &self.routes,
        };
        let upstream = Upstream {
            from_step: &self.name,
            to_step: "next",
            attempt: attempt.max(1),
        };
        let next = Next::Step("next".into());
        let (decided_by, decision, reason) =
            decide(&rules, &upstream, &results, &next, fixes, routed.as_ref());
        Checked {
            results,
            route,
            decided_by,
            decision,
            reason,
        }
    }
}

/// Whether a gate's malfunction blocks the handoff (then the router is not asked).
fn blocked(results: &[GateResult]) -> bool {
    results
        .iter()
        .any(|r| r.report.outcome.error().is_some() && r.on_error == crate::OnError::Block)
}

/// The action a decision asks of a caller outside a pipeline: `next`, `retry`, `fix`,
/// `human`, `reject`, `route` or `error`.
pub fn action(decision: &Decision) -> &'static str {
    match Action::of(decision) {
        Action::Next => "next",
        Action::Retry => "retry",
        Action::Fix => "fix",
        Action::Human => "human",
        Action::Reject => "reject",
        Action::Route => "route",
        Action::Error => "error",
    }
}

/// What a caller outside a pipeline does with a handoff: [`action`]'s words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Pass the handoff on.
    Next,
    /// Run the upstream step again with `feedback`.
    Retry,
    /// Go on with the repaired `payload`.
    Fix,
    /// Ask a person (`findings` say why).
    Human,
    /// Stop: the handoff is refused.
    Reject,
    /// Go to the step the router chose (`target`).
    Route,
    /// A gate or the router failed and the seam blocks on errors.
    Error,
}

/// The decision as callers outside a pipeline act on it: its [`Action`] with what each
/// needs.
#[derive(Debug, Clone, serde::Serialize, schemars::JsonSchema)]
pub struct DecisionDoc {
    pub action: Action,
    /// `policy` or `router:NAME`.
    pub decided_by: String,
    pub reason: String,
    /// For `retry`: the findings as the text the upstream step should be given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback: Option<String>,
    /// For `retry` and `human`: the findings behind the decision.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<Value>>,
    /// For `fix`: the gate whose fix was taken.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gate: Option<String>,
    /// For `fix`: the repaired payload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// For `route`: the step the router chose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

impl Action {
    /// The action a decision asks for.
    pub fn of(decision: &Decision) -> Action {
        match decision {
            Decision::Next(_) | Decision::Done => Action::Next,
            Decision::Retry { .. } => Action::Retry,
            Decision::Fix { .. } => Action::Fix,
            Decision::Escalate { .. } => Action::Human,
            Decision::Reject(_) => Action::Reject,
            Decision::Route(_) => Action::Route,
            Decision::Fail(_) => Action::Error,
        }
    }
}

impl DecisionDoc {
    /// The checked handoff's decision with what its action needs.
    pub fn of(checked: &Checked) -> DecisionDoc {
        let mut d = DecisionDoc {
            action: Action::of(&checked.decision),
            decided_by: checked.decided_by.clone(),
            reason: checked.reason.clone(),
            feedback: None,
            findings: None,
            gate: None,
            payload: None,
            target: None,
        };
        match &checked.decision {
            Decision::Retry { feedback } => {
                d.feedback = Some(crate::adapters::feedback_text(feedback));
                d.findings = Some(feedback.clone());
            }
            Decision::Fix { gate, payload } => {
                d.gate = Some(gate.clone());
                d.payload =
                    Some(serde_json::from_str(payload).unwrap_or(Value::String(payload.clone())));
            }
            Decision::Escalate { findings, .. } => d.findings = Some(findings.clone()),
            Decision::Route(target) => d.target = Some(target.clone()),
            Decision::Next(_) | Decision::Done | Decision::Reject(_) | Decision::Fail(_) => {}
        }
        d
    }
}
