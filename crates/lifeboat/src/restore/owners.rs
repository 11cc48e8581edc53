//! `OwnerLinks`: the owner references of restored objects (SPEC section 5). A
//! reference names its owner by uid, and uids are the source cluster's: a real
//! garbage collector deletes an object whose owners' uids do not exist. So a reference
//! is dropped when its owner is not part of the restore, and remapped to the owner's
//! uid in the target when it is. An owner restored in a later tier than what it owns
//! (the ConfigMap of a custom resource, the PVC of a StatefulSet) does not exist yet in
//! its dependent's tier: the dependent is held back and created, with its references
//! remapped, right after the tier that restored its last owner (so a restore needs
//! `create` only, never `patch`). An owner that exists in the target already (skipped)
//! is read for its uid; where that read is refused, references to it are dropped.
//!
//! Which owners are part of the restore is known before the first write: a scan of the
//! verified parts collects the uids the restored objects reference, then which of them
//! belong to objects the restore writes (`restored`). The map of owners found so far
//! goes into every tier's checkpoint, so a resumed restore knows them without reading
//! the cluster. Memory follows the number of owners and of held objects, not of
//! objects.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;

use serde_json::Value;

/// What a restore knows of owners, shared by its tiers.
#[derive(Default)]
pub struct OwnerLinks {
    /// Source uids of the owners this restore writes.
    restored: HashSet<String>,
    /// Source uid → target uid of the owners written (or found) so far.
    target: Mutex<HashMap<String, String>>,
}

/// What `OwnerLinks::rewrite` did to one object's references.
#[derive(Debug, PartialEq, Eq)]
pub enum Rewritten {
    /// Nothing waits: the references written are final.
    Done,
    /// These source uids wait for their owners, with every reference the object
    /// should end up with (the known ones remapped already).
    Waiting {
        refs: Vec<Value>,
        waiting: Vec<String>,
    },
}

/// The source uids of an object's owner references.
pub fn owner_uids(object: &Value) -> impl Iterator<Item = &str> {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid").and_then(Value::as_str))
}

