//! `lifeboat backups list|show|verify|delete|diff --store URL`: what is in a store, one
//! backup's manifest, re-checking every part of a backup, deleting one (manifest
//! first, so a half-deleted backup is never taken for a complete one), and what
//! changed between two.

use std::io::Write;

use serde_json::json;

use super::table::table;
use super::{BackupsCommand, BackupsDiffArgs, BackupsTarget, OutputFormat, emit};
use crate::archive::crypt::Identities;
use crate::archive::signature::{PublicKey, Trust};
use crate::archive::{self, Manifest, catalog, layout, verify};
use crate::error::{Error, ExitCode};
use crate::store::{Store, parse_store_url};

/// Parts checked at once by `verify`.
const PARALLEL_CHECKS: usize = 4;

pub fn run(command: &BackupsCommand, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        match command {
            BackupsCommand::List(t) => list(t, out).await,
            BackupsCommand::Show(t) => show(t, out).await,
            BackupsCommand::Verify(t) => verify_backup(t, out).await,
            BackupsCommand::Delete(t) => delete(t, out).await,
            BackupsCommand::Diff(d) => diff(d, out).await,
        }
    })
}

async fn open(t: &BackupsTarget) -> anyhow::Result<Store> {
    let config = parse_store_url(&t.store).map_err(|e| Error::Usage(format!("--store: {e}")))?;
    Ok(Store::open(&config).await?)
}

fn id_of<'a>(t: &'a BackupsTarget, command: &str) -> Result<&'a str, Error> {
    t.id.as_deref().ok_or_else(|| {
        Error::Usage(format!(
            "`lifeboat backups {command}` needs a backup id: `lifeboat backups list --store {}` shows them",
            t.store
        ))
    })
}

