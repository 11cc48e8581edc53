//! The sandbox's objects: an in-memory store with Kubernetes semantics. One
//! cluster-wide resourceVersion counter, uids, creation timestamps, generation (spec
//! changes only), generateName, optimistic concurrency, namespaces that must exist,
//! finalizers, owner-reference garbage collection, namespace deletion that cascades,
//! CRDs that add types, Service cluster IPs, dry-run, and an event feed for watches.
//! Objects are kept as compact JSON text (`stored`) and parsed for each reader; owner
//! and namespace indexes (`index`) keep garbage collection, namespace deletion and the
//! controllers' lookups proportional to what they touch.

mod index;
mod stored;

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::catalog::{Catalog, ResourceType, ServedType, split_api_version};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
use super::time::now_rfc3339;
use index::{Index, ObjectKey, TypeKey};
use stored::Stored;

/// What happened to an object, for watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as watches see it.
#[derive(Clone, Debug)]
pub struct WatchEvent {
    pub kind: EventType,
    pub group: String,
    pub resource: String,
    /// Shared with the store (objects are never changed in place once stored).
    pub object: Arc<Value>,
    pub resource_version: u64,
}

/// Options of a write request.
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions<'a> {
    /// `dryRun=All`: validate and answer, store nothing.
    pub dry_run: bool,
    /// `propagationPolicy=Orphan`: keep dependents when deleting.
    pub orphan: bool,
    /// Who makes the change (`fieldManager`): it then owns the fields it set, in
    /// `managedFields`. `None` records nothing (the simulated controllers, or a
    /// server-side apply, which records its own ownership).
    pub field_manager: Option<&'a str>,
}

/// A list request's filters and paging.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

