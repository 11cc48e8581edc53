//! `lifeboat backups list|show|verify|delete|diff|prune --store URL`: what is in a
//! store, one backup's manifest, re-checking every part of a backup, deleting one
//! (manifest first, so a half-deleted backup is never taken for a complete one), what
//! changed between two, and removing those no retention rule keeps.

use std::io::Write;
use std::time::Duration;

use serde_json::{Value, json};

use super::table::table;
use super::{
    BackupsCommand, BackupsDeleteArgs, BackupsDiffArgs, BackupsPruneArgs, BackupsTarget,
    OutputFormat, emit,
};
use crate::archive::crypt::Identities;
use crate::archive::prune::{self, BackupVerdict, Plan, Rules, Verdict};
use crate::archive::retention::{Policy, PolicyError};
use crate::archive::signature::{PublicKey, Trust};
use crate::archive::{self, Manifest, catalog, delete, layout, verify};
use crate::error::{Error, ExitCode};
use crate::runbook::model::Duration as RunbookDuration;
use crate::store::{Store, StoreConfig, parse_store_url};

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
            BackupsCommand::Delete(args) => delete(args, out).await,
            BackupsCommand::Diff(d) => diff(d, out).await,
            BackupsCommand::Prune(p) => prune_store(p, out).await,
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