async fn list(t: &BackupsTarget, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let store = open(t).await?;
    let entries = catalog::list(&store).await?;
    let (complete, incomplete): (Vec<_>, Vec<_>) =
        entries.into_iter().partition(|e| e.manifest.is_some());
    let mut complete: Vec<Manifest> = complete.into_iter().filter_map(|e| e.manifest).collect();
    complete.sort_by(|a, b| b.created.cmp(&a.created));
    if matches!(t.output, OutputFormat::Json) {
        let doc = json!({
            "store": store.describe(),
            "complete": complete.iter().map(|m| json!({
                "backup_id": m.backup_id, "runbook": m.runbook, "run_id": m.run_id,
                "created": m.created, "age_seconds": age_secs(&m.created),
                "objects": m.objects, "bytes": m.bytes,
                "encrypted": m.encrypted(),
            })).collect::<Vec<_>>(),
            "incomplete": incomplete.iter().map(|e| json!({
                "backup_id": e.id, "stored_objects": e.stored_keys, "stored_bytes": e.stored_bytes,
                "problem": e.problem,
            })).collect::<Vec<_>>(),
        });
        emit(out, &format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        return Ok(ExitCode::Success);
    }
    let mut text = String::new();
    if complete.is_empty() {
        text.push_str(&format!("no complete backups in {}\n", store.describe()));
    } else {
        let rows: Vec<[String; 6]> = complete
            .iter()
            .map(|m| {
                [
                    m.backup_id.clone(),
                    m.runbook.clone(),
                    m.created.clone(),
                    age_secs(&m.created).map_or("?".into(), human_age),
                    m.objects.to_string(),
                    human_bytes(m.bytes),
                ]
            })
            .collect();
        text.push_str(&table(
            ["ID", "RUNBOOK", "CREATED", "AGE", "OBJECTS", "SIZE"],
            &rows,
        ));
    }
    if !incomplete.is_empty() {
        text.push_str(&format!(
            "\nincomplete (no readable manifest; never restored): {}\n",
            incomplete.len()
        ));
        for e in &incomplete {
            let why = e
                .problem
                .clone()
                .unwrap_or_else(|| "no manifest.json".into());
            text.push_str(&format!(
                "  {}  {} objects, {}: {why}\n",
                e.id,
                e.stored_keys,
                human_bytes(e.stored_bytes)
            ));
        }
    }
    emit(out, &text)?;
    Ok(ExitCode::Success)
}

async fn show(t: &BackupsTarget, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let id = id_of(t, "show")?;
    let store = open(t).await?;
    let m = catalog::read(&store, id).await?;
    if matches!(t.output, OutputFormat::Json) {
        emit(out, &String::from_utf8_lossy(&m.to_json()))?;
        return Ok(ExitCode::Success);
    }
    let mut text = format!(
        "backup     {}\nstore      {}\nrunbook    {} (run {}, step {})\ncreated    {} ({} ago)\nsource     cluster {} (context {}, {})\nobjects    {}\nsize       {}\nencrypted  {}\nformat     {}\n\n",
        m.backup_id,
        store.describe(),
        m.runbook,
        m.run_id,
        m.step,
        m.created,
        age_secs(&m.created).map_or("?".into(), human_age),
        m.source.cluster,
        m.source.context,
        if m.source.server_version.is_empty() {
            "version unknown"
        } else {
            &m.source.server_version
        },
        m.objects,
        human_bytes(m.bytes),
        if m.encrypted() { "yes (age)" } else { "no" },
        m.format_version,
    );
    let rows: Vec<[String; 4]> = m
        .parts
        .iter()
        .map(|p| {
            [
                p.key.clone(),
                p.kind.clone(),
                p.objects.to_string(),
                human_bytes(p.bytes),
            ]
        })
        .collect();
    text.push_str(&table(["PART", "KIND", "OBJECTS", "SIZE"], &rows));
    emit(out, &text)?;
    Ok(ExitCode::Success)
}

async fn verify_backup(t: &BackupsTarget, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let id = id_of(t, "verify")?;
    let store = open(t).await?;
    let trust = Trust {
        key: match &t.public_key {
            Some(f) => Some(PublicKey::read(f).map_err(|e| Error::Usage(e.to_string()))?),
            None => None,
        },
        required: t.require_signature,
    };
    // The signature first: a manifest that fails it is not read further.
    let read = catalog::read_trusted(&store, id, &trust).await?;
    let m = read.manifest;
    let identities = match &t.identity {
        Some(f) => Some(Identities::from_file(f).map_err(Error::Usage)?),
        None => Identities::find(None).map_err(Error::Usage)?,
    };
    let checks = verify::verify_all(&store, &m, PARALLEL_CHECKS, identities.as_ref()).await?;
    let failed: Vec<&verify::PartCheck> = checks.iter().filter(|c| c.result.is_err()).collect();
    if matches!(t.output, OutputFormat::Json) {
        let doc = json!({
            "backup_id": m.backup_id,
            "ok": failed.is_empty(),
            "signature": read.signature.describe(),
            "parts": checks.iter().map(|c| json!({
                "key": c.key,
                "ok": c.result.is_ok(),
                "error": c.result.as_ref().err().map(ToString::to_string),
            })).collect::<Vec<_>>(),
        });
        emit(out, &format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
    } else {
        let mut text = format!("signature: {}\n", read.signature.describe());
        for c in &checks {
            match &c.result {
                Ok(()) => text.push_str(&format!("ok    {}\n", c.key)),
                Err(e) => text.push_str(&format!("FAIL  {}: {}\n", c.key, reason(e))),
            }
        }
        text.push_str(&format!(
            "backup {}: {} of {} parts verified ({} objects)\n",
            m.backup_id,
            checks.len() - failed.len(),
            checks.len(),
            m.objects
        ));
        emit(out, &text)?;
    }
    if let Some(first) = failed.first() {
        return Err(anyhow::anyhow!(
            "backup {} failed verification: {} of {} parts are damaged (first: {}); do not restore it",
            m.backup_id,
            failed.len(),
            checks.len(),
            first.key
        ));
    }
    Ok(ExitCode::Success)
}

async fn diff(d: &BackupsDiffArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = parse_store_url(&d.store).map_err(|e| Error::Usage(format!("--store: {e}")))?;
    let store = Store::open(&config).await?;
    let from = catalog::read(&store, &d.from).await?;
    let to = catalog::read(&store, &d.to).await?;
    let identities = match &d.identity {
        Some(f) => Some(Identities::from_file(f).map_err(Error::Usage)?),
        None => Identities::find(None).map_err(Error::Usage)?,
    };
    let result = archive::diff::diff(&store, &from, &to, identities.as_ref()).await?;
    let (added, removed, changed) = result.totals();
    if matches!(d.output, OutputFormat::Json) {
        let mut doc = serde_json::to_value(&result)?;
        doc["added"] = json!(added);
        doc["removed"] = json!(removed);
        doc["changed"] = json!(changed);
        emit(out, &format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        return Ok(ExitCode::Success);
    }
    let mut text = format!("backup {} -> backup {}\n", result.from, result.to);
    for kind in &result.kinds {
        text.push_str(&format!(
            "{}: {} added, {} removed, {} changed\n",
            kind.resource,
            kind.added.len(),
            kind.removed.len(),
            kind.changed.len()
        ));
        for name in &kind.added {
            text.push_str(&format!("  added    {name}\n"));
        }
        for name in &kind.removed {
            text.push_str(&format!("  removed  {name}\n"));
        }
        for c in &kind.changed {
            let more = if c.more > 0 {
                format!(" (and {} more)", c.more)
            } else {
                String::new()
            };
            text.push_str(&format!(
                "  changed  {}: {}{more}\n",
                c.name,
                c.fields.join(", ")
            ));
        }
    }
    text.push_str(&format!(
        "{added} added, {removed} removed, {changed} changed, {} unchanged\n",
        result.unchanged
    ));
    emit(out, &text)?;
    Ok(ExitCode::Success)
}

async fn delete(t: &BackupsTarget, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let id = id_of(t, "delete")?;
    if !layout::valid_id(id) {
        return Err(Error::Usage(format!("`{id}` is not a backup id")).into());
    }
    let store = open(t).await?;
    let keys = store.list(&layout::backup_dir(id)).await?;
    if keys.is_empty() {
        return Err(archive::ArchiveError::NotFound {
            id: id.to_string(),
            store: store.describe(),
        }
        .into());
    }
    // The manifest goes first: from then on the backup is incomplete, never restored.
    store.delete(&layout::manifest_key(id)).await?;
    let mut removed = 0usize;
    for k in keys.iter().filter(|k| k.key != layout::manifest_key(id)) {
        store.delete(&k.key).await?;
        removed += 1;
    }
    emit(
        out,
        &format!(
            "deleted backup {id} from {} (manifest and {removed} parts)\n",
            store.describe()
        ),
    )?;
    Ok(ExitCode::Success)
}

/// The part-level reason of a verification failure.
fn reason(e: &archive::ArchiveError) -> String {
    match e {
        archive::ArchiveError::Integrity { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

fn age_secs(created: &str) -> Option<u64> {
    Some(crate::clock::since(crate::clock::parse(created)?).as_secs())
}

fn human_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