/// The object's uid (in the backup: the source cluster's).
pub fn uid_of(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

impl OwnerLinks {
    /// The links of a restore that writes the owners with these source uids.
    pub fn new(restored: HashSet<String>) -> OwnerLinks {
        OwnerLinks {
            restored,
            target: Mutex::new(HashMap::new()),
        }
    }

    /// Whether the object with this source uid owns something the restore writes.
    pub fn is_owner(&self, source_uid: &str) -> bool {
        self.restored.contains(source_uid)
    }

    /// Records where an owner ended up in the target.
    pub fn found(&self, source_uid: &str, target_uid: &str) {
        if let Ok(mut t) = self.target.lock() {
            t.insert(source_uid.to_string(), target_uid.to_string());
        }
    }

    fn target_of(&self, source_uid: &str) -> Option<String> {
        self.target.lock().ok()?.get(source_uid).cloned()
    }

    /// Rewrites `object`'s owner references before it is written: remapped where the
    /// owner is in the target already, left out for now where the owner is restored
    /// later, dropped where the owner is not restored at all.
    pub fn rewrite(&self, object: &mut Value) -> Rewritten {
        let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) else {
            return Rewritten::Done;
        };
        let Some(Value::Array(refs)) = meta.remove("ownerReferences") else {
            return Rewritten::Done;
        };
        let mut now = Vec::new();
        let mut end = Vec::new();
        let mut waiting = Vec::new();
        for mut r in refs {
            let Some(uid) = r.get("uid").and_then(Value::as_str).map(str::to_string) else {
                continue;
            };
            if let Some(target) = self.target_of(&uid) {
                r["uid"] = Value::String(target);
                now.push(r.clone());
                end.push(r);
            } else if self.restored.contains(&uid) {
                waiting.push(uid);
                end.push(r);
            }
        }
        if !now.is_empty() {
            meta.insert("ownerReferences".into(), Value::Array(now));
        }
        if waiting.is_empty() {
            Rewritten::Done
        } else {
            Rewritten::Waiting { refs: end, waiting }
        }
    }

    /// The references an object held back should be written with, once every owner
    /// it waits for is known (or, with `last`, the ones known by the end of the
    /// restore); `None` while one still waits.
    pub fn resolve(&self, refs: &[Value], waiting: &[String], last: bool) -> Option<Vec<Value>> {
        if !last && !self.all_known(waiting) {
            return None;
        }
        Some(
            refs.iter()
                .filter_map(|r| {
                    let uid = r.get("uid").and_then(Value::as_str)?;
                    if !waiting.iter().any(|w| w == uid) {
                        return Some(r.clone());
                    }
                    let target = self.target_of(uid)?;
                    let mut r = r.clone();
                    r["uid"] = Value::String(target);
                    Some(r)
                })
                .collect(),
        )
    }

    /// Whether every owner in `waiting` is known in the target.
    pub fn all_known(&self, waiting: &[String]) -> bool {
        waiting.iter().all(|uid| self.target_of(uid).is_some())
    }

    /// The owners found so far (source uid → target uid), for a checkpoint.
    pub fn known(&self) -> BTreeMap<String, String> {
        self.target
            .lock()
            .map(|t| t.iter().map(|(a, b)| (a.clone(), b.clone())).collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owned_by(refs: Value) -> Value {
        json!({"metadata": {"name": "settings", "uid": "self", "ownerReferences": refs}})
    }

    fn owner(kind: &str, uid: &str) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": kind, "name": kind.to_lowercase(), "uid": uid})
    }

    #[test]
    fn a_reference_to_an_owner_not_restored_is_dropped() {
        let links = OwnerLinks::new(HashSet::new());
        let mut o = owned_by(json!([owner("Gone", "u-gone")]));
        assert_eq!(links.rewrite(&mut o), Rewritten::Done);
        assert!(o["metadata"].get("ownerReferences").is_none(), "{o}");
    }

    #[test]
    fn a_reference_to_an_owner_already_restored_gets_its_new_uid() {
        let links = OwnerLinks::new(["u-old".to_string()].into());
        links.found("u-old", "u-new");
        let mut o = owned_by(json!([owner("App", "u-old"), owner("Gone", "u-gone")]));
        assert_eq!(links.rewrite(&mut o), Rewritten::Done);
        assert_eq!(
            o["metadata"]["ownerReferences"],
            json!([owner("App", "u-new")])
        );
    }

    #[test]
    fn a_reference_to_a_later_owner_waits_and_resolves_once_it_is_written() {
        let links = OwnerLinks::new(["u-a".to_string(), "u-b".to_string()].into());
        links.found("u-a", "t-a");
        let mut o = owned_by(json!([owner("A", "u-a"), owner("B", "u-b")]));
        let Rewritten::Waiting { refs, waiting } = links.rewrite(&mut o) else {
            panic!("nothing waits: {o}");
        };
        assert_eq!(waiting, vec!["u-b".to_string()]);
        assert_eq!(links.resolve(&refs, &waiting, false), None);
        links.found("u-b", "t-b");
        assert!(links.all_known(&waiting));
        assert_eq!(
            links.resolve(&refs, &waiting, false),
            Some(vec![owner("A", "t-a"), owner("B", "t-b")])
        );
        assert_eq!(links.known().len(), 2);
    }

    #[test]
    fn at_the_end_the_owners_that_came_are_kept_and_the_others_dropped() {
        let links = OwnerLinks::new(["u-a".to_string(), "u-b".to_string()].into());
        let mut o = owned_by(json!([owner("A", "u-a"), owner("B", "u-b")]));
        let Rewritten::Waiting { refs, waiting } = links.rewrite(&mut o) else {
            panic!("nothing waits");
        };
        links.found("u-a", "t-a");
        assert_eq!(links.resolve(&refs, &waiting, false), None);
        assert_eq!(
            links.resolve(&refs, &waiting, true),
            Some(vec![owner("A", "t-a")])
        );
    }
}
