//! `verdict-router`: routes a handoff by ordered rules over the seam's gate verdicts.
//! The first rule that matches decides; when none does, `otherwise` does.
use seam_guest::prelude::*;

/// An outcome a rule can ask for.
#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Passed,
    Failed,
}

/// One rule: it matches when some gate's verdict meets every condition given.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Only this gate's verdict (default: any gate).
    pub gate: Option<String>,
    /// The verdict's outcome.
    pub outcome: Option<Outcome>,
    /// The verdict's score is below this value (a verdict without a score never matches).
    pub score_below: Option<f64>,
    /// The verdict has a finding with this code (or code prefix ending in `.`).
    pub finding: Option<String>,
    /// Where to send the handoff: a step name, or `next`, `retry`, `human`, `done`,
    /// `reject`.
    #[schemars(length(min = 1))]
    pub route: String,
    /// Why, for the ledger; default: a description of the rule.
    pub reason: Option<String>,
}

/// Ordered rules and the fallback.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Checked in order; the first match decides.
    #[serde(default)]
    pub rules: Vec<Rule>,
    /// Route when no rule matches (default `next`: on to the seam's downstream step).
    #[serde(default = "next")]
    #[schemars(length(min = 1))]
    pub otherwise: String,
}

fn next() -> String {
    "next".to_string()
}

impl Rule {
    fn matches(&self, gv: &GateVerdict) -> bool {
        let v = &gv.verdict;
        self.gate.as_ref().is_none_or(|g| *g == gv.gate)
            && self
                .outcome
                .is_none_or(|o| (o == Outcome::Passed) == v.passed)
            && self
                .score_below
                .is_none_or(|t| v.score.is_some_and(|s| s < t))
            && self.finding.as_ref().is_none_or(|code| {
                v.findings.iter().any(|f| {
                    if code.ends_with('.') {
                        f.code.starts_with(code.as_str())
                    } else {
                        f.code == *code
                    }
                })
            })
    }

    fn describe(&self, gate: &str) -> String {
        let mut parts = vec![format!("gate `{gate}`")];
        if let Some(o) = self.outcome {
            parts.push(
                if o == Outcome::Passed {
                    "passed"
                } else {
                    "failed"
                }
                .to_string(),
            );
        }
        if let Some(t) = self.score_below {
            parts.push(format!("scored below {t}"));
        }
        if let Some(code) = &self.finding {
            parts.push(format!("found `{code}`"));
        }
        parts.join(", ")
    }
}

pub struct VerdictRouter;

impl Router for VerdictRouter {
    type Settings = Settings;
    type Prepared = Settings;
    const NAME: &'static str = "verdict-router";
    const DESCRIPTION: &'static str = "Routes by ordered rules over the gates' verdicts (outcome, score, finding codes); the first matching rule decides, `otherwise` when none matches.";

    fn route(s: &Settings, _handoff: &Handoff, verdicts: &[GateVerdict]) -> Result<Route, String> {
        for (i, rule) in s.rules.iter().enumerate() {
            if let Some(gv) = verdicts.iter().find(|gv| rule.matches(gv)) {
                let reason = rule
                    .reason
                    .clone()
                    .unwrap_or_else(|| format!("rule {}: {}", i + 1, rule.describe(&gv.gate)));
                return Ok(Route::to(&rule.route, reason));
            }
        }
        Ok(Route::to(&s.otherwise, "no rule matched"))
    }
}

export_router!(VerdictRouter);

#[cfg(test)]
mod tests {
    use super::*;
    use seam_guest::testing::route;

    fn gv(gate: &str, passed: bool, score: Option<f64>, code: Option<&str>) -> GateVerdict {
        let mut verdict = Verdict::new();
        verdict.passed = passed;
        verdict.score = score;
        if let Some(c) = code {
            verdict.findings.push(Finding::error(c, "x"));
        }
        GateVerdict {
            gate: gate.into(),
            verdict,
        }
    }

    fn settings() -> Value {
        json!({"rules": [
            {"gate": "pii", "outcome": "failed", "route": "human"},
            {"score_below": 0.8, "route": "retry", "reason": "quality too low"}
        ]})
    }

    #[test]
    fn first_matching_rule_decides() {
        let h = Handoff::text("x");
        let r = route::<VerdictRouter>(
            settings(),
            &h,
            &[
                gv("brand", true, Some(0.5), None),
                gv("pii", false, None, Some("pii.email")),
            ],
        )
        .unwrap();
        assert_eq!(r, Route::to("human", "rule 1: gate `pii`, failed"));
        let r = route::<VerdictRouter>(
            settings(),
            &h,
            &[
                gv("brand", true, Some(0.5), None),
                gv("pii", true, None, None),
            ],
        )
        .unwrap();
        assert_eq!(r, Route::to("retry", "quality too low"));
    }

    #[test]
    fn otherwise_when_nothing_matches() {
        let h = Handoff::text("x");
        let r =
            route::<VerdictRouter>(settings(), &h, &[gv("brand", true, Some(0.9), None)]).unwrap();
        assert_eq!(r, Route::to("next", "no rule matched"));
        let r = route::<VerdictRouter>(json!({"otherwise": "publish"}), &h, &[]).unwrap();
        assert_eq!(r.target, "publish");
    }

    #[test]
    fn finding_prefix_matches() {
        let h = Handoff::text("x");
        let s = json!({"rules": [{"finding": "pii.", "route": "reject"}]});
        let r = route::<VerdictRouter>(s, &h, &[gv("any", false, None, Some("pii.iban"))]).unwrap();
        assert_eq!(r.target, "reject");
    }
}
