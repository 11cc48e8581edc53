//! What restore leaves out and what it removes from each object (SPEC section 5), as
//! data plus one small function per kind that needs one.
//!
//! Left out: Events, Nodes and other objects that describe a cluster rather than an
//! application; objects a controller recreates (Pods of ReplicaSets, ReplicaSets of
//! Deployments, Jobs of CronJobs, EndpointSlices, Endpoints of Services,
//! service-account tokens). Removed: server-assigned metadata, status (unless asked
//! for), Service cluster IPs (unless headless), PVC binding annotations, PV claim
//! bindings, Job selectors the API server generated.

use serde_json::{Map, Value};

/// Kinds (by `resource.group`) never restored, and why.
pub const NEVER_RESTORED: &[(&str, &str)] = &[
    ("events", "events are history, not state"),
    ("events.events.k8s.io", "events are history, not state"),
    ("nodes", "nodes belong to the cluster, not to a backup"),
    (
        "endpointslices.discovery.k8s.io",
        "endpoint slices are recreated by their controller",
    ),
    ("csinodes.storage.k8s.io", "CSI nodes belong to the cluster"),
    (
        "volumeattachments.storage.k8s.io",
        "volume attachments belong to the cluster",
    ),
    ("componentstatuses", "component statuses are not objects"),
    (
        "leases.coordination.k8s.io",
        "leases are held by running processes",
    ),
];

/// Owner kinds whose controllers recreate what they own.
const RECREATING_OWNERS: &[&str] = &[
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
];

/// Metadata the API server assigns: never sent back.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "selfLink",
    "managedFields",
];

/// PVC annotations that record a binding in the source cluster.
const PVC_BINDING_ANNOTATIONS: &[&str] = &[
    "pv.kubernetes.io/bind-completed",
    "pv.kubernetes.io/bound-by-controller",
    "volume.beta.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/storage-provisioner",
    "volume.kubernetes.io/selected-node",
];

/// Fields the API server refuses to change once an object exists and that the target
/// cluster decides for itself (by `resource.group`): `existing: update` sends the
/// target's own values for them, so an update changes what may change instead of
/// failing on what may not: a PVC keeps its binding, a Job the selector and template
/// labels its cluster generated, a StatefulSet the claim templates its cluster
/// defaulted. Immutable fields that say what the application is (a Deployment's
/// selector, a binding's `roleRef`) are not kept: a backup that differs there fails the
/// update, naming the field.
const FIXED_AFTER_CREATE: &[(&str, &[&str])] = &[
    (
        "persistentvolumeclaims",
        &[
            "/spec/volumeName",
            "/spec/storageClassName",
            "/spec/accessModes",
            "/spec/volumeMode",
            "/spec/selector",
            "/spec/dataSource",
            "/spec/dataSourceRef",
        ],
    ),
    (
        "jobs.batch",
        &["/spec/selector", "/spec/template", "/spec/completions"],
    ),
    ("statefulsets.apps", &["/spec/volumeClaimTemplates"]),
];

/// Labels the API server puts on a Job's pods and selector.
const JOB_GENERATED_LABELS: &[&str] = &["controller-uid", "batch.kubernetes.io/controller-uid"];

/// Why an object is left out, or `None` when it is restored. `qualified` is the
/// object's `resource.group`.
pub fn skip_reason(qualified: &str, object: &Value) -> Option<String> {
    if let Some((_, why)) = NEVER_RESTORED.iter().find(|(name, _)| *name == qualified) {
        return Some((*why).to_string());
    }
    if qualified == "secrets"
        && object.get("type").and_then(Value::as_str) == Some("kubernetes.io/service-account-token")
    {
        return Some("service-account tokens are issued by the target cluster".into());
    }
    if qualified != "persistentvolumeclaims"
        && let Some(owner) = controller_owner(object)
    {
        return Some(format!("owned by {owner}, whose controller recreates it"));
    }
    None
}

/// `Kind/name` of the controller that owns the object, when it is one that recreates
/// what it owns.
fn controller_owner(object: &Value) -> Option<String> {
    let owners = object.pointer("/metadata/ownerReferences")?.as_array()?;
    owners.iter().find_map(|o| {
        let kind = o.get("kind")?.as_str()?;
        let controller = o.get("controller").and_then(Value::as_bool) == Some(true);
        (controller && RECREATING_OWNERS.contains(&kind)).then(|| {
            format!(
                "{kind}/{}",
                o.get("name").and_then(Value::as_str).unwrap_or("?")
            )
        })
    })
}

