//! `regex`: patterns that must match somewhere, and patterns that must match nowhere.
use regex::{Regex, RegexBuilder};
use seam_guest::prelude::*;

/// Patterns use the Rust `regex` syntax (no look-around or back-references).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Each of these must match somewhere in the text (finding `regex.missing`).
    #[serde(default)]
    pub must_match: Vec<Pattern>,
    /// None of these may match anywhere; every match is a finding `regex.forbidden`
    /// with its byte span.
    #[serde(default)]
    pub must_not_match: Vec<Pattern>,
    /// Match ignoring case (default false).
    #[serde(default)]
    pub case_insensitive: bool,
    /// JSON pointer to the text to search; default `""`, the whole payload.
    #[serde(default)]
    pub pointer: String,
}

/// A pattern, either bare or with a name that findings use instead of the pattern.
#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Pattern {
    Bare(String),
    Named {
        /// Name used in findings, e.g. `order-id`.
        name: String,
        /// The regular expression.
        pattern: String,
    },
}

impl Pattern {
    fn parts(&self) -> (&str, &str) {
        match self {
            Pattern::Bare(p) => (p, p),
            Pattern::Named { name, pattern } => (name, pattern),
        }
    }
}

/// Most `regex.forbidden` findings reported per pattern.
const MAX_MATCHES_PER_PATTERN: usize = 100;

/// Text every pattern is searched over in `prepare` (see there).
const WARM_UP: &str =
    "The quick brown fox jumps over the lazy dog; THE QUICK BROWN FOX, 0123456789! \
    Prices: $89, €12.50 (about 30%). e-mail a.b@example.com, call +1 555-0100. \
    éèü — “quoted” #tag @name {\"json\": [1, 2]}\n\ttabbed";

/// The settings with every pattern compiled, once, by `prepare`.
pub struct Compiled {
    must_match: Vec<(String, Regex)>,
    must_not_match: Vec<(String, Regex)>,
    pointer: String,
}

impl Prepare<Settings> for Compiled {
    fn prepare(s: Settings) -> Result<Self, String> {
        let compile = |p: &Pattern| -> Result<(String, Regex), String> {
            let (name, pattern) = p.parts();
            let re = RegexBuilder::new(pattern)
                .case_insensitive(s.case_insensitive)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("pattern `{name}` is not a valid regex: {e}"))?;
            // Searched once here, so the snapshot holds the regex's search cache
            // (allocated, and its lazy DFA's states for common text): a fresh instance
            // then starts searching at once instead of building them on every check.
            let _ = re.find_iter(WARM_UP).count();
            Ok((name.to_string(), re))
        };
        Ok(Compiled {
            must_match: s.must_match.iter().map(compile).collect::<Result<_, _>>()?,
            must_not_match: s
                .must_not_match
                .iter()
                .map(compile)
                .collect::<Result<_, _>>()?,
            pointer: s.pointer,
        })
    }
}

pub struct RegexGate;

impl Gate for RegexGate {
    type Settings = Settings;
    type Prepared = Compiled;
    const NAME: &'static str = "regex";
    const DESCRIPTION: &'static str = "Patterns that must match somewhere in the text, and patterns that must match nowhere (every match reported with its span).";

    fn check(c: &Compiled, handoff: &Handoff) -> Result<Verdict, String> {
        let texts = handoff.texts(&c.pointer)?;
        let mut verdict = Verdict::new();
        for (name, re) in &c.must_match {
            if !texts.iter().any(|t| re.is_match(t.text)) {
                verdict.push(
                    Finding::error(
                        "regex.missing",
                        format!("no match for required pattern `{name}`"),
                    )
                    .at(&c.pointer),
                );
            }
        }
        for (name, re) in &c.must_not_match {
            let matches = texts
                .iter()
                .flat_map(|t| re.find_iter(t.text).map(move |m| (t, m)))
                .take(MAX_MATCHES_PER_PATTERN);
            for (t, m) in matches {
                verdict.push(
                    Finding::error(
                        "regex.forbidden",
                        format!("forbidden pattern `{name}` matches {:?}", m.as_str()),
                    )
                    .at(&t.pointer)
                    .span(m.start(), m.end()),
                );
            }
        }
        Ok(verdict)
    }
}

export_gate!(RegexGate);

#[cfg(test)]
mod tests {
    use super::*;
    use seam_guest::testing::{check, spanned};

    #[test]
    fn forbidden_matches_carry_spans() {
        let h = Handoff::text("call 555-1234 or 555-9876");
        let v = check::<RegexGate>(
            json!({"must_not_match": [{"name": "phone", "pattern": r"\d{3}-\d{4}"}]}),
            &h,
        )
        .unwrap();
        assert!(!v.passed);
        let found: Vec<_> = v.findings.iter().map(|f| spanned(&h, f).unwrap()).collect();
        assert_eq!(found, ["555-1234", "555-9876"]);
        assert_eq!(v.findings[0].span, Some(Span { start: 5, end: 13 }));
        assert_eq!(
            v.findings[0].message,
            "forbidden pattern `phone` matches \"555-1234\""
        );
    }

    #[test]
    fn missing_required_pattern_fails() {
        let v =
            check::<RegexGate>(json!({"must_match": [r"\$\d+"]}), &Handoff::text("cheap")).unwrap();
        assert_eq!(v.findings[0].code, "regex.missing");
        assert_eq!(
            v.findings[0].message,
            r"no match for required pattern `\$\d+`"
        );
        assert!(
            check::<RegexGate>(json!({"must_match": [r"\$\d+"]}), &Handoff::text("$89"))
                .unwrap()
                .passed
        );
    }

    #[test]
    fn case_insensitive_applies_to_every_pattern() {
        let v = check::<RegexGate>(
            json!({"must_not_match": ["free"], "case_insensitive": true}),
            &Handoff::text("FREE!"),
        )
        .unwrap();
        assert_eq!(v.findings.len(), 1);
    }

    #[test]
    fn spans_point_into_nested_strings() {
        let h = Handoff::new(json!({"a": ["ok", "bad word"]}));
        let v = check::<RegexGate>(json!({"must_not_match": ["bad"]}), &h).unwrap();
        assert_eq!(v.findings[0].path.as_deref(), Some("/a/1"));
        assert_eq!(spanned(&h, &v.findings[0]), Some("bad"));
    }

    #[test]
    fn at_most_a_hundred_matches_are_reported_per_pattern() {
        let h = Handoff::new(json!(["x x x", "x".repeat(200)]));
        let v = check::<RegexGate>(json!({"must_not_match": ["x"]}), &h).unwrap();
        assert_eq!(v.findings.len(), 100);
    }

    #[test]
    fn rust_regex_syntax_is_accepted() {
        let v = check::<RegexGate>(
            json!({"must_match": ["(?i)^(?P<word>block)"]}),
            &Handoff::text("Block it"),
        )
        .unwrap();
        assert!(v.passed);
    }

    #[test]
    fn invalid_pattern_is_an_error_naming_it() {
        let err =
            check::<RegexGate>(json!({"must_match": ["("]}), &Handoff::text("x")).unwrap_err();
        assert!(err.starts_with("pattern `(` is not a valid regex"), "{err}");
    }
}
