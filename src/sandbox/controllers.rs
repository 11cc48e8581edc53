//! The sandbox's simulated controllers: after a short, configurable delay they bring
//! each object's status to what a healthy cluster would report. Deployments roll out
//! (through ReplicaSets they own), StatefulSets, DaemonSets and ReplicaSets report
//! ready replicas, Jobs complete, PVCs bind to a new PersistentVolume, VolumeSnapshots
//! become readyToUse. One small function per kind; each is idempotent, so a status
//! write that changes nothing stops the loop.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::catalog::ResourceType;
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
    let Some((_, mut feed)) = store.watch_from(store.resource_version()) else {
        return;
    };
    let pending: Pending = Arc::default();
    let weak = Arc::downgrade(&store);
    // Objects seeded before the controllers started get reconciled too.
    for (group, plural) in WATCHED {
        let catalog = store.catalog();
        let Some(t) = catalog
            .types()
            .iter()
            .find(|t| t.group == *group && t.plural == *plural)
            .cloned()
        else {
            continue;
        };
        if let Ok(page) = store.list(&t, None, &Default::default()) {
            for obj in page.items {
                schedule(&weak, &pending, delay, &t, &obj);
            }
        }
    }
    drop(store);
    tokio::spawn(async move {
        while let Ok(event) = feed.recv().await {
            let Some(store) = weak.upgrade() else { return };
            if event.kind == EventType::Deleted
                || !WATCHED.contains(&(event.group.as_str(), event.plural.as_str()))
            {
                continue;
            }
            if let Some(t) = type_of(&store, &event) {
                schedule(&weak, &pending, delay, &t, &event.object);
            }
        }
    });
}

fn type_of(store: &Store, event: &WatchEvent) -> Option<ResourceType> {
    store
        .catalog()
        .types()
        .iter()
        .find(|t| t.group == event.group && t.plural == event.plural)
        .cloned()
}

type Pending = Arc<Mutex<HashSet<(String, String, String, String)>>>;

/// Reconciles the object after `delay`, once however many events arrive meanwhile.
fn schedule(
    store: &std::sync::Weak<Store>,
    pending: &Pending,
    delay: Duration,
    t: &ResourceType,
    obj: &Value,
) {
    let ns = obj
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let key = (t.group.clone(), t.plural.clone(), ns.clone(), name.clone());
    if !pending
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key.clone())
    {
        return;
    }
    let (store, pending, t) = (store.clone(), pending.clone(), t.clone());
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        if let Some(store) = store.upgrade() {
            reconcile(&store, &t, (!ns.is_empty()).then_some(ns.as_str()), &name);
        }
    });
}

fn reconcile(store: &Store, t: &ResourceType, ns: Option<&str>, name: &str) {
    let Ok(obj) = store.get(t, ns, name) else {
        return;
    };
    if obj.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    match (t.group.as_str(), t.plural.as_str()) {
        ("apps", "deployments") => deployment(store, t, &obj),
        ("apps", "replicasets") => set_status(store, t, &obj, replica_set_status(&obj)),
        ("apps", "statefulsets") => {
            stateful_set_claims(store, &obj);
            set_status(store, t, &obj, stateful_set_status(&obj));
        }
        ("apps", "daemonsets") => set_status(store, t, &obj, daemon_set_status(&obj)),
        ("batch", "jobs") => job(store, t, &obj),
        ("", "persistentvolumeclaims") => claim(store, t, &obj),
        ("snapshot.storage.k8s.io", "volumesnapshots") => snapshot(store, t, &obj),
        _ => {}
    }
}

