//! Pruning a store by retention rules (SPEC section 4): the backups of each runbook
//! (their manifest's `runbook`) are decided apart by `retention`, which never removes
//! a runbook's newest complete backup; a backup a live run is reading (named in its
//! lock's `reading`) is always kept. Incomplete backups (no manifest) are reported,
//! and removed only when asked and not written to for that long: a backup being
//! written right now is incomplete too, and so is one an interrupted prune left.
//! Removals go oldest first, each through `delete` (manifest first), and the readers
//! are asked again right before each one.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;

use super::ArchiveError;
use super::catalog::BackupEntry;
use super::delete::{self, Deleted};
use super::layout;
use super::retention::{self, Candidate, HumanDuration, Policy, PolicyError, Reason};
use crate::store::{Store, StoreError};

/// The backups being read (ids), each with the runs reading it (run ids).
pub type Readers = BTreeMap<String, BTreeSet<String>>;

/// What a prune removes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    /// The retention policy of complete backups; `None`: every complete backup is kept
    /// (a prune of incomplete backups only).
    pub policy: Option<Policy>,
    /// Only the backups of this runbook (an incomplete backup has no manifest to say
    /// whose it is: its id, `<runbook>-<run id>-<step>`, begins with the runbook's name).
    pub runbook: Option<String>,
    /// Remove incomplete backups whose newest object is older than this; `None`: keep
    /// every incomplete backup.
    pub incomplete_older_than: Option<Duration>,
}

/// Why a backup is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeepReason {
    /// A retention rule keeps it.
    Rule(Reason),
    /// A run holding a live lock is reading it.
    BeingRead { run_id: String },
    /// No retention rule was given for complete backups.
    NoRule,
    /// Its manifest's `completed` time cannot be read: it cannot be dated.
    Undated,
    /// It has a manifest that cannot be read (damaged, or of a newer format).
    UnreadableManifest(String),
    /// Its folder's name is not a backup id: not lifeboat's to remove.
    NotABackup,
    /// Incomplete, and removing incomplete backups was not asked.
    Incomplete,
    /// Incomplete, last written this long ago: it may still be being written.
    IncompleteRecent { age: Duration },
    /// Incomplete, and when it was last written is unknown.
    IncompleteUndated,
}

impl fmt::Display for KeepReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeepReason::Rule(reason) => reason.fmt(f),
            KeepReason::BeingRead { run_id } => write!(f, "being read by run {run_id}"),
            KeepReason::NoRule => f.write_str("no retention rule given"),
            KeepReason::Undated => f.write_str("its manifest's completion time cannot be read"),
            KeepReason::UnreadableManifest(problem) => f.write_str(problem),
            KeepReason::NotABackup => f.write_str("not named as a backup; left alone"),
            KeepReason::Incomplete => {
                f.write_str("incomplete (no manifest); removing incomplete backups was not asked")
            }
            KeepReason::IncompleteRecent { age } => write!(
                f,
                "incomplete, last written {} ago: it may still be being written",
                HumanDuration(*age)
            ),
            KeepReason::IncompleteUndated => {
                f.write_str("incomplete, and when it was last written is unknown")
            }
        }
    }
}

/// Why a backup is removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoveReason {
    /// Complete, and no retention rule keeps it.
    NoRuleKeeps,
    /// Incomplete, and last written `age` ago, longer than `limit`.
    IncompleteOlderThan { age: Duration, limit: Duration },
}

impl fmt::Display for RemoveReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoveReason::NoRuleKeeps => f.write_str("no rule keeps it"),
            RemoveReason::IncompleteOlderThan { age, limit } => write!(
                f,
                "incomplete, last written {} ago (more than {})",
                HumanDuration(*age),
                HumanDuration(*limit)
            ),
        }
    }
}

