//! Subresources of objects: `status`, `scale` (the autoscaling/v1 Scale of a
//! workload), and the options of a Pod's `log`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use serde_json::{Value, json};

use super::admission::{Admission, parse_body};
use super::patches::{apply_patch, patch_admitted};
use crate::catalog::ServedType;
use crate::status::ApiError;
use crate::store::{Store, WriteOptions};

/// The options of a `/log` request.
pub(super) fn log_options(params: &HashMap<String, String>) -> crate::jobs::LogOptions {
    let number = |key: &str| params.get(key).and_then(|v| v.parse().ok());
    crate::jobs::LogOptions {
        container: params.get("container").filter(|c| !c.is_empty()).cloned(),
        tail_lines: number("tailLines"),
        limit_bytes: number("limitBytes"),
        timestamps: params.get("timestamps").is_some_and(|v| v == "true"),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn subresource(
    store: &Store,
    t: &ServedType,
    ns: Option<&str>,
    name: &str,
    sub: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &Bytes,
    opts: WriteOptions<'_>,
    admission: &mut Admission,
) -> Result<(u16, Value), ApiError> {
    match (sub, method) {
        ("status", &Method::GET) => store.get(t, ns, name).map(|o| (200, o)),
        ("status", &Method::PUT) => {
            let new = admission.body(t, parse_body(body, headers)?, headers)?;
            store
                .update_status(
                    t,
                    ns,
                    name,
                    |obj| {
                        obj["status"] = new.get("status").cloned().unwrap_or(Value::Null);
                        Ok(())
                    },
                    opts,
                )
                .map(|o| (200, o))
        }
        ("status", &Method::PATCH) => store
            .update_status(
                t,
                ns,
                name,
                |obj| patch_admitted(obj, t, headers, body, admission),
                opts,
            )
            .map(|o| (200, o)),
        ("scale", &Method::GET) => store.get(t, ns, name).map(|o| (200, scale_of(&o))),
        ("scale", &Method::PUT | &Method::PATCH) => {
            let current = store.get(t, ns, name)?;
            let mut scale = scale_of(&current);
            if method == Method::PUT {
                let new = parse_body(body, headers)?;
                if let Some(rv) = new.pointer("/metadata/resourceVersion")
                    && Some(rv) != current.pointer("/metadata/resourceVersion")
                {
                    return Err(ApiError::conflict(&t.qualified(), name));
                }
                scale = new;
            } else {
                apply_patch(&mut scale, t, headers, body)?;
            }
            let replicas = scale
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .filter(|r| *r >= 0)
                .ok_or_else(|| {
                    ApiError::invalid(
                        "Scale",
                        name,
                        &[(
                            "spec.replicas",
                            "Invalid value: must be greater than or equal to 0".into(),
                        )],
                    )
                })?;
            store
                .modify(t, ns, name, opts, |obj| {
                    obj["spec"]["replicas"] = json!(replicas);
                    Ok(())
                })
                .map(|o| (200, scale_of(&o)))
        }
        ("finalize", _) | (_, _) => Err(ApiError::method_not_allowed(format!(
            "{method} is not allowed on {}/{sub}",
            t.qualified()
        ))),
    }
}

/// The `autoscaling/v1` Scale of a workload.
fn scale_of(obj: &Value) -> Value {
    let selector = obj
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
            "creationTimestamp": meta.get("creationTimestamp"),
        },
        "spec": { "replicas": obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1)) },
        "status": {
            "replicas": obj.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}
