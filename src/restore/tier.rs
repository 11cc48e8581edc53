//! Restoring one tier. `Restore` holds what every tier of a restore shares: the request,
//! the verified backup, the filter, the writer, the `fail_fast` stop flag, the Services
//! with selectors and the PVs seen so far, the owners and the objects waiting for them,
//! the groups of the backup's CRDs and the types the target cluster serves. A tier's
//! parts are read in batches; each batch is filtered and prepared (`Filter::prepare`),
//! its skips reported, and the rest written in parallel (bounded); the admission tier
//! first waits for its backends (`admission`). After each tier the objects whose owners
//! now exist get their owner references (`owners`). A tier an earlier attempt finished
//! is only replayed: read for what later tiers need (Services' selectors, PV names,
//! owners' uids in the target, objects waiting for owners), nothing written or
//! reported.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::{StreamExt, stream};
use serde_json::Value;

use super::admission::Backends;
use super::owners::{OwnerLinks, Pending, Rewritten};
use super::write::{self, Writer};
use super::{
    BATCH, DOWNLOADS, Decision, Filter, Known, Outcome, Prepared, RestoreRequest, RestoreSummary,
    Tally, display_name, name_of, namespace_of, order, rules, scan, summary,
};
use crate::actions::ActionError;
use crate::archive::Manifest;
use crate::archive::crypt::Identities;
use crate::archive::part::PartReader;
use crate::archive::verify::{self, SpooledBackup};
use crate::cluster::ResourceType;
use crate::cluster::discovery::{self, ServedType};

/// Index of the CRD tier in `order::TIERS`.
pub const CRD_TIER: usize = 0;

/// One object's outcome: kind, `namespace/name`, outcome.
type Reported = (String, String, Outcome);

/// What every tier of one restore shares.
pub struct Restore<'r, 'a> {
    req: &'r RestoreRequest<'a>,
    /// The manifest and the local, verified copies of its parts.
    backup: SpooledBackup,
    filter: Filter,
    writer: Writer<'a>,
    /// Set when a write fails under `fail_fast`: nothing more is written.
    stop: AtomicBool,
    /// (target namespace, name) of the Services with a selector: their Endpoints are
    /// recreated by the controller, so they are skipped.
    services_with_selectors: HashSet<(String, String)>,
    /// Groups of the CRDs in the backup: their custom resources go in the last tier.
    custom_groups: BTreeSet<String>,
    /// The types the target cluster serves (refreshed after the CRD tier).
    served: Arc<discovery::Discovered>,
    /// Names of the PVs written or found in the target: claims keep their binding to
    /// these, and only these.
    volumes: HashSet<String>,
    owners: OwnerLinks,
    /// Restored objects waiting for owners restored after them.
    pending: Vec<(Pending, Outcome)>,
    /// The backends of the admission tier.
    backends: Backends,
}

/// What one tier restored.
#[derive(Default)]
pub struct TierRestored {
    pub tally: Tally,
    /// CRDs the CRD tier created, updated or found unchanged: the restore waits until
    /// they are Established.
    pub crds: BTreeSet<String>,
}

/// A part being read.
struct OpenPart {
    /// The type of its objects in the source cluster.
    source: ResourceType,
    /// The type the target cluster serves for them, when it does.
    target: Option<ServedType>,
    batches: PartBatches,
}

impl<'r, 'a> Restore<'r, 'a> {
    /// Downloads and checks every part of `manifest` (nothing is written when one is
    /// tampered or truncated), then reads what the tiers need before the first write:
    /// the groups of the backup's CRDs and the types the cluster serves.
    pub async fn verified(
        req: &'r RestoreRequest<'a>,
        manifest: &Manifest,
        filter: Filter,
    ) -> Result<Restore<'r, 'a>, ActionError> {
        let ids = req.identities.as_ref();
        let backup = verify::download_verified(req.store, manifest, DOWNLOADS, ids).await?;
        let custom_groups = crd_groups(&backup.manifest, &backup.files, ids).await?;
        let owners = OwnerLinks::new(scan::restored_owners(&backup, &filter, ids).await?);
        let served = discovery::served(req.conn, false).await?;
        Ok(Restore {
            req,
            backup,
            filter,
            writer: Writer::new(req),
            stop: AtomicBool::new(false),
            services_with_selectors: HashSet::new(),
            custom_groups,
            served,
            volumes: HashSet::new(),
            owners,
            pending: Vec::new(),
            backends: Backends::new(req.backend_timeout),
        })
    }

