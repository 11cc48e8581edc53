//! Restoring a backup (SPEC section 5). Integrity first: every part is downloaded and
//! checked against the manifest before the first object is written, so a tampered or
//! truncated backup is refused with nothing applied. Then tier by tier
//! (`order::TIERS`): objects are filtered, left out when a controller recreates them
//! (`rules`), stripped of what the source cluster assigned, moved by the namespace
//! mapping, and written in parallel (bounded) within the tier. After the CRD tier the
//! restore waits until the CRDs are Established and refreshes discovery. Dry-run sends
//! every write with `dryRun=All`.

mod order;
mod outcome;
mod rules;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::{StreamExt, stream};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::actions::ActionError;
use crate::actions::restore::Existing;
use crate::archive::crypt::Identities;
use crate::archive::part::PartReader;
use crate::archive::{Manifest, catalog, verify};
use crate::cluster::discovery::{self, ServedType};
use crate::cluster::filter::{NamespaceFilter, ResourceFilter};
use crate::cluster::{ClusterConn, ResourceType};
use crate::sandbox::selector::LabelSelector;
use crate::store::Store;

pub use order::{TIERS, tier_name};
pub use outcome::{Counts, Failure, Outcome, Tally};

/// Objects read from a part at a time.
const BATCH: usize = 500;
/// Parts downloaded and verified at once.
const DOWNLOADS: usize = 4;

/// Told each object's outcome: kind, `namespace/name`, outcome.
pub type ObjectReport = Arc<dyn Fn(&str, &str, &Outcome) + Send + Sync>;

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
    pub dry_run: bool,
    /// Decrypt encrypted parts with these.
    pub identities: Option<Identities>,
    /// Called with (objects done, 0) as objects are restored.
    pub progress: Arc<dyn Fn(u64, u64) + Send + Sync>,
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
}

/// One object ready to write.
struct Prepared {
    rtype: ResourceType,
    qualified: String,
    object: Value,
    status: Option<Value>,
}

