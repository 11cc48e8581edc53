//! Indexes the sandbox's store keeps beside its objects, so that the work of one
//! change stays proportional to that change and not to the store: the objects that
//! name each owner in their `ownerReferences` (for the garbage collector and the
//! simulated controllers) and how many objects each namespace holds (a Terminating
//! namespace goes once it is empty).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

/// A resource type in the store: (group, plural).
pub type TypeKey = (String, String);
/// An object of one type: (namespace, name); the namespace is empty when
/// cluster-scoped.
pub type ObjectKey = (String, String);
/// One stored object.
pub type Entry = (TypeKey, ObjectKey);

/// The indexes of one store (kept under the store's lock).
#[derive(Debug, Default)]
pub struct Index {
    /// Owner uid → the objects whose ownerReferences name it.
    owners: HashMap<String, BTreeSet<Entry>>,
    /// The reverse: object → the owner uids it names (objects with owners only).
    owned: HashMap<Entry, Vec<String>>,
    /// Namespace → how many objects it holds.
    namespaces: HashMap<String, usize>,
}

impl Index {
    /// Records that `obj` is stored under `t`/`key`, new or `replacing` an object.
    pub fn insert(&mut self, t: &TypeKey, key: &ObjectKey, replacing: bool, obj: &Value) {
        if !replacing && !key.0.is_empty() {
            *self.namespaces.entry(key.0.clone()).or_default() += 1;
        }
        let entry = (t.clone(), key.clone());
        let after = owner_uids(obj);
        let before = self.owned.get(&entry).cloned().unwrap_or_default();
        if before == after {
            return;
        }
        for uid in before.iter().filter(|u| !after.contains(u)) {
            self.forget_owner(uid, &entry);
        }
        for uid in after.iter().filter(|u| !before.contains(u)) {
            self.owners
                .entry(uid.clone())
                .or_default()
                .insert(entry.clone());
        }
        if after.is_empty() {
            self.owned.remove(&entry);
        } else {
            self.owned.insert(entry, after);
        }
    }

    /// Records that the object stored under `t`/`key` is gone.
    pub fn remove(&mut self, t: &TypeKey, key: &ObjectKey) {
        if let Some(n) = self.namespaces.get_mut(&key.0) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.namespaces.remove(&key.0);
            }
        }
        let entry = (t.clone(), key.clone());
        for uid in self.owned.remove(&entry).unwrap_or_default() {
            self.forget_owner(&uid, &entry);
        }
    }

    fn forget_owner(&mut self, uid: &str, entry: &Entry) {
        if let Some(owned) = self.owners.get_mut(uid) {
            owned.remove(entry);
            if owned.is_empty() {
                self.owners.remove(uid);
            }
        }
    }

    /// The objects whose ownerReferences name `uid`, in (type, namespace, name) order.
    pub fn owned_by(&self, uid: &str) -> impl Iterator<Item = &Entry> {
        self.owners.get(uid).into_iter().flatten()
    }

    /// How many objects namespace `ns` holds.
    pub fn namespace_len(&self, ns: &str) -> usize {
        self.namespaces.get(ns).copied().unwrap_or(0)
    }
}

/// The owner uids an object's ownerReferences name (sorted, without repeats).
fn owner_uids(obj: &Value) -> Vec<String> {
    let mut uids: Vec<String> = obj
        .get("metadata")
        .and_then(|m| m.get("ownerReferences"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("uid")?.as_str())
        .map(str::to_string)
        .collect();
    uids.sort_unstable();
    uids.dedup();
    uids
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn owned(uid: &str) -> Value {
        json!({ "metadata": { "ownerReferences": [ { "uid": uid } ] } })
    }

    #[test]
    fn follows_owner_references_and_namespace_sizes() {
        let mut index = Index::default();
        let t: TypeKey = ("apps".into(), "replicasets".into());
        let key: ObjectKey = ("shop".into(), "web-1".into());
        index.insert(&t, &key, false, &owned("a"));
        assert_eq!(index.owned_by("a").count(), 1);
        assert_eq!(index.namespace_len("shop"), 1);
        index.insert(&t, &key, true, &owned("b"));
        assert_eq!(index.owned_by("a").count(), 0);
        assert_eq!(index.owned_by("b").count(), 1);
        assert_eq!(index.namespace_len("shop"), 1);
        index.remove(&t, &key);
        assert_eq!(index.owned_by("b").count(), 0);
        assert_eq!(index.namespace_len("shop"), 0);
    }
}