    /// Indexes (in the manifest) of the parts restored in `tier`.
    pub fn parts_in(&self, tier: usize) -> Vec<usize> {
        let parts = &self.backup.manifest.parts;
        let mut chosen: Vec<usize> = (0..parts.len())
            .filter(|&i| {
                let p = &parts[i];
                order::tier_of(&p.resource_type(), self.custom_groups.contains(&p.group)) == tier
            })
            .collect();
        chosen.sort_by_key(|&i| order::rank_in_tier(&parts[i].resource_type()));
        chosen
    }

    /// Reads a tier an earlier attempt finished only for what later tiers need: the
    /// Services' selectors, the PVs' names, where its owners are in the target and which
    /// of its objects wait for owners. Nothing is written, and its skips are not
    /// reported again.
    pub async fn replay_tier(&mut self, parts: &[usize]) -> Result<(), ActionError> {
        for &i in parts {
            let mut part = self.open_part(i)?;
            while let Some(batch) = self.read_batch(&mut part.batches).await? {
                let (prepared, _skipped) = self.prepare_batch(batch, &part);
                self.index_services(&prepared);
                for p in prepared {
                    let owner = p.source_uid.as_deref().filter(|u| self.owners.is_owner(u));
                    if let Some(source_uid) = owner {
                        let ns = p.rtype.namespaced.then(|| namespace_of(&p.object));
                        if let Some(found) = crate::cluster::objects::get(
                            self.req.conn,
                            &p.rtype,
                            ns,
                            name_of(&p.object),
                        )
                        .await?
                            && let Some(uid) =
                                found.pointer("/metadata/uid").and_then(Value::as_str)
                        {
                            self.owners.found(source_uid, uid);
                        }
                    }
                    self.remember(p, &Outcome::Created);
                }
            }
        }
        Ok(())
    }

    /// Adds the owner references that waited for owners now in the target (with
    /// `last`, the ones known by the end of the restore), and counts an object whose
    /// references could not be added as failed.
    pub async fn link_owners(&mut self, tally: &mut Tally, last: bool) {
        let mut still = Vec::new();
        for (pending, was) in std::mem::take(&mut self.pending) {
            let Some(refs) = self.owners.resolve(&pending, last) else {
                if !last {
                    still.push((pending, was));
                }
                continue;
            };
            if let Err(e) = self.writer.link(&pending, refs).await {
                let now = Outcome::Failed(format!(
                    "restored, but its owner references could not be added: {}",
                    e.api_message()
                ));
                let name = match &pending.namespace {
                    Some(ns) => format!("{ns}/{}", pending.name),
                    None => pending.name.clone(),
                };
                (self.req.on_object)(&pending.rtype.kind, &name, &now);
                tally.amend(&pending.rtype.kind, &name, &was, &now);
            }
        }
        self.pending = still;
    }

    /// Restores `tier`, part by part, and tallies it. Once `fail_fast` stopped the
    /// restore, nothing more is read.
    pub async fn restore_tier(
        &mut self,
        tier: usize,
        parts: &[usize],
    ) -> Result<TierRestored, ActionError> {
        let mut restored = TierRestored::default();
        for &i in parts {
            let mut part = self.open_part(i)?;
            while let Some(batch) = self.read_batch(&mut part.batches).await? {
                self.restore_batch(tier, batch, &part, &mut restored)
                    .await?;
            }
        }
        Ok(restored)
    }

    /// Whether `fail_fast` stopped the restore.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// After the CRD tier: waits until the restored CRDs are Established (not in
    /// dry-run), then refreshes discovery so later tiers find their custom resources.
    pub async fn wait_for_crds(&mut self, crds: &BTreeSet<String>) -> Result<(), ActionError> {
        if !self.req.dry_run {
            write::wait_established(self.req.conn, &self.served, crds).await?;
        }
        self.served = discovery::served(self.req.conn, true).await?;
        Ok(())
    }

    /// The summary of the restore, with `tally` and the objects the API server could
    /// not check (dry-run).
    pub fn finish(self, mut tally: Tally, stopped_early: bool) -> RestoreSummary {
        tally.unchecked = self.writer.unchecked.load(Ordering::Relaxed);
        summary(&self.backup.manifest, tally, stopped_early)
    }

