//! `contains`: requires strings to appear in the payload's text.
use seam_guest::prelude::*;

/// Whether every required string must appear, or at least one.
#[derive(Deserialize, JsonSchema, Default, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every string in `required` must appear (default).
    #[default]
    All,
    /// At least one string in `required` must appear.
    Any,
}

/// Strings that must appear in the text at `pointer`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The strings to look for.
    #[schemars(length(min = 1))]
    pub required: Vec<String>,
    /// `all` (default) or `any`.
    #[serde(default)]
    pub mode: Mode,
    /// Match ignoring case (default false).
    #[serde(default)]
    pub case_insensitive: bool,
    /// JSON pointer to the text to search; default `""`, the whole payload.
    #[serde(default)]
    pub pointer: String,
}

pub struct Contains;

impl Gate for Contains {
    type Settings = Settings;
    type Prepared = Settings;
    const NAME: &'static str = "contains";
    const DESCRIPTION: &'static str =
        "Requires strings to appear in the payload's text: all of them, or any one.";

    fn check(s: &Settings, handoff: &Handoff) -> Result<Verdict, String> {
        let texts = handoff.texts(&s.pointer)?;
        let fold = |t: &str| {
            if s.case_insensitive {
                t.to_lowercase()
            } else {
                t.to_string()
            }
        };
        let haystacks: Vec<String> = texts.iter().map(|t| fold(t.text)).collect();
        let missing: Vec<&String> = s
            .required
            .iter()
            .filter(|needle| !haystacks.iter().any(|h| h.contains(&fold(needle))))
            .collect();
        let failed = match s.mode {
            Mode::All => !missing.is_empty(),
            Mode::Any => missing.len() == s.required.len(),
        };
        let mut verdict = Verdict::new();
        if failed {
            for needle in missing {
                verdict.push(
                    Finding::error(
                        "contains.missing",
                        format!("required text {needle:?} not found"),
                    )
                    .at(&s.pointer),
                );
            }
        }
        Ok(verdict)
    }
}

export_gate!(Contains);

#[cfg(test)]
mod tests {
    use super::*;
    use seam_guest::testing::check;

    #[test]
    fn all_mode_reports_each_missing_string() {
        let v = check::<Contains>(
            json!({"required": ["$89", "headphones", "battery"]}),
            &Handoff::text("great headphones"),
        )
        .unwrap();
        assert!(!v.passed);
        let messages: Vec<_> = v.findings.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "required text \"$89\" not found",
                "required text \"battery\" not found"
            ]
        );
        assert!(v.findings.iter().all(|f| f.code == "contains.missing"));
    }

    #[test]
    fn any_mode_passes_with_one_match() {
        let v = check::<Contains>(
            json!({"required": ["$89", "great"], "mode": "any"}),
            &Handoff::text("great"),
        )
        .unwrap();
        assert!(v.passed);
        assert!(v.findings.is_empty());
    }

    #[test]
    fn any_mode_fails_with_no_match() {
        let v = check::<Contains>(
            json!({"required": ["a1", "b2"], "mode": "any"}),
            &Handoff::text("zzz"),
        )
        .unwrap();
        assert_eq!(v.findings.len(), 2);
    }

    #[test]
    fn case_insensitive_matching() {
        let s = json!({"required": ["HEADPHONES"], "case_insensitive": true});
        assert!(
            check::<Contains>(s, &Handoff::text("headphones"))
                .unwrap()
                .passed
        );
        let s = json!({"required": ["HEADPHONES"]});
        assert!(
            !check::<Contains>(s, &Handoff::text("headphones"))
                .unwrap()
                .passed
        );
    }

    #[test]
    fn searches_every_string_of_a_json_payload() {
        let h = Handoff::new(json!({"title": "Quiet", "price": "$89"}));
        assert!(
            check::<Contains>(json!({"required": ["$89", "Quiet"]}), &h)
                .unwrap()
                .passed
        );
    }
}
