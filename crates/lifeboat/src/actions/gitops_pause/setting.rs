//! The one field that pauses a GitOps object (an annotation, `automated`, `suspend`):
//! reading it, whether it says paused, and the merge patches that pause an object and
//! put the field back exactly as it was.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::SKIP_RECONCILE;

/// The field a step sets to pause one object.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// `metadata.annotations["argocd.argoproj.io/skip-reconcile"]` set to `"true"`.
    SkipReconcile,
    /// `spec.syncPolicy.automated` removed.
    #[serde(rename = "automated")]
    AutoSync,
    /// `spec.suspend` set to `true` (Flux).
    Suspend,
}

impl Setting {
    /// The field as `object` has it; `None` when it is absent.
    pub(super) fn read(self, object: &Value) -> Option<Value> {
        let found = match self {
            Setting::SkipReconcile => object
                .get("metadata")
                .and_then(|m| m.get("annotations"))
                .and_then(|a| a.get(SKIP_RECONCILE)),
            Setting::AutoSync => object.pointer("/spec/syncPolicy/automated"),
            Setting::Suspend => object.pointer("/spec/suspend"),
        };
        found.filter(|v| !v.is_null()).cloned()
    }

    /// Whether an object whose field is `value` is paused already.
    pub(super) fn is_paused(self, value: Option<&Value>) -> bool {
        match self {
            Setting::SkipReconcile => value.and_then(Value::as_str) == Some("true"),
            // Auto-sync is off without `automated`, or with `automated.enabled: false`.
            Setting::AutoSync => {
                value.is_none_or(|a| a.get("enabled").and_then(Value::as_bool) == Some(false))
            }
            Setting::Suspend => value.and_then(Value::as_bool) == Some(true),
        }
    }

    /// The merge patch that pauses an object.
    pub(super) fn pause_patch(self) -> Value {
        match self {
            Setting::SkipReconcile => {
                json!({ "metadata": { "annotations": { SKIP_RECONCILE: "true" } } })
            }
            Setting::AutoSync => json!({ "spec": { "syncPolicy": { "automated": null } } }),
            Setting::Suspend => json!({ "spec": { "suspend": true } }),
        }
    }

    /// The merge patch that makes the field of an object whose field is `current`
    /// exactly `previous` again (absent when `previous` is `None`).
    pub(super) fn restore_patch(self, current: Option<&Value>, previous: Option<&Value>) -> Value {
        let value = merge_patch_to(current, previous);
        match self {
            Setting::SkipReconcile => {
                json!({ "metadata": { "annotations": { SKIP_RECONCILE: value } } })
            }
            Setting::AutoSync => json!({ "spec": { "syncPolicy": { "automated": value } } }),
            Setting::Suspend => json!({ "spec": { "suspend": value } }),
        }
    }

    /// What a paused object is, for messages.
    pub(super) fn paused_word(self) -> &'static str {
        match self {
            Setting::SkipReconcile => "skipped by reconciliation (skip-reconcile)",
            Setting::AutoSync => "without automated sync",
            Setting::Suspend => "suspended",
        }
    }
}

/// The JSON merge patch (RFC 7386) that turns `current` into `target`: a field of
/// `current` that `target` lacks is removed, objects are patched field by field, any
/// other value is replaced. `None` is an absent field.
fn merge_patch_to(current: Option<&Value>, target: Option<&Value>) -> Value {
    match (current, target) {
        (_, None) => Value::Null,
        (Some(Value::Object(now)), Some(Value::Object(then))) => {
            let mut patch = Map::new();
            for key in now.keys().filter(|k| !then.contains_key(*k)) {
                patch.insert(key.clone(), Value::Null);
            }
            for (key, value) in then {
                patch.insert(key.clone(), merge_patch_to(now.get(key), Some(value)));
            }
            Value::Object(patch)
        }
        (_, Some(value)) => value.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_merge_patch_to_the_previous_value_gives_exactly_that_value() {
        let now = json!({ "prune": false, "allowEmpty": true });
        let then = json!({ "prune": true, "selfHeal": true });
        assert_eq!(
            merge_patch_to(Some(&now), Some(&then)),
            json!({ "allowEmpty": null, "prune": true, "selfHeal": true })
        );
        assert_eq!(merge_patch_to(None, Some(&then)), then);
        assert_eq!(merge_patch_to(Some(&now), None), Value::Null);
        assert_eq!(
            merge_patch_to(Some(&json!(true)), Some(&json!(false))),
            json!(false)
        );
    }

    #[test]
    fn what_counts_as_paused_follows_each_method() {
        let s = Setting::SkipReconcile;
        assert!(s.is_paused(Some(&json!("true"))));
        assert!(!s.is_paused(Some(&json!("false"))));
        assert!(!s.is_paused(None));
        let a = Setting::AutoSync;
        assert!(a.is_paused(None));
        assert!(a.is_paused(Some(&json!({ "enabled": false, "prune": true }))));
        assert!(!a.is_paused(Some(&json!({ "prune": true }))));
        assert!(!a.is_paused(Some(&json!({}))));
        let f = Setting::Suspend;
        assert!(f.is_paused(Some(&json!(true))));
        assert!(!f.is_paused(Some(&json!(false))));
        assert!(!f.is_paused(None));
    }

    #[test]
    fn each_setting_is_read_where_its_method_keeps_it() {
        let app = json!({
            "metadata": { "annotations": { SKIP_RECONCILE: "false" } },
            "spec": { "syncPolicy": { "automated": { "prune": true } } }
        });
        assert_eq!(Setting::SkipReconcile.read(&app), Some(json!("false")));
        assert_eq!(Setting::AutoSync.read(&app), Some(json!({ "prune": true })));
        assert_eq!(Setting::Suspend.read(&app), None);
        let bare = json!({ "metadata": { "name": "x" }, "spec": { "suspend": null } });
        assert_eq!(Setting::SkipReconcile.read(&bare), None);
        assert_eq!(Setting::Suspend.read(&bare), None);
    }

    #[test]
    fn the_restore_patch_removes_what_was_absent_and_puts_back_what_was_there() {
        assert_eq!(
            Setting::Suspend.restore_patch(Some(&json!(true)), None),
            json!({ "spec": { "suspend": null } })
        );
        assert_eq!(
            Setting::Suspend.restore_patch(Some(&json!(true)), Some(&json!(false))),
            json!({ "spec": { "suspend": false } })
        );
        assert_eq!(
            Setting::SkipReconcile.restore_patch(Some(&json!("true")), None),
            json!({ "metadata": { "annotations": { SKIP_RECONCILE: null } } })
        );
        let automated = json!({ "prune": true, "selfHeal": true });
        assert_eq!(
            Setting::AutoSync.restore_patch(None, Some(&automated)),
            json!({ "spec": { "syncPolicy": { "automated": automated } } })
        );
    }
}
