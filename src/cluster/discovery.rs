//! Which resource types a cluster serves: each in its most stable version, with its
//! scope and whether it can be listed. Backup walks these; restore maps a backed-up
//! type to what the target cluster serves.

use std::sync::Arc;

use kube::discovery::{Discovery, Scope, verbs};
use serde::{Deserialize, Serialize};

use super::{ClusterConn, KubeError};

/// A resource type: `deployments` in `apps/v1`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ResourceType {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    /// The plural resource name (`deployments`).
    pub resource: String,
    pub kind: String,
    pub namespaced: bool,
}

impl ResourceType {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `deployments.apps`, or `configmaps` for the core group: how users name it.
    pub fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }

    /// The collection path, in one namespace or across all (or cluster-scoped).
    pub fn collection_path(&self, namespace: Option<&str>) -> String {
        let root = if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        };
        match namespace {
            Some(ns) if self.namespaced => format!("{root}/namespaces/{ns}/{}", self.resource),
            _ => format!("{root}/{}", self.resource),
        }
    }

    pub fn is_crd(&self) -> bool {
        self.group == "apiextensions.k8s.io" && self.resource == "customresourcedefinitions"
    }
}

/// A resource type the cluster serves and what can be done with it.
#[derive(Clone, Debug)]
pub struct ServedType {
    pub rtype: ResourceType,
    pub listable: bool,
    pub creatable: bool,
}

/// Every resource type the cluster serves, in its most stable version, sorted
/// by group then resource.
pub async fn discover(conn: &ClusterConn) -> Result<Vec<ServedType>, KubeError> {
    let discovery = Discovery::new(conn.client.clone())
        .run()
        .await
        .map_err(|e| KubeError::from_kube("discover the resource types of", conn.describe(), e))?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.resources_by_stability() {
            out.push(ServedType {
                rtype: ResourceType {
                    group: ar.group.clone(),
                    version: ar.version.clone(),
                    resource: ar.plural.clone(),
                    kind: ar.kind.clone(),
                    namespaced: caps.scope == Scope::Namespaced,
                },
                listable: caps.supports_operation(verbs::LIST),
                creatable: caps.supports_operation(verbs::CREATE),
            });
        }
    }
    out.sort_by(|a, b| a.rtype.cmp(&b.rtype));
    Ok(out)
}

/// Finds the type serving `kind` in `group` (any version, preferring `version`).
pub fn find<'a>(
    served: &'a [ServedType],
    group: &str,
    version: &str,
    kind: &str,
) -> Option<&'a ServedType> {
    let same = |s: &&ServedType| s.rtype.group == group && s.rtype.kind == kind;
    served
        .iter()
        .filter(same)
        .find(|s| s.rtype.version == version)
        .or_else(|| served.iter().find(same))
}

/// The cluster's resource types, discovered once per connection (or again with
/// `refresh`, after CRDs were created).
pub async fn served(conn: &ClusterConn, refresh: bool) -> Result<Arc<Vec<ServedType>>, KubeError> {
    let mut cache = conn.served.lock().await;
    if !refresh && let Some(s) = cache.as_ref() {
        return Ok(s.clone());
    }
    let fresh = Arc::new(discover(conn).await?);
    *cache = Some(fresh.clone());
    Ok(fresh)
}

/// The resource type a user means by `kind` (a kind such as `Deployment`, or a plural
/// or singular resource name, any case), optionally pinned to `api_version`.
/// Built-in groups win over custom ones when a name is ambiguous.
pub async fn resolve(
    conn: &ClusterConn,
    kind: &str,
    api_version: Option<&str>,
) -> Result<ResourceType, KubeError> {
    let served = served(conn, false).await?;
    if let Some(t) = pick(&served, kind, api_version) {
        return Ok(t);
    }
    // A CRD created since the last discovery.
    let served = self::served(conn, true).await?;
    pick(&served, kind, api_version).ok_or_else(|| KubeError::Api {
        op: "find",
        what: format!("the resource type `{kind}` on {}", conn.describe()),
        code: 404,
        reason: "NotFound".into(),
        message: match api_version {
            Some(v) => format!("the cluster serves no kind or resource `{kind}` in `{v}`"),
            None => format!("the cluster serves no kind or resource `{kind}`; check the spelling, or give `api_version` for a custom resource"),
        },
    })
}

fn pick(served: &[ServedType], kind: &str, api_version: Option<&str>) -> Option<ResourceType> {
    let wanted = kind.to_ascii_lowercase();
    let matches = |s: &&ServedType| {
        let t = &s.rtype;
        let named = t.kind.to_ascii_lowercase() == wanted
            || t.resource == wanted
            || t.resource.strip_suffix('s') == Some(wanted.as_str())
            || t.qualified() == wanted;
        named && api_version.is_none_or(|v| t.api_version() == v || t.group == v)
    };
    let mut found: Vec<&ServedType> = served.iter().filter(matches).collect();
    found.sort_by_key(|s| (!is_builtin_group(&s.rtype.group), s.rtype.group.clone()));
    found.first().map(|s| s.rtype.clone())
}

/// Groups served by the API server itself rather than by CRDs.
fn is_builtin_group(group: &str) -> bool {
    group.is_empty()
        || !group.contains('.')
        || group.ends_with(".k8s.io") && !group.starts_with("snapshot.")
}
