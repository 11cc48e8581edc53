//! Restore transforms: what a recovery changes in the objects it writes. A storage
//! class mapping (PVCs, PVs and StatefulSets' claim templates) and modifiers, rules
//! that select objects by resource type, namespace, name and labels and apply a JSON
//! patch or a merge patch, in order. The rules are data (restore inputs), checked by
//! `validate`; applied to each object after it is stripped and moved to its target
//! namespace, matched against the object as it was backed up. Each transformed
//! object's changes are named by field path (values shown, except a Secret's).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::patch::JsonPatchOp;
use crate::archive::diff::{FieldChange, field_changes};
use crate::cluster::ResourceType;
use crate::cluster::filter::{Glob, NamespaceFilter, ResourceFilter};
use kube_resources::LabelSelector;

/// The legacy annotation that named a PVC's class before `spec.storageClassName`.
const LEGACY_CLASS_ANNOTATION: &str = "volume.beta.kubernetes.io/storage-class";
/// Longest value shown in a change.
const MAX_SHOWN: usize = 80;
/// Fields a modifier may not change: where an object is written is the restore's
/// business (`namespace_mapping`), not a patch's.
const FIXED: &[&str] = &["apiVersion", "kind", "metadata.name", "metadata.namespace"];

/// One modifier: which objects, and the patch applied to them.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Modifier {
    /// Which objects the rule applies to (all of them when empty).
    #[serde(default, rename = "match")]
    pub selects: ModifierMatch,
    /// An RFC 6902 JSON patch (`[{ op: replace, path: /spec/replicas, value: 1 }]`).
    #[serde(default)]
    pub json_patch: Option<Vec<JsonPatchOp>>,
    /// An RFC 7386 merge patch (`{ metadata: { annotations: { x: null } } }` removes
    /// `x`).
    #[serde(default)]
    pub merge_patch: Option<Value>,
}

/// What a modifier selects; every given field must match.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifierMatch {
    /// Resource types, as in `include_resources` (`deployments.apps`, `pvc*`).
    #[serde(default)]
    pub resources: Vec<String>,
    /// Namespaces (globs) the objects were backed up from.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Object names (a glob: `web-*`).
    #[serde(default)]
    pub name: Option<String>,
    /// A label selector (`tier=web,env!=test`).
    #[serde(default)]
    pub label_selector: Option<String>,
}

/// What a restore changes in the objects it writes, ready to apply.
#[derive(Default)]
pub struct Transforms {
    storage_classes: BTreeMap<String, String>,
    modifiers: Vec<Compiled>,
}

struct Compiled {
    /// 1-based, for messages.
    number: usize,
    resources: ResourceFilter,
    any_resource: bool,
    namespaces: NamespaceFilter,
    name: Option<Glob>,
    selector: Option<LabelSelector>,
    patch: Patch,
}

enum Patch {
    Json(Vec<json_patch::PatchOperation>),
    Merge(Value),
}

