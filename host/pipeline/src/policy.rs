//! The policy decision at a seam, as a pure function: given the seam's rules, the
//! upstream step's attempt, the gates' results, the router's answer (if the seam has
//! a router and it was asked) and the fixes so far, what happens to the handoff, who
//! decided, and why. No plugin call, no ledger, no I/O: the runner sequences those.

use serde_json::{json, Value};

use seam_runtime::{ErrorCause, Outcome};
use seam_types::{Finding, GateVerdict, Route, Severity, Verdict};

use crate::config::{Next, OnError, Policy};
use crate::run::GateResult;

/// The rules of one seam that the decision reads.
#[derive(Debug, Clone)]
pub struct SeamRules<'a> {
    pub max_retries: u32,
    pub when_retries_exhausted: &'a Policy,
    pub max_fixes: u32,
    /// The pipeline's step names (a router may route to any of them).
    pub steps: &'a [String],
}

/// The handoff's upstream step and its attempt.
#[derive(Debug, Clone)]
pub struct Upstream<'a> {
    pub from_step: &'a str,
    pub to_step: &'a str,
    pub attempt: u32,
}

/// A router's answer at the seam.
#[derive(Debug, Clone)]
pub struct Routed {
    /// The router plugin's name.
    pub router: String,
    pub on_error: OnError,
    pub route: Result<Route, ErrorCause>,
}

/// What a seam decides for a handoff.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Next(Next),
    Done,
    Retry {
        feedback: Vec<Value>,
    },
    Fix {
        gate: String,
        payload: String,
    },
    Escalate {
        reason: String,
        findings: Vec<Value>,
    },
    Route(String),
    Reject(String),
    Fail(String),
}

impl Decision {
    /// The route recorded for it: a step, `next` target, `retry`, `human`, …
    pub fn target(&self) -> String {
        match self {
            Decision::Next(next) => next.label(),
            Decision::Route(s) => s.clone(),
            Decision::Done => "done".into(),
            Decision::Retry { .. } => "retry".into(),
            Decision::Fix { gate, .. } => format!("fix:{gate}"),
            Decision::Escalate { .. } => "human".into(),
            Decision::Reject(_) => "reject".into(),
            Decision::Fail(_) => "error".into(),
        }
    }
}

pub(crate) fn finding_json(gate: &str, f: &Finding) -> Value {
    let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
    v["gate"] = json!(gate);
    v
}

