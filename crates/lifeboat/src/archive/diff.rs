//! Comparing two backups (`lifeboat backups diff`): per resource type, the objects only
//! the second has (added), only the first has (removed), and those in both that differ
//! (changed, with the paths of the fields that differ). For an incident: what changed
//! since the last good backup.
//!
//! Objects are compared without what every write or controller changes
//! (`resourceVersion`, `managedFields`, `generation`, `status`). Values are never shown,
//! only field paths, and a Secret's `data` and `stringData` are compared by their
//! sha256. Memory holds one resource type of both backups at a time.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::crypt::Identities;
use super::part::{PartReader, hex};
use super::verify::{SpooledBackup, download_verified};
use super::{ArchiveError, Manifest};
use crate::store::Store;

/// Field paths listed per changed object; more are counted.
const MAX_FIELDS: usize = 20;

/// How two backups differ.
#[derive(Debug, Serialize)]
pub struct BackupDiff {
    pub from: String,
    pub to: String,
    /// Resource types with a difference, sorted.
    pub kinds: Vec<KindDiff>,
    /// Objects found the same.
    pub unchanged: usize,
}

/// How one resource type (`deployments.apps`) differs.
#[derive(Debug, Serialize)]
pub struct KindDiff {
    pub resource: String,
    /// `namespace/name` (or `name`) of each object only the second backup has.
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<ChangedObject>,
}

#[derive(Debug, Serialize)]
pub struct ChangedObject {
    pub name: String,
    /// Paths of the fields that differ (`spec.replicas`, `data.password`), at most
    /// `MAX_FIELDS`.
    pub fields: Vec<String>,
    /// Paths left out past `MAX_FIELDS`.
    pub more: usize,
}

impl BackupDiff {
    /// Added, removed and changed objects in all.
    pub fn totals(&self) -> (usize, usize, usize) {
        self.kinds.iter().fold((0, 0, 0), |(a, r, c), k| {
            (a + k.added.len(), r + k.removed.len(), c + k.changed.len())
        })
    }
}

/// Compares backup `from` with backup `to` (both downloaded and verified first).
pub async fn diff(
    store: &Store,
    from: &Manifest,
    to: &Manifest,
    identities: Option<&Identities>,
) -> Result<BackupDiff, ArchiveError> {
    let a = download_verified(store, from, 4, identities).await?;
    let b = download_verified(store, to, 4, identities).await?;
    let (a_types, b_types) = (parts_by_type(&a), parts_by_type(&b));
    let resources: BTreeSet<&String> = a_types.keys().chain(b_types.keys()).collect();
    let mut kinds = Vec::new();
    let mut unchanged = 0;
    for resource in resources {
        let before = read_type(&a, a_types.get(resource), identities)?;
        let after = read_type(&b, b_types.get(resource), identities)?;
        kinds.extend(compare_type(resource, &before, &after, &mut unchanged));
    }
    Ok(BackupDiff {
        from: from.backup_id.clone(),
        to: to.backup_id.clone(),
        kinds,
        unchanged,
    })
}

/// How the objects of one resource type differ (`None`: not at all), both sides by
/// `namespace/name` and made `comparable`; counts the objects found the same.
pub(crate) fn compare_type(
    resource: &str,
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
    unchanged: &mut usize,
) -> Option<KindDiff> {
    let mut kind = KindDiff {
        resource: resource.to_string(),
        added: after
            .keys()
            .filter(|k| !before.contains_key(*k))
            .cloned()
            .collect(),
        removed: before
            .keys()
            .filter(|k| !after.contains_key(*k))
            .cloned()
            .collect(),
        changed: Vec::new(),
    };
    for (name, old) in before {
        let Some(new) = after.get(name) else { continue };
        let mut fields = Vec::new();
        changed_paths(old, new, "", &mut fields);
        if fields.is_empty() {
            *unchanged += 1;
        } else {
            let more = fields.len().saturating_sub(MAX_FIELDS);
            fields.truncate(MAX_FIELDS);
            kind.changed.push(ChangedObject {
                name: name.clone(),
                fields,
                more,
            });
        }
    }
    (!(kind.added.is_empty() && kind.removed.is_empty() && kind.changed.is_empty())).then_some(kind)
}

/// The indexes of a backup's parts, by resource type (`resource.group`, or `resource`
/// for the core group).
pub(crate) fn parts_by_type(backup: &SpooledBackup) -> BTreeMap<String, Vec<usize>> {
    let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, p) in backup.manifest.parts.iter().enumerate() {
        let resource = if p.group.is_empty() {
            p.resource.clone()
        } else {
            format!("{}.{}", p.resource, p.group)
        };
        out.entry(resource).or_default().push(i);
    }
    out
}

