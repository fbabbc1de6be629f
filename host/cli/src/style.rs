//! Colour on a terminal, without letting plugin text drive it.
//!
//! Rendering code wraps the words it wants coloured with [`paint`], which surrounds them
//! with markers that carry a random per-process token. The [`Terminal`](crate::io::Terminal)
//! filter on stdout turns exactly those markers into SGR sequences when colour is on and
//! drops them when it is off; every other byte still goes through
//! [`seam_types::text::visible`], so an escape sequence a plugin writes is shown, never
//! obeyed, and a plugin cannot forge a marker without the token.
//!
//! Colour is on when stdout is a terminal and `NO_COLOR` is unset or empty, unless
//! `--color always` or `--color never` says otherwise (<https://no-color.org>).

use std::ffi::OsString;
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// `--color`: when to colour the output.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// When stdout is a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always, even when piped (and despite `NO_COLOR`).
    Always,
    /// Never.
    Never,
}

/// Whether to colour stdout.
pub fn wanted(choice: ColorChoice, stdout_is_terminal: bool, no_color: Option<OsString>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => stdout_is_terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// What a painted word means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Passed, completed: green.
    Pass,
    /// Failed, rejected: red.
    Fail,
    /// Could not answer, waiting for a person: yellow.
    Warn,
    /// Headings and names: bold.
    Strong,
    /// Secondary detail (durations): dim.
    Dim,
}

impl Style {
    fn code(self) -> char {
        match self {
            Style::Pass => 'g',
            Style::Fail => 'r',
            Style::Warn => 'y',
            Style::Strong => 'b',
            Style::Dim => 'd',
        }
    }
}

const OPEN: char = '\u{E000}';
const CLOSE: char = '\u{E001}';
const RESET: char = '0';

/// The marker prefix: U+E000 and this process's random token.
fn prefix() -> &'static str {
    static PREFIX: OnceLock<String> = OnceLock::new();
    PREFIX.get_or_init(|| {
        // RandomState is seeded from the OS's random source once per process.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(u64::from(std::process::id()));
        format!("{OPEN}{:016x}", h.finish())
    })
}

/// `text` marked to be shown in `style` (plain when colour is off).
pub fn paint(style: Style, text: impl std::fmt::Display) -> String {
    let p = prefix();
    format!("{p}{}{CLOSE}{text}{p}{RESET}{CLOSE}", style.code())
}

/// The SGR sequence of a marker's code.
fn sgr(code: char) -> &'static str {
    match code {
        'g' => "\x1b[32m",
        'r' => "\x1b[31m",
        'y' => "\x1b[33m",
        'b' => "\x1b[1m",
        'd' => "\x1b[2m",
        _ => "\x1b[0m",
    }
}

/// Splits `text` at its first marker: (text before, the marker's SGR, text after).
pub fn next_marker(text: &str) -> Option<(&str, &'static str, &str)> {
    let p = prefix();
    let at = text.find(p)?;
    let after = &text[at + p.len()..];
    let mut chars = after.chars();
    let code = chars.next()?;
    if chars.next() != Some(CLOSE) || !"grybd0".contains(code) {
        // Not one of ours after all: keep it as text, look further on.
        let skip = at + p.len();
        let (before, sgr, rest) = next_marker(&text[skip..])?;
        return Some((&text[..skip + before.len()], sgr, rest));
    }
    let rest = &after[code.len_utf8() + CLOSE.len_utf8()..];
    Some((&text[..at], sgr(code), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_follows_the_terminal_and_no_color_unless_forced() {
        let set = Some(OsString::from("1"));
        let empty = Some(OsString::new());
        assert!(wanted(ColorChoice::Auto, true, None));
        assert!(wanted(ColorChoice::Auto, true, empty));
        assert!(!wanted(ColorChoice::Auto, true, set.clone()));
        assert!(!wanted(ColorChoice::Auto, false, None));
        assert!(wanted(ColorChoice::Always, false, set.clone()));
        assert!(!wanted(ColorChoice::Never, true, None));
    }

    #[test]
    fn a_painted_word_splits_into_text_and_sequences() {
        let s = format!("a {} b", paint(Style::Pass, "ok"));
        let (before, sgr, rest) = next_marker(&s).unwrap();
        assert_eq!((before, sgr), ("a ", "\x1b[32m"));
        let (word, reset, tail) = next_marker(rest).unwrap();
        assert_eq!((word, reset, tail), ("ok", "\x1b[0m", " b"));
        assert!(next_marker(tail).is_none());
    }

    #[test]
    fn markers_without_the_token_are_text() {
        let forged = format!("{OPEN}0000000000000000g{CLOSE}x");
        assert!(next_marker(&forged).is_none());
    }
}
