//! The sandbox's objects: an in-memory store with Kubernetes semantics. One
//! cluster-wide resourceVersion counter, uids, creation timestamps, generation (spec
//! changes only), generateName, optimistic concurrency, namespaces that must exist,
//! finalizers, owner-reference garbage collection, namespace deletion that cascades,
//! CRDs that add types, Service cluster IPs, dry-run, and an event feed for watches.
//! Objects are kept as compact JSON text (`stored`) and parsed for each reader; owner
//! and namespace indexes (`index`) keep garbage collection, namespace deletion and the
//! controllers' lookups proportional to what they touch.

mod crd;
mod delete;
mod index;
mod inner;
mod stored;
mod write;

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::catalog::{Catalog, ServedType, split_api_version};
use super::selector::{FieldSelector, LabelSelector};
use super::status::ApiError;
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
