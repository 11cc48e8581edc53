//! The HTTP face of the sandbox: routes Kubernetes API paths to the store and the
//! discovery documents, parses query parameters and patch bodies, streams watches, and
//! records every request in the access log.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::access_log::{AccessEntry, AccessLog};
use super::catalog::ServedType;
use super::discovery;
use super::patch;
use super::schema::{Directive, Patch, Schema};
use super::selector::{FieldSelector, label_selector};
use super::status::ApiError;
use super::store::{EventType, ListQuery, Store, WatchEvent, WriteOptions};

/// What every request handler shares.
#[derive(Clone)]
pub struct ApiState {
    pub store: Arc<Store>,
    pub log: Arc<AccessLog>,
    /// `host:port`, for `/api`'s server address.
    pub address: String,
}

pub fn router(state: ApiState) -> Router {
    std::thread::spawn(super::schema::prepare);
    Router::new().fallback(handle).with_state(state)
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Version,
    Health,
    CoreVersions,
    Groups,
    Group(String),
    Resources(String, String),
    OpenApiIndex,
    OpenApiDocument(String, String),
    OpenApiV2,
    Object(ObjectPath),
}

#[derive(Debug, PartialEq, Eq, Clone)]
struct ObjectPath {
    group: String,
    version: String,
    namespace: Option<String>,
    resource: String,
    name: Option<String>,
    subresource: Option<String>,
}

fn route(path: &str) -> Option<Route> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    Some(match segs.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez"] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", v] => Route::Resources(String::new(), v.to_string()),
        ["api", v, rest @ ..] => Route::Object(object_path("", v, rest)?),
        ["apis"] => Route::Groups,
        ["apis", g] => Route::Group(g.to_string()),
        ["apis", g, v] => Route::Resources(g.to_string(), v.to_string()),
        ["apis", g, v, rest @ ..] => Route::Object(object_path(g, v, rest)?),
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiIndex,
        ["openapi", "v3", "api", v] => Route::OpenApiDocument(String::new(), v.to_string()),
        ["openapi", "v3", "apis", g, v] => Route::OpenApiDocument(g.to_string(), v.to_string()),
        _ => return None,
    })
}

fn object_path(group: &str, version: &str, rest: &[&str]) -> Option<ObjectPath> {
    let path =
        |namespace: Option<&str>, plural: &str, name: Option<&str>, sub: Option<&str>| ObjectPath {
            group: group.to_string(),
            version: version.to_string(),
            namespace: namespace.map(str::to_string),
            resource: plural.to_string(),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
        };
    Some(match rest {
        [plural] => path(None, plural, None, None),
        [plural, name] => path(None, plural, Some(name), None),
        ["namespaces", name, sub @ ("status" | "finalize")] => {
            path(None, "namespaces", Some(name), Some(sub))
        }
        ["namespaces", ns, plural] => path(Some(ns), plural, None, None),
        [plural, name, sub] => path(None, plural, Some(name), Some(sub)),
        ["namespaces", ns, plural, name] => path(Some(ns), plural, Some(name), None),
        ["namespaces", ns, plural, name, sub] => path(Some(ns), plural, Some(name), Some(sub)),
        _ => return None,
    })
}

