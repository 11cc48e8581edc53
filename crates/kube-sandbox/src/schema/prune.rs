//! Pruning and defaulting a custom resource against its CRD's structural schema, as the
//! API server does when it decodes one: fields the schema does not declare are
//! collected (`spec.foo`) and, when `prune` is set, dropped (not under
//! `x-kubernetes-preserve-unknown-fields`); `apiVersion`, `kind` and `metadata` stay at
//! the root and in embedded resources, and metadata decodes as the built-in
//! ObjectMeta; `null`s the schema does not allow take the default or go; missing
//! fields with a `default` get it.

use serde_json::Value;

use super::builtin;
use super::decode;
use super::node::{Arena, Id, Kind};

/// Prunes `value` (a custom resource) against node `root`: the unknown fields' paths
/// (sorted, metadata's last), or the decoding error of its metadata.
pub fn prune(
    arena: &Arena,
    root: Id,
    value: &mut Value,
    prune: bool,
) -> Result<Vec<String>, String> {
    let mut walk = Walk {
        arena,
        prune,
        path: String::new(),
        unknown: Vec::new(),
        meta_unknown: Vec::new(),
    };
    walk.resource(root, value)?;
    walk.unknown.sort();
    walk.unknown.append(&mut walk.meta_unknown);
    Ok(walk.unknown)
}

struct Walk<'a> {
    arena: &'a Arena,
    prune: bool,
    path: String,
    unknown: Vec<String>,
    meta_unknown: Vec<String>,
}

impl Walk<'_> {
    /// The root of a resource, or an embedded one: apiVersion, kind and metadata are
    /// implied, the rest follows the schema.
    fn resource(&mut self, id: Id, value: &mut Value) -> Result<(), String> {
        if let Some(meta) = value.get_mut("metadata") {
            let registry = builtin::registry();
            let at = self.child("metadata");
            let unknown =
                decode::decode_at(&registry.arena, registry.object_meta, meta, self.prune, &at)?;
            self.meta_unknown.extend(unknown);
        }
        self.node(id, value, true)
    }

    fn child(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn node(&mut self, id: Id, value: &mut Value, resource: bool) -> Result<(), String> {
        let arena = self.arena;
        let node = &arena[id];
        match value {
            Value::Object(map) => {
                if let Kind::Struct(fields) = &node.kind {
                    for (name, field) in fields.iter() {
                        let field_node = &arena[field];
                        let missing = match map.get(name) {
                            None => true,
                            Some(Value::Null) => !field_node.nullable,
                            Some(_) => false,
                        };
                        if missing {
                            match &field_node.default {
                                Some(d) => {
                                    map.insert(name.to_string(), d.clone());
                                }
                                None if map.get(name).is_some() => {
                                    map.remove(name);
                                }
                                None => {}
                            }
                        }
                    }
                }
                let mut unknown = Vec::new();
                for (key, child) in map.iter_mut() {
                    let implied = (resource || node.embedded)
                        && matches!(key.as_str(), "apiVersion" | "kind" | "metadata");
                    let len = self.path.len();
                    let target = match &node.kind {
                        _ if implied => {
                            if node.embedded && !resource && key == "metadata" {
                                self.path = self.child(key);
                                self.resource_meta(child)?;
                                self.path.truncate(len);
                            }
                            continue;
                        }
                        Kind::Struct(fields) => fields.get(key).map(|(_, f)| f),
                        Kind::Map(values) => Some(*values),
                        Kind::Any | Kind::Either(_) => continue,
                        _ => None,
                    };
                    match target {
                        Some(t) => {
                            self.path = self.child(key);
                            self.node(t, child, false)?;
                            self.path.truncate(len);
                        }
                        None if !node.preserve_unknown => unknown.push(key.clone()),
                        None => {}
                    }
                }
                for key in &unknown {
                    let path = self.child(key);
                    self.unknown.push(path);
                }
                if self.prune && !unknown.is_empty() {
                    map.retain(|k, _| !unknown.contains(k));
                }
            }
            Value::Array(list) => {
                if let Kind::Array(items) = node.kind {
                    let item = &arena[items];
                    for (i, child) in list.iter_mut().enumerate() {
                        if child.is_null()
                            && !item.nullable
                            && let Some(d) = &item.default
                        {
                            *child = d.clone();
                        }
                        let len = self.path.len();
                        self.path.push_str(&format!("[{i}]"));
                        self.node(items, child, false)?;
                        self.path.truncate(len);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The metadata of an embedded resource: decoded as ObjectMeta.
    fn resource_meta(&mut self, meta: &mut Value) -> Result<(), String> {
        let registry = builtin::registry();
        let at = self.path.clone();
        let unknown =
            decode::decode_at(&registry.arena, registry.object_meta, meta, self.prune, &at)?;
        self.unknown.extend(unknown);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::node::compile_crd;
    use serde_json::json;

    fn schema() -> (Arena, Id) {
        compile_crd(&json!({
            "type": "object",
            "properties": {
                "spec": { "type": "object", "properties": {
                    "image": { "type": "string" },
                    "replicas": { "type": "integer", "default": 1 },
                    "extra": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
                    "items": { "type": "array", "items": { "type": "object", "properties": { "name": { "type": "string" } } } },
                    "note": { "type": "string" },
                    "template": { "type": "object", "x-kubernetes-embedded-resource": true, "x-kubernetes-preserve-unknown-fields": true },
                } },
            },
        }))
    }

    #[test]
    fn unknown_fields_go_unless_preserved_and_defaults_fill_in() {
        let (arena, root) = schema();
        let mut cr = json!({
            "apiVersion": "x/v1", "kind": "X",
            "metadata": { "name": "a", "colour": "red" },
            "spec": {
                "image": "i", "foo": 1, "note": null,
                "extra": { "anything": { "goes": true } },
                "items": [ { "name": "a", "bar": 2 } ],
                "template": { "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p" }, "spec": { "x": 1 } },
            },
            "top": true,
        });
        let unknown = prune(&arena, root, &mut cr, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            unknown,
            ["spec.foo", "spec.items[0].bar", "top", "metadata.colour"]
        );
        assert_eq!(
            cr,
            json!({
                "apiVersion": "x/v1", "kind": "X",
                "metadata": { "name": "a" },
                "spec": {
                    "image": "i", "replicas": 1,
                    "extra": { "anything": { "goes": true } },
                    "items": [ { "name": "a" } ],
                    "template": { "apiVersion": "v1", "kind": "Pod", "metadata": { "name": "p" }, "spec": { "x": 1 } },
                },
            })
        );
    }

    #[test]
    fn reporting_only_leaves_the_object_alone() {
        let (arena, root) = schema();
        let mut cr = json!({ "spec": { "foo": 1 } });
        let unknown = prune(&arena, root, &mut cr, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(unknown, ["spec.foo"]);
        assert_eq!(cr["spec"]["foo"], 1);
    }

    #[test]
    fn bad_metadata_fails_decoding() {
        let (arena, root) = schema();
        let mut cr = json!({ "metadata": { "labels": { "a": 1 } } });
        assert!(
            prune(&arena, root, &mut cr, true)
                .is_err_and(|e| e.contains("ObjectMeta.metadata.labels"))
        );
    }
}
