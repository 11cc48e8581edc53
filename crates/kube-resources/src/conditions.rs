//! Status conditions (`status.conditions`), as controllers write them and clients
//! wait for them.

use serde_json::Value;

/// Whether `obj` reports condition `kind` with status `True`.
pub fn condition_true(obj: &Value, kind: &str) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                c.get("type").and_then(Value::as_str) == Some(kind)
                    && c.get("status").and_then(Value::as_str) == Some("True")
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_a_true_condition_of_the_kind_counts() {
        let obj = json!({ "status": { "conditions": [
            { "type": "Available", "status": "True" },
            { "type": "Progressing", "status": "False" },
        ] } });
        assert!(condition_true(&obj, "Available"));
        assert!(!condition_true(&obj, "Progressing"));
        assert!(!condition_true(&obj, "Ready"));
        assert!(!condition_true(&json!({}), "Available"));
    }
}
