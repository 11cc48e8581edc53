//! Discovery documents: `/version`, `/api`, `/apis`, and the resource lists of each
//! group-version, built from the catalog, plus the small OpenAPI v3 index kubectl reads
//! to learn that the server validates fields itself.

use serde_json::{Value, json};

use super::catalog::{Catalog, ResourceType};

/// The Kubernetes version the sandbox presents.
pub const MAJOR: &str = "1";
pub const MINOR: &str = "33";

pub fn version() -> Value {
    json!({
        "major": MAJOR,
        "minor": MINOR,
        "gitVersion": format!("v{MAJOR}.{MINOR}.0-lifeboat-sandbox"),
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

pub fn core_versions(server: &str) -> Value {
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [ { "clientCIDR": "0.0.0.0/0", "serverAddress": server } ],
    })
}

pub fn groups(catalog: &Catalog) -> Value {
    let groups: Vec<Value> = catalog
        .groups()
        .into_iter()
        .filter(|(g, _)| !g.is_empty())
        .map(|(name, versions)| {
            let vs: Vec<Value> = versions
                .iter()
                .map(|v| json!({ "groupVersion": format!("{name}/{v}"), "version": v }))
                .collect();
            let preferred = vs.first().cloned().unwrap_or(Value::Null);
            json!({ "name": name, "versions": vs, "preferredVersion": preferred })
        })
        .collect();
    json!({ "kind": "APIGroupList", "apiVersion": "v1", "groups": groups })
}

/// One group of the `/apis` list (`/apis/{group}`).
pub fn group(catalog: &Catalog, name: &str) -> Option<Value> {
    groups(catalog)["groups"]
        .as_array()?
        .iter()
        .find(|g| g["name"] == name)
        .map(|g| {
            let mut g = g.clone();
            g["kind"] = json!("APIGroup");
            g["apiVersion"] = json!("v1");
            g
        })
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Workload kinds that `kubectl get all` shows.
fn categories(t: &ResourceType) -> Vec<&'static str> {
    match (t.group.as_str(), t.plural.as_str()) {
        ("", "pods" | "services" | "replicationcontrollers")
        | ("apps", "deployments" | "statefulsets" | "daemonsets" | "replicasets")
        | ("batch", "jobs" | "cronjobs")
        | ("autoscaling", "horizontalpodautoscalers") => vec!["all"],
        _ => Vec::new(),
    }
}

/// The `APIResourceList` of one group-version; `None` when nothing is served there.
pub fn resources(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let types = catalog.in_group_version(group, version)?;
    let mut list = Vec::new();
    for t in types {
        let mut r = json!({
            "name": t.plural,
            "singularName": t.singular,
            "namespaced": t.namespaced,
            "kind": t.kind,
            "verbs": VERBS,
        });
        if !t.short_names.is_empty() {
            r["shortNames"] = json!(t.short_names);
        }
        let cats = categories(t);
        if !cats.is_empty() {
            r["categories"] = json!(cats);
        }
        list.push(r);
        for sub in &t.subresources {
            let mut s = json!({
                "name": format!("{}/{sub}", t.plural),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": ["get", "patch", "update"],
            });
            if *sub == "scale" {
                s["group"] = json!("autoscaling");
                s["version"] = json!("v1");
                s["kind"] = json!("Scale");
            }
            list.push(s);
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Some(json!({
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": list,
    }))
}

/// `/openapi/v3`: where each group-version's document is.
pub fn openapi_index(catalog: &Catalog) -> Value {
    let mut paths = serde_json::Map::new();
    for (group, versions) in catalog.groups() {
        for v in versions {
            let key = if group.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{group}/{v}")
            };
            let url = format!("/openapi/v3/{key}?hash={}", catalog_hash(catalog));
            paths.insert(key, json!({ "serverRelativeURL": url }));
        }
    }
    json!({ "paths": paths })
}

/// Changes whenever the catalog does, so clients refetch documents after a CRD.
fn catalog_hash(catalog: &Catalog) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in catalog.types() {
        for b in t
            .group
            .bytes()
            .chain(t.version.bytes())
            .chain(t.plural.bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{h:016X}")
}

/// The OpenAPI v3 document of one group-version: its paths, each declaring the
/// `fieldValidation` parameter (kubectl then leaves field validation to the server),
/// and an open schema per kind carrying its group-version-kind.
pub fn openapi_document(catalog: &Catalog, group: &str, version: &str) -> Option<Value> {
    let types = catalog.in_group_version(group, version)?;
    let prefix = if group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{group}/{version}")
    };
    let field_validation = json!({
        "name": "fieldValidation",
        "in": "query",
        "description": "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.",
        "schema": { "type": "string", "uniqueItems": true },
    });
    let mut paths = serde_json::Map::new();
    let mut schemas = serde_json::Map::new();
    for t in types {
        let collection = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("{prefix}/{}", t.plural)
        };
        let gvk = json!({ "group": t.group, "version": t.version, "kind": t.kind });
        let op = |id: &str, action: &str| {
            json!({
                "operationId": id,
                "parameters": [field_validation.clone()],
                "responses": {},
                "x-kubernetes-action": action,
                "x-kubernetes-group-version-kind": gvk.clone(),
            })
        };
        paths.insert(
            collection.clone(),
            json!({ "post": op(&format!("create{}", t.kind), "post") }),
        );
        paths.insert(
            format!("{collection}/{{name}}"),
            json!({
                "put": op(&format!("replace{}", t.kind), "put"),
                "patch": op(&format!("patch{}", t.kind), "patch"),
            }),
        );
        let schema_name = format!(
            "{}.{}.{}",
            if t.group.is_empty() { "core" } else { &t.group },
            t.version,
            t.kind
        );
        schemas.insert(schema_name, json!({
            "type": "object",
            "x-kubernetes-group-version-kind": [ { "group": t.group, "version": t.version, "kind": t.kind } ],
        }));
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": format!("v{MAJOR}.{MINOR}.0") },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}
