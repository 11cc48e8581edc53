//! Requests on objects (`/api/v1/namespaces/NS/configmaps/NAME[/SUBRESOURCE]`): what
//! the request names (its type, namespace, options, the admission of its body), then
//! one method per verb.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::admission::{Admission, is_apply, parse_body};
use super::lists::{as_table, delete_collection, list, list_table, table_of};
use super::patches::{patch_object, server_side_apply};
use super::subresources::{log_options, subresource};
use super::watch::watch_response;
use super::{ApiState, ObjectPath, error_response, json_response};
use crate::access_log::AccessEntry;
use crate::catalog::ServedType;
use crate::status::ApiError;
use crate::store::{Store, WriteOptions};

/// Answers a request on objects, recording its verb and resource in `entry`.
pub(super) async fn object_request(
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
    let admission = match Admission::new(&state.store, &catalog, &t, method, params) {
        Ok(a) => a,
        Err(e) => return error_response(&e),
    };
    let request = ObjectRequest {
        state,
        store: &state.store,
        ns: p.namespace.as_deref(),
        name: p.name.as_deref(),
        sub: p.subresource.as_deref(),
        method,
        params,
        headers,
        body,
        options: RequestOptions::new(method, params, headers, body),
        path: &entry.path,
        admission,
        t,
    };
    if let Some(verb) = request.verb() {
        entry.verb = verb;
    }
    request.answer()
}

/// What a request on objects names.
struct ObjectRequest<'a> {
    state: &'a ApiState,
    store: &'a Store,
    t: ServedType,
    ns: Option<&'a str>,
    name: Option<&'a str>,
    sub: Option<&'a str>,
    method: &'a Method,
    params: &'a HashMap<String, String>,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    options: RequestOptions,
    path: &'a str,
    admission: Admission,
}

/// The write options a request gives in its query, headers or (a DELETE) its body.
struct RequestOptions {
    field_manager: String,
    dry_run: bool,
    orphan: bool,
}

impl RequestOptions {
    fn new(
        method: &Method,
        params: &HashMap<String, String>,
        headers: &HeaderMap,
        body: &Bytes,
    ) -> RequestOptions {
        // A DELETE may carry its options (dryRun, propagationPolicy) in its body.
        let delete_body: Option<Value> = if *method == Method::DELETE {
            serde_json::from_slice(body).ok()
        } else {
            None
        };
        let body_option = |key: &str| delete_body.as_ref().and_then(|o| o.get(key).cloned());
        RequestOptions {
            field_manager: field_manager(params, headers),
            dry_run: params.get("dryRun").is_some_and(|v| v == "All")
                || body_option("dryRun")
                    .and_then(|d| d.as_array().cloned())
                    .is_some_and(|d| d.iter().any(|v| v == "All")),
            orphan: params
                .get("propagationPolicy")
                .is_some_and(|v| v == "Orphan")
                || body_option("propagationPolicy").is_some_and(|v| v == "Orphan")
                || body_option("orphanDependents").is_some_and(|v| v == true),
        }
    }

    fn write(&self) -> WriteOptions<'_> {
        WriteOptions {
            field_manager: Some(&self.field_manager),
            dry_run: self.dry_run,
            orphan: self.orphan,
        }
    }
}

