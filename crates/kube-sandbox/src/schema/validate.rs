//! The value validations of a custom resource against its CRD schema, with the API
//! server's messages (`spec.replicas: Invalid value: "string": spec.replicas in body
//! must be of type integer: "string"`, `spec.mode: Unsupported value: "x": supported
//! values: "a", "b"`, `spec.cronSpec: Required value`). Runs after pruning and
//! defaulting; every failure is one cause of a 422.

use serde_json::Value;

use super::checks::Checks;
use super::errors::{Cause, go_quote, go_value, number_text};
use super::node::{Arena, Id, Kind, Node};

/// Every violation of node `root`'s schema by `value`.
pub fn validate(arena: &Arena, root: Id, value: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let mut path = String::new();
    walk(arena, root, value, &mut path, &mut causes);
    causes
}

/// The JSON type of a value, as the validator names it.
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(node: &Node, v: &Value) -> bool {
    let whole = |v: &Value| v.as_f64().is_some_and(|f| f.fract() == 0.0);
    match (&node.kind, v) {
        (_, Value::Null) => node.nullable || node.type_name().is_none(),
        (Kind::Struct(_) | Kind::Map(_), Value::Object(_))
        | (Kind::Array(_), Value::Array(_))
        | (Kind::String | Kind::Bytes, Value::String(_))
        | (Kind::Number, Value::Number(_))
        | (Kind::Boolean, Value::Bool(_))
        | (Kind::IntOrString, Value::String(_))
        | (Kind::Any | Kind::Quantity | Kind::Either(_), _) => true,
        (Kind::Integer { .. } | Kind::IntOrString, n @ Value::Number(_)) => whole(n),
        _ => false,
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The name a message gives the value at `path` (`spec.replicas in body`).
fn named(path: &str) -> &str {
    if path.is_empty() { "body" } else { path }
}

fn walk(arena: &Arena, id: Id, v: &Value, path: &mut String, out: &mut Vec<Cause>) {
    let node = &arena[id];
    if !type_matches(node, v) {
        let found = json_type(v);
        let expected = node.type_name().unwrap_or("");
        out.push(Cause::type_invalid(
            path,
            go_quote(found),
            format!(
                "{} in body must be of type {expected}: {}",
                named(path),
                go_quote(found)
            ),
        ));
        return;
    }
    if v.is_null() {
        return;
    }
    if let Some(checks) = &node.checks {
        check(arena, checks, v, path, out);
    }
    let len = path.len();
    match (&node.kind, v) {
        (Kind::Struct(fields), Value::Object(map)) => {
            for (name, field) in fields.iter() {
                if let Some(value) = map.get(name) {
                    *path = child(&path[..len], name);
                    walk(arena, field, value, path, out);
                    path.truncate(len);
                }
            }
        }
        (Kind::Map(values), Value::Object(map)) => {
            for (key, value) in map {
                *path = child(&path[..len], key);
                walk(arena, *values, value, path, out);
                path.truncate(len);
            }
        }
        (Kind::Array(items), Value::Array(list)) => {
            for (i, value) in list.iter().enumerate() {
                path.push_str(&format!("[{i}]"));
                walk(arena, *items, value, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Whether `v` satisfies subschema `id` entirely.
fn satisfies(arena: &Arena, id: Id, v: &Value, path: &str) -> bool {
    let mut scratch = Vec::new();
    walk(arena, id, v, &mut path.to_string(), &mut scratch);
    scratch.is_empty()
}

fn check(arena: &Arena, c: &Checks, v: &Value, path: &str, out: &mut Vec<Cause>) {
    let name = named(path);
    let invalid = |out: &mut Vec<Cause>, detail: String| {
        out.push(Cause::invalid(
            path,
            go_value(v),
            format!("{name} {detail}"),
        ));
    };
    if !c.enumeration.is_empty() && !c.enumeration.iter().any(|e| same(e, v)) {
        out.push(Cause::not_supported(path, go_value(v), &c.enumeration));
    }
    if let Some(n) = v.as_f64() {
        match c.maximum {
            Some(max) if c.exclusive_maximum && n >= max => invalid(
                out,
                format!("in body should be less than {}", number_text(max)),
            ),
            Some(max) if n > max => invalid(
                out,
                format!(
                    "in body should be less than or equal to {}",
                    number_text(max)
                ),
            ),
            _ => {}
        }
        match c.minimum {
            Some(min) if c.exclusive_minimum && n <= min => invalid(
                out,
                format!("in body should be greater than {}", number_text(min)),
            ),
            Some(min) if n < min => invalid(
                out,
                format!(
                    "in body should be greater than or equal to {}",
                    number_text(min)
                ),
            ),
            _ => {}
        }
        if let Some(m) = c.multiple_of
            && (n / m).fract() != 0.0
        {
            invalid(
                out,
                format!("in body should be a multiple of {}", number_text(m)),
            );
        }
    }
    if let Some(s) = v.as_str() {
        let chars = s.chars().count() as u64;
        if let Some(max) = c.max_length
            && chars > max
        {
            out.push(Cause::too_long(path, max));
        }
        if let Some(min) = c.min_length
            && chars < min
        {
            invalid(out, format!("in body should be at least {min} chars long"));
        }
        if let Some((pattern, Some(re))) = &c.pattern
            && !re.is_match(s)
        {
            invalid(out, format!("in body should match '{pattern}'"));
        }
    }
    if let Some(list) = v.as_array() {
        let n = list.len() as u64;
        if let Some(max) = c.max_items
            && n > max
        {
            out.push(Cause::too_many(path, n, max));
        }
        if let Some(min) = c.min_items
            && n < min
        {
            invalid(out, format!("in body should have at least {min} items"));
        }
        if c.unique_items
            && list
                .iter()
                .enumerate()
                .any(|(i, a)| list[i + 1..].iter().any(|b| same(a, b)))
        {
            invalid(out, "in body shouldn't contain duplicates".to_string());
        }
    }
    if let Some(map) = v.as_object() {
        for key in &c.required {
            if !map.contains_key(key) {
                out.push(Cause::required(&child(path, key)));
            }
        }
        let n = map.len() as u64;
        if let Some(max) = c.max_properties
            && n > max
        {
            out.push(Cause::too_many(path, n, max));
        }
        if let Some(min) = c.min_properties
            && n < min
        {
            invalid(
                out,
                format!("in body should have at least {min} properties"),
            );
        }
    }
    for &sub in &c.all_of {
        walk(arena, sub, v, &mut path.to_string(), out);
    }
    let composite = |out: &mut Vec<Cause>, detail: &str| {
        out.push(Cause::invalid(
            path,
            go_quote(""),
            format!("{name} {detail}"),
        ));
    };
    if !c.any_of.is_empty() && !c.any_of.iter().any(|&s| satisfies(arena, s, v, path)) {
        composite(out, "must validate at least one schema (anyOf)");
    }
    if !c.one_of.is_empty()
        && c.one_of
            .iter()
            .filter(|&&s| satisfies(arena, s, v, path))
            .count()
            != 1
    {
        composite(out, "must validate one and only one schema (oneOf)");
    }
    if let Some(not) = c.not
        && satisfies(arena, not, v, path)
    {
        composite(out, "must not validate the schema (not)");
    }
}

/// JSON equality, with integers and floats of the same value equal.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::node::compile_crd;
    use serde_json::json;

    fn messages(schema: Value, value: Value) -> Vec<String> {
        let (arena, root) = compile_crd(&schema);
        validate(&arena, root, &value)
            .iter()
            .map(Cause::to_string)
            .collect()
    }

    #[test]
    fn types_required_enum_and_bounds() {
        let schema = json!({ "type": "object", "properties": { "spec": {
            "type": "object",
            "required": ["cronSpec"],
            "properties": {
                "cronSpec": { "type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$" },
                "replicas": { "type": "integer", "minimum": 1, "maximum": 10 },
                "mode": { "type": "string", "enum": ["a", "b"] },
                "name": { "type": "string", "maxLength": 3 },
            },
        } } });
        assert_eq!(
            messages(schema.clone(), json!({ "spec": { "replicas": "three" } })),
            [
                "spec.cronSpec: Required value",
                "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
            ]
        );
        assert_eq!(
            messages(
                schema.clone(),
                json!({ "spec": { "cronSpec": "* * * *", "replicas": 15, "mode": "c", "name": "long" } })
            ),
            [
                "spec.cronSpec: Invalid value: \"* * * *\": spec.cronSpec in body should match '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'",
                "spec.replicas: Invalid value: 15: spec.replicas in body should be less than or equal to 10",
                "spec.mode: Unsupported value: \"c\": supported values: \"a\", \"b\"",
                "spec.name: Too long: may not be more than 3 bytes",
            ]
        );
        assert!(
            messages(
                schema,
                json!({ "spec": { "cronSpec": "*/5 * * * *", "replicas": 2.0 } })
            )
            .is_empty()
        );
    }

    /// Whether `text` passes a schema whose only check is `pattern`.
    fn matches(pattern: &str, text: &str) -> bool {
        messages(json!({ "type": "string", "pattern": pattern }), json!(text)).is_empty()
    }

    #[test]
    fn patterns_are_enforced_with_re2_syntax() {
        let cron = r"^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$";
        assert!(matches(cron, "*/5 * * * *"));
        assert!(!matches(cron, "* * * *"));
        let dns = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
        assert!(matches(dns, "web.example.com"));
        assert!(!matches(dns, "Web_1"));
        assert!(matches("^(Always|Never)$", "Never"));
        assert!(!matches("^(Always|Never)$", "Sometimes"));
        assert!(matches("[0-9]{2,3}", "a123"));
        assert!(!matches("^[0-9]{2,3}$", "1234"));
        assert!(matches(r"^\w+@\w+\.com$", "me@x.com"));
        assert!(matches(r"^[^/]+$", "a-b"));
        assert!(!matches(r"^[^/]+$", "a/b"));
        // What the API server's RE2 reads and a hand-written matcher did not.
        assert!(matches("(?i)^abc$", "ABC"));
        assert!(!matches(r"^\pL+$", "a1"));
        assert!(!matches("^[[:alpha:]]+$", "a1"));
    }

    #[test]
    fn patterns_run_in_linear_time_and_check_long_values_in_full() {
        // A pattern that makes a backtracking matcher explode is simply checked.
        assert!(!matches("^(a+)+$", &("a".repeat(40) + "b")));
        assert!(!matches("^[a-z]*$", &("a".repeat(1_000_000) + "B")));
        let dns = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
        assert!(!matches(dns, &("a".repeat(252) + "_")));
        assert!(matches(dns, &"a".repeat(253)));
    }

    #[test]
    fn a_pattern_that_does_not_compile_is_not_enforced() {
        assert!(matches("(abc", "anything"));
    }

    #[test]
    fn int_or_string_nullable_and_one_of() {
        let schema = json!({ "type": "object", "properties": {
            "port": { "x-kubernetes-int-or-string": true },
            "note": { "type": "string", "nullable": true },
            "size": { "type": "object", "oneOf": [ { "required": ["a"] }, { "required": ["b"] } ],
                      "properties": { "a": { "type": "integer" }, "b": { "type": "integer" } } },
        } });
        assert!(
            messages(
                schema.clone(),
                json!({ "port": "http", "note": null, "size": { "a": 1 } })
            )
            .is_empty()
        );
        assert_eq!(
            messages(schema, json!({ "port": true, "size": { "a": 1, "b": 2 } })),
            [
                "port: Invalid value: \"boolean\": port in body must be of type integer,string: \"boolean\"",
                "size: Invalid value: \"\": size must validate one and only one schema (oneOf)"
            ]
        );
    }
}
