//! Decoding a body into a built-in kind as the API server's typed decoder (Go's
//! `encoding/json` in Kubernetes' strict, case-sensitive variant) does: fields it does
//! not know are collected with their path (`spec.template.spec.containers[0].foo`) and
//! dropped; a value of the wrong type fails with the decoder's message (`json: cannot
//! unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32`).
//! `null` decodes to nothing, for every type.

use serde_json::Value;

use super::node::{Arena, Id, Kind};
use super::quantity;

/// At most this many unknown fields are reported (as the Go decoder does).
const MAX_UNKNOWN: usize = 100;

/// Decodes `value` against node `root`: the unknown fields' paths (removed from
/// `value` when `prune` is set), or the decoder's error.
pub fn decode(
    arena: &Arena,
    root: Id,
    value: &mut Value,
    prune: bool,
) -> Result<Vec<String>, String> {
    decode_at(arena, root, value, prune, "")
}

/// `decode` for a value found at `at` (`metadata`, `spec.template.metadata`) of an
/// object that is not decoded as a whole (a custom resource).
pub fn decode_at<'a>(
    arena: &'a Arena,
    root: Id,
    value: &mut Value,
    prune: bool,
    at: &'a str,
) -> Result<Vec<String>, String> {
    let mut walk = Walk {
        arena,
        prune,
        path: at.to_string(),
        fields: at.split('.').filter(|f| !f.is_empty()).collect(),
        owner: "",
        unknown: Vec::new(),
        saved: None,
        fatal: None,
    };
    walk.value(root, value);
    match (walk.fatal, walk.saved) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) => Ok(walk.unknown),
    }
}

struct Walk<'a> {
    arena: &'a Arena,
    prune: bool,
    /// The strict decoder's path of the current value.
    path: String,
    /// The Go error context: the struct fields from the root (no indices, no map keys)
    /// and the struct that holds the last of them.
    fields: Vec<&'a str>,
    owner: &'a str,
    unknown: Vec<String>,
    /// The first type error; decoding goes on (as Go's does) but the request fails.
    saved: Option<String>,
    /// An error a type's own decoder returned: it ends decoding at once.
    fatal: Option<String>,
}

/// How Go's decoder names a JSON value in its messages.
fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

impl<'a> Walk<'a> {
    fn type_error(&mut self, value: &str, go: &str) {
        if self.saved.is_some() {
            return;
        }
        self.saved = Some(if self.fields.is_empty() {
            format!("json: cannot unmarshal {value} into Go value of type {go}")
        } else {
            format!(
                "json: cannot unmarshal {value} into Go struct field {}.{} of type {go}",
                self.owner,
                self.fields.join(".")
            )
        });
    }