/// What happens to one backup.
#[derive(Debug)]
pub enum Verdict {
    /// Kept, with every reason.
    Keep(Vec<KeepReason>),
    /// To be removed (where a dry run stops).
    Remove(RemoveReason),
    /// Removed.
    Removed(RemoveReason, Deleted),
    /// Not removed, or removed only in part (the manifest first: then it is
    /// incomplete, and a later prune finishes it).
    Failed(RemoveReason, ArchiveError),
}

/// One backup and its verdict.
#[derive(Debug)]
pub struct BackupVerdict {
    pub id: String,
    pub complete: bool,
    /// When it completed (complete), or when its newest object was written (incomplete).
    pub time: Option<Timestamp>,
    /// Objects stored under its folder, and their bytes.
    pub stored_objects: usize,
    pub stored_bytes: u64,
    pub verdict: Verdict,
}

/// The complete backups of one runbook, newest first.
#[derive(Debug)]
pub struct RunbookBackups {
    pub runbook: String,
    pub backups: Vec<BackupVerdict>,
}

/// What a prune does to a store.
#[derive(Debug, Default)]
pub struct Plan {
    /// Per runbook, in name order.
    pub runbooks: Vec<RunbookBackups>,
    /// Backups without a readable manifest, newest first.
    pub incomplete: Vec<BackupVerdict>,
}

impl Plan {
    /// Every backup the prune looked at.
    pub fn backups(&self) -> impl Iterator<Item = &BackupVerdict> {
        self.runbooks
            .iter()
            .flat_map(|r| r.backups.iter())
            .chain(self.incomplete.iter())
    }

    fn backups_mut(&mut self) -> impl Iterator<Item = &mut BackupVerdict> {
        self.runbooks
            .iter_mut()
            .flat_map(|r| r.backups.iter_mut())
            .chain(self.incomplete.iter_mut())
    }

    /// The ids of the backups to remove (before `execute`) or removed (after).
    pub fn removed(&self) -> Vec<&str> {
        self.backups()
            .filter(|b| matches!(b.verdict, Verdict::Remove(_) | Verdict::Removed(..)))
            .map(|b| b.id.as_str())
            .collect()
    }

    /// The backups whose removal failed.
    pub fn failed(&self) -> Vec<&BackupVerdict> {
        self.backups()
            .filter(|b| matches!(b.verdict, Verdict::Failed(..)))
            .collect()
    }
}

/// Decides, as of `now`, what a prune of a store holding `entries` does under `rules`,
/// keeping what `readers` are reading.
pub fn plan(
    entries: &[BackupEntry],
    rules: &Rules,
    readers: &Readers,
    now: Timestamp,
) -> Result<Plan, PolicyError> {
    if let Some(policy) = &rules.policy {
        policy.validate()?;
    }
    let mut by_runbook: BTreeMap<&str, Vec<&BackupEntry>> = BTreeMap::new();
    let mut plan = Plan::default();
    for entry in entries {
        match &entry.manifest {
            Some(m) if rules.runbook.as_ref().is_none_or(|r| *r == m.runbook) => {
                by_runbook
                    .entry(m.runbook.as_str())
                    .or_default()
                    .push(entry);
            }
            Some(_) => {}
            None => {
                if let Some(judged) = judge_incomplete(entry, rules, readers, now) {
                    plan.incomplete.push(judged);
                }
            }
        }
    }
    for (runbook, entries) in by_runbook {
        plan.runbooks.push(RunbookBackups {
            runbook: runbook.to_string(),
            backups: judge_complete(&entries, rules.policy.as_ref(), readers, now)?,
        });
    }
    newest_first(&mut plan.incomplete);
    Ok(plan)
}

