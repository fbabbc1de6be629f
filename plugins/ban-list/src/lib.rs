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

/// The settings, ready to search with: the words trimmed, the empty ones dropped.
pub struct Prepared {
    words: Vec<String>,
    /// Bytes where a match may begin; the search skips every other byte.
    may_begin: [bool; 256],
    replacement: String,
    pointer: String,
}

impl Prepare<Settings> for Prepared {
    fn prepare(s: Settings) -> Result<Self, String> {
        let words: Vec<String> = s
            .words
            .iter()
            .map(|w| w.trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        Ok(Prepared {
            may_begin: first_bytes(&words),
            words,
            replacement: s.replacement,
            pointer: s.pointer,
        })
    }
}

pub struct BanList;

impl Gate for BanList {
    type Settings = Settings;
    type Prepared = Prepared;
    const NAME: &'static str = "ban-list";
    const DESCRIPTION: &'static str = "Fails on banned words or phrases (whole words, ignoring case); the fix replaces each with a redaction token.";

    fn check(s: &Prepared, handoff: &Handoff) -> Result<Verdict, String> {
        let mut verdict = Verdict::new();
        let mut fixes = Vec::new();
        for t in handoff.texts(&s.pointer)? {
            let mut hits = find_words(t.text, s);
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

/// Byte ranges where any of the words occurs in `text` ignoring case, on word
/// boundaries: one pass over the bytes, trying the words only where one can begin.
fn find_words(text: &str, prepared: &Prepared) -> Vec<(usize, usize)> {
    let mut hits = Vec::new();
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if !prepared.may_begin[b as usize] || !starts_word(text, i) {
            continue;
        }
        let rest = &text[i..];
        for w in &prepared.words {
            if let Some(len) = match_at(rest, w) {
                if ends_word(text, i + len) {
                    hits.push((i, i + len));
                }
            }
        }
    }
    hits
}

/// The bytes a match of one of `words` can begin with: an ASCII first letter in
/// either case, and the first byte of any non-ASCII character (one may lower-case to
/// an ASCII letter, as the Kelvin sign does to `k`). A word that begins with a
/// non-ASCII letter may begin at any character.
fn first_bytes(words: &[String]) -> [bool; 256] {
    let mut may_begin = [false; 256];
    may_begin[0xC0..].fill(true);
    for first in words.iter().filter_map(|w| w.chars().next()) {
        if first.is_ascii() {
            may_begin[first.to_ascii_lowercase() as usize] = true;
            may_begin[first.to_ascii_uppercase() as usize] = true;
        } else {
            may_begin[..0x80].fill(true);
        }
    }
    may_begin
}

/// If `text` starts with `word` ignoring case, the byte length of the match in `text`.
fn match_at(text: &str, word: &str) -> Option<usize> {
    let mut chars = text.char_indices();
    for w in word.chars() {
        let (_, c) = chars.next()?;
        if !same_ignoring_case(c, w) {
            return None;
        }
    }
    Some(chars.next().map_or(text.len(), |(i, _)| i))
}

/// `c` and `w` are equal once lower-cased; ASCII pairs without the Unicode tables.
fn same_ignoring_case(c: char, w: char) -> bool {
    if c == w {
        true
    } else if c.is_ascii() && w.is_ascii() {
        c.eq_ignore_ascii_case(&w)
    } else {
        c.to_lowercase().eq(w.to_lowercase())
    }
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
    fn case_folds_beyond_ascii_where_a_letter_lowers_to_ascii() {
        // KELVIN SIGN lowers to `k`, so it matches an ASCII word's `k`; `ǅ` lowers to `ǆ`.
        let h = Handoff::text("\u{212A}ill it, \u{1C5}ungla, killer");
        let v = check::<BanList>(json!({"words": ["KILL", " \u{1C6}ungla "]}), &h).unwrap();
        let hits: Vec<_> = v.findings.iter().map(|f| spanned(&h, f).unwrap()).collect();
        assert_eq!(hits, ["\u{212A}ill", "\u{1C5}ungla"]);
        // And the other way round: a word that begins with one matches ASCII text.
        let h = Handoff::text("Kill it, kill it.");
        let v = check::<BanList>(json!({"words": ["\u{212A}ILL"]}), &h).unwrap();
        let hits: Vec<_> = v.findings.iter().map(|f| spanned(&h, f).unwrap()).collect();
        assert_eq!(hits, ["Kill", "kill"]);
    }

    /// The search as first written: every word tried at every character, comparing
    /// with the Unicode tables only.
    fn reference(text: &str, words: &[String]) -> Vec<(usize, usize)> {
        let mut hits: Vec<_> = words
            .iter()
            .flat_map(|w| {
                text.char_indices()
                    .filter(|&(i, _)| starts_word(text, i))
                    .filter_map(|(i, _)| {
                        let mut chars = text[i..].char_indices();
                        for w in w.chars() {
                            let (_, c) = chars.next()?;
                            if !c.to_lowercase().eq(w.to_lowercase()) {
                                return None;
                            }
                        }
                        Some((i, i + chars.next().map_or(text.len() - i, |(j, _)| j)))
                    })
                    .filter(|&(_, end)| ends_word(text, end))
                    .collect::<Vec<_>>()
            })
            .collect();
        hits.sort_unstable();
        hits
    }

    #[test]
    fn the_search_finds_what_trying_every_character_finds() {
        const ALPHABET: [char; 16] = [
            'a', 'A', 'k', 'K', '\u{212A}', 's', 'ß', 'ẞ', 'İ', 'i', 'é', 'É', '\'', ' ', '_', '1',
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut pick = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..3000 {
            let text: String = (0..pick(24)).map(|_| ALPHABET[pick(16)]).collect();
            let words: Vec<String> = (0..1 + pick(3))
                .map(|_| (0..1 + pick(3)).map(|_| ALPHABET[pick(12)]).collect())
                .collect();
            let prepared = Prepared::prepare(Settings {
                words: words.clone(),
                replacement: default_replacement(),
                pointer: String::new(),
            })
            .unwrap();
            let mut hits = find_words(&text, &prepared);
            hits.sort_unstable();
            let words: Vec<String> = words.iter().map(|w| w.trim().to_string()).collect();
            assert_eq!(hits, reference(&text, &words), "{text:?} {words:?}");
        }
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
