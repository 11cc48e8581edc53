//! Restoring a backup (SPEC section 5). Integrity first: every part is downloaded and
//! checked against the manifest before the first object is written, so a tampered or
//! truncated backup is refused with nothing applied. Then tier by tier
//! (`order::TIERS`, one tier at a time in `tier`): objects are filtered, left out when
//! a controller recreates them (`rules`), stripped of what the source cluster assigned,
//! moved by the namespace mapping, their owner references dropped or remapped to the
//! owners' new uids (`owners`), a PVC's volume name reset unless its PV is restored
//! too, and written in parallel (bounded) within the tier (`write`), with
//! `fieldValidation=Strict` so a field the target does not know fails the object,
//! naming the field, instead of vanishing. After the CRD tier the restore waits until
//! the CRDs are Established and refreshes discovery; before the admission tier it
//! waits until the workloads behind webhooks and APIServices are ready (`admission`).
//! What happens to an object that already exists is the `existing` policy
//! (`Existing`).
//! Dry-run sends every write with `dryRun=All`.
//!
//! Each tier finished while every tier so far restored without a failure is reported
//! as a checkpoint (`TierDone`). A restore resumed from one does not write the tiers up
//! to it again: it reads them only for the Services' selectors, does not report their
//! skips again, and takes their counts from the checkpoint. Under `fail_fast` the first
//! failure stops the writes, and the restore ends with the tally of that tier.

mod admission;
mod order;
mod outcome;
mod owners;
mod rules;
mod scan;
mod tier;
pub mod transform;
pub mod verify;
mod write;

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::archive::crypt::Identities;
use crate::archive::{Manifest, catalog};
use crate::cluster::discovery::ServedType;
use crate::cluster::filter::{NamespaceFilter, ResourceFilter};
use crate::cluster::{ClusterConn, ResourceType};
use crate::context::ActionError;
use crate::store::Store;
use kube_resources::LabelSelector;
use tier::{CRD_TIER, Restore};
use transform::Transforms;
use verify::{DriftTally, ObjectDrift, VerifyMode};

pub use order::{TIERS, tier_name};
pub use outcome::{Counts, Failure, Outcome, Tally};

/// What to do with an object that already exists.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Existing {
    /// Leave it as it is.
    #[default]
    Skip,
    /// Server-side apply the backed-up version (with force).
    Update,
    /// Count it as a failure.
    Fail,
}

/// Objects read from a part at a time.
const BATCH: usize = 500;
/// Parts downloaded and verified at once.
const DOWNLOADS: usize = 4;

/// Told each object's outcome: kind, `namespace/name`, outcome, and what the
/// transforms changed in it.
pub type ObjectReport = Arc<dyn Fn(&str, &str, &Outcome, &[String]) + Send + Sync>;

/// What to restore, from where, into where.
pub struct RestoreRequest<'a> {
    pub conn: &'a ClusterConn,
    pub store: &'a Store,
    /// A backup id, or `latest` (of `runbook`).
    pub backup: String,
    pub runbook: String,
    pub namespaces: Vec<String>,
    pub exclude_namespaces: Vec<String>,
    pub include_resources: Vec<String>,
    pub exclude_resources: Vec<String>,
    pub label_selector: Option<String>,
    pub namespace_mapping: BTreeMap<String, String>,
    pub existing: Existing,
    pub parallelism: usize,
    pub fail_fast: bool,
    pub restore_status: bool,
    /// Keep Services' node ports (the target allocates new ones otherwise).
    pub keep_node_ports: bool,
    /// Storage class mapping and modifiers.
    pub transforms: Arc<Transforms>,
    /// Read back what was written and compare it with the backup.
    pub verify: VerifyMode,
    /// Told each object found missing or drifted when reading back.
    pub on_drift: Arc<dyn Fn(&ObjectDrift) + Send + Sync>,
    /// How long the admission tier waits for the workloads behind webhooks and
    /// APIServices.
    pub backend_timeout: std::time::Duration,
    /// Decrypt encrypted parts with these.
    pub identities: Option<Identities>,
    /// The store's public key and whether a signature is required.
    pub trust: crate::archive::signature::Trust,
    /// Told the objects gone through, out of the backup's (`restore`, then `verify`),
    /// and the tier.
    pub progress: Arc<crate::progress::Meter>,
    /// Told each object's outcome (kind, `namespace/name`, outcome).
    pub on_object: ObjectReport,
    /// The last tier an earlier attempt of this restore finished (its checkpoint).
    pub done: Option<TierDone>,
    /// Told each tier as it finishes (a checkpoint).
    pub on_tier_done: Arc<dyn Fn(&TierDone) + Send + Sync>,
}

