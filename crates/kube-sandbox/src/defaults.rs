//! Defaults the API server fills in on create, as clients (kubectl rollout status,
//! kube-rs) rely on them and a restored object is compared with them: update
//! strategies, history limits, Job counts and modes, pod-spec, container and probe
//! defaults, Service traffic policies, webhook defaults. The differential test
//! (`tests/sandbox/differential.rs`) holds them to a real API server's.

use base64::Engine as _;
use serde_json::{Value, json};

use super::catalog::ServedType;

/// Fills the defaults of `obj`'s kind, leaving what the user wrote.
pub fn apply(t: &ServedType, obj: &mut Value) {
    let set = |obj: &mut Value, pointer: &str, value: Value| {
        if obj.pointer(pointer).is_none() {
            let (parent, key) = pointer.rsplit_once('/').unwrap_or(("", pointer));
            if let Some(Value::Object(m)) = obj.pointer_mut(parent) {
                m.insert(key.to_string(), value);
            }
        }
    };
    if t.group.is_empty() && t.resource == "secrets" {
        set(obj, "/type", json!("Opaque"));
    }
    if t.group == "admissionregistration.k8s.io" && t.resource.ends_with("webhookconfigurations") {
        webhooks(obj, t.resource.starts_with("mutating"));
        return;
    }
    if obj.get("spec").is_none_or(|s| !s.is_object()) {
        return;
    }
    if let Some(template) = obj.pointer_mut("/spec/template/spec") {
        pod_spec(template);
    }
    if t.group.is_empty()
        && t.resource == "pods"
        && let Some(spec) = obj.get_mut("spec")
    {
        pod_spec(spec);
    }
    match (t.group.as_str(), t.resource.as_str()) {
        ("", "services") => service(obj),
        ("", "persistentvolumeclaims") => set(obj, "/spec/volumeMode", json!("Filesystem")),
        ("", "persistentvolumes") => {
            set(obj, "/spec/volumeMode", json!("Filesystem"));
            set(obj, "/spec/persistentVolumeReclaimPolicy", json!("Retain"));
        }
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
            set(obj, "/spec/completionMode", json!("NonIndexed"));
            set(obj, "/spec/suspend", json!(false));
            set(obj, "/spec/manualSelector", json!(false));
            set(
                obj,
                "/spec/podReplacementPolicy",
                json!("TerminatingOrFailed"),
            );
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

/// Defaults of a pod spec (in Pods and in workload templates).
fn pod_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    if let Some(name) = m.get("serviceAccountName").cloned() {
        // The deprecated alias the API server still fills in.
        m.entry("serviceAccount").or_insert(name);
    }
    for (k, v) in [
        ("restartPolicy", json!("Always")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("schedulerName", json!("default-scheduler")),
        ("securityContext", json!({})),
    ] {
        m.entry(k).or_insert(v);
    }
    for list in ["containers", "initContainers"] {
        for c in m
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            container(c);
        }
    }
}

fn container(c: &mut Value) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let tag = image
        .rsplit('/')
        .next()
        .and_then(|last| last.split_once(':'))
        .map(|(_, tag)| tag);
    let pull = if tag.is_none_or(|t| t == "latest") && !image.contains('@') {
        "Always"
    } else {
        "IfNotPresent"
    };
    let Some(m) = c.as_object_mut() else { return };
    m.entry("imagePullPolicy").or_insert(json!(pull));
    m.entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    m.entry("terminationMessagePolicy").or_insert(json!("File"));
    m.entry("resources").or_insert(json!({}));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(p)) = m.get_mut(probe) {
            for (k, v) in [
                ("timeoutSeconds", 1),
                ("periodSeconds", 10),
                ("successThreshold", 1),
                ("failureThreshold", 3),
            ] {
                p.entry(k).or_insert(json!(v));
            }
            if let Some(Value::Object(get)) = p.get_mut("httpGet") {
                get.entry("scheme").or_insert(json!("HTTP"));
            }
        }
    }
    for env in m
        .get_mut("env")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(Value::Object(field)) = env.pointer_mut("/valueFrom/fieldRef") {
            field.entry("apiVersion").or_insert(json!("v1"));
        }
    }
    for p in m
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if let Some(p) = p.as_object_mut() {
            p.entry("protocol").or_insert(json!("TCP"));
        }
    }
}