/// The complete backups of one runbook under `policy`.
fn judge_complete(
    entries: &[&BackupEntry],
    policy: Option<&Policy>,
    readers: &Readers,
    now: Timestamp,
) -> Result<Vec<BackupVerdict>, PolicyError> {
    let completed = |e: &BackupEntry| {
        e.manifest
            .as_ref()
            .and_then(|m| crate::clock::parse(&m.completed))
    };
    let candidates: Vec<Candidate> = entries
        .iter()
        .filter_map(|e| {
            Some(Candidate {
                id: e.id.clone(),
                completed: completed(e)?,
                complete: true,
            })
        })
        .collect();
    let mut rule_reasons: BTreeMap<String, Vec<KeepReason>> = BTreeMap::new();
    if let Some(policy) = policy {
        let decision = retention::decide(&candidates, policy, now)?;
        for (id, reasons) in decision.keep {
            rule_reasons.insert(id, reasons.into_iter().map(KeepReason::Rule).collect());
        }
    }
    let mut out: Vec<BackupVerdict> = entries
        .iter()
        .map(|e| {
            let time = completed(e);
            let mut reasons = match (policy, time) {
                (_, None) => vec![KeepReason::Undated],
                (None, Some(_)) => vec![KeepReason::NoRule],
                (Some(_), Some(_)) => rule_reasons.remove(&e.id).unwrap_or_default(),
            };
            reasons.extend(being_read(readers, &e.id));
            let verdict = if reasons.is_empty() {
                Verdict::Remove(RemoveReason::NoRuleKeeps)
            } else {
                Verdict::Keep(reasons)
            };
            verdict_of(e, true, time, verdict)
        })
        .collect();
    newest_first(&mut out);
    Ok(out)
}

/// A backup without a readable manifest, if `rules` look at it.
fn judge_incomplete(
    entry: &BackupEntry,
    rules: &Rules,
    readers: &Readers,
    now: Timestamp,
) -> Option<BackupVerdict> {
    let valid = layout::valid_id(&entry.id);
    if let Some(runbook) = &rules.runbook
        && !(valid && entry.id.starts_with(&format!("{runbook}-")))
    {
        return None;
    }
    let time = entry.modified.and_then(timestamp);
    let mut reasons = if !valid {
        vec![KeepReason::NotABackup]
    } else if let Some(problem) = &entry.problem {
        vec![KeepReason::UnreadableManifest(problem.clone())]
    } else {
        match (rules.incomplete_older_than, time) {
            (None, _) => vec![KeepReason::Incomplete],
            (Some(_), None) => vec![KeepReason::IncompleteUndated],
            (Some(limit), Some(time)) => {
                let age = age(now, time);
                if age > limit {
                    Vec::new()
                } else {
                    vec![KeepReason::IncompleteRecent { age }]
                }
            }
        }
    };
    reasons.extend(being_read(readers, &entry.id));
    let verdict = match (reasons.is_empty(), rules.incomplete_older_than, time) {
        (true, Some(limit), Some(time)) => Verdict::Remove(RemoveReason::IncompleteOlderThan {
            age: age(now, time),
            limit,
        }),
        _ => Verdict::Keep(reasons),
    };
    Some(verdict_of(entry, false, time, verdict))
}

fn verdict_of(
    entry: &BackupEntry,
    complete: bool,
    time: Option<Timestamp>,
    verdict: Verdict,
) -> BackupVerdict {
    BackupVerdict {
        id: entry.id.clone(),
        complete,
        time,
        stored_objects: entry.stored_keys,
        stored_bytes: entry.stored_bytes,
        verdict,
    }
}

fn being_read(readers: &Readers, id: &str) -> Vec<KeepReason> {
    readers
        .get(id)
        .into_iter()
        .flatten()
        .map(|run| KeepReason::BeingRead {
            run_id: run.clone(),
        })
        .collect()
}

/// Newest first; undated last; equal times by id, descending (as `retention` orders).
fn newest_first(backups: &mut [BackupVerdict]) {
    backups.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| b.id.cmp(&a.id)));
}

fn timestamp(t: SystemTime) -> Option<Timestamp> {
    Timestamp::try_from(t).ok()
}

/// How long before `now` `then` was (zero when after it).
fn age(now: Timestamp, then: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(then)).unwrap_or_default()
}

