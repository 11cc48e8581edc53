//! Objects as raw JSON: paged lists, get, create and server-side apply against any
//! resource type. Objects are kept exactly as the API server sent them (the backup
//! stores them so); list items get the `apiVersion` and `kind` a list leaves out.
//! Every write asks for `fieldValidation=Strict`, as kubectl does: a field the server
//! does not know fails the write, naming it, instead of being dropped in silence.
//! A create, replace or delete that was retried (`retry`) checks what its repeat
//! found: its own earlier attempt's work is a success, anything else the error.

use kube::api::{GetParams, ListParams, Patch, PatchParams, PostParams, ValidationDirective};
use kube::core::Request;
use serde_json::Value;

use super::retry::Attempts;
use super::{ClusterConn, KubeError, ResourceType};

/// The field manager lifeboat's writes are recorded under.
pub const FIELD_MANAGER: &str = "lifeboat";

/// One page of a list.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<Value>,
    /// Where the next page starts; `None` on the last page.
    pub continue_token: Option<String>,
    /// How many items the pages after this one hold, as the API server estimates it
    /// (`metadata.remainingItemCount`: absent with a label selector, and on the last
    /// page).
    pub remaining: Option<u64>,
}

/// Reads one page of `rtype` (in `namespace`, or across all namespaces).
pub async fn list_page(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    label_selector: Option<&str>,
    limit: u32,
    continue_token: Option<String>,
) -> Result<Page, KubeError> {
    let what = || describe(conn, rtype, namespace);
    let params = ListParams {
        label_selector: label_selector.map(str::to_string),
        limit: Some(limit),
        continue_token,
        ..ListParams::default()
    };
    let request = Request::new(rtype.collection_path(namespace))
        .list(&params)
        .map_err(|e| transport("list", what(), e))?;
    let mut list: Value = conn
        .client
        .request(request)
        .await
        .map_err(|e| KubeError::from_kube("list", what(), e))?;
    let remaining = list
        .pointer("/metadata/remainingItemCount")
        .and_then(Value::as_u64);
    let continue_token = list
        .pointer("/metadata/continue")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let mut items = match list.get_mut("items").map(Value::take) {
        Some(Value::Array(items)) => items,
        Some(Value::Null) | None => Vec::new(),
        Some(_) => {
            return Err(KubeError::Transport {
                op: "list",
                what: what(),
                message: "the list's `items` is not an array".into(),
            });
        }
    };
    let api_version = rtype.api_version();
    for item in &mut items {
        if let Some(map) = item.as_object_mut() {
            // Insert at the front, where kubectl shows them.
            if !map.contains_key("apiVersion") || !map.contains_key("kind") {
                let mut fixed = serde_json::Map::with_capacity(map.len() + 2);
                fixed.insert("apiVersion".into(), Value::String(api_version.clone()));
                fixed.insert("kind".into(), Value::String(rtype.kind.clone()));
                for (k, v) in std::mem::take(map) {
                    if k != "apiVersion" && k != "kind" {
                        fixed.insert(k, v);
                    }
                }
                *map = fixed;
            }
        }
    }
    Ok(Page {
        items,
        continue_token,
        remaining,
    })
}

/// The object `name`, or `None` when it does not exist.
pub async fn get(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    name: &str,
) -> Result<Option<Value>, KubeError> {
    let what = || format!("{} {}", rtype.kind, object_name(namespace, name));
    let request = Request::new(rtype.collection_path(namespace))
        .get(name, &GetParams::default())
        .map_err(|e| transport("get", what(), e))?;
    match conn.client.request::<Value>(request).await {
        Ok(v) => Ok(Some(v)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(KubeError::from_kube("get", what(), e)),
    }
}

/// Creates `body`; on a dry-run handle the API server validates it and stores nothing.
pub async fn create(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    body: &Value,
) -> Result<Value, KubeError> {
    let name = body
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let what = || format!("{} {}", rtype.kind, object_name(namespace, name));
    let (bytes, params) = post(conn, "create", &what, body)?;
    let request = strict(
        Request::new(rtype.collection_path(namespace))
            .create(&params, bytes)
            .map_err(|e| transport("create", what(), e))?,
    );
    // A create retried after its first attempt landed (its answer lost) finds its own
    // object: 409 AlreadyExists.
    let write = Write {
        conn,
        rtype,
        namespace,
        name,
        body,
        op: "create",
        own_refusal: "AlreadyExists",
    };
    write.send(request, what()).await
}

/// A create or a replace, and the 409 its retry meets when its first attempt landed.
struct Write<'a> {
    conn: &'a ClusterConn,
    rtype: &'a ResourceType,
    namespace: Option<&'a str>,
    name: &'a str,
    body: &'a Value,
    op: &'static str,
    /// The reason of that 409.
    own_refusal: &'static str,
}

