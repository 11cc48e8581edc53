//! CustomResourceDefinitions: the types an established CRD serves, and its status.

use serde_json::{Value, json};

use super::meta_str;
use crate::catalog::{ResourceType, ServedType};
use crate::status::ApiError;
use crate::time::now_rfc3339;

/// The types a CRD serves (one per served version).
pub(super) fn crd_types(crd: &Value) -> Result<Vec<ServedType>, ApiError> {
    let name = meta_str(crd, "name").unwrap_or("").to_string();
    let spec = crd.get("spec").ok_or_else(|| {
        ApiError::invalid(
            "CustomResourceDefinition",
            &name,
            &[("spec", "Required value".into())],
        )
    })?;
    let s = |p: &str| {
        spec.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (group, plural, kind) = (s("/group"), s("/names/plural"), s("/names/kind"));
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            &name,
            &[(
                "spec",
                "Required value: group, names.plural and names.kind are required".into(),
            )],
        ));
    }
    if name != format!("{plural}.{group}") {
        return Err(ApiError::invalid(
            "CustomResourceDefinition",
            &name,
            &[(
                "metadata.name",
                format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
            )],
        ));
    }
    let singular = match s("/names/singular") {
        x if x.is_empty() => kind.to_lowercase(),
        x => x,
    };
    let short_names: Vec<String> = spec
        .pointer("/names/shortNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let namespaced = s("/scope") != "Cluster";
    let versions = spec
        .get("versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    Ok(versions
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|v| Some((v.get("name").and_then(Value::as_str)?, v)))
        .map(|(version, v)| ServedType {
            rtype: ResourceType {
                group: group.clone(),
                version: version.to_string(),
                resource: plural.clone(),
                kind: kind.clone(),
                namespaced,
            },
            subresources: ["status", "scale"]
                .into_iter()
                .filter(|s| v.pointer(&format!("/subresources/{s}")).is_some())
                .collect(),
            singular: singular.clone(),
            short_names: short_names.clone(),
            custom: true,
        })
        .collect())
}

/// A CRD's status: names accepted and established.
pub(super) fn crd_status(crd: &Value) -> Value {
    let now = now_rfc3339();
    json!({
        "acceptedNames": crd.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "conditions": [
            { "type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": now },
            { "type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": now },
        ],
        "storedVersions": crd.pointer("/spec/versions").and_then(Value::as_array).map(|vs| vs.iter().filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true)).filter_map(|v| v.get("name").cloned()).collect::<Vec<_>>()).unwrap_or_default(),
    })
}
