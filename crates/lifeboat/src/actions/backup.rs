//! `backup`: copies the selected objects of a cluster into a store as one backup.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, IntOrExpr, Output, located, map_out, out};
use crate::archive::manifest::Filters;
use crate::backup::ClusterResources;
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::node::Node;
use crate::store::StoreError;

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
}

impl CheckInputs for Inputs {
    fn stores(&self) -> Vec<&Spanned<String>> {
        vec![&self.store]
    }
    fn check(&self, with: &Node) -> Vec<DeError> {
        parallelism_range(&self.parallelism, with)
            .into_iter()
            .collect()
    }
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
    let mut outputs = Outputs::new();
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
