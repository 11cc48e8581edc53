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

/// Whether `obj` reports condition `kind` with status `True`.
pub(super) fn has_condition(obj: &Value, kind: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
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

/// A Deployment owns one ReplicaSet per pod template; the current one runs
/// `spec.replicas`, older ones are scaled to zero. Then the rollout is complete: the
/// revision annotation and the status are written together, when either differs.
fn deployment(store: &Store, t: &ServedType, obj: &Value) {
    let n = replicas(obj);
    let template = obj.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let hash = short_hash(&template);
    let revision = replica_sets(store, obj, n, &template, &hash)
        .filter(|revision| *revision != revision_of(obj));
    let status = Some(deployment_status(obj, n, &hash)).filter(|status| {
        !obj.get("status")
            .is_some_and(|old| same_ignoring_times(old, status))
    });
    if revision.is_none() && status.is_none() {
        return;
    }
    let (ns, name) = ns_name(obj);
    let _ = store.modify(t, ns, name, WriteOptions::default(), |o| {
        if let Some(revision) = revision {
            if !o["metadata"]["annotations"].is_object() {
                o["metadata"]["annotations"] = json!({});
            }
            o["metadata"]["annotations"][REVISION] = json!(revision.to_string());
        }
        if let Some(status) = status {
            o["status"] = status;
        }
        Ok(())
    });
}

/// A rolled-out Deployment's status: every replica of the current ReplicaSet
/// (`{name}-{hash}`) ready and available.
fn deployment_status(obj: &Value, n: i64, hash: &str) -> Value {
    let (_, name) = ns_name(obj);
    let mut status = counts(&[
        ("replicas", n),
        ("updatedReplicas", n),
        ("readyReplicas", n),
        ("availableReplicas", n),
    ]);
    status.insert("observedGeneration".into(), json!(generation(obj)));
    status.insert(
        "conditions".into(),
        json!([
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability."
            ),
            condition(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{name}-{hash}\" has successfully progressed.")
            ),
        ]),
    );
    Value::Object(status)
}

const REVISION: &str = "deployment.kubernetes.io/revision";

fn revision_of(obj: &Value) -> i64 {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The ReplicaSets of a Deployment: one per pod template (named by its hash), the
/// current one running `n` replicas and holding the newest revision (a rollback makes
/// an old one current again), the others scaled to zero. Returns the current revision.
fn replica_sets(
    store: &Store,
    deploy: &Value,
    n: i64,
    template: &Value,
    hash: &str,
) -> Option<i64> {
    let (ns, name) = ns_name(deploy);
    let catalog = store.catalog();
    let rs_type = catalog.by_path("apps", "v1", "replicasets")?;
    let uid = deploy
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let current = format!("{name}-{hash}");
    let owned = store.owned(rs_type, ns, uid);
    let newest_other = owned
        .iter()
        .filter(|rs| rs.pointer("/metadata/name").and_then(Value::as_str) != Some(current.as_str()))
        .map(revision_of)
        .max()
        .unwrap_or(0);
    for rs in &owned {
        let rs_name = rs
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        if rs_name != current && replicas(rs) != 0 {
            let _ = store.modify(rs_type, ns, rs_name, WriteOptions::default(), |o| {
                o["spec"]["replicas"] = json!(0);
                Ok(())
            });
        }
    }
    match owned
        .iter()
        .find(|rs| rs.pointer("/metadata/name").and_then(Value::as_str) == Some(current.as_str()))
    {
        Some(rs) => {
            let revision = if revision_of(rs) > newest_other {
                revision_of(rs)
            } else {
                newest_other + 1
            };
            if replicas(rs) != n || revision_of(rs) != revision {
                let _ = store.modify(rs_type, ns, &current, WriteOptions::default(), |o| {
                    o["spec"]["replicas"] = json!(n);
                    if !o["metadata"]["annotations"].is_object() {
                        o["metadata"]["annotations"] = json!({});
                    }
                    o["metadata"]["annotations"][REVISION] = json!(revision.to_string());
                    Ok(())
                });
            }
            Some(revision)
        }
        None => {
            let revision = newest_other + 1;
            let mut labels = template
                .pointer("/metadata/labels")
                .cloned()
                .unwrap_or(json!({}));
            labels["pod-template-hash"] = json!(hash);
            let mut selector = deploy
                .pointer("/spec/selector")
                .cloned()
                .unwrap_or(json!({}));
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"] = labels.clone();
            let rs = json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": current,
                    "namespace": ns,
                    "labels": labels,
                    "annotations": { REVISION: revision.to_string() },
                    "ownerReferences": [ { "apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true } ],
                },
                "spec": { "replicas": n, "selector": selector, "template": rs_template },
            });
            store
                .create(rs_type, ns, rs, WriteOptions::default())
                .ok()
                .map(|_| revision)
        }
    }
}