/// Removes what `plan` says to remove from `store`, oldest first. Right before each
/// removal, `readers_now` says who reads what: a backup being read now is kept after
/// all (`BeingRead`); when that cannot be told, the backup is not removed (`Failed`).
/// A failed removal does not stop the others.
pub async fn execute<F, Fut>(store: &Store, plan: &mut Plan, readers_now: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<Readers, StoreError>>,
{
    let mut planned: Vec<&mut BackupVerdict> = plan
        .backups_mut()
        .filter(|b| matches!(b.verdict, Verdict::Remove(_)))
        .collect();
    planned.sort_by(|a, b| a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id)));
    for backup in planned {
        let Verdict::Remove(reason) = backup.verdict else {
            continue;
        };
        let readers = match readers_now().await {
            Ok(readers) => readers,
            Err(e) => {
                backup.verdict = Verdict::Failed(reason, ArchiveError::Store(e));
                continue;
            }
        };
        let read = being_read(&readers, &backup.id);
        if !read.is_empty() {
            backup.verdict = Verdict::Keep(read);
            continue;
        }
        backup.verdict = match delete::delete_backup(store, &backup.id).await {
            Ok(deleted) => Verdict::Removed(reason, deleted),
            // Gone since it was listed (another prune): what was asked is done.
            Err(ArchiveError::NotFound { .. }) => Verdict::Removed(reason, Deleted::default()),
            Err(e) => Verdict::Failed(reason, e),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::Manifest;
    use crate::store::{PutMode, StoreConfig};

    const NOW: &str = "2026-12-31T12:00:00Z";

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn manifest(id: &str, runbook: &str, completed: &str) -> Manifest {
        let text = include_str!("../../tests/fixtures/backups-v1/backups/shop-v1/manifest.json");
        let mut m = Manifest::from_slice("shop-v1", text.as_bytes()).unwrap();
        m.backup_id = id.to_string();
        m.runbook = runbook.to_string();
        m.completed = completed.to_string();
        m
    }

    fn complete(id: &str, runbook: &str, completed: &str) -> BackupEntry {
        BackupEntry {
            id: id.to_string(),
            manifest: Some(manifest(id, runbook, completed)),
            stored_keys: 3,
            stored_bytes: 30,
            modified: None,
            problem: None,
        }
    }

    fn incomplete(id: &str, written: &str) -> BackupEntry {
        BackupEntry {
            id: id.to_string(),
            manifest: None,
            stored_keys: 2,
            stored_bytes: 20,
            modified: Some(SystemTime::from(at(written))),
            problem: None,
        }
    }

    fn keep_last(n: u32) -> Rules {
        Rules {
            policy: Some(Policy {
                keep_last: Some(n),
                ..Policy::default()
            }),
            ..Rules::default()
        }
    }

    /// `id: keep (reasons)` or `id: remove (why)`, in the plan's order.
    fn shown(backups: &[BackupVerdict]) -> Vec<String> {
        backups
            .iter()
            .map(|b| match &b.verdict {
                Verdict::Keep(reasons) => format!(
                    "{}: keep ({})",
                    b.id,
                    reasons
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
                Verdict::Remove(why) => format!("{}: remove ({why})", b.id),
                Verdict::Removed(why, d) => format!("{}: removed ({why}; {})", b.id, d.objects()),
                Verdict::Failed(why, e) => format!("{}: failed ({why}: {e})", b.id),
            })
            .collect()
    }

    #[test]
    fn each_runbook_is_decided_apart_and_keeps_its_newest() {
        let entries = [
            complete("shop-1", "shop", "2026-12-01T00:00:00Z"),
            complete("shop-2", "shop", "2026-12-02T00:00:00Z"),
            complete("shop-3", "shop", "2026-12-03T00:00:00Z"),
            complete("db-1", "db", "2026-11-01T00:00:00Z"),
        ];
        let plan = plan(&entries, &keep_last(2), &Readers::new(), at(NOW)).unwrap();
        let names: Vec<&str> = plan.runbooks.iter().map(|r| r.runbook.as_str()).collect();
        assert_eq!(names, ["db", "shop"]);
        assert_eq!(shown(&plan.runbooks[0].backups), ["db-1: keep (last 1)"]);
        assert_eq!(
            shown(&plan.runbooks[1].backups),
            [
                "shop-3: keep (last 1)",
                "shop-2: keep (last 2)",
                "shop-1: remove (no rule keeps it)"
            ]
        );
        assert_eq!(plan.removed(), ["shop-1"]);
    }

    #[test]
    fn a_backup_being_read_is_kept_with_the_run_that_reads_it() {
        let entries = [
            complete("shop-1", "shop", "2026-12-01T00:00:00Z"),
            complete("shop-2", "shop", "2026-12-02T00:00:00Z"),
            complete("shop-3", "shop", "2026-12-03T00:00:00Z"),
        ];
        let readers = Readers::from([
            ("shop-1".to_string(), BTreeSet::from(["run-7".to_string()])),
            ("shop-3".to_string(), BTreeSet::from(["run-8".to_string()])),
        ]);
        let plan = plan(&entries, &keep_last(1), &readers, at(NOW)).unwrap();
        assert_eq!(
            shown(&plan.runbooks[0].backups),
            [
                "shop-3: keep (last 1; being read by run run-8)",
                "shop-2: remove (no rule keeps it)",
                "shop-1: keep (being read by run run-7)"
            ]
        );
    }

    #[test]
    fn the_only_complete_backup_stays_whatever_the_rules() {
        let entries = [
            complete("shop-1", "shop", "2020-01-01T00:00:00Z"),
            incomplete("shop-2", "2026-12-31T11:00:00Z"),
        ];
        let rules = Rules {
            policy: Some(Policy {
                max_age: Some(Duration::from_secs(60)),
                ..Policy::default()
            }),
            ..Rules::default()
        };
        let plan = plan(&entries, &rules, &Readers::new(), at(NOW)).unwrap();
        assert_eq!(
            shown(&plan.runbooks[0].backups),
            ["shop-1: keep (the only complete backup)"]
        );
        assert_eq!(
            shown(&plan.incomplete),
            ["shop-2: keep (incomplete (no manifest); removing incomplete backups was not asked)"]
        );
        assert!(plan.removed().is_empty());
    }

    #[test]
    fn incomplete_backups_go_only_when_asked_and_old_enough() {
        let entries = [
            complete("shop-1", "shop", "2026-12-01T00:00:00Z"),
            incomplete("shop-old", "2026-12-29T12:00:00Z"),
            incomplete("shop-now", "2026-12-31T11:59:00Z"),
            incomplete("shop-read", "2026-12-01T00:00:00Z"),
            incomplete("other-old", "2026-12-01T00:00:00Z"),
            BackupEntry {
                problem: Some("backup shop-new has format version 9".into()),
                ..incomplete("shop-new", "2026-01-01T00:00:00Z")
            },
            incomplete("not a backup", "2026-01-01T00:00:00Z"),
        ];
        let readers = Readers::from([(
            "shop-read".to_string(),
            BTreeSet::from(["run-1".to_string()]),
        )]);
        let rules = Rules {
            incomplete_older_than: Some(Duration::from_secs(86_400)),
            runbook: Some("shop".into()),
            policy: None,
        };
        let plan = plan(&entries, &rules, &readers, at(NOW)).unwrap();
        assert_eq!(
            shown(&plan.runbooks[0].backups),
            ["shop-1: keep (no retention rule given)"]
        );
        assert_eq!(
            shown(&plan.incomplete),
            [
                "shop-now: keep (incomplete, last written 1m ago: it may still be being written)",
                "shop-old: remove (incomplete, last written 2d ago (more than 1d))",
                "shop-read: keep (being read by run run-1)",
                "shop-new: keep (backup shop-new has format version 9)",
            ]
        );
        // Without --runbook, every folder is looked at; one that is no backup stays.
        let everything = Rules {
            runbook: None,
            ..rules
        };
        let plan = super::plan(&entries, &everything, &readers, at(NOW)).unwrap();
        assert_eq!(plan.removed(), ["shop-old", "other-old"]);
        assert!(
            shown(&plan.incomplete)
                .contains(&"not a backup: keep (not named as a backup; left alone)".to_string())
        );
    }

    #[test]
    fn an_undated_manifest_is_never_removed_and_bad_policies_are_refused() {
        let entries = [
            complete("shop-1", "shop", "yesterday"),
            complete("shop-2", "shop", "2026-12-02T00:00:00Z"),
        ];
        let plan = plan(&entries, &keep_last(1), &Readers::new(), at(NOW)).unwrap();
        assert_eq!(
            shown(&plan.runbooks[0].backups),
            [
                "shop-2: keep (last 1)",
                "shop-1: keep (its manifest's completion time cannot be read)"
            ]
        );
        let refused = super::plan(&entries, &keep_last(0), &Readers::new(), at(NOW));
        assert!(
            matches!(refused, Err(PolicyError::Zero { .. })),
            "{refused:?}"
        );
    }

    async fn folder_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::Fs {
            root: dir.path().to_path_buf(),
        })
        .await
        .unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn removals_ask_the_readers_again_and_go_manifest_first() {
        let (_dir, store) = folder_store().await;
        for id in ["shop-1", "shop-2", "shop-3"] {
            for key in ["manifest.json", "resources/core/v1/configmaps.jsonl.zst"] {
                let put = store
                    .put(
                        &format!("backups/{id}/{key}"),
                        b"x".to_vec(),
                        PutMode::Overwrite,
                    )
                    .await;
                assert!(put.is_ok(), "{put:?}");
            }
        }
        let entries = [
            complete("shop-1", "shop", "2026-12-01T00:00:00Z"),
            complete("shop-2", "shop", "2026-12-02T00:00:00Z"),
            complete("shop-3", "shop", "2026-12-03T00:00:00Z"),
        ];
        let mut plan = plan(&entries, &keep_last(1), &Readers::new(), at(NOW)).unwrap();
        assert_eq!(plan.removed(), ["shop-2", "shop-1"]);
        // A restore started reading shop-2 after the plan was made.
        let asked = std::sync::atomic::AtomicUsize::new(0);
        execute(&store, &mut plan, || {
            asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            async {
                Ok(Readers::from([(
                    "shop-2".to_string(),
                    BTreeSet::from(["late".to_string()]),
                )]))
            }
        })
        .await;
        assert_eq!(asked.into_inner(), 2);
        assert_eq!(
            shown(&plan.runbooks[0].backups),
            [
                "shop-3: keep (last 1)",
                "shop-2: keep (being read by run late)",
                "shop-1: removed (no rule keeps it; 2)"
            ]
        );
        let left: Vec<String> = store
            .list("backups/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(
            left,
            [
                "backups/shop-2/manifest.json",
                "backups/shop-2/resources/core/v1/configmaps.jsonl.zst",
                "backups/shop-3/manifest.json",
                "backups/shop-3/resources/core/v1/configmaps.jsonl.zst",
            ]
        );
        assert!(plan.failed().is_empty());
    }

    #[tokio::test]
    async fn nothing_is_removed_when_the_readers_cannot_be_told() {
        let (_dir, store) = folder_store().await;
        let put = store
            .put(
                "backups/shop-1/manifest.json",
                b"x".to_vec(),
                PutMode::Overwrite,
            )
            .await;
        assert!(put.is_ok(), "{put:?}");
        let entries = [
            complete("shop-1", "shop", "2026-12-01T00:00:00Z"),
            complete("shop-2", "shop", "2026-12-02T00:00:00Z"),
        ];
        let mut plan = plan(&entries, &keep_last(1), &Readers::new(), at(NOW)).unwrap();
        execute(&store, &mut plan, || async {
            Err(StoreError::Config("no locks today".into()))
        })
        .await;
        assert_eq!(plan.failed().len(), 1);
        assert!(
            store
                .head("backups/shop-1/manifest.json")
                .await
                .unwrap()
                .is_some()
        );
    }
}
