//! Writes: creating (with names, uids, defaults and admission), updating, modifying
//! under optimistic concurrency, and the status subresource.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{
    Inner, ObjectKey, Stored, check_type, generation_of, meta_str, metadata_mut, namespace_of,
    type_key, valid_label, valid_subdomain,
};
use crate::catalog::ServedType;
use crate::status::ApiError;
use crate::store::{EventType, Store, WriteOptions};
use crate::time::now_rfc3339;

impl Store {
    /// Creates an object. A new namespace gets what every namespace of a real cluster
    /// has: the `default` ServiceAccount and the `kube-root-ca.crt` ConfigMap.
    pub fn create(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        obj: Value,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        let created = self.create_one(t, ns, obj, opts)?;
        if !opts.dry_run && t.group.is_empty() && t.resource == "namespaces" {
            self.populate_namespace(meta_str(&created, "name").unwrap_or(""));
        }
        Ok(created)
    }

    pub(super) fn populate_namespace(&self, ns: &str) {
        let catalog = self.catalog();
        let content = [
            (
                "serviceaccounts",
                json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "default" } }),
            ),
            (
                "configmaps",
                json!({
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": { "name": "kube-root-ca.crt", "annotations": { "kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters." } },
                    "data": { "ca.crt": "-----BEGIN CERTIFICATE-----\nlifeboat sandbox (not a real certificate)\n-----END CERTIFICATE-----\n" },
                }),
            ),
        ];
        for (plural, obj) in content {
            if let Some(t) = catalog.by_path("", "v1", plural) {
                let _ = self.create_one(t, Some(ns), obj, WriteOptions::default());
            }
        }
    }

    pub(super) fn create_one(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        mut obj: Value,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.write();
        check_type(t, &obj)?;
        crate::validation::on_create(t, &obj)?;
        let ns = namespace_of(t, ns, &obj)?;
        let mut name = meta_str(&obj, "name").unwrap_or("").to_string();
        if name.is_empty() {
            let prefix = meta_str(&obj, "generateName").unwrap_or("").to_string();
            if prefix.is_empty() {
                return Err(ApiError::invalid(
                    &t.kind,
                    "",
                    &[(
                        "metadata.name",
                        "Required value: name or generateName is required".into(),
                    )],
                ));
            }
            name = format!("{prefix}{}", inner.random_suffix());
        }
        let name_ok = if t.resource == "namespaces" {
            valid_label(&name)
        } else {
            valid_subdomain(&name)
        };
        if !name_ok {
            return Err(ApiError::invalid(
                &t.kind,
                &name,
                &[(
                    "metadata.name",
                    format!(
                        "Invalid value: \"{name}\": a lowercase RFC 1123 name must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
                    ),
                )],
            ));
        }
        if let Some(ns) = &ns {
            inner.check_namespace_open(ns)?;
        }
        let key = (ns.clone().unwrap_or_default(), name.clone());
        if inner
            .objects
            .get(&type_key(t))
            .is_some_and(|m| m.contains_key(&key))
        {
            return Err(ApiError::already_exists(&t.qualified(), &name));
        }
        let rv = if opts.dry_run {
            inner.resource_version
        } else {
            inner.resource_version + 1
        };
        {
            let meta = metadata_mut(&mut obj);
            meta.insert("name".into(), json!(name));
            if let Some(ns) = &ns {
                meta.insert("namespace".into(), json!(ns));
            }
            meta.insert("uid".into(), json!(inner.uid()));
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
            meta.insert("creationTimestamp".into(), json!(now_rfc3339()));
            meta.remove("deletionTimestamp");
            meta.remove("selfLink");
        }
        if generation_of(t, &obj).is_some() {
            metadata_mut(&mut obj).insert("generation".into(), json!(1));
        }
        inner.defaults_on_create(t, &mut obj)?;
        if let Some(manager) = opts.field_manager {
            crate::apply::record_update(None, &mut obj, manager, &t.api_version());
        }
        if opts.dry_run {
            return Ok(obj);
        }
        inner.after_write(t, &obj);
        let stored = self.put(&mut inner, t, key, obj, EventType::Added, rv);
        drop(inner);
        Ok(Value::clone(&stored))
    }

    /// Replaces an object (PUT). A resourceVersion in the body must be the current one.
    pub fn update(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        name: &str,
        obj: Value,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        self.modify(t, ns, name, opts, |current| {
            check_type(t, &obj)?;
            if meta_str(&obj, "name").is_some_and(|n| n != name) {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({}) does not match the name on the URL ({name})",
                    meta_str(&obj, "name").unwrap_or("")
                )));
            }
            if let Some(rv) = meta_str(&obj, "resourceVersion")
                && Some(rv) != meta_str(current, "resourceVersion")
            {
                return Err(ApiError::conflict(&t.qualified(), name));
            }
            let status = current.get("status").cloned();
            *current = obj;
            // The main resource never changes status when the type has a status
            // subresource; PUT .../status does.
            if t.subresources.contains(&"status") {
                match status {
                    Some(s) => current["status"] = s,
                    None => {
                        if let Some(m) = current.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            Ok(())
        })
    }

    /// Changes only `status` (PUT or PATCH of the `/status` subresource).
    pub fn update_status(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        name: &str,
        change: impl FnOnce(&mut Value) -> Result<(), ApiError>,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        self.modify(t, ns, name, opts, |current| {
            let mut next = current.clone();
            change(&mut next)?;
            current["status"] = next.get("status").cloned().unwrap_or(Value::Null);
            if current["status"].is_null()
                && let Some(m) = current.as_object_mut()
            {
                m.remove("status");
            }
            Ok(())
        })
    }

    /// Applies `change` to the stored object (patches use this), keeping what the
    /// server owns (uid, creationTimestamp, ...), bumping resourceVersion and, when
    /// the spec changed, generation.
    pub fn modify(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        name: &str,
        opts: WriteOptions<'_>,
        change: impl FnOnce(&mut Value) -> Result<(), ApiError>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.write();
        let key = (ns.unwrap_or("").to_string(), name.to_string());
        let before = inner
            .objects
            .get(&type_key(t))
            .and_then(|m| m.get(&key))
            .map(|o| o.value())
            .ok_or_else(|| ApiError::not_found(&t.qualified(), name))?;
        let mut obj = before.clone();
        change(&mut obj)?;
        check_type(t, &obj)?;
        if let Some(manager) = opts.field_manager {
            // What the client sent as managedFields is the server's to keep.
            match before.pointer("/metadata/managedFields") {
                Some(m) => metadata_mut(&mut obj).insert("managedFields".into(), m.clone()),
                None => metadata_mut(&mut obj).remove("managedFields"),
            };
            crate::apply::record_update(Some(&before), &mut obj, manager, &t.api_version());
        }
        let rv = if opts.dry_run {
            inner.resource_version
        } else {
            inner.resource_version + 1
        };
        {
            let meta = metadata_mut(&mut obj);
            for field in [
                "name",
                "namespace",
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "generation",
            ] {
                match before.get("metadata").and_then(|m| m.get(field)) {
                    Some(v) => meta.insert(field.into(), v.clone()),
                    None => meta.remove(field),
                };
            }
            meta.insert("resourceVersion".into(), json!(rv.to_string()));
        }
        if generation_of(t, &obj).is_some() && generation_of(t, &obj) != generation_of(t, &before) {
            let generation = before
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                + 1;
            metadata_mut(&mut obj).insert("generation".into(), json!(generation));
        }
        inner.keep_allocations(t, &before, &mut obj)?;
        crate::validation::on_update(t, &before, &obj)?;
        if opts.dry_run {
            return Ok(obj);
        }
        inner.resource_version = rv;
        // An object being deleted goes once its last finalizer is removed.
        let finalized = obj.pointer("/metadata/deletionTimestamp").is_some()
            && obj
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_none_or(Vec::is_empty);
        if finalized {
            drop(inner);
            return self.remove_now(t, &key, opts).map(|_| obj);
        }
        inner.after_write(t, &obj);
        let stored = self.put(&mut inner, t, key, obj, EventType::Modified, rv);
        drop(inner);
        Ok(Value::clone(&stored))
    }

    /// Stores an object at resourceVersion `rv` (the caller holds the lock) and tells
    /// the watches. The caller copies the result once the lock is released.
    pub(super) fn put(
        &self,
        inner: &mut Inner,
        t: &ServedType,
        key: ObjectKey,
        obj: Value,
        kind: EventType,
        rv: u64,
    ) -> Arc<Value> {
        inner.resource_version = rv;
        let stored = Arc::new(Stored::new(&obj));
        inner.store_object(type_key(t), key, stored.clone(), &obj);
        let shared = Arc::new(obj);
        self.emit(kind, t, stored, shared.clone(), rv);
        shared
    }
}
