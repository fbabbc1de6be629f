//! `json-schema`: validates the payload against a JSON Schema given in the settings.
use seam_guest::prelude::*;

/// The schema to validate against.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// A JSON Schema (draft 2020-12 unless its `$schema` says otherwise). The host
    /// checks it against the draft 2020-12 meta-schema when the gate is loaded.
    #[schemars(schema_with = "meta_schema")]
    pub schema: Value,
    /// Most findings reported (default 50, at least 1).
    #[serde(default = "default_max")]
    #[schemars(range(min = 1))]
    pub max_findings: usize,
}

fn default_max() -> usize {
    50
}

/// The `schema` setting must itself be a JSON Schema: refer to the meta-schema, which
/// validators carry with them (no network).
fn meta_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"$ref": "https://json-schema.org/draft/2020-12/schema"})
}

/// The schema compiled into a validator, once, by `prepare`.
pub struct Compiled {
    validator: jsonschema::Validator,
    max_findings: usize,
}

impl Prepare<Settings> for Compiled {
    fn prepare(s: Settings) -> Result<Self, String> {
        let validator = jsonschema::validator_for(&s.schema)
            .map_err(|e| format!("the `schema` setting is not a valid JSON Schema: {e}"))?;
        Ok(Compiled {
            validator,
            max_findings: s.max_findings,
        })
    }
}

pub struct JsonSchemaGate;

impl Gate for JsonSchemaGate {
    type Settings = Settings;
    type Prepared = Compiled;
    const NAME: &'static str = "json-schema";
    const DESCRIPTION: &'static str = "Validates the payload against a JSON Schema given in the settings; each violation is a finding that carries the JSON pointer of the offending value.";

    fn check(c: &Compiled, handoff: &Handoff) -> Result<Verdict, String> {
        let findings = c
            .validator
            .iter_errors(handoff.payload())
            .take(c.max_findings)
            .map(|e| {
                let path = e.instance_path().to_string();
                let keyword = e.kind().keyword();
                let code = if keyword.is_empty() {
                    "schema.invalid".to_string()
                } else {
                    format!("schema.{keyword}")
                };
                Finding::error(code, e.to_string()).at(path)
            })
            .collect();
        Ok(Verdict::from_findings(findings))
    }
}

export_gate!(JsonSchemaGate);

#[cfg(test)]
mod tests {
    use super::*;
    use seam_guest::testing::check;

    fn settings() -> Value {
        json!({"schema": {
            "type": "object",
            "required": ["title", "price"],
            "properties": {"title": {"type": "string", "maxLength": 10}, "price": {"type": "number", "minimum": 0}},
            "additionalProperties": false
        }})
    }

    #[test]
    fn valid_payload_passes() {
        let v = check::<JsonSchemaGate>(
            settings(),
            &Handoff::new(json!({"title": "Quiet", "price": 89})),
        )
        .unwrap();
        assert!(v.passed, "{v:?}");
    }

    #[test]
    fn violations_carry_pointers_and_keywords() {
        let v = check::<JsonSchemaGate>(
            settings(),
            &Handoff::new(json!({"title": "Far too long a title", "price": -1})),
        )
        .unwrap();
        assert!(!v.passed);
        let mut got: Vec<_> = v
            .findings
            .iter()
            .map(|f| (f.code.as_str(), f.path.as_deref().unwrap()))
            .collect();
        got.sort();
        assert_eq!(
            got,
            [("schema.maxLength", "/title"), ("schema.minimum", "/price")]
        );
    }

    #[test]
    fn missing_required_field_is_reported_at_the_parent() {
        let v = check::<JsonSchemaGate>(settings(), &Handoff::new(json!({"title": "x"}))).unwrap();
        assert_eq!(v.findings.len(), 1);
        assert_eq!(v.findings[0].code, "schema.required");
        assert_eq!(v.findings[0].path.as_deref(), Some(""));
    }

    #[test]
    fn invalid_schema_is_an_error() {
        let err = check::<JsonSchemaGate>(json!({"schema": {"type": 12}}), &Handoff::new(json!(1)))
            .unwrap_err();
        assert!(
            err.starts_with("the `schema` setting is not a valid JSON Schema"),
            "{err}"
        );
    }
}