fn json_response(code: u16, body: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

fn query_params(uri: &Uri) -> HashMap<String, String> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn handle(
    State(state): State<ApiState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let params = query_params(&uri);
    let dry_run = params.get("dryRun").is_some_and(|v| v == "All");
    let mut entry = AccessEntry {
        method: method.to_string(),
        path: path.clone(),
        verb: "discovery",
        resource: String::new(),
        namespace: None,
        status: 200,
        dry_run,
    };
    let response = match route(&path) {
        None => error_response(&ApiError::no_route(&path)),
        Some(Route::Object(p)) => {
            entry.namespace = p.namespace.clone();
            object_request(&state, &method, &p, &params, &headers, &body, &mut entry).await
        }
        Some(Route::OpenApiV2) if method == Method::GET => openapi_v2(&state, &headers),
        Some(other) if method == Method::GET => discovery_request(&state, other, &path),
        Some(_) => error_response(&ApiError::method_not_allowed(format!(
            "{method} is not allowed on {path}"
        ))),
    };
    entry.status = response.status().as_u16();
    state.log.record(entry);
    response
}

fn discovery_request(state: &ApiState, route: Route, path: &str) -> Response {
    let catalog = state.store.catalog();
    let found = match route {
        Route::Version => Some(discovery::version()),
        Route::Health => return (StatusCode::OK, "ok").into_response(),
        Route::CoreVersions => Some(discovery::core_versions(&state.address)),
        Route::Groups => Some(discovery::groups(&catalog)),
        Route::Group(g) => discovery::group(&catalog, &g),
        Route::Resources(g, v) => discovery::resources(&catalog, &g, &v),
        Route::OpenApiIndex => Some(discovery::openapi_index(&state.store, &catalog)),
        Route::OpenApiDocument(g, v) => discovery::openapi_document(&state.store, &catalog, &g, &v),
        Route::Object(_) | Route::OpenApiV2 => None,
    };
    match found {
        Some(doc) => json_response(200, &doc),
        None => error_response(&ApiError::no_route(path)),
    }
}

/// `/openapi/v2`: protobuf when the client asks for it (kubectl does), else JSON.
fn openapi_v2(state: &ApiState, headers: &HeaderMap) -> Response {
    let catalog = state.store.catalog();
    let protobuf = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("protobuf"));
    if protobuf {
        let body = super::schema::openapi::v2_protobuf(&state.store, &catalog);
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, super::schema::openapi::V2_PROTOBUF)],
            body,
        )
            .into_response()
    } else {
        json_response(
            200,
            &super::schema::openapi::v2_document(&state.store, &catalog),
        )
    }
}

