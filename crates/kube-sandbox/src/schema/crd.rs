//! The schemas of custom resources: each CRD version's `openAPIV3Schema`, compiled on
//! first use and kept for the process (compiled again when the CRD's schema changes).

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde_json::Value;

use super::super::catalog::{Catalog, ServedType};
use super::super::store::Store;
use super::node::{Arena, Id, compile_crd};

/// One CRD version's compiled schema.
#[derive(Debug)]
pub struct CustomSchema {
    pub arena: Arena,
    pub root: Id,
    /// The `openAPIV3Schema` it was compiled from.
    source: Value,
}

type Cache = HashMap<(String, String), Arc<CustomSchema>>;

/// The CRD that serves `t`.
pub fn definition(store: &Store, catalog: &Catalog, t: &ServedType) -> Option<Value> {
    let crds = catalog.by_path("apiextensions.k8s.io", "v1", "customresourcedefinitions")?;
    store
        .get(crds, None, &format!("{}.{}", t.resource, t.group))
        .ok()
}

/// The `openAPIV3Schema` of one version of a CRD.
pub fn version_schema<'a>(crd: &'a Value, version: &str) -> Option<&'a Value> {
    crd.pointer("/spec/versions")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(version))?
        .pointer("/schema/openAPIV3Schema")
        .filter(|s| s.is_object())
}

/// The compiled schema of custom resource type `t`; `None` when its CRD gives none.
pub fn lookup(store: &Store, catalog: &Catalog, t: &ServedType) -> Option<Arc<CustomSchema>> {
    static CACHE: LazyLock<Mutex<Cache>> = LazyLock::new(Mutex::default);
    let crd = definition(store, catalog, t)?;
    let schema = version_schema(&crd, &t.version)?;
    let key = (format!("{}.{}", t.resource, t.group), t.version.clone());
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(found) = cache.get(&key).filter(|c| c.source == *schema) {
        return Some(found.clone());
    }
    let (arena, root) = compile_crd(schema);
    let compiled = Arc::new(CustomSchema {
        arena,
        root,
        source: schema.clone(),
    });
    cache.insert(key, compiled.clone());
    Some(compiled)
}