    fn value(&mut self, id: Id, v: &mut Value) {
        if self.fatal.is_some() || v.is_null() {
            return;
        }
        let arena = self.arena;
        let node = &arena[id];
        match (&node.kind, v) {
            (Kind::Any, _) => {}
            (Kind::Struct(fields), Value::Object(map)) => {
                let owner = node.go.rsplit('.').next().unwrap_or("");
                let mut drop = false;
                for (key, child) in map.iter_mut() {
                    let Some((name, field)) = fields.get(key) else {
                        drop = true;
                        if self.unknown.len() < MAX_UNKNOWN {
                            let path = self.child_path(key);
                            if !self.unknown.contains(&path) {
                                self.unknown.push(path);
                            }
                        }
                        continue;
                    };
                    let (len, saved_owner) = (self.path.len(), self.owner);
                    self.push_key(name);
                    self.fields.push(name);
                    self.owner = owner;
                    self.value(field, child);
                    self.fields.pop();
                    self.owner = saved_owner;
                    self.path.truncate(len);
                }
                if drop && self.prune {
                    map.retain(|k, _| fields.get(k).is_some());
                }
            }
            (Kind::Map(values), Value::Object(map)) => {
                for (key, child) in map.iter_mut() {
                    let len = self.path.len();
                    self.push_key(key);
                    self.value(*values, child);
                    self.path.truncate(len);
                }
            }
            (Kind::Array(items), Value::Array(list)) => {
                for (i, child) in list.iter_mut().enumerate() {
                    let len = self.path.len();
                    self.path.push_str(&format!("[{i}]"));
                    self.value(*items, child);
                    self.path.truncate(len);
                }
            }
            (Kind::String, Value::String(_))
            | (Kind::Number, Value::Number(_))
            | (Kind::Boolean, Value::Bool(_)) => {}
            (Kind::Bytes, Value::String(s)) => {
                if let Some(at) = invalid_base64(s) {
                    self.saved
                        .get_or_insert_with(|| format!("illegal base64 data at input byte {at}"));
                }
            }
            (Kind::Integer { bits }, Value::Number(n)) => {
                if !fits(n, *bits) {
                    let text = format!("number {n}");
                    self.type_error(&text, &node.go);
                }
            }
            (Kind::IntOrString, v) => match v {
                Value::String(_) => {}
                Value::Number(n) if fits(n, 32) => {}
                Value::Number(n) => {
                    self.fatal = Some(format!(
                        "json: cannot unmarshal number {n} into Go value of type int32"
                    ))
                }
                other => {
                    self.fatal = Some(format!(
                        "json: cannot unmarshal {} into Go value of type int32",
                        json_kind(other)
                    ))
                }
            },
            (Kind::Quantity, v) => {
                let ok = match v {
                    Value::String(s) => quantity::parses(s.trim()),
                    Value::Number(n) => quantity::parses(&n.to_string()),
                    _ => false,
                };
                if !ok {
                    self.fatal = Some(quantity::FORMAT_ERROR.to_string());
                }
            }
            (Kind::Either(alternatives), v) => {
                let chosen = alternatives.iter().copied().find(|&a| {
                    matches!(
                        (&arena[a].kind, &*v),
                        (Kind::Struct(_) | Kind::Map(_), Value::Object(_))
                            | (Kind::Array(_), Value::Array(_))
                            | (Kind::Boolean, Value::Bool(_))
                    )
                });
                match chosen {
                    Some(a) => self.value(a, v),
                    None => {
                        let kind = json_kind(v);
                        self.type_error(kind, &node.go)
                    }
                }
            }
            (_, v) => {
                let kind = json_kind(v);
                self.type_error(kind, &node.go)
            }
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn push_key(&mut self, key: &str) {
        if !self.path.is_empty() {
            self.path.push('.');
        }
        self.path.push_str(key);
    }
}

/// Whether a JSON number fits a Go integer of `bits` (64 when 0).
fn fits(n: &serde_json::Number, bits: u8) -> bool {
    match n.as_i64() {
        Some(i) if bits == 32 => i32::try_from(i).is_ok(),
        Some(_) => true,
        None => false,
    }
}

/// Where Go's base64 decoder would stop on `s`, if it is not valid standard base64
/// (line breaks are skipped, as Go does).
fn invalid_base64(s: &str) -> Option<usize> {
    let bytes: Vec<(usize, u8)> = s
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b != b'\r' && *b != b'\n')
        .collect();
    let valid = |b: u8| b.is_ascii_alphanumeric() || b == b'+' || b == b'/';
    let padding = bytes.iter().rev().take_while(|(_, b)| *b == b'=').count();
    let data = bytes.len() - padding;
    if let Some((at, _)) = bytes[..data].iter().find(|(_, b)| !valid(*b)) {
        return Some(*at);
    }
    if padding > 2 || !bytes.len().is_multiple_of(4) || (padding > 0 && data % 4 == 1) {
        return Some(bytes.get(data / 4 * 4).map_or(s.len(), |(i, _)| *i));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::builtin;
    use serde_json::json;

    fn deployment(value: &mut Value) -> Result<Vec<String>, String> {
        let registry = builtin::registry();
        let root = registry
            .kind("apps", "v1", "Deployment")
            .unwrap_or_else(|| panic!("no Deployment schema"));
        decode(&registry.arena, root, value, true)
    }

    #[test]
    fn unknown_fields_are_reported_with_their_path_and_dropped() {
        let mut d = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "web", "labels": { "app": "web" }, "colour": "red" },
            "spec": {
                "replicas": 2,
                "templat": {},
                "template": { "spec": { "containers": [ { "name": "web", "image": "nginx", "imagePullPolicyx": "Always" } ] } },
            },
        });
        let unknown = deployment(&mut d).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            unknown,
            [
                "metadata.colour",
                "spec.templat",
                "spec.template.spec.containers[0].imagePullPolicyx"
            ]
        );
        assert!(d["spec"].get("templat").is_none());
        assert!(d["metadata"].get("colour").is_none());
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["image"],
            "nginx"
        );
    }

    #[test]
    fn wrong_types_fail_with_the_go_decoders_message() {
        let mut d = json!({ "spec": { "replicas": "three" } });
        assert_eq!(
            deployment(&mut d),
            Err("json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32".into())
        );
        let mut d = json!({ "spec": { "template": { "spec": { "containers": [ { "name": "a", "env": [ { "name": "X", "value": 1 } ] } ] } } } });
        assert_eq!(
            deployment(&mut d),
            Err("json: cannot unmarshal number into Go struct field EnvVar.spec.template.spec.containers.env.value of type string".into())
        );
        let mut d = json!({ "metadata": { "labels": { "a": true } } });
        assert_eq!(
            deployment(&mut d),
            Err("json: cannot unmarshal bool into Go struct field ObjectMeta.metadata.labels of type string".into())
        );
        let mut d = json!({ "spec": "x" });
        assert_eq!(
            deployment(&mut d),
            Err("json: cannot unmarshal string into Go struct field Deployment.spec of type v1.DeploymentSpec".into())
        );
        let mut d = json!({ "spec": { "replicas": 1.5 } });
        assert!(deployment(&mut d).is_err_and(|e| e.contains("number 1.5")));
    }

    #[test]
    fn special_types_decode_as_their_go_code_does() {
        let mut d = json!({ "spec": {
            "strategy": { "rollingUpdate": { "maxSurge": "25%", "maxUnavailable": 1 } },
            "template": { "spec": { "containers": [ { "name": "a", "resources": { "limits": { "cpu": "500m", "memory": 128 } } } ] } },
            "replicas": null,
        } });
        assert_eq!(deployment(&mut d), Ok(vec![]));
        let mut d = json!({ "spec": { "template": { "spec": { "containers": [ { "name": "a", "resources": { "limits": { "cpu": "lots" } } } ] } } } });
        assert!(deployment(&mut d).is_err_and(|e| e.starts_with("quantities must match")));
        let mut d = json!({ "spec": { "strategy": { "rollingUpdate": { "maxSurge": true } } } });
        assert_eq!(
            deployment(&mut d),
            Err("json: cannot unmarshal bool into Go value of type int32".into())
        );
    }

    #[test]
    fn base64_is_checked_where_go_decodes_bytes() {
        assert_eq!(invalid_base64("aGVsbG8="), None);
        assert_eq!(invalid_base64("aGVs\nbG8="), None);
        assert_eq!(invalid_base64("a!Vs"), Some(1));
        assert!(invalid_base64("abc").is_some());
    }
}
