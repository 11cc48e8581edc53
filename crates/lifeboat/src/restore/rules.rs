//! What restore leaves out and what it removes from each object (SPEC section 5), as
//! data plus one small function per kind that needs one.
//!
//! Left out: Events, Nodes and other objects that describe a cluster rather than an
//! application; objects a controller recreates (Pods of ReplicaSets, ReplicaSets of
//! Deployments, Jobs of CronJobs, EndpointSlices, Endpoints of Services,
//! service-account tokens, the CA bundle each cluster publishes). Removed:
//! server-assigned metadata, status (unless asked for), Service cluster IPs (unless
//! headless) and node ports (unless asked to keep them: the target allocates its own,
//! and one it already uses is refused), PVC binding annotations, PV claim uids, Job
//! selectors the API server generated. Moved by the namespace mapping: the object's
//! namespace, role binding subjects, a PV's claim, the Services behind webhooks and
//! APIServices. Owner references and PVC volume names depend on what else is restored:
//! see `owners` and `Filter::prepare`.

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
    (
        "ipaddresses.networking.k8s.io",
        "IP addresses of Services are allocated by the target cluster",
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

/// The label of the APIServices an API server registers for its own groups (and for
/// CRDs' groups).
const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";

/// The ConfigMap each cluster's root CA publisher keeps in every namespace.
const ROOT_CA_CONFIGMAP: &str = "kube-root-ca.crt";

/// What `strip` may keep that it removes by default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Keep {
    /// Service `nodePort`s and `healthCheckNodePort` (restore input `keep_node_ports`).
    pub node_ports: bool,
}

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
    if qualified == "apiservices.apiregistration.k8s.io"
        && object
            .pointer("/metadata/labels")
            .and_then(|l| l.get(AUTOMANAGED))
            .is_some()
    {
        return Some("the target's API server registers its own built-in APIServices".into());
    }
    if qualified == "configmaps"
        && object.pointer("/metadata/name").and_then(Value::as_str) == Some(ROOT_CA_CONFIGMAP)
    {
        return Some(
            "the API server's CA bundle: the target cluster publishes its own in every namespace"
                .into(),
        );
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

/// Removes what must not be sent back to an API server (status too, unless
/// `keep_status`).
pub fn strip(qualified: &str, object: &mut Value, keep_status: bool, keep: Keep) {
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
        "services" => strip_service(map, keep),
        "persistentvolumeclaims" => strip_pvc(map),
        "persistentvolumes" => strip_pv(map),
        "jobs.batch" => strip_job(map),
        _ => {}
    }
}

