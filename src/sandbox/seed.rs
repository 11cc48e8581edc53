//! Seeding a sandbox from folders of ordinary manifests (multi-document YAML or JSON,
//! `kind: List` flattened): CRDs and namespaces first, then everything else; a
//! namespace an object names is created when missing.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::SandboxError;
use super::catalog::split_api_version;
use super::store::{Store, WriteOptions};

/// One manifest and the file it came from.
pub struct Manifest {
    pub file: PathBuf,
    pub object: Value,
}

/// Reads every `.yaml`, `.yml` and `.json` file under `dir` (recursively, in name
/// order), or `dir` itself when it is a file.
pub fn read_manifests(dir: &Path) -> Result<Vec<Manifest>, SandboxError> {
    let mut files = Vec::new();
    collect_files(dir, &mut files)?;
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).map_err(|e| SandboxError::Seed {
            path: file.clone(),
            message: format!("cannot read it: {e}"),
        })?;
        let docs: Vec<Value> =
            serde_saphyr::from_multiple(&text).map_err(|e| SandboxError::Seed {
                path: file.clone(),
                message: format!("invalid YAML: {}", e.without_snippet()),
            })?;
        for doc in docs {
            flatten(doc, &file, &mut out);
        }
    }
    Ok(out)
}

fn flatten(doc: Value, file: &Path, out: &mut Vec<Manifest>) {
    if doc.is_null() {
        return;
    }
    if doc.get("kind").and_then(Value::as_str) == Some("List")
        && let Some(items) = doc.get("items").and_then(Value::as_array)
    {
        for item in items {
            flatten(item.clone(), file, out);
        }
        return;
    }
    out.push(Manifest {
        file: file.to_path_buf(),
        object: doc,
    });
}

fn collect_files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), SandboxError> {
    let meta = std::fs::metadata(path).map_err(|e| SandboxError::Seed {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| SandboxError::Seed {
            path: path.to_path_buf(),
            message: format!("cannot list it: {e}"),
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            collect_files(&entry, out)?;
        } else if entry
            .extension()
            .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
        {
            out.push(entry);
        }
    }
    Ok(())
}

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