impl Write<'_> {
    /// Sends `request`; a retried request refused with `own_refusal` is a success when
    /// the object now holds what was sent (its first attempt's work).
    async fn send(
        &self,
        mut request: http::Request<Vec<u8>>,
        what: String,
    ) -> Result<Value, KubeError> {
        let attempts = Attempts::witness(&mut request);
        match self.conn.client.request::<Value>(request).await {
            Ok(written) => Ok(written),
            Err(kube::Error::Api(s))
                if s.code == 409 && s.reason == self.own_refusal && attempts.retried() =>
            {
                match get(self.conn, self.rtype, self.namespace, self.name).await? {
                    Some(found) if holds(&found, self.body) => Ok(found),
                    _ => Err(KubeError::from_kube(self.op, what, kube::Error::Api(s))),
                }
            }
            Err(e) => Err(KubeError::from_kube(self.op, what, e)),
        }
    }
}

/// Whether `found` (as the API server keeps it) holds everything `sent` says, status
/// and what the server assigns in `metadata` aside: the server adds defaults, so what
/// it keeps has more than was sent, never less nor other.
pub fn holds(found: &Value, sent: &Value) -> bool {
    let sent = comparable(sent);
    let Some(fields) = sent.as_object() else {
        return false;
    };
    fields.iter().all(|(field, value)| match field.as_str() {
        "metadata" => ["name", "namespace", "labels", "annotations"]
            .iter()
            .all(|m| match value.get(m) {
                None => true,
                Some(v) => found
                    .get("metadata")
                    .and_then(|fm| fm.get(m))
                    .is_some_and(|f| contains(f, v)),
            }),
        _ => found.get(field).is_some_and(|f| contains(f, value)),
    })
}

/// `found` has every field of `sent` with the same value: objects recursively (the
/// server may add fields), lists item by item (as many items, each holding what was
/// sent: the server defaults fields of list items too), scalars equal.
fn contains(found: &Value, sent: &Value) -> bool {
    match (found, sent) {
        (Value::Object(f), Value::Object(s)) => s
            .iter()
            .all(|(k, v)| f.get(k).is_some_and(|fv| contains(fv, v)) || v.is_null()),
        (Value::Array(f), Value::Array(s)) => {
            f.len() == s.len() && f.iter().zip(s).all(|(fv, sv)| contains(fv, sv))
        }
        (f, s) => f == s,
    }
}

/// The body and parameters of a create or a replace, as lifeboat's field manager
/// (a dry run on a dry-run handle).
fn post(
    conn: &ClusterConn,
    op: &'static str,
    what: &dyn Fn() -> String,
    body: &Value,
) -> Result<(Vec<u8>, PostParams), KubeError> {
    let bytes = serde_json::to_vec(body).map_err(|e| KubeError::Transport {
        op,
        what: what(),
        message: e.to_string(),
    })?;
    let params = PostParams {
        dry_run: conn.dry_run(),
        field_manager: Some(FIELD_MANAGER.into()),
    };
    Ok((bytes, params))
}

/// Server-side applies `body` as lifeboat's field manager, taking over conflicting
/// fields when `force` is set.
pub async fn apply(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    body: &Value,
    force: bool,
) -> Result<Value, KubeError> {
    apply_as(conn, rtype, namespace, name, body, FIELD_MANAGER, force).await
}

/// Server-side applies `body` as field manager `manager`.
pub async fn apply_as(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    body: &Value,
    manager: &str,
    force: bool,
) -> Result<Value, KubeError> {
    let what = || format!("{} {}", rtype.kind, object_name(namespace, name));
    let params = PatchParams {
        dry_run: conn.dry_run(),
        force,
        field_manager: Some(manager.into()),
        field_validation: Some(ValidationDirective::Strict),
    };
    let request = Request::new(rtype.collection_path(namespace))
        .patch(name, &params, &Patch::Apply(body))
        .map_err(|e| transport("apply", what(), e))?;
    send(conn, "apply", what(), request).await
}

/// An object without what every write changes (version, managed fields, generation)
/// and without its status (controllers change it meanwhile), to tell whether a write
/// changed the object.
pub fn comparable(object: &Value) -> Value {
    let mut o = object.clone();
    if let Some(map) = o.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in ["resourceVersion", "managedFields", "generation"] {
            meta.remove(f);
        }
    }
    o
}

