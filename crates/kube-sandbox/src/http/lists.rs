//! Lists of objects: as JSON written straight from the store, as the Tables `kubectl
//! get` asks for, a list's query (selectors, paging), and collection deletes.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};
use serde_json::{Value, json};

use crate::catalog::ServedType;
use crate::selector::{FieldSelector, label_selector};
use crate::status::ApiError;
use crate::store::{ListQuery, Store, WriteOptions};

pub(super) fn as_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(crate::table::wanted)
}

/// A Table of objects, with a CRD's printer columns for custom resources.
pub(super) fn table_of(
    store: &Store,
    t: &ServedType,
    items: &[&Value],
    rv: &str,
    continue_token: Option<&str>,
) -> Value {
    let custom = if t.custom {
        let catalog = store.catalog();
        catalog
            .by_path("apiextensions.k8s.io", "v1", "customresourcedefinitions")
            .and_then(|crds| {
                store
                    .get(crds, None, &format!("{}.{}", t.resource, t.group))
                    .ok()
            })
            .map(|crd| crate::table::printer_columns(&crd, &t.version))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    crate::table::render(t, items, rv, continue_token, &custom)
}

/// A list as a Table (what `kubectl get` asks for).
pub(super) fn list_table(
    store: &Store,
    t: &ServedType,
    ns: Option<&str>,
    params: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let page = store.list(t, ns, &list_query(params)?)?;
    let rv = page.resource_version.to_string();
    Ok(table_of(
        store,
        t,
        &page.items.iter().map(|o| o.as_ref()).collect::<Vec<_>>(),
        &rv,
        page.continue_token.as_deref(),
    ))
}

/// A list as JSON text: the stored objects are written as they are kept (compact
/// JSON), never parsed, so a large list costs little more than its bytes.
pub(super) fn list(
    store: &Store,
    t: &ServedType,
    ns: Option<&str>,
    params: &HashMap<String, String>,
) -> Result<String, ApiError> {
    let page = store.list_stored(t, ns, &list_query(params)?)?;
    let mut metadata = json!({ "resourceVersion": page.resource_version.to_string() });
    if let Some(c) = page.continue_token {
        metadata["continue"] = json!(c);
    }
    if let Some(r) = page.remaining {
        metadata["remainingItemCount"] = json!(r);
    }
    let head = json!({
        "kind": format!("{}List", t.kind),
        "apiVersion": t.api_version(),
        "metadata": metadata,
    })
    .to_string();
    let size = head.len() + 12 + page.items.iter().map(|o| o.json().len() + 1).sum::<usize>();
    let mut body = String::with_capacity(size);
    // `head` is a JSON object: its closing brace makes way for the items.
    body.push_str(&head[..head.len() - 1]);
    body.push_str(",\"items\":[");
    for (i, item) in page.items.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(item.json());
    }
    body.push_str("]}");
    Ok(body)
}

pub(super) fn list_query(params: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
    Ok(ListQuery {
        labels: label_selector(params.get("labelSelector").map_or("", String::as_str))?,
        fields: FieldSelector::parse(params.get("fieldSelector").map_or("", String::as_str))?,
        limit: match params.get("limit") {
            Some(l) => Some(
                l.parse()
                    .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
            ),
            None => None,
        },
        continue_token: params.get("continue").filter(|c| !c.is_empty()).cloned(),
    })
}

pub(super) fn delete_collection(
    store: &Store,
    t: &ServedType,
    ns: Option<&str>,
    params: &HashMap<String, String>,
    opts: WriteOptions<'_>,
) -> Result<(u16, Value), ApiError> {
    let mut query = list_query(params)?;
    query.limit = None;
    query.continue_token = None;
    let page = store.list(t, ns, &query)?;
    let mut deleted = Vec::new();
    for item in page.items {
        let name = item
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let item_ns = item.pointer("/metadata/namespace").and_then(Value::as_str);
        match store.delete(t, item_ns, name, opts) {
            Ok(o) => deleted.push(o),
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok((
        200,
        json!({ "kind": format!("{}List", t.kind), "apiVersion": t.api_version(), "metadata": {}, "items": deleted }),
    ))
}