/// What `backups diff` compares the first backup with.
enum DiffWith<'a> {
    Backup(&'a str),
    /// A kubeconfig context's live state.
    Cluster(&'a str),
}

async fn diff(d: &BackupsDiffArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = parse_store_url(&d.store).map_err(|e| Error::Usage(format!("--store: {e}")))?;
    let store = Store::open(&config).await?;
    let against = match (&d.to, &d.cluster) {
        (Some(to), None) => DiffWith::Backup(to),
        (None, Some(context)) => DiffWith::Cluster(context),
        _ => {
            return Err(Error::Usage(
                "give either a second backup or `--cluster CONTEXT` (the live state), not both"
                    .into(),
            )
            .into());
        }
    };
    let from = catalog::read(&store, &d.from).await?;
    let identities = match &d.identity {
        Some(f) => Some(Identities::from_file(f).map_err(Error::Usage)?),
        None => Identities::find(None).map_err(Error::Usage)?,
    };
    let result = match against {
        DiffWith::Backup(to) => {
            let to = catalog::read(&store, to).await?;
            archive::diff::diff(&store, &from, &to, identities.as_ref()).await?
        }
        DiffWith::Cluster(context) => {
            let cluster = crate::runbook::model::Cluster {
                context: Some(context.to_string()),
                kubeconfig: d.kubeconfig.as_ref().map(|k| {
                    crate::runbook::de::Spanned::new(
                        k.to_string_lossy().into_owned(),
                        Default::default(),
                    )
                }),
                sandbox: None,
                requests: None,
            };
            let here = std::env::current_dir()?;
            let conn = crate::cluster::ClusterConn::connect(context, &cluster, &here).await?;
            crate::drift::live::diff_live(&store, &from, &conn, context, identities.as_ref())
                .await?
        }
    };
    let (added, removed, changed) = result.totals();
    if matches!(d.output, OutputFormat::Json) {
        let mut doc = serde_json::to_value(&result)?;
        doc["added"] = json!(added);
        doc["removed"] = json!(removed);
        doc["changed"] = json!(changed);
        emit(out, &format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        return Ok(ExitCode::Success);
    }
    let to = if d.cluster.is_some() {
        result.to.clone()
    } else {
        format!("backup {}", result.to)
    };
    let mut text = format!("backup {} -> {to}\n", result.from);
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

async fn delete(args: &BackupsDeleteArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let t = &args.target;
    let id = id_of(t, "delete")?;
    if !layout::valid_id(id) {
        return Err(Error::Usage(format!("`{id}` is not a backup id")).into());
    }
    let store = open(t).await?;
    // A backup a live run reads (its lock beside the backups, or its reader lease) is
    // kept, as a prune keeps it: deleting it would fail that restore half way.
    if !args.force {
        let readers = readers_of(&store, std::slice::from_ref(&store)).await?;
        if let Some(runs) = readers.get(id).filter(|runs| !runs.is_empty()) {
            let runs: Vec<&str> = runs.iter().map(String::as_str).collect();
            return Err(Error::Locked(format!(
                "backup {id} is being read by run {}; delete it once that run ends (`lifeboat status RUN_ID` tells), or with --force to fail that run",
                runs.join(", run ")
            ))
            .into());
        }
    }
    // The manifest goes first: from then on the backup is incomplete, never restored.
    let deleted = delete::delete_backup(&store, id).await?;
    emit(
        out,
        &format!(
            "deleted backup {id} from {} (manifest and {} parts)\n",
            store.describe(),
            deleted.others
        ),
    )?;
    Ok(ExitCode::Success)
}

/// `backups prune`, its flags checked once (a bad one is a usage error, exit 2).
struct PruneSettings {
    store: StoreConfig,
    rules: Rules,
    /// Where else runs keep their locks (`--state`).
    states: Vec<StoreConfig>,
    dry_run: bool,
    output: OutputFormat,
}

impl PruneSettings {
    fn from_args(args: &BackupsPruneArgs) -> Result<PruneSettings, Error> {
        let store =
            parse_store_url(&args.store).map_err(|e| Error::Usage(format!("--store: {e}")))?;
        let states = args
            .states
            .iter()
            .map(|s| parse_store_url(s).map_err(|e| Error::Usage(format!("--state {s}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let policy = Policy {
            keep_last: args.keep_last,
            keep_daily: args.keep_daily,
            keep_weekly: args.keep_weekly,
            keep_monthly: args.keep_monthly,
            max_age: duration_flag("max-age", args.max_age.as_deref())?,
        };
        let incomplete_older_than = duration_flag(
            "incomplete-older-than",
            args.incomplete_older_than.as_deref(),
        )?;
        if incomplete_older_than == Some(Duration::ZERO) {
            return Err(Error::Usage(
                "--incomplete-older-than must be longer than zero: a backup being written right now is incomplete too".into(),
            ));
        }
        if args.runbook.as_deref() == Some("") {
            return Err(Error::Usage("--runbook needs a runbook name".into()));
        }
        let policy = if policy.is_empty() {
            if incomplete_older_than.is_none() {
                return Err(Error::Usage(
                    "nothing to prune by: give at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly, --max-age (or only --incomplete-older-than, to remove incomplete backups alone)".into(),
                ));
            }
            None
        } else {
            policy
                .validate()
                .map_err(|e| Error::Usage(flag_words(&e)))?;
            Some(policy)
        };
        Ok(PruneSettings {
            store,
            rules: Rules {
                policy,
                runbook: args.runbook.clone(),
                incomplete_older_than,
            },
            states,
            dry_run: args.dry_run,
            output: args.output,
        })
    }
}

/// A duration flag, in the runbooks' grammar (`30d`, `12h`).
fn duration_flag(flag: &str, value: Option<&str>) -> Result<Option<Duration>, Error> {
    value
        .map(|v| {
            RunbookDuration::parse(v)
                .map(|d| d.0)
                .map_err(|e| Error::Usage(format!("--{flag}: {}", e.replace('\n', ": "))))
        })
        .transpose()
}

/// A policy's problem in the words of the command line.
fn flag_words(e: &PolicyError) -> String {
    match e {
        PolicyError::Zero { field, by } => format!(
            "--{} must be at least 1; leave it out to not keep by {by}",
            field.replace('_', "-")
        ),
        PolicyError::ZeroMaxAge => {
            "--max-age must be longer than zero; leave it out to not keep by age".into()
        }
        PolicyError::Empty => e.to_string(),
    }
}

/// Who reads which backup of `store`: the live run locks in `lock_stores` and the
/// reader leases beside the backups.
async fn readers_of(
    store: &Store,
    lock_stores: &[Store],
) -> Result<prune::Readers, crate::store::StoreError> {
    let mut readers = crate::journal::backups_being_read(lock_stores).await?;
    crate::archive::reader_lease::add_live(store, &mut readers).await?;
    Ok(readers)
}

async fn prune_store(args: &BackupsPruneArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let settings = PruneSettings::from_args(args)?;
    let store = Store::open(&settings.store).await?;
    // Runs keep their locks beside the backups (the usual setup) or where --state says.
    let mut lock_stores = vec![store.clone()];
    for state in &settings.states {
        lock_stores.push(Store::open(state).await?);
    }
    let entries = catalog::list(&store).await?;
    let readers = readers_of(&store, &lock_stores).await?;
    let mut plan = prune::plan(&entries, &settings.rules, &readers, crate::clock::now())
        .map_err(|e| Error::Usage(flag_words(&e)))?;
    if !settings.dry_run {
        prune::execute(&store, &mut plan, || readers_of(&store, &lock_stores)).await;
    }
    let text = match settings.output {
        OutputFormat::Json => format!(
            "{}\n",
            serde_json::to_string_pretty(&prune_json(&plan, &settings, &store))?
        ),
        OutputFormat::Human => prune_text(&plan, &settings, &store),
    };
    emit(out, &text)?;
    let failed = plan.failed();
    if let Some(first) = failed.first() {
        let error = match &first.verdict {
            Verdict::Failed(_, e) => e.to_string(),
            _ => String::new(),
        };
        return Err(anyhow::anyhow!(
            "failed to remove {} of {} backups from {} (first: backup {}: {error}); run the prune again: a backup whose manifest is gone is incomplete, and --incomplete-older-than removes it",
            failed.len(),
            failed.len() + plan.removed().len(),
            store.describe(),
            first.id
        ));
    }
    Ok(ExitCode::Success)
}

/// The rules as given, in words (`keep_last 3, max_age 30d`).
fn rules_text(rules: &Rules) -> String {
    let mut parts = Vec::new();
    if let Some(p) = &rules.policy {
        for (name, value) in [
            ("keep_last", p.keep_last),
            ("keep_daily", p.keep_daily),
            ("keep_weekly", p.keep_weekly),
            ("keep_monthly", p.keep_monthly),
        ] {
            if let Some(n) = value {
                parts.push(format!("{name} {n}"));
            }
        }
        if let Some(age) = p.max_age {
            parts.push(format!("max_age {}", RunbookDuration(age)));
        }
    }
    if let Some(age) = rules.incomplete_older_than {
        parts.push(format!("incomplete older than {}", RunbookDuration(age)));
    }
    parts.join(", ")
}

fn prune_text(plan: &Plan, settings: &PruneSettings, store: &Store) -> String {
    let dry = settings.dry_run;
    let mut text = format!(
        "pruning {}{} by {}{}\n",
        store.describe(),
        settings
            .rules
            .runbook
            .as_ref()
            .map(|r| format!(" (runbook {r})"))
            .unwrap_or_default(),
        rules_text(&settings.rules),
        if dry {
            " (dry run: nothing is deleted)"
        } else {
            ""
        }
    );
    let rows = |backups: &[BackupVerdict]| -> Vec<[String; 4]> {
        backups
            .iter()
            .map(|b| {
                let (what, why) = verdict_words(&b.verdict, dry);
                let time = b
                    .time
                    .map(crate::clock::seconds)
                    .unwrap_or_else(|| "?".into());
                [what, b.id.clone(), time, why]
            })
            .collect()
    };
    if plan.runbooks.is_empty() {
        text.push_str("no complete backups\n");
    }
    for runbook in &plan.runbooks {
        let going = runbook
            .backups
            .iter()
            .filter(|b| !matches!(b.verdict, Verdict::Keep(_)))
            .count();
        text.push_str(&format!(
            "\nrunbook {}: {} complete backups, {} kept, {going} {}\n",
            runbook.runbook,
            runbook.backups.len(),
            runbook.backups.len() - going,
            if dry { "to remove" } else { "removed" }
        ));
        text.push_str(&table(
            ["", "BACKUP", "COMPLETED", "WHY"],
            &rows(&runbook.backups),
        ));
    }
    if !plan.incomplete.is_empty() {
        text.push_str(&format!(
            "\nincomplete (no readable manifest; never restored): {}\n",
            plan.incomplete.len()
        ));
        text.push_str(&table(
            ["", "BACKUP", "LAST WRITTEN", "WHY"],
            &rows(&plan.incomplete),
        ));
        if settings.rules.incomplete_older_than.is_none() {
            text.push_str(
                "incomplete backups are kept: --incomplete-older-than DURATION removes those not written to for that long (a backup being written now is incomplete too)\n",
            );
        }
    }
    let removed: Vec<&BackupVerdict> = plan
        .backups()
        .filter(|b| matches!(b.verdict, Verdict::Remove(_) | Verdict::Removed(..)))
        .collect();
    let kept = plan
        .backups()
        .filter(|b| matches!(b.verdict, Verdict::Keep(_)))
        .count();
    let bytes: u64 = removed.iter().map(|b| b.stored_bytes).sum();
    text.push_str(&if dry {
        format!(
            "\ndry run: would remove {} backups ({}), keep {kept}; nothing was deleted\n",
            removed.len(),
            human_bytes(bytes)
        )
    } else {
        format!(
            "\nremoved {} backups ({}), kept {kept}{}\n",
            removed.len(),
            human_bytes(bytes),
            match plan.failed().len() {
                0 => String::new(),
                n => format!(", {n} failed"),
            }
        )
    });
    text
}

/// What happens to a backup, and why, in the words of the table.
fn verdict_words(verdict: &Verdict, dry: bool) -> (String, String) {
    match verdict {
        Verdict::Keep(reasons) => (
            "keep".into(),
            reasons
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Verdict::Remove(why) if dry => ("would remove".into(), why.to_string()),
        Verdict::Remove(why) => ("remove".into(), why.to_string()),
        Verdict::Removed(why, deleted) => (
            "removed".into(),
            format!(
                "{why} ({} object{}, manifest first)",
                deleted.objects(),
                if deleted.objects() == 1 { "" } else { "s" }
            ),
        ),
        Verdict::Failed(why, e) => ("FAILED".into(), format!("{why}; not removed: {e}")),
    }
}

fn prune_json(plan: &Plan, settings: &PruneSettings, store: &Store) -> Value {
    let backup = |b: &BackupVerdict| {
        let time = if b.complete {
            "completed"
        } else {
            "last_written"
        };
        let mut doc = json!({
            "backup_id": b.id,
            time: b.time.map(crate::clock::seconds),
            "stored_objects": b.stored_objects,
            "stored_bytes": b.stored_bytes,
        });
        let (decision, reasons, deleted) = match &b.verdict {
            Verdict::Keep(reasons) => (
                "keep",
                reasons.iter().map(ToString::to_string).collect(),
                None,
            ),
            Verdict::Remove(why) => ("remove", vec![why.to_string()], None),
            Verdict::Removed(why, d) => ("remove", vec![why.to_string()], Some(d.objects())),
            Verdict::Failed(why, e) => {
                doc["error"] = json!(e.to_string());
                ("remove", vec![why.to_string()], None)
            }
        };
        doc["decision"] = json!(decision);
        doc["reasons"] = json!(reasons);
        doc["deleted"] = json!(deleted.is_some());
        if let Some(n) = deleted {
            doc["deleted_objects"] = json!(n);
        }
        doc
    };
    let rules = &settings.rules;
    let policy = rules.policy.clone().unwrap_or_default();
    json!({
        "store": store.describe(),
        "dry_run": settings.dry_run,
        "rules": {
            "keep_last": policy.keep_last,
            "keep_daily": policy.keep_daily,
            "keep_weekly": policy.keep_weekly,
            "keep_monthly": policy.keep_monthly,
            "max_age": policy.max_age.map(|d| RunbookDuration(d).to_string()),
            "runbook": rules.runbook,
            "incomplete_older_than": rules.incomplete_older_than.map(|d| RunbookDuration(d).to_string()),
        },
        "runbooks": plan.runbooks.iter().map(|r| json!({
            "runbook": r.runbook,
            "backups": r.backups.iter().map(backup).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "incomplete": plan.incomplete.iter().map(backup).collect::<Vec<_>>(),
        "kept": plan.backups().filter(|b| matches!(b.verdict, Verdict::Keep(_))).count(),
        "removed": plan.removed().len(),
        "failed": plan.failed().len(),
    })
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
