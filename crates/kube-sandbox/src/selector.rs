//! Field selectors, as list and watch requests give them (`metadata.name=x`); label
//! selectors are kube-resources' `LabelSelector`, read here into a request's error.

use serde_json::Value;

use super::status::ApiError;

pub use kube_resources::LabelSelector;

/// Reads a `labelSelector` query; a bad one is a 400, as the API server answers.
pub fn label_selector(s: &str) -> Result<LabelSelector, ApiError> {
    LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// A field selector: only `metadata.name` and `metadata.namespace` (with `=`, `==`
/// or `!=`), as the API server supports for every type.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    pub fn parse(s: &str) -> Result<FieldSelector, ApiError> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (field, neg, value) = if let Some((f, v)) = part.split_once("!=") {
                (f, true, v)
            } else if let Some((f, v)) = part.split_once("==") {
                (f, false, v)
            } else if let Some((f, v)) = part.split_once('=') {
                (f, false, v)
            } else {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector: '{part}'"
                )));
            };
            let field = field.trim();
            if field != "metadata.name" && field != "metadata.namespace" {
                return Err(ApiError::bad_request(format!(
                    "field label not supported: {field}"
                )));
            }
            out.push((field.to_string(), neg, value.trim().to_string()));
        }
        Ok(FieldSelector(out))
    }

    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(field, neg, value)| {
            let pointer = if field == "metadata.name" {
                "/metadata/name"
            } else {
                "/metadata/namespace"
            };
            let actual = object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("");
            (actual == value) != *neg
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(labels: Value) -> Value {
        json!({ "metadata": { "name": "a", "namespace": "ns", "labels": labels } })
    }

    #[test]
    fn field_selectors_on_name_and_namespace() {
        let o = obj(json!({}));
        assert!(FieldSelector::parse("metadata.name=a").is_ok_and(|f| f.matches(&o)));
        assert!(FieldSelector::parse("metadata.namespace!=ns").is_ok_and(|f| !f.matches(&o)));
        assert!(FieldSelector::parse("status.phase=Running").is_err());
    }
}
