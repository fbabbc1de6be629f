//! JSON that people give seam (settings, run inputs, payloads, context, review
//! payloads) is parsed strictly: a key given twice in one object is refused with its
//! line and column instead of the last one silently winning, and nesting deeper than
//! [`MAX_DEPTH`] is refused instead of exhausting the stack.

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Deepest nesting of arrays and objects accepted in any JSON seam reads (serde_json's
/// own recursion limit, named here so that documents and errors can quote it).
pub const MAX_DEPTH: usize = 128;

/// Parses `text` as one JSON document, refusing duplicate keys. The error carries the
/// line and column (`e.line()`, `e.column()`) of the problem.
pub fn parse_strict(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The message of a JSON error without serde_json's " at line L column C" suffix, for
/// errors that give the position their own way.
pub fn message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&suffix).unwrap_or(&text).to_string()
}

/// Serde helpers for a field that holds JSON *text* but is written as the JSON value
/// itself (so documents never carry JSON inside a string): `#[serde(with =
/// "seam_types::json::embedded")]` on an `Option<String>`. Reading takes any JSON value
/// and keeps its compact text; text that is not JSON is written as a string.
pub mod embedded {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
        match text {
            None => s.serialize_none(),
            Some(t) => super::as_value(t).serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<Value>::deserialize(d)?.map(|v| v.to_string()))
    }
}

/// Serializes JSON text (a `String` field) as the JSON value it holds:
/// `#[serde(serialize_with = "seam_types::json::as_json")]`.
pub fn as_json<S: serde::Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&as_value(text), s)
}

/// Serializes optional JSON text as the JSON value it holds (or null).
pub fn as_json_opt<S: serde::Serializer>(text: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&text.as_deref().map(as_value), s)
}

/// The JSON value `text` holds, or the text as a JSON string when it is not JSON.
pub fn as_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number that is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "the key {key:?} is given twice in one object; keep one"
                )));
            }
            let value = map.next_value_seed(Strict)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_key_is_refused_at_its_place() {
        let e = parse_strict("{\"a\": 1,\n \"a\": 2}").unwrap_err();
        assert!(
            e.to_string().contains("the key \"a\" is given twice"),
            "{e}"
        );
        assert_eq!(e.line(), 2);
    }

    #[test]
    fn nested_duplicates_are_found_too() {
        let e = parse_strict(r#"[{"x": {"k": 1, "k": 1}}]"#).unwrap_err();
        assert!(e.to_string().contains("\"k\""), "{e}");
    }

    #[test]
    fn the_same_key_in_two_objects_is_fine() {
        let v = parse_strict(r#"[{"k": 1}, {"k": 2}]"#).unwrap();
        assert_eq!(v, serde_json::json!([{"k": 1}, {"k": 2}]));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(100_000);
        let e = parse_strict(&text).unwrap_err();
        assert!(e.to_string().contains("recursion limit"), "{e}");
    }

    #[test]
    fn trailing_text_is_refused() {
        assert!(parse_strict("{} {}").is_err());
    }
}