    /// Opens part `i` of the manifest.
    fn open_part(&self, i: usize) -> Result<OpenPart, ActionError> {
        let part = &self.backup.manifest.parts[i];
        let target = discovery::find(&self.served, &part.group, &part.version, &part.kind).cloned();
        let batches = PartBatches::open(
            &self.backup.files[i],
            part.encryption.is_some(),
            self.req.identities.as_ref(),
        )?;
        Ok(OpenPart {
            source: part.resource_type(),
            target,
            batches,
        })
    }

    /// The next batch of a part; `None` at its end or once the restore is stopped.
    async fn read_batch(
        &self,
        batches: &mut PartBatches,
    ) -> Result<Option<Vec<Value>>, ActionError> {
        if self.stopped() {
            return Ok(None);
        }
        batches.next().await
    }

    /// Decides each object of a batch read from `part`: the objects to write, prepared,
    /// and the skipped ones with their outcome. Objects the filters do not select are
    /// left out.
    fn prepare_batch(&self, batch: Vec<Value>, part: &OpenPart) -> (Vec<Prepared>, Vec<Reported>) {
        let mut prepared = Vec::with_capacity(batch.len());
        let mut skipped = Vec::new();
        let known = Known {
            services_with_selectors: &self.services_with_selectors,
            volumes: &self.volumes,
            owners: &self.owners,
            keep_status: self.req.restore_status,
            keep: rules::Keep {
                node_ports: self.req.keep_node_ports,
            },
        };
        for object in batch {
            match self
                .filter
                .prepare(object, &part.source, part.target.as_ref(), &known)
            {
                Decision::Leave => {}
                Decision::Skip(kind, name, why) => {
                    skipped.push((kind, name, Outcome::Skipped(why)));
                }
                Decision::Write(p) => prepared.push(*p),
            }
        }
        (prepared, skipped)
    }

    /// Remembers the Services among `prepared` that have a selector, so that their
    /// Endpoints are skipped.
    fn index_services(&mut self, prepared: &[Prepared]) {
        for p in prepared {
            if p.qualified == "services"
                && p.object
                    .pointer("/spec/selector")
                    .is_some_and(|s| s.as_object().is_some_and(|m| !m.is_empty()))
            {
                self.services_with_selectors.insert((
                    namespace_of(&p.object).to_string(),
                    name_of(&p.object).to_string(),
                ));
            }
        }
    }

    /// Writes a batch in parallel (at most `parallelism` at once): each object with
    /// its outcome and, for owners, its uid in the target. Under `fail_fast` a failure
    /// stops the restore: objects not started yet are neither written nor reported.
    async fn write_batch(
        &self,
        prepared: Vec<Prepared>,
    ) -> Vec<(Prepared, Outcome, Option<String>)> {
        stream::iter(prepared.into_iter().map(|p| async move {
            if self.stopped() {
                return None;
            }
            let owner = p
                .source_uid
                .as_deref()
                .is_some_and(|u| self.owners.is_owner(u));
            let (outcome, uid) = self.writer.write(&p, &self.custom_groups, owner).await;
            if matches!(outcome, Outcome::Failed(_)) && self.writer.fail_fast {
                self.stop.store(true, Ordering::Relaxed);
            }
            Some((p, outcome, uid))
        }))
        .buffer_unordered(self.req.parallelism.max(1))
        .filter_map(|r| async move { r })
        .collect()
        .await
    }

    /// Restores one batch read from `part` in `tier`: reports its skips, holds back
    /// the admission objects whose backends are not ready, writes the rest and reports
    /// their outcomes, with progress.
    async fn restore_batch(
        &mut self,
        tier: usize,
        batch: Vec<Value>,
        part: &OpenPart,
        restored: &mut TierRestored,
    ) -> Result<(), ActionError> {
        let (mut prepared, skipped) = self.prepare_batch(batch, part);
        for (kind, name, outcome) in &skipped {
            self.report(&mut restored.tally, kind, name, outcome);
            (self.req.progress)(1, 0);
        }
        self.index_services(&prepared);
        if tier == order::ADMISSION && !self.req.dry_run {
            let mut ready = Vec::with_capacity(prepared.len());
            for p in prepared {
                match self.backends.hold(self.req.conn, &self.served, &p).await? {
                    Some(why) => {
                        let name = display_name(&p.object);
                        self.report(
                            &mut restored.tally,
                            &p.rtype.kind,
                            &name,
                            &Outcome::Failed(why),
                        );
                        (self.req.progress)(1, 0);
                    }
                    None => ready.push(p),
                }
            }
            prepared = ready;
        }
        let written = self.write_batch(prepared).await;
        let count = written.len() as u64;
        for (p, outcome, uid) in written {
            let name = display_name(&p.object);
            let done = matches!(
                outcome,
                Outcome::Created | Outcome::Updated | Outcome::Unchanged
            );
            if tier == CRD_TIER && done {
                restored.crds.insert(name.clone());
            }
            if let (Some(source), Some(target)) = (p.source_uid.as_deref(), uid.as_deref())
                && self.owners.is_owner(source)
            {
                self.owners.found(source, target);
            }
            self.report(&mut restored.tally, &p.rtype.kind, &name, &outcome);
            if done || matches!(outcome, Outcome::Skipped(_)) {
                self.remember(p, &outcome);
            }
        }
        (self.req.progress)(count, 0);
        Ok(())
    }

