//! Text from plugins (finding messages and codes, route reasons, logs, fixes) and from
//! payloads is data, not terminal control: [`visible`] shows every control character
//! as an escape, so a plugin cannot clear the screen, retitle the terminal, move the
//! cursor over the outcome line or reorder it with bidirectional overrides.

use std::borrow::Cow;

/// Whether `c` is shown as an escape: C0 controls but newline and tab, DEL, C1
/// controls, and the Unicode bidirectional controls (which reorder what is displayed).
pub fn is_hidden_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every [hidden control](is_hidden_control) written as `\uXXXX`, so it
/// shows instead of acting. Newlines and tabs stay. The escape is JSON's own, so JSON
/// text stays valid JSON with the same meaning.
pub fn visible(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_hidden_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden_control(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` on one line: [`visible`], with newlines shown as `⏎`.
pub fn one_line(text: &str) -> String {
    visible(text).replace("\r\n", "⏎").replace('\n', "⏎")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_show_instead_of_acting() {
        assert_eq!(visible("a\u{1b}[2Jb"), "a\\u001b[2Jb");
        assert_eq!(visible("\u{1b}]0;owned\u{7}"), "\\u001b]0;owned\\u0007");
        assert_eq!(visible("x\ry"), "x\\u000dy");
        assert_eq!(visible("\u{9b}31m"), "\\u009b31m");
        assert_eq!(visible("\u{202e}txt"), "\\u202etxt");
    }

    #[test]
    fn json_stays_json_with_the_same_meaning() {
        let value = serde_json::json!({"m": "\u{7f}\u{85}\u{202e}"});
        let text = serde_json::to_string(&value).unwrap();
        let shown = visible(&text);
        assert!(!shown.chars().any(is_hidden_control));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&shown).unwrap(),
            value
        );
    }

    #[test]
    fn ordinary_text_is_untouched() {
        assert!(matches!(
            visible("Great, $89.\n\tTabs stay. Ünïcødé ✓"),
            Cow::Borrowed(_)
        ));
    }
}
