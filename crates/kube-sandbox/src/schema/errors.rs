//! The API server's answers when a body does not fit its schema, word for word: the
//! 400 of a body that cannot be decoded (`Deployment in version "v1" cannot be handled
//! as a Deployment: strict decoding error: unknown field "spec.foo"`), the 422 of a
//! patch whose result cannot be (`"" is invalid: patch: Invalid value: ...`), the 422
//! of a custom resource that breaks its CRD's validations, the 500 of a server-side
//! apply configuration with undeclared fields; the `Warning` texts; and Go's ways of
//! printing values in them.

use serde_json::{Value, json};

use super::super::catalog::{ServedType, split_api_version};
use super::super::status::ApiError;

/// One field error of a 422 (a `StatusCause`).
#[derive(Clone, Debug, PartialEq)]
pub struct Cause {
    pub reason: &'static str,
    pub field: String,
    /// The message after the field (`Invalid value: 15: ...`).
    pub body: String,
}

impl Cause {
    fn new(reason: &'static str, field: &str, body: String) -> Cause {
        Cause {
            reason,
            field: field.to_string(),
            body,
        }
    }

    pub fn invalid(field: &str, value: String, detail: String) -> Cause {
        Cause::new(
            "FieldValueInvalid",
            field,
            format!("Invalid value: {value}: {detail}"),
        )
    }

    pub fn type_invalid(field: &str, value: String, detail: String) -> Cause {
        Cause::new(
            "FieldValueTypeInvalid",
            field,
            format!("Invalid value: {value}: {detail}"),
        )
    }

    pub fn required(field: &str) -> Cause {
        Cause::new("FieldValueRequired", field, "Required value".to_string())
    }

    pub fn not_supported(field: &str, value: String, allowed: &[Value]) -> Cause {
        let allowed: Vec<String> = allowed
            .iter()
            .map(|v| match v {
                Value::String(s) => go_quote(s),
                other => go_quote(&other.to_string()),
            })
            .collect();
        Cause::new(
            "FieldValueNotSupported",
            field,
            format!(
                "Unsupported value: {value}: supported values: {}",
                allowed.join(", ")
            ),
        )
    }

    pub fn too_long(field: &str, max: u64) -> Cause {
        let unit = if max == 1 { "byte" } else { "bytes" };
        Cause::new(
            "FieldValueTooLong",
            field,
            format!("Too long: may not be more than {max} {unit}"),
        )
    }

    pub fn too_many(field: &str, actual: u64, max: u64) -> Cause {
        let unit = if max == 1 { "item" } else { "items" };
        Cause::new(
            "FieldValueTooMany",
            field,
            format!("Too many: {actual}: must have at most {max} {unit}"),
        )
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body)
    }
}

/// `unknown field "spec.foo"`: one strict decoding error, and the text of its warning.
pub fn unknown_field(path: &str) -> String {
    format!("unknown field {}", go_quote(path))
}

/// `strict decoding error: unknown field "a", unknown field "b"`.
pub fn strict(unknown: &[String]) -> String {
    let fields: Vec<String> = unknown.iter().map(|p| unknown_field(p)).collect();
    format!("strict decoding error: {}", fields.join(", "))
}

/// 400: the body cannot be decoded into the type (`Deployment in version "v1" cannot
/// be handled as a Deployment: ...`); kind and version are the body's own.
pub fn cannot_handle(t: &ServedType, body: &Value, detail: &str) -> ApiError {
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty())
        .unwrap_or(&t.kind);
    let version = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .map(|v| split_api_version(v).1)
        .filter(|v| !v.is_empty())
        .unwrap_or(&t.version);
    ApiError::bad_request(format!(
        "{kind} in version {} cannot be handled as a {}: {detail}",
        go_quote(version),
        t.kind
    ))
}

/// 422: a patch whose result cannot be decoded; `shown` is how the server prints the
/// patch (the patched object, or the strategic patch as a Go map).
pub fn patch_invalid(shown: &str, detail: &str) -> ApiError {
    let cause = Cause::invalid("patch", go_quote(shown), detail.to_string());
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!(" \"\" is invalid: {cause}"),
        details: Some(json!({
            "causes": [ { "reason": cause.reason, "message": cause.body, "field": cause.field } ],
        })),
    }
}

