//! Taking a backup (SPEC section 4): discover every listable resource type, select by
//! namespace globs, resource names, label selector and scope, read each type in pages
//! of 500 (several types at once), stream the objects into compressed parts in a
//! local spool folder, upload each part as soon as it is complete, and commit the
//! backup by creating its manifest last. Memory stays bounded: one page per type in
//! flight, parts never held in memory.

mod select;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};
use serde_json::Value;

use crate::context::ActionError;

use crate::archive::crypt::Recipients;
use crate::archive::manifest::{CODEC_ZSTD, FORMAT_VERSION, Filters, Source};
use crate::archive::part::{PartFile, PartWriter};
use crate::archive::{ArchiveError, Manifest, PartManifest, catalog, layout};
use crate::cluster::objects::{self, Page};
use crate::cluster::{ClusterConn, KubeError, ResourceType};
use crate::progress::group_thousands;
use crate::store::{PutMode, Store};

pub use select::{ClusterResources, PER_NAMESPACE_LISTS, Selection, TypeScope};

/// Objects per list page.
const PAGE: u32 = 500;
/// A part is closed and a new one started past this many stored bytes.
const PART_LIMIT: u64 = 64 * 1024 * 1024;
/// How often one resource type's list restarts after its continue token expired.
const RESTARTS: usize = 3;

/// What to back up, and where.
pub struct BackupRequest<'a> {
    pub conn: &'a ClusterConn,
    pub store: &'a Store,
    pub backup_id: String,
    pub runbook: String,
    pub run_id: String,
    pub step: String,
    /// What to select (`cluster_resources` is set from the resolved selection).
    pub filters: Filters,
    pub cluster_resources: ClusterResources,
    /// Resource types read at once.
    pub parallelism: usize,
    /// Encrypt parts to these age recipients.
    pub recipients: Option<Recipients>,
    /// Told the objects and bytes written, and the resource type being read (with its
    /// estimated size when the API server gives one).
    pub progress: Arc<crate::progress::Meter>,
    /// Resource types finished by an earlier attempt of this backup (from its
    /// checkpoints): they are not read again.
    pub done: Vec<TypeDone>,
    /// Told each resource type as soon as its parts are uploaded (a checkpoint).
    pub on_type_done: Arc<dyn Fn(&TypeDone) + Send + Sync>,
}

/// One resource type backed up: its parts, uploaded.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TypeDone {
    pub backup_id: String,
    pub rtype: ResourceType,
    pub parts: Vec<PartManifest>,
    /// When its reading began (RFC 3339): what a resumed backup's age counts from.
    /// Absent in checkpoints written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<String>,
}

/// What a backup wrote (or, in dry-run, would write).
#[derive(Clone, Debug)]
pub struct BackupSummary {
    pub backup_id: String,
    pub objects: u64,
    pub bytes: u64,
    /// Objects per kind.
    pub kinds: BTreeMap<String, u64>,
    /// Group versions left out because the cluster could not describe them.
    pub unavailable: Vec<crate::archive::manifest::UnavailableGroup>,
}

impl BackupSummary {
    fn of(manifest: &Manifest) -> BackupSummary {
        let mut kinds = BTreeMap::new();
        for p in &manifest.parts {
            *kinds.entry(p.kind.clone()).or_insert(0) += p.objects;
        }
        BackupSummary {
            backup_id: manifest.backup_id.clone(),
            objects: manifest.objects,
            bytes: manifest.bytes,
            kinds,
            unavailable: manifest.unavailable_groups.clone(),
        }
    }
}