/// Whether a Deployment, StatefulSet or DaemonSet has rolled out its current spec.
pub fn rollout_pending(o: &Value) -> Option<String> {
    let int = |p: &str| o.pointer(p).and_then(Value::as_i64);
    let generation = int("/metadata/generation").unwrap_or(0);
    if int("/status/observedGeneration").unwrap_or(0) < generation {
        return Some("the controller has not seen the latest spec".into());
    }
    match o.get("kind").and_then(Value::as_str) {
        Some("DaemonSet") => {
            let desired = int("/status/desiredNumberScheduled").unwrap_or(0);
            let updated = int("/status/updatedNumberScheduled").unwrap_or(0);
            let ready = int("/status/numberAvailable").unwrap_or(0);
            (updated < desired || ready < desired)
                .then(|| format!("{ready} of {desired} available"))
        }
        Some("StatefulSet") => {
            let want = int("/spec/replicas").unwrap_or(1);
            let updated = int("/status/updatedReplicas").unwrap_or(0);
            let ready = int("/status/readyReplicas").unwrap_or(0);
            (updated < want || ready < want)
                .then(|| format!("{ready} of {want} ready, {updated} updated"))
        }
        _ => {
            let want = int("/spec/replicas").unwrap_or(1);
            let updated = int("/status/updatedReplicas").unwrap_or(0);
            let available = int("/status/availableReplicas").unwrap_or(0);
            let total = int("/status/replicas").unwrap_or(0);
            (updated < want || available < want || total > want)
                .then(|| format!("{available} of {want} available, {updated} updated"))
        }
    }
}

/// `ns/name`, or `name` for cluster-scoped objects.
pub fn object_name(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    }
}

fn describe(conn: &ClusterConn, rtype: &ResourceType, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if rtype.namespaced => {
            format!(
                "{} in namespace {ns} of {}",
                rtype.qualified(),
                conn.describe()
            )
        }
        _ => format!("{} of {}", rtype.qualified(), conn.describe()),
    }
}

/// Sends a request and reads the object the API server answers with.
async fn send(
    conn: &ClusterConn,
    op: &'static str,
    what: String,
    request: http::Request<Vec<u8>>,
) -> Result<Value, KubeError> {
    conn.client
        .request::<Value>(request)
        .await
        .map_err(|e| KubeError::from_kube(op, what, e))
}

/// `request` asking for strict field validation (kube-rs's `PostParams` has no field
/// for it).
fn strict(request: http::Request<Vec<u8>>) -> http::Request<Vec<u8>> {
    with_query(request, "fieldValidation=Strict")
}

/// `request` with `pair` added to its query.
fn with_query(mut request: http::Request<Vec<u8>>, pair: &str) -> http::Request<Vec<u8>> {
    let uri = request.uri().to_string();
    let joined = match uri.split_once('?') {
        None => "?",
        Some((_, "")) => "",
        Some(_) => "&",
    };
    if let Ok(uri) = format!("{uri}{joined}{pair}").parse() {
        *request.uri_mut() = uri;
    }
    request
}

fn transport(op: &'static str, what: String, e: kube::core::request::Error) -> KubeError {
    KubeError::Transport {
        op,
        what,
        message: e.to_string(),
    }
}

/// Merges `status` into the object's `/status` subresource.
pub async fn patch_status(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    status: &Value,
) -> Result<Value, KubeError> {
    let what = || {
        format!(
            "the status of {} {}",
            rtype.kind,
            object_name(namespace, name)
        )
    };
    let params = PatchParams {
        dry_run: conn.dry_run(),
        field_manager: Some(FIELD_MANAGER.into()),
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::default()
    };
    let body = serde_json::json!({ "status": status });
    let request = Request::new(rtype.collection_path(namespace))
        .patch_subresource("status", name, &params, &Patch::Merge(&body))
        .map_err(|e| transport("patch", what(), e))?;
    send(conn, "patch", what(), request).await
}

/// Every object of `rtype` (all pages), in `namespace` or across all namespaces.
pub async fn list_all(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    label_selector: Option<&str>,
) -> Result<Vec<Value>, KubeError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = list_page(conn, rtype, namespace, label_selector, 500, token).await?;
        out.extend(page.items);
        token = page.continue_token;
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// Applies a JSON merge patch or JSON patch to the object `name` (or its
/// `subresource`, such as `scale`).
pub async fn patch(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    subresource: Option<&str>,
    patch: &Patch<Value>,
) -> Result<Value, KubeError> {
    let what = || format!("{} {}", rtype.kind, object_name(namespace, name));
    let params = PatchParams {
        dry_run: conn.dry_run(),
        field_manager: Some(FIELD_MANAGER.into()),
        field_validation: Some(ValidationDirective::Strict),
        ..PatchParams::default()
    };
    let request = Request::new(rtype.collection_path(namespace));
    let request = match subresource {
        Some(sub) => request.patch_subresource(sub, name, &params, patch),
        None => request.patch(name, &params, patch),
    }
    .map_err(|e| transport("patch", what(), e))?;
    send(conn, "patch", what(), request).await
}

