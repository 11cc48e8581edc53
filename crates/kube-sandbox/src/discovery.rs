//! Discovery documents: `/version`, `/api`, `/apis`, and the resource lists of each
//! group-version, built from the catalog, plus the OpenAPI v3 documents: their paths
//! tell kubectl the server validates fields itself, their schemas (see
//! `schema::openapi`) are what `kubectl explain` prints.

use serde_json::{Value, json};

use super::catalog::{Catalog, ServedType};
use super::store::Store;

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
fn categories(t: &ServedType) -> Vec<&'static str> {
    match (t.group.as_str(), t.resource.as_str()) {
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
            "name": t.resource,
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
                "name": format!("{}/{sub}", t.resource),
                "singularName": "",
                "namespaced": t.namespaced,
                "kind": t.kind,
                "verbs": if *sub == "log" { json!(["get"]) } else { json!(["get", "patch", "update"]) },
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
pub fn openapi_index(store: &Store, catalog: &Catalog) -> Value {
    let hash = catalog_hash(store, catalog);
    let mut paths = serde_json::Map::new();
    for (group, versions) in catalog.groups() {
        for v in versions {
            let key = if group.is_empty() {
                format!("api/{v}")
            } else {
                format!("apis/{group}/{v}")
            };
            let url = format!("/openapi/v3/{key}?hash={hash}");
            paths.insert(key, json!({ "serverRelativeURL": url }));
        }
    }
    json!({ "paths": paths })
}

/// Changes whenever the catalog or a CRD does, so clients refetch documents after a
/// CRD (or its schema) changes.
fn catalog_hash(store: &Store, catalog: &Catalog) -> String {
    let crds = catalog.by_path("apiextensions.k8s.io", "v1", "customresourcedefinitions");
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for t in catalog.types() {
        let crd_version = match crds {
            Some(crds) if t.custom => store
                .get(crds, None, &format!("{}.{}", t.resource, t.group))
                .ok()
                .and_then(|crd| {
                    crd.pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                })
                .unwrap_or_default(),
            _ => String::new(),
        };
        for b in t
            .group
            .bytes()
            .chain(t.version.bytes())
            .chain(t.resource.bytes())
            .chain(crd_version.bytes())
        {
            h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{h:016X}")
}

/// The OpenAPI v3 document of one group-version: its paths, each declaring the
/// `fieldValidation` parameter (kubectl then leaves field validation to the server),
/// and each kind's schema (with those it refers to) carrying its group-version-kind.
pub fn openapi_document(
    store: &Store,
    catalog: &Catalog,
    group: &str,
    version: &str,
) -> Option<Value> {
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
    let schemas = super::schema::openapi::schemas(store, catalog, &types);
    for t in &types {
        let collection = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", t.resource)
        } else {
            format!("{prefix}/{}", t.resource)
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
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": { "title": "Kubernetes", "version": format!("v{MAJOR}.{MINOR}.0") },
        "paths": paths,
        "components": { "schemas": schemas },
    }))
}