async fn object_request(
    state: &ApiState,
    method: &Method,
    p: &ObjectPath,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Bytes,
    entry: &mut AccessEntry,
) -> Response {
    let catalog = state.store.catalog();
    let Some(t) = catalog.by_path(&p.group, &p.version, &p.resource).cloned() else {
        entry.resource = p.resource.clone();
        return error_response(&ApiError::no_route(&entry.path));
    };
    entry.resource = match &p.subresource {
        Some(sub) => format!("{}/{sub}", t.qualified()),
        None => t.qualified(),
    };
    if p.namespace.is_some() && !t.namespaced {
        return error_response(&ApiError::no_route(&entry.path));
    }
    let watch = params.get("watch").is_some_and(|w| w == "true" || w == "1");
    let manager = field_manager(params, headers);
    // A DELETE may carry its options (dryRun, propagationPolicy) in its body.
    let delete_body = if *method == Method::DELETE {
        delete_options(body)
    } else {
        None
    };
    let body_option = |key: &str| delete_body.as_ref().and_then(|o| o.get(key).cloned());
    let opts = WriteOptions {
        field_manager: Some(&manager),
        dry_run: params.get("dryRun").is_some_and(|v| v == "All")
            || body_option("dryRun")
                .and_then(|d| d.as_array().cloned())
                .is_some_and(|d| d.iter().any(|v| v == "All")),
        orphan: params
            .get("propagationPolicy")
            .is_some_and(|v| v == "Orphan")
            || body_option("propagationPolicy").is_some_and(|v| v == "Orphan")
            || body_option("orphanDependents").is_some_and(|v| v == true),
    };
    let ns = p.namespace.as_deref();
    let store = &state.store;
    let mut admission = match Admission::new(store, &catalog, &t, method, params) {
        Ok(a) => a,
        Err(e) => return error_response(&e),
    };
    if let (&Method::GET, Some(name), Some("log")) = (method, &p.name, p.subresource.as_deref())
        && t.subresources.contains(&"log")
    {
        entry.verb = "get";
        return match store
            .get(&t, ns, name)
            .and_then(|pod| super::jobs::log(&pod, &log_options(params)))
        {
            Ok(text) => {
                (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
            }
            Err(e) => error_response(&e),
        };
    }
    let result: Result<(u16, Value), ApiError> = match (method, &p.name, &p.subresource) {
        (&Method::GET, None, None) if watch => {
            entry.verb = "watch";
            return watch_response(state, &t, ns, params, as_table(headers));
        }
        (&Method::GET, None, None) if as_table(headers) => {
            entry.verb = "list";
            list_table(store, &t, ns, params)
        }
        (&Method::GET, None, None) => {
            entry.verb = "list";
            return match list(store, &t, ns, params) {
                Ok(body) => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response(),
                Err(e) => error_response(&e),
            };
        }
        (&Method::GET, Some(name), None) => {
            entry.verb = "get";
            store.get(&t, ns, name).map(|o| {
                if as_table(headers) {
                    let rv = o
                        .pointer("/metadata/resourceVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    (200, table_of(store, &t, &[&o], &rv, None))
                } else {
                    (200, o)
                }
            })
        }
        (&Method::POST, None, None) if t.namespaced && ns.is_none() => {
            entry.verb = "create";
            Err(ApiError::no_route(&entry.path))
        }
        (&Method::POST, None, None) => {
            entry.verb = "create";
            parse_body(body, headers)
                .and_then(|obj| admission.body(&t, obj, headers))
                .and_then(|obj| store.create(&t, ns, obj, opts))
                .map(|o| (201, o))
        }
        (&Method::PUT, Some(name), None) => {
            entry.verb = "update";
            parse_body(body, headers)
                .and_then(|obj| admission.body(&t, obj, headers))
                .and_then(|obj| store.update(&t, ns, name, obj, opts))
                .map(|o| (200, o))
        }
        (&Method::PATCH, Some(name), None) if is_apply(headers) => {
            entry.verb = "patch";
            let force = params.get("force").is_some_and(|f| f == "true");
            server_side_apply(
                store,
                &t,
                ns,
                name,
                params.get("fieldManager").map(String::as_str),
                force,
                body,
                opts,
                &admission,
            )
        }
        (&Method::PATCH, Some(name), None) => {
            entry.verb = "patch";
            patch_object(store, &t, ns, name, headers, body, opts, &mut admission).map(|o| (200, o))
        }
        (&Method::DELETE, Some(name), None) => {
            entry.verb = "delete";
            store.delete(&t, ns, name, opts).map(|o| {
                let pending = o.pointer("/metadata/deletionTimestamp").is_some()
                    && o.pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .is_some_and(|f| !f.is_empty());
                (if pending { 202 } else { 200 }, o)
            })
        }
        (&Method::DELETE, None, None) => {
            entry.verb = "deletecollection";
            delete_collection(store, &t, ns, params, opts)
        }
        (_, Some(name), Some(sub)) if t.subresources.contains(&sub.as_str()) => {
            entry.verb = match *method {
                Method::GET => "get",
                Method::PUT => "update",
                Method::PATCH => "patch",
                _ => "other",
            };
            subresource(
                store,
                &t,
                ns,
                name,
                sub,
                method,
                headers,
                body,
                opts,
                &mut admission,
            )
        }
        (_, Some(_), Some(sub)) => Err(ApiError::no_route(&format!("{}/{sub}", t.qualified()))),
        _ => Err(ApiError::method_not_allowed(format!(
            "{method} is not allowed on {}",
            entry.path
        ))),
    };
    let mut response = match result {
        Ok((code, body)) => json_response(code, &body),
        Err(e) => error_response(&e),
    };
    admission.warn(&mut response);
    response
}

/// How a write request's body is held to its type's schema: the schema (`None` for
/// reads, and types that have none), the request's `fieldValidation`, and the
/// warnings to answer with.
struct Admission {
    schema: Option<Schema>,
    directive: Directive,
    warnings: Vec<String>,
}

impl Admission {
    fn new(
        store: &Store,
        catalog: &super::catalog::Catalog,
        t: &ServedType,
        method: &Method,
        params: &HashMap<String, String>,
    ) -> Result<Admission, ApiError> {
        let options = match *method {
            Method::POST => "CreateOptions",
            Method::PUT => "UpdateOptions",
            Method::PATCH => "PatchOptions",
            _ => {
                return Ok(Admission {
                    schema: None,
                    directive: Directive::Warn,
                    warnings: Vec::new(),
                });
            }
        };
        Ok(Admission {
            directive: Directive::parse(
                params.get("fieldValidation").map(String::as_str),
                options,
            )?,
            schema: Schema::of(store, catalog, t),
            warnings: Vec::new(),
        })
    }

    /// A create or update body (protobuf bodies are typed already).
    fn body(
        &mut self,
        t: &ServedType,
        mut obj: Value,
        headers: &HeaderMap,
    ) -> Result<Value, ApiError> {
        if let Some(schema) = &self.schema
            && !is_protobuf(headers)
        {
            schema.admit(t, &mut obj, self.directive, &mut self.warnings)?;
        }
        Ok(obj)
    }

    /// The result of a patch.
    fn patched(
        &mut self,
        t: &ServedType,
        obj: &mut Value,
        patch: Patch<'_>,
    ) -> Result<(), ApiError> {
        match &self.schema {
            Some(schema) => schema.admit_patched(t, obj, patch, self.directive, &mut self.warnings),
            None => Ok(()),
        }
    }

    /// `Warning: 299 - "unknown field \"spec.foo\""`, once per warning.
    fn warn(&self, response: &mut Response) {
        let mut seen = std::collections::HashSet::new();
        for w in self.warnings.iter().filter(|w| seen.insert(*w)) {
            let quoted = w.replace('\\', "\\\\").replace('"', "\\\"");
            if let Ok(v) =
                axum::http::HeaderValue::from_bytes(format!("299 - \"{quoted}\"").as_bytes())
            {
                response.headers_mut().append(header::WARNING, v);
            }
        }
    }
}

/// The `fieldManager` parameter, or (as the API server does) the client's name from
/// its User-Agent (`kubectl/v1.33 ...` → `kubectl`).
fn field_manager(params: &HashMap<String, String>, headers: &HeaderMap) -> String {
    if let Some(m) = params.get("fieldManager").filter(|m| !m.is_empty()) {
        return m.clone();
    }
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .and_then(|ua| ua.split('/').next())
        .filter(|m| !m.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

fn delete_options(body: &Bytes) -> Option<Value> {
    serde_json::from_slice(body).ok()
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
}

fn is_protobuf(headers: &HeaderMap) -> bool {
    content_type(headers).contains("application/vnd.kubernetes.protobuf")
}

/// A request body: JSON, YAML, or the protobuf kubectl's generators send.
fn parse_body(body: &Bytes, headers: &HeaderMap) -> Result<Value, ApiError> {
    let content_type = content_type(headers);
    if is_protobuf(headers) {
        return super::protobuf::decode(body);
    }
    if content_type.contains("yaml") {
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::bad_request("the body is not UTF-8"))?;
        return serde_saphyr::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("invalid YAML body: {e}")));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
}

fn as_table(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(super::table::wanted)
}

/// A Table of objects, with a CRD's printer columns for custom resources.
fn table_of(
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
            .map(|crd| super::table::printer_columns(&crd, &t.version))
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    super::table::render(t, items, rv, continue_token, &custom)
}

/// A list as a Table (what `kubectl get` asks for).
fn list_table(
    store: &Store,
    t: &ServedType,
    ns: Option<&str>,
    params: &HashMap<String, String>,
) -> Result<(u16, Value), ApiError> {
    let page = store.list(t, ns, &list_query(params)?)?;
    let rv = page.resource_version.to_string();
    Ok((
        200,
        table_of(
            store,
            t,
            &page.items.iter().map(|o| o.as_ref()).collect::<Vec<_>>(),
            &rv,
            page.continue_token.as_deref(),
        ),
    ))
}

/// A list as JSON text: the stored objects are written as they are kept (compact
/// JSON), never parsed, so a large list costs little more than its bytes.
fn list(
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

fn list_query(params: &HashMap<String, String>) -> Result<ListQuery, ApiError> {
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

fn delete_collection(
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

/// Applies the patch in `body` to `target`; a strategic merge patch is returned (the
/// server shows it in errors about its result).
fn apply_patch(
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
fn patch_admitted(
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

fn is_apply(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/apply-patch"))
}

/// Server-side apply: creates the object when missing, else merges the configuration
/// in under `manager`'s ownership (see `apply`).
#[allow(clippy::too_many_arguments)]
fn server_side_apply(
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
                *current = super::apply::apply(Some(current), &applied, manager, force, &q)?;
                complete(current)
            })
            .map(|o| (200, o)),
        Err(e) if e.code == 404 => {
            let mut created = super::apply::apply(None, &applied, manager, force, &q)?;
            complete(&mut created)?;
            store.create(t, ns, created, opts).map(|o| (201, o))
        }
        Err(e) => Err(e),
    }
}

#[allow(clippy::too_many_arguments)]
fn patch_object(
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

/// The options of a `/log` request.
fn log_options(params: &HashMap<String, String>) -> super::jobs::LogOptions {
    let number = |key: &str| params.get(key).and_then(|v| v.parse().ok());
    super::jobs::LogOptions {
        container: params.get("container").filter(|c| !c.is_empty()).cloned(),
        tail_lines: number("tailLines"),
        limit_bytes: number("limitBytes"),
        timestamps: params.get("timestamps").is_some_and(|v| v == "true"),
    }
}

#[allow(clippy::too_many_arguments)]
fn subresource(
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

/// A watch: the changes after the requested resourceVersion (or the current objects
/// as ADDED events, then the changes), one JSON event per line, until the timeout.
/// With `sendInitialEvents=true` (a watch list, as client-go 1.35 and kubectl ask by
/// default) the current objects come first whatever the resourceVersion, then a
/// BOOKMARK annotated `k8s.io/initial-events-end` says the list is complete.
fn watch_response(
    state: &ApiState,
    t: &ServedType,
    ns: Option<&str>,
    params: &HashMap<String, String>,
    table: bool,
) -> Response {
    let query = match list_query(params) {
        Ok(q) => q,
        Err(e) => return error_response(&e),
    };
    let store = state.store.clone();
    let watch_list = params.get("sendInitialEvents").is_some_and(|v| v == "true");
    let since: Option<u64> = params
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0" && !watch_list)
        .and_then(|v| v.parse().ok());
    let listed_at = store.resource_version();
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true");
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1800)
        .min(3600);
    // Start: the backlog after `since`, or every current object as ADDED.
    let (initial, mut feed) = match since {
        Some(rv) => match store.watch_from(rv) {
            Some((backlog, feed)) => (backlog, feed),
            None => {
                return error_response(&ApiError::expired(format!(
                    "too old resource version: {rv}"
                )));
            }
        },
        None => {
            let current = store.resource_version();
            let Some((_, feed)) = store.watch_from(current) else {
                return error_response(&ApiError::expired("too old resource version"));
            };
            let page = match store.list(
                t,
                ns,
                &ListQuery {
                    labels: query.labels.clone(),
                    fields: query.fields.clone(),
                    ..ListQuery::default()
                },
            ) {
                Ok(p) => p,
                Err(e) => return error_response(&e),
            };
            let added = page
                .items
                .into_iter()
                .map(|object| WatchEvent {
                    kind: EventType::Added,
                    group: t.group.clone(),
                    resource: t.resource.clone(),
                    object,
                    resource_version: 0,
                })
                .collect();
            (added, feed)
        }
    };
    let (group, plural, ns) = (t.group.clone(), t.resource.clone(), ns.map(str::to_string));
    let wanted = move |e: &WatchEvent| {
        e.group == group
            && e.resource == plural
            && ns.as_deref().is_none_or(|n| {
                e.object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    == Some(n)
            })
            && query.labels.matches(&e.object)
            && query.fields.matches(&e.object)
    };
    let kind = t.kind.clone();
    let api_version = t.api_version();
    let t_owned = t.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    tokio::spawn(async move {
        // kubectl get -w asks for Tables: each event then carries a one-row Table.
        let line = |kind: &str, obj: &Value| {
            let object = if table && kind != "BOOKMARK" {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                table_of(&store, &t_owned, &[obj], rv, None)
            } else {
                obj.clone()
            };
            Bytes::from(format!("{}\n", json!({ "type": kind, "object": object })))
        };
        for e in initial.iter().filter(|e| wanted(e)) {
            if tx.send(Ok(line(e.kind.as_str(), &e.object))).await.is_err() {
                return;
            }
        }
        if watch_list {
            let end = json!({ "kind": kind, "apiVersion": api_version, "metadata": {
                "resourceVersion": listed_at.to_string(),
                "annotations": { "k8s.io/initial-events-end": "true" } } });
            if tx.send(Ok(line("BOOKMARK", &end))).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut last_rv = store.resource_version();
        loop {
            let tick = tokio::time::sleep(Duration::from_secs(1));
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
                event = feed.recv() => match event {
                    Ok(e) => {
                        last_rv = e.resource_version;
                        if wanted(&e) && tx.send(Ok(line(e.kind.as_str(), &e.object))).await.is_err() {
                            return;
                        }
                    }
                    // Too slow a reader lost events: end the watch so the client relists.
                    Err(_) => return,
                },
                _ = tick, if bookmarks => {
                    let bookmark = json!({ "kind": kind, "apiVersion": api_version, "metadata": { "resourceVersion": last_rv.to_string() } });
                    if tx.send(Ok(line("BOOKMARK", &bookmark))).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| error_response(&ApiError::bad_request("cannot start the watch")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_kubernetes_paths() {
        let obj = |path: &str| match route(path) {
            Some(Route::Object(p)) => {
                Some((p.group, p.namespace, p.resource, p.name, p.subresource))
            }
            _ => None,
        };
        assert_eq!(
            obj("/api/v1/namespaces"),
            Some((String::new(), None, "namespaces".into(), None, None))
        );
        assert_eq!(
            obj("/api/v1/namespaces/shop"),
            Some((
                String::new(),
                None,
                "namespaces".into(),
                Some("shop".into()),
                None
            ))
        );
        assert_eq!(
            obj("/api/v1/namespaces/shop/status"),
            Some((
                String::new(),
                None,
                "namespaces".into(),
                Some("shop".into()),
                Some("status".into())
            ))
        );
        assert_eq!(
            obj("/api/v1/namespaces/shop/configmaps"),
            Some((
                String::new(),
                Some("shop".into()),
                "configmaps".into(),
                None,
                None
            ))
        );
        assert_eq!(
            obj("/apis/apps/v1/namespaces/shop/deployments/web/scale"),
            Some((
                "apps".into(),
                Some("shop".into()),
                "deployments".into(),
                Some("web".into()),
                Some("scale".into())
            ))
        );
        assert_eq!(
            route("/apis/apps/v1"),
            Some(Route::Resources("apps".into(), "v1".into()))
        );
        assert_eq!(
            route("/openapi/v3/apis/apps/v1"),
            Some(Route::OpenApiDocument("apps".into(), "v1".into()))
        );
        assert_eq!(route("/nope"), None);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("app%3Dweb%2Ctier+in+%28a%29"),
            "app=web,tier in (a)"
        );
        assert_eq!(percent_decode("100%"), "100%");
    }
}
