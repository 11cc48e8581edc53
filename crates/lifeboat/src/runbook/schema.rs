//! The JSON Schema of the runbook format, generated from the model types (never written
//! by hand). Steps get one `if uses = X then with: XInputs` rule per action, so editors
//! (yaml-language-server) complete and check each action's inputs.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::model::{Runbook, Step, StepHead, Undo, UndoHead};
use crate::actions::{self, ACTIONS};

/// One `if uses = X then with: ...` rule per action; `with_schema` turns the action's
/// inputs schema into the schema `with` must match.
fn rule_per_action(
    generator: &mut SchemaGenerator,
    with_schema: impl Fn(Schema) -> serde_json::Value,
) -> serde_json::Value {
    let rules: Vec<serde_json::Value> = ACTIONS
        .iter()
        .map(|a| {
            let with = with_schema(a.inputs_schema(generator));
            serde_json::json!({
                "if": { "properties": { "uses": { "const": a.name } }, "required": ["uses"] },
                "then": { "properties": { "with": with } }
            })
        })
        .collect();
    rules.into()
}

/// Adds properties to an object schema.
fn add_properties(schema: &mut Schema, props: Vec<(&str, serde_json::Value)>) {
    if let Some(map) = schema.get_mut("properties").and_then(|p| p.as_object_mut()) {
        for (name, value) in props {
            map.insert(name.to_string(), value);
        }
    }
}

impl JsonSchema for Step {
    fn schema_name() -> Cow<'static, str> {
        "Step".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = StepHead::json_schema(generator);
        let undo = generator.subschema_for::<Undo>();
        let names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        add_properties(
            &mut schema,
            vec![
                (
                    "uses",
                    serde_json::json!({ "type": "string", "enum": names, "description": "The action this step runs." }),
                ),
                (
                    "with",
                    serde_json::json!({ "type": "object", "description": "The action's inputs." }),
                ),
                ("undo", undo.into()),
            ],
        );
        let rules = rule_per_action(generator, Schema::to_value);
        schema.insert("allOf".into(), rules);
        schema
    }
}

impl JsonSchema for Undo {
    fn schema_name() -> Cow<'static, str> {
        "Undo".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = UndoHead::json_schema(generator);
        let own = actions::self_undo_schema(generator).to_value();
        add_properties(
            &mut schema,
            vec![(
                "with",
                serde_json::json!({ "type": "object", "description": "The compensating action's inputs; without `uses`: `restore_previous`." }),
            )],
        );
        let rules = rule_per_action(
            generator,
            |with| serde_json::json!({ "anyOf": [with, own.clone()] }),
        );
        schema.insert("allOf".into(), rules);
        schema
    }
}

/// The runbook schema, as printed by `lifeboat schema`.
pub fn runbook_schema() -> serde_json::Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut schema = generator.into_root_schema_for::<Runbook>();
    schema.insert(
        "description".into(),
        "A lifeboat runbook: declarative backup, restore and failover steps for Kubernetes.".into(),
    );
    let mut value = schema.to_value();
    plain_strings_take_scalars(&mut value);
    value
}

/// The parser reads a plain number or boolean as text where text is expected
/// (`default: 3`, `namespace: 2026`), so the schema must accept them there too.
fn plain_strings_take_scalars(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            let constrained = ["pattern", "enum", "const", "format"]
                .iter()
                .any(|k| map.contains_key(*k));
            let widened = match map.get("type") {
                Some(serde_json::Value::String(t)) if t == "string" => {
                    Some(serde_json::json!(["string", "number", "boolean"]))
                }
                Some(serde_json::Value::Array(types)) if types.iter().any(|t| t == "string") => {
                    let mut types = types.clone();
                    types.extend([serde_json::json!("number"), serde_json::json!("boolean")]);
                    Some(serde_json::Value::Array(types))
                }
                _ => None,
            };
            if let (false, Some(types)) = (constrained, widened) {
                map.insert("type".into(), types);
            }
            map.values_mut().for_each(plain_strings_take_scalars);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(plain_strings_take_scalars),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::model::RUNBOOK_FIELDS;

    #[test]
    fn top_level_fields_match_the_schema() {
        let schema = runbook_schema();
        let mut props: Vec<&str> = schema["properties"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        props.sort_unstable();
        let mut fields = RUNBOOK_FIELDS.to_vec();
        fields.sort_unstable();
        assert_eq!(props, fields);
    }

    #[test]
    fn step_fields_match_the_schema() {
        let schema = runbook_schema();
        let mut props: Vec<&str> = schema["$defs"]["Step"]["properties"]
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        props.sort_unstable();
        let mut fields = crate::runbook::model::STEP_FIELDS.to_vec();
        fields.sort_unstable();
        assert_eq!(props, fields);
    }

    #[test]
    fn every_action_has_a_rule() {
        let schema = runbook_schema();
        let step = &schema["$defs"]["Step"];
        assert_eq!(step["allOf"].as_array().map(Vec::len), Some(ACTIONS.len()));
        assert!(schema["$defs"]["BackupInputs"]["properties"]["store"].is_object());
    }
}