/// Writes `status` when it differs from the object's (conditions compared without
/// their timestamps, so an unchanged state is not rewritten).
fn set_status(store: &Store, t: &ResourceType, obj: &Value, status: Value) {
    if same_status(obj.get("status"), &status) {
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

fn same_status(old: Option<&Value>, new: &Value) -> bool {
    let strip = |v: &Value| {
        let mut v = v.clone();
        if let Some(conds) = v.get_mut("conditions").and_then(Value::as_array_mut) {
            for c in conds {
                if let Some(m) = c.as_object_mut() {
                    m.remove("lastTransitionTime");
                    m.remove("lastUpdateTime");
                    m.remove("lastProbeTime");
                }
            }
        }
        for key in ["startTime", "completionTime", "creationTime"] {
            if let Some(m) = v.as_object_mut() {
                m.remove(key);
            }
        }
        v
    };
    old.is_some_and(|o| strip(o) == strip(new))
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

fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = now_rfc3339();
    json!({ "type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": now, "lastUpdateTime": now })
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
/// `spec.replicas`, older ones are scaled to zero. Then the rollout is complete.
fn deployment(store: &Store, t: &ResourceType, obj: &Value) {
    let (_, name) = ns_name(obj);
    let n = replicas(obj);
    let template = obj.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let hash = short_hash(&template);
    if let Some(revision) = replica_sets(store, obj, n, &template, &hash) {
        annotate_revision(store, t, obj, revision);
    }
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
    set_status(store, t, obj, Value::Object(status));
}

const REVISION: &str = "deployment.kubernetes.io/revision";

fn revision_of(obj: &Value) -> i64 {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// Sets the `deployment.kubernetes.io/revision` annotation when it differs.
fn annotate_revision(store: &Store, t: &ResourceType, obj: &Value, revision: i64) {
    if revision_of(obj) == revision {
        return;
    }
    let (ns, name) = ns_name(obj);
    let _ = store.modify(t, ns, name, WriteOptions::default(), |o| {
        if !o["metadata"]["annotations"].is_object() {
            o["metadata"]["annotations"] = json!({});
        }
        o["metadata"]["annotations"][REVISION] = json!(revision.to_string());
        Ok(())
    });
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
        .cloned()
        .unwrap_or(Value::Null);
    let current = format!("{name}-{hash}");
    let owned: Vec<Arc<Value>> = store
        .list(rs_type, ns, &Default::default())
        .ok()?
        .items
        .into_iter()
        .filter(|rs| {
            rs.pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| refs.iter().any(|r| r.get("uid") == Some(&uid)))
        })
        .collect();
    let newest_other = owned
        .iter()
        .filter(|rs| rs.pointer("/metadata/name").and_then(Value::as_str) != Some(current.as_str()))
        .map(|rs| revision_of(rs))
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
            if store.get(pvcs, ns, &pvc_name).is_ok() {
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

/// A Job (not suspended) succeeds as many times as it asks.
fn job(store: &Store, t: &ResourceType, obj: &Value) {
    if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
        || obj.pointer("/status/completionTime").is_some()
    {
        return;
    }
    let completions = obj
        .pointer("/spec/completions")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let now = now_rfc3339();
    let status = json!({
        "startTime": obj.pointer("/status/startTime").cloned().unwrap_or(json!(now)),
        "completionTime": now,
        "succeeded": completions,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
        "conditions": [
            condition("SuccessCriteriaMet", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
            condition("Complete", "True", "CompletionsReached", "Reached expected number of succeeded pods"),
        ],
    });
    set_status(store, t, obj, status);
}

/// A PVC binds to a new PersistentVolume when its storage class exists (or it names
/// none); otherwise it stays Pending.
fn claim(store: &Store, t: &ResourceType, obj: &Value) {
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
            .is_some_and(|sc| store.get(sc, None, class).is_ok());
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
    let volume = obj
        .pointer("/spec/volumeName")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .map_or_else(|| format!("pvc-{uid}"), str::to_string);
    let size = obj
        .pointer("/spec/resources/requests/storage")
        .cloned()
        .unwrap_or(json!("1Gi"));
    let modes = obj
        .pointer("/spec/accessModes")
        .cloned()
        .unwrap_or(json!(["ReadWriteOnce"]));
    if store.get(pv_type, None, &volume).is_err() {
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
                &volume,
                |o| {
                    o["status"] = json!({ "phase": "Bound" });
                    Ok(())
                },
                WriteOptions::default(),
            );
        }
    }
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

/// A VolumeSnapshot becomes readyToUse.
fn snapshot(store: &Store, t: &ResourceType, obj: &Value) {
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