/// 422: a custom resource that breaks its CRD's validations
/// (`CronTab.stable.example.com "x" is invalid: ...`).
pub fn invalid(t: &ServedType, name: &str, causes: &[Cause]) -> ApiError {
    let text: Vec<String> = causes.iter().map(Cause::to_string).collect();
    let joined = match text.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let qualified = if t.group.is_empty() {
        t.kind.clone()
    } else {
        format!("{}.{}", t.kind, t.group)
    };
    let causes: Vec<Value> = causes
        .iter()
        .map(|c| json!({ "reason": c.reason, "message": c.body, "field": c.field }))
        .collect();
    let mut details = json!({ "name": name, "kind": t.kind, "causes": causes });
    if !t.group.is_empty() {
        details["group"] = json!(t.group);
    }
    ApiError {
        code: 422,
        reason: "Invalid",
        message: format!("{qualified} {} is invalid: {joined}", go_quote(name)),
        details: Some(details),
    }
}

/// 500 (as the API server answers, with no reason): a server-side apply configuration
/// that does not fit the schema; `errors` are (path, message).
pub fn typed_patch(t: &ServedType, ns: &str, name: &str, errors: &[(String, String)]) -> ApiError {
    let lines: Vec<String> = errors.iter().map(|(p, m)| format!("{p}: {m}")).collect();
    let text = match lines.as_slice() {
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    };
    ApiError {
        code: 500,
        reason: "",
        message: format!(
            "failed to create typed patch object ({ns}/{name}; {}/{}, Kind={}): {text}",
            t.group, t.version, t.kind
        ),
        details: None,
    }
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as Go's `%v` prints a float64 (`10`, `1.5`, `1e+21`).
pub fn number_text(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e21 {
        format!("{}", f as i64)
    } else if f.abs() >= 1e21 {
        let s = format!("{f:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            _ => s,
        }
    } else {
        format!("{f}")
    }
}

/// A field error's value, as the API server prints it: strings quoted, numbers and
/// booleans bare, anything else as JSON.
pub fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => number_text(f),
            _ => n.to_string(),
        },
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// A decoded JSON value as Go's `%+v` prints it (`map[a:1 b:[x y]]`: map keys sorted,
/// strings bare), as the server shows a strategic merge patch.
pub fn go_map(v: &Value) -> String {
    match v {
        Value::Object(m) => format!(
            "map[{}]",
            sorted_entries(m, |k, v| format!("{k}:{}", go_map(v))).join(" ")
        ),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(go_map).collect();
            format!("[{}]", parts.join(" "))
        }
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => number_text(f),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
    }
}

/// An object's entries in key order (as Go walks a decoded map), each shown by `show`.
fn sorted_entries(
    m: &serde_json::Map<String, Value>,
    show: impl Fn(&str, &Value) -> String,
) -> Vec<String> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort();
    keys.into_iter().map(|k| show(k, &m[k])).collect()
}

/// JSON with object keys sorted, as Go encodes a decoded object.
pub fn sorted_json(v: &Value) -> String {
    match v {
        Value::Object(m) => format!(
            "{{{}}}",
            sorted_entries(m, |k, v| format!(
                "{}:{}",
                Value::String(k.to_string()),
                sorted_json(v)
            ))
            .join(",")
        ),
        Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(sorted_json).collect();
            format!("[{}]", parts.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formatting() {
        assert_eq!(go_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
        assert_eq!(number_text(10.0), "10");
        assert_eq!(number_text(1.5), "1.5");
        assert_eq!(
            go_map(&json!({ "spec": { "b": [1, "x"], "a": null } })),
            "map[spec:map[a:<nil> b:[1 x]]]"
        );
        assert_eq!(
            sorted_json(&json!({ "b": 1, "a": [true] })),
            "{\"a\":[true],\"b\":1}"
        );
        assert_eq!(
            strict(&["spec.foo".into()]),
            "strict decoding error: unknown field \"spec.foo\""
        );
    }

    #[test]
    fn a_patch_that_cannot_be_decoded_is_invalid_with_no_kind() {
        let e = patch_invalid(
            "map[spec:map[foo:1]]",
            "strict decoding error: unknown field \"spec.foo\"",
        );
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            " \"\" is invalid: patch: Invalid value: \"map[spec:map[foo:1]]\": strict decoding error: unknown field \"spec.foo\""
        );
    }
}
