//! A backup against a cluster's live state: the backup's parts downloaded and checked,
//! then, one resource type at a time, its objects compared with those the cluster
//! serves in the backup's scope (its namespaces, label selector, resource filters and
//! cluster-scoped choice, resolved as the backup resolved them). Objects only the
//! cluster has are added, only the backup has removed, in both and different changed,
//! with field paths; values are never shown and Secrets compare by hash
//! (`archive::diff`'s rules). Memory holds one resource type of each side at a time.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::archive::Manifest;
use crate::archive::crypt::Identities;
use crate::archive::diff::{
    BackupDiff, comparable, compare_type, object_name, parts_by_type, read_type,
};
use crate::archive::verify::download_verified;
use crate::backup::{ClusterResources, Selection, TypeScope};
use crate::cluster::{ClusterConn, objects};
use crate::context::ActionError;
use crate::store::Store;

/// The qualified name of CRDs.
const CRDS: &str = "customresourcedefinitions.apiextensions.k8s.io";
/// Parts downloaded and checked at once.
const DOWNLOADS: usize = 4;
/// Objects per list request.
const PAGE: u32 = 500;

/// Compares backup `manifest` (in `store`) with what `conn` serves now; `cluster` names
/// the cluster in the result (`to`).
pub async fn diff_live(
    store: &Store,
    manifest: &Manifest,
    conn: &ClusterConn,
    cluster: &str,
    identities: Option<&Identities>,
) -> Result<BackupDiff, ActionError> {
    let backup = download_verified(store, manifest, DOWNLOADS, identities).await?;
    let take_cluster = if manifest.filters.cluster_resources {
        ClusterResources::Include
    } else {
        ClusterResources::Exclude
    };
    let selection = Selection::resolve(conn, &manifest.filters, take_cluster).await?;
    let stored = parts_by_type(&backup);
    let served: BTreeMap<String, &TypeScope> = selection
        .types
        .iter()
        .map(|t| (t.rtype.qualified(), t))
        .collect();
    let resources: BTreeSet<&String> = stored.keys().chain(served.keys()).collect();
    // CRDs last: without cluster resources a backup holds only the CRDs of the custom
    // resources it holds, and the live side is held to the same rule.
    let (crds, others): (Vec<&String>, Vec<&String>) =
        resources.into_iter().partition(|r| r.as_str() == CRDS);
    let mut groups_used: BTreeSet<String> = backup
        .manifest
        .parts
        .iter()
        .filter(|p| selection.is_custom(&p.group))
        .map(|p| p.group.clone())
        .collect();
    let mut kinds = Vec::new();
    let mut unchanged = 0;
    for resource in others.into_iter().chain(crds) {
        let before = read_type(&backup, stored.get(resource), identities)?;
        let after = match served.get(resource) {
            Some(t) if resource.as_str() == CRDS && !selection.cluster_resources => {
                let mut all = live_objects(conn, &selection, t).await?;
                all.retain(|_, crd| {
                    crd.pointer("/spec/group")
                        .and_then(Value::as_str)
                        .is_some_and(|g| groups_used.contains(g))
                });
                all
            }
            Some(t) => live_objects(conn, &selection, t).await?,
            None => BTreeMap::new(),
        };
        if let Some(t) = served.get(resource)
            && !after.is_empty()
            && selection.is_custom(&t.rtype.group)
        {
            groups_used.insert(t.rtype.group.clone());
        }
        kinds.extend(compare_type(resource, &before, &after, &mut unchanged));
    }
    Ok(BackupDiff {
        from: manifest.backup_id.clone(),
        to: format!("cluster {cluster}"),
        kinds,
        unchanged,
    })
}

/// The objects of one type in the backup's scope, by `namespace/name`, comparable.
async fn live_objects(
    conn: &ClusterConn,
    selection: &Selection,
    t: &TypeScope,
) -> Result<BTreeMap<String, Value>, ActionError> {
    let mut out = BTreeMap::new();
    for namespace in &t.namespaces {
        let mut token = None;
        loop {
            let page = objects::list_page(
                conn,
                &t.rtype,
                namespace.as_deref(),
                t.label_selector.as_deref(),
                PAGE,
                token,
            )
            .await?;
            for object in page.items {
                if selection.keeps(&t.rtype, &object) {
                    out.insert(object_name(&object), comparable(object));
                }
            }
            token = page.continue_token;
            if token.is_none() {
                break;
            }
        }
    }
    Ok(out)
}
