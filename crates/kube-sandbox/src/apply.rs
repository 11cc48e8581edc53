//! Server-side apply and field ownership (`metadata.managedFields`). Every write
//! records which manager set which fields; an apply (`application/apply-patch+yaml`)
//! sets the fields its configuration names, removes those it set before and no longer
//! names, and refuses (409) to change a field another manager owns unless forced.
//! Lists of containers, env, ports, volumes... are owned element by element (by their
//! merge key); other lists and all scalars are owned whole.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::patch::merge_key;
use super::status::ApiError;
use super::time::now_rfc3339;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// A mapping field: `f:name`.
    Field(String),
    /// A list element by its merge key: `k:{"name":"web"}`.
    Key(String, String),
}

pub type Path = Vec<Step>;

/// Top-level and metadata fields no manager owns.
fn ignored(path: &[Step]) -> bool {
    match path {
        [Step::Field(f)] => f == "apiVersion" || f == "kind" || f == "status",
        [Step::Field(m), Step::Field(f), ..] if m == "metadata" => !matches!(
            f.as_str(),
            "labels" | "annotations" | "finalizers" | "ownerReferences"
        ),
        _ => false,
    }
}

/// The leaf fields an object sets.
pub fn leaf_paths(obj: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    walk(obj, &mut Vec::new(), &mut out);
    out
}

fn walk(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, child) in map {
                path.push(Step::Field(k.clone()));
                if !ignored(path) {
                    walk(child, path, out);
                }
                path.pop();
            }
        }
        Value::Array(items) => {
            let field = match path.last() {
                Some(Step::Field(f)) => f.as_str(),
                _ => "",
            };
            match merge_key(field, items) {
                Some(key) if items.iter().all(|i| i.get(key).is_some()) => {
                    for item in items {
                        let id = item.get(key).map(Value::to_string).unwrap_or_default();
                        path.push(Step::Key(key.to_string(), id));
                        walk(item, path, out);
                        path.pop();
                    }
                }
                _ => {
                    out.insert(path.clone());
                }
            }
        }
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

/// `.spec.template.spec.containers[name="web"].image`, as conflict messages show paths.
pub fn show(path: &[Step]) -> String {
    path.iter()
        .map(|s| match s {
            Step::Field(f) => format!(".{f}"),
            Step::Key(k, v) => format!("[{k}={v}]"),
        })
        .collect()
}

/// The value at `path`.
pub fn get_at<'a>(obj: &'a Value, path: &[Step]) -> Option<&'a Value> {
    let mut cur = obj;
    for step in path {
        cur = match step {
            Step::Field(f) => cur.get(f)?,
            Step::Key(k, v) => cur
                .as_array()?
                .iter()
                .find(|i| i.get(k).map(Value::to_string).as_deref() == Some(v))?,
        };
    }
    Some(cur)
}