impl ObjectRequest<'_> {
    /// The verb the access log records (as RBAC names it), when the request has one.
    fn verb(&self) -> Option<&'static str> {
        Some(match (self.method, self.name, self.sub) {
            (&Method::GET, None, None) if self.is_watch() => "watch",
            (&Method::GET, None, None) => "list",
            (&Method::GET, Some(_), None) => "get",
            (&Method::POST, None, None) => "create",
            (&Method::PUT, Some(_), None) => "update",
            (&Method::PATCH, Some(_), None) => "patch",
            (&Method::DELETE, Some(_), None) => "delete",
            (&Method::DELETE, None, None) => "deletecollection",
            (method, Some(_), Some(sub)) if self.t.subresources.contains(&sub) => match *method {
                Method::GET => "get",
                Method::PUT => "update",
                Method::PATCH => "patch",
                _ => "other",
            },
            _ => return None,
        })
    }

    fn is_watch(&self) -> bool {
        self.params
            .get("watch")
            .is_some_and(|w| w == "true" || w == "1")
    }

    fn answer(mut self) -> Response {
        let result = match (self.method, self.name, self.sub) {
            (&Method::GET, None, None) => return self.read_collection(),
            (&Method::GET, Some(name), Some("log")) if self.t.subresources.contains(&"log") => {
                return self.pod_log(name);
            }
            (&Method::GET, Some(name), None) => self.get(name),
            (&Method::POST, None, None) => self.create(),
            (&Method::PUT, Some(name), None) => self.update(name),
            (&Method::PATCH, Some(name), None) if is_apply(self.headers) => self.apply(name),
            (&Method::PATCH, Some(name), None) => self.patch(name),
            (&Method::DELETE, Some(name), None) => self.delete(name),
            (&Method::DELETE, None, None) => delete_collection(
                self.store,
                &self.t,
                self.ns,
                self.params,
                self.options.write(),
            ),
            (_, Some(name), Some(sub)) if self.t.subresources.contains(&sub) => subresource(
                self.store,
                &self.t,
                self.ns,
                name,
                sub,
                self.method,
                self.headers,
                self.body,
                self.options.write(),
                &mut self.admission,
            ),
            (_, Some(_), Some(sub)) => {
                Err(ApiError::no_route(&format!("{}/{sub}", self.t.qualified())))
            }
            _ => Err(ApiError::method_not_allowed(format!(
                "{} is not allowed on {}",
                self.method, self.path
            ))),
        };
        let mut response = match result {
            Ok((code, body)) => json_response(code, &body),
            Err(e) => error_response(&e),
        };
        self.admission.warn(&mut response);
        response
    }

    /// A watch, a list as a Table (what `kubectl get` asks for), or a list as JSON.
    fn read_collection(&self) -> Response {
        let (t, ns) = (&self.t, self.ns);
        if self.is_watch() {
            return watch_response(self.state, t, ns, self.params, as_table(self.headers));
        }
        if as_table(self.headers) {
            return match list_table(self.store, t, ns, self.params) {
                Ok(table) => json_response(200, &table),
                Err(e) => error_response(&e),
            };
        }
        match list(self.store, t, ns, self.params) {
            Ok(body) => (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body,
            )
                .into_response(),
            Err(e) => error_response(&e),
        }
    }

    /// A container's log, as plain text.
    fn pod_log(&self, name: &str) -> Response {
        match self
            .store
            .get(&self.t, self.ns, name)
            .and_then(|pod| crate::jobs::log(&pod, &log_options(self.params)))
        {
            Ok(text) => {
                (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], text).into_response()
            }
            Err(e) => error_response(&e),
        }
    }

    fn get(&self, name: &str) -> Result<(u16, Value), ApiError> {
        let o = self.store.get(&self.t, self.ns, name)?;
        if !as_table(self.headers) {
            return Ok((200, o));
        }
        let rv = o
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        Ok((200, table_of(self.store, &self.t, &[&o], &rv, None)))
    }

    fn create(&mut self) -> Result<(u16, Value), ApiError> {
        if self.t.namespaced && self.ns.is_none() {
            return Err(ApiError::no_route(self.path));
        }
        let obj = parse_body(self.body, self.headers)?;
        let obj = self.admission.body(&self.t, obj, self.headers)?;
        self.store
            .create(&self.t, self.ns, obj, self.options.write())
            .map(|o| (201, o))
    }

    fn update(&mut self, name: &str) -> Result<(u16, Value), ApiError> {
        let obj = parse_body(self.body, self.headers)?;
        let obj = self.admission.body(&self.t, obj, self.headers)?;
        self.store
            .update(&self.t, self.ns, name, obj, self.options.write())
            .map(|o| (200, o))
    }

    /// Server-side apply.
    fn apply(&self, name: &str) -> Result<(u16, Value), ApiError> {
        let force = self.params.get("force").is_some_and(|f| f == "true");
        server_side_apply(
            self.store,
            &self.t,
            self.ns,
            name,
            self.params.get("fieldManager").map(String::as_str),
            force,
            self.body,
            self.options.write(),
            &self.admission,
        )
    }

    fn patch(&mut self, name: &str) -> Result<(u16, Value), ApiError> {
        patch_object(
            self.store,
            &self.t,
            self.ns,
            name,
            self.headers,
            self.body,
            self.options.write(),
            &mut self.admission,
        )
        .map(|o| (200, o))
    }

    /// A delete answers 202 while finalizers hold the object back.
    fn delete(&self, name: &str) -> Result<(u16, Value), ApiError> {
        self.store
            .delete(&self.t, self.ns, name, self.options.write())
            .map(|o| {
                let pending = o.pointer("/metadata/deletionTimestamp").is_some()
                    && o.pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .is_some_and(|f| !f.is_empty());
                (if pending { 202 } else { 200 }, o)
            })
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
