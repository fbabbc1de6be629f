//! `brand-voice`: how much wording the payload's text shares with reference texts in
//! the brand's voice — the cosine similarity of word and character n-gram counts. It
//! measures overlap of words and spellings, not tone or meaning: a text in the brand's
//! voice with other words scores low, a text that reuses the references' words high.
//!
//! Deterministic and cheap: no model, no network. The score is the best similarity to
//! any one reference; the gate passes when it reaches `threshold`.
use seam_guest::prelude::*;
use std::collections::HashMap;

/// Reference texts and the threshold.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Texts in the brand's voice (at least one).
    #[schemars(length(min = 1))]
    pub references: Vec<String>,
    /// Lowest similarity that passes, in `[0, 1]` (default 0.3).
    #[serde(default = "default_threshold")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub threshold: f64,
    /// Character n-gram length (default 3); word unigrams and bigrams are always used.
    #[serde(default = "default_n")]
    #[schemars(range(min = 1, max = 8))]
    pub char_ngram: usize,
    /// JSON pointer to the text to score; default `""`, the whole payload.
    #[serde(default)]
    pub pointer: String,
}

fn default_threshold() -> f64 {
    0.3
}

fn default_n() -> usize {
    3
}

/// The references' n-gram profiles, counted once by `prepare`.
pub struct Profiles {
    references: Vec<HashMap<String, f64>>,
    threshold: f64,
    char_ngram: usize,
    pointer: String,
}

impl Prepare<Settings> for Profiles {
    fn prepare(s: Settings) -> Result<Self, String> {
        Ok(Profiles {
            references: s
                .references
                .iter()
                .map(|r| ngrams(r, s.char_ngram))
                .collect(),
            threshold: s.threshold,
            char_ngram: s.char_ngram,
            pointer: s.pointer,
        })
    }
}

pub struct BrandVoice;

impl Gate for BrandVoice {
    type Settings = Settings;
    type Prepared = Profiles;
    const NAME: &'static str = "brand-voice";
    const DESCRIPTION: &'static str = "Scores the word and character n-gram overlap (cosine similarity of counts) between the payload's text and reference texts; passes at or above a threshold. It measures shared wording, not tone or meaning.";

    fn check(p: &Profiles, handoff: &Handoff) -> Result<Verdict, String> {
        let text: Vec<&str> = handoff.texts(&p.pointer)?.iter().map(|t| t.text).collect();
        let profile = ngrams(&text.join("\n"), p.char_ngram);
        let score = p
            .references
            .iter()
            .map(|r| cosine(&profile, r))
            .fold(0.0, f64::max);
        let mut verdict = Verdict::new().with_score(score);
        if score < p.threshold {
            verdict.push(
                Finding::error(
                    "brand-voice.off",
                    format!(
                        "n-gram overlap with the reference texts is {score:.3}, below the threshold {}",
                        p.threshold
                    ),
                )
                .at(&p.pointer),
            );
        }
        Ok(verdict)
    }
}

export_gate!(BrandVoice);

/// Counts of word unigrams, word bigrams and character n-grams of lowercased text.
pub fn ngrams(text: &str, n: usize) -> HashMap<String, f64> {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '$' && c != '\'')
        .filter(|w| !w.is_empty())
        .collect();
    let mut counts: HashMap<String, f64> = HashMap::new();
    for w in &words {
        *counts.entry(format!("w:{w}")).or_default() += 1.0;
    }
    for pair in words.windows(2) {
        *counts
            .entry(format!("b:{} {}", pair[0], pair[1]))
            .or_default() += 1.0;
    }
    let chars: Vec<char> = words.join(" ").chars().collect();
    for gram in chars.windows(n.max(1)) {
        *counts
            .entry(format!("c:{}", gram.iter().collect::<String>()))
            .or_default() += 1.0;
    }
    counts
}

/// Cosine similarity of two count vectors, in `[0, 1]`.
pub fn cosine(a: &HashMap<String, f64>, b: &HashMap<String, f64>) -> f64 {
    let dot: f64 = a.iter().filter_map(|(k, x)| b.get(k).map(|y| x * y)).sum();
    let norm = |m: &HashMap<String, f64>| m.values().map(|x| x * x).sum::<f64>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator == 0.0 {
        0.0
    } else {
        (dot / denominator).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seam_guest::testing::check;

    fn settings(threshold: f64) -> Value {
        json!({"references": [
            "Hear what matters. Quiet, focused sound built for everyone, priced for everyday life.",
            "Silence the noise and keep the music: studio sound, all-day battery, made for focus."
        ], "threshold": threshold})
    }

    #[test]
    fn identical_text_scores_one() {
        let v = check::<BrandVoice>(
            json!({"references": ["Keep the music."]}),
            &Handoff::text("Keep the music."),
        )
        .unwrap();
        assert_eq!(v.score, Some(1.0));
        assert!(v.passed);
    }

    #[test]
    fn on_brand_draft_beats_off_brand_text() {
        let good = "Block the noise, keep the music. These $89 noise-cancelling headphones deliver studio-grade silence and 30-hour battery — built for focus, priced for everyone.";
        let bad =
            "Pursuant to clause 4(b), the lessee shall indemnify the lessor against all claims.";
        let g = check::<BrandVoice>(settings(0.3), &Handoff::text(good)).unwrap();
        let b = check::<BrandVoice>(settings(0.3), &Handoff::text(bad)).unwrap();
        assert!(g.passed, "{g:?}");
        assert!(!b.passed, "{b:?}");
        assert!(g.score.unwrap() > b.score.unwrap() + 0.2);
        assert_eq!(b.findings[0].code, "brand-voice.off");
    }

    #[test]
    fn score_is_deterministic() {
        let h = Handoff::text("quiet focused sound");
        let a = check::<BrandVoice>(settings(0.0), &h).unwrap().score;
        let b = check::<BrandVoice>(settings(0.0), &h).unwrap().score;
        assert_eq!(a, b);
    }
}
