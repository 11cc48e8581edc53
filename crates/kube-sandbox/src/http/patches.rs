//! Patches of objects: JSON merge, JSON and strategic merge patches held to the
//! type's schema, and server-side apply.

use axum::body::Bytes;
use axum::http::{HeaderMap, header};
use serde_json::Value;

use super::admission::Admission;
use crate::catalog::ServedType;
use crate::patch;
use crate::schema::Patch;
use crate::status::ApiError;
use crate::store::{Store, WriteOptions};

/// Applies the patch in `body` to `target`; a strategic merge patch is returned (the
/// server shows it in errors about its result).
pub(super) fn apply_patch(
    target: &mut Value,
    t: &ServedType,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<Value>, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    let patch_body = || {
        serde_json::from_slice::<Value>(body)
            .map_err(|e| ApiError::bad_request(format!("invalid patch: {e}")))
    };
    match media {
        "application/merge-patch+json" => {
            patch::merge_patch(target, &patch_body()?);
            Ok(None)
        }
        "application/json-patch+json" => patch::json_patch(target, &patch_body()?).map(|()| None),
        "application/strategic-merge-patch+json" if t.custom => {
            Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json (strategic merge patch is not supported for custom resources)",
            ))
        }
        "application/strategic-merge-patch+json" => {
            let patch = patch_body()?;
            patch::strategic_merge_patch(target, &patch);
            Ok(Some(patch))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Applies a patch and holds its result to the type's schema.
pub(super) fn patch_admitted(
    target: &mut Value,
    t: &ServedType,
    headers: &HeaderMap,
    body: &Bytes,
    admission: &mut Admission,
) -> Result<(), ApiError> {
    let strategic = apply_patch(target, t, headers, body)?;
    let shown = strategic.as_ref().map_or(Patch::Object, Patch::Strategic);
    admission.patched(t, target, shown)
}

/// Server-side apply: creates the object when missing, else merges the configuration
/// in under `manager`'s ownership (see `apply`).
#[allow(clippy::too_many_arguments)]
pub(super) fn server_side_apply(
    store: &Store,
    t: &ServedType,
    ns: Option<&str>,
    name: &str,
    manager: Option<&str>,
    force: bool,
    body: &Bytes,
    opts: WriteOptions<'_>,
    admission: &Admission,
) -> Result<(u16, Value), ApiError> {
    let manager = manager.ok_or_else(|| {
        ApiError::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
    })?;
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
    let applied: Value = serde_saphyr::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("invalid apply configuration: {e}")))?;
    if applied.pointer("/metadata/name").and_then(Value::as_str) != Some(name) {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            applied
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
        )));
    }
    let schema = admission.schema.as_ref();
    if let Some(schema) = schema {
        schema.check_apply(t, ns, &applied)?;
    }
    let complete = |obj: &mut Value| schema.map_or(Ok(()), |s| s.complete(t, obj));
    let opts = WriteOptions {
        field_manager: None,
        ..opts
    };
    let q = t.qualified();
    match store.get(t, ns, name) {
        Ok(_) => store
            .modify(t, ns, name, opts, |current| {
                *current = crate::apply::apply(Some(current), &applied, manager, force, &q)?;
                complete(current)
            })
            .map(|o| (200, o)),
        Err(e) if e.code == 404 => {
            let mut created = crate::apply::apply(None, &applied, manager, force, &q)?;
            complete(&mut created)?;
            store.create(t, ns, created, opts).map(|o| (201, o))
        }
        Err(e) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn patch_object(
    store: &Store,
    t: &ServedType,
    ns: Option<&str>,
    name: &str,
    headers: &HeaderMap,
    body: &Bytes,
    opts: WriteOptions<'_>,
    admission: &mut Admission,
) -> Result<Value, ApiError> {
    store.modify(t, ns, name, opts, |obj| {
        let status = obj.get("status").cloned();
        let rv = obj.pointer("/metadata/resourceVersion").cloned();
        patch_admitted(obj, t, headers, body, admission)?;
        // A patch that names a resourceVersion must name the current one.
        let named = obj.pointer("/metadata/resourceVersion").cloned();
        if named.is_some() && named != rv {
            return Err(ApiError::conflict(&t.qualified(), name));
        }
        if t.subresources.contains(&"status") {
            match status {
                Some(s) => obj["status"] = s,
                None => {
                    if let Some(m) = obj.as_object_mut() {
                        m.remove("status");
                    }
                }
            }
        }
        Ok(())
    })
}