/// Removes what must not be sent back to an API server.
pub fn strip(qualified: &str, object: &mut Value, keep_status: bool) {
    let Some(map) = object.as_object_mut() else {
        return;
    };
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        for field in SERVER_METADATA {
            meta.remove(*field);
        }
    }
    if !keep_status {
        map.remove("status");
    }
    match qualified {
        "services" => strip_service(map),
        "persistentvolumeclaims" => strip_pvc(map),
        "persistentvolumes" => strip_pv(map),
        "jobs.batch" => strip_job(map),
        _ => {}
    }
}

/// Cluster IPs are allocated by the target cluster, except `None` (headless).
fn strip_service(map: &mut Map<String, Value>) {
    let Some(Value::Object(spec)) = map.get_mut("spec") else {
        return;
    };
    if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
}

fn strip_pvc(map: &mut Map<String, Value>) {
    if let Some(Value::Object(annotations)) = map
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
    {
        for a in PVC_BINDING_ANNOTATIONS {
            annotations.remove(*a);
        }
    }
}

/// A PV's claim reference names the source cluster's PVC by uid: keep the name so the
/// restored PVC binds it again, drop the uid and version.
fn strip_pv(map: &mut Map<String, Value>) {
    if let Some(Value::Object(claim)) = map.get_mut("spec").and_then(|s| s.get_mut("claimRef")) {
        claim.remove("uid");
        claim.remove("resourceVersion");
    }
}

/// A Job's selector and its pods' `controller-uid` labels were generated from the
/// source Job's uid (unless the user wrote them: `manualSelector`).
fn strip_job(map: &mut Map<String, Value>) {
    let Some(Value::Object(spec)) = map.get_mut("spec") else {
        return;
    };
    if spec.get("manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    spec.remove("selector");
    if let Some(Value::Object(labels)) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("metadata"))
        .and_then(|m| m.get_mut("labels"))
    {
        for l in JOB_GENERATED_LABELS {
            labels.remove(*l);
        }
    }
}

/// For `existing: update`: the fields of `FIXED_AFTER_CREATE` take the values `current`
/// (the object in the target) has, or are left out when it has none.
pub fn keep_fixed_fields(qualified: &str, object: &mut Value, current: &Value) {
    let Some((_, pointers)) = FIXED_AFTER_CREATE.iter().find(|(q, _)| *q == qualified) else {
        return;
    };
    for pointer in *pointers {
        match current.pointer(pointer) {
            Some(value) => set_at(object, pointer, value.clone()),
            None => remove_at(object, pointer),
        }
    }
}