/// A finished tier, with the counts of every tier up to it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TierDone {
    pub backup_id: String,
    pub tier: usize,
    pub tier_name: String,
    pub total: Counts,
    pub kinds: BTreeMap<String, Counts>,
    /// Owners found in the target so far: source uid → target uid.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub owners: BTreeMap<String, String>,
}

/// What a restore did.
#[derive(Clone, Debug)]
pub struct RestoreSummary {
    pub backup_id: String,
    /// When the backup was taken (RFC 3339).
    pub backup_created: String,
    /// How old the backup was when restored.
    pub backup_age: std::time::Duration,
    pub tally: Tally,
    /// Whether `fail_fast` stopped the restore early.
    pub stopped_early: bool,
    /// What reading back found (`verify`), when it was asked for.
    pub drift: Option<DriftTally>,
}

/// One object ready to write.
struct Prepared {
    rtype: ResourceType,
    qualified: String,
    object: Value,
    status: Option<Value>,
    /// Its uid in the source cluster.
    source_uid: Option<String>,
    /// Owner references that wait for owners restored after it.
    waiting: Option<owners::Rewritten>,
    /// What the transforms changed, for people (`spec.replicas: 3 → 1`).
    changes: Vec<String>,
}

/// What deciding an object depends on besides the filters: what the restore wrote so
/// far and how it was asked to write.
struct Known<'k> {
    /// (target namespace, name) of the Services with a selector.
    services_with_selectors: &'k HashSet<(String, String)>,
    /// Names of the PVs the restore writes (or found in the target).
    volumes: &'k HashSet<String>,
    owners: &'k owners::OwnerLinks,
    keep_status: bool,
    keep: rules::Keep,
}

/// Restores a backup: checks every part, then restores tier by tier, after the last
/// tier an earlier attempt of this restore finished (`req.done`).
pub async fn run(req: RestoreRequest<'_>) -> Result<RestoreSummary, ActionError> {
    let filter = Filter::new(&req)?;
    // A signature that is required, or that a public key can check, is checked
    // before anything is written.
    let manifest = catalog::resolve_trusted(req.store, &req.backup, &req.runbook, &req.trust)
        .await?
        .manifest;
    let mut restore = Restore::verified(&req, &manifest, filter).await?;
    let (mut tally, resume_after) = resume_point(req.done.as_ref(), &manifest.backup_id);
    if resume_after.is_some()
        && let Some(done) = &req.done
    {
        restore.load_owners(&done.owners);
    }
    // Tiers are checkpointed while every tier so far restored without a failure.
    let mut clean = true;
    let tiers = restore.tiers();
    let total = tiers
        .iter()
        .map(|(_, parts)| restore.objects_in(parts))
        .sum();
    req.progress.begin("restore", Some(total));
    for (n, (tier, parts)) in tiers.iter().enumerate() {
        let tier = *tier;
        req.progress.label(tier_phase(n, tiers.len(), tier));
        // A finished tier is only read for what later tiers need (Services' selectors).
        if resume_after.is_some_and(|done| tier <= done) {
            restore.replay_tier(parts).await?;
            req.progress.add(restore.objects_in(parts), 0);
            continue;
        }
        let restored = restore.restore_tier(tier, parts).await?;
        let mut tier_tally = restored.tally;
        restore.write_held(tier, &mut tier_tally, false).await;
        clean &= tier_tally.total.failed == 0;
        merge(&mut tally, tier_tally);
        if restore.stopped() {
            return Ok(restore.finish(tally, true));
        }
        if clean {
            let mut done = TierDone::after(&manifest.backup_id, tier, &tally);
            done.owners = restore.known_owners();
            (req.on_tier_done)(&done);
        }
        crate::crash::point("tier-restored");
        if tier == CRD_TIER && !restored.crds.is_empty() {
            restore.wait_for_crds(&restored.crds).await?;
        }
    }
    restore.write_held(TIERS.len() - 1, &mut tally, true).await;
    // A dry run wrote nothing to read back.
    let drift = if req.verify != VerifyMode::Off && !req.conn.dry_run() {
        Some(verify_tiers(&mut restore).await?)
    } else {
        None
    };
    let mut summary = restore.finish(tally, false);
    summary.drift = drift;
    Ok(summary)
}

