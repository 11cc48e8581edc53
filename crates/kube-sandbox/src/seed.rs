//! Seeding a sandbox from folders of ordinary manifests (read by kube-resources):
//! CRDs and namespaces first, then everything else; a namespace an object names is
//! created when missing.

use kube_resources::Manifest;
use serde_json::{Value, json};

use super::SandboxError;
use super::catalog::split_api_version;
use super::store::{Store, WriteOptions};

/// Where an object goes in the seeding order: CRDs, namespaces, the rest.
fn rank(object: &Value) -> u8 {
    match object.get("kind").and_then(Value::as_str) {
        Some("CustomResourceDefinition") => 0,
        Some("Namespace") => 1,
        _ => 2,
    }
}

/// Creates every manifest in `store`; returns how many objects were created.
pub fn seed(store: &Store, manifests: Vec<Manifest>) -> Result<usize, SandboxError> {
    let mut manifests = manifests;
    manifests.sort_by_key(|m| rank(&m.object));
    let mut created = 0;
    for m in manifests {
        let api_version = m
            .object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let kind = m
            .object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let catalog = store.catalog();
        let Some(t) = catalog.by_kind(&api_version, &kind).cloned() else {
            let (group, _) = split_api_version(&api_version);
            return Err(SandboxError::Seed {
                path: m.file,
                message: format!(
                    "the sandbox serves no kind `{kind}` in `{api_version}` (group `{group}`); seed its CustomResourceDefinition too"
                ),
            });
        };
        let ns = if t.namespaced {
            let ns = m
                .object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or("default")
                .to_string();
            ensure_namespace(store, &ns);
            Some(ns)
        } else {
            None
        };
        match store.create(&t, ns.as_deref(), m.object, WriteOptions::default()) {
            Ok(_) => created += 1,
            Err(e) => {
                return Err(SandboxError::Seed {
                    path: m.file,
                    message: format!("cannot create {kind}: {}", e.message),
                });
            }
        }
    }
    Ok(created)
}

fn ensure_namespace(store: &Store, ns: &str) {
    let catalog = store.catalog();
    if let Some(t) = catalog.by_path("", "v1", "namespaces")
        && store.get(t, None, ns).is_err()
    {
        let _ = store.create(
            t,
            None,
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns } }),
            WriteOptions::default(),
        );
    }
}
