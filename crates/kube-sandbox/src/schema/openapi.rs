//! The schemas of the OpenAPI documents: each kind's definition with every definition
//! it refers to, tagged with its `x-kubernetes-group-version-kind`. The v3 documents
//! (`/openapi/v3/apis/apps/v1`, one per group-version) are what `kubectl explain`
//! walks; the v2 document (`/openapi/v2`, every kind) is what kubectl validates a
//! `kind: List` against on the client side. A custom resource gets its CRD version's
//! schema, with `apiVersion`, `kind` and `metadata` added as the API server adds them;
//! a kind with no schema gets an open object.

use serde_json::{Map, Value, json};

use super::super::catalog::{Catalog, ServedType};
use super::super::store::Store;
use super::{builtin, crd};

const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

/// `components.schemas` of the document of `types` (one group-version).
pub fn schemas(store: &Store, catalog: &Catalog, types: &[&ServedType]) -> Map<String, Value> {
    let registry = builtin::registry();
    let mut out = Map::new();
    let mut pending: Vec<String> = Vec::new();
    for t in types {
        let gvk = json!([ { "group": t.group, "version": t.version, "kind": t.kind } ]);
        let builtin = (!t.custom)
            .then(|| registry.definition_of(&t.group, &t.version, &t.kind))
            .flatten();
        let (name, mut schema) = match builtin {
            Some(name) => (
                name.to_string(),
                registry
                    .definitions
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| json!({})),
            ),
            None => (reversed_name(t), custom_schema(store, catalog, t)),
        };
        references(&schema, &mut pending);
        schema["x-kubernetes-group-version-kind"] = gvk;
        out.insert(name, schema);
    }
    while let Some(name) = pending.pop() {
        if out.contains_key(&name) {
            continue;
        }
        if let Some(definition) = registry.definitions.get(&name) {
            references(definition, &mut pending);
            out.insert(name, definition.clone());
        }
    }
    out
}

/// How `/openapi/v2` is served to clients that ask for protobuf (kubectl does).
pub const V2_PROTOBUF: &str = super::gnostic::MEDIA_TYPE;

/// The v2 document in protobuf (gnostic's `openapi.v2.Document`).
pub fn v2_protobuf(store: &Store, catalog: &Catalog) -> Vec<u8> {
    super::gnostic::encode(&v2_document(store, catalog))
}

/// The OpenAPI v2 (Swagger 2.0) document of every kind served: no paths, the
/// definitions in v2 form (`#/definitions/` references, which may have siblings).
pub fn v2_document(store: &Store, catalog: &Catalog) -> Value {
    let types: Vec<&ServedType> = catalog.types().iter().collect();
    let mut definitions = Value::Object(schemas(store, catalog, &types));
    to_v2(&mut definitions);
    json!({
        "swagger": "2.0",
        "info": { "title": "Kubernetes", "version": format!("v{}.{}.0", super::super::discovery::MAJOR, super::super::discovery::MINOR) },
        "paths": {},
        "definitions": definitions,
    })
}

/// OpenAPI 3 schemas to their v2 form: `{"allOf": [{"$ref": x}], ...}` becomes
/// `{"$ref": x, ...}`, and references point into `#/definitions/`.
fn to_v2(v: &mut Value) {
    match v {
        Value::Object(map) => {
            let single_ref = match map.get("allOf").and_then(Value::as_array) {
                Some(all) if all.len() == 1 => all[0].get("$ref").cloned(),
                _ => None,
            };
            if let Some(r) = single_ref {
                map.remove("allOf");
                map.insert("$ref".into(), r);
            }
            if let Some(Value::String(r)) = map.get_mut("$ref") {
                *r = r.replace("#/components/schemas/", "#/definitions/");
            }
            map.values_mut().for_each(to_v2);
        }
        Value::Array(list) => list.iter_mut().for_each(to_v2),
        _ => {}
    }
}

/// `stable.example.com/v1 CronTab` → `com.example.stable.v1.CronTab`, as the server
/// names the schemas of custom resources.
fn reversed_name(t: &ServedType) -> String {
    let group: Vec<&str> = t.group.split('.').rev().collect();
    format!("{}.{}.{}", group.join("."), t.version, t.kind)
}

/// A custom resource's published schema: its CRD version's, with the fields every
/// object has.
fn custom_schema(store: &Store, catalog: &Catalog, t: &ServedType) -> Value {
    let crd = crd::definition(store, catalog, t);
    let mut schema = crd
        .as_ref()
        .and_then(|crd| crd::version_schema(crd, &t.version))
        .cloned()
        .unwrap_or_else(
            || json!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true }),
        );
    let Some(object) = schema.as_object_mut() else {
        return schema;
    };
    let properties = object.entry("properties").or_insert_with(|| json!({}));
    if let Some(p) = properties.as_object_mut() {
        p.insert("apiVersion".into(), json!({
            "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources",
            "type": "string",
        }));
        p.insert("kind".into(), json!({
            "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            "type": "string",
        }));
        p.insert("metadata".into(), json!({
            "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
            "allOf": [ { "$ref": format!("#/components/schemas/{OBJECT_META}") } ],
        }));
    }
    schema
}

/// Adds the definitions `schema` refers to (`$ref`) to `out`.
fn references(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref")
                && let Some(name) = r.rsplit('/').next()
            {
                out.push(name.to_string());
            }
            for v in map.values() {
                references(v, out);
            }
        }
        Value::Array(list) => list.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}
