//! The handoff a plugin is asked about, with typed access to its payload and context.

use serde_json::Value;

/// One handoff between two pipeline steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Handoff {
    pub pipeline: String,
    pub run_id: String,
    pub from_step: String,
    pub to_step: String,
    /// Attempt of the upstream step that produced the payload, from 1.
    pub attempt: u32,
    payload: Value,
    context: Value,
}

/// A string inside the payload, with the JSON pointer that locates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text<'a> {
    /// JSON pointer of the string (`""` when the payload is the string).
    pub pointer: String,
    pub text: &'a str,
}

impl Handoff {
    /// A handoff whose payload is `payload` (for tests and tools).
    pub fn new(payload: Value) -> Self {
        Handoff {
            pipeline: String::new(),
            run_id: String::new(),
            from_step: String::new(),
            to_step: String::new(),
            attempt: 1,
            payload,
            context: Value::Null,
        }
    }

    /// A handoff whose payload is the plain text `text` (a JSON string).
    pub fn text(text: &str) -> Self {
        Self::new(Value::String(text.to_string()))
    }

    /// Parses a handoff from JSON text, as the host sends it.
    pub fn from_json(payload: &str, context: &str) -> Result<Self, String> {
        let payload = serde_json::from_str(payload)
            .map_err(|e| format!("the payload is not valid JSON: {e}"))?;
        let context = if context.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(context)
                .map_err(|e| format!("the context is not valid JSON: {e}"))?
        };
        Ok(Handoff {
            context,
            ..Self::new(payload)
        })
    }

    pub(crate) fn from_wit(h: crate::__private::gate::Handoff) -> Result<Self, String> {
        let mut handoff = Self::from_json(&h.payload, &h.context)?;
        handoff.pipeline = h.pipeline;
        handoff.run_id = h.run_id;
        handoff.from_step = h.from_step;
        handoff.to_step = h.to_step;
        handoff.attempt = h.attempt;
        Ok(handoff)
    }

    /// Sets the context (what the upstream step was given).
    pub fn with_context(mut self, context: Value) -> Self {
        self.context = context;
        self
    }

    /// The payload.
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// The payload deserialized into `T`.
    pub fn payload_as<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        T::deserialize(&self.payload).map_err(|e| format!("the payload does not fit: {e}"))
    }

    /// The context (the upstream step's prompt and inputs), `null` when unknown.
    pub fn context(&self) -> &Value {
        &self.context
    }

    /// Every string at or beneath JSON pointer `pointer` of the payload, in document
    /// order. `""` means the whole payload. Errs when nothing is at `pointer`.
    pub fn texts(&self, pointer: &str) -> Result<Vec<Text<'_>>, String> {
        let root = self
            .payload
            .pointer(pointer)
            .ok_or_else(|| format!("the payload has no value at JSON pointer `{pointer}`"))?;
        let mut out = Vec::new();
        collect(root, pointer.to_string(), &mut out);
        Ok(out)
    }

    /// The payload with the strings at the given pointers replaced (for a verdict's fix).
    pub fn payload_with(&self, replacements: impl IntoIterator<Item = (String, String)>) -> Value {
        let mut payload = self.payload.clone();
        for (pointer, text) in replacements {
            if let Some(slot) = payload.pointer_mut(&pointer) {
                *slot = Value::String(text);
            }
        }
        payload
    }
}

fn collect<'a>(value: &'a Value, pointer: String, out: &mut Vec<Text<'a>>) {
    match value {
        Value::String(text) => out.push(Text { pointer, text }),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect(item, format!("{pointer}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                collect(item, format!("{pointer}/{}", pointer_escape(key)), out);
            }
        }
        _ => {}
    }
}

/// Escapes one JSON pointer token (RFC 6901: `~` → `~0`, `/` → `~1`).
pub fn pointer_escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn texts_walks_nested_strings_with_escaped_pointers() {
        let h = Handoff::new(json!({"a/b": ["x", 1, {"c~": "y"}], "n": null}));
        let texts: Vec<(String, &str)> = h
            .texts("")
            .unwrap()
            .into_iter()
            .map(|t| (t.pointer, t.text))
            .collect();
        assert_eq!(
            texts,
            vec![
                ("/a~1b/0".to_string(), "x"),
                ("/a~1b/2/c~0".to_string(), "y")
            ]
        );
    }

    #[test]
    fn texts_of_a_missing_pointer_is_an_error_naming_it() {
        let err = Handoff::text("x").texts("/body").unwrap_err();
        assert_eq!(err, "the payload has no value at JSON pointer `/body`");
    }

    #[test]
    fn payload_with_replaces_strings() {
        let h = Handoff::new(json!({"body": "secret", "n": 1}));
        let fixed = h.payload_with([("/body".to_string(), "[X]".to_string())]);
        assert_eq!(fixed, json!({"body": "[X]", "n": 1}));
    }
}
