//! `ban-list`: case-insensitive whole-word (or whole-phrase) ban list; the fix redacts.
use seam_guest::prelude::*;

/// Words or phrases that may not appear.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Banned words or phrases, matched ignoring case, as whole words only.
    #[schemars(length(min = 1))]
    pub words: Vec<String>,
    /// What a banned word is replaced with in the fix (default `[REDACTED]`).
    #[serde(default = "default_replacement")]
    pub replacement: String,
    /// JSON pointer to the text to search; default `""`, the whole payload.
    #[serde(default)]
    pub pointer: String,
}

fn default_replacement() -> String {
    "[REDACTED]".to_string()
}

pub struct BanList;

impl Gate for BanList {
    type Settings = Settings;
    const NAME: &'static str = "ban-list";
    const DESCRIPTION: &'static str = "Fails on banned words or phrases (whole words, ignoring case); the fix replaces each with a redaction token.";

    fn check(s: &Settings, handoff: &Handoff) -> Result<Verdict, String> {
        let mut verdict = Verdict::new();
        let mut fixes = Vec::new();
        for t in handoff.texts(&s.pointer)? {
            let mut hits: Vec<(usize, usize)> = s
                .words
                .iter()
                .filter(|w| !w.trim().is_empty())
                .flat_map(|w| find_word(t.text, w.trim()))
                .collect();
            if hits.is_empty() {
                continue;
            }
            hits.sort_unstable();
            hits.dedup_by(|later, earlier| later.0 < earlier.1); // drop overlaps
            let mut fixed = String::with_capacity(t.text.len());
            let mut last = 0;
            for &(start, end) in &hits {
                let word = &t.text[start..end];
                verdict.push(
                    Finding::error("ban-list.word", format!("banned word {word:?}"))
                        .at(&t.pointer)
                        .span(start, end),
                );
                fixed.push_str(&t.text[last..start]);
                fixed.push_str(&s.replacement);
                last = end;
            }
            fixed.push_str(&t.text[last..]);
            fixes.push((t.pointer.clone(), fixed));
        }
        if !fixes.is_empty() {
            verdict = verdict.with_fix(&handoff.payload_with(fixes));
        }
        Ok(verdict)
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '\''
}

/// Byte ranges where `word` occurs in `text` ignoring case, on word boundaries.
fn find_word(text: &str, word: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut prev: Option<char> = None;
    for (start, c) in text.char_indices() {
        if prev.is_none_or(|p| !is_word_char(p)) {
            if let Some(end) = match_at(&text[start..], word) {
                let end = start + end;
                if text[end..].chars().next().is_none_or(|n| !is_word_char(n)) {
                    out.push((start, end));
                }
            }
        }
        prev = Some(c);
    }
    out
}

/// If `text` starts with `word` ignoring case, the byte length of the match in `text`.
fn match_at(text: &str, word: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    for w in word.chars() {
        let (_, c) = chars.next()?;
        if c != w && !c.to_lowercase().eq(w.to_lowercase()) {
            return None;
        }
    }
    Some(chars.next().map_or(text.len(), |(i, _)| i))
}

export_gate!(BanList);

#[cfg(test)]
mod tests {
    use super::*;
    use seam_guest::testing::{check, spanned};

    #[test]
    fn finds_whole_words_ignoring_case_and_redacts() {
        let h = Handoff::text("Darn it, DARN. Darnation is fine.");
        let v = check::<BanList>(json!({"words": ["darn"]}), &h).unwrap();
        assert!(!v.passed);
        let hits: Vec<_> = v.findings.iter().map(|f| spanned(&h, f).unwrap()).collect();
        assert_eq!(hits, ["Darn", "DARN"]);
        assert_eq!(
            v.fix.as_deref(),
            Some(r#""[REDACTED] it, [REDACTED]. Darnation is fine.""#)
        );
    }

    #[test]
    fn phrases_and_custom_replacement() {
        let h = Handoff::new(json!({"body": "Use the kill switch now", "n": 2}));
        let v =
            check::<BanList>(json!({"words": ["Kill Switch"], "replacement": "***"}), &h).unwrap();
        assert_eq!(v.findings[0].path.as_deref(), Some("/body"));
        assert_eq!(
            v.fix.as_deref(),
            Some(r#"{"body":"Use the *** now","n":2}"#)
        );
    }

    #[test]
    fn non_ascii_text_keeps_spans_on_char_boundaries() {
        let h = Handoff::text("Überpreis — STRAẞE straße");
        let v = check::<BanList>(json!({"words": ["straße"]}), &h).unwrap();
        let hits: Vec<_> = v.findings.iter().map(|f| spanned(&h, f).unwrap()).collect();
        assert_eq!(hits, ["STRAẞE", "straße"]);
    }

    #[test]
    fn clean_text_passes_without_fix() {
        let v = check::<BanList>(json!({"words": ["darn"]}), &Handoff::text("all good")).unwrap();
        assert!(v.passed);
        assert_eq!(v.fix, None);
    }
}
