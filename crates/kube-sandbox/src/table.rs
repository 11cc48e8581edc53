//! Server-side printing: the `Table` kubectl asks for (`Accept: ...;as=Table`), with
//! the columns `kubectl get` shows for the common kinds (READY, STATUS, CLUSTER-IP,
//! DATA, ...), a CRD's additionalPrinterColumns, or NAME and AGE for anything else.

use serde_json::{Value, json};

use super::catalog::ServedType;

/// Whether the request asks for a Table.
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// (header, how to compute the cell) for one column.
type Column = (&'static str, &'static str, fn(&Value) -> Value);

fn s(v: &Value, p: &str) -> String {
    v.pointer(p)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

fn n(v: &Value, p: &str) -> i64 {
    v.pointer(p).and_then(Value::as_i64).unwrap_or(0)
}

fn or_none(text: String) -> Value {
    json!(if text.is_empty() {
        "<none>".to_string()
    } else {
        text
    })
}

/// `5s`, `3m`, `2h`, `4d` since the object was created, as kubectl prints ages.
fn age(obj: &Value) -> Value {
    age_of(&s(obj, "/metadata/creationTimestamp"))
}

/// The age of a timestamp, as kubectl prints it.
fn age_of(stamp: &str) -> Value {
    let Ok(created) = stamp.parse::<jiff::Timestamp>() else {
        return json!("<unknown>");
    };
    let secs = jiff::Timestamp::now()
        .duration_since(created)
        .as_secs()
        .max(0);
    json!(match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        7200..=172_799 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86_400),
    })
}

fn name(obj: &Value) -> Value {
    json!(s(obj, "/metadata/name"))
}

