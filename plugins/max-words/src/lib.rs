//! `max-words`: fails a payload with more words or characters than allowed.
use seam_guest::prelude::*;

/// Limits on the text at `pointer` (all strings beneath it, counted together).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Most words allowed (words are runs of non-whitespace). Unset: no word limit.
    pub max_words: Option<usize>,
    /// Most characters (Unicode scalar values) allowed. Unset: no character limit.
    pub max_chars: Option<usize>,
    /// JSON pointer to the text to count; default `""`, the whole payload.
    #[serde(default)]
    pub pointer: String,
}

pub struct MaxWords;

impl Gate for MaxWords {
    type Settings = Settings;
    type Prepared = Settings;
    const NAME: &'static str = "max-words";
    const DESCRIPTION: &'static str =
        "Fails a payload whose text has more words or characters than allowed.";

    fn check(s: &Settings, handoff: &Handoff) -> Result<Verdict, String> {
        let texts = handoff.texts(&s.pointer)?;
        let words: usize = texts
            .iter()
            .map(|t| t.text.split_whitespace().count())
            .sum();
        let chars: usize = texts.iter().map(|t| t.text.chars().count()).sum();
        let mut verdict = Verdict::new();
        if let Some(max) = s.max_words.filter(|&max| words > max) {
            verdict.push(
                Finding::error(
                    "length.words",
                    format!("{words} words, at most {max} allowed"),
                )
                .at(&s.pointer),
            );
        }
        if let Some(max) = s.max_chars.filter(|&max| chars > max) {
            verdict.push(
                Finding::error(
                    "length.chars",
                    format!("{chars} characters, at most {max} allowed"),
                )
                .at(&s.pointer),
            );
        }
        Ok(verdict)
    }
}

export_gate!(MaxWords);

#[cfg(test)]
mod tests {
    use super::*;
    use seam_guest::testing::check;

    const GOOD: &str = "Block the noise, keep the music. These $89 noise-cancelling headphones deliver studio-grade silence and 30-hour battery — built for focus, priced for everyone.";

    #[test]
    fn headphone_draft_is_within_forty_words() {
        let v = check::<MaxWords>(json!({"max_words": 40}), &Handoff::text(GOOD)).unwrap();
        assert!(v.passed);
        assert!(v.findings.is_empty());
    }

    #[test]
    fn too_many_words_and_chars_give_one_finding_each() {
        let v = check::<MaxWords>(
            json!({"max_words": 3, "max_chars": 10}),
            &Handoff::text("one two three four"),
        )
        .unwrap();
        assert!(!v.passed);
        let codes: Vec<_> = v
            .findings
            .iter()
            .map(|f| (f.code.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                ("length.words", "4 words, at most 3 allowed"),
                ("length.chars", "18 characters, at most 10 allowed")
            ]
        );
    }

    #[test]
    fn counts_strings_beneath_the_pointer() {
        let h = Handoff::new(json!({"title": "a b", "body": {"x": "c d e", "n": 3}}));
        let v = check::<MaxWords>(json!({"max_words": 2, "pointer": "/body"}), &h).unwrap();
        assert_eq!(v.findings[0].message, "3 words, at most 2 allowed");
        assert_eq!(v.findings[0].path.as_deref(), Some("/body"));
    }

    #[test]
    fn unknown_setting_is_refused() {
        let err = check::<MaxWords>(json!({"max": 3}), &Handoff::text("x"))
            .err()
            .unwrap();
        assert!(err.contains("unknown field `max`"), "{err}");
    }
}
