//! Patches applied to stored objects: JSON merge patch (RFC 7386), JSON patch
//! (RFC 6902), and strategic merge patch for the lists kubectl relies on (containers,
//! env, ports, volumes, volumeMounts merge by their key; other lists are replaced).

use json_patch::{PatchErrorKind, PatchOperation};
use serde_json::{Map, Value};

use super::status::ApiError;

/// RFC 7386: objects merge recursively, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// List fields merged by a key in strategic merge patches.
const MERGE_KEYS: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("env", "name"),
    ("ports", "containerPort"),
    ("volumes", "name"),
    ("volumeMounts", "mountPath"),
    ("imagePullSecrets", "name"),
    ("tolerations", "key"),
];

/// The key that merges the list `field` element by element (`containers` by `name`),
/// or `None` for lists that are replaced as a whole. Service ports merge by `port`,
/// container ports by `containerPort`.
pub fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    let key = MERGE_KEYS
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, key)| *key)?;
    if field == "ports" && items.iter().any(|i| i.get("port").is_some()) {
        return Some("port");
    }
    Some(key)
}

/// Strategic merge patch: like a merge patch, but the lists of `MERGE_KEYS` merge
/// element by element by their key, and `$patch: delete` removes an element.
pub fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in patch {
            if k.starts_with("$setElementOrder/") || k == "$retainKeys" {
                continue;
            }
            if v.is_null() {
                t.remove(k);
                continue;
            }
            let merge_key = MERGE_KEYS.iter().find(|(f, _)| f == k).map(|(_, key)| *key);
            match (merge_key, v, t.get_mut(k)) {
                (Some(key), Value::Array(items), Some(Value::Array(existing))) => {
                    // Service ports merge by `port`, container ports by `containerPort`.
                    let key = if k == "ports" && items.iter().any(|i| i.get("port").is_some()) {
                        "port"
                    } else {
                        key
                    };
                    let order = patch
                        .get(&format!("$setElementOrder/{k}"))
                        .and_then(Value::as_array);
                    merge_list(existing, items, key, order);
                }
                (_, v, _) => strategic_merge_patch(t.entry(k.clone()).or_insert(Value::Null), v),
            }
        }
    }
}

/// Merges `items` into `existing` by `key`, then orders the list as the API server
/// does: the elements `order` (a `$setElementOrder` directive) names, or else the
/// patch's own, first and in that order, then the ones only the server had.
fn merge_list(existing: &mut Vec<Value>, items: &[Value], key: &str, order: Option<&Vec<Value>>) {
    let first: Vec<Value> = match order {
        Some(order) => order.iter().filter_map(|o| o.get(key).cloned()).collect(),
        None => items
            .iter()
            .filter(|i| i.get("$patch").and_then(Value::as_str) != Some("delete"))
            .filter_map(|i| i.get(key).cloned())
            .collect(),
    };
    for item in items {
        let id = item.get(key);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        let pos = id.and_then(|id| existing.iter().position(|e| e.get(key) == Some(id)));
        match (pos, delete) {
            (Some(p), true) => {
                existing.remove(p);
            }
            (Some(p), false) => strategic_merge_patch(&mut existing[p], item),
            (None, false) => existing.push(item.clone()),
            (None, true) => {}
        }
    }
    let mut rest = std::mem::take(existing);
    for id in &first {
        if let Some(p) = rest.iter().position(|e| e.get(key) == Some(id)) {
            existing.push(rest.remove(p));
        }
    }
    existing.extend(rest);
}

/// RFC 6902 JSON patch (json-patch's, which reads paths strictly as RFC 6901 pointers),
/// its errors told as the sandbox tells them: what is wrong with an operation is a 400,
/// a patch that cannot apply a 422. On an error `target` is left part-patched (the
/// operations before the failing one applied): the caller drops it.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops = ops
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch is a list of operations"))?;
    let patch = ops
        .iter()
        .map(read_operation)
        .collect::<Result<Vec<PatchOperation>, ApiError>>()?;
    json_patch::patch_unsafe(target, &patch).map_err(|e| {
        let path = e.path.as_str();
        match (&e.kind, patch.get(e.operation)) {
            (_, Some(PatchOperation::Test(_))) => {
                ApiError::invalid_patch(format!("JSON patch test failed at `{path}`"))
            }
            (PatchErrorKind::InvalidFromPointer, Some(op)) => {
                let (name, from) = match op {
                    PatchOperation::Move(m) => ("move", m.from.as_str()),
                    PatchOperation::Copy(c) => ("copy", c.from.as_str()),
                    _ => ("", ""),
                };
                ApiError::bad_request(format!("JSON patch `{name}`: no value at `{from}`"))
            }
            (
                PatchErrorKind::InvalidPointer,
                Some(PatchOperation::Remove(_) | PatchOperation::Replace(_)),
            ) => ApiError::invalid_patch(format!("JSON patch: nothing to remove at `{path}`")),
            // Where an add goes: an index past the end of a list, or no list or object.
            (PatchErrorKind::InvalidPointer, _) => {
                let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
                if target.pointer(parent).is_some_and(Value::is_array) {
                    ApiError::invalid_patch(format!("JSON patch index out of range at `{path}`"))
                } else {
                    ApiError::invalid_patch(format!("JSON patch: no object or list at `{parent}`"))
                }
            }
            (kind, _) => ApiError::invalid_patch(format!("JSON patch at `{path}`: {kind}")),
        }
    })
}

