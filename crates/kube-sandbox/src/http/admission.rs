//! How a write request's body is read (JSON, YAML or protobuf) and held to its type's
//! schema (`fieldValidation`), and the warnings the answer carries.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, header};
use axum::response::Response;
use serde_json::Value;

use crate::catalog::{Catalog, ServedType};
use crate::schema::{Directive, Patch, Schema};
use crate::status::ApiError;
use crate::store::Store;

/// How a write request's body is held to its type's schema: the schema (`None` for
/// reads, and types that have none), the request's `fieldValidation`, and the
/// warnings to answer with.
pub(super) struct Admission {
    pub(super) schema: Option<Schema>,
    directive: Directive,
    warnings: Vec<String>,
}

impl Admission {
    pub(super) fn new(
        store: &Store,
        catalog: &Catalog,
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
    pub(super) fn body(
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
    pub(super) fn patched(
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
    pub(super) fn warn(&self, response: &mut Response) {
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

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
}

pub(super) fn is_protobuf(headers: &HeaderMap) -> bool {
    content_type(headers).contains("application/vnd.kubernetes.protobuf")
}

/// A request body: JSON, YAML, or the protobuf kubectl's generators send.
pub(super) fn parse_body(body: &Bytes, headers: &HeaderMap) -> Result<Value, ApiError> {
    let content_type = content_type(headers);
    if is_protobuf(headers) {
        return crate::protobuf::decode(body);
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

pub(super) fn is_apply(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/apply-patch"))
}
