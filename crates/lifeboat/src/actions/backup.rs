//! `backup`: copies the selected objects of a cluster into a store as one backup,
//! then, when the step has `retention`, prunes the older backups of its runbook there.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, IntOrExpr, Output, located, map_out, out};
use crate::archive::manifest::Filters;
use crate::archive::prune::{self, Rules, Verdict};
use crate::archive::retention::Policy;
use crate::backup::ClusterResources;
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::{Duration, OrExpr};
use crate::runbook::node::{Node, NodeKind};
use crate::store::{Store, StoreError};

pub const NAME: &str = "backup";
pub const SUMMARY: &str = "Back up the selected objects of a cluster into a store.";
pub const ON_CLUSTER: bool = true;
pub const CONFIRM: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str =
    "lists what would be backed up (objects per kind); writes nothing to the store";
pub const OUTPUTS: &[Output] = &[
    out("backup_id", "id of the backup written"),
    out("objects", "number of objects backed up"),
    out("bytes", "stored bytes"),
    map_out("kinds", "objects backed up per kind"),
    out(
        "signed",
        "`true` when the manifest was signed with the store's `signing.secret_key`",
    ),
    out(
        "pruned",
        "backups `retention` removed (in a dry run: would remove); 0 without `retention`",
    ),
    map_out(
        "pruned_backups",
        "the backups `retention` removed (would remove), each with when it completed",
    ),
    out(
        "prune_error",
        "why `retention` could not remove all it meant to (the backup itself succeeded); empty when it could",
    ),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BackupInputs")]
pub struct Inputs {
    /// The store to write to (a name under `stores:`).
    pub store: Spanned<String>,
    /// Namespaces to back up (globs such as `shop-*`); default: all.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Namespaces to leave out (globs).
    #[serde(default)]
    pub exclude_namespaces: Vec<String>,
    /// Resources to back up, as `resource` or `resource.group` (default: all).
    #[serde(default)]
    pub include_resources: Vec<String>,
    /// Resources to leave out, as `resource` or `resource.group` (events are always left out).
    #[serde(default)]
    pub exclude_resources: Vec<String>,
    /// Only objects matching this label selector.
    #[serde(default)]
    pub label_selector: Option<String>,
    /// Cluster-scoped resources: `auto` (when all namespaces are selected), `true`, `false`.
    #[serde(default)]
    pub cluster_resources: ClusterResources,
    /// Resource types read in parallel (default 4).
    #[serde(default)]
    pub parallelism: Option<IntOrExpr>,
    /// Once this backup is committed, remove the backups of this runbook in the store
    /// that no rule keeps (restic's `forget`: a backup is kept when any rule keeps it;
    /// the newest is always kept, and so is one a run is reading).
    #[serde(default)]
    pub retention: Option<Retention>,
}

/// Which complete backups of the runbook in the store to keep.
#[derive(Clone, Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "BackupRetention")]
pub struct Retention {
    /// Keep the n newest.
    #[serde(default)]
    pub keep_last: Option<OrExpr<u32>>,
    /// Keep the newest of each of the n most recent days (UTC) that have one.
    #[serde(default)]
    pub keep_daily: Option<OrExpr<u32>>,
    /// Keep the newest of each of the n most recent ISO weeks (UTC) that have one.
    #[serde(default)]
    pub keep_weekly: Option<OrExpr<u32>>,
    /// Keep the newest of each of the n most recent months (UTC) that have one.
    #[serde(default)]
    pub keep_monthly: Option<OrExpr<u32>>,
    /// Keep every backup completed at most this long ago (`30d`).
    #[serde(default)]
    pub max_age: Option<OrExpr<Duration>>,
}

impl Retention {
    /// The counting rules: field, what it keeps by, value.
    fn counts(&self) -> [(&'static str, &'static str, &Option<OrExpr<u32>>); 4] {
        [
            ("keep_last", "count", &self.keep_last),
            ("keep_daily", "day", &self.keep_daily),
            ("keep_weekly", "week", &self.keep_weekly),
            ("keep_monthly", "month", &self.keep_monthly),
        ]
    }

    fn is_empty(&self) -> bool {
        self.counts().iter().all(|(_, _, v)| v.is_none()) && self.max_age.is_none()
    }

    /// The policy, once expressions are bound.
    pub fn policy(&self) -> Result<Policy, ActionError> {
        let count =
            |v: &Option<OrExpr<u32>>, name: &str| v.as_ref().map(|v| v.value(name)).transpose();
        let policy = Policy {
            keep_last: count(&self.keep_last, "keep_last")?,
            keep_daily: count(&self.keep_daily, "keep_daily")?,
            keep_weekly: count(&self.keep_weekly, "keep_weekly")?,
            keep_monthly: count(&self.keep_monthly, "keep_monthly")?,
            max_age: self
                .max_age
                .as_ref()
                .map(|d| d.value("max_age").map(|d| d.0))
                .transpose()?,
        };
        policy
            .validate()
            .map_err(|e| ActionError::Inputs(format!("retention: {e}")))?;
        Ok(policy)
    }
}

impl CheckInputs for Inputs {
    fn stores(&self) -> Vec<&Spanned<String>> {
        vec![&self.store]
    }
    fn check(&self, with: &Node) -> Vec<DeError> {
        let mut errors: Vec<DeError> = parallelism_range(&self.parallelism, with)
            .into_iter()
            .collect();
        errors.extend(retention_problems(self.retention.as_ref(), with));
        errors
    }
}

/// Every retention rule that keeps nothing (a count of 0, a `max_age` of 0), and a
/// `retention` without rules, each where it is written. Expressions are checked once
/// bound, by the same rules.
fn retention_problems(retention: Option<&Retention>, with: &Node) -> Vec<DeError> {
    let Some(node) = with.get("retention") else {
        return Vec::new();
    };
    let no_rule = || {
        located(
            DeError::new("`retention` has no rule").hint(
                "give at least one of keep_last, keep_daily, keep_weekly, keep_monthly, max_age, or leave `retention` out",
            ),
            node,
        )
    };
    let Some(retention) = retention else {
        return vec![no_rule()];
    };
    if retention.is_empty() {
        return vec![no_rule()];
    }
    let at = |field: &str| match &node.kind {
        NodeKind::Map(_) => node.get(field).unwrap_or(node),
        _ => node,
    };
    let mut errors = Vec::new();
    for (field, by, value) in retention.counts() {
        if value.as_ref().and_then(OrExpr::literal) == Some(&0) {
            errors.push(located(
                DeError::new(format!("`{field}` is 0: it must be at least 1"))
                    .hint(format!("leave `{field}` out to not keep by {by}")),
                at(field),
            ));
        }
    }
    if let Some(age) = retention.max_age.as_ref().and_then(OrExpr::literal)
        && age.0.is_zero()
    {
        errors.push(located(
            DeError::new("`max_age` is 0s: it must be longer than zero")
                .hint("leave `max_age` out to not keep by age"),
            at("max_age"),
        ));
    }
    errors
}

/// `parallelism` must be 1 to 256.
pub(crate) fn parallelism_range(p: &Option<IntOrExpr>, with: &Node) -> Option<DeError> {
    let p = p.as_ref()?;
    let node = with.get("parallelism")?;
    p.check_range(1, 256).err().map(|m| {
        located(
            DeError::new(format!("invalid `parallelism`: {m}"))
                .hint("parallelism is how many run at once: 1 to 256"),
            node,
        )
    })
}

/// Backs up as the step's inputs say; the backup id is derived from the run, so a
/// re-run of the step after a crash writes the same backup.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let store = ctx.run.store(&i.store.value).await?;
    // A key that cannot be read fails the step before anything is written.
    let signer = ctx.run.signer(&i.store.value)?;
    if !ctx.dry_run()
        && let Err(StoreError::Unconditional { store: name }) = store
            .check_conditional_writes(crate::archive::layout::BACKUPS)
            .await
    {
        ctx.warn(format!(
            "{name} does not honour conditional writes (If-None-Match): the backup's manifest is written last, so a backup is never listed before its parts are all there, but two runs writing the same backup id would not be refused"
        ));
    }
    let parallelism = match &i.parallelism {
        Some(p) => p.value("parallelism")?,
        None => 4,
    };
    let summary = crate::backup::run(crate::backup::BackupRequest {
        conn: &conn,
        store: &store,
        backup_id: format!("{}-{}-{}", ctx.run.runbook_name(), ctx.run.run_id, ctx.step),
        runbook: ctx.run.runbook_name().to_string(),
        run_id: ctx.run.run_id.clone(),
        step: ctx.step.to_string(),
        filters: Filters {
            namespaces: i.namespaces.clone(),
            exclude_namespaces: i.exclude_namespaces.clone(),
            include_resources: i.include_resources.clone(),
            exclude_resources: i.exclude_resources.clone(),
            label_selector: i.label_selector.clone(),
            cluster_resources: false,
        },
        cluster_resources: i.cluster_resources,
        parallelism: usize::try_from(parallelism).unwrap_or(4),
        recipients: ctx.run.recipients(&i.store.value)?,
        progress: ctx.progress(),
        done: ctx
            .checkpoints()
            .iter()
            .filter_map(|c| serde_json::from_value(c.clone()).ok())
            .collect(),
        on_type_done: {
            let checkpoint = ctx.checkpointer();
            Arc::new(move |done| {
                if let Ok(data) = serde_json::to_value(done) {
                    checkpoint(data);
                }
            })
        },
    })
    .await?;
    for u in &summary.unavailable {
        ctx.warn(format!(
            "{} is not in the backup: the cluster could not describe it ({}); restore it from another source if it holds state",
            u.group_version, u.message
        ));
    }
    if let Some(key) = &signer {
        crate::crash::point("manifest-written");
        crate::archive::signature::sign(&store, &summary.backup_id, key).await?;
    }
    let pruned = match &i.retention {
        Some(retention) => apply_retention(retention, &summary.backup_id, &store, ctx).await,
        None => Pruned::default(),
    };
    let mut outputs = Outputs::new();
    outputs.insert(
        "pruned".into(),
        OutputValue::Str(pruned.backups.len().to_string()),
    );
    outputs.insert(
        "pruned_backups".into(),
        OutputValue::Map(pruned.backups.into_iter().collect()),
    );
    outputs.insert(
        "prune_error".into(),
        OutputValue::Str(pruned.error.unwrap_or_default()),
    );
    outputs.insert(
        "signed".into(),
        OutputValue::Str(signer.is_some().to_string()),
    );
    outputs.insert("backup_id".into(), OutputValue::Str(summary.backup_id));
    outputs.insert(
        "objects".into(),
        OutputValue::Str(summary.objects.to_string()),
    );
    outputs.insert("bytes".into(), OutputValue::Str(summary.bytes.to_string()));
    outputs.insert(
        "kinds".into(),
        OutputValue::Map(
            summary
                .kinds
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect(),
        ),
    );
    Ok(outputs)
}