pub(crate) fn summary(results: &[&GateResult]) -> String {
    results
        .iter()
        .map(|r| match &r.report.outcome {
            Outcome::Verdict(v) => {
                let first = v
                    .findings
                    .iter()
                    .find(|f| f.severity == Severity::Error)
                    .or(v.findings.first());
                match first {
                    Some(f) => format!("{} failed ({}: {})", r.gate, f.code, f.message),
                    None => format!("{} failed", r.gate),
                }
            }
            Outcome::Error(cause) => format!("{} could not answer ({cause})", r.gate),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// What a router is given: each gate's verdict, an error verdict shown as a pass with a
/// `seam.error` warning (the router is only asked when no malfunction blocks).
pub fn router_verdicts(results: &[GateResult]) -> Vec<GateVerdict> {
    results
        .iter()
        .map(|r| GateVerdict {
            gate: r.gate.clone(),
            verdict: match &r.report.outcome {
                Outcome::Verdict(v) => v.clone(),
                Outcome::Error(cause) => Verdict {
                    passed: true,
                    score: None,
                    findings: vec![Finding {
                        code: "seam.error".into(),
                        message: format!("allowed despite an error: {cause}"),
                        path: None,
                        span: None,
                        severity: Severity::Warning,
                    }],
                    fix: None,
                },
            },
        })
        .collect()
}

/// The router's or the policies' decision, who made it, and why.
pub fn decide(
    rules: &SeamRules<'_>,
    h: &Upstream<'_>,
    results: &[GateResult],
    next: &Next,
    fixes: u32,
    routed: Option<&Routed>,
) -> (String, Decision, String) {
    let at = format!("at seam {} → {}", h.from_step, h.to_step);
    // A malfunction under on_error = block stops the run, router or not.
    if let Some(r) = results
        .iter()
        .find(|r| r.report.outcome.error().is_some() && r.on_error == OnError::Block)
    {
        let cause = r.report.outcome.error().expect("found an error");
        let reason = format!(
            "gate `{}` (plugin `{}`) could not answer {at}: {cause}; set on_error = \"allow\" to let such handoffs through",
            r.gate, r.plugin
        );
        return ("policy".into(), Decision::Fail(reason.clone()), reason);
    }
    let failing: Vec<&GateResult> = results
        .iter()
        .filter(|r| matches!(&r.report.outcome, Outcome::Verdict(v) if !v.passed))
        .collect();
    let feedback: Vec<Value> = failing
        .iter()
        .flat_map(|r| {
            let v = r
                .report
                .outcome
                .verdict()
                .expect("failing gates have verdicts");
            v.findings
                .iter()
                .map(|f| finding_json(&r.gate, f))
                .collect::<Vec<_>>()
        })
        .collect();
    let max_retries = rules.max_retries;
    let retry_or_exhausted = |by: String, feedback: Vec<Value>| -> (String, Decision, String) {
        if h.attempt > max_retries {
            let why = format!(
                "`{}` failed its seam after {} retries (max_retries): {}",
                h.from_step,
                max_retries,
                summary(&failing)
            );
            match rules.when_retries_exhausted {
                Policy::Escalate => (
                    by,
                    Decision::Escalate {
                        reason: why.clone(),
                        findings: feedback,
                    },
                    why,
                ),
                _ => (by, Decision::Reject(why.clone()), why),
            }
        } else {
            let why = format!(
                "retrying `{}` (attempt {}): {}",
                h.from_step,
                h.attempt + 1,
                summary(&failing)
            );
            (by, Decision::Retry { feedback }, why)
        }
    };

    if let Some(routed) = routed {
        let by = format!("router:{}", routed.router);
        match &routed.route {
            Ok(route) => {
                let reason = route.reason.clone();
                let decision = match route.target.as_str() {
                    "next" => Decision::Next(next.clone()),
                    "done" => Decision::Done,
                    "retry" => return retry_or_exhausted(by, feedback),
                    "human" => Decision::Escalate {
                        reason: reason.clone(),
                        findings: feedback,
                    },
                    "reject" => Decision::Reject(format!(
                        "router `{}` rejected the handoff {at}: {reason}",
                        routed.router
                    )),
                    step if rules.steps.iter().any(|s| s == step) => {
                        Decision::Route(step.to_string())
                    }
                    other => {
                        let why = format!(
                            "router `{}` returned `{other}` {at}, which is neither a step ({}) nor next, retry, human, done or reject",
                            routed.router,
                            rules.steps.join(", ")
                        );
                        return (by, Decision::Fail(why.clone()), why);
                    }
                };
                return (by, decision, reason);
            }
            Err(cause) if routed.on_error == OnError::Block => {
                let why = format!("router `{}` could not answer {at}: {cause}", routed.router);
                return (by, Decision::Fail(why.clone()), why);
            }
            // on_error = allow: the policies decide instead.
            Err(_) => {}
        }
    }

    let Some(strictest) = failing.iter().map(|r| &r.policy).max_by_key(|p| p.rank()) else {
        let allowed = results
            .iter()
            .filter(|r| r.report.outcome.error().is_some())
            .count();
        let why = match (results.is_empty(), allowed) {
            (true, _) => "no gates at this seam".to_string(),
            (false, 0) => "every gate passed".to_string(),
            (false, n) => {
                format!("every gate passed or was allowed despite an error ({n} on_error = allow)")
            }
        };
        return ("policy".into(), Decision::Next(next.clone()), why);
    };
    let by = "policy".to_string();
    let of = |policy: &Policy| -> Vec<&GateResult> {
        failing
            .iter()
            .copied()
            .filter(|r| &r.policy == policy)
            .collect()
    };
    match strictest {
        Policy::Block => {
            let why = format!("blocked {at}: {}", summary(&of(&Policy::Block)));
            (by, Decision::Reject(why.clone()), why)
        }
        Policy::Escalate => {
            let why = format!("escalated {at}: {}", summary(&of(&Policy::Escalate)));
            (
                by,
                Decision::Escalate {
                    reason: why.clone(),
                    findings: feedback,
                },
                why,
            )
        }
        Policy::Retry => retry_or_exhausted(by, feedback),
        Policy::Fix => {
            let fixers = of(&Policy::Fix);
            if fixes >= rules.max_fixes {
                let why = format!(
                    "still failing after {fixes} fixes (max_fixes) {at}: {}",
                    summary(&fixers)
                );
                return (by, Decision::Reject(why.clone()), why);
            }
            let with_fix = fixers.iter().find_map(|r| {
                r.report
                    .outcome
                    .verdict()
                    .and_then(|v| v.fix.clone())
                    .map(|f| (r.gate.clone(), f))
            });
            match with_fix {
                Some((gate, payload)) => {
                    let why = format!("applying the fix of gate `{gate}` {at}");
                    (by, Decision::Fix { gate, payload }, why)
                }
                None => {
                    let why = format!(
                        "on_fail = fix, but no failing gate offered a fix {at}: {}",
                        summary(&fixers)
                    );
                    (by, Decision::Reject(why.clone()), why)
                }
            }
        }
        Policy::Route(step) => {
            let why = format!("routing to `{step}` {at}: {}", summary(&of(strictest)));
            (by, Decision::Route(step.clone()), why)
        }
        Policy::Warn => {
            let why = format!(
                "passed with warnings (on_fail = warn) {at}: {}",
                summary(&failing)
            );
            (by, Decision::Next(next.clone()), why)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use seam_runtime::CheckReport;
    use seam_types::Verdict;

    use super::*;

    fn gate(name: &str, policy: Policy, outcome: Outcome) -> GateResult {
        GateResult {
            gate: name.into(),
            plugin: "max-words".into(),
            digest: "sha".into(),
            report: CheckReport {
                plugin: "max-words".into(),
                outcome,
                duration: Duration::ZERO,
                log: String::new(),
                log_truncated: false,
                finished_at: std::time::SystemTime::now(),
            },
            policy,
            on_error: OnError::Block,
        }
    }

    fn passed() -> Outcome {
        Outcome::Verdict(Verdict {
            passed: true,
            score: None,
            findings: vec![],
            fix: None,
        })
    }

    fn failed(fix: Option<&str>) -> Outcome {
        Outcome::Verdict(Verdict {
            passed: false,
            score: None,
            findings: vec![Finding {
                code: "length.words".into(),
                message: "46 words".into(),
                path: None,
                span: None,
                severity: Severity::Error,
            }],
            fix: fix.map(str::to_string),
        })
    }

    fn timeout() -> Outcome {
        Outcome::Error(ErrorCause::Timeout {
            deadline_ms: 100,
            wall_clock: false,
        })
    }

    struct Case {
        name: &'static str,
        results: Vec<GateResult>,
        attempt: u32,
        fixes: u32,
        routed: Option<Routed>,
        exhausted: Policy,
        /// (decided_by, route target, reason)
        expect: (&'static str, &'static str, &'static str),
    }

    fn routed(target: &str) -> Option<Routed> {
        Some(Routed {
            router: "verdict-router".into(),
            on_error: OnError::Block,
            route: Ok(Route {
                target: target.into(),
                reason: "rule 1".into(),
            }),
        })
    }

    #[test]
    fn decisions_table() {
        let mut allowed = gate("len", Policy::Retry, timeout());
        allowed.on_error = OnError::Allow;
        let cases = vec![
            Case {
                name: "no gates",
                results: vec![],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "publish", "no gates at this seam"),
            },
            Case {
                name: "every gate passed",
                results: vec![gate("len", Policy::Retry, passed())],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "publish", "every gate passed"),
            },
            Case {
                name: "an error under on_error = block fails the run",
                results: vec![gate("len", Policy::Retry, timeout())],
                attempt: 1,
                fixes: 0,
                routed: routed("next"),
                exhausted: Policy::Block,
                expect: ("policy", "error", "gate `len` (plugin `max-words`) could not answer at seam write → publish: timed out: used its 100 ms deadline (time running and waiting); set on_error = \"allow\" to let such handoffs through"),
            },
            Case {
                name: "an error under on_error = allow lets it through",
                results: vec![allowed],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "publish", "every gate passed or was allowed despite an error (1 on_error = allow)"),
            },
            Case {
                name: "retry on the first attempt",
                results: vec![gate("len", Policy::Retry, failed(None))],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "retry", "retrying `write` (attempt 2): len failed (length.words: 46 words)"),
            },
            Case {
                name: "retries exhausted, then rejected",
                results: vec![gate("len", Policy::Retry, failed(None))],
                attempt: 3,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "reject", "`write` failed its seam after 2 retries (max_retries): len failed (length.words: 46 words)"),
            },
            Case {
                name: "retries exhausted, then escalated",
                results: vec![gate("len", Policy::Retry, failed(None))],
                attempt: 3,
                fixes: 0,
                routed: None,
                exhausted: Policy::Escalate,
                expect: ("policy", "human", "`write` failed its seam after 2 retries (max_retries): len failed (length.words: 46 words)"),
            },
            Case {
                name: "the strictest failing policy wins",
                results: vec![
                    gate("len", Policy::Retry, failed(None)),
                    gate("ban", Policy::Block, failed(None)),
                ],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "reject", "blocked at seam write → publish: ban failed (length.words: 46 words)"),
            },
            Case {
                name: "escalate",
                results: vec![gate("len", Policy::Escalate, failed(None))],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "human", "escalated at seam write → publish: len failed (length.words: 46 words)"),
            },
            Case {
                name: "fix with a fix offered",
                results: vec![gate("len", Policy::Fix, failed(Some("\"short\"")))],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "fix:len", "applying the fix of gate `len` at seam write → publish"),
            },
            Case {
                name: "fix without a fix offered",
                results: vec![gate("len", Policy::Fix, failed(None))],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "reject", "on_fail = fix, but no failing gate offered a fix at seam write → publish: len failed (length.words: 46 words)"),
            },
            Case {
                name: "fixes exhausted",
                results: vec![gate("len", Policy::Fix, failed(Some("\"short\"")))],
                attempt: 1,
                fixes: 2,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "reject", "still failing after 2 fixes (max_fixes) at seam write → publish: len failed (length.words: 46 words)"),
            },
            Case {
                name: "route to a step",
                results: vec![gate("len", Policy::Route("review".into()), failed(None))],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "review", "routing to `review` at seam write → publish: len failed (length.words: 46 words)"),
            },
            Case {
                name: "warn lets it through",
                results: vec![gate("len", Policy::Warn, failed(None))],
                attempt: 1,
                fixes: 0,
                routed: None,
                exhausted: Policy::Block,
                expect: ("policy", "publish", "passed with warnings (on_fail = warn) at seam write → publish: len failed (length.words: 46 words)"),
            },
            Case {
                name: "a router's step",
                results: vec![gate("len", Policy::Retry, failed(None))],
                attempt: 1,
                fixes: 0,
                routed: routed("review"),
                exhausted: Policy::Block,
                expect: ("router:verdict-router", "review", "rule 1"),
            },
            Case {
                name: "a router's retry is bounded like the policy's",
                results: vec![gate("len", Policy::Retry, failed(None))],
                attempt: 3,
                fixes: 0,
                routed: routed("retry"),
                exhausted: Policy::Block,
                expect: ("router:verdict-router", "reject", "`write` failed its seam after 2 retries (max_retries): len failed (length.words: 46 words)"),
            },
            Case {
                name: "a router's unknown target fails the run",
                results: vec![gate("len", Policy::Retry, passed())],
                attempt: 1,
                fixes: 0,
                routed: routed("nowhere"),
                exhausted: Policy::Block,
                expect: ("router:verdict-router", "error", "router `verdict-router` returned `nowhere` at seam write → publish, which is neither a step (write, review, publish) nor next, retry, human, done or reject"),
            },
            Case {
                name: "a router that could not answer, on_error = block",
                results: vec![gate("len", Policy::Retry, passed())],
                attempt: 1,
                fixes: 0,
                routed: Some(Routed {
                    router: "verdict-router".into(),
                    on_error: OnError::Block,
                    route: Err(ErrorCause::Exited { code: 1 }),
                }),
                exhausted: Policy::Block,
                expect: ("router:verdict-router", "error", "router `verdict-router` could not answer at seam write → publish: exited with status 1 instead of returning an answer"),
            },
            Case {
                name: "a router that could not answer, on_error = allow: the policies decide",
                results: vec![gate("len", Policy::Retry, passed())],
                attempt: 1,
                fixes: 0,
                routed: Some(Routed {
                    router: "verdict-router".into(),
                    on_error: OnError::Allow,
                    route: Err(ErrorCause::Exited { code: 1 }),
                }),
                exhausted: Policy::Block,
                expect: ("policy", "publish", "every gate passed"),
            },
        ];
        let steps: Vec<String> = ["write", "review", "publish"].map(String::from).to_vec();
        for case in cases {
            let rules = SeamRules {
                max_retries: 2,
                when_retries_exhausted: &case.exhausted,
                max_fixes: 2,
                steps: &steps,
            };
            let upstream = Upstream {
                from_step: "write",
                to_step: "publish",
                attempt: case.attempt,
            };
            let (by, decision, why) = decide(
                &rules,
                &upstream,
                &case.results,
                &Next::Step("publish".into()),
                case.fixes,
                case.routed.as_ref(),
            );
            assert_eq!(
                (by.as_str(), decision.target().as_str(), why.as_str()),
                case.expect,
                "case: {}",
                case.name
            );
        }
    }
}
