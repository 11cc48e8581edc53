//! Verified restores: every object a restore writes, read back from the cluster and
//! compared with the backup's version after the same filters, strip rules, namespace
//! mapping and transforms (`Filter::prepare`). An object is missing, or drifted (with
//! the paths of the fields that differ), or matches. What the cluster adds on its own
//! (defaults, controllers' annotations, status, allocated addresses) is not drift: a
//! field counts only when the backup's version has it. Owner references are left out
//! (they name owners by uid, new in the target). Values are never shown, only field
//! paths, so a Secret's drift says which key differs and nothing more.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Field paths listed per drifted object; more are counted.
const MAX_FIELDS: usize = 20;
/// Drifted objects kept for the step's message and the report; all are counted.
const KEPT: usize = 100;

/// Whether a restore reads back what it wrote: `false` (default), `true` (drift fails
/// the step) or `report` (drift is recorded, the step succeeds).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMode {
    #[default]
    Off,
    Fail,
    Report,
}

impl<'de> Deserialize<'de> for VerifyMode {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = VerifyMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`true`, `false` or `report`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<VerifyMode, E> {
                Ok(if v { VerifyMode::Fail } else { VerifyMode::Off })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VerifyMode, E> {
                match v {
                    "true" => Ok(VerifyMode::Fail),
                    "false" => Ok(VerifyMode::Off),
                    "report" => Ok(VerifyMode::Report),
                    _ => Err(E::custom(format!(
                        "expected `true`, `false` or `report`, found `{v}`\n`report` records drift without failing the step"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for VerifyMode {
    fn schema_name() -> Cow<'static, str> {
        "VerifyMode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [ { "type": "boolean" }, { "type": "string", "enum": ["true", "false", "report"] } ],
            "description": "`true`: drift fails the step; `report`: drift is recorded; `false`: no read-back",
        })
    }
}

/// One object that is not in the cluster as the backup has it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectDrift {
    pub kind: String,
    /// `namespace/name` (in the target) or `name`.
    pub name: String,
    /// Not in the cluster at all.
    pub missing: bool,
    /// Paths of the fields that differ or are missing (`spec.replicas`), at most
    /// `MAX_FIELDS`.
    pub fields: Vec<String>,
    /// Paths left out past `MAX_FIELDS`.
    pub more: usize,
}

impl fmt::Display for ObjectDrift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.missing {
            return write!(f, "{} {}: missing", self.kind, self.name);
        }
        write!(f, "{} {}: {}", self.kind, self.name, self.fields.join(", "))?;
        if self.more > 0 {
            write!(f, " and {} more", self.more)?;
        }
        Ok(())
    }
}

/// What a verification found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DriftTally {
    /// Objects read back.
    pub checked: u64,
    pub missing: u64,
    pub drifted: u64,
    /// The first `KEPT` objects with drift.
    pub first: Vec<ObjectDrift>,
}

impl DriftTally {
    /// Objects missing or drifted.
    pub fn total(&self) -> u64 {
        self.missing + self.drifted
    }

    pub fn record(&mut self, drift: Option<ObjectDrift>) {
        self.checked += 1;
        let Some(d) = drift else { return };
        if d.missing {
            self.missing += 1;
        } else {
            self.drifted += 1;
        }
        if self.first.len() < KEPT {
            self.first.push(d);
        }
    }

    pub fn merge(&mut self, other: DriftTally) {
        self.checked += other.checked;
        self.missing += other.missing;
        self.drifted += other.drifted;
        let room = KEPT.saturating_sub(self.first.len());
        self.first.extend(other.first.into_iter().take(room));
    }
}

/// Compares the object a restore wrote (`expected`, as prepared) with the cluster's
/// (`live`, `None`: not there).
pub fn compare(
    kind: &str,
    name: &str,
    expected: &Value,
    live: Option<&Value>,
) -> Option<ObjectDrift> {
    let Some(live) = live else {
        return Some(ObjectDrift {
            kind: kind.to_string(),
            name: name.to_string(),
            missing: true,
            fields: Vec::new(),
            more: 0,
        });
    };
    let mut expected = expected.clone();
    if let Some(map) = expected.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("ownerReferences");
        }
    }
    let mut fields = Vec::new();
    differing(&expected, live, "", &mut fields);
    if fields.is_empty() {
        return None;
    }
    let more = fields.len().saturating_sub(MAX_FIELDS);
    fields.truncate(MAX_FIELDS);
    Some(ObjectDrift {
        kind: kind.to_string(),
        name: name.to_string(),
        missing: false,
        fields,
        more,
    })
}