/// One operation of a JSON patch, with its mistakes named.
fn read_operation(op: &Value) -> Result<PatchOperation, ApiError> {
    let name = op.get("op").and_then(Value::as_str).unwrap_or("");
    let path = op.get("path").and_then(Value::as_str).unwrap_or("");
    if !matches!(
        name,
        "add" | "remove" | "replace" | "move" | "copy" | "test"
    ) {
        return Err(ApiError::bad_request(format!(
            "unknown JSON patch operation `{name}`"
        )));
    }
    if matches!(name, "add" | "replace" | "test") && op.get("value").is_none() {
        return Err(ApiError::bad_request(format!(
            "JSON patch `{name}` at `{path}` has no value"
        )));
    }
    serde_json::from_value(op.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch `{name}` at `{path}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_merges_and_deletes() {
        let mut v = json!({ "a": 1, "b": { "c": 2, "d": 3 } });
        merge_patch(&mut v, &json!({ "b": { "c": null, "e": 4 }, "f": [1] }));
        assert_eq!(v, json!({ "a": 1, "b": { "d": 3, "e": 4 }, "f": [1] }));
    }

    #[test]
    fn strategic_patch_merges_containers_by_name() {
        let mut v = json!({ "spec": { "containers": [ { "name": "a", "image": "x" }, { "name": "b", "image": "y" } ] } });
        strategic_merge_patch(
            &mut v,
            &json!({ "spec": { "containers": [ { "name": "b", "image": "z" }, { "name": "c", "image": "w" } ] } }),
        );
        // As a real API server orders them: the patch's elements first, then the
        // ones only the object had.
        assert_eq!(
            v["spec"]["containers"],
            json!([ { "name": "b", "image": "z" }, { "name": "c", "image": "w" }, { "name": "a", "image": "x" } ])
        );
        strategic_merge_patch(
            &mut v,
            &json!({ "spec": { "containers": [ { "name": "a", "$patch": "delete" } ] } }),
        );
        assert_eq!(v["spec"]["containers"].as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn json_patch_operations() {
        let mut v = json!({ "spec": { "replicas": 1, "list": [1, 2] } });
        let ops = json!([
            { "op": "replace", "path": "/spec/replicas", "value": 3 },
            { "op": "add", "path": "/spec/list/-", "value": 3 },
            { "op": "remove", "path": "/spec/list/0" },
            { "op": "test", "path": "/spec/replicas", "value": 3 },
        ]);
        assert!(json_patch(&mut v, &ops).is_ok());
        assert_eq!(v, json!({ "spec": { "replicas": 3, "list": [2, 3] } }));
        assert!(
            json_patch(
                &mut v,
                &json!([{ "op": "test", "path": "/spec/replicas", "value": 9 }])
            )
            .is_err()
        );
        assert!(json_patch(&mut v, &json!([{ "op": "remove", "path": "/nope" }])).is_err());
    }

    #[test]
    fn json_patch_errors_say_which_operation_failed_and_where() {
        let message = |ops: Value| {
            let mut v = json!({ "spec": { "list": [1] } });
            json_patch(&mut v, &ops)
                .err()
                .map(|e| (e.code, e.message))
                .unwrap_or_default()
        };
        let (code, m) = message(json!([{ "op": "test", "path": "/spec/nope", "value": 1 }]));
        assert_eq!(code, 422);
        assert!(m.contains("test failed at `/spec/nope`"), "{m}");
        let (_, m) = message(json!([{ "op": "add", "path": "/spec/list/5", "value": 1 }]));
        assert!(m.contains("index out of range at `/spec/list/5`"), "{m}");
        let (_, m) = message(json!([{ "op": "add", "path": "/status/x", "value": 1 }]));
        assert!(m.contains("no object or list at `/status`"), "{m}");
        let (code, m) = message(json!([{ "op": "move", "from": "/nope", "path": "/x" }]));
        assert_eq!(code, 400);
        assert!(m.contains("`move`: no value at `/nope`"), "{m}");
        let (code, m) = message(json!([{ "op": "frob", "path": "/x" }]));
        assert_eq!(code, 400);
        assert!(m.contains("unknown JSON patch operation `frob`"), "{m}");
        let (_, m) = message(json!([{ "op": "add", "path": "/x" }]));
        assert!(m.contains("`add` at `/x` has no value"), "{m}");
    }
}