/// Removes the value at `path` (a keyed list element, or a mapping field).
fn remove_at(obj: &mut Value, path: &[Step]) {
    let Some((last, parent)) = path.split_last() else {
        return;
    };
    let mut cur = obj;
    for step in parent {
        let next = match step {
            Step::Field(f) => cur.get_mut(f),
            Step::Key(k, v) => cur.as_array_mut().and_then(|items| {
                items
                    .iter_mut()
                    .find(|i| i.get(k).map(Value::to_string).as_deref() == Some(v))
            }),
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match last {
        Step::Field(f) => {
            if let Some(m) = cur.as_object_mut() {
                m.remove(f);
            }
        }
        Step::Key(k, v) => {
            if let Some(items) = cur.as_array_mut() {
                items.retain(|i| i.get(k).map(Value::to_string).as_deref() != Some(v));
            }
        }
    }
}

/// Merges an applied configuration into `target`: mappings field by field, keyed lists
/// element by element, everything else replaced.
fn merge(target: &mut Value, applied: &Value, field: &str) {
    match (target, applied) {
        (Value::Object(t), Value::Object(a)) => {
            for (k, v) in a {
                match t.get_mut(k) {
                    Some(existing) => merge(existing, v, k),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(t), Value::Array(a)) => match merge_key(field, a) {
            Some(key) if a.iter().chain(t.iter()).all(|i| i.get(key).is_some()) => {
                for item in a {
                    match t.iter_mut().find(|e| e.get(key) == item.get(key)) {
                        Some(existing) => merge(existing, item, ""),
                        None => t.push(item.clone()),
                    }
                }
            }
            _ => *t = a.clone(),
        },
        (t, a) => *t = a.clone(),
    }
}

/// `managedFields` as (manager, operation, apiVersion) → fields.
type Owners = BTreeMap<(String, String, String), BTreeSet<Path>>;

fn owners(obj: &Value) -> Owners {
    let mut out = Owners::new();
    for entry in obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| {
            entry
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let mut paths = BTreeSet::new();
        from_fields_v1(
            entry.get("fieldsV1").unwrap_or(&Value::Null),
            &mut Vec::new(),
            &mut paths,
        );
        out.entry((s("manager"), s("operation"), s("apiVersion")))
            .or_default()
            .extend(paths);
    }
    out
}

fn set_owners(obj: &mut Value, owners: &Owners) {
    let now = now_rfc3339();
    let entries: Vec<Value> = owners
        .iter()
        .filter(|(_, paths)| !paths.is_empty())
        .map(|((manager, operation, api_version), paths)| {
            json!({
                "manager": manager,
                "operation": operation,
                "apiVersion": api_version,
                "time": now,
                "fieldsType": "FieldsV1",
                "fieldsV1": to_fields_v1(paths),
            })
        })
        .collect();
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("managedFields".into(), Value::Array(entries));
    }
}

/// The `fieldsV1` tree of a set of paths.
fn to_fields_v1(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for path in paths {
        let mut cur = &mut root;
        for step in path {
            let key = match step {
                Step::Field(f) => format!("f:{f}"),
                Step::Key(k, v) => format!("k:{{\"{k}\":{v}}}"),
            };
            let next = cur.entry(key).or_insert_with(|| json!({}));
            if !next.is_object() {
                *next = json!({});
            }
            match next {
                Value::Object(m) => cur = m,
                _ => break,
            }
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, path: &mut Path, out: &mut BTreeSet<Path>) {
    let Some(map) = v.as_object() else { return };
    let children: Vec<(&String, &Value)> = map.iter().filter(|(k, _)| k.as_str() != ".").collect();
    if children.is_empty() && !path.is_empty() {
        out.insert(path.clone());
        return;
    }
    for (k, child) in children {
        let step = if let Some(f) = k.strip_prefix("f:") {
            Step::Field(f.to_string())
        } else if let Some(key) = k.strip_prefix("k:") {
            let parsed: Map<String, Value> = serde_json::from_str(key).unwrap_or_default();
            match parsed.into_iter().next() {
                Some((name, value)) => Step::Key(name, value.to_string()),
                None => continue,
            }
        } else {
            continue;
        };
        path.push(step);
        from_fields_v1(child, path, out);
        path.pop();
    }
}

/// Records that `manager` (an Update) changed `after` from `before`: it owns the leaves
/// that changed or appeared, and the others lose them.
pub fn record_update(before: Option<&Value>, after: &mut Value, manager: &str, api_version: &str) {
    let mut owners = before.map(owners).unwrap_or_default();
    let changed: BTreeSet<Path> = leaf_paths(after)
        .into_iter()
        .filter(|p| before.is_none_or(|b| get_at(b, p) != get_at(after, p)))
        .collect();
    if changed.is_empty() && before.is_some() {
        set_owners(after, &owners);
        return;
    }
    for paths in owners.values_mut() {
        paths.retain(|p| !changed.contains(p));
    }
    // Fields that are gone are owned by nobody.
    for paths in owners.values_mut() {
        paths.retain(|p| get_at(after, p).is_some());
    }
    owners
        .entry((
            manager.to_string(),
            "Update".to_string(),
            api_version.to_string(),
        ))
        .or_default()
        .extend(changed);
    set_owners(after, &owners);
}

/// Server-side apply of `applied` by `manager` onto `current` (or onto nothing, for a
/// create). Returns the new object, or a 409 naming each conflicting field.
pub fn apply(
    current: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    qualified: &str,
) -> Result<Value, ApiError> {
    let api_version = applied
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let name = applied
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut owners = current.map(owners).unwrap_or_default();
    let wanted = leaf_paths(applied);
    let mut conflicts: Vec<(String, String, String)> = Vec::new();
    if let Some(current) = current {
        for ((other, operation, other_version), paths) in owners.iter_mut() {
            if other == manager {
                continue;
            }
            let clashing: Vec<Path> = paths
                .iter()
                .filter(|p| wanted.contains(*p) && get_at(current, p) != get_at(applied, p))
                .cloned()
                .collect();
            if force {
                paths.retain(|p| !clashing.contains(p));
            } else {
                // As the API server names them: an applier by name, an updater with
                // the version it wrote.
                let version = if operation == "Apply" {
                    String::new()
                } else {
                    other_version.clone()
                };
                conflicts.extend(
                    clashing
                        .iter()
                        .map(|p| (other.clone(), version.clone(), show(p))),
                );
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(ApiError::apply_conflicts(qualified, &name, &conflicts));
    }
    let mine = (
        manager.to_string(),
        "Apply".to_string(),
        api_version.clone(),
    );
    let previously: BTreeSet<Path> = owners
        .iter()
        .filter(|((m, op, _), _)| m == manager && op == "Apply")
        .flat_map(|(_, p)| p.iter().cloned())
        .collect();
    let mut result = current.cloned().unwrap_or_else(|| json!({}));
    // Fields this manager set before and no longer names go, unless someone else owns them.
    for path in previously.difference(&wanted) {
        let shared = owners
            .iter()
            .any(|((m, _, _), paths)| m != manager && paths.contains(path));
        if !shared {
            remove_at(&mut result, path);
        }
    }
    merge(&mut result, applied, "");
    for ((m, op, _), paths) in owners.iter_mut() {
        if m == manager && op == "Apply" {
            paths.clear();
        }
    }
    owners.insert(mine, wanted);
    set_owners(&mut result, &owners);
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(replicas: i64, image: &str) -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": { "name": "web", "labels": { "app": "web" } },
            "spec": { "replicas": replicas, "template": { "spec": { "containers": [ { "name": "web", "image": image } ] } } },
        })
    }

    #[test]
    fn containers_are_owned_by_name() {
        let paths = leaf_paths(&deployment(1, "a"));
        assert!(
            paths
                .iter()
                .any(|p| show(p) == ".spec.template.spec.containers[name=\"web\"].image"),
            "{paths:?}"
        );
        assert!(!paths.iter().any(|p| show(p).starts_with(".metadata.name")));
    }

    #[test]
    fn fields_v1_round_trips() {
        let paths = leaf_paths(&deployment(1, "a"));
        let mut back = BTreeSet::new();
        from_fields_v1(&to_fields_v1(&paths), &mut Vec::new(), &mut back);
        assert_eq!(paths, back);
    }

    #[test]
    fn applying_over_another_managers_field_conflicts_unless_forced() {
        let mut created = deployment(2, "a");
        record_update(None, &mut created, "kubectl-client-side-apply", "apps/v1");
        let err = apply(
            Some(&created),
            &deployment(3, "a"),
            "ops",
            false,
            "deployments.apps",
        )
        .err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.code == 409 && e.message.contains(".spec.replicas")),
            "{err:?}"
        );
        // The same value is no conflict; forcing takes the field over.
        assert!(
            apply(
                Some(&created),
                &deployment(2, "a"),
                "ops",
                false,
                "deployments.apps"
            )
            .is_ok()
        );
        let forced = apply(
            Some(&created),
            &deployment(3, "a"),
            "ops",
            true,
            "deployments.apps",
        );
        assert_eq!(
            forced.ok().map(|o| o["spec"]["replicas"].clone()),
            Some(json!(3))
        );
    }

    #[test]
    fn a_field_dropped_from_the_configuration_is_removed() {
        let first =
            apply(None, &deployment(2, "a"), "ops", false, "deployments.apps").unwrap_or_default();
        let mut second = deployment(2, "a");
        if let Some(m) = second["metadata"].as_object_mut() {
            m.remove("labels");
        }
        let result =
            apply(Some(&first), &second, "ops", false, "deployments.apps").unwrap_or_default();
        assert!(result.pointer("/metadata/labels/app").is_none(), "{result}");
        assert_eq!(result["spec"]["replicas"], 2);
    }
}
