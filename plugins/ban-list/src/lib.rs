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
    type Prepared = Settings;
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
            // The longest hit wins where hits start together; later overlapping ones go.
            hits.sort_unstable_by_key(|&(start, end)| (start, std::cmp::Reverse(end)));
            hits.dedup_by(|later, earlier| later.0 < earlier.1);
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
    c.is_alphanumeric() || c == '_'
}

/// Whether a word may start at byte `i`: not after a letter, digit or `_`, nor after an
/// apostrophe inside a word (the `t` of `don't`).
fn starts_word(text: &str, i: usize) -> bool {
    let mut before = text[..i].chars().rev();
    match before.next() {
        None => true,
        Some('\'') => before.next().is_none_or(|c| !is_word_char(c)),
        Some(c) => !is_word_char(c),
    }
}

/// Whether a word may end at byte `i`: not before a letter, digit or `_`, nor before an
/// apostrophe that continues the word (the `'t` of `don't`).
fn ends_word(text: &str, i: usize) -> bool {
    let mut after = text[i..].chars();
    match after.next() {
        None => true,
        Some('\'') => after.next().is_none_or(|c| !is_word_char(c)),
        Some(c) => !is_word_char(c),
    }
}

/// Byte ranges where `word` occurs in `text` ignoring case, on word boundaries.
fn find_word(text: &str, word: &str) -> Vec<(usize, usize)> {
    text.char_indices()
        .filter(|&(start, _)| starts_word(text, start))
        .filter_map(|(start, _)| match_at(&text[start..], word).map(|len| (start, start + len)))
        .filter(|&(_, end)| ends_word(text, end))
        .collect()
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
    fn the_longer_of_two_overlapping_entries_wins() {
        let h = Handoff::text("flip the kill switch");
        let v = check::<BanList>(json!({"words": ["kill", "kill switch"]}), &h).unwrap();
        assert_eq!(v.fix.as_deref(), Some(r#""flip the [REDACTED]""#));
    }

    #[test]
    fn quoted_words_are_found_but_not_inside_contractions() {
        let h = Handoff::text("He said 'darn' but won't darn't");
        let v = check::<BanList>(json!({"words": ["darn", "won"]}), &h).unwrap();
        let hits: Vec<_> = v.findings.iter().map(|f| spanned(&h, f).unwrap()).collect();
        assert_eq!(hits, ["darn"]);
        assert_eq!(v.findings[0].span, Some(Span { start: 9, end: 13 }));
    }

    #[test]
    fn clean_text_passes_without_fix() {
        let v = check::<BanList>(json!({"words": ["darn"]}), &Handoff::text("all good")).unwrap();
        assert!(v.passed);
        assert_eq!(v.fix, None);
    }
}
