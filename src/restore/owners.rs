//! `OwnerLinks`: the owner references of restored objects (SPEC section 5). A
//! reference names its owner by uid, and uids are the source cluster's: a real
//! garbage collector deletes an object whose owners' uids do not exist. So a reference
//! is dropped when its owner is not part of the restore, and remapped to the owner's
//! uid in the target when it is. An owner restored in a later tier than what it owns
//! (the PVC of a StatefulSet, the ConfigMap of a custom resource) does not exist yet
//! when its dependent is written: the dependent is created without that reference,
//! and the reference is added by a patch once the owner exists (`Pending`).
//!
//! Which owners are part of the restore is known before the first write: a scan of the
//! verified parts collects the uids the restored objects reference (`referenced`),
//! then which of them belong to objects the restore writes (`restored`). Both sets
//! hold only owners, so memory follows the number of owners, not of objects.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use serde_json::Value;

use crate::cluster::ResourceType;

/// What a restore knows of owners, shared by its tiers.
#[derive(Default)]
pub struct OwnerLinks {
    /// Source uids of the owners this restore writes.
    restored: HashSet<String>,
    /// Source uid → target uid of the owners written (or found) so far.
    target: Mutex<HashMap<String, String>>,
}

/// A restored object that waits for owners restored after it.
#[derive(Clone, Debug)]
pub struct Pending {
    pub rtype: ResourceType,
    pub namespace: Option<String>,
    pub name: String,
    /// Its references as they should end up: the ones remapped when it was written,
    /// and the waiting ones still with their source uid.
    pub refs: Vec<Value>,
    /// Source uids among `refs` not remapped yet.
    pub waiting: Vec<String>,
}

/// What `OwnerLinks::rewrite` did to one object's references.
#[derive(Debug, PartialEq, Eq)]
pub enum Rewritten {
    /// Nothing waits: the references written are final.
    Done,
    /// These source uids wait for their owners (see `Pending`), with every reference
    /// the object should end up with.
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

    /// The references of `pending` once every owner it waits for is known (or, with
    /// `last`, the ones known by the end of the restore); `None` while one still waits,
    /// or when none became known.
    pub fn resolve(&self, pending: &Pending, last: bool) -> Option<Vec<Value>> {
        let known: Vec<bool> = pending
            .waiting
            .iter()
            .map(|uid| self.target_of(uid).is_some())
            .collect();
        if !last && known.iter().any(|k| !k) {
            return None;
        }
        if !known.iter().any(|k| *k) {
            return None;
        }
        let refs: Vec<Value> = pending
            .refs
            .iter()
            .filter_map(|r| {
                let uid = r.get("uid").and_then(Value::as_str)?;
                if !pending.waiting.iter().any(|w| w == uid) {
                    return Some(r.clone());
                }
                let target = self.target_of(uid)?;
                let mut r = r.clone();
                r["uid"] = Value::String(target);
                Some(r)
            })
            .collect();
        Some(refs)
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
        // Written now with the reference it can have.
        assert_eq!(o["metadata"]["ownerReferences"], json!([owner("A", "t-a")]));
        assert_eq!(waiting, vec!["u-b".to_string()]);
        let pending = Pending {
            rtype: ResourceType {
                group: String::new(),
                version: "v1".into(),
                resource: "configmaps".into(),
                kind: "ConfigMap".into(),
                namespaced: true,
            },
            namespace: Some("shop".into()),
            name: "settings".into(),
            refs,
            waiting,
        };
        assert_eq!(links.resolve(&pending, false), None);
        assert_eq!(links.resolve(&pending, true), None, "nothing new is known");
        links.found("u-b", "t-b");
        assert_eq!(
            links.resolve(&pending, false),
            Some(vec![owner("A", "t-a"), owner("B", "t-b")])
        );
    }

    #[test]
    fn at_the_end_the_owners_that_came_are_linked_and_the_others_left_out() {
        let links = OwnerLinks::new(["u-a".to_string(), "u-b".to_string()].into());
        let mut o = owned_by(json!([owner("A", "u-a"), owner("B", "u-b")]));
        let Rewritten::Waiting { refs, waiting } = links.rewrite(&mut o) else {
            panic!("nothing waits");
        };
        assert!(o["metadata"].get("ownerReferences").is_none());
        links.found("u-a", "t-a");
        let pending = Pending {
            rtype: ResourceType {
                group: String::new(),
                version: "v1".into(),
                resource: "configmaps".into(),
                kind: "ConfigMap".into(),
                namespaced: true,
            },
            namespace: Some("shop".into()),
            name: "settings".into(),
            refs,
            waiting,
        };
        assert_eq!(links.resolve(&pending, false), None);
        assert_eq!(links.resolve(&pending, true), Some(vec![owner("A", "t-a")]));
    }
}
