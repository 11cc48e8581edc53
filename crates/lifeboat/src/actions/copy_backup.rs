//! `copy_backup`: replicates a backup to another store (another region, another
//! provider), checking every part's checksum.

use futures_util::{StreamExt, TryStreamExt, stream};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, located, out};
use crate::archive::part::hash_file;
use crate::archive::signature::{self, SigningKey};
use crate::archive::{ArchiveError, Manifest, catalog, layout};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::node::Node;
use crate::store::{PutMode, Store, StoreError};

pub const NAME: &str = "copy_backup";
pub const SUMMARY: &str = "Copy a backup to another store, verifying every part.";
pub const ON_CLUSTER: bool = false;
pub const CONFIRM: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "reads the source manifest and lists the parts that would be copied";
pub const OUTPUTS: &[Output] = &[
    out("backup_id", "id of the backup copied"),
    out("parts", "parts copied"),
    out("bytes", "bytes copied"),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CopyBackupInputs")]
pub struct Inputs {
    /// Source store (a name under `stores:`).
    pub from: Spanned<String>,
    /// Destination store.
    pub to: Spanned<String>,
    /// Backup id, or `latest`.
    #[serde(default = "latest")]
    pub backup: String,
}

fn latest() -> String {
    "latest".to_string()
}

impl CheckInputs for Inputs {
    fn stores(&self) -> Vec<&Spanned<String>> {
        vec![&self.from, &self.to]
    }
    fn check(&self, with: &Node) -> Vec<DeError> {
        match with.get("to") {
            Some(node) if self.from.value == self.to.value => vec![located(
                DeError::new(format!(
                    "`from` and `to` are the same store `{}`",
                    self.to.value
                )),
                node,
            )],
            _ => Vec::new(),
        }
    }
}

/// Parts copied at once.
const PARALLEL: usize = 4;

/// Copies every part (checking its size and sha256 on the way), then the manifest,
/// last, with a conditional create. Encrypted parts are copied as they are. Copying a
/// backup the destination already holds, identical, succeeds; a different backup of
/// the same id there is never overwritten.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let from = ctx.run.store(&i.from.value).await?;
    let to = ctx.run.store(&i.to.value).await?;
    // The source is in the run lock's `reading` before its manifest is read, and until
    // the copy ends: no prune deletes it meanwhile.
    let reading = ctx.reading_backup(&from, &i.backup).await?;
    // The source's signature is checked (when its store asks) before anything is
    // copied, and the destination's key read: a bad one stops the copy up front.
    let source = catalog::resolve_trusted(
        &from,
        reading.backup_id(),
        ctx.run.runbook_name(),
        &ctx.run.trust(&i.from.value)?,
    )
    .await?;
    let signer = ctx.run.signer(&i.to.value)?;
    let manifest = &source.manifest;
    let id = manifest.backup_id.clone();
    match catalog::read(&to, &id).await {
        Ok(existing) if existing.parts == manifest.parts => {
            sign_copy(&from, &to, &id, signer.as_ref()).await?;
            reading.done(ctx).await;
            return Ok(outputs_of(manifest));
        }
        Ok(_) => {
            return Err(ActionError::Failed(format!(
                "{} already holds a different backup {id}; it is never overwritten",
                to.describe()
            )));
        }
        Err(ArchiveError::NotFound { .. } | ArchiveError::Incomplete { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let spool = crate::archive::verify::spool_folder("lifeboat-copy-")?;
    // Objects copied out of the backup's, and the bytes moved, part by part.
    let meter = ctx.progress();
    meter.begin("copy", Some(manifest.parts.iter().map(|p| p.objects).sum()));
    let jobs = manifest.parts.iter().enumerate().map(|(n, part)| {
        let (from, to, id, meter) = (&from, &to, &id, &meter);
        let path = spool.path().join(format!("part-{n:05}"));
        async move {
            let key = layout::part_key(id, &part.key);
            from.get_to_file(&key, &path).await?;
            let checked = path.clone();
            let (sha256, bytes) = tokio::task::spawn_blocking(move || hash_file(&checked))
                .await
                .map_err(|e| ActionError::Failed(format!("hashing stopped: {e}")))?
                .map_err(|source| ActionError::Io {
                    op: "read",
                    path: path.clone(),
                    source,
                })?;
            if sha256 != part.sha256 || bytes != part.bytes {
                return Err(ActionError::Archive(ArchiveError::Integrity {
                    id: id.clone(),
                    key: part.key.clone(),
                    message: format!(
                        "in {} it has {bytes} bytes with sha256 {sha256}; the manifest says {} bytes with sha256 {}: not copied",
                        from.describe(),
                        part.bytes,
                        part.sha256
                    ),
                }));
            }
            to.put_file(&key, &path, PutMode::Overwrite).await?;
            meter.add(part.objects, part.bytes);
            crate::crash::point("part-copied");
            let _ = std::fs::remove_file(&path);
            Ok::<(), ActionError>(())
        }
    });
    stream::iter(jobs)
        .buffer_unordered(PARALLEL)
        .try_collect::<Vec<()>>()
        .await?;
    // The manifest's bytes as the source has them, so that its signature holds.
    to.put(
        &layout::manifest_key(&id),
        source.bytes.clone(),
        PutMode::CreateNew,
    )
    .await?;
    crate::crash::point("manifest-copied");
    sign_copy(&from, &to, &id, signer.as_ref()).await?;
    reading.done(ctx).await;
    Ok(outputs_of(manifest))
}

/// Signs the copy with the destination's key when it has one; otherwise the source's
/// signature (if any) goes with the copy, so the same public key checks both.
async fn sign_copy(
    from: &Store,
    to: &Store,
    id: &str,
    signer: Option<&SigningKey>,
) -> Result<(), ActionError> {
    if let Some(key) = signer {
        return Ok(signature::sign(to, id, key).await?);
    }
    match from.get(&layout::signature_key(id)).await {
        Ok(bytes) => {
            to.put(&layout::signature_key(id), bytes, PutMode::Overwrite)
                .await?
        }
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

fn outputs_of(m: &Manifest) -> Outputs {
    let mut outputs = Outputs::new();
    outputs.insert("backup_id".into(), OutputValue::Str(m.backup_id.clone()));
    outputs.insert("parts".into(), OutputValue::Str(m.parts.len().to_string()));
    outputs.insert("bytes".into(), OutputValue::Str(m.bytes.to_string()));
    outputs
}