/// Reads back, tier by tier, every object the restore of `req` writes and compares it
/// with the backup's (`verify_restore`, for checking later): nothing is written.
pub async fn verify(req: RestoreRequest<'_>) -> Result<RestoreSummary, ActionError> {
    let filter = Filter::new(&req)?;
    let manifest = catalog::resolve_trusted(req.store, &req.backup, &req.runbook, &req.trust)
        .await?
        .manifest;
    let mut restore = Restore::verified(&req, &manifest, filter).await?;
    let drift = verify_tiers(&mut restore).await?;
    let mut summary = restore.finish(Tally::default(), false);
    summary.drift = Some(drift);
    Ok(summary)
}

/// `tier 3/7 workloads`: the `n`th (from 0) of `count` tiers with objects, by name.
fn tier_phase(n: usize, count: usize, tier: usize) -> String {
    format!("tier {}/{count} {}", n + 1, tier_name(tier))
}

async fn verify_tiers(restore: &mut Restore<'_, '_>) -> Result<DriftTally, ActionError> {
    let mut drift = DriftTally::default();
    let tiers = restore.tiers();
    let total = tiers
        .iter()
        .map(|(_, parts)| restore.objects_in(parts))
        .sum();
    restore.meter().begin("verify", Some(total));
    for (n, (tier, parts)) in tiers.iter().enumerate() {
        restore
            .meter()
            .label(format!("verify {}", tier_phase(n, tiers.len(), *tier)));
        drift.merge(restore.verify_tier(parts).await?);
    }
    Ok(drift)
}

/// Where an earlier attempt of this restore left off: the tally of the tiers it
/// finished (from its checkpoint) and the last of them, found by name (the table of
/// tiers may differ between lifeboat versions). A checkpoint of another backup, or of
/// a tier this version does not have, is ignored: the restore starts over, and
/// `existing` decides what happens to what the first attempt wrote.
fn resume_point(done: Option<&TierDone>, backup_id: &str) -> (Tally, Option<usize>) {
    let found = done
        .filter(|d| d.backup_id == backup_id)
        .and_then(|d| order::tier_index(&d.tier_name).map(|tier| (d, tier)));
    match found {
        Some((d, tier)) => {
            let tally = Tally {
                total: d.total.clone(),
                kinds: d.kinds.clone(),
                ..Tally::default()
            };
            (tally, Some(tier))
        }
        None => (Tally::default(), None),
    }
}

impl TierDone {
    /// The checkpoint after `tier`, with `tally` of every tier up to it.
    fn after(backup_id: &str, tier: usize, tally: &Tally) -> TierDone {
        TierDone {
            backup_id: backup_id.to_string(),
            tier,
            tier_name: tier_name(tier).to_string(),
            total: tally.total.clone(),
            kinds: tally.kinds.clone(),
            owners: BTreeMap::new(),
        }
    }
}

/// What to do with one object from the backup.
enum Decision {
    /// Not selected by the filters: not counted.
    Leave,
    /// Selected but not restored (kind, name, why).
    Skip(String, String, String),
    /// Selected, and cannot be written as asked: a transform did not apply (kind,
    /// name, why).
    Fail(String, String, String),
    Write(Box<Prepared>),
}