/// One page of a list (the objects shared with the store, not copied).
#[derive(Clone, Debug)]
pub struct ListPage {
    pub items: Vec<Arc<Value>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

/// One page of a list, its objects as stored (see `Store::list_stored`).
#[derive(Clone, Debug)]
pub struct StoredPage {
    pub items: Vec<Arc<Stored>>,
    pub resource_version: u64,
    pub continue_token: Option<String>,
    pub remaining: Option<usize>,
}

struct Inner {
    /// Shared with readers (`Store::catalog`); copied only when a CRD changes it.
    catalog: Arc<Catalog>,
    /// Stored objects are shared with the history (`Arc`). Changed only through
    /// `store_object`, `take_object` and `drop_type`, which keep `index` in step.
    objects: HashMap<TypeKey, BTreeMap<ObjectKey, Arc<Stored>>>,
    index: Index,
    resource_version: u64,
    /// Continue tokens from before this resourceVersion are expired (410).
    compacted: u64,
    next_cluster_ip: u32,
    uid_seed: u64,
}

/// How many recent changes are kept for watches that start from a resourceVersion.
const HISTORY: usize = 20_000;

/// One change as the history keeps it: the object stays compact (shared with the
/// store while it is the current version).
struct Change {
    kind: EventType,
    group: String,
    resource: String,
    object: Arc<Stored>,
    resource_version: u64,
}

impl Change {
    fn event(&self) -> WatchEvent {
        WatchEvent {
            kind: self.kind,
            group: self.group.clone(),
            resource: self.resource.clone(),
            object: Arc::new(self.object.value()),
            resource_version: self.resource_version,
        }
    }
}

/// The objects of one sandbox cluster.
pub struct Store {
    inner: RwLock<Inner>,
    events: broadcast::Sender<WatchEvent>,
    history: std::sync::Mutex<std::collections::VecDeque<Change>>,
}

impl Default for Store {
    fn default() -> Self {
        Store::new()
    }
}

fn type_key(t: &ServedType) -> TypeKey {
    (t.group.clone(), t.resource.clone())
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(field)?.as_str()
}

/// A DNS-1123 subdomain (most object names).
fn valid_subdomain(name: &str) -> bool {
    let b = name.as_bytes();
    let alnum = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= 253
        && b.first().is_some_and(alnum)
        && b.last().is_some_and(alnum)
        && b.iter().all(|c| alnum(c) || *c == b'-' || *c == b'.')
}

/// A DNS-1123 label (namespace names).
fn valid_label(name: &str) -> bool {
    valid_subdomain(name) && name.len() <= 63 && !name.contains('.')
}

impl Store {
    /// A store holding the namespaces every cluster has.
    pub fn new() -> Store {
        let (events, _) = broadcast::channel(8192);
        let store = Store {
            inner: RwLock::new(Inner {
                catalog: Arc::default(),
                objects: HashMap::new(),
                index: Index::default(),
                resource_version: 1,
                compacted: 0,
                next_cluster_ip: 1,
                uid_seed: 0x5eed_0000_0000_0000 ^ u64::from(std::process::id()),
            }),
            events,
            history: std::sync::Mutex::new(std::collections::VecDeque::with_capacity(HISTORY)),
        };
        let catalog = store.catalog();
        if let Some(ns) = catalog.by_path("", "v1", "namespaces") {
            for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                let _ = store.create(ns, None, json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": name } }), WriteOptions::default());
            }
        }
        // What a fresh cluster has besides: the API's own Service and one Ready node.
        if let Some(svc) = catalog.by_path("", "v1", "services") {
            let kubernetes = json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": { "name": "kubernetes", "labels": { "component": "apiserver", "provider": "kubernetes" } },
                "spec": { "clusterIP": "10.96.0.1", "ports": [ { "name": "https", "port": 443, "targetPort": 6443, "protocol": "TCP" } ] },
            });
            let _ = store.create(svc, Some("default"), kubernetes, WriteOptions::default());
        }
        if let Some(nodes) = catalog.by_path("", "v1", "nodes") {
            let node = json!({
                "apiVersion": "v1", "kind": "Node",
                "metadata": { "name": "sandbox", "labels": { "kubernetes.io/hostname": "sandbox", "kubernetes.io/os": "linux", "node-role.kubernetes.io/control-plane": "" } },
                "spec": {},
            });
            if store
                .create(nodes, None, node, WriteOptions::default())
                .is_ok()
            {
                let _ = store.update_status(nodes, None, "sandbox", |n| {
                    n["status"] = json!({
                        "conditions": [ { "type": "Ready", "status": "True", "reason": "KubeletReady", "message": "the sandbox node is always ready" } ],
                        "nodeInfo": { "kubeletVersion": format!("v{}.{}.0", super::discovery::MAJOR, super::discovery::MINOR), "operatingSystem": "linux", "architecture": "amd64" },
                        "capacity": { "cpu": "8", "memory": "32Gi", "pods": "110" },
                        "allocatable": { "cpu": "8", "memory": "32Gi", "pods": "110" },
                    });
                    Ok(())
                }, WriteOptions::default());
            }
        }
        store
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The types served now (a snapshot: CRDs created later are not in it).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.read().catalog.clone()
    }

    /// The current resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.read().resource_version
    }

    /// A feed of every change after `since` (a resourceVersion): the kept changes
    /// newer than it, then the live feed. `None` when `since` is older than what is
    /// kept (the watch must start over: 410 Gone).
    pub fn watch_from(
        &self,
        since: u64,
    ) -> Option<(Vec<WatchEvent>, broadcast::Receiver<WatchEvent>)> {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = history.front().map_or(u64::MAX, |e| e.resource_version);
        if history.len() >= HISTORY && since + 1 < oldest {
            return None;
        }
        let backlog = history
            .iter()
            .filter(|e| e.resource_version > since)
            .map(Change::event)
            .collect();
        Some((backlog, self.events.subscribe()))
    }

    /// Expires every continue token issued so far (as etcd compaction does).
    pub fn compact(&self) {
        let mut inner = self.write();
        inner.compacted = inner.resource_version + 1;
    }

    /// Number of objects stored (all types).
    pub fn len(&self) -> usize {
        self.read().objects.values().map(BTreeMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, t: &ServedType, ns: Option<&str>, name: &str) -> Result<Value, ApiError> {
        self.stored(t, ns, name)
            .map(|o| o.value())
            .ok_or_else(|| ApiError::not_found(&t.qualified(), name))
    }

    /// Whether the object exists (without reading it).
    pub fn contains(&self, t: &ServedType, ns: Option<&str>, name: &str) -> bool {
        self.stored(t, ns, name).is_some()
    }

    fn stored(&self, t: &ServedType, ns: Option<&str>, name: &str) -> Option<Arc<Stored>> {
        let inner = self.read();
        inner
            .objects
            .get(&type_key(t))?
            .get(&(ns.unwrap_or("").to_string(), name.to_string()))
            .cloned()
    }

    /// The objects of type `t` in namespace `ns` whose ownerReferences name the owner
    /// `uid` (in name order), found through the owner index.
    pub fn owned(&self, t: &ServedType, ns: Option<&str>, uid: &str) -> Vec<Value> {
        let found: Vec<Arc<Stored>> = {
            let inner = self.read();
            let (tk, ns) = (type_key(t), ns.unwrap_or(""));
            let Some(all) = inner.objects.get(&tk) else {
                return Vec::new();
            };
            inner
                .index
                .owned_by(uid)
                .filter(|(t, (o_ns, _))| *t == tk && o_ns == ns)
                .filter_map(|(_, key)| all.get(key).cloned())
                .collect()
        };
        found.iter().map(|o| o.value()).collect()
    }

    /// The (namespace, name) of every object of type `t`, in that order.
    pub fn keys(&self, t: &ServedType) -> Vec<(String, String)> {
        let inner = self.read();
        inner
            .objects
            .get(&type_key(t))
            .map(|all| all.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn list(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        q: &ListQuery,
    ) -> Result<ListPage, ApiError> {
        let page = self.list_stored(t, ns, q)?;
        Ok(ListPage {
            items: page.items.iter().map(|obj| Arc::new(obj.value())).collect(),
            resource_version: page.resource_version,
            continue_token: page.continue_token,
            remaining: page.remaining,
        })
    }

    /// One page of a list as the store holds it (JSON text), for answers that send
    /// the objects as they are: no parsing and writing again.
    pub fn list_stored(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        q: &ListQuery,
    ) -> Result<StoredPage, ApiError> {
        let inner = self.read();
        let rv = inner.resource_version;
        let start_after = match &q.continue_token {
            Some(token) => {
                let (token_rv, key) = decode_continue(token)
                    .ok_or_else(|| ApiError::bad_request("invalid continue token"))?;
                if token_rv < inner.compacted {
                    return Err(ApiError::expired(
                        "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                    ));
                }
                Some(key)
            }
            None => None,
        };
        let empty = BTreeMap::new();
        let all = inner.objects.get(&type_key(t)).unwrap_or(&empty);
        // Keys sort by (namespace, name): one namespace is one contiguous range.
        let lower = match (&start_after, ns) {
            (Some(key), _) => Bound::Excluded(key.clone()),
            (None, Some(n)) => Bound::Included((n.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let unfiltered =
            q.labels == LabelSelector::default() && q.fields == FieldSelector::default();
        let mut matching = all
            .range((lower, Bound::Unbounded))
            .skip_while(|((o_ns, _), _)| ns.is_some_and(|n| o_ns.as_str() < n))
            .take_while(|((o_ns, _), _)| ns.is_none_or(|n| n == o_ns))
            .filter(|((o_ns, name), obj)| {
                unfiltered || {
                    let selectable = obj.selectable(o_ns, name);
                    q.labels.matches(&selectable) && q.fields.matches(&selectable)
                }
            });
        let limit = q.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let page: Vec<(&ObjectKey, &Arc<Stored>)> = matching.by_ref().take(limit).collect();
        let remaining = if page.len() == limit {
            matching.count()
        } else {
            0
        };
        let (continue_token, remaining) = match page.last() {
            Some((key, _)) if remaining > 0 => (Some(encode_continue(rv, key)), Some(remaining)),
            _ => (None, None),
        };
        let items: Vec<Arc<Stored>> = page.into_iter().map(|(_, obj)| obj.clone()).collect();
        drop(inner);
        Ok(StoredPage {
            items,
            resource_version: rv,
            continue_token,
            remaining,
        })
    }

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

    fn populate_namespace(&self, ns: &str) {
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

    fn create_one(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        mut obj: Value,
        opts: WriteOptions<'_>,
    ) -> Result<Value, ApiError> {
        let mut inner = self.write();
        check_type(t, &obj)?;
        super::validation::on_create(t, &obj)?;
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
            super::apply::record_update(None, &mut obj, manager, &t.api_version());
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
            super::apply::record_update(Some(&before), &mut obj, manager, &t.api_version());
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
        super::validation::on_update(t, &before, &obj)?;
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
    fn put(
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

    fn mark_deleted(
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
    fn mark_deleted_with(
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

    fn delete_namespace(&self, t: &ServedType, name: &str) -> Result<Value, ApiError> {
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
    fn names_in(&self, t: &ServedType, ns: &str) -> Vec<String> {
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
    fn finish_namespace(&self, name: &str) {
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
    fn remove_now(
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
    fn dependents(&self, uid: &str, orphan: bool) {
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

    /// Records a change (`stored` and `object` are the same object, compact and
    /// parsed) and tells the watches. Called with the store locked, so changes leave in
    /// resourceVersion order.
    fn emit(
        &self,
        kind: EventType,
        t: &ServedType,
        stored: Arc<Stored>,
        object: Arc<Value>,
        rv: u64,
    ) {
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        if history.len() == HISTORY {
            history.pop_front();
        }
        history.push_back(Change {
            kind,
            group: t.group.clone(),
            resource: t.resource.clone(),
            object: stored,
            resource_version: rv,
        });
        let event = WatchEvent {
            kind,
            group: t.group.clone(),
            resource: t.resource.clone(),
            object,
            resource_version: rv,
        };
        // No receiver is fine: nobody is watching.
        let _ = self.events.send(event);
    }
}

impl Inner {
    fn uid(&mut self) -> String {
        self.uid_seed = self
            .uid_seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let a = self.uid_seed;
        let b = a.rotate_left(29) ^ 0x9E37_79B9_7F4A_7C15;
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            (a >> 32) as u32,
            (a >> 16) as u16,
            a as u16 & 0x0fff,
            (b as u16 & 0x3fff) | 0x8000,
            b >> 16 & 0xffff_ffff_ffff
        )
    }

    /// Five lowercase letters or digits, as generateName suffixes have.
    fn random_suffix(&mut self) -> String {
        const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut n = self
            .uid()
            .bytes()
            .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
        (0..5)
            .map(|_| {
                let c = CHARS[(n % CHARS.len() as u64) as usize] as char;
                n /= CHARS.len() as u64;
                c
            })
            .collect()
    }

    fn check_namespace_open(&self, ns: &str) -> Result<(), ApiError> {
        let ns_obj = self
            .objects
            .get(&(String::new(), "namespaces".to_string()))
            .and_then(|m| m.get(&(String::new(), ns.to_string())))
            .ok_or_else(|| ApiError::not_found("namespaces", ns))?;
        if ns_obj.deleting() {
            return Err(ApiError::forbidden(format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            )));
        }
        Ok(())
    }

    /// What the API server fills in on create.
    fn defaults_on_create(&mut self, t: &ServedType, obj: &mut Value) -> Result<(), ApiError> {
        super::defaults::apply(t, obj);
        super::defaults::normalize(t, obj);
        match (t.group.as_str(), t.resource.as_str()) {
            ("", "namespaces") => {
                obj["spec"] = json!({ "finalizers": ["kubernetes"] });
                obj["status"] = json!({ "phase": "Active" });
                if let Some(m) = obj.get_mut("metadata") {
                    m.as_object_mut().map(|m| m.remove("generation"));
                }
                let name = meta_str(obj, "name").unwrap_or("").to_string();
                let labels = metadata_mut(obj).entry("labels").or_insert(json!({}));
                if let Some(l) = labels.as_object_mut() {
                    l.insert("kubernetes.io/metadata.name".into(), json!(name));
                }
            }
            ("", "services") => {
                let spec = obj.get("spec").cloned().unwrap_or(json!({}));
                let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
                let ip = spec.get("clusterIP").and_then(Value::as_str).unwrap_or("");
                if !external && ip.is_empty() {
                    let n = self.next_cluster_ip;
                    self.next_cluster_ip += 1;
                    let ip = format!("10.96.{}.{}", n / 250, n % 250 + 1);
                    obj["spec"]["clusterIP"] = json!(ip);
                    obj["spec"]["clusterIPs"] = json!([ip]);
                } else if !external && obj["spec"].get("clusterIPs").is_none() {
                    obj["spec"]["clusterIPs"] = json!([ip]);
                }
                if obj["spec"].get("type").is_none() {
                    obj["spec"]["type"] = json!("ClusterIP");
                }
                self.allocate_node_ports(obj, None)?;
            }
            ("batch", "jobs") => super::jobs::generate_selector(obj)?,
            ("", "pods") => self.admit_pod(obj)?,
            ("apiextensions.k8s.io", "customresourcedefinitions") => {
                crd_types(obj)?;
                obj["status"] = crd_status(obj);
            }
            _ => {}
        }
        Ok(())
    }

    /// Fields the server allocated stay as they were (a Service keeps its clusterIP).
    fn keep_allocations(
        &self,
        t: &ServedType,
        before: &Value,
        obj: &mut Value,
    ) -> Result<(), ApiError> {
        // Defaults return when an update drops a defaulted field (as on a real server).
        super::defaults::apply(t, obj);
        super::defaults::normalize(t, obj);
        if t.group.is_empty() && t.resource == "services" {
            let old = before.pointer("/spec/clusterIP").cloned();
            match (old, obj.pointer("/spec/clusterIP").cloned()) {
                (Some(old), None) => {
                    obj["spec"]["clusterIP"] = old;
                    if let Some(ips) = before.pointer("/spec/clusterIPs") {
                        obj["spec"]["clusterIPs"] = ips.clone();
                    }
                }
                (Some(old), Some(new)) if old != new && new != json!("") => {
                    let name = meta_str(obj, "name").unwrap_or("").to_string();
                    return Err(ApiError::invalid(
                        "Service",
                        &name,
                        &[(
                            "spec.clusterIPs[0]",
                            "Invalid value: field is immutable".into(),
                        )],
                    ));
                }
                _ => {}
            }
        }
        if t.group.is_empty() && t.resource == "services" {
            self.allocate_node_ports(obj, Some(before))?;
        }
        if t.group == "apiextensions.k8s.io" && t.resource == "customresourcedefinitions" {
            crd_types(obj)?;
            obj["status"] = crd_status(obj);
        }
        Ok(())
    }

    /// What the Priority and RuntimeClass admission plugins do to a new Pod: its
    /// PriorityClass must exist (its value becomes the pod's priority; 0 without one),
    /// and so must its RuntimeClass.
    fn admit_pod(&self, obj: &mut Value) -> Result<(), ApiError> {
        let name = meta_str(obj, "name").unwrap_or("").to_string();
        let stored = |group: &str, plural: &str, key: &str| {
            self.objects
                .get(&(group.to_string(), plural.to_string()))
                .and_then(|m| m.get(&(String::new(), key.to_string())))
                .map(|s| s.value())
        };
        let class = obj
            .pointer("/spec/priorityClassName")
            .and_then(Value::as_str)
            .map(str::to_string);
        let (priority, preemption) = match class {
            Some(class) => {
                let Some(pc) = stored("scheduling.k8s.io", "priorityclasses", &class) else {
                    return Err(ApiError::forbidden(format!(
                        "pods \"{name}\" is forbidden: no PriorityClass with name {class} was found"
                    )));
                };
                (
                    pc.get("value").cloned().unwrap_or(json!(0)),
                    pc.get("preemptionPolicy")
                        .cloned()
                        .unwrap_or(json!("PreemptLowerPriority")),
                )
            }
            None => (json!(0), json!("PreemptLowerPriority")),
        };
        if let Some(runtime) = obj
            .pointer("/spec/runtimeClassName")
            .and_then(Value::as_str)
            && stored("node.k8s.io", "runtimeclasses", runtime).is_none()
        {
            return Err(ApiError::forbidden(format!(
                "pods \"{name}\" is forbidden: pod rejected: RuntimeClass \"{runtime}\" not found"
            )));
        }
        if let Some(Value::Object(spec)) = obj.get_mut("spec") {
            spec.entry("priority").or_insert(priority);
            spec.entry("preemptionPolicy").or_insert(preemption);
        }
        Ok(())
    }

    /// Gives a Service the node ports it needs, none that another Service holds.
    fn allocate_node_ports(&self, obj: &mut Value, before: Option<&Value>) -> Result<(), ApiError> {
        let ns = meta_str(obj, "namespace").unwrap_or("").to_string();
        let name = meta_str(obj, "name").unwrap_or("").to_string();
        let mut in_use = std::collections::HashSet::new();
        if let Some(services) = self.objects.get(&(String::new(), "services".to_string())) {
            for ((other_ns, other), stored) in services {
                if (other_ns, other) != (&ns, &name) {
                    in_use.extend(super::node_ports::held_by(&stored.value()));
                }
            }
        }
        super::node_ports::allocate(obj, before, &in_use).map_err(|errors| {
            let causes: Vec<(&str, String)> = errors
                .iter()
                .map(|(f, m)| (f.as_str(), m.clone()))
                .collect();
            ApiError::invalid("Service", &name, &causes)
        })
    }

    /// Stores `stored` (the compact form of `obj`) under `t`/`key`, replacing what
    /// was there, and indexes it.
    fn store_object(&mut self, t: TypeKey, key: ObjectKey, stored: Arc<Stored>, obj: &Value) {
        let objects = self.objects.entry(t.clone()).or_default();
        let replacing = objects.insert(key.clone(), stored).is_some();
        self.index.insert(&t, &key, replacing, obj);
    }

    /// Removes the object under `t`/`key` from the objects and the indexes.
    fn take_object(&mut self, t: &TypeKey, key: &ObjectKey) -> Option<Arc<Stored>> {
        let old = self.objects.get_mut(t)?.remove(key)?;
        self.index.remove(t, key);
        Some(old)
    }

    /// Removes every object of type `t` (its CRD is gone).
    fn drop_type(&mut self, t: &TypeKey) {
        for key in self
            .objects
            .remove(t)
            .into_iter()
            .flat_map(BTreeMap::into_keys)
        {
            self.index.remove(t, &key);
        }
    }

    /// Keeps the catalog in step with CRDs.
    fn after_write(&mut self, t: &ServedType, obj: &Value) {
        if t.group == "apiextensions.k8s.io"
            && t.resource == "customresourcedefinitions"
            && let Ok(types) = crd_types(obj)
        {
            let catalog = Arc::make_mut(&mut self.catalog);
            for rt in types {
                catalog.add(rt);
            }
        }
    }

    fn after_delete(&mut self, t: &ServedType, obj: &Value) {
        if t.group == "apiextensions.k8s.io"
            && t.resource == "customresourcedefinitions"
            && let Ok(types) = crd_types(obj)
        {
            for rt in types {
                if rt.custom {
                    self.drop_type(&type_key(&rt));
                }
                Arc::make_mut(&mut self.catalog).remove_custom(&rt.group, &rt.resource);
            }
        }
    }
}

/// The types a CRD serves (one per served version).
fn crd_types(crd: &Value) -> Result<Vec<ServedType>, ApiError> {
    let name = meta_str(crd, "name").unwrap_or("").to_string();
    let spec = crd.get("spec").ok_or_else(|| {
        ApiError::invalid(
            "CustomResourceDefinition",
            &name,
            &[("spec", "Required value".into())],
        )
    })?;
    let s = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (group, plural, kind) = (s("/group"), s("/names/plural"), s("/names/kind"));
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            &name,
            &[(
                "spec",
                "Required value: group, names.resource and names.kind are required".into(),
            )],
        ));
    }
    if name != format!("{plural}.{group}") {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            &name,
            &[(
                "metadata.name",
                format!("Invalid value: \"{name}\": must be spec.names.resource+\".\"+spec.group"),
            )],
        ));
    }
    let singular = match s("/names/singular") {
        x if x.is_empty() => kind.to_lowercase(),
        x => x,
    };
    let short_names: Vec<String> = spec
        .pointer("/names/shortNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let namespaced = s("/scope") != "Cluster";
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|v| Some((v.get("name").and_then(Value::as_str)?, v)))
        .map(|(version, v)| ServedType {
            rtype: ResourceType {
                group: group.clone(),
                version: version.to_string(),
                resource: plural.clone(),
                kind: kind.clone(),
                namespaced,
            },
            subresources: ["status", "scale"]
                .into_iter()
                .filter(|s| v.pointer(&format!("/subresources/{s}")).is_some())
                .collect(),
            singular: singular.clone(),
            short_names: short_names.clone(),
            custom: true,
        })
        .collect())
}

/// A CRD's status: names accepted and established.
fn crd_status(crd: &Value) -> Value {
    let now = now_rfc3339();
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "conditions": [
            { "type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now },
            { "type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now },
        ],
        "storedVersions": crd.pointer("/spec/versions").and_then(Value::as_array).map(|vs| vs.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).filter_map(|v| v.get("name").cloned()).collect::<Vec<_>>()).unwrap_or_default(),
    })
}

/// The object's `kind` and `apiVersion` must be those of the URL's type.
fn check_type(t: &ServedType, obj: &Value) -> Result<(), ApiError> {
    if !obj.is_object() {
        return Err(ApiError::bad_request("the body must be a JSON object"));
    }
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, _) = split_api_version(api_version);
    if kind != t.kind || group != t.group {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({}) or the kind ({kind}) is not {}",
            t.api_version(),
            t.kind
        )));
    }
    Ok(())
}

/// The namespace an object goes in: the URL's, which the body may repeat.
fn namespace_of(
    t: &ServedType,
    url_ns: Option<&str>,
    obj: &Value,
) -> Result<Option<String>, ApiError> {
    if !t.namespaced {
        return Ok(None);
    }
    let body_ns = meta_str(obj, "namespace").filter(|n| !n.is_empty());
    match (url_ns, body_ns) {
        (Some(u), Some(b)) if u != b => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        (Some(u), _) => Ok(Some(u.to_string())),
        (None, Some(b)) => Ok(Some(b.to_string())),
        (None, None) => Err(ApiError::bad_request(format!(
            "{} is namespaced: a namespace is required",
            t.qualified()
        ))),
    }
}

fn metadata_mut(obj: &mut Value) -> &mut serde_json::Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    let meta = &mut obj["metadata"];
    if !meta.is_object() {
        *meta = json!({});
    }
    match meta {
        Value::Object(m) => m,
        _ => unreachable!("metadata was made an object just above"),
    }
}

fn encode_continue(rv: u64, key: &ObjectKey) -> String {
    let raw = format!("{rv}\n{}\n{}", key.0, key.1);
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Option<(u64, ObjectKey)> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let raw = String::from_utf8(bytes?).ok()?;
    let mut parts = raw.splitn(3, '\n');
    let rv = parts.next()?.parse().ok()?;
    Some((rv, (parts.next()?.to_string(), parts.next()?.to_string())))
}

/// What a change of bumps an object's `generation`, for the kinds that have one: its
/// spec (its webhooks, for a webhook configuration); `None` for kinds a real API
/// server gives no generation (Services, claims and volumes, Nodes, kinds without a
/// spec).
fn generation_of<'v>(t: &ServedType, obj: &'v Value) -> Option<&'v Value> {
    match (t.group.as_str(), t.resource.as_str()) {
        ("", "services" | "persistentvolumeclaims" | "persistentvolumes" | "nodes") => None,
        ("admissionregistration.k8s.io", p) if p.ends_with("webhookconfigurations") => {
            Some(obj.get("webhooks").unwrap_or(&Value::Null))
        }
        _ => obj.get("spec"),
    }
}