fn replica_set_status(obj: &Value) -> Value {
    let n = replicas(obj);
    let mut status = counts(&[
        ("fullyLabeledReplicas", n),
        ("readyReplicas", n),
        ("availableReplicas", n),
    ]);
    status.insert("replicas".into(), json!(n));
    status.insert("observedGeneration".into(), json!(generation(obj)));
    Value::Object(status)
}

fn stateful_set_status(obj: &Value) -> Value {
    let n = replicas(obj);
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let revision = format!(
        "{name}-{}",
        short_hash(obj.pointer("/spec/template").unwrap_or(&Value::Null))
    );
    let mut status = counts(&[
        ("readyReplicas", n),
        ("currentReplicas", n),
        ("updatedReplicas", n),
        ("availableReplicas", n),
    ]);
    status.insert("replicas".into(), json!(n));
    status.insert("observedGeneration".into(), json!(generation(obj)));
    status.insert("currentRevision".into(), json!(revision));
    status.insert("updateRevision".into(), json!(revision));
    status.insert("collisionCount".into(), json!(0));
    Value::Object(status)
}

/// A StatefulSet's pods each get a PVC per volumeClaimTemplate (`data-db-0`), kept when
/// it scales down, as the StatefulSet controller does.
fn stateful_set_claims(store: &Store, obj: &Value) {
    let (ns, name) = ns_name(obj);
    let catalog = store.catalog();
    let Some(pvcs) = catalog.by_path("", "v1", "persistentvolumeclaims") else {
        return;
    };
    let labels = obj
        .pointer("/spec/selector/matchLabels")
        .cloned()
        .unwrap_or(json!({}));
    for template in obj
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(claim) = template.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        for ordinal in 0..replicas(obj) {
            let pvc_name = format!("{claim}-{name}-{ordinal}");
            if store.contains(pvcs, ns, &pvc_name) {
                continue;
            }
            let pvc = json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": { "name": pvc_name, "namespace": ns, "labels": labels },
                "spec": template.get("spec").cloned().unwrap_or(json!({})),
            });
            let _ = store.create(pvcs, ns, pvc, WriteOptions::default());
        }
    }
}

/// A DaemonSet runs on the sandbox's one node.
fn daemon_set_status(obj: &Value) -> Value {
    json!({
        "currentNumberScheduled": 1,
        "desiredNumberScheduled": 1,
        "numberAvailable": 1,
        "numberMisscheduled": 0,
        "numberReady": 1,
        "updatedNumberScheduled": 1,
        "observedGeneration": generation(obj),
    })
}

/// A PVC binds to a new PersistentVolume when its storage class exists (or it names
/// none); otherwise it stays Pending.
fn claim(store: &Store, t: &ServedType, obj: &Value) {
    if obj.pointer("/status/phase").and_then(Value::as_str) == Some("Bound") {
        return;
    }
    let catalog = store.catalog();
    let class = obj
        .pointer("/spec/storageClassName")
        .and_then(Value::as_str)
        .unwrap_or("");
    let class_exists = class.is_empty()
        || catalog
            .by_path("storage.k8s.io", "v1", "storageclasses")
            .is_some_and(|sc| store.contains(sc, None, class));
    if !class_exists {
        set_status(store, t, obj, json!({ "phase": "Pending" }));
        return;
    }
    let Some(pv_type) = catalog.by_path("", "v1", "persistentvolumes") else {
        return;
    };
    let (ns, name) = ns_name(obj);
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let size = obj
        .pointer("/spec/resources/requests/storage")
        .cloned()
        .unwrap_or(json!("1Gi"));
    let modes = obj
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or(json!(["ReadWriteOnce"]));
    let named = obj
        .pointer("/spec/volumeName")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty());
    // As the real volume binder: a claim that names a volume binds to that volume
    // only, once it exists and is free or reserved for this claim; otherwise it waits.
    // A claim that names none takes a volume reserved for it, or a new one.
    let volume = match named {
        Some(v) => {
            if !reserve(store, pv_type, v, ns.unwrap_or(""), name, uid) {
                set_status(store, t, obj, json!({ "phase": "Pending" }));
                return;
            }
            v.to_string()
        }
        None => match reserved_for(store, pv_type, ns.unwrap_or(""), name) {
            Some(v) if reserve(store, pv_type, &v, ns.unwrap_or(""), name, uid) => v,
            _ => {
                let volume = format!("pvc-{uid}");
                provision(store, pv_type, &volume, class, &size, &modes, ns, name, uid);
                volume
            }
        },
    };
    let bound = store.modify(t, ns, name, WriteOptions::default(), |o| {
        o["spec"]["volumeName"] = json!(volume);
        if let Some(a) = o["metadata"].as_object_mut() {
            let annotations = a.entry("annotations").or_insert(json!({}));
            annotations["pv.kubernetes.io/bind-completed"] = json!("yes");
            annotations["pv.kubernetes.io/bound-by-controller"] = json!("yes");
        }
        Ok(())
    });
    if let Ok(claim) = bound {
        set_status(
            store,
            t,
            &claim,
            json!({ "phase": "Bound", "accessModes": modes, "capacity": { "storage": size } }),
        );
    }
}

