//! Before the first write: which of the backup's objects own something the restore
//! writes (see `owners`). Two streaming passes over the verified parts: the first
//! collects the uids that restored objects name as owners, the second which of those
//! belong to objects the restore writes too. Only owners are kept in memory.

use std::collections::HashSet;

use super::owners::{self, OwnerLinks};
use super::tier::PartBatches;
use super::{Decision, Filter, Known, rules};
use crate::archive::crypt::Identities;
use crate::archive::verify::SpooledBackup;
use crate::context::ActionError;

/// The source uids of the owners this restore writes.
pub async fn restored_owners(
    backup: &SpooledBackup,
    filter: &Filter,
    ids: Option<&Identities>,
) -> Result<HashSet<String>, ActionError> {
    let mut referenced = HashSet::new();
    each_written(backup, filter, ids, |_, owner_uids| {
        referenced.extend(owner_uids.iter().cloned());
    })
    .await?;
    if referenced.is_empty() {
        return Ok(referenced);
    }
    let mut restored = HashSet::new();
    each_written(backup, filter, ids, |uid, _| {
        if let Some(uid) = uid
            && referenced.contains(&uid)
        {
            restored.insert(uid);
        }
    })
    .await?;
    Ok(restored)
}

/// Calls `seen` with the uid and the owners' uids (in the source cluster) of every
/// object of the backup that the restore writes.
async fn each_written(
    backup: &SpooledBackup,
    filter: &Filter,
    ids: Option<&Identities>,
    mut seen: impl FnMut(Option<String>, &[String]),
) -> Result<(), ActionError> {
    let no_services = HashSet::new();
    let no_volumes = HashSet::new();
    let no_owners = OwnerLinks::default();
    let known = Known {
        services_with_selectors: &no_services,
        volumes: &no_volumes,
        owners: &no_owners,
        keep_status: false,
        keep: rules::Keep::default(),
    };
    for (i, part) in backup.manifest.parts.iter().enumerate() {
        let source = part.resource_type();
        let mut batches = PartBatches::open(&backup.files[i], part, ids)?;
        while let Some(batch) = batches.next().await? {
            for object in batch {
                let owner_uids: Vec<String> =
                    owners::owner_uids(&object).map(str::to_string).collect();
                if let Decision::Write(p) = filter.prepare(object, &source, None, &known) {
                    seen(p.source_uid, &owner_uids);
                }
            }
        }
    }
    Ok(())
}
