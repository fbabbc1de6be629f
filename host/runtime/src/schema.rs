//! A plugin's settings schema, read under bounds: the schema is plugin-supplied text,
//! so its size, node count and depth are capped before it is parsed into a validator,
//! and compiling it and validating the operator's settings run under a time limit.
//!
//! This module must not run plugin code; it only judges the schema a plugin described.

use std::time::Duration;

use super::error::{LoadError, SettingsProblem};
use super::limits::{
    MAX_SCHEMA_BYTES, MAX_SCHEMA_DEPTH, MAX_SCHEMA_EXPANDED_NODES, MAX_SCHEMA_NODES,
    SCHEMA_TIME_LIMIT,
};

/// Parses the schema text `describe()` returned, within the caps.
pub(crate) fn parse(plugin: &str, text: &str) -> Result<serde_json::Value, LoadError> {
    let bad = |reason: String| LoadError::BadSchema {
        plugin: plugin.to_string(),
        reason,
    };
    if text.len() > MAX_SCHEMA_BYTES {
        return Err(bad(format!(
            "it is {} bytes, over the cap of {MAX_SCHEMA_BYTES} bytes",
            text.len()
        )));
    }
    let schema: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let (nodes, depth) = measure(&schema);
    if nodes > MAX_SCHEMA_NODES {
        return Err(bad(format!(
            "it has {nodes} JSON nodes, over the cap of {MAX_SCHEMA_NODES}"
        )));
    }
    if depth > MAX_SCHEMA_DEPTH {
        return Err(bad(format!(
            "it nests {depth} levels deep, over the cap of {MAX_SCHEMA_DEPTH}"
        )));
    }
    if let Some(reference) = unfollowable_reference(&schema) {
        return Err(bad(format!(
            "it has the reference {reference}, which seam cannot bound; a settings schema may only use local references to JSON pointers (`\"$ref\": \"#/$defs/name\"`)"
        )));
    }
    let expanded = expanded_size(&schema);
    if expanded > MAX_SCHEMA_EXPANDED_NODES {
        return Err(bad(format!(
            "with its `$ref`s followed it has more than {MAX_SCHEMA_EXPANDED_NODES} nodes to check (references that fan out, e.g. `allOf` of the same `$ref` nested, grow exponentially)"
        )));
    }
    Ok(schema)
}

/// The first reference the size bound cannot follow: a `$ref` that is neither a local
/// JSON pointer resolving in the schema nor a metaschema (anchors, percent-encoding,
/// `$id`-relative and remote references), or any `$dynamicRef`/`$recursiveRef`.
fn unfollowable_reference(root: &serde_json::Value) -> Option<String> {
    let mut stack = vec![root];
    while let Some(v) = stack.pop() {
        match v {
            serde_json::Value::Array(items) => stack.extend(items),
            serde_json::Value::Object(map) => {
                for (k, item) in map {
                    match k.as_str() {
                        "$dynamicRef" | "$recursiveRef" => return Some(format!("`{k}`")),
                        "$ref" => {
                            let resolves = item.as_str().is_some_and(|r| {
                                is_metaschema(r)
                                    || r.strip_prefix('#')
                                        .is_some_and(|p| p.is_empty() || root.pointer(p).is_some())
                            });
                            if !resolves {
                                return Some(format!("`$ref: {item}`"));
                            }
                        }
                        _ => {}
                    }
                }
                stack.extend(map.values());
            }
            _ => {}
        }
    }
    None
}

/// A JSON Schema metaschema (`https://json-schema.org/draft/2020-12/schema`, …):
/// `jsonschema` carries these and resolves them offline, and validating against one is
/// bounded by the size of what is validated. A plugin whose setting is itself a schema
/// (the standard `json-schema` gate) refers to one.
fn is_metaschema(reference: &str) -> bool {
    reference
        .strip_prefix("https://json-schema.org/")
        .or_else(|| reference.strip_prefix("http://json-schema.org/"))
        .is_some_and(|rest| rest.starts_with("draft"))
}

