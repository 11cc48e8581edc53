//! The volume controllers: claims bound to a matching volume (or one provisioned
//! for their class), as the real binder does, and VolumeSnapshots made ready.

use serde_json::{Value, json};

use super::{ns_name, set_status};
use crate::catalog::ServedType;
use crate::store::{Store, WriteOptions};
use crate::time::now_rfc3339;

/// A PVC binds to a new PersistentVolume when its storage class exists (or it names
/// none); otherwise it stays Pending.
pub(super) fn claim(store: &Store, t: &ServedType, obj: &Value) {
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
pub(super) fn reserve(
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
    claimed.is_ok() && mark_bound(store, pv_type, volume)
}

/// Whether `pv` may bind the claim `ns/name` (uid `uid`).
pub(super) fn free_for(pv: &Value, ns: &str, name: &str, uid: &str) -> bool {
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
pub(super) fn reserved_for(
    store: &Store,
    pv_type: &ServedType,
    ns: &str,
    name: &str,
) -> Option<String> {
    store.keys(pv_type).into_iter().find_map(|(_, volume)| {
        let pv = store.get(pv_type, None, &volume).ok()?;
        let claim = pv.pointer("/spec/claimRef")?;
        let field = |f: &str| claim.get(f).and_then(Value::as_str).unwrap_or("");
        (field("namespace") == ns && field("name") == name).then_some(volume)
    })
}

/// Provisions the volume `volume` for the claim `ns/name`, bound to it.
#[allow(clippy::too_many_arguments)]
pub(super) fn provision(
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
        mark_bound(store, pv_type, volume);
    }
}

/// A VolumeSnapshot becomes readyToUse.
pub(super) fn snapshot(store: &Store, t: &ServedType, obj: &Value) {
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

/// Sets a volume's phase to Bound; whether that was written.
pub(super) fn mark_bound(store: &Store, pv_type: &ServedType, volume: &str) -> bool {
    store
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