/// Takes the backup. Re-running with the same id after a crash overwrites the
/// backup's own parts; a backup already committed by the same run is returned as is;
/// one committed by another run is never touched.
pub async fn run(req: BackupRequest<'_>) -> Result<BackupSummary, ActionError> {
    if !layout::valid_id(&req.backup_id) {
        return Err(ActionError::Failed(format!(
            "`{}` cannot name a backup: use letters, digits, `-`, `_` and `.`",
            req.backup_id
        )));
    }
    match catalog::read(req.store, &req.backup_id).await {
        Ok(existing) if existing.run_id == req.run_id => return Ok(BackupSummary::of(&existing)),
        Ok(_) => {
            return Err(ActionError::Failed(format!(
                "backup {} already exists in {} and was written by another run; it is never overwritten",
                req.backup_id,
                req.store.describe()
            )));
        }
        Err(ArchiveError::NotFound { .. } | ArchiveError::Incomplete { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    // A backup is as old as its oldest object: a resumed one reuses parts read by the
    // attempt before, so it counts from the earliest of those reads (RPO is never
    // understated).
    let reused_since = req
        .done
        .iter()
        .filter(|d| d.backup_id == req.backup_id)
        .filter_map(|d| d.read_at.as_deref().and_then(crate::clock::parse))
        .min();
    let now = crate::clock::now();
    let created = crate::clock::millis(reused_since.map_or(now, |t| t.min(now)));
    let selection = Selection::resolve(req.conn, &req.filters, req.cluster_resources).await?;
    let spool = crate::archive::verify::spool_folder("lifeboat-backup-")?;
    let job = TypeJob {
        req: &req,
        selection: &selection,
        spool: spool.path(),
    };
    // Custom resources first, so the CRDs they need are known when CRDs are read.
    let mut parts: Vec<PartManifest> =
        stream::iter(selection.types.iter().filter(|t| !t.rtype.is_crd()))
            .map(|t| job.back_up(t))
            .buffer_unordered(req.parallelism.max(1))
            .try_concat()
            .await?;
    let groups_used: BTreeSet<String> = parts
        .iter()
        .filter(|p| p.objects > 0 && selection.is_custom(&p.group))
        .map(|p| p.group.clone())
        .collect();
    if let Some(crds) = selection.types.iter().find(|t| t.rtype.is_crd()) {
        parts.extend(job.back_up_crds(crds, &groups_used).await?);
    }
    parts.sort_by(|a, b| a.key.cmp(&b.key));
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        backup_id: req.backup_id.clone(),
        created,
        completed: crate::clock::millis(crate::clock::now()),
        source: Source {
            cluster: req.conn.name.clone(),
            context: req.conn.context.clone(),
            server_version: req.conn.server_version().await.unwrap_or_default(),
        },
        runbook: req.runbook.clone(),
        run_id: req.run_id.clone(),
        step: req.step.clone(),
        filters: Filters {
            cluster_resources: selection.cluster_resources,
            ..req.filters.clone()
        },
        unavailable_groups: selection.unavailable.clone(),
        objects: parts.iter().map(|p| p.objects).sum(),
        bytes: parts.iter().map(|p| p.bytes).sum(),
        parts,
    };
    crate::crash::point("manifest-writing");
    req.store
        .put(
            &layout::manifest_key(&req.backup_id),
            manifest.to_json(),
            PutMode::CreateNew,
        )
        .await?;
    Ok(BackupSummary::of(&manifest))
}

/// Reads resource types into parts.
struct TypeJob<'a> {
    req: &'a BackupRequest<'a>,
    selection: &'a Selection,
    spool: &'a Path,
}

impl TypeJob<'_> {
    /// Backs up one resource type, restarting it when its continue token expires.
    async fn back_up(&self, t: &TypeScope) -> Result<Vec<PartManifest>, ActionError> {
        if let Some(done) = self
            .req
            .done
            .iter()
            .find(|d| d.rtype == t.rtype && d.backup_id == self.req.backup_id)
        {
            return Ok(done.parts.clone());
        }
        let mut attempt = 0;
        loop {
            let read_at = crate::clock::millis(crate::clock::now());
            match self.read_type(t, &|_| true).await {
                Err(ActionError::Kube(KubeError::Api { code: 410, .. })) if attempt < RESTARTS => {
                    attempt += 1;
                }
                Ok(parts) => {
                    (self.req.on_type_done)(&TypeDone {
                        backup_id: self.req.backup_id.clone(),
                        rtype: t.rtype.clone(),
                        parts: parts.clone(),
                        read_at: Some(read_at),
                    });
                    return Ok(parts);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// CRDs: all of them when cluster resources are taken, otherwise those of the
    /// custom resources backed up.
    async fn back_up_crds(
        &self,
        t: &TypeScope,
        groups_used: &BTreeSet<String>,
    ) -> Result<Vec<PartManifest>, ActionError> {
        let all = self.selection.cluster_resources;
        let keep = |crd: &Value| {
            all || crd
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .is_some_and(|g| groups_used.contains(g))
        };
        self.read_type(t, &keep).await
    }

    async fn read_type(
        &self,
        t: &TypeScope,
        keep: &(dyn Fn(&Value) -> bool + Sync),
    ) -> Result<Vec<PartManifest>, ActionError> {
        let rtype = &t.rtype;
        let mut out = Vec::new();
        let mut writer: Option<(usize, PartWriter)> = None;
        let mut index = 0usize;
        // Read so far of this type, and its size once a first page tells it (of the
        // namespaces read so far, when they are listed one by one).
        let mut read = 0u64;
        let mut size: Option<u64> = None;
        for namespace in &t.namespaces {
            let mut token = None;
            loop {
                let first = token.is_none();
                let Page {
                    items,
                    continue_token,
                    remaining,
                } = objects::list_page(
                    self.req.conn,
                    rtype,
                    namespace.as_deref(),
                    t.label_selector.as_deref(),
                    PAGE,
                    token,
                )
                .await?;
                read += items.len() as u64;
                if first {
                    size = match (remaining, &continue_token) {
                        (Some(r), _) => Some(read + r),
                        (None, None) => Some(read),
                        // More pages and no estimate (a label selector): a counter.
                        (None, Some(_)) => None,
                    };
                }
                self.req.progress.label(match size {
                    Some(size) => format!(
                        "{} {}/{}",
                        rtype.resource,
                        group_thousands(read),
                        group_thousands(size.max(read))
                    ),
                    None => rtype.resource.clone(),
                });
                let items: Vec<Value> = items
                    .into_iter()
                    .filter(|o| keep(o) && self.selection.keeps(rtype, o))
                    .collect();
                if !items.is_empty() {
                    let (i, w) = match writer.take() {
                        Some(open) => open,
                        None => {
                            let path = self.spool.join(spool_name(rtype, index));
                            let w = PartWriter::create(&path, self.req.recipients.as_ref())
                                .map_err(|source| ActionError::Io {
                                    op: "create",
                                    path,
                                    source,
                                })?;
                            index += 1;
                            (index - 1, w)
                        }
                    };
                    let before = w.stored_bytes();
                    let n = items.len() as u64;
                    let w = write_page(w, items).await?;
                    self.req.progress.add(n, w.stored_bytes() - before);
                    if w.stored_bytes() >= PART_LIMIT {
                        out.push(self.commit_part(rtype, i, w).await?);
                    } else {
                        writer = Some((i, w));
                    }
                }
                token = continue_token;
                if token.is_none() {
                    break;
                }
            }
        }
        if let Some((i, w)) = writer {
            out.push(self.commit_part(rtype, i, w).await?);
        }
        Ok(out)
    }

    /// Finishes a part file and uploads it.
    async fn commit_part(
        &self,
        rtype: &ResourceType,
        index: usize,
        writer: PartWriter,
    ) -> Result<PartManifest, ActionError> {
        let part: PartFile = tokio::task::spawn_blocking(move || writer.finish())
            .await
            .map_err(|e| ActionError::Failed(format!("writing a part stopped: {e}")))?
            .map_err(|source| ActionError::Io {
                op: "finish a part in",
                path: self.spool.to_path_buf(),
                source,
            })?;
        let encrypted = self.req.recipients.is_some();
        let key = layout::part_relative_key(rtype, index, encrypted);
        self.req
            .store
            .put_file(
                &layout::part_key(&self.req.backup_id, &key),
                &part.path,
                PutMode::Overwrite,
            )
            .await?;
        crate::crash::point("part-uploaded");
        let _ = std::fs::remove_file(&part.path);
        Ok(PartManifest {
            key,
            group: rtype.group.clone(),
            version: rtype.version.clone(),
            resource: rtype.resource.clone(),
            kind: rtype.kind.clone(),
            namespaced: rtype.namespaced,
            objects: part.objects,
            bytes: part.bytes,
            sha256: part.sha256,
            codec: CODEC_ZSTD.to_string(),
            encryption: encrypted.then(|| "age".to_string()),
        })
    }
}

async fn write_page(mut w: PartWriter, items: Vec<Value>) -> Result<PartWriter, ActionError> {
    tokio::task::spawn_blocking(move || {
        for item in &items {
            w.write_object(item)?;
        }
        Ok::<_, std::io::Error>(w)
    })
    .await
    .map_err(|e| ActionError::Failed(format!("writing a part stopped: {e}")))?
    .map_err(|source| ActionError::Io {
        op: "write a part to",
        path: std::env::temp_dir(),
        source,
    })
}

fn spool_name(rtype: &ResourceType, index: usize) -> String {
    format!(
        "{}_{}_{}_{index}",
        if rtype.group.is_empty() {
            "core"
        } else {
            &rtype.group
        },
        rtype.version,
        rtype.resource
    )
}