/// How many schema nodes a validation may visit per level of the instance: the node
/// count with every local `$ref` replaced by what it points to (a reference back to a
/// node being expanded counts once: recursion repeats only as deep as the instance
/// nests). Saturates just past the cap, so fan-out cannot overflow it.
fn expanded_size(root: &serde_json::Value) -> usize {
    use std::collections::HashMap;
    fn visit<'a>(
        v: &'a serde_json::Value,
        root: &'a serde_json::Value,
        memo: &mut HashMap<*const serde_json::Value, usize>,
        open: &mut Vec<*const serde_json::Value>,
    ) -> usize {
        let key = v as *const serde_json::Value;
        if let Some(&n) = memo.get(&key) {
            return n;
        }
        if open.contains(&key) || open.len() > MAX_SCHEMA_DEPTH * 4 {
            return 1;
        }
        open.push(key);
        let mut n: usize = 1;
        match v {
            serde_json::Value::Array(items) => {
                for item in items {
                    n = n.saturating_add(visit(item, root, memo, open));
                }
            }
            serde_json::Value::Object(map) => {
                for (k, item) in map {
                    n = n.saturating_add(visit(item, root, memo, open));
                    if k == "$ref" {
                        let target =
                            item.as_str()
                                .and_then(|r| r.strip_prefix('#'))
                                .and_then(|p| {
                                    if p.is_empty() {
                                        Some(root)
                                    } else {
                                        root.pointer(p)
                                    }
                                });
                        if let Some(target) = target {
                            n = n.saturating_add(visit(target, root, memo, open));
                        }
                    }
                }
            }
            _ => {}
        }
        n = n.min(MAX_SCHEMA_EXPANDED_NODES + 1);
        open.pop();
        memo.insert(key, n);
        n
    }
    visit(root, root, &mut HashMap::new(), &mut Vec::new())
}

/// Node count and depth of a JSON value, without recursion.
fn measure(value: &serde_json::Value) -> (usize, usize) {
    let mut nodes = 0;
    let mut deepest = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        nodes += 1;
        deepest = deepest.max(depth);
        match v {
            serde_json::Value::Array(items) => stack.extend(items.iter().map(|i| (i, depth + 1))),
            serde_json::Value::Object(map) => stack.extend(map.values().map(|i| (i, depth + 1))),
            _ => {}
        }
    }
    (nodes, deepest)
}

/// Compiles `schema` and validates `settings` against it, on a helper thread given
/// [`SCHEMA_TIME_LIMIT`]. A schema that takes longer is refused; its thread is left
/// to finish on its own (it cannot be interrupted), and the error is returned at once.
pub(crate) fn validate_settings(
    plugin: &str,
    schema: &serde_json::Value,
    settings: &serde_json::Value,
) -> Result<(), LoadError> {
    validate_within(plugin, schema, settings, SCHEMA_TIME_LIMIT)
}

