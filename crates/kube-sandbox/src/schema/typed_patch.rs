//! Typing a server-side apply configuration, as the API server's structured-merge-diff
//! does before it merges: every field must be declared in the schema (whatever the
//! `fieldValidation`) and every value must have its field's shape. Errors name the
//! field in its notation (`.spec.template.spec.containers[name="web"].foo: field not
//! declared in schema`).

use serde_json::Value;

use super::super::patch::merge_key;
use super::builtin;
use super::node::{Arena, Id, Kind};

/// The (path, message) of every part of `config` that node `root` does not type; a
/// `resource` root implies apiVersion, kind and metadata.
pub fn check(arena: &Arena, root: Id, config: &Value, resource: bool) -> Vec<(String, String)> {
    let mut out = Vec::new();
    walk(arena, root, config, &mut String::new(), resource, &mut out);
    out
}

/// How Go prints a decoded value's type (`%T`).
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int64",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// A value as `%v` prints structured-merge-diff's wrapper of it (`&{a}`).
fn wrapped(v: &Value) -> String {
    match v {
        Value::String(s) => format!("&{{{s}}}"),
        other => format!("&{{{other}}}"),
    }
}

fn walk(
    arena: &Arena,
    id: Id,
    v: &Value,
    path: &mut String,
    resource: bool,
    out: &mut Vec<(String, String)>,
) {
    let node = &arena[id];
    let mismatch =
        |out: &mut Vec<(String, String)>, message: String| out.push((path.clone(), message));
    if v.is_null() {
        return;
    }
    match (&node.kind, v) {
        (Kind::Any | Kind::IntOrString | Kind::Quantity | Kind::Either(_), _) => {}
        (Kind::Struct(_) | Kind::Map(_), Value::Object(map)) => {
            for (key, child) in map {
                let len = path.len();
                path.push('.');
                path.push_str(key);
                let implied = (resource || node.embedded)
                    && matches!(key.as_str(), "apiVersion" | "kind" | "metadata");
                let target = match &node.kind {
                    Kind::Struct(fields) => fields.get(key).map(|(_, f)| f),
                    Kind::Map(values) => Some(*values),
                    _ => None,
                };
                match target {
                    _ if implied && key == "metadata" => {
                        let registry = builtin::registry();
                        walk(
                            &registry.arena,
                            registry.object_meta,
                            child,
                            path,
                            false,
                            out,
                        );
                    }
                    _ if implied => {}
                    Some(t) => walk(arena, t, child, path, false, out),
                    None if node.preserve_unknown => {}
                    None => out.push((path.clone(), "field not declared in schema".to_string())),
                }
                path.truncate(len);
            }
        }
        (Kind::Array(items), Value::Array(list)) => {
            let field = path.rsplit('.').next().unwrap_or("").to_string();
            let key = merge_key(&field, list);
            for (i, child) in list.iter().enumerate() {
                let len = path.len();
                match key.and_then(|k| child.get(k).map(|v| (k, v))) {
                    Some((k, Value::String(s))) => path.push_str(&format!("[{k}=\"{s}\"]")),
                    Some((k, other)) if !other.is_object() && !other.is_array() => {
                        path.push_str(&format!("[{k}={other}]"))
                    }
                    _ => path.push_str(&format!("[{i}]")),
                }
                walk(arena, *items, child, path, false, out);
                path.truncate(len);
            }
        }
        (Kind::Integer { .. } | Kind::Number, Value::Number(_))
        | (Kind::String | Kind::Bytes, Value::String(_))
        | (Kind::Boolean, Value::Bool(_)) => {}
        (Kind::Integer { .. } | Kind::Number, other) => mismatch(
            out,
            format!("expected numeric (int or float), got {}", go_type(other)),
        ),
        (Kind::String | Kind::Bytes, other) => mismatch(
            out,
            format!("expected string, got &value.valueUnstructured{{Value:{other}}}"),
        ),
        (Kind::Boolean, other) => {
            mismatch(out, format!("expected boolean, got {}", wrapped(other)))
        }
        (Kind::Struct(_) | Kind::Map(_), other) => {
            mismatch(out, format!("expected map, got {}", wrapped(other)))
        }
        (Kind::Array(_), other) => mismatch(out, format!("expected list, got {}", wrapped(other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn undeclared_fields_and_wrong_shapes_are_named() {
        let registry = builtin::registry();
        let root = registry
            .kind("apps", "v1", "Deployment")
            .unwrap_or_else(|| panic!("no Deployment"));
        let config = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "web", "colour": "red" },
            "spec": {
                "replicas": "three",
                "template": { "spec": { "containers": [ { "name": "web", "foo": 1 } ] } },
            },
        });
        assert_eq!(
            check(&registry.arena, root, &config, true),
            [
                (
                    ".metadata.colour".to_string(),
                    "field not declared in schema".to_string()
                ),
                (
                    ".spec.replicas".to_string(),
                    "expected numeric (int or float), got string".to_string()
                ),
                (
                    ".spec.template.spec.containers[name=\"web\"].foo".to_string(),
                    "field not declared in schema".to_string()
                ),
            ]
        );
    }
}
