//! The sandbox's simulated controllers: after a short, configurable delay they bring
//! each object's status to what a healthy cluster would report. Deployments roll out
//! (through ReplicaSets they own), StatefulSets, DaemonSets and ReplicaSets report
//! ready replicas, Jobs run their simulated pods and finish (see `jobs`), PVCs bind
//! to a volume as the real binder does, VolumeSnapshots become readyToUse. One small
//! function per kind; each is idempotent, so a status write that changes nothing stops
//! the loop. And as a real garbage collector: an object every one of whose owners is
//! absent (no object of that kind and name with that uid in its namespace) is deleted.
//!
//! One task follows the store's change feed: a change to a watched object queues that
//! object (once, however many changes arrive meanwhile) to be reconciled `delay` after
//! the change, in the order the changes came. A reconcile reads the object and what it
//! owns (through the store's owner index) and writes only what differs, so the work of
//! a change is proportional to that change, not to the store, and a settled store costs
//! nothing. A feed that fell behind queues every watched object again (a resync).

mod volumes;
mod workloads;

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use super::catalog::ServedType;
use super::store::{EventType, Store, WatchEvent, WriteOptions};
use super::time::now_rfc3339;
use volumes::{claim, snapshot};
use workloads::{
    daemon_set_status, deployment, replica_set_status, stateful_set_claims, stateful_set_status,
};

/// Kinds the controllers look after: (group, plural).
const WATCHED: &[(&str, &str)] = &[
    ("apps", "deployments"),
    ("apps", "replicasets"),
    ("apps", "statefulsets"),
    ("apps", "daemonsets"),
    ("batch", "jobs"),
    ("", "persistentvolumeclaims"),
    ("snapshot.storage.k8s.io", "volumesnapshots"),
];

/// Starts the controllers for `store`; they stop when the store's last handle goes.
pub fn spawn(store: Arc<Store>, delay: Duration) {
    let Some((_, feed)) = store.watch_from(store.resource_version()) else {
        return;
    };
    let mut controllers = Controllers::new(&store, delay);
    // Objects seeded before the controllers started get reconciled too.
    controllers.resync(&store);
    drop(store);
    tokio::spawn(controllers.run(feed));
}

/// An object to reconcile: its kind (a position in `WATCHED`), namespace and name.
type Key = (usize, String, String);

/// The controllers' state: the watched types and the objects waiting for their turn.
struct Controllers {
    store: Weak<Store>,
    delay: Duration,
    /// The type of each kind of `WATCHED` (`None` when the catalog has none).
    types: Vec<Option<ServedType>>,
    /// Objects in the order their changes came, each with the time it is due.
    queue: VecDeque<(Instant, Key)>,
    /// The keys in `queue`.
    queued: HashSet<Key>,
    /// Objects with owner references, to collect when their owners are absent:
    /// (due, group, plural, namespace, name).
    orphans: VecDeque<(Instant, String, String, String, String)>,
}

impl Controllers {
    fn new(store: &Arc<Store>, delay: Duration) -> Controllers {
        let catalog = store.catalog();
        let types = WATCHED
            .iter()
            .map(|(group, plural)| {
                catalog
                    .types()
                    .iter()
                    .find(|t| t.group == *group && t.resource == *plural)
                    .cloned()
            })
            .collect();
        Controllers {
            store: Arc::downgrade(store),
            delay,
            types,
            queue: VecDeque::new(),
            queued: HashSet::new(),
            orphans: VecDeque::new(),
        }
    }

    /// Follows the feed until the store is gone.
    async fn run(mut self, mut feed: Receiver<WatchEvent>) {
        loop {
            let next = [
                self.queue.front().map(|(due, _)| *due),
                self.orphans.front().map(|(due, ..)| *due),
            ]
            .into_iter()
            .flatten()
            .min();
            let received = tokio::select! {
                received = feed.recv() => Some(received),
                () = tokio::time::sleep_until(next.unwrap_or_else(Instant::now)), if next.is_some() => None,
            };
            let alive = received.is_none_or(|r| self.take(r))
                && self.drain(&mut feed)
                && self.reconcile_due(&mut feed).await;
            if !alive {
                return;
            }
        }
    }