    /// Remembers of an object that is in the target what later objects depend on: a
    /// PV's name, and whether it waits for owners (only objects this restore wrote,
    /// and not in a dry run, which wrote nothing to link).
    fn remember(&mut self, p: Prepared, outcome: &Outcome) {
        if p.qualified == "persistentvolumes" {
            self.volumes.insert(name_of(&p.object).to_string());
        }
        let written = matches!(
            outcome,
            Outcome::Created | Outcome::Updated | Outcome::Unchanged
        );
        if let Some(Rewritten::Waiting { refs, waiting }) = p.waiting
            && written
            && !self.req.dry_run
        {
            let namespace = p
                .rtype
                .namespaced
                .then(|| namespace_of(&p.object).to_string());
            let name = name_of(&p.object).to_string();
            self.pending.push((
                Pending {
                    rtype: p.rtype,
                    namespace,
                    name,
                    refs,
                    waiting,
                },
                outcome.clone(),
            ));
        }
    }

    /// Tells the request one object's outcome and counts it.
    fn report(&self, tally: &mut Tally, kind: &str, name: &str, outcome: &Outcome) {
        (self.req.on_object)(kind, name, outcome);
        tally.record(kind, name, outcome);
    }
}

/// A part's objects, read a batch at a time off the async threads.
pub(super) struct PartBatches {
    /// `None` once the part is read to its end.
    reader: Option<PartReader>,
}

impl PartBatches {
    pub(super) fn open(
        path: &Path,
        encrypted: bool,
        ids: Option<&Identities>,
    ) -> Result<PartBatches, ActionError> {
        let reader = PartReader::open(path, encrypted, ids).map_err(|source| ActionError::Io {
            op: "read",
            path: path.to_path_buf(),
            source,
        })?;
        Ok(PartBatches {
            reader: Some(reader),
        })
    }

    /// The next `BATCH` objects (fewer at the end); `None` once the part is read.
    pub(super) async fn next(&mut self) -> Result<Option<Vec<Value>>, ActionError> {
        let Some(mut reader) = self.reader.take() else {
            return Ok(None);
        };
        let (reader, batch) = tokio::task::spawn_blocking(move || {
            let batch = reader.next_batch(BATCH);
            batch.map(|b| (reader, b))
        })
        .await
        .map_err(|e| ActionError::Failed(format!("reading a part stopped: {e}")))?
        .map_err(|source| ActionError::Io {
            op: "read a part in",
            path: std::env::temp_dir(),
            source,
        })?;
        if batch.is_empty() {
            return Ok(None);
        }
        self.reader = Some(reader);
        Ok(Some(batch))
    }
}

/// Groups of the CRDs in the backup: their custom resources go in the last tier.
async fn crd_groups(
    manifest: &Manifest,
    files: &[PathBuf],
    ids: Option<&Identities>,
) -> Result<BTreeSet<String>, ActionError> {
    let mut groups = BTreeSet::new();
    for (i, part) in manifest.parts.iter().enumerate() {
        if !part.resource_type().is_crd() {
            continue;
        }
        let mut batches = PartBatches::open(&files[i], part.encryption.is_some(), ids)?;
        while let Some(batch) = batches.next().await? {
            groups.extend(
                batch
                    .iter()
                    .filter_map(|c| c.pointer("/spec/group").and_then(Value::as_str))
                    .map(str::to_string),
            );
        }
    }
    Ok(groups)
}