impl Transforms {
    /// Reads the rules; every problem is a message naming the rule and field (the
    /// restore's `validate` check reports them at their place).
    pub fn new(
        storage_classes: &BTreeMap<String, String>,
        modifiers: &[Modifier],
    ) -> Result<Transforms, String> {
        let mut compiled = Vec::with_capacity(modifiers.len());
        for (i, m) in modifiers.iter().enumerate() {
            compiled.push(compile(i + 1, m)?);
        }
        Ok(Transforms {
            storage_classes: storage_classes.clone(),
            modifiers: compiled,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.storage_classes.is_empty() && self.modifiers.is_empty()
    }

    /// Transforms `object` (of type `source`; `backed_up` is it as it was backed up,
    /// for matching). Returns the changes, described for people, or why a rule could
    /// not apply (the object is then not written).
    pub fn apply(
        &self,
        source: &ResourceType,
        backed_up: &Value,
        object: &mut Value,
    ) -> Result<Vec<String>, String> {
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let before = object.clone();
        self.map_storage_class(&source.qualified(), object);
        for m in &self.modifiers {
            if m.selects(source, backed_up) {
                m.apply(object)?;
            }
        }
        let mut changes = Vec::new();
        field_changes(&before, object, "", &mut changes);
        if let Some(c) = changes.iter().find(|c| FIXED.contains(&c.path.as_str())) {
            return Err(format!(
                "a modifier changed `{}`, which a restore does not let a patch change; move namespaces with `namespace_mapping`",
                c.path
            ));
        }
        let secret = object.get("kind").and_then(Value::as_str) == Some("Secret");
        Ok(changes.iter().map(|c| describe(c, secret)).collect())
    }

    fn map_storage_class(&self, qualified: &str, object: &mut Value) {
        if self.storage_classes.is_empty() {
            return;
        }
        let map = |class: &mut Value| {
            if let Some(to) = class.as_str().and_then(|c| self.storage_classes.get(c)) {
                *class = Value::String(to.clone());
            }
        };
        match qualified {
            "persistentvolumeclaims" | "persistentvolumes" => {
                if let Some(c) = object.pointer_mut("/spec/storageClassName") {
                    map(c);
                }
                let legacy = format!(
                    "/metadata/annotations/{}",
                    LEGACY_CLASS_ANNOTATION.replace('/', "~1")
                );
                if let Some(c) = object.pointer_mut(&legacy) {
                    map(c);
                }
            }
            "statefulsets.apps" => {
                if let Some(Value::Array(templates)) =
                    object.pointer_mut("/spec/volumeClaimTemplates")
                {
                    for t in templates {
                        if let Some(c) = t.pointer_mut("/spec/storageClassName") {
                            map(c);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn compile(number: usize, m: &Modifier) -> Result<Compiled, String> {
    let patch = match (&m.json_patch, &m.merge_patch) {
        (Some(ops), None) => {
            for op in ops {
                if !op.path.is_empty() && !op.path.starts_with('/') {
                    return Err(format!(
                        "modifier {number}: JSON patch path `{}` does not start with `/`\nJSON patch paths are pointers: `/spec/replicas`",
                        op.path
                    ));
                }
            }
            let value = Value::Array(ops.iter().map(operation).collect());
            let ops: Vec<json_patch::PatchOperation> = serde_json::from_value(value)
                .map_err(|e| format!("modifier {number}: invalid JSON patch: {e}"))?;
            Patch::Json(ops)
        }
        (None, Some(merge)) if merge.is_object() => Patch::Merge(merge.clone()),
        (None, Some(_)) => {
            return Err(format!(
                "modifier {number}: `merge_patch` must be a mapping\na merge patch is the fields to set, with `null` for those to remove"
            ));
        }
        (Some(_), Some(_)) => {
            return Err(format!(
                "modifier {number}: only one of `json_patch`, `merge_patch` may be given\nsplit it into two modifiers; they apply in order"
            ));
        }
        (None, None) => {
            return Err(format!(
                "modifier {number}: one of `json_patch`, `merge_patch` is required\na modifier says what to change"
            ));
        }
    };
    let selector = match &m.selects.label_selector {
        Some(s) => Some(
            LabelSelector::parse(s)
                .map_err(|e| format!("modifier {number}: invalid label selector `{s}`: {e}"))?,
        ),
        None => None,
    };
    Ok(Compiled {
        number,
        resources: ResourceFilter::new(&m.selects.resources, &[]),
        any_resource: m.selects.resources.is_empty(),
        namespaces: NamespaceFilter::new(&m.selects.namespaces, &[]),
        name: m.selects.name.as_deref().map(Glob::new),
        selector,
        patch,
    })
}

/// One operation as RFC 6902 writes it (absent fields left out).
fn operation(op: &JsonPatchOp) -> Value {
    let mut m = serde_json::Map::new();
    m.insert(
        "op".into(),
        serde_json::to_value(op.op).unwrap_or(Value::Null),
    );
    m.insert("path".into(), Value::String(op.path.clone()));
    if let Some(v) = &op.value {
        m.insert("value".into(), v.clone());
    }
    if let Some(f) = &op.from {
        m.insert("from".into(), Value::String(f.clone()));
    }
    Value::Object(m)
}

impl Compiled {
    fn selects(&self, source: &ResourceType, object: &Value) -> bool {
        let meta = |f: &str| {
            object
                .pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        (self.any_resource || self.resources.matches(source))
            && (self.namespaces.selects_all()
                || (source.namespaced && self.namespaces.matches(meta("namespace"))))
            && self.name.as_ref().is_none_or(|g| g.matches(meta("name")))
            && self.selector.as_ref().is_none_or(|s| s.matches(object))
    }

    fn apply(&self, object: &mut Value) -> Result<(), String> {
        match &self.patch {
            Patch::Merge(m) => {
                json_patch::merge(object, m);
                Ok(())
            }
            Patch::Json(ops) => {
                // Applied to a copy: a failing operation leaves the object as it was.
                let mut patched = object.clone();
                json_patch::patch_unsafe(&mut patched, ops)
                    .map_err(|e| format!("modifier {} did not apply: {e}", self.number))?;
                *object = patched;
                Ok(())
            }
        }
    }
}

/// `path: before → after`; a Secret's values are never shown.
fn describe(c: &FieldChange<'_>, secret: bool) -> String {
    if secret {
        return match (c.before, c.after) {
            (None, _) => format!("{}: added", c.path),
            (_, None) => format!("{}: removed", c.path),
            _ => format!("{}: changed", c.path),
        };
    }
    match (c.before, c.after) {
        (None, Some(a)) => format!("{}: added {}", c.path, shown(a)),
        (Some(_), None) => format!("{}: removed", c.path),
        (Some(b), Some(a)) => format!("{}: {} → {}", c.path, shown(b), shown(a)),
        (None, None) => c.path.clone(),
    }
}

fn shown(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= MAX_SHOWN {
        text
    } else {
        let cut: String = text.chars().take(MAX_SHOWN).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rtype(group: &str, resource: &str, kind: &str) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            kind: kind.into(),
            namespaced: true,
        }
    }

    fn modifiers(yaml: Value) -> Vec<Modifier> {
        serde_json::from_value(yaml).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn storage_classes_are_mapped_in_claims_volumes_and_claim_templates() {
        let t = Transforms::new(
            &BTreeMap::from([("gp2".to_string(), "premium-rwo".to_string())]),
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let pvc = rtype("", "persistentvolumeclaims", "PersistentVolumeClaim");
        let mut claim = json!({ "kind": "PersistentVolumeClaim", "metadata": { "name": "data", "annotations": { LEGACY_CLASS_ANNOTATION: "gp2" } }, "spec": { "storageClassName": "gp2" } });
        let changes = t.apply(&pvc, &claim.clone(), &mut claim);
        assert_eq!(claim["spec"]["storageClassName"], "premium-rwo");
        assert_eq!(
            claim["metadata"]["annotations"][LEGACY_CLASS_ANNOTATION],
            "premium-rwo"
        );
        assert_eq!(
            changes.unwrap_or_default(),
            [
                "metadata.annotations.volume.beta.kubernetes.io/storage-class: \"gp2\" → \"premium-rwo\"",
                "spec.storageClassName: \"gp2\" → \"premium-rwo\""
            ]
        );
        let sts = rtype("apps", "statefulsets", "StatefulSet");
        let mut set = json!({ "kind": "StatefulSet", "metadata": { "name": "db" }, "spec": { "volumeClaimTemplates": [
            { "metadata": { "name": "a" }, "spec": { "storageClassName": "gp2" } },
            { "metadata": { "name": "b" }, "spec": { "storageClassName": "other" } } ] } });
        let _ = t.apply(&sts, &set.clone(), &mut set);
        assert_eq!(
            set["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
            "premium-rwo"
        );
        assert_eq!(
            set["spec"]["volumeClaimTemplates"][1]["spec"]["storageClassName"],
            "other"
        );
    }

    #[test]
    fn modifiers_select_by_type_namespace_name_and_labels_and_apply_in_order() {
        let t = Transforms::new(
            &BTreeMap::new(),
            &modifiers(json!([
                { "match": { "resources": ["deployments.apps"], "namespaces": ["shop"], "name": "web*", "label_selector": "tier=web" },
                  "json_patch": [ { "op": "replace", "path": "/spec/replicas", "value": 1 } ] },
                { "match": { "resources": ["deployments.apps"] },
                  "merge_patch": { "metadata": { "annotations": { "drop-me": null } }, "spec": { "replicas": 5 } } }
            ])),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let deploy = rtype("apps", "deployments", "Deployment");
        let web = json!({ "kind": "Deployment", "metadata": { "name": "web", "namespace": "shop", "labels": { "tier": "web" }, "annotations": { "drop-me": "x", "keep": "y" } }, "spec": { "replicas": 3 } });
        let mut o = web.clone();
        let changes = t.apply(&deploy, &web, &mut o).unwrap_or_default();
        // Both rules applied, in order: the second one's replicas win.
        assert_eq!(o["spec"]["replicas"], 5);
        assert_eq!(o["metadata"]["annotations"], json!({ "keep": "y" }));
        assert_eq!(
            changes,
            [
                "metadata.annotations.drop-me: removed",
                "spec.replicas: 3 → 5"
            ]
        );
        // Another namespace: only the second rule.
        let mut other = web.clone();
        other["metadata"]["namespace"] = json!("blog");
        let mut o = other.clone();
        let _ = t.apply(&deploy, &other, &mut o);
        assert_eq!(o["spec"]["replicas"], 5);
        // Another type: neither.
        let cm = rtype("", "configmaps", "ConfigMap");
        let mut o = web.clone();
        assert_eq!(t.apply(&cm, &web, &mut o), Ok(Vec::new()));
    }

    #[test]
    fn a_patch_that_cannot_apply_fails_the_object_and_leaves_it_as_it_was() {
        let t = Transforms::new(
            &BTreeMap::new(),
            &modifiers(json!([{ "json_patch": [
                { "op": "replace", "path": "/spec/replicas", "value": 1 },
                { "op": "test", "path": "/spec/paused", "value": true } ] }])),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let deploy = rtype("apps", "deployments", "Deployment");
        let web = json!({ "kind": "Deployment", "metadata": { "name": "web" }, "spec": { "replicas": 3 } });
        let mut o = web.clone();
        let e = t.apply(&deploy, &web, &mut o).unwrap_err();
        assert!(e.starts_with("modifier 1 did not apply"), "{e}");
        assert_eq!(o, web);
    }

    #[test]
    fn a_modifier_may_not_move_or_rename_an_object() {
        let t = Transforms::new(
            &BTreeMap::new(),
            &modifiers(json!([{ "merge_patch": { "metadata": { "namespace": "elsewhere" } } }])),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let cm = rtype("", "configmaps", "ConfigMap");
        let o = json!({ "kind": "ConfigMap", "metadata": { "name": "c", "namespace": "a" } });
        let e = t.apply(&cm, &o, &mut o.clone()).unwrap_err();
        assert!(e.contains("`metadata.namespace`"), "{e}");
    }

    #[test]
    fn a_secrets_changed_values_are_never_shown() {
        let t = Transforms::new(
            &BTreeMap::new(),
            &modifiers(json!([{ "merge_patch": { "data": { "password": "bmV3LXNlY3JldA==" } } }])),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let secret = rtype("", "secrets", "Secret");
        let s = json!({ "kind": "Secret", "metadata": { "name": "db" }, "data": { "password": "b2xkLXNlY3JldA==" } });
        let changes = t.apply(&secret, &s, &mut s.clone()).unwrap_or_default();
        assert_eq!(changes, ["data.password: changed"]);
    }

    #[test]
    fn bad_rules_are_refused_naming_the_rule() {
        let bad = |m: Value| {
            Transforms::new(&BTreeMap::new(), &modifiers(m))
                .err()
                .unwrap_or_default()
        };
        assert!(
            bad(json!([{ "match": {} }]))
                .contains("modifier 1: one of `json_patch`, `merge_patch` is required")
        );
        assert!(
            bad(json!([{ "merge_patch": {} }, { "merge_patch": {}, "json_patch": [] }]))
                .contains("modifier 2: only one of")
        );
        assert!(bad(json!([{ "merge_patch": [1] }])).contains("must be a mapping"));
        assert!(
            bad(json!([{ "json_patch": [ { "op": "remove", "path": "spec" } ] }]))
                .contains("does not start with `/`")
        );
        assert!(
            bad(json!([{ "match": { "label_selector": "a in (" }, "merge_patch": {} }]))
                .contains("invalid label selector")
        );
    }
}