/// Sets the value at a JSON pointer of plain keys, creating the objects on the way.
fn set_at(object: &mut Value, pointer: &str, value: Value) {
    let mut at = object;
    let keys: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    for key in parents {
        let Some(map) = at.as_object_mut() else {
            return;
        };
        at = map
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if let Some(map) = at.as_object_mut() {
        map.insert((*last).to_string(), value);
    }
}

fn remove_at(object: &mut Value, pointer: &str) {
    let Some((parent, key)) = pointer.rsplit_once('/') else {
        return;
    };
    if let Some(Value::Object(map)) = object.pointer_mut(parent) {
        map.remove(key);
    }
}

/// Moves an object into another namespace: its own namespace, and for a Namespace
/// its name; role bindings follow their service-account subjects.
pub fn map_namespace(object: &mut Value, qualified: &str, map: &dyn Fn(&str) -> Option<String>) {
    let remap = |v: &mut Value| {
        if let Some(to) = v.as_str().and_then(map) {
            *v = Value::String(to);
        }
    };
    if let Some(ns) = object.pointer_mut("/metadata/namespace") {
        remap(ns);
    }
    if qualified == "namespaces"
        && let Some(name) = object.pointer_mut("/metadata/name")
    {
        remap(name);
    }
    if matches!(
        qualified,
        "rolebindings.rbac.authorization.k8s.io" | "clusterrolebindings.rbac.authorization.k8s.io"
    ) && let Some(Value::Array(subjects)) = object.get_mut("subjects")
    {
        for s in subjects {
            if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                && let Some(ns) = s.get_mut("namespace")
            {
                remap(ns);
            }
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_update_keeps_the_fields_the_target_cannot_change() {
        let mut backed_up = json!({"metadata": {"name": "data"}, "spec": {
            "volumeName": "pvc-source", "storageClassName": "fast",
            "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}});
        let current = json!({"metadata": {"name": "data"}, "spec": {
            "volumeName": "pvc-target", "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": "1Gi"}}}});
        keep_fixed_fields("persistentvolumeclaims", &mut backed_up, &current);
        assert_eq!(backed_up["spec"]["volumeName"], "pvc-target");
        assert!(backed_up["spec"].get("storageClassName").is_none());
        // What may change still does.
        assert_eq!(backed_up["spec"]["resources"]["requests"]["storage"], "2Gi");
        let mut other = json!({"data": {"a": "b"}});
        keep_fixed_fields("configmaps", &mut other, &current);
        assert_eq!(other, json!({"data": {"a": "b"}}));
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn server_metadata_and_status_are_stripped() {
        let mut o = json!({"metadata": {"name": "a", "uid": "u", "resourceVersion": "5",
            "generation": 2, "creationTimestamp": "t", "managedFields": [], "labels": {"x": "y"}},
            "spec": {"a": 1}, "status": {"ready": true}});
        strip("configmaps", &mut o, false);
        assert_eq!(
            o,
            json!({"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"a": 1}})
        );
    }

    #[test]
    fn status_is_kept_when_asked() {
        let mut o = json!({"metadata": {"name": "a"}, "status": {"ready": true}});
        strip("configmaps", &mut o, true);
        assert!(o.get("status").is_some());
    }

    #[test]
    fn services_lose_their_cluster_ip_unless_headless() {
        let mut normal = json!({"metadata": {"name": "a"}, "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": []}});
        strip("services", &mut normal, false);
        assert_eq!(normal["spec"], json!({"ports": []}));
        let mut headless = json!({"metadata": {"name": "a"}, "spec": {"clusterIP": "None", "clusterIPs": ["None"]}});
        strip("services", &mut headless, false);
        assert_eq!(headless["spec"]["clusterIP"], "None");
    }

    #[test]
    fn pvcs_lose_binding_annotations_and_keep_others() {
        let mut o = json!({"metadata": {"name": "d", "annotations": {
            "pv.kubernetes.io/bind-completed": "yes", "team": "db"}}});
        strip("persistentvolumeclaims", &mut o, false);
        assert_eq!(o["metadata"]["annotations"], json!({"team": "db"}));
    }

    #[test]
    fn jobs_lose_generated_selectors_but_keep_manual_ones() {
        let mut o = json!({"metadata": {"name": "j"}, "spec": {"selector": {"matchLabels": {"controller-uid": "u"}},
            "template": {"metadata": {"labels": {"controller-uid": "u", "job-name": "j"}}}}});
        strip("jobs.batch", &mut o, false);
        assert_eq!(
            o["spec"],
            json!({"template": {"metadata": {"labels": {"job-name": "j"}}}})
        );
        let mut manual =
            json!({"spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}}});
        strip("jobs.batch", &mut manual, false);
        assert!(manual["spec"].get("selector").is_some());
    }

    #[test]
    fn controller_owned_objects_are_skipped_but_pvcs_never() {
        let pod = json!({"metadata": {"ownerReferences": [{"kind": "ReplicaSet", "name": "web-1", "controller": true}]}});
        assert!(
            skip_reason("pods", &pod)
                .unwrap()
                .contains("ReplicaSet/web-1")
        );
        let pvc = json!({"metadata": {"ownerReferences": [{"kind": "StatefulSet", "name": "db", "controller": true}]}});
        assert_eq!(skip_reason("persistentvolumeclaims", &pvc), None);
        let not_controller =
            json!({"metadata": {"ownerReferences": [{"kind": "Deployment", "name": "x"}]}});
        assert_eq!(skip_reason("configmaps", &not_controller), None);
        assert!(skip_reason("events", &json!({})).is_some());
        let token = json!({"type": "kubernetes.io/service-account-token"});
        assert!(skip_reason("secrets", &token).is_some());
    }

    #[test]
    fn namespace_mapping_moves_objects_namespaces_and_binding_subjects() {
        let to = |ns: &str| (ns == "shop").then(|| "shop-restore".to_string());
        let mut cm = json!({"metadata": {"name": "c", "namespace": "shop"}});
        map_namespace(&mut cm, "configmaps", &to);
        assert_eq!(cm["metadata"]["namespace"], "shop-restore");
        let mut ns = json!({"metadata": {"name": "shop"}});
        map_namespace(&mut ns, "namespaces", &to);
        assert_eq!(ns["metadata"]["name"], "shop-restore");
        let mut rb = json!({"metadata": {"name": "r", "namespace": "shop"},
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": "shop"}, {"kind": "User", "name": "u"}]});
        map_namespace(&mut rb, "rolebindings.rbac.authorization.k8s.io", &to);
        assert_eq!(rb["subjects"][0]["namespace"], "shop-restore");
        let mut other = json!({"metadata": {"name": "c", "namespace": "edge"}});
        map_namespace(&mut other, "configmaps", &to);
        assert_eq!(other["metadata"]["namespace"], "edge");
    }
}