/// The objects of some parts, by `namespace/name`, ready to compare.
pub(crate) fn read_type(
    backup: &SpooledBackup,
    parts: Option<&Vec<usize>>,
    identities: Option<&Identities>,
) -> Result<BTreeMap<String, Value>, ArchiveError> {
    let mut out = BTreeMap::new();
    for &i in parts.map(Vec::as_slice).unwrap_or_default() {
        let (part, path) = (&backup.manifest.parts[i], &backup.files[i]);
        let io_error = |source: io::Error| ArchiveError::Integrity {
            id: backup.manifest.backup_id.clone(),
            key: part.key.clone(),
            message: source.to_string(),
        };
        let mut reader =
            PartReader::open(path, part.encryption.is_some(), identities, part.objects)
                .map_err(io_error)?;
        loop {
            let batch = reader.next_batch(500).map_err(io_error)?;
            if batch.is_empty() {
                break;
            }
            for object in batch {
                let name = object_name(&object);
                out.insert(name, comparable(object));
            }
        }
    }
    Ok(out)
}

pub(crate) fn object_name(o: &Value) -> String {
    let name = o
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    match o.pointer("/metadata/namespace").and_then(Value::as_str) {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// An object without what every write or controller changes; a Secret's values
/// replaced by their sha256.
pub(crate) fn comparable(mut o: Value) -> Value {
    let secret = o.get("kind").and_then(Value::as_str) == Some("Secret");
    if let Some(map) = o.as_object_mut() {
        map.remove("status");
        if secret {
            for field in ["data", "stringData"] {
                if let Some(Value::Object(values)) = map.get_mut(field) {
                    for v in values.values_mut() {
                        let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                        *v = Value::String(format!("sha256:{}", hex(&Sha256::digest(text))));
                    }
                }
            }
        }
    }
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in ["resourceVersion", "managedFields", "generation"] {
            meta.remove(f);
        }
    }
    o
}

/// The paths under `prefix` where `a` and `b` differ: fields of objects by name, items
/// of lists by index (a list whose length changed is one path), scalars whole.
fn changed_paths(a: &Value, b: &Value, prefix: &str, out: &mut Vec<String>) {
    let mut changes = Vec::new();
    field_changes(a, b, prefix, &mut changes);
    out.extend(changes.into_iter().map(|c| c.path));
}

/// One field that differs between two objects: its path (`spec.replicas`,
/// `spec.containers[0].image`), and its value before and after (`None`: absent).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange<'v> {
    pub path: String,
    pub before: Option<&'v Value>,
    pub after: Option<&'v Value>,
}

/// The fields under `prefix` where `a` and `b` differ, as `changed_paths` names them.
pub fn field_changes<'v>(a: &'v Value, b: &'v Value, prefix: &str, out: &mut Vec<FieldChange<'v>>) {
    let at = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                match (x.get(k), y.get(k)) {
                    (Some(xv), Some(yv)) => field_changes(xv, yv, &at(k), out),
                    (before, after) => out.push(FieldChange {
                        path: at(k),
                        before,
                        after,
                    }),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (xv, yv)) in x.iter().zip(y).enumerate() {
                field_changes(xv, yv, &format!("{prefix}[{i}]"), out);
            }
        }
        (x, y) if x == y => {}
        (x, y) => out.push(FieldChange {
            path: if prefix.is_empty() {
                "(the whole object)".to_string()
            } else {
                prefix.to_string()
            },
            before: Some(x),
            after: Some(y),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changed_fields_are_named_by_path_and_secrets_by_hash_only() {
        let a = comparable(json!({
            "kind": "Secret", "metadata": { "name": "s", "resourceVersion": "1" },
            "data": { "password": "aHVudGVyMg==", "user": "YQ==" }
        }));
        let b = comparable(json!({
            "kind": "Secret", "metadata": { "name": "s", "resourceVersion": "9" },
            "data": { "password": "c3dvcmRmaXNo", "user": "YQ==" }
        }));
        let mut fields = Vec::new();
        changed_paths(&a, &b, "", &mut fields);
        assert_eq!(fields, ["data.password"]);
        assert!(!b.to_string().contains("c3dvcmRmaXNo"), "{b}");
    }

    #[test]
    fn lists_are_compared_item_by_item_and_status_is_left_out() {
        let a = comparable(json!({
            "kind": "Deployment", "metadata": { "name": "d", "generation": 1 },
            "spec": { "replicas": 2, "template": { "spec": { "containers": [ { "name": "c", "image": "a:1" } ] } } },
            "status": { "readyReplicas": 2 }
        }));
        let b = comparable(json!({
            "kind": "Deployment", "metadata": { "name": "d", "generation": 2, "labels": { "x": "1" } },
            "spec": { "replicas": 3, "template": { "spec": { "containers": [ { "name": "c", "image": "a:2" } ] } } },
            "status": { "readyReplicas": 0 }
        }));
        let mut fields = Vec::new();
        changed_paths(&a, &b, "", &mut fields);
        assert_eq!(
            fields,
            [
                "metadata.labels",
                "spec.replicas",
                "spec.template.spec.containers[0].image"
            ]
        );
    }
}
