//! Run a plugin natively in unit tests, the way the host would call it.
//!
//! ```
//! # use seam_guest::prelude::*;
//! # #[derive(Deserialize, JsonSchema)] struct S {}
//! # struct Always;
//! # impl Gate for Always { type Settings = S; type Prepared = S; const NAME: &'static str = "always";
//! #   const DESCRIPTION: &'static str = "passes";
//! #   fn check(_: &S, _: &Handoff) -> Result<Verdict, String> { Ok(Verdict::new()) } }
//! let v = seam_guest::testing::check::<Always>(json!({}), &Handoff::text("hi")).unwrap();
//! assert!(v.passed);
//! ```

use crate::{Gate, GateVerdict, Handoff, Prepare, Route, Router, Verdict};
use serde_json::Value;

/// Prepares `G` from settings given as JSON, the way the component's `prepare` does;
/// `Err` is what the host would report as the plugin refusing its settings.
pub fn prepare<G: Gate>(settings: Value) -> Result<G::Prepared, String> {
    let settings: G::Settings = crate::parse_settings(&settings.to_string())?;
    G::Prepared::prepare(settings)
}

/// Prepares `G` (see [`prepare`]) and runs `G::check`. Also checks the verdict's shape:
/// every span lies on character boundaries of the string its path points at, and the
/// fix is valid JSON.
pub fn check<G: Gate>(settings: Value, handoff: &Handoff) -> Result<Verdict, String> {
    let prepared = prepare::<G>(settings)?;
    check_prepared::<G>(&prepared, handoff)
}

/// Runs `G::check` on what [`prepare`] made, with the same shape checks as [`check`].
pub fn check_prepared<G: Gate>(
    prepared: &G::Prepared,
    handoff: &Handoff,
) -> Result<Verdict, String> {
    let verdict = G::check(prepared, handoff)?;
    assert_well_formed(&verdict, handoff);
    Ok(verdict)
}

/// Prepares `R` from settings given as JSON and runs `R::route`.
pub fn route<R: Router>(
    settings: Value,
    handoff: &Handoff,
    verdicts: &[GateVerdict],
) -> Result<Route, String> {
    let settings: R::Settings = crate::parse_settings(&settings.to_string())?;
    let prepared = R::Prepared::prepare(settings)?;
    R::route(&prepared, handoff, verdicts)
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