/// What the request selects, and where namespaces go.
struct Filter {
    namespaces: NamespaceFilter,
    resources: ResourceFilter,
    selector: Option<LabelSelector>,
    mapping: BTreeMap<String, String>,
    transforms: Arc<Transforms>,
}

impl Filter {
    /// The request's filters; a label selector that does not parse is an input error.
    fn new(req: &RestoreRequest<'_>) -> Result<Filter, ActionError> {
        let selector = match &req.label_selector {
            Some(s) => Some(
                LabelSelector::parse(s)
                    .map_err(|e| ActionError::Inputs(format!("label_selector `{s}`: {e}")))?,
            ),
            None => None,
        };
        Ok(Filter {
            namespaces: NamespaceFilter::new(&req.namespaces, &req.exclude_namespaces),
            resources: ResourceFilter::new(&req.include_resources, &req.exclude_resources),
            selector,
            mapping: req.namespace_mapping.clone(),
            transforms: req.transforms.clone(),
        })
    }

    /// Decides what to do with one object of type `source` (served as `target`, when
    /// the cluster serves it), and prepares it for writing.
    fn prepare(
        &self,
        mut object: Value,
        source: &ResourceType,
        target: Option<&ServedType>,
        known: &Known<'_>,
    ) -> Decision {
        let qualified = source.qualified();
        if !self.resources.matches(source) {
            return Decision::Leave;
        }
        let namespace = namespace_of(&object).to_string();
        let in_scope = if source.namespaced {
            self.namespaces.matches(&namespace)
        } else if source.group.is_empty() && source.kind == "Namespace" {
            self.namespaces.matches(name_of(&object))
        } else {
            true
        };
        if !in_scope {
            return Decision::Leave;
        }
        if let Some(sel) = &self.selector
            && !sel.matches(&object)
        {
            return Decision::Leave;
        }
        let kind = source.kind.clone();
        let name = display_name(&object);
        if let Some(why) = rules::skip_reason(&qualified, &object) {
            return Decision::Skip(kind, name, why);
        }
        if qualified == "endpoints" {
            let target_ns = self.mapping.get(&namespace).cloned().unwrap_or(namespace);
            if known
                .services_with_selectors
                .contains(&(target_ns, name_of(&object).to_string()))
            {
                return Decision::Skip(
                    kind,
                    name,
                    "endpoints of a Service are recreated by its controller".into(),
                );
            }
        }
        let status = if known.keep_status {
            object.get("status").cloned()
        } else {
            None
        };
        let source_uid = owners::uid_of(&object).map(str::to_string);
        // Modifiers match the object as it was backed up.
        let backed_up = (!self.transforms.is_empty()).then(|| object.clone());
        rules::strip(&qualified, &mut object, false, known.keep);
        rules::map_namespace(&mut object, &qualified, &|ns| self.mapping.get(ns).cloned());
        if qualified == "persistentvolumeclaims" {
            unbind_claim(&mut object, known.volumes);
        }
        let changes = match &backed_up {
            Some(b) => match self.transforms.apply(source, b, &mut object) {
                Ok(changes) => changes,
                Err(why) => return Decision::Fail(kind, name, why),
            },
            None => Vec::new(),
        };
        let waiting = match known.owners.rewrite(&mut object) {
            owners::Rewritten::Done => None,
            w @ owners::Rewritten::Waiting { .. } => Some(w),
        };
        let rtype = match target {
            Some(t) => {
                if t.rtype.version != source.version
                    && let Some(v) = object.get_mut("apiVersion")
                {
                    *v = Value::String(t.rtype.api_version());
                }
                t.rtype.clone()
            }
            None => source.clone(),
        };
        Decision::Write(Box::new(Prepared {
            rtype,
            qualified,
            object,
            status,
            source_uid,
            waiting,
            changes,
        }))
    }
}

