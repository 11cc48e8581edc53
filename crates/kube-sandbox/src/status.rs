//! API errors as Kubernetes `Status` objects: the code, reason and message clients
//! (kubectl, kube-rs) read to decide what happened (404 NotFound, 409 AlreadyExists or
//! Conflict, 422 Invalid, ...).

use serde_json::{Value, json};

/// An error the API answers with, rendered as a `Status` body.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn not_found(qualified: &str, name: &str) -> Self {
        ApiError::new(404, "NotFound", format!("{qualified} \"{name}\" not found")).with_details(
            json!({ "name": name, "kind": kind_of(qualified), "group": group_of(qualified) }),
        )
    }

    pub fn already_exists(qualified: &str, name: &str) -> Self {
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{qualified} \"{name}\" already exists"),
        )
        .with_details(
            json!({ "name": name, "kind": kind_of(qualified), "group": group_of(qualified) }),
        )
    }

    pub fn conflict(qualified: &str, name: &str) -> Self {
        ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {qualified} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
        )
        .with_details(json!({ "name": name, "kind": kind_of(qualified), "group": group_of(qualified) }))
    }

    /// 422: the object is invalid; `causes` are (field, message) pairs.
    pub fn invalid(kind: &str, name: &str, causes: &[(&str, String)]) -> Self {
        let text: Vec<String> = causes.iter().map(|(f, m)| format!("{f}: {m}")).collect();
        let causes: Vec<Value> = causes
            .iter()
            .map(|(f, m)| json!({ "reason": "FieldValueInvalid", "message": m, "field": f }))
            .collect();
        ApiError::new(
            422,
            "Invalid",
            format!("{kind} \"{name}\" is invalid: {}", text.join(", ")),
        )
        .with_details(json!({ "name": name, "kind": kind, "causes": causes }))
    }

    /// 422 for a patch that cannot apply (a failed `test`, a missing path).
    pub fn invalid_patch(message: impl Into<String>) -> Self {
        ApiError::new(422, "Invalid", message)
    }

    /// 409 for a server-side apply that would change fields other managers own;
    /// `conflicts` are (manager, its apiVersion, field path).
    pub fn apply_conflicts(
        qualified: &str,
        name: &str,
        conflicts: &[(String, String, String)],
    ) -> Self {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, v, f)| match v.as_str() {
                "" => format!("conflict with \"{m}\": {f}"),
                v => format!("conflict with \"{m}\" using {v}: {f}"),
            })
            .collect();
        let causes: Vec<Value> = conflicts
            .iter()
            .map(|(m, v, f)| json!({ "reason": "FieldManagerConflict", "message": match v.as_str() { "" => format!("conflict with \"{m}\""), v => format!("conflict with \"{m}\" using {v}") }, "field": f }))
            .collect();
        let n = conflicts.len();
        ApiError::new(409, "Conflict", format!("Apply failed with {n} conflict{}: {}", if n == 1 { "" } else { "s" }, lines.join("\n")))
            .with_details(json!({ "name": name, "kind": kind_of(qualified), "group": group_of(qualified), "causes": causes }))
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    /// 404 for a path that names no resource type.
    pub fn no_route(path: &str) -> Self {
        ApiError::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::new(405, "MethodNotAllowed", message)
    }

    pub fn unsupported_media_type(content_type: &str) -> Self {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/json-patch+json (got {content_type})"
            ),
        )
    }

    /// 410: a continue token or resourceVersion older than the sandbox keeps.
    pub fn expired(message: impl Into<String>) -> Self {
        ApiError::new(410, "Expired", message)
    }

    /// 403: e.g. creating in a namespace that is being deleted.
    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(403, "Forbidden", message)
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(d) = &self.details {
            status["details"] = d.clone();
        }
        status
    }
}

/// `deployments.apps` → `deployments`.
fn kind_of(qualified: &str) -> &str {
    qualified.split_once('.').map_or(qualified, |(k, _)| k)
}

/// `deployments.apps` → `apps`; `configmaps` → ``.
fn group_of(qualified: &str) -> &str {
    qualified.split_once('.').map_or("", |(_, g)| g)
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({} {})", self.message, self.code, self.reason)
    }
}

impl std::error::Error for ApiError {}