/// Cluster IPs are allocated by the target cluster, except `None` (headless); so are
/// node ports, unless they are kept.
fn strip_service(map: &mut Map<String, Value>, keep: Keep) {
    let Some(Value::Object(spec)) = map.get_mut("spec") else {
        return;
    };
    if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
        spec.remove("clusterIP");
        spec.remove("clusterIPs");
    }
    if !keep.node_ports {
        spec.remove("healthCheckNodePort");
        if let Some(Value::Array(ports)) = spec.get_mut("ports") {
            for port in ports.iter_mut().filter_map(Value::as_object_mut) {
                port.remove("nodePort");
            }
        }
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
/// source Job's uid (unless the user wrote them: `manualSelector`). The Job's own
/// labels were copied from its pod template when it had none: then they are left out,
/// so the target copies them again with its own uid; otherwise only the generated uid
/// labels go.
fn strip_job(map: &mut Map<String, Value>) {
    let manual = map
        .get("spec")
        .and_then(|s| s.get("manualSelector"))
        .and_then(Value::as_bool)
        == Some(true);
    if manual {
        return;
    }
    let template_labels = map
        .get("spec")
        .and_then(|s| s.pointer("/template/metadata/labels"))
        .cloned();
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        let copied = template_labels.is_some() && meta.get("labels") == template_labels.as_ref();
        if copied {
            meta.remove("labels");
        } else if let Some(Value::Object(labels)) = meta.get_mut("labels") {
            for l in JOB_GENERATED_LABELS {
                labels.remove(*l);
            }
        }
    }
    let Some(Value::Object(spec)) = map.get_mut("spec") else {
        return;
    };
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
/// its name; role bindings follow their service-account subjects, a PV its claim,
/// webhooks and APIServices the Services that serve them.
pub fn map_namespace(object: &mut Value, qualified: &str, map: &dyn Fn(&str) -> Option<String>) {
    let remap = |v: &mut Value| {
        if let Some(to) = v.as_str().and_then(map) {
            *v = Value::String(to);
        }
    };
    match qualified {
        "persistentvolumes" => {
            if let Some(ns) = object.pointer_mut("/spec/claimRef/namespace") {
                remap(ns);
            }
        }
        "validatingwebhookconfigurations.admissionregistration.k8s.io"
        | "mutatingwebhookconfigurations.admissionregistration.k8s.io" => {
            if let Some(Value::Array(hooks)) = object.get_mut("webhooks") {
                for hook in hooks {
                    if let Some(ns) = hook.pointer_mut("/clientConfig/service/namespace") {
                        remap(ns);
                    }
                }
            }
        }
        "apiservices.apiregistration.k8s.io" => {
            if let Some(ns) = object.pointer_mut("/spec/service/namespace") {
                remap(ns);
            }
        }
        _ => {}
    }
    if let Some(ns) = object.pointer_mut("/metadata/namespace") {
        remap(ns);
    }
    if qualified == "namespaces"
        && let Some(name) = object.pointer_mut("/metadata/name")
    {
        remap(name);
        // The API server labels every Namespace with its own name: a renamed one
        // carries the new name there too (as the server would write it).
        let name = name.clone();
        if let Some(label) = object.pointer_mut("/metadata/labels/kubernetes.io~1metadata.name") {
            *label = name;
        }
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
        strip("configmaps", &mut o, false, Keep::default());
        assert_eq!(
            o,
            json!({"metadata": {"name": "a", "labels": {"x": "y"}}, "spec": {"a": 1}})
        );
    }

    #[test]
    fn status_is_kept_when_asked() {
        let mut o = json!({"metadata": {"name": "a"}, "status": {"ready": true}});
        strip("configmaps", &mut o, true, Keep::default());
        assert!(o.get("status").is_some());
    }

    #[test]
    fn services_lose_their_cluster_ip_unless_headless() {
        let mut normal = json!({"metadata": {"name": "a"}, "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": []}});
        strip("services", &mut normal, false, Keep::default());
        assert_eq!(normal["spec"], json!({"ports": []}));
        let mut headless = json!({"metadata": {"name": "a"}, "spec": {"clusterIP": "None", "clusterIPs": ["None"]}});
        strip("services", &mut headless, false, Keep::default());
        assert_eq!(headless["spec"]["clusterIP"], "None");
    }

    #[test]
    fn node_ports_are_cleared_unless_kept() {
        let service = json!({"metadata": {"name": "edge"}, "spec": {"type": "LoadBalancer",
            "healthCheckNodePort": 31000, "externalTrafficPolicy": "Local",
            "ports": [{"port": 80, "nodePort": 30080}, {"port": 443, "nodePort": 30443}]}});
        let mut cleared = service.clone();
        strip("services", &mut cleared, false, Keep::default());
        assert_eq!(
            cleared["spec"],
            json!({"type": "LoadBalancer", "externalTrafficPolicy": "Local",
                "ports": [{"port": 80}, {"port": 443}]})
        );
        let mut kept = service.clone();
        strip("services", &mut kept, false, Keep { node_ports: true });
        assert_eq!(kept["spec"]["ports"][1]["nodePort"], 30443);
        assert_eq!(kept["spec"]["healthCheckNodePort"], 31000);
    }

    #[test]
    fn built_in_apiservices_are_left_to_the_target() {
        let q = "apiservices.apiregistration.k8s.io";
        let local = json!({"metadata": {"name": "v1.apps", "labels": {"kube-aggregator.kubernetes.io/automanaged": "onstart"}}});
        assert!(skip_reason(q, &local).is_some());
        let aggregated = json!({"metadata": {"name": "v1beta1.metrics.k8s.io"}});
        assert_eq!(skip_reason(q, &aggregated), None);
    }

    #[test]
    fn the_published_ca_bundle_is_left_to_the_target() {
        let ca = json!({"metadata": {"name": "kube-root-ca.crt", "namespace": "shop"}});
        assert!(
            skip_reason("configmaps", &ca)
                .unwrap()
                .contains("CA bundle")
        );
        let other = json!({"metadata": {"name": "settings", "namespace": "shop"}});
        assert_eq!(skip_reason("configmaps", &other), None);
    }

    #[test]
    fn namespace_mapping_moves_claims_and_the_services_behind_webhooks() {
        let to = |ns: &str| (ns == "shop").then(|| "shop-restore".to_string());
        let mut pv = json!({"metadata": {"name": "pv-1"}, "spec": {"claimRef": {"namespace": "shop", "name": "data"}}});
        map_namespace(&mut pv, "persistentvolumes", &to);
        assert_eq!(pv["spec"]["claimRef"]["namespace"], "shop-restore");
        let mut hook = json!({"metadata": {"name": "guard"}, "webhooks": [
            {"name": "a", "clientConfig": {"service": {"namespace": "shop", "name": "guard"}}},
            {"name": "b", "clientConfig": {"url": "https://example.com"}}]});
        map_namespace(
            &mut hook,
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
            &to,
        );
        assert_eq!(
            hook["webhooks"][0]["clientConfig"]["service"]["namespace"],
            "shop-restore"
        );
        assert_eq!(
            hook["webhooks"][1]["clientConfig"]["url"],
            "https://example.com"
        );
        let mut api = json!({"metadata": {"name": "v1beta1.metrics.k8s.io"}, "spec": {"service": {"namespace": "shop", "name": "m"}}});
        map_namespace(&mut api, "apiservices.apiregistration.k8s.io", &to);
        assert_eq!(api["spec"]["service"]["namespace"], "shop-restore");
    }

    #[test]
    fn pvcs_lose_binding_annotations_and_keep_others() {
        let mut o = json!({"metadata": {"name": "d", "annotations": {
            "pv.kubernetes.io/bind-completed": "yes", "team": "db"}}});
        strip("persistentvolumeclaims", &mut o, false, Keep::default());
        assert_eq!(o["metadata"]["annotations"], json!({"team": "db"}));
    }

    #[test]
    fn jobs_lose_generated_selectors_but_keep_manual_ones() {
        let mut o = json!({"metadata": {"name": "j"}, "spec": {"selector": {"matchLabels": {"controller-uid": "u"}},
            "template": {"metadata": {"labels": {"controller-uid": "u", "job-name": "j"}}}}});
        strip("jobs.batch", &mut o, false, Keep::default());
        assert_eq!(
            o["spec"],
            json!({"template": {"metadata": {"labels": {"job-name": "j"}}}})
        );
        let mut manual =
            json!({"spec": {"manualSelector": true, "selector": {"matchLabels": {"a": "b"}}}});
        strip("jobs.batch", &mut manual, false, Keep::default());
        assert!(manual["spec"].get("selector").is_some());
    }

    #[test]
    fn a_jobs_labels_copied_from_its_template_are_left_for_the_target_to_copy_again() {
        let generated = json!({"controller-uid": "u", "batch.kubernetes.io/controller-uid": "u",
            "job-name": "j", "batch.kubernetes.io/job-name": "j"});
        let mut copied = json!({"metadata": {"name": "j", "labels": generated},
            "spec": {"template": {"metadata": {"labels": generated}}}});
        strip("jobs.batch", &mut copied, false, Keep::default());
        assert!(copied["metadata"].get("labels").is_none(), "{copied}");
        let mut own = json!({"metadata": {"name": "j", "labels": {"team": "a", "controller-uid": "u"}},
            "spec": {"template": {"metadata": {"labels": generated}}}});
        strip("jobs.batch", &mut own, false, Keep::default());
        assert_eq!(own["metadata"]["labels"], json!({"team": "a"}));
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

    #[test]
    fn a_mapped_namespace_carries_its_new_name_in_its_name_label() {
        let mut ns = json!({ "kind": "Namespace", "metadata": { "name": "shop",
            "labels": { "kubernetes.io/metadata.name": "shop", "team": "web" } } });
        map_namespace(&mut ns, "namespaces", &|n| {
            (n == "shop").then(|| "shop-drill".to_string())
        });
        assert_eq!(ns["metadata"]["name"], "shop-drill");
        assert_eq!(
            ns["metadata"]["labels"]["kubernetes.io/metadata.name"],
            "shop-drill"
        );
        assert_eq!(ns["metadata"]["labels"]["team"], "web");
    }
}