/// A claim bound to a volume the restore does not bring would stay Pending forever
/// (it binds only to that volume): its binding is reset so the target binds or
/// provisions one.
fn unbind_claim(claim: &mut Value, volumes: &HashSet<String>) {
    let bound_elsewhere = claim
        .pointer("/spec/volumeName")
        .and_then(Value::as_str)
        .is_some_and(|v| !volumes.contains(v));
    if bound_elsewhere && let Some(Value::Object(spec)) = claim.get_mut("spec") {
        spec.remove("volumeName");
    }
}

/// What the restore of `manifest` did.
fn summary(manifest: &Manifest, tally: Tally, stopped_early: bool) -> RestoreSummary {
    RestoreSummary {
        backup_id: manifest.backup_id.clone(),
        backup_created: manifest.created.clone(),
        backup_age: crate::clock::parse(&manifest.created)
            .map_or_else(Default::default, crate::clock::since),
        tally,
        stopped_early,
        drift: None,
    }
}

/// Adds a tier's tally to the restore's (keeping at most `FAILURES_KEPT` failures).
fn merge(into: &mut Tally, from: Tally) {
    for (kind, c) in from.kinds {
        *into.kinds.entry(kind).or_default() += &c;
    }
    into.total += &from.total;
    into.unchecked += from.unchecked;
    let room = outcome::FAILURES_KEPT.saturating_sub(into.failures.len());
    into.failures.extend(from.failures.into_iter().take(room));
}

/// The object's namespace (empty when cluster-scoped).
fn namespace_of(object: &Value) -> &str {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The object's name.
fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// `namespace/name` or `name`.
fn display_name(object: &Value) -> String {
    match namespace_of(object) {
        "" => name_of(object).to_string(),
        ns => format!("{ns}/{}", name_of(object)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(backup_id: &str, tier: usize) -> TierDone {
        let mut tally = Tally::default();
        tally.record("Secret", "ns/a", &Outcome::Created);
        TierDone::after(backup_id, tier, &tally)
    }

    #[test]
    fn a_checkpoint_of_the_backup_gives_its_tier_and_counts() {
        let checkpoint = done("b1", 7);
        assert_eq!(checkpoint.tier_name, tier_name(7));
        let (tally, after) = resume_point(Some(&checkpoint), "b1");
        assert_eq!(after, Some(7));
        assert_eq!(tally.total, checkpoint.total);
        assert_eq!(tally.kinds, checkpoint.kinds);
        assert!(tally.failures.is_empty());
    }

    #[test]
    fn a_checkpoint_is_found_by_its_tier_name_and_an_unknown_one_ignored() {
        // Written by a version whose tiers were numbered differently.
        let mut moved = done("b1", 3);
        moved.tier_name = "secrets".into();
        let (_, after) = resume_point(Some(&moved), "b1");
        assert_eq!(after, order::tier_index("secrets"));
        assert_ne!(after, Some(3));
        let mut gone = done("b1", 2);
        gone.tier_name = "storageclasses".into();
        let (tally, after) = resume_point(Some(&gone), "b1");
        assert_eq!(after, None);
        assert_eq!(tally.total, Counts::default());
    }

    #[test]
    fn a_claim_keeps_its_volume_only_when_the_volume_is_restored() {
        let restored: HashSet<String> = ["pv-restored".to_string()].into();
        let mut kept = serde_json::json!({"spec": {"volumeName": "pv-restored"}});
        unbind_claim(&mut kept, &restored);
        assert_eq!(kept["spec"]["volumeName"], "pv-restored");
        let mut reset =
            serde_json::json!({"spec": {"volumeName": "pv-elsewhere", "resources": {}}});
        unbind_claim(&mut reset, &restored);
        assert_eq!(reset["spec"], serde_json::json!({"resources": {}}));
    }

    #[test]
    fn a_checkpoint_of_another_backup_is_ignored() {
        let (tally, after) = resume_point(Some(&done("b1", 3)), "b2");
        assert_eq!(after, None);
        assert_eq!(tally.total, Counts::default());
        let (_, after) = resume_point(None, "b2");
        assert_eq!(after, None);
    }
}
