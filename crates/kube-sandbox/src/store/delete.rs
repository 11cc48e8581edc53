//! Deletes: finalizers, namespace deletion that cascades, and garbage collection of
//! dependents (or orphaning them).

use std::sync::Arc;

use serde_json::{Value, json};

use super::{ObjectKey, Stored, meta_str, metadata_mut, type_key};
use crate::catalog::ServedType;
use crate::status::ApiError;
use crate::store::{EventType, Store, WriteOptions};
use crate::time::now_rfc3339;

impl Store {
    /// Deletes an object. With finalizers it is only marked (deletionTimestamp) until
    /// they are removed; a namespace is marked Terminating and its content deleted.
    pub fn delete(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        name: &str,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        let key = (ns.unwrap_or("").to_string(), name.to_string());
        let current = self.get(t, ns, name)?;
        if opts.dry_run {
            return Ok(current);
        }
        let finalizers = current
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty());
        if t.resource == "namespaces" && t.group.is_empty() {
            return self.delete_namespace(t, name);
        }
        if finalizers {
            return self.mark_deleted(t, ns, name);
        }
        self.remove_now(t, &key, opts)
    }

    pub(super) fn mark_deleted(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        name: &str,
    ) -> Result<Value, ApiError> {
        let key = (ns.unwrap_or("").to_string(), name.to_string());
        self.mark_deleted_with(t, &key, |_| {})
    }

    /// Sets an object's deletionTimestamp (unless set), with `edit` changing it further,
    /// at a new resourceVersion.
    pub(super) fn mark_deleted_with(
        &self,
        t: &ServedType,
        key: &ObjectKey,
        edit: impl FnOnce(&mut Value),
    ) -> Result<Value, ApiError> {
        let mut inner = self.write();
        let mut obj = inner
            .objects
            .get(&type_key(t))
            .and_then(|m| m.get(key))
            .map(|o| o.value())
            .ok_or_else(|| ApiError::not_found(&t.qualified(), &key.1))?;
        let rv = inner.resource_version + 1;
        metadata_mut(&mut obj)
            .entry("deletionTimestamp")
            .or_insert(json!(now_rfc3339()));
        edit(&mut obj);
        metadata_mut(&mut obj).insert("resourceVersion".into(), json!(rv.to_string()));
        let stored = self.put(&mut inner, t, key.clone(), obj, EventType::Modified, rv);
        drop(inner);
        Ok(Value::clone(&stored))
    }

    pub(super) fn delete_namespace(&self, t: &ServedType, name: &str) -> Result<Value, ApiError> {
        let marked = self.mark_deleted_with(t, &(String::new(), name.to_string()), |ns| {
            ns["status"] = json!({ "phase": "Terminating" });
        })?;
        // The namespace controller's work: delete everything inside, then the namespace.
        let catalog = self.catalog();
        for rt in catalog.types().iter().filter(|rt| rt.namespaced) {
            let names = self.names_in(rt, name);
            for n in names {
                let _ = self.delete(rt, Some(name), &n, WriteOptions::default());
            }
        }
        self.finish_namespace(name);
        Ok(marked)
    }

    /// The names of the objects of type `t` in namespace `ns` (one range of the
    /// type's map: keys sort by namespace first).
    pub(super) fn names_in(&self, t: &ServedType, ns: &str) -> Vec<String> {
        let inner = self.read();
        let Some(all) = inner.objects.get(&type_key(t)) else {
            return Vec::new();
        };
        all.range((ns.to_string(), String::new())..)
            .take_while(|((o_ns, _), _)| o_ns == ns)
            .map(|((_, n), _)| n.clone())
            .collect()
    }

    /// Removes a Terminating namespace once nothing is left in it.
    pub(super) fn finish_namespace(&self, name: &str) {
        let catalog = self.catalog();
        let Some(ns_type) = catalog.by_path("", "v1", "namespaces") else {
            return;
        };
        let (terminating, empty) = {
            let inner = self.read();
            let terminating = inner
                .objects
                .get(&type_key(ns_type))
                .and_then(|m| m.get(&(String::new(), name.to_string())))
                .is_some_and(|o| o.deleting());
            (terminating, inner.index.namespace_len(name) == 0)
        };
        if terminating && empty {
            let _ = self.remove_now(
                ns_type,
                &(String::new(), name.to_string()),
                WriteOptions::default(),
            );
        }
    }

    /// Removes an object at once, then (unless orphaning) its dependents.
    pub(super) fn remove_now(
        &self,
        t: &ServedType,
        key: &ObjectKey,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        let removed = {
            let mut inner = self.write();
            let rv = inner.resource_version + 1;
            let mut removed = inner
                .take_object(&type_key(t), key)
                .ok_or_else(|| ApiError::not_found(&t.qualified(), &key.1))?
                .value();
            metadata_mut(&mut removed).insert("resourceVersion".into(), json!(rv.to_string()));
            inner.resource_version = rv;
            inner.after_delete(t, &removed);
            let stored = Arc::new(Stored::new(&removed));
            let removed = Arc::new(removed);
            self.emit(EventType::Deleted, t, stored, removed.clone(), rv);
            removed
        };
        let removed = Value::clone(&removed);
        if let Some(uid) = meta_str(&removed, "uid") {
            self.dependents(uid, opts.orphan);
        }
        if !key.0.is_empty() {
            self.finish_namespace(&key.0);
        }
        Ok(removed)
    }

    /// The garbage collector's work for a deleted owner `uid`: delete its dependents
    /// (ownerReferences, through the owner index), or with `orphan` keep them and drop
    /// the reference.
    pub(super) fn dependents(&self, uid: &str, orphan: bool) {
        let catalog = self.catalog();
        let owned: Vec<_> = self.read().index.owned_by(uid).cloned().collect();
        for ((group, plural), (ns, name)) in owned {
            let Some(rt) = catalog
                .types()
                .iter()
                .find(|rt| rt.group == group && rt.resource == plural)
            else {
                continue;
            };
            let ns = (!ns.is_empty()).then_some(ns.as_str());
            if orphan {
                let _ = self.modify(rt, ns, &name, WriteOptions::default(), |o| {
                    if let Some(refs) = o
                        .pointer_mut("/metadata/ownerReferences")
                        .and_then(Value::as_array_mut)
                    {
                        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                    }
                    Ok(())
                });
            } else {
                let _ = self.delete(rt, ns, &name, WriteOptions::default());
            }
        }
    }
}