fn columns(t: &ServedType) -> Vec<Column> {
    let mut cols: Vec<Column> = vec![("Name", "name", name)];
    let more: Vec<Column> = match (t.group.as_str(), t.resource.as_str()) {
        ("", "namespaces") => vec![("Status", "string", |o| json!(s(o, "/status/phase")))],
        ("apps", "deployments") => vec![
            ("Ready", "string", |o| {
                json!(format!(
                    "{}/{}",
                    n(o, "/status/readyReplicas"),
                    n(o, "/spec/replicas")
                ))
            }),
            ("Up-to-date", "integer", |o| {
                json!(n(o, "/status/updatedReplicas"))
            }),
            ("Available", "integer", |o| {
                json!(n(o, "/status/availableReplicas"))
            }),
        ],
        ("apps", "statefulsets") => vec![("Ready", "string", |o| {
            json!(format!(
                "{}/{}",
                n(o, "/status/readyReplicas"),
                n(o, "/spec/replicas")
            ))
        })],
        ("apps", "replicasets") => vec![
            ("Desired", "integer", |o| json!(n(o, "/spec/replicas"))),
            ("Current", "integer", |o| json!(n(o, "/status/replicas"))),
            ("Ready", "integer", |o| json!(n(o, "/status/readyReplicas"))),
        ],
        ("apps", "daemonsets") => vec![
            ("Desired", "integer", |o| {
                json!(n(o, "/status/desiredNumberScheduled"))
            }),
            ("Current", "integer", |o| {
                json!(n(o, "/status/currentNumberScheduled"))
            }),
            ("Ready", "integer", |o| json!(n(o, "/status/numberReady"))),
        ],
        ("batch", "jobs") => vec![
            ("Status", "string", |o| {
                let has = |kind: &str| kube_resources::conditions::condition_true(o, kind);
                json!(if has("Complete") {
                    "Complete"
                } else if has("Failed") {
                    "Failed"
                } else if o.pointer("/spec/suspend") == Some(&json!(true)) {
                    "Suspended"
                } else {
                    "Running"
                })
            }),
            ("Completions", "string", |o| {
                json!(format!(
                    "{}/{}",
                    n(o, "/status/succeeded"),
                    o.pointer("/spec/completions")
                        .and_then(Value::as_i64)
                        .unwrap_or(1)
                ))
            }),
        ],
        ("", "pods") => vec![
            ("Ready", "string", |o| {
                let statuses = o
                    .pointer("/status/containerStatuses")
                    .and_then(Value::as_array);
                let ready = statuses
                    .into_iter()
                    .flatten()
                    .filter(|c| c["ready"] == true)
                    .count();
                json!(format!("{ready}/{}", containers(o).len()))
            }),
            ("Status", "string", pod_status),
            ("Restarts", "integer", |o| {
                let statuses = o
                    .pointer("/status/containerStatuses")
                    .and_then(Value::as_array);
                json!(
                    statuses
                        .into_iter()
                        .flatten()
                        .filter_map(|c| c["restartCount"].as_i64())
                        .sum::<i64>()
                )
            }),
        ],
        ("batch", "cronjobs") => vec![
            ("Schedule", "string", |o| json!(s(o, "/spec/schedule"))),
            ("Suspend", "boolean", |o| {
                json!(
                    o.pointer("/spec/suspend")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                )
            }),
        ],
        ("", "services") => vec![
            ("Type", "string", |o| json!(s(o, "/spec/type"))),
            ("Cluster-IP", "string", |o| or_none(s(o, "/spec/clusterIP"))),
            ("External-IP", "string", |o| {
                or_none(s(o, "/spec/externalName"))
            }),
            ("Port(s)", "string", |o| {
                let ports: Vec<String> = o
                    .pointer("/spec/ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        format!(
                            "{}/{}",
                            n(p, "/port"),
                            p.get("protocol").and_then(Value::as_str).unwrap_or("TCP")
                        )
                    })
                    .collect();
                or_none(ports.join(","))
            }),
        ],
        ("", "configmaps") => vec![("Data", "integer", |o| {
            let count = |p: &str| {
                o.pointer(p)
                    .and_then(Value::as_object)
                    .map_or(0, |m| m.len())
            };
            json!(count("/data") + count("/binaryData"))
        })],
        ("", "secrets") => vec![
            ("Type", "string", |o| json!(s(o, "/type"))),
            ("Data", "integer", |o| {
                json!(
                    o.pointer("/data")
                        .and_then(Value::as_object)
                        .map_or(0, |m| m.len())
                )
            }),
        ],
        ("", "persistentvolumeclaims") => vec![
            ("Status", "string", |o| json!(s(o, "/status/phase"))),
            ("Volume", "string", |o| json!(s(o, "/spec/volumeName"))),
            ("Capacity", "string", |o| {
                json!(s(o, "/status/capacity/storage"))
            }),
            ("StorageClass", "string", |o| {
                or_none(s(o, "/spec/storageClassName"))
            }),
        ],
        ("", "persistentvolumes") => vec![
            ("Capacity", "string", |o| {
                json!(s(o, "/spec/capacity/storage"))
            }),
            ("Status", "string", |o| json!(s(o, "/status/phase"))),
            ("Claim", "string", |o| {
                json!(format!(
                    "{}/{}",
                    s(o, "/spec/claimRef/namespace"),
                    s(o, "/spec/claimRef/name")
                ))
            }),
            ("StorageClass", "string", |o| {
                or_none(s(o, "/spec/storageClassName"))
            }),
        ],
        ("snapshot.storage.k8s.io", "volumesnapshots") => vec![
            ("ReadyToUse", "boolean", |o| {
                json!(
                    o.pointer("/status/readyToUse")
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                )
            }),
            ("SourcePVC", "string", |o| {
                json!(s(o, "/spec/source/persistentVolumeClaimName"))
            }),
        ],
        _ => Vec::new(),
    };
    cols.extend(more);
    cols.push(("Age", "string", age));
    cols
}

/// A CRD's additionalPrinterColumns of the served version: (name, type, JSON path).
pub fn printer_columns(crd: &Value, version: &str) -> Vec<(String, String, String)> {
    crd.pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("name").and_then(Value::as_str) == Some(version))
        .flat_map(|v| {
            v.get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .map(|c| (s(&c, "/name"), s(&c, "/type"), s(&c, "/jsonPath")))
        .collect()
}

/// The value at a simple JSONPath (`.spec.cronSpec`, `.status.conditions[0].type`).
fn json_path(obj: &Value, path: &str) -> Value {
    let mut cur = obj;
    for part in path.trim_start_matches('.').split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (part, None),
        };
        cur = match cur.get(key) {
            Some(v) => v,
            None => return Value::Null,
        };
        if let Some(i) = index {
            cur = match cur.get(i) {
                Some(v) => v,
                None => return Value::Null,
            };
        }
    }
    cur.clone()
}