    /// Handles what the feed gave; false once the store is gone.
    fn take(&mut self, received: Result<WatchEvent, RecvError>) -> bool {
        match received {
            Ok(event) => {
                self.enqueue_event(&event);
                true
            }
            Err(RecvError::Lagged(_)) => match self.store.upgrade() {
                Some(store) => {
                    self.resync(&store);
                    true
                }
                None => false,
            },
            Err(RecvError::Closed) => false,
        }
    }

    /// Takes every change the feed holds now without waiting; false once the store is
    /// gone.
    fn drain(&mut self, feed: &mut Receiver<WatchEvent>) -> bool {
        loop {
            let received = match feed.try_recv() {
                Ok(event) => Ok(event),
                Err(TryRecvError::Empty) => return true,
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
            if !self.take(received) {
                return false;
            }
        }
    }

    /// Reconciles every object that is due, taking new changes between two; false once
    /// the store is gone.
    async fn reconcile_due(&mut self, feed: &mut Receiver<WatchEvent>) -> bool {
        while self
            .orphans
            .front()
            .is_some_and(|(due, ..)| *due <= Instant::now())
        {
            let Some((_, group, plural, ns, name)) = self.orphans.pop_front() else {
                break;
            };
            let Some(store) = self.store.upgrade() else {
                return false;
            };
            collect_if_orphaned(&store, &group, &plural, &ns, &name);
        }
        while let Some(key) = self.pop_due() {
            let Some(store) = self.store.upgrade() else {
                return false;
            };
            if let Some(t) = &self.types[key.0] {
                reconcile(&store, t, &key);
            }
            drop(store);
            if !self.drain(feed) {
                return false;
            }
            tokio::task::yield_now().await;
        }
        true
    }

    fn pop_due(&mut self) -> Option<Key> {
        if self.queue.front()?.0 > Instant::now() {
            return None;
        }
        let (_, key) = self.queue.pop_front()?;
        self.queued.remove(&key);
        Some(key)
    }

    fn enqueue_event(&mut self, event: &WatchEvent) {
        if event.kind == EventType::Deleted {
            return;
        }
        if event.kind == EventType::Added
            && event
                .object
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| !refs.is_empty())
        {
            let (ns, name) = ns_name(&event.object);
            self.orphans.push_back((
                Instant::now() + self.delay,
                event.group.clone(),
                event.resource.clone(),
                ns.unwrap_or("").to_string(),
                name.to_string(),
            ));
        }
        if let Some(kind) = WATCHED
            .iter()
            .position(|(g, p)| *g == event.group && *p == event.resource)
        {
            let (ns, name) = ns_name(&event.object);
            self.enqueue((kind, ns.unwrap_or("").to_string(), name.to_string()));
        }
    }

    /// Queues an object to be reconciled after the delay, unless it is queued already.
    fn enqueue(&mut self, key: Key) {
        if self.queued.insert(key.clone()) {
            self.queue.push_back((Instant::now() + self.delay, key));
        }
    }

    /// Queues every object of the watched kinds.
    fn resync(&mut self, store: &Store) {
        for kind in 0..WATCHED.len() {
            let Some(t) = &self.types[kind] else {
                continue;
            };
            for (ns, name) in store.keys(t) {
                self.enqueue((kind, ns, name));
            }
        }
    }
}

/// Deletes the object when none of its owners exists (an owner reference names its
/// owner by kind, name and uid, in the object's namespace for a namespaced owner). An
/// owner of a kind the sandbox does not serve is left alone, as a real collector that
/// cannot look it up does.
fn collect_if_orphaned(store: &Store, group: &str, plural: &str, ns: &str, name: &str) {
    let catalog = store.catalog();
    let Some(t) = catalog
        .types()
        .iter()
        .find(|t| t.group == group && t.resource == plural)
    else {
        return;
    };
    let ns = (!ns.is_empty()).then_some(ns);
    let Ok(object) = store.get(t, ns, name) else {
        return;
    };
    let refs = object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let present = |r: &Value| -> Option<bool> {
        let field = |f: &str| r.get(f).and_then(Value::as_str).unwrap_or("");
        let owner_type = catalog.by_kind(field("apiVersion"), field("kind"))?;
        let owner_ns = if owner_type.namespaced { ns } else { None };
        Some(
            store
                .get(owner_type, owner_ns, field("name"))
                .is_ok_and(|o| {
                    o.pointer("/metadata/uid").and_then(Value::as_str) == Some(field("uid"))
                }),
        )
    };
    let mut all_absent = !refs.is_empty();
    for r in &refs {
        match present(r) {
            Some(false) => {}
            // Present, or of a kind that cannot be looked up: not garbage.
            _ => all_absent = false,
        }
    }
    if all_absent {
        let _ = store.delete(t, ns, name, WriteOptions::default());
    }
}

