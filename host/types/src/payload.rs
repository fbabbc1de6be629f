//! How a payload given as text becomes the JSON value handed on — the one reading shared
//! by every front end (command line, server, Python), so `auto` means the same
//! everywhere.

use serde_json::Value;

/// How a payload's text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// JSON when it comes from a `.json` file or is a whole JSON object or array; text
    /// otherwise (so `[Sponsored] Great` and `"Great," she said` are text).
    #[default]
    Auto,
    /// Always JSON (any JSON value), strictly (no key twice).
    Json,
    /// Always plain text, sent as a JSON string.
    Text,
}

/// Reads `text` as a payload: JSON or a string, by `format`; `json_file` says it came
/// from a `.json` file. Text loses one final newline (`\n` or `\r\n`), a file
/// convention rather than part of the payload. The error is the JSON parser's, with
/// its line and column.
pub fn read(text: &str, format: Format, json_file: bool) -> Result<Value, serde_json::Error> {
    let as_json = match format {
        Format::Json => true,
        Format::Text => false,
        Format::Auto => {
            json_file
                || (text.trim_start().starts_with(['{', '['])
                    && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok())
        }
    };
    if as_json {
        return crate::json::parse_strict(text);
    }
    let body = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(text);
    Ok(Value::String(body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn auto_is_json_only_for_whole_objects_and_arrays() {
        let auto = |t: &str| read(t, Format::Auto, false).unwrap();
        assert_eq!(auto("{\"a\": 1}"), json!({"a": 1}));
        assert_eq!(auto(" [1, 2]\n"), json!([1, 2]));
        assert_eq!(auto("[Sponsored] Great"), json!("[Sponsored] Great"));
        assert_eq!(auto("\"quoted\"\n"), json!("\"quoted\""));
        assert_eq!(auto("42"), json!("42"));
        assert_eq!(auto("line\r\n"), json!("line"));
        assert_eq!(auto("two\n\n"), json!("two\n"));
    }

    #[test]
    fn a_json_file_and_json_format_must_be_json() {
        assert!(read("text", Format::Auto, true).is_err());
        assert_eq!(read("\"s\"", Format::Json, false).unwrap(), json!("s"));
        assert!(read("{\"a\":1,\"a\":2}", Format::Auto, false).is_err());
    }
}