fn validate_within(
    plugin: &str,
    schema: &serde_json::Value,
    settings: &serde_json::Value,
    limit: Duration,
) -> Result<(), LoadError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let (schema, settings) = (schema.clone(), settings.clone());
    let spawned = std::thread::Builder::new()
        .name("seam-schema".into())
        .spawn(move || {
            let result = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .map_err(|e| e.to_string())
                .map(|validator| {
                    validator
                        .iter_errors(&settings)
                        .map(|e| SettingsProblem {
                            pointer: e.instance_path().to_string(),
                            message: e.to_string(),
                        })
                        .collect::<Vec<_>>()
                });
            let _ = tx.send(result);
        });
    if let Err(e) = spawned {
        return Err(LoadError::BadSchema {
            plugin: plugin.to_string(),
            reason: format!("could not start the thread that checks it: {e}"),
        });
    }
    match rx.recv_timeout(limit) {
        Ok(Ok(problems)) if problems.is_empty() => Ok(()),
        Ok(Ok(problems)) => Err(LoadError::InvalidSettings {
            plugin: plugin.to_string(),
            problems,
        }),
        Ok(Err(reason)) => Err(LoadError::BadSchema {
            plugin: plugin.to_string(),
            reason,
        }),
        Err(_) => Err(LoadError::BadSchema {
            plugin: plugin.to_string(),
            reason: format!(
                "compiling it and validating the settings took longer than {} ms; a schema must be small and simple enough to check quickly",
                limit.as_millis()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `levels` definitions, each an `allOf` of two references to the next.
    fn fan_out(levels: usize) -> serde_json::Value {
        let mut defs = serde_json::Map::new();
        for i in 0..levels {
            let next = format!("#/$defs/d{}", i + 1);
            defs.insert(
                format!("d{i}"),
                json!({"allOf": [{"$ref": next}, {"$ref": next}]}),
            );
        }
        defs.insert(format!("d{levels}"), json!({"type": "object"}));
        json!({"$defs": defs, "$ref": "#/$defs/d0"})
    }

    fn reason(e: LoadError) -> String {
        match e {
            LoadError::BadSchema { plugin, reason } => {
                assert_eq!(plugin, "p");
                reason
            }
            other => panic!("expected BadSchema, got {other:?}"),
        }
    }

    #[test]
    fn an_oversized_schema_is_refused_before_parsing() {
        let text = format!(r#"{{"description": "{}"}}"#, "x".repeat(MAX_SCHEMA_BYTES));
        assert_eq!(
            reason(parse("p", &text).unwrap_err()),
            format!(
                "it is {} bytes, over the cap of {MAX_SCHEMA_BYTES} bytes",
                text.len()
            )
        );
    }

    #[test]
    fn a_schema_with_too_many_nodes_is_refused() {
        let text = serde_json::to_string(&json!({"enum": vec![0; MAX_SCHEMA_NODES]})).unwrap();
        assert_eq!(
            reason(parse("p", &text).unwrap_err()),
            format!(
                "it has {} JSON nodes, over the cap of {MAX_SCHEMA_NODES}",
                MAX_SCHEMA_NODES + 2
            )
        );
    }

    #[test]
    fn a_deeply_nested_schema_is_refused() {
        let mut v = json!({});
        for _ in 0..MAX_SCHEMA_DEPTH {
            v = json!({ "not": v });
        }
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            reason(parse("p", &text).unwrap_err()),
            format!(
                "it nests {} levels deep, over the cap of {MAX_SCHEMA_DEPTH}",
                MAX_SCHEMA_DEPTH + 1
            )
        );
    }

    #[test]
    fn references_that_fan_out_are_refused_before_compiling() {
        let text = serde_json::to_string(&fan_out(40)).unwrap();
        assert!(reason(parse("p", &text).unwrap_err()).starts_with("with its `$ref`s followed"),);
        // A modest, legitimate use of references passes.
        let text = serde_json::to_string(&fan_out(4)).unwrap();
        assert!(parse("p", &text).is_ok());
    }

    #[test]
    fn references_the_bound_cannot_follow_are_refused() {
        for (schema, reference) in [
            (
                json!({"$defs": {"a": {"$anchor": "a1"}}, "$ref": "#a1"}),
                "`$ref: \"#a1\"`",
            ),
            (
                json!({"$defs": {"d1": {}}, "$ref": "#/%24defs/d1"}),
                "`$ref: \"#/%24defs/d1\"`",
            ),
            (json!({"$ref": "other.json"}), "`$ref: \"other.json\"`"),
            (
                json!({"$ref": "https://example.com/schema"}),
                "`$ref: \"https://example.com/schema\"`",
            ),
            (
                json!({"$ref": "#/$defs/missing"}),
                "`$ref: \"#/$defs/missing\"`",
            ),
            (
                json!({"allOf": [{"$dynamicRef": "#meta"}]}),
                "`$dynamicRef`",
            ),
            (json!({"$recursiveRef": "#"}), "`$recursiveRef`"),
            (json!({"$ref": 5}), "`$ref: 5`"),
        ] {
            let text = serde_json::to_string(&schema).unwrap();
            assert_eq!(
                reason(parse("p", &text).unwrap_err()),
                format!("it has the reference {reference}, which seam cannot bound; a settings schema may only use local references to JSON pointers (`\"$ref\": \"#/$defs/name\"`)")
            );
        }
    }

    #[test]
    fn a_reference_to_a_metaschema_is_accepted() {
        let schema = json!({"properties": {"schema": {"$ref": "https://json-schema.org/draft/2020-12/schema"}}});
        let schema = parse("p", &schema.to_string()).unwrap();
        validate_settings("p", &schema, &json!({"schema": {"type": "object"}})).unwrap();
    }

    #[test]
    fn a_recursive_schema_is_accepted() {
        let tree = json!({
            "$defs": {"node": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}},
            "$ref": "#/$defs/node"
        });
        let schema = parse("p", &tree.to_string()).unwrap();
        validate_settings("p", &schema, &json!({"children": [{"children": []}]})).unwrap();
    }

    #[test]
    fn a_schema_that_takes_too_long_is_refused_at_the_time_limit() {
        let schema = fan_out(16);
        let e = validate_within("p", &schema, &json!({}), Duration::ZERO).unwrap_err();
        assert_eq!(
            reason(e),
            "compiling it and validating the settings took longer than 0 ms; a schema must be small and simple enough to check quickly"
        );
    }

    #[test]
    fn settings_problems_point_at_the_setting() {
        let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}});
        let e = validate_settings("p", &schema, &json!({"n": "x"})).unwrap_err();
        let LoadError::InvalidSettings { problems, .. } = e else {
            panic!("{e:?}")
        };
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pointer, "/n");
    }
}