/// What a step's retention removed (would remove, in a dry run): backup id and when it
/// completed; and why it could not remove all it meant to.
#[derive(Default)]
struct Pruned {
    backups: Vec<(String, String)>,
    error: Option<String>,
}

/// Applies `retention` to the complete backups of this runbook in `store`, now that
/// backup `written` is committed. The backup is done whatever happens here: a failure
/// is a warning (and the `prune_error` output), never a failed step. A dry run says
/// what it would remove and removes nothing.
async fn apply_retention(
    retention: &Retention,
    written: &str,
    store: &Store,
    ctx: &StepCtx<'_>,
) -> Pruned {
    let mut pruned = Pruned::default();
    let errors = match prune_runbook(retention, store, ctx).await {
        Ok(plan) => {
            for backup in plan.backups() {
                let removed = matches!(backup.verdict, Verdict::Remove(_) | Verdict::Removed(..));
                if removed {
                    let completed = backup.time.map(crate::clock::seconds).unwrap_or_default();
                    tracing::info!(
                        backup = %backup.id,
                        completed = %completed,
                        dry_run = ctx.dry_run(),
                        "retention {} backup {} (completed {completed}): no rule keeps it",
                        if ctx.dry_run() { "would remove" } else { "removed" },
                        backup.id
                    );
                    pruned.backups.push((backup.id.clone(), completed));
                }
            }
            plan.failed()
                .iter()
                .filter_map(|b| match &b.verdict {
                    Verdict::Failed(_, e) => Some(e.to_string()),
                    _ => None,
                })
                .collect()
        }
        Err(e) => vec![e.to_string()],
    };
    if !errors.is_empty() {
        let error = errors.join("; ");
        ctx.warn(format!(
            "retention: {error}; backup {written} itself is complete. The next prune finishes the job (a backup removed in part has no manifest any more: `lifeboat backups prune --incomplete-older-than` removes it)"
        ));
        pruned.error = Some(error);
    }
    pruned
}

/// The prune of this runbook's backups in `store` (carried out unless in a dry run).
async fn prune_runbook(
    retention: &Retention,
    store: &Store,
    ctx: &StepCtx<'_>,
) -> Result<prune::Plan, ActionError> {
    let rules = Rules {
        policy: Some(retention.policy()?),
        runbook: Some(ctx.run.runbook_name().to_string()),
        incomplete_older_than: None,
    };
    let entries = crate::archive::catalog::list(store).await?;
    let readers = ctx.run.readers(store).await?;
    let mut plan = prune::plan(&entries, &rules, &readers, crate::clock::now())
        .map_err(|e| ActionError::Inputs(format!("retention: {e}")))?;
    if !ctx.dry_run() {
        prune::execute(store, &mut plan, || ctx.run.readers(store)).await;
    }
    Ok(plan)
}
