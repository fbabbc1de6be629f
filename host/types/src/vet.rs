//! The contract's rules for what a plugin answers, checked by the host before anyone
//! sees it: caps on findings and bytes, a score within [0, 1], non-empty codes, paths
//! that are JSON pointers resolving in the payload, spans within the text they point
//! into on character boundaries, a fix that is strict JSON, a route with a target.

use crate::{Route, Verdict};

/// The caps an answer is checked against (the plugin's limits).
#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub max_findings: usize,
    pub max_verdict_bytes: usize,
}

/// How an answer breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Breach {
    /// Over a cap: `what` is over `limit` at `size`.
    TooLarge {
        what: String,
        size: usize,
        limit: usize,
    },
    /// Against a rule; the reason names the finding and what is wrong.
    Malformed(String),
}

/// Checks a verdict against the caps and the contract's rules, and its findings'
/// paths and spans against the `payload` (JSON text) they point into.
pub fn verdict(v: &Verdict, limits: Caps, payload: &str) -> Result<(), Breach> {
    if v.findings.len() > limits.max_findings {
        return Err(Breach::TooLarge {
            what: "verdict (findings)".into(),
            size: v.findings.len(),
            limit: limits.max_findings,
        });
    }
    let size: usize = v
        .findings
        .iter()
        .map(|f| f.code.len() + f.message.len() + f.path.as_ref().map_or(0, String::len))
        .sum::<usize>()
        + v.fix.as_ref().map_or(0, String::len);
    if size > limits.max_verdict_bytes {
        return Err(Breach::TooLarge {
            what: "verdict (bytes)".into(),
            size,
            limit: limits.max_verdict_bytes,
        });
    }
    let malformed = |reason: String| Err(Breach::Malformed(reason));
    if let Some(score) = v.score {
        if !(0.0..=1.0).contains(&score) {
            return malformed(format!("score {score} is outside [0, 1]"));
        }
    }
    for (i, f) in v.findings.iter().enumerate() {
        if f.code.trim().is_empty() {
            return malformed(format!("finding {i} has an empty code"));
        }
        if let Some(path) = &f.path {
            if !is_json_pointer(path) {
                return malformed(format!(
                    "finding {i} (`{}`) has path {path:?}, which is not a JSON pointer \
                     (\"\" or /a/b, with ~0 and ~1 the only escapes)",
                    f.code
                ));
            }
        }
        if let Some(span) = f.span {
            if span.start > span.end {
                return malformed(format!(
                    "finding {i} (`{}`) has span {}..{}, which ends before it starts",
                    f.code, span.start, span.end
                ));
            }
        }
    }
    places(v, payload).map_err(Breach::Malformed)?;
    if let Some(fix) = &v.fix {
        if let Err(e) = crate::json::parse_strict(fix) {
            return malformed(format!("the fix is not valid JSON: {e}"));
        }
    }
    Ok(())
}

/// Whether `path` is a JSON pointer (RFC 6901): empty, or `/`-separated tokens in
/// which `~` is always followed by `0` or `1`.
pub fn is_json_pointer(path: &str) -> bool {
    if path.is_empty() {
        return true;
    }
    if !path.starts_with('/') {
        return false;
    }
    let bytes = path.as_bytes();
    bytes
        .iter()
        .enumerate()
        .all(|(i, &b)| b != b'~' || matches!(bytes.get(i + 1), Some(b'0' | b'1')))
}

/// Checks that every finding's path resolves in the payload and every span lies in
/// the text it points into, on character boundaries. A payload that is not JSON is
/// one text: only the empty path reaches it.
fn places(v: &Verdict, payload: &str) -> Result<(), String> {
    let placed = v
        .findings
        .iter()
        .any(|f| f.span.is_some() || f.path.as_deref().is_some_and(|p| !p.is_empty()));
    if !placed {
        return Ok(());
    }
    let doc: Option<serde_json::Value> = serde_json::from_str(payload).ok();
    for (i, f) in v.findings.iter().enumerate() {
        let path = f.path.as_deref().unwrap_or("");
        let target = match &doc {
            Some(d) => d.pointer(path),
            None => None,
        };
        if !path.is_empty() && target.is_none() {
            return Err(format!(
                "finding {i} (`{}`) has path {path:?}, which points at nothing in the payload",
                f.code
            ));
        }
        let Some(span) = f.span else { continue };
        let text = match (&doc, target) {
            (Some(_), Some(serde_json::Value::String(t))) => t.as_str(),
            (None, _) => payload,
            (Some(_), _) => {
                return Err(format!(
                    "finding {i} (`{}`) has span {}..{} at {path:?}, which is not a text \
                     (a span points into a JSON string)",
                    f.code, span.start, span.end
                ))
            }
        };
        let (start, end) = (span.start as usize, span.end as usize);
        if end > text.len() {
            return Err(format!(
                "finding {i} (`{}`) has span {start}..{end}, past the end of the {}-byte \
                 text it points into",
                f.code,
                text.len()
            ));
        }
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            return Err(format!(
                "finding {i} (`{}`) has span {start}..{end}, which cuts a UTF-8 character \
                 (spans are byte offsets on character boundaries)",
                f.code
            ));
        }
    }
    Ok(())
}

/// Checks a route against the caps and the contract's rules.
pub fn route(r: &Route, limits: Caps) -> Result<(), Breach> {
    let size = r.target.len() + r.reason.len();
    if size > limits.max_verdict_bytes {
        return Err(Breach::TooLarge {
            what: "route (bytes)".into(),
            size,
            limit: limits.max_verdict_bytes,
        });
    }
    if r.target.trim().is_empty() {
        return Err(Breach::Malformed("the route has an empty target".into()));
    }
    Ok(())
}