pub async fn run(req: RestoreRequest<'_>) -> Result<RestoreSummary, ActionError> {
    let selector = match &req.label_selector {
        Some(s) => Some(
            LabelSelector::parse(s)
                .map_err(|e| ActionError::Inputs(format!("label_selector `{s}`: {}", e.message)))?,
        ),
        None => None,
    };
    let manifest = catalog::resolve(req.store, &req.backup, &req.runbook).await?;
    let ids = req.identities.as_ref();
    let spooled = verify::download_verified(req.store, &manifest, DOWNLOADS, ids).await?;
    let custom_groups = crd_groups(&spooled.manifest, &spooled.files, ids).await?;
    let mut served = discovery::served(req.conn, false).await?;
    let ctx = write::Writer::new(&req);
    let filter = Filter {
        namespaces: NamespaceFilter::new(&req.namespaces, &req.exclude_namespaces),
        resources: ResourceFilter::new(&req.include_resources, &req.exclude_resources),
        selector,
        mapping: req.namespace_mapping.clone(),
    };
    let mut tally = Tally::default();
    // Tiers an earlier attempt finished are not written again.
    let resume_after = req
        .done
        .as_ref()
        .filter(|d| d.backup_id == manifest.backup_id)
        .map(|d| {
            tally.total = d.total.clone();
            tally.kinds = d.kinds.clone();
            d.tier
        });
    let stop = AtomicBool::new(false);
    // Tiers are checkpointed while every tier so far restored without a failure.
    let mut clean = true;
    let services_with_selectors: Mutex<HashSet<(String, String)>> = Mutex::new(HashSet::new());
    let mut restored_crds: BTreeSet<String> = BTreeSet::new();
    for tier in 0..TIERS.len() {
        let parts: Vec<usize> = (0..manifest.parts.len())
            .filter(|&i| {
                let p = &manifest.parts[i];
                order::tier_of(&p.resource_type(), custom_groups.contains(&p.group)) == tier
            })
            .collect();
        if parts.is_empty() {
            continue;
        }
        // A finished tier is only read for what later tiers need (Services' selectors).
        let replay_only = resume_after.is_some_and(|done| tier <= done);
        let tier_tally = Mutex::new(Tally::default());
        for &i in &parts {
            let part = &manifest.parts[i];
            let source_type = part.resource_type();
            let qualified = source_type.qualified();
            if replay_only && qualified != "services" {
                continue;
            }
            let target = discovery::find(&served, &part.group, &part.version, &part.kind).cloned();
            let mut reader = open_part(&spooled.files[i], part.encryption.is_some(), ids)?;
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let (r, batch) = next_batch(reader).await?;
                reader = r;
                if batch.is_empty() {
                    break;
                }
                let mut prepared = Vec::with_capacity(batch.len());
                {
                    let mut tt = tier_tally.lock().await;
                    let services = services_with_selectors.lock().await;
                    for object in batch {
                        match filter.prepare(
                            object,
                            &source_type,
                            target.as_ref(),
                            &services,
                            req.restore_status,
                        ) {
                            Decision::Leave => {}
                            Decision::Skip(..) if replay_only => {}
                            Decision::Skip(kind, name, why) => {
                                let outcome = Outcome::Skipped(why);
                                (req.on_object)(&kind, &name, &outcome);
                                tt.record(&kind, &name, &outcome);
                                (req.progress)(1, 0);
                            }
                            Decision::Write(p) => prepared.push(p),
                        }
                    }
                }
                if qualified == "services" {
                    let mut services = services_with_selectors.lock().await;
                    for p in &prepared {
                        if p.object
                            .pointer("/spec/selector")
                            .is_some_and(|s| s.as_object().is_some_and(|m| !m.is_empty()))
                        {
                            services.insert((
                                namespace_of(&p.object).to_string(),
                                name_of(&p.object).to_string(),
                            ));
                        }
                    }
                }
                if replay_only {
                    continue;
                }
                let results: Vec<(String, String, Outcome)> =
                    stream::iter(prepared.into_iter().map(|p| {
                        let ctx = &ctx;
                        let stop = &stop;
                        let custom_groups = &custom_groups;
                        async move {
                            let kind = p.rtype.kind.clone();
                            let name = display_name(&p.object);
                            if stop.load(Ordering::Relaxed) {
                                return None;
                            }
                            let outcome = ctx.write(p, custom_groups).await;
                            if matches!(outcome, Outcome::Failed(_)) && ctx.fail_fast {
                                stop.store(true, Ordering::Relaxed);
                            }
                            Some((kind, name, outcome))
                        }
                    }))
                    .buffer_unordered(req.parallelism.max(1))
                    .filter_map(|r| async move { r })
                    .collect()
                    .await;
                let mut tt = tier_tally.lock().await;
                for (kind, name, outcome) in &results {
                    if tier == 0
                        && matches!(
                            outcome,
                            Outcome::Created | Outcome::Updated | Outcome::Unchanged
                        )
                    {
                        restored_crds.insert(name.clone());
                    }
                    (req.on_object)(kind, name, outcome);
                    tt.record(kind, name, outcome);
                }
                (req.progress)(results.len() as u64, 0);
            }
        }
        if replay_only {
            continue;
        }
        let tier_tally = tier_tally.into_inner();
        clean &= tier_tally.total.failed == 0;
        merge(&mut tally, tier_tally);
        if stop.load(Ordering::Relaxed) {
            tally.unchecked = ctx.unchecked.load(Ordering::Relaxed);
            return Ok(summary(&manifest, tally, true));
        }
        if clean {
            (req.on_tier_done)(&TierDone {
                backup_id: manifest.backup_id.clone(),
                tier,
                tier_name: tier_name(tier).to_string(),
                total: tally.total.clone(),
                kinds: tally.kinds.clone(),
            });
        }
        if tier == 0 && !restored_crds.is_empty() {
            if !req.dry_run {
                write::wait_established(req.conn, &served, &restored_crds).await?;
            }
            served = discovery::served(req.conn, true).await?;
        }
    }
    tally.unchecked = ctx.unchecked.load(Ordering::Relaxed);
    Ok(summary(&manifest, tally, false))
}

