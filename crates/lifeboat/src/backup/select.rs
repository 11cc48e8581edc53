//! Which resource types a backup reads, and where: the cluster's listable types minus
//! the excluded ones (events unless asked for), namespaced types either across all
//! namespaces or in each selected one, cluster-scoped types only when cluster
//! resources are taken (the Namespace objects of selected namespaces, and the CRDs of
//! backed-up custom resources, always come along), as the `cluster_resources` input
//! (`ClusterResources`) asks.

use std::collections::BTreeSet;

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::archive::manifest::{Filters, UnavailableGroup};
use crate::cluster::discovery::{self, ServedType};
use crate::cluster::filter::{NamespaceFilter, ResourceFilter};
use crate::cluster::objects;
use crate::cluster::{ClusterConn, ResourceType};
use crate::context::ActionError;

/// Whether a backup includes cluster-scoped resources.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClusterResources {
    /// Included when every namespace is selected; CRDs of backed-up custom resources always.
    #[default]
    Auto,
    Include,
    Exclude,
}

impl<'de> Deserialize<'de> for ClusterResources {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ClusterResources;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`auto`, `true` or `false`")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ClusterResources, E> {
                Ok(if v {
                    ClusterResources::Include
                } else {
                    ClusterResources::Exclude
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClusterResources, E> {
                match v {
                    "auto" => Ok(ClusterResources::Auto),
                    "true" => Ok(ClusterResources::Include),
                    "false" => Ok(ClusterResources::Exclude),
                    _ => Err(E::custom(format!(
                        "expected `auto`, `true` or `false`, found `{v}`"
                    ))),
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ClusterResources {
    fn schema_name() -> Cow<'static, str> {
        "ClusterResources".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "anyOf": [ { "type": "boolean" }, { "const": "auto" } ] })
    }
}

/// Up to this many selected namespaces are listed one by one; more are read with one
/// list across all namespaces, filtered here (fewer requests per resource type).
pub const PER_NAMESPACE_LISTS: usize = 4;

/// Left out unless named in `include_resources`: they describe the past, not the
/// state to restore.
const EXCLUDED_BY_DEFAULT: &[&str] = &["events", "events.events.k8s.io"];

/// One resource type and where to read it.
#[derive(Clone, Debug)]
pub struct TypeScope {
    pub rtype: ResourceType,
    /// `None`: across all namespaces (or cluster-scoped); `Some(ns)`: one namespace.
    pub namespaces: Vec<Option<String>>,
    pub label_selector: Option<String>,
}

/// The resolved selection.
#[derive(Debug)]
pub struct Selection {
    pub types: Vec<TypeScope>,
    /// Whether cluster-scoped resources are taken.
    pub cluster_resources: bool,
    namespaces: NamespaceFilter,
    /// Group versions the cluster could not describe: left out, with a warning.
    pub unavailable: Vec<UnavailableGroup>,
    /// Groups served by CRDs.
    custom_groups: BTreeSet<String>,
}

impl Selection {
    pub async fn resolve(
        conn: &ClusterConn,
        filters: &Filters,
        cluster_resources: ClusterResources,
    ) -> Result<Selection, ActionError> {
        let namespaces = NamespaceFilter::new(&filters.namespaces, &filters.exclude_namespaces);
        let resources = ResourceFilter::new(&filters.include_resources, &filters.exclude_resources);
        let defaults = ResourceFilter::new(&[], &strings(EXCLUDED_BY_DEFAULT));
        let take_cluster = match cluster_resources {
            ClusterResources::Include => true,
            ClusterResources::Exclude => false,
            ClusterResources::Auto => namespaces.selects_all(),
        };
        let served = discovery::served(conn, true).await?;
        let selected_namespaces: Option<Vec<Option<String>>> = if namespaces.selects_all() {
            None
        } else {
            let names = list_names(conn, &served, "", "Namespace").await?;
            Some(
                names
                    .into_iter()
                    .filter(|n| namespaces.matches(n))
                    .map(Some)
                    .collect(),
            )
        };
        let custom_groups: BTreeSet<String> = list_all(
            conn,
            &served,
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
        )
        .await?
        .iter()
        .filter_map(|crd| crd.pointer("/spec/group").and_then(Value::as_str))
        .map(str::to_string)
        .collect();
        let mut types = Vec::new();
        for s in served.iter() {
            let rt = &s.rtype;
            if !s.listable || !resources.matches(rt) {
                continue;
            }
            if !defaults.matches(rt) && !resources.includes_explicitly(rt) {
                continue;
            }
            let is_namespace = rt.group.is_empty() && rt.kind == "Namespace";
            let scope = if rt.namespaced {
                match &selected_namespaces {
                    None => Some(vec![None]),
                    Some(list) if list.is_empty() => None,
                    Some(list) if list.len() > PER_NAMESPACE_LISTS => Some(vec![None]),
                    Some(list) => Some(list.clone()),
                }
            } else if take_cluster || is_namespace || rt.is_crd() {
                Some(vec![None])
            } else {
                None
            };
            let Some(namespaces_to_read) = scope else {
                continue;
            };
            // The Namespace objects of explicitly selected namespaces come whatever
            // their labels: they hold what is restored into them.
            let label_selector = if is_namespace && selected_namespaces.is_some() {
                None
            } else {
                filters.label_selector.clone()
            };
            types.push(TypeScope {
                rtype: rt.clone(),
                namespaces: namespaces_to_read,
                label_selector,
            });
        }
        Ok(Selection {
            types,
            cluster_resources: take_cluster,
            namespaces,
            unavailable: served
                .unavailable
                .iter()
                .map(|u| UnavailableGroup {
                    group_version: u.group_version.clone(),
                    message: u.message.clone(),
                })
                .collect(),
            custom_groups,
        })
    }

    /// Whether an object listed for `rtype` belongs in the backup (a list across all
    /// namespaces also returns the namespaces that are not selected).
    pub fn keeps(&self, rtype: &ResourceType, object: &Value) -> bool {
        let field = if rtype.namespaced {
            "/metadata/namespace"
        } else if rtype.group.is_empty() && rtype.kind == "Namespace" {
            "/metadata/name"
        } else {
            return true;
        };
        let namespace = object.pointer(field).and_then(Value::as_str).unwrap_or("");
        self.namespaces.matches(namespace)
    }

    /// Whether `group` is served by a CRD.
    pub fn is_custom(&self, group: &str) -> bool {
        self.custom_groups.contains(group)
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Every object of a kind (all pages), or none when the cluster does not serve it.
async fn list_all(
    conn: &ClusterConn,
    served: &[ServedType],
    group: &str,
    kind: &str,
) -> Result<Vec<Value>, ActionError> {
    match served
        .iter()
        .find(|s| s.rtype.group == group && s.rtype.kind == kind)
    {
        Some(s) => Ok(objects::list_all(conn, &s.rtype, None, None).await?),
        None => Ok(Vec::new()),
    }
}

async fn list_names(
    conn: &ClusterConn,
    served: &[ServedType],
    group: &str,
    kind: &str,
) -> Result<Vec<String>, ActionError> {
    Ok(list_all(conn, served, group, kind)
        .await?
        .iter()
        .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect())
}
