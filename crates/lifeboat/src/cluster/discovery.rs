//! Which resource types a cluster serves: each in its most stable version, with its
//! scope and whether it can be listed. Backup walks these; restore maps a backed-up
//! type to what the target cluster serves.

use std::sync::Arc;

use futures_util::{StreamExt, stream};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList;
use kube::core::Version;
use kube::discovery::verbs;

use super::{ClusterConn, KubeError};

pub use kube_resources::ResourceType;

/// A resource type the cluster serves and what can be done with it.
#[derive(Clone, Debug)]
pub struct ServedType {
    pub rtype: ResourceType,
    pub listable: bool,
    pub creatable: bool,
}

/// What discovery found: the types served, and the group versions that did not
/// answer.
#[derive(Clone, Debug, Default)]
pub struct Discovered {
    /// Every resource type, each kind in its most stable version, sorted by group then
    /// resource.
    pub types: Vec<ServedType>,
    /// Group versions whose discovery failed (an aggregated API whose backend is down,
    /// such as metrics-server's `metrics.k8s.io/v1beta1`): left out, never fatal.
    pub unavailable: Vec<UnavailableGroup>,
}

/// A group version the API server lists but could not describe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnavailableGroup {
    /// `metrics.k8s.io/v1beta1`.
    pub group_version: String,
    /// What the API server answered.
    pub message: String,
}

impl std::ops::Deref for Discovered {
    type Target = [ServedType];
    fn deref(&self) -> &[ServedType] {
        &self.types
    }
}

/// Group versions described at once.
const DISCOVERY_CONCURRENCY: usize = 8;

/// Every resource type the cluster serves, each kind in its most stable version. A
/// group version that answers with an error (an aggregated API whose backend is down)
/// is recorded in `unavailable` and left out; only a cluster that cannot list its
/// groups at all fails discovery.
pub async fn discover(conn: &ClusterConn) -> Result<Discovered, KubeError> {
    let fail = |e| KubeError::from_kube("discover the resource types of", conn.describe(), e);
    let client = &conn.client;
    let core = client.list_core_api_versions().await.map_err(fail)?;
    let groups = client.list_api_groups().await.map_err(fail)?;
    let mut wanted: Vec<(String, String, String)> = core
        .versions
        .iter()
        .map(|v| (String::new(), v.clone(), v.clone()))
        .collect();
    for g in &groups.groups {
        for v in &g.versions {
            wanted.push((g.name.clone(), v.version.clone(), v.group_version.clone()));
        }
    }
    let answers: Vec<_> = stream::iter(wanted.into_iter().map(|(group, version, gv)| async move {
        let listed = if group.is_empty() {
            client.list_core_api_resources(&version).await
        } else {
            client.list_api_group_resources(&gv).await
        };
        (group, version, gv, listed)
    }))
    .buffer_unordered(DISCOVERY_CONCURRENCY)
    .collect()
    .await;
    let mut found = Discovered::default();
    let mut all = Vec::new();
    for (group, version, gv, listed) in answers {
        match listed {
            Ok(list) => all.extend(served_types(&group, &version, &list)),
            // An API server that answered about this group version: only it is out.
            Err(kube::Error::Api(status)) => found.unavailable.push(UnavailableGroup {
                group_version: gv,
                message: format!(
                    "{} ({}, HTTP {})",
                    status.message, status.reason, status.code
                ),
            }),
            Err(e) => return Err(fail(e)),
        }
    }
    found
        .unavailable
        .sort_by(|a, b| a.group_version.cmp(&b.group_version));
    found.types = most_stable(all);
    Ok(found)
}

/// The resource types of one group version's list (subresources left out).
fn served_types(group: &str, version: &str, list: &APIResourceList) -> Vec<ServedType> {
    list.resources
        .iter()
        .filter(|r| !r.name.contains('/'))
        .map(|r| {
            let can = |verb: &str| r.verbs.iter().any(|v| v == verb);
            ServedType {
                rtype: ResourceType {
                    group: group.to_string(),
                    version: version.to_string(),
                    resource: r.name.clone(),
                    kind: r.kind.clone(),
                    namespaced: r.namespaced,
                },
                listable: can(verbs::LIST),
                creatable: can(verbs::CREATE),
            }
        })
        .collect()
}

/// Each (group, kind) once, in its most stable version (`v1` before `v1beta1`
/// before `v1alpha1`), sorted by group then resource.
fn most_stable(mut all: Vec<ServedType>) -> Vec<ServedType> {
    all.sort_by(|a, b| {
        (&a.rtype.group, &a.rtype.kind)
            .cmp(&(&b.rtype.group, &b.rtype.kind))
            .then_with(|| {
                Version::parse(&b.rtype.version)
                    .priority()
                    .cmp(&Version::parse(&a.rtype.version).priority())
            })
    });
    all.dedup_by(|later, first| {
        later.rtype.group == first.rtype.group && later.rtype.kind == first.rtype.kind
    });
    all.sort_by(|a, b| a.rtype.cmp(&b.rtype));
    all
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
pub async fn served(conn: &ClusterConn, refresh: bool) -> Result<Arc<Discovered>, KubeError> {
    let mut cache = conn.served.lock().await;
    if !refresh && let Some(s) = cache.as_ref() {
        return Ok(s.clone());
    }
    let fresh = Arc::new(discover(conn).await?);
    for u in &fresh.unavailable {
        tracing::debug!(
            group_version = %u.group_version,
            "{} does not describe {}: {}; its resources are left out",
            conn.describe(),
            u.group_version,
            u.message
        );
    }
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
    served
        .iter()
        .map(|s| &s.rtype)
        .filter(|t| {
            t.answers_to(kind) && api_version.is_none_or(|v| t.api_version() == v || t.group == v)
        })
        .min_by_key(|t| t.precedence())
        .cloned()
}
