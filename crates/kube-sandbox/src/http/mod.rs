//! The HTTP face of the sandbox: routes Kubernetes API paths to the store (`objects`,
//! with `lists`, `patches`, `subresources` and `watch`) and to the discovery
//! documents, parses query parameters, and records every request in the access log.

mod admission;
mod lists;
mod objects;
mod patches;
mod subresources;
mod watch;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::access_log::{AccessEntry, AccessLog};
use super::discovery;
use super::status::ApiError;
use super::store::Store;
use objects::object_request;

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

/// The query string's parameters (`application/x-www-form-urlencoded`: `+` is a space,
/// bad `%` escapes are kept as written).
fn query_params(uri: &Uri) -> HashMap<String, String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
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
    fn query_parameters_are_percent_decoded() {
        let params = |q: &str| query_params(&format!("/api/v1/pods?{q}").parse::<Uri>().unwrap());
        assert_eq!(
            params("labelSelector=app%3Dweb%2Ctier+in+%28a%29")["labelSelector"],
            "app=web,tier in (a)"
        );
        assert_eq!(params("limit=100%")["limit"], "100%");
        assert_eq!(
            params("watch&&limit=1").get("watch").map(String::as_str),
            Some("")
        );
    }
}
