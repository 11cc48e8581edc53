//! What the API server refuses (422 Invalid), beyond names: a create that carries a
//! resourceVersion, negative replicas, non-string ConfigMap/Secret data, a workload
//! whose selector does not match its template's labels, and changes to
//! fields that are immutable once set (a Deployment's selector, a Job's template, a
//! PVC's storage class, ...). Rules are data: one table row per immutable field.

use serde_json::Value;

use super::catalog::ServedType;
use super::status::ApiError;

/// (group, plural, JSON pointer): fields that cannot change once the object exists.
const IMMUTABLE: &[(&str, &str, &str)] = &[
    ("apps", "deployments", "/spec/selector"),
    ("apps", "replicasets", "/spec/selector"),
    ("apps", "daemonsets", "/spec/selector"),
    ("apps", "statefulsets", "/spec/selector"),
    ("apps", "statefulsets", "/spec/serviceName"),
    ("apps", "statefulsets", "/spec/volumeClaimTemplates"),
    ("apps", "statefulsets", "/spec/podManagementPolicy"),
    ("batch", "jobs", "/spec/selector"),
    ("batch", "jobs", "/spec/template"),
    ("batch", "jobs", "/spec/completions"),
    ("", "persistentvolumeclaims", "/spec/accessModes"),
    ("", "persistentvolumeclaims", "/spec/storageClassName"),
    ("", "persistentvolumeclaims", "/spec/volumeMode"),
    ("", "persistentvolumeclaims", "/spec/selector"),
    ("storage.k8s.io", "storageclasses", "/provisioner"),
    ("storage.k8s.io", "storageclasses", "/parameters"),
    ("storage.k8s.io", "storageclasses", "/reclaimPolicy"),
    ("storage.k8s.io", "storageclasses", "/volumeBindingMode"),
    ("rbac.authorization.k8s.io", "rolebindings", "/roleRef"),
    (
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "/roleRef",
    ),
];

/// Fields immutable once they have a value (set later by a controller, never changed).
const SET_ONCE: &[(&str, &str, &str)] = &[("", "persistentvolumeclaims", "/spec/volumeName")];