/// Defaults of a Service (its cluster IP is allocated by the store).
fn service(obj: &mut Value) {
    let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let external = spec.get("type").and_then(Value::as_str) == Some("ExternalName");
    spec.entry("type").or_insert(json!("ClusterIP"));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    if !external {
        spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
        spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
        spec.entry("internalTrafficPolicy")
            .or_insert(json!("Cluster"));
    }
    let kind = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        spec.entry("externalTrafficPolicy")
            .or_insert(json!("Cluster"));
    }
    if kind == "LoadBalancer" {
        spec.entry("allocateLoadBalancerNodePorts")
            .or_insert(json!(true));
    }
    for p in spec
        .get_mut("ports")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        let port = p.get("port").cloned();
        if let Some(p) = p.as_object_mut() {
            p.entry("protocol").or_insert(json!("TCP"));
            if let Some(port) = port {
                p.entry("targetPort").or_insert(port);
            }
        }
    }
}

/// Defaults of each webhook of a webhook configuration.
fn webhooks(obj: &mut Value, mutating: bool) {
    for hook in obj
        .get_mut("webhooks")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
    {
        hook.entry("failurePolicy").or_insert(json!("Fail"));
        hook.entry("matchPolicy").or_insert(json!("Equivalent"));
        hook.entry("namespaceSelector").or_insert(json!({}));
        hook.entry("objectSelector").or_insert(json!({}));
        hook.entry("timeoutSeconds").or_insert(json!(10));
        if mutating {
            hook.entry("reinvocationPolicy").or_insert(json!("Never"));
        }
        if let Some(Value::Object(service)) = hook
            .get_mut("clientConfig")
            .and_then(|c| c.get_mut("service"))
        {
            service.entry("port").or_insert(json!(443));
        }
        for rule in hook
            .get_mut("rules")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            rule.entry("scope").or_insert(json!("*"));
        }
    }
}

/// Removes `null` fields, as decoding into the API's typed structs does
/// (`creationTimestamp: null` in a pod template, say).
fn drop_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// `metadata` as decoding into the API's `ObjectMeta` leaves it, for every kind
/// (custom ones too): empty `labels`, `annotations`, `finalizers`, `ownerReferences`
/// and `managedFields` are left out, as are `null` fields (a merge patch that removes
/// the last annotation leaves no `annotations: {}` behind).
fn object_meta(obj: &mut Value) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    meta.retain(|field, v| {
        let omitted_when_empty = matches!(
            field.as_str(),
            "labels" | "annotations" | "finalizers" | "ownerReferences" | "managedFields"
        );
        let empty = match v {
            Value::Object(m) => m.is_empty(),
            Value::Array(items) => items.is_empty(),
            _ => false,
        };
        !v.is_null() && (!omitted_when_empty || !empty)
    });
}

/// What the API server rewrites on every write: `null` fields of built-in kinds are
/// dropped, empty metadata maps and lists of every kind too, and a Secret's
/// `stringData` becomes base64 `data`.
pub fn normalize(t: &ServedType, obj: &mut Value) {
    if !t.custom {
        drop_nulls(obj);
    }
    object_meta(obj);
    if t.group.is_empty()
        && t.resource == "secrets"
        && let Some(Value::Object(plain)) = obj.as_object_mut().and_then(|o| o.remove("stringData"))
    {
        if !obj.get("data").is_some_and(Value::is_object) {
            obj["data"] = json!({});
        }
        for (k, v) in plain {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            obj["data"][k.as_str()] = json!(base64::engine::general_purpose::STANDARD.encode(text));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

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
    fn nulls_of_built_in_kinds_are_dropped() {
        let c = Catalog::default();
        let Some(t) = c.by_path("apps", "v1", "deployments") else {
            panic!("no deployments")
        };
        let mut obj = json!({ "spec": { "template": { "metadata": { "creationTimestamp": null, "labels": { "a": "b" } } } } });
        normalize(t, &mut obj);
        assert_eq!(
            obj,
            json!({ "spec": { "template": { "metadata": { "labels": { "a": "b" } } } } })
        );
    }

    #[test]
    fn empty_metadata_maps_are_left_out_for_every_kind() {
        let c = Catalog::default();
        let Some(t) = c.by_path("", "v1", "configmaps") else {
            panic!("no configmaps")
        };
        let mut custom = t.clone();
        custom.custom = true;
        for t in [t, &custom] {
            let mut obj = json!({ "metadata": {
                "name": "a", "annotations": {}, "labels": { "x": "y" }, "finalizers": [],
                "ownerReferences": null
            }, "data": { "k": "v" } });
            normalize(t, &mut obj);
            assert_eq!(
                obj,
                json!({ "metadata": { "name": "a", "labels": { "x": "y" } }, "data": { "k": "v" } })
            );
        }
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