/// What to do with one object from the backup.
enum Decision {
    /// Not selected by the filters: not counted.
    Leave,
    /// Selected but not restored (kind, name, why).
    Skip(String, String, String),
    Write(Prepared),
}

struct Filter {
    namespaces: NamespaceFilter,
    resources: ResourceFilter,
    selector: Option<LabelSelector>,
    mapping: BTreeMap<String, String>,
}

impl Filter {
    fn prepare(
        &self,
        mut object: Value,
        source: &ResourceType,
        target: Option<&ServedType>,
        services_with_selectors: &HashSet<(String, String)>,
        keep_status: bool,
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
            if services_with_selectors.contains(&(target_ns, name_of(&object).to_string())) {
                return Decision::Skip(
                    kind,
                    name,
                    "endpoints of a Service are recreated by its controller".into(),
                );
            }
        }
        let status = if keep_status {
            object.get("status").cloned()
        } else {
            None
        };
        rules::strip(&qualified, &mut object, false);
        rules::map_namespace(&mut object, &qualified, &|ns| self.mapping.get(ns).cloned());
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
        Decision::Write(Prepared {
            rtype,
            qualified,
            object,
            status,
        })
    }
}

fn summary(manifest: &Manifest, tally: Tally, stopped_early: bool) -> RestoreSummary {
    use crate::sandbox::time::{fraction_millis, parse_rfc3339};
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let created = parse_rfc3339(&manifest.created).map_or(now, |secs| {
        std::time::Duration::from_secs(secs)
            + std::time::Duration::from_millis(u64::from(fraction_millis(&manifest.created)))
    });
    RestoreSummary {
        backup_id: manifest.backup_id.clone(),
        backup_created: manifest.created.clone(),
        backup_age: now.saturating_sub(created),
        tally,
        stopped_early,
    }
}

fn merge(into: &mut Tally, from: Tally) {
    for (kind, c) in from.kinds {
        *into.kinds.entry(kind).or_default() += &c;
    }
    into.total += &from.total;
    into.unchecked += from.unchecked;
    let room = outcome::FAILURES_KEPT.saturating_sub(into.failures.len());
    into.failures.extend(from.failures.into_iter().take(room));
}

/// Groups of the CRDs in the backup: their custom resources go in the last tier.
async fn crd_groups(
    manifest: &Manifest,
    files: &[std::path::PathBuf],
    ids: Option<&Identities>,
) -> Result<BTreeSet<String>, ActionError> {
    let mut groups = BTreeSet::new();
    for (i, part) in manifest.parts.iter().enumerate() {
        if !part.resource_type().is_crd() {
            continue;
        }
        let mut reader = open_part(&files[i], part.encryption.is_some(), ids)?;
        loop {
            let (r, batch) = next_batch(reader).await?;
            reader = r;
            if batch.is_empty() {
                break;
            }
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

fn open_part(
    path: &std::path::Path,
    encrypted: bool,
    ids: Option<&Identities>,
) -> Result<PartReader, ActionError> {
    PartReader::open(path, encrypted, ids).map_err(|source| ActionError::Io {
        op: "read",
        path: path.to_path_buf(),
        source,
    })
}

async fn next_batch(mut reader: PartReader) -> Result<(PartReader, Vec<Value>), ActionError> {
    tokio::task::spawn_blocking(move || {
        let batch = reader.next_batch(BATCH);
        batch.map(|b| (reader, b))
    })
    .await
    .map_err(|e| ActionError::Failed(format!("reading a part stopped: {e}")))?
    .map_err(|source| ActionError::Io {
        op: "read a part in",
        path: std::env::temp_dir(),
        source,
    })
}

fn namespace_of(object: &Value) -> &str {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or("")
}

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