/// The Table of `items` (from a list or a get).
pub fn render(
    t: &ServedType,
    items: &[&Value],
    resource_version: &str,
    continue_token: Option<&str>,
    custom: &[(String, String, String)],
) -> Value {
    let mut defs: Vec<Value> = Vec::new();
    let mut rows: Vec<Value> = Vec::new();
    if custom.is_empty() {
        let cols = columns(t);
        let wide = wide_columns(t);
        defs.extend(cols.iter().map(|(h, ty, _)| column(h, ty)));
        defs.extend(wide.iter().map(|(h, ty, _)| {
            let mut c = column(h, ty);
            c["priority"] = json!(1);
            c
        }));
        rows.extend(
            items
                .iter()
                .map(|o| row(o, cols.iter().chain(&wide).map(|(_, _, f)| f(o)).collect())),
        );
    } else {
        // A CRD that declares its own age column gets no second one.
        let own_age = custom.iter().any(|(h, _, _)| h.eq_ignore_ascii_case("age"));
        defs.push(column("Name", "name"));
        defs.extend(
            custom
                .iter()
                .map(|(h, ty, _)| column(h, if ty == "date" { "string" } else { ty })),
        );
        if !own_age {
            defs.push(column("Age", "string"));
        }
        rows.extend(items.iter().copied().map(|o| {
            let mut cells = vec![name(o)];
            cells.extend(custom.iter().map(|(_, ty, p)| {
                let v = json_path(o, p);
                match (ty.as_str(), v.as_str()) {
                    ("date", Some(stamp)) => age_of(stamp),
                    _ => v,
                }
            }));
            if !own_age {
                cells.push(age(o));
            }
            row(o, cells)
        }));
    }
    let mut metadata = json!({ "resourceVersion": resource_version });
    if let Some(c) = continue_token {
        metadata["continue"] = json!(c);
    }
    json!({ "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": defs, "rows": rows })
}

/// A pod's STATUS as kubectl shows it: the reason its last container terminated
/// (`Completed`, `Error`), else its phase.
fn pod_status(o: &Value) -> Value {
    let terminated = o
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| {
            c.pointer("/state/terminated/reason")
                .and_then(Value::as_str)
        })
        .next_back();
    match terminated {
        Some(reason) => json!(reason),
        None => json!(or_pending(s(o, "/status/phase"))),
    }
}

fn or_pending(phase: String) -> String {
    if phase.is_empty() {
        "Pending".into()
    } else {
        phase
    }
}

/// The containers of a workload's pod template (or a pod).
fn containers(o: &Value) -> Vec<&Value> {
    o.pointer("/spec/template/spec/containers")
        .or_else(|| o.pointer("/spec/containers"))
        .or_else(|| o.pointer("/spec/jobTemplate/spec/template/spec/containers"))
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default()
}

fn container_names(o: &Value) -> Value {
    or_none(
        containers(o)
            .iter()
            .map(|c| s(c, "/name"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn container_images(o: &Value) -> Value {
    or_none(
        containers(o)
            .iter()
            .map(|c| s(c, "/image"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// `app=web,tier=front` from `spec.selector` (a label selector or, for Services, a map).
fn selector(o: &Value) -> Value {
    let map = o
        .pointer("/spec/selector/matchLabels")
        .or_else(|| {
            o.pointer("/spec/selector")
                .filter(|s| s.get("matchLabels").is_none() && s.get("matchExpressions").is_none())
        })
        .and_then(Value::as_object);
    or_none(
        map.map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default(),
    )
}

/// Columns `kubectl get -o wide` adds.
fn wide_columns(t: &ServedType) -> Vec<Column> {
    match (t.group.as_str(), t.resource.as_str()) {
        ("apps", "deployments" | "replicasets" | "daemonsets") | ("batch", "jobs") => vec![
            ("Containers", "string", container_names),
            ("Images", "string", container_images),
            ("Selector", "string", selector),
        ],
        ("apps", "statefulsets") | ("batch", "cronjobs") => {
            vec![
                ("Containers", "string", container_names),
                ("Images", "string", container_images),
            ]
        }
        ("", "services") => vec![("Selector", "string", selector)],
        _ => Vec::new(),
    }
}

fn column(name: &str, ty: &str) -> Value {
    let (ty, format) = if ty == "name" {
        ("string", "name")
    } else {
        (ty, "")
    };
    json!({ "name": name, "type": ty, "format": format, "description": "", "priority": 0 })
}

fn row(obj: &Value, cells: Vec<Value>) -> Value {
    json!({
        "cells": cells,
        "object": {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    #[test]
    fn deployments_show_ready_counts() {
        let c = Catalog::default();
        let Some(t) = c.by_path("apps", "v1", "deployments") else {
            panic!("no deployments")
        };
        let d = json!({ "metadata": { "name": "web", "creationTimestamp": "2020-01-01T00:00:00Z" }, "spec": { "replicas": 3 }, "status": { "readyReplicas": 2 } });
        let table = render(t, &[&d], "7", None, &[]);
        assert_eq!(table["columnDefinitions"][1]["name"], "Ready");
        assert_eq!(table["rows"][0]["cells"][1], "2/3");
        assert!(
            table["rows"][0]["cells"][4]
                .as_str()
                .is_some_and(|a| a.ends_with('d'))
        );
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wanted("application/json"));
    }
}