/// Replaces the object `name` with `body` (which carries the resourceVersion it
/// expects: a concurrent change makes this a 409 Conflict).
pub async fn replace(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    body: &Value,
) -> Result<Value, KubeError> {
    let what = || format!("{} {}", rtype.kind, object_name(namespace, name));
    let (bytes, params) = post(conn, "replace", &what, body)?;
    let request = strict(
        Request::new(rtype.collection_path(namespace))
            .replace(name, &params, bytes)
            .map_err(|e| transport("replace", what(), e))?,
    );
    // A replace retried after its first attempt landed finds the resourceVersion it
    // carried gone: 409 Conflict.
    let write = Write {
        conn,
        rtype,
        namespace,
        name,
        body,
        op: "replace",
        own_refusal: "Conflict",
    };
    write.send(request, what()).await
}

/// Deletes the object `name` (`propagation`: `Background`, `Foreground` or `Orphan`).
/// Returns `false` when it did not exist.
pub async fn delete(
    conn: &ClusterConn,
    rtype: &ResourceType,
    namespace: Option<&str>,
    name: &str,
    propagation: &str,
) -> Result<bool, KubeError> {
    use kube::api::{DeleteParams, PropagationPolicy};
    let what = || format!("{} {}", rtype.kind, object_name(namespace, name));
    let params = DeleteParams {
        dry_run: conn.dry_run(),
        propagation_policy: Some(match propagation {
            "Foreground" => PropagationPolicy::Foreground,
            "Orphan" => PropagationPolicy::Orphan,
            _ => PropagationPolicy::Background,
        }),
        ..DeleteParams::default()
    };
    let mut request = Request::new(rtype.collection_path(namespace))
        .delete(name, &params)
        .map_err(|e| transport("delete", what(), e))?;
    // kube-rs says dry-run in the body only; the query says it too, so that an audit
    // log (which records URIs, not bodies) shows a dry run for what it is.
    if conn.dry_run() {
        request = with_query(request, "dryRun=All");
    }
    let attempts = Attempts::witness(&mut request);
    match conn.client.request::<Value>(request).await {
        Ok(_) => Ok(true),
        // Retried after the first attempt deleted it (its answer lost).
        Err(kube::Error::Api(s)) if s.code == 404 && attempts.retried() => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
        Err(e) => Err(KubeError::from_kube("delete", what(), e)),
    }
}

/// The log of one container of a pod (as `kubectl logs -c` shows it), or `None` when
/// the pod, the container or its log does not exist.
pub async fn pod_log(
    conn: &ClusterConn,
    namespace: &str,
    pod: &str,
    container: &str,
) -> Result<Option<String>, KubeError> {
    let what = || format!("the log of container {container} of pod {namespace}/{pod}");
    let request = http::Request::get(format!(
        "/api/v1/namespaces/{namespace}/pods/{pod}/log?container={container}"
    ))
    .body(Vec::new())
    .map_err(|e| KubeError::Transport {
        op: "read",
        what: what(),
        message: e.to_string(),
    })?;
    match conn.client.request_text(request).await {
        Ok(text) => Ok(Some(text)),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 400 => Ok(None),
        Err(e) => Err(KubeError::from_kube("read", what(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_object_the_server_defaulted_holds_what_was_sent() {
        let sent = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "c", "namespace": "a", "labels": { "x": "1" } },
            "data": { "k": "v" }
        });
        let found = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {
                "name": "c", "namespace": "a", "labels": { "x": "1" },
                "uid": "u", "resourceVersion": "7", "creationTimestamp": "2026-12-06T00:00:00Z"
            },
            "data": { "k": "v" }
        });
        assert!(holds(&found, &sent));
    }

    #[test]
    fn an_object_someone_else_made_does_not_hold_what_was_sent() {
        let sent =
            json!({ "metadata": { "name": "c", "labels": { "x": "1" } }, "data": { "k": "v" } });
        for found in [
            json!({ "metadata": { "name": "c", "labels": { "x": "1" } }, "data": { "k": "other" } }),
            json!({ "metadata": { "name": "c", "labels": { "x": "2" } }, "data": { "k": "v" } }),
            json!({ "metadata": { "name": "c" }, "data": { "k": "v" } }),
            json!({ "metadata": { "name": "c", "labels": { "x": "1" } } }),
        ] {
            assert!(!holds(&found, &sent), "{found}");
        }
        // A list holds as many items as were sent, each with what was sent.
        let sent = json!({ "metadata": { "name": "s" }, "spec": { "ports": [ { "port": 80 } ] } });
        let found = json!({ "metadata": { "name": "s" }, "spec": { "ports": [ { "port": 80 }, { "port": 81 } ] } });
        assert!(!holds(&found, &sent));
        let defaulted = json!({ "metadata": { "name": "s" }, "spec": { "ports": [ { "port": 80, "protocol": "TCP" } ] } });
        assert!(holds(&defaulted, &sent));
    }
}