fn name(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `/spec/selector` → `spec.selector`, as error messages name fields.
fn field(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// Checks an object about to be created.
pub fn on_create(t: &ServedType, obj: &Value) -> Result<(), ApiError> {
    if let Some(rv) = obj
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
    {
        return Err(ApiError::invalid(
            &t.kind,
            name(obj),
            &[(
                "metadata.resourceVersion",
                format!("Invalid value: \"{rv}\": must be empty"),
            )],
        ));
    }
    content(t, obj)
}

/// Checks a change from `before` to `after`.
pub fn on_update(t: &ServedType, before: &Value, after: &Value) -> Result<(), ApiError> {
    let key = (t.group.as_str(), t.resource.as_str());
    let mut causes: Vec<(String, String)> = Vec::new();
    for (g, p, pointer) in IMMUTABLE {
        if (*g, *p) == key && before.pointer(pointer) != after.pointer(pointer) {
            causes.push((
                field(pointer),
                "Invalid value: field is immutable".to_string(),
            ));
        }
    }
    for (g, p, pointer) in SET_ONCE {
        let was = before.pointer(pointer).filter(|v| !v.is_null() && *v != "");
        if (*g, *p) == key && was.is_some() && was != after.pointer(pointer) {
            causes.push((
                field(pointer),
                "Invalid value: field is immutable once set".to_string(),
            ));
        }
    }
    if matches!(key, ("", "configmaps" | "secrets"))
        && before.get("immutable") == Some(&Value::Bool(true))
    {
        for data in ["/data", "/binaryData", "/immutable"] {
            if before.pointer(data) != after.pointer(data) {
                causes.push((
                    field(data),
                    "Forbidden: field is immutable when `immutable` is set".to_string(),
                ));
            }
        }
    }
    if !causes.is_empty() {
        let causes: Vec<(&str, String)> = causes
            .iter()
            .map(|(f, m)| (f.as_str(), m.clone()))
            .collect();
        return Err(ApiError::invalid(&t.kind, name(after), &causes));
    }
    content(t, after)
}

/// Rules on the content itself, for creates and updates.
fn content(t: &ServedType, obj: &Value) -> Result<(), ApiError> {
    let fail = |f: &str, m: String| Err(ApiError::invalid(&t.kind, name(obj), &[(f, m)]));
    if matches!(
        (t.group.as_str(), t.resource.as_str()),
        ("apps", "deployments" | "statefulsets" | "replicasets")
    ) && let Some(r) = obj.pointer("/spec/replicas")
        && r.as_i64().is_none_or(|r| r < 0)
    {
        return fail(
            "spec.replicas",
            format!("Invalid value: {r}: must be greater than or equal to 0"),
        );
    }
    if matches!(
        (t.group.as_str(), t.resource.as_str()),
        (
            "apps",
            "deployments" | "statefulsets" | "replicasets" | "daemonsets"
        )
    ) && let Some(labels) = unmatched_template(obj)
    {
        return fail(
            "spec.template.metadata.labels",
            format!("Invalid value: {labels}: `selector` does not match template `labels`"),
        );
    }
    if t.group.is_empty() && (t.resource == "configmaps" || t.resource == "secrets") {
        for map in ["data", "binaryData", "stringData"] {
            if let Some(entries) = obj.get(map).and_then(Value::as_object)
                && let Some((k, v)) = entries.iter().find(|(_, v)| !v.is_string())
            {
                return fail(
                    &format!("{map}[{k}]"),
                    format!("Invalid value: {v}: must be a string"),
                );
            }
        }
    }
    Ok(())
}

/// A workload's template labels when its selector's `matchLabels` do not all appear in
/// them (the pods it makes would not be its own).
fn unmatched_template(obj: &Value) -> Option<Value> {
    let wanted = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)?;
    let labels = obj
        .pointer("/spec/template/metadata/labels")
        .cloned()
        .unwrap_or(Value::Null);
    let matches = wanted
        .iter()
        .all(|(k, v)| labels.get(k).is_some_and(|l| l == v));
    (!matches).then_some(labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use serde_json::json;

    fn ty(group: &str, plural: &str) -> ServedType {
        let c = Catalog::default();
        c.types()
            .iter()
            .find(|t| t.group == group && t.resource == plural)
            .cloned()
            .unwrap_or_else(|| panic!("{plural}"))
    }

    #[test]
    fn a_selector_must_match_its_template_labels() {
        let d = ty("apps", "deployments");
        let mut obj = json!({"metadata": {"name": "web"}, "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web", "tier": "front"}}}}});
        assert!(on_create(&d, &obj).is_ok());
        obj["spec"]["template"]["metadata"]["labels"] = json!({"app": "other"});
        let e = on_create(&d, &obj).err();
        assert!(e.is_some_and(|e| {
            e.code == 422
                && e.message
                    .contains("`selector` does not match template `labels`")
        }));
    }

    #[test]
    fn a_deployment_selector_cannot_change() {
        let t = ty("apps", "deployments");
        let spec = |app: &str| json!({ "selector": { "matchLabels": { "app": app } }, "template": { "metadata": { "labels": { "app": app } } } });
        let before = json!({ "metadata": { "name": "web" }, "spec": spec("a") });
        let after = json!({ "metadata": { "name": "web" }, "spec": spec("b") });
        assert!(
            on_update(&t, &before, &after)
                .is_err_and(|e| e.code == 422 && e.message.contains("spec.selector"))
        );
        assert!(on_update(&t, &before, &before).is_ok());
    }

    #[test]
    fn creates_refuse_a_resource_version_and_bad_data() {
        let cm = ty("", "configmaps");
        assert!(
            on_create(
                &cm,
                &json!({ "metadata": { "name": "a", "resourceVersion": "12" } })
            )
            .is_err()
        );
        assert!(
            on_create(
                &cm,
                &json!({ "metadata": { "name": "a" }, "data": { "n": 1 } })
            )
            .is_err()
        );
        assert!(
            on_create(
                &cm,
                &json!({ "metadata": { "name": "a" }, "data": { "n": "1" } })
            )
            .is_ok()
        );
        let d = ty("apps", "deployments");
        assert!(
            on_create(
                &d,
                &json!({ "metadata": { "name": "a" }, "spec": { "replicas": -1 } })
            )
            .is_err()
        );
    }

    #[test]
    fn a_volume_name_may_be_set_once() {
        let t = ty("", "persistentvolumeclaims");
        let unbound = json!({ "metadata": { "name": "c" }, "spec": {} });
        let bound = json!({ "metadata": { "name": "c" }, "spec": { "volumeName": "pv-1" } });
        let moved = json!({ "metadata": { "name": "c" }, "spec": { "volumeName": "pv-2" } });
        assert!(on_update(&t, &unbound, &bound).is_ok());
        assert!(on_update(&t, &bound, &moved).is_err());
    }
}