/// The paths under `prefix` where `live` lacks or differs from what `expected` has:
/// fields of objects by name (those only `live` has are not looked at), items of lists
/// by index (a list whose length differs is one path), scalars whole.
fn differing(expected: &Value, live: &Value, prefix: &str, out: &mut Vec<String>) {
    let at = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match (expected, live) {
        (Value::Object(e), Value::Object(l)) => {
            let keys: BTreeSet<&String> = e.keys().collect();
            for k in keys {
                match (e.get(k), l.get(k)) {
                    (Some(ev), Some(lv)) => differing(ev, lv, &at(k), out),
                    // An empty value the server leaves out is the same as none.
                    (Some(ev), None) if is_empty(ev) => {}
                    _ => out.push(at(k)),
                }
            }
        }
        (Value::Array(e), Value::Array(l)) if e.len() == l.len() => {
            for (i, (ev, lv)) in e.iter().zip(l).enumerate() {
                differing(ev, lv, &format!("{prefix}[{i}]"), out);
            }
        }
        (e, l) if e == l => {}
        _ => out.push(if prefix.is_empty() {
            "(the whole object)".to_string()
        } else {
            prefix.to_string()
        }),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn what_the_cluster_adds_is_not_drift() {
        let expected = json!({ "kind": "Deployment", "metadata": { "name": "web", "labels": { "a": "1" }, "annotations": {} },
            "spec": { "replicas": 2, "template": { "spec": { "containers": [ { "name": "web", "image": "web:1" } ] } } } });
        let live = json!({ "kind": "Deployment", "metadata": { "name": "web", "uid": "u", "labels": { "a": "1" }, "annotations": { "deployment.kubernetes.io/revision": "1" } },
            "spec": { "replicas": 2, "strategy": { "type": "RollingUpdate" }, "template": { "spec": { "dnsPolicy": "ClusterFirst", "containers": [ { "name": "web", "image": "web:1", "imagePullPolicy": "IfNotPresent" } ] } } },
            "status": { "readyReplicas": 2 } });
        assert_eq!(
            compare("Deployment", "shop/web", &expected, Some(&live)),
            None
        );
    }

    #[test]
    fn changed_and_lost_fields_are_named_by_path_and_a_missing_object_as_missing() {
        let expected = json!({ "kind": "Secret", "metadata": { "name": "db", "labels": { "tier": "db" } },
            "data": { "password": "b2xk", "user": "YQ==" } });
        let live = json!({ "kind": "Secret", "metadata": { "name": "db" }, "data": { "password": "bmV3", "user": "YQ==" } });
        let d = compare("Secret", "shop/db", &expected, Some(&live));
        assert_eq!(
            d.as_ref().map(|d| d.fields.clone()),
            Some(vec![
                "data.password".to_string(),
                "metadata.labels".to_string()
            ])
        );
        // Paths only: no value of the Secret is in what is reported.
        let shown = d.map(|d| d.to_string()).unwrap_or_default();
        assert_eq!(shown, "Secret shop/db: data.password, metadata.labels");
        let gone = compare("ConfigMap", "shop/c", &json!({}), None);
        assert_eq!(
            gone.map(|d| d.to_string()),
            Some("ConfigMap shop/c: missing".into())
        );
    }

    #[test]
    fn owner_references_and_status_are_not_compared() {
        let expected = json!({ "metadata": { "name": "c", "ownerReferences": [ { "uid": "old" } ] }, "status": { "x": 1 } });
        let live = json!({ "metadata": { "name": "c", "ownerReferences": [ { "uid": "new" } ] } });
        assert_eq!(compare("ConfigMap", "c", &expected, Some(&live)), None);
    }

    #[test]
    fn the_tally_counts_everything_and_keeps_the_first() {
        let mut t = DriftTally::default();
        for i in 0..(KEPT + 5) {
            t.record(compare("ConfigMap", &format!("c{i}"), &json!({}), None));
        }
        t.record(None);
        assert_eq!(
            (t.checked, t.missing, t.drifted, t.total()),
            (KEPT as u64 + 6, KEPT as u64 + 5, 0, KEPT as u64 + 5)
        );
        assert_eq!(t.first.len(), KEPT);
    }
}