fn reconcile(store: &Store, t: &ServedType, (_, ns, name): &Key) {
    let ns = (!ns.is_empty()).then_some(ns.as_str());
    let Ok(obj) = store.get(t, ns, name) else {
        return;
    };
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    match (t.group.as_str(), t.resource.as_str()) {
        ("apps", "deployments") => deployment(store, t, &obj),
        ("apps", "replicasets") => set_status(store, t, &obj, replica_set_status(&obj)),
        ("apps", "statefulsets") => {
            stateful_set_claims(store, &obj);
            set_status(store, t, &obj, stateful_set_status(&obj));
        }
        ("apps", "daemonsets") => set_status(store, t, &obj, daemon_set_status(&obj)),
        ("batch", "jobs") => super::jobs::reconcile(store, t, &obj),
        ("", "persistentvolumeclaims") => claim(store, t, &obj),
        ("snapshot.storage.k8s.io", "volumesnapshots") => snapshot(store, t, &obj),
        _ => {}
    }
}

/// Writes `status` when it differs from the object's (times compared away, so an
/// unchanged state is not rewritten).
pub(super) fn set_status(store: &Store, t: &ServedType, obj: &Value, status: Value) {
    if obj
        .get("status")
        .is_some_and(|old| same_ignoring_times(old, &status))
    {
        return;
    }
    let (ns, name) = ns_name(obj);
    let _ = store.update_status(
        t,
        ns,
        name,
        |o| {
            o["status"] = status;
            Ok(())
        },
        WriteOptions::default(),
    );
}

/// Status fields that record when something happened rather than what.
const TIMES: &[&str] = &[
    "lastTransitionTime",
    "lastUpdateTime",
    "lastProbeTime",
    "startTime",
    "completionTime",
    "creationTime",
];

/// Whether two values are equal once the fields of `TIMES` are left out.
fn same_ignoring_times(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(a), Value::Object(b)) => {
            let fields = |m: &serde_json::Map<String, Value>| {
                m.iter()
                    .filter(|(k, _)| !TIMES.contains(&k.as_str()))
                    .count()
            };
            fields(a) == fields(b)
                && a.iter()
                    .filter(|(k, _)| !TIMES.contains(&k.as_str()))
                    .all(|(k, v)| b.get(k).is_some_and(|w| same_ignoring_times(v, w)))
        }
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(v, w)| same_ignoring_times(v, w))
        }
        _ => a == b,
    }
}

fn ns_name(obj: &Value) -> (Option<&str>, &str) {
    let ns = obj.pointer("/metadata/namespace").and_then(Value::as_str);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    (ns, name)
}

fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0)
}

fn generation(obj: &Value) -> i64 {
    obj.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

/// A value's text with mapping keys sorted, so equal templates hash equally whatever
/// order their fields were written in.
fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

/// A short stable hash (as pod-template-hash and revision names are).
fn short_hash(v: &Value) -> String {
    let mut text = String::new();
    canonical(v, &mut text);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..10)
        .map(|_| {
            let c = CHARS[(h % CHARS.len() as u64) as usize] as char;
            h /= CHARS.len() as u64;
            c
        })
        .collect()
}

/// A condition as Deployments, StatefulSets and DaemonSets carry it (with
/// `lastUpdateTime`).
pub(super) fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({ "type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": now, "lastUpdateTime": now })
}

/// A condition as Jobs and Pods carry it (with `lastProbeTime`: their condition types
/// have no `lastUpdateTime`, and a strict status write refuses one).
pub(super) fn probed_condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({ "type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": now, "lastProbeTime": now })
}

/// Ready counts the API server omits when zero.
fn counts(pairs: &[(&str, i64)]) -> serde_json::Map<String, Value> {
    pairs
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, n)| (k.to_string(), json!(n)))
        .collect()
}
