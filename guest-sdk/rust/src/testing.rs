//! Run a plugin natively in unit tests, the way the host would call it.
//!
//! ```
//! # use seam_guest::prelude::*;
//! # #[derive(Deserialize, JsonSchema)] struct S {}
//! # struct Always;
//! # impl Gate for Always { type Settings = S; const NAME: &'static str = "always";
//! #   const DESCRIPTION: &'static str = "passes";
//! #   fn check(_: &S, _: &Handoff) -> Result<Verdict, String> { Ok(Verdict::new()) } }
//! let v = seam_guest::testing::check::<Always>(json!({}), &Handoff::text("hi")).unwrap();
//! assert!(v.passed);
//! ```

use crate::{Gate, GateVerdict, Handoff, Route, Router, Verdict};
use serde_json::Value;

/// Runs `G::check` with settings given as JSON, after the same parsing the component
/// does. Also checks the verdict's shape: every span lies on character boundaries of
/// the string its path points at, and the fix is valid JSON.
pub fn check<G: Gate>(settings: Value, handoff: &Handoff) -> Result<Verdict, String> {
    let settings: G::Settings = crate::parse_settings(&settings.to_string())?;
    let verdict = G::check(&settings, handoff)?;
    assert_well_formed(&verdict, handoff);
    Ok(verdict)
}

/// Runs `R::route` with settings given as JSON.
pub fn route<R: Router>(
    settings: Value,
    handoff: &Handoff,
    verdicts: &[GateVerdict],
) -> Result<Route, String> {
    let settings: R::Settings = crate::parse_settings(&settings.to_string())?;
    R::route(&settings, handoff, verdicts)
}

/// The settings schema the plugin will declare to the host.
pub fn schema<S: schemars::JsonSchema>() -> Value {
    crate::settings_schema::<S>()
}

/// Panics unless every finding's span is inside the string at its path and the fix is
/// valid JSON.
pub fn assert_well_formed(verdict: &Verdict, handoff: &Handoff) {
    for f in &verdict.findings {
        if let Some(span) = f.span {
            let path = f.path.as_deref().unwrap_or("");
            let text = handoff
                .payload()
                .pointer(path)
                .and_then(Value::as_str)
                .unwrap_or_else(|| {
                    panic!(
                        "finding `{}` has a span but path `{path}` is not a string",
                        f.code
                    )
                });
            assert!(
                text.get(span.start as usize..span.end as usize).is_some(),
                "finding `{}`: span {}..{} is not inside the {}-byte string at `{path}`",
                f.code,
                span.start,
                span.end,
                text.len()
            );
        }
    }
    if let Some(fix) = &verdict.fix {
        serde_json::from_str::<Value>(fix).expect("fix is not valid JSON");
    }
}

/// The text that a finding's span covers, for assertions.
pub fn spanned<'a>(handoff: &'a Handoff, finding: &crate::Finding) -> Option<&'a str> {
    let span = finding.span?;
    handoff
        .payload()
        .pointer(finding.path.as_deref().unwrap_or(""))?
        .as_str()?
        .get(span.start as usize..span.end as usize)
}
