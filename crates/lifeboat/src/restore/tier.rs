//! Restoring one tier. `Restore` holds what every tier of a restore shares: the request,
//! the verified backup, the filter, the writer, the `fail_fast` stop flag, the Services
//! with selectors and the PVs seen so far, the owners and the objects waiting for them,
//! the groups of the backup's CRDs and the types the target cluster serves. A tier's
//! parts are read in batches; each batch is filtered and prepared (`Filter::prepare`),
//! its skips reported, objects waiting for owners of a later tier held back, and the
//! rest written in parallel (bounded); the admission tier first waits for its backends
//! (`admission`). After each tier the held objects whose owners now exist are written
//! (`owners`). A tier an earlier attempt finished is only replayed: read for what later
//! tiers need (Services' selectors, PV names, the objects still waiting for owners),
//! nothing written or reported.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::{StreamExt, stream};
use serde_json::Value;

use super::admission::Backends;
use super::owners::{OwnerLinks, Rewritten};
use super::verify::{DriftTally, ObjectDrift, compare as compare_live};
use super::write::{self, Writer};
use super::{
    BATCH, DOWNLOADS, Decision, Filter, Known, Outcome, Prepared, RestoreRequest, RestoreSummary,
    Tally, display_name, name_of, namespace_of, order, rules, scan, summary,
};
use crate::archive::Manifest;
use crate::archive::PartManifest;
use crate::archive::crypt::Identities;
use crate::archive::part::PartReader;
use crate::archive::verify::{self, SpooledBackup};
use crate::cluster::ResourceType;
use crate::cluster::discovery::{self, ServedType};
use crate::context::ActionError;

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
    /// Objects held back until the owners they wait for are restored.
    held: Vec<Prepared>,
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
            held: Vec::new(),
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
    /// Services' selectors, the PVs' names, and the objects that wait for owners no
    /// checkpoint knows yet (the others were written before the checkpoint that knew
    /// their owners). Nothing is written, and its skips are not reported again.
    pub async fn replay_tier(&mut self, parts: &[usize]) -> Result<(), ActionError> {
        for &i in parts {
            let mut part = self.open_part(i)?;
            while let Some(batch) = self.read_batch(&mut part.batches).await? {
                let (prepared, _skipped) = self.prepare_batch(batch, &part);
                self.index_services(&prepared);
                for p in prepared {
                    match &p.waiting {
                        Some(Rewritten::Waiting { waiting, .. })
                            if !self.owners.all_known(waiting) =>
                        {
                            self.held.push(p);
                        }
                        _ => self.remember(&p),
                    }
                }
            }
        }
        Ok(())
    }

    /// Owners an earlier attempt found (from its checkpoint).
    pub fn load_owners(&self, known: &std::collections::BTreeMap<String, String>) {
        for (source, target) in known {
            self.owners.found(source, target);
        }
    }

    /// The owners found so far, for a checkpoint.
    pub fn known_owners(&self) -> std::collections::BTreeMap<String, String> {
        self.owners.known()
    }

    /// Writes the held objects whose owners are all in the target now (with `last`,
    /// all of them, with the references known by then), in `tier`'s tally.
    pub async fn write_held(&mut self, tier: usize, tally: &mut Tally, last: bool) {
        let mut ready = Vec::new();
        for mut p in std::mem::take(&mut self.held) {
            let refs = match &p.waiting {
                Some(Rewritten::Waiting { refs, waiting }) => {
                    self.owners.resolve(refs, waiting, last)
                }
                _ => Some(Vec::new()),
            };
            match refs {
                Some(refs) => {
                    if !refs.is_empty()
                        && let Some(meta) =
                            p.object.get_mut("metadata").and_then(Value::as_object_mut)
                    {
                        meta.insert("ownerReferences".into(), Value::Array(refs));
                    }
                    p.waiting = None;
                    ready.push(p);
                }
                None => self.held.push(p),
            }
        }
        if ready.is_empty() {
            return;
        }
        let mut restored = TierRestored::default();
        let written = self.write_batch(ready).await;
        self.record_written(tier, written, &mut restored);
        super::merge(tally, restored.tally);
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

    /// Reads back every object of `tier` that the restore writes and compares it with
    /// the cluster's (`verify`); objects the restore skips by rule are not read. Each
    /// drift is told to the request as it is found.
    pub async fn verify_tier(&mut self, parts: &[usize]) -> Result<DriftTally, ActionError> {
        let mut tally = DriftTally::default();
        for &i in parts {
            let mut part = self.open_part(i)?;
            while let Some(batch) = part.batches.next().await? {
                let read = batch.len() as u64;
                let (prepared, skipped) = self.prepare_batch(batch, &part);
                self.index_services(&prepared);
                // An object a transform could not change was never written.
                for (kind, name, outcome) in &skipped {
                    if matches!(outcome, Outcome::Failed(_)) {
                        self.drift(&mut tally, compare_live(kind, name, &Value::Null, None));
                    }
                }
                let conn = self.req.conn;
                let results: Vec<Option<ObjectDrift>> =
                    stream::iter(prepared.iter().map(|p| async move {
                        let namespace = match namespace_of(&p.object) {
                            "" => None,
                            ns => Some(ns),
                        };
                        let live = crate::cluster::objects::get(
                            conn,
                            &p.rtype,
                            namespace,
                            name_of(&p.object),
                        )
                        .await?;
                        Ok::<_, ActionError>(compare_live(
                            &p.rtype.kind,
                            &display_name(&p.object),
                            &p.object,
                            live.as_ref(),
                        ))
                    }))
                    .buffered(self.req.parallelism.max(1))
                    .collect::<Vec<_>>()
                    .await
                    .into_iter()
                    .collect::<Result<_, _>>()?;
                for d in results {
                    self.drift(&mut tally, d);
                }
                self.req.progress.add(read, 0);
            }
        }
        Ok(tally)
    }

    /// The progress meter of the step this restore runs in.
    pub fn meter(&self) -> &crate::progress::Meter {
        &self.req.progress
    }

    /// The objects the backup holds in `parts` (the manifest's counts).
    pub fn objects_in(&self, parts: &[usize]) -> u64 {
        parts
            .iter()
            .filter_map(|&i| self.backup.manifest.parts.get(i))
            .map(|p| p.objects)
            .sum()
    }

    /// The tiers that have parts, with their parts, in order.
    pub fn tiers(&self) -> Vec<(usize, Vec<usize>)> {
        (0..order::TIERS.len())
            .map(|tier| (tier, self.parts_in(tier)))
            .filter(|(_, parts)| !parts.is_empty())
            .collect()
    }

    fn drift(&self, tally: &mut DriftTally, drift: Option<ObjectDrift>) {
        if let Some(d) = &drift {
            (self.req.on_drift)(d);
        }
        tally.record(drift);
    }

    /// Whether `fail_fast` stopped the restore.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// After the CRD tier: waits until the restored CRDs are Established (not in
    /// dry-run), then refreshes discovery so later tiers find their custom resources.
    pub async fn wait_for_crds(&mut self, crds: &BTreeSet<String>) -> Result<(), ActionError> {
        // A dry run created no CRD: none will become Established.
        if !self.req.conn.dry_run() {
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
        let batches = PartBatches::open(&self.backup.files[i], part, self.req.identities.as_ref())?;
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
                Decision::Fail(kind, name, why) => {
                    skipped.push((kind, name, Outcome::Failed(why)));
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
        // Progress counts the objects read from the backup (its total is the
        // manifest's): those written, skipped, left out by the filters, and held for
        // their owners (written later, not counted again).
        let read = batch.len() as u64;
        let (mut prepared, skipped) = self.prepare_batch(batch, part);
        for (kind, name, outcome) in &skipped {
            self.report(&mut restored.tally, kind, name, outcome, &[]);
        }
        self.index_services(&prepared);
        // A dry run starts no backend for a webhook or an APIService to wait for.
        if tier == order::ADMISSION && !self.req.conn.dry_run() {
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
                            &p.changes,
                        );
                    }
                    None => ready.push(p),
                }
            }
            prepared = ready;
        }
        // Objects waiting for owners of a later tier wait here (a dry run creates no
        // owner, so it checks them now, without those references).
        if !self.req.conn.dry_run() {
            let (later, now): (Vec<Prepared>, Vec<Prepared>) = prepared
                .into_iter()
                .partition(|p| matches!(p.waiting, Some(Rewritten::Waiting { .. })));
            self.held.extend(later);
            prepared = now;
        }
        let written = self.write_batch(prepared).await;
        self.record_written(tier, written, restored);
        self.req.progress.add(read, 0);
        Ok(())
    }

    /// Reports what a batch wrote and remembers what later objects depend on: the
    /// CRDs to wait for, the owners' uids in the target, the PVs.
    fn record_written(
        &mut self,
        tier: usize,
        written: Vec<(Prepared, Outcome, Option<String>)>,
        restored: &mut TierRestored,
    ) {
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
            self.report(
                &mut restored.tally,
                &p.rtype.kind,
                &name,
                &outcome,
                &p.changes,
            );
            if done || matches!(outcome, Outcome::Skipped(_)) {
                self.remember(&p);
            }
        }
    }

    /// Remembers of an object that is in the target what later objects depend on: a
    /// PV's name.
    fn remember(&mut self, p: &Prepared) {
        if p.qualified == "persistentvolumes" {
            self.volumes.insert(name_of(&p.object).to_string());
        }
    }

    /// Tells the request one object's outcome and counts it.
    fn report(
        &self,
        tally: &mut Tally,
        kind: &str,
        name: &str,
        outcome: &Outcome,
        changes: &[String],
    ) {
        (self.req.on_object)(kind, name, outcome, changes);
        tally.record(kind, name, outcome);
    }
}

/// A part's objects, read a batch at a time off the async threads.
pub(super) struct PartBatches {
    /// `None` once the part is read to its end.
    reader: Option<PartReader>,
}

impl PartBatches {
    /// Opens the part `part` of the manifest, stored at `path`.
    pub(super) fn open(
        path: &Path,
        part: &PartManifest,
        ids: Option<&Identities>,
    ) -> Result<PartBatches, ActionError> {
        let encrypted = part.encryption.is_some();
        let reader = PartReader::open(path, encrypted, ids, part.objects).map_err(|source| {
            ActionError::Io {
                op: "read",
                path: path.to_path_buf(),
                source,
            }
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
        let mut batches = PartBatches::open(&files[i], part, ids)?;
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