/// Binds the volume `volume` to the claim `ns/name` (uid `uid`) when it exists and is
/// free or reserved for that claim (`claimRef` naming it, with no uid or its uid).
fn reserve(
    store: &Store,
    pv_type: &ServedType,
    volume: &str,
    ns: &str,
    name: &str,
    uid: &str,
) -> bool {
    let Ok(pv) = store.get(pv_type, None, volume) else {
        return false;
    };
    if !free_for(&pv, ns, name, uid) {
        return false;
    }
    let claimed = store.modify(pv_type, None, volume, WriteOptions::default(), |o| {
        o["spec"]["claimRef"] = json!({ "apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid });
        Ok(())
    });
    claimed.is_ok()
        && store
            .update_status(
                pv_type,
                None,
                volume,
                |o| {
                    o["status"] = json!({ "phase": "Bound" });
                    Ok(())
                },
                WriteOptions::default(),
            )
            .is_ok()
}

/// Whether `pv` may bind the claim `ns/name` (uid `uid`).
fn free_for(pv: &Value, ns: &str, name: &str, uid: &str) -> bool {
    let Some(claim) = pv.pointer("/spec/claimRef") else {
        return true;
    };
    let field = |f: &str| claim.get(f).and_then(Value::as_str).unwrap_or("");
    field("namespace") == ns
        && field("name") == name
        && (field("uid").is_empty() || field("uid") == uid)
}

/// A volume whose `claimRef` names the claim `ns/name` (pre-bound, as a restored PV
/// is), if one exists.
fn reserved_for(store: &Store, pv_type: &ServedType, ns: &str, name: &str) -> Option<String> {
    store.keys(pv_type).into_iter().find_map(|(_, volume)| {
        let pv = store.get(pv_type, None, &volume).ok()?;
        let claim = pv.pointer("/spec/claimRef")?;
        let field = |f: &str| claim.get(f).and_then(Value::as_str).unwrap_or("");
        (field("namespace") == ns && field("name") == name).then_some(volume)
    })
}

/// Provisions the volume `volume` for the claim `ns/name`, bound to it.
#[allow(clippy::too_many_arguments)]
fn provision(
    store: &Store,
    pv_type: &ServedType,
    volume: &str,
    class: &str,
    size: &Value,
    modes: &Value,
    ns: Option<&str>,
    name: &str,
    uid: &str,
) {
    let pv = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": { "name": volume, "annotations": { "pv.kubernetes.io/provisioned-by": "lifeboat.dev/sandbox" } },
        "spec": {
            "capacity": { "storage": size },
            "accessModes": modes,
            "persistentVolumeReclaimPolicy": "Delete",
            "storageClassName": class,
            "claimRef": { "apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid },
            "hostPath": { "path": format!("/sandbox/{volume}") },
        },
    });
    if store
        .create(pv_type, None, pv, WriteOptions::default())
        .is_ok()
    {
        let _ = store.update_status(
            pv_type,
            None,
            volume,
            |o| {
                o["status"] = json!({ "phase": "Bound" });
                Ok(())
            },
            WriteOptions::default(),
        );
    }
}

/// A VolumeSnapshot becomes readyToUse.
fn snapshot(store: &Store, t: &ServedType, obj: &Value) {
    if obj.pointer("/status/readyToUse").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let status = json!({
        "boundVolumeSnapshotContentName": format!("snapcontent-{uid}"),
        "creationTime": now_rfc3339(),
        "readyToUse": true,
        "restoreSize": "1Gi",
    });
    set_status(store, t, obj, status);
}
