//! The workload controllers: Deployments (through ReplicaSets, with revisions),
//! StatefulSets (and their claims), DaemonSets, each bringing status to what a
//! healthy cluster reports after a rollout.

use serde_json::{Value, json};

use super::{condition, counts, generation, ns_name, replicas, same_ignoring_times, short_hash};
use crate::catalog::ServedType;
use crate::store::{Store, WriteOptions};

/// A Deployment owns one ReplicaSet per pod template; the current one runs
/// `spec.replicas`, older ones are scaled to zero. Then the rollout is complete: the
/// revision annotation and the status are written together, when either differs.
pub(super) fn deployment(store: &Store, t: &ServedType, obj: &Value) {
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
pub(super) fn deployment_status(obj: &Value, n: i64, hash: &str) -> Value {
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

pub(super) const REVISION: &str = "deployment.kubernetes.io/revision";

pub(super) fn revision_of(obj: &Value) -> i64 {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

/// The ReplicaSets of a Deployment: one per pod template (named by its hash), the
/// current one running `n` replicas and holding the newest revision (a rollback makes
/// an old one current again), the others scaled to zero. Returns the current revision.
pub(super) fn replica_sets(
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

pub(super) fn replica_set_status(obj: &Value) -> Value {
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

pub(super) fn stateful_set_status(obj: &Value) -> Value {
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
pub(super) fn stateful_set_claims(store: &Store, obj: &Value) {
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
pub(super) fn daemon_set_status(obj: &Value) -> Value {
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
