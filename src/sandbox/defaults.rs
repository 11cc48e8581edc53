//! Defaults the API server fills into workloads on create, as clients (kubectl rollout
//! status, kube-rs) rely on them: update strategies, history limits, Job counts.

use serde_json::{Value, json};

use super::catalog::ResourceType;

/// Fills the defaults of `obj`'s kind, leaving what the user wrote.
pub fn apply(t: &ResourceType, obj: &mut Value) {
    let set = |obj: &mut Value, pointer: &str, value: Value| {
        if obj.pointer(pointer).is_none() {
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            if let Some(Value::Object(m)) = obj.pointer_mut(parent) {
                m.insert(key.to_string(), value);
            }
        }
    };
    if obj.get("spec").is_none_or(|s| !s.is_object()) {
        return;
    }
    match (t.group.as_str(), t.plural.as_str()) {
        ("apps", "deployments") => {
            set(obj, "/spec/replicas", json!(1));
            set(
                obj,
                "/spec/strategy",
                json!({ "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": "25%", "maxSurge": "25%" } }),
            );
            set(obj, "/spec/revisionHistoryLimit", json!(10));
            set(obj, "/spec/progressDeadlineSeconds", json!(600));
        }
        ("apps", "statefulsets") => {
            set(obj, "/spec/replicas", json!(1));
            set(
                obj,
                "/spec/updateStrategy",
                json!({ "type": "RollingUpdate", "rollingUpdate": { "partition": 0 } }),
            );
            set(obj, "/spec/podManagementPolicy", json!("OrderedReady"));
            set(obj, "/spec/revisionHistoryLimit", json!(10));
        }
        ("apps", "daemonsets") => {
            set(
                obj,
                "/spec/updateStrategy",
                json!({ "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 1, "maxSurge": 0 } }),
            );
            set(obj, "/spec/revisionHistoryLimit", json!(10));
        }
        ("apps", "replicasets") => set(obj, "/spec/replicas", json!(1)),
        ("batch", "jobs") => {
            set(obj, "/spec/completions", json!(1));
            set(obj, "/spec/parallelism", json!(1));
            set(obj, "/spec/backoffLimit", json!(6));
        }
        ("batch", "cronjobs") => {
            set(obj, "/spec/concurrencyPolicy", json!("Allow"));
            set(obj, "/spec/suspend", json!(false));
            set(obj, "/spec/successfulJobsHistoryLimit", json!(3));
            set(obj, "/spec/failedJobsHistoryLimit", json!(1));
        }
        _ => {}
    }
}

/// What the API server rewrites on every write: a Secret's `stringData` becomes
/// base64 `data`.
pub fn normalize(t: &ResourceType, obj: &mut Value) {
    if t.group.is_empty()
        && t.plural == "secrets"
        && let Some(Value::Object(plain)) = obj.as_object_mut().and_then(|o| o.remove("stringData"))
    {
        if !obj.get("data").is_some_and(Value::is_object) {
            obj["data"] = json!({});
        }
        for (k, v) in plain {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            obj["data"][k.as_str()] = json!(super::base64::encode(text.as_bytes()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::catalog::Catalog;

    #[test]
    fn statefulsets_get_a_rolling_update_strategy_and_keep_what_was_written() {
        let c = Catalog::default();
        let Some(t) = c.by_path("apps", "v1", "statefulsets") else {
            panic!("no statefulsets")
        };
        let mut obj = json!({ "spec": { "replicas": 3 } });
        apply(t, &mut obj);
        assert_eq!(obj["spec"]["updateStrategy"]["type"], "RollingUpdate");
        assert_eq!(obj["spec"]["replicas"], 3);
    }

    #[test]
    fn secret_string_data_becomes_base64_data() {
        let c = Catalog::default();
        let Some(t) = c.by_path("", "v1", "secrets") else {
            panic!("no secrets")
        };
        let mut obj = json!({ "data": { "a": "eA==" }, "stringData": { "b": "hello" } });
        normalize(t, &mut obj);
        assert_eq!(obj, json!({ "data": { "a": "eA==", "b": "aGVsbG8=" } }));
    }
}
