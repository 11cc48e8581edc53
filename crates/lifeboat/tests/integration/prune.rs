//! Retention: `lifeboat backups prune` and a backup step's `retention`, against a local
//! folder store and the real S3 server. The backups pruned are copies of a real stored
//! backup (`tests/fixtures/backups-v1`: its parts as lifeboat wrote them) under new
//! ids, each manifest given its runbook and a chosen `completed` time; the step's
//! retention runs after real backups of a sandbox cluster. What is left is read with
//! the real `aws` CLI and checked with `backups verify`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
#[cfg(feature = "crash-points")]
use std::time::Duration;
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::backup_restore::{Bucket, app_cluster, backups, outputs, run_json, runbook_with_store};
use crate::harness::{Test, path};
use crate::s3_server::aws;

/// The stored version-1 backup every crafted backup copies.
const STORED: &str = "crates/lifeboat/tests/fixtures/backups-v1/backups/shop-v1";

/// Writes a copy of the stored backup into the folder store at `store` as backup `id`
/// of `runbook`, completed at `completed` (RFC 3339): the same parts, its manifest
/// naming the new id, runbook and time.
fn craft(store: &Path, runbook: &str, id: &str, completed: &str) {
    let from = path(STORED);
    let to = store.join("backups").join(id);
    for file in files_under(&from) {
        let target = to.join(&file);
        std::fs::create_dir_all(target.parent().unwrap_or(&to)).unwrap_or_else(|e| panic!("{e}"));
        std::fs::copy(from.join(&file), &target).unwrap_or_else(|e| panic!("{e}"));
    }
    let manifest = to.join("manifest.json");
    let mut m: Value = serde_json::from_slice(&std::fs::read(&manifest).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    m["backup_id"] = json!(id);
    m["runbook"] = json!(runbook);
    m["run_id"] = json!(format!("run-of-{id}"));
    m["created"] = json!(completed);
    m["completed"] = json!(completed);
    std::fs::write(&manifest, serde_json::to_vec_pretty(&m).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Every file under `dir`, relative to it, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, rel: &str, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if entry.path().is_dir() {
                walk(&entry.path(), &rel, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out);
    out.sort();
    out
}

/// Every file of a folder store with its bytes: to tell that nothing changed.
fn contents(store: &Path) -> BTreeMap<String, Vec<u8>> {
    files_under(store)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(store.join(&f)).unwrap_or_default();
            (f, bytes)
        })
        .collect()
}

/// The files of backup `id` in a folder store.
fn backup_files(store: &Path, id: &str) -> Vec<String> {
    files_under(&store.join("backups").join(id))
}

/// A lock as a live run of another runbook leaves it (its lease ends in an hour),
/// naming the backups it reads.
fn lock_reading(state: &Path, runbook: &str, run_id: &str, reading: &[&str]) -> PathBuf {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let lock = json!({
        "runbook": runbook,
        "run_id": run_id,
        "host": "restore-host",
        "pid": 4242,
        "since": "2026-12-01T00:00:00Z",
        "expires": now + 3600,
        "token": format!("{run_id}/4242/1"),
        "reading": reading,
    });
    let file = state.join("locks").join(format!("{runbook}.json"));
    std::fs::create_dir_all(state.join("locks")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&file, serde_json::to_vec_pretty(&lock).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    file
}

/// `lifeboat backups prune ARGS --output json`, expecting exit 0.
fn prune_json(args: &[&str]) -> Value {
    let out = backups(&["prune"])
        .args(args.iter().copied())
        .args(["--output", "json"])
        .run();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// The entry of backup `id` in a prune's JSON document.
fn entry(doc: &Value, id: &str) -> Value {
    doc["runbooks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["backups"].as_array().cloned().unwrap_or_default())
        .chain(doc["incomplete"].as_array().cloned().unwrap_or_default())
        .find(|b| b["backup_id"] == id)
        .unwrap_or_else(|| panic!("no backup {id} in {doc:#}"))
}

fn decision(doc: &Value, id: &str) -> (String, Vec<String>) {
    let b = entry(doc, id);
    let reasons = b["reasons"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    (
        b["decision"].as_str().unwrap_or_default().to_string(),
        reasons,
    )
}

fn verify_whole(store: &str, id: &str) {
    backups(&["verify", "--store", store, id])
        .stdout_contains("6 of 6 parts verified")
        .run();
}

#[test]
fn prune_keeps_what_any_rule_keeps_per_runbook_and_a_dry_run_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("vault");
    for (id, completed) in [
        ("shop-oct", "2026-10-20T03:00:00Z"),
        ("shop-nov-a", "2026-11-10T03:00:00Z"),
        ("shop-nov-b", "2026-11-25T03:00:00Z"),
        ("shop-dec-a", "2026-12-01T03:00:00Z"),
        ("shop-dec-b", "2026-12-02T03:00:00Z"),
    ] {
        craft(&store, "shop", id, completed);
    }
    // Another runbook's only backup, far older than any rule keeps.
    craft(&store, "db", "db-2020", "2020-01-01T00:00:00Z");
    let url = store.to_string_lossy().into_owned();
    let rules = ["--keep-last", "1", "--keep-monthly", "2"];

    let before = contents(&store);
    let dry = backups(&["prune", "--store", &url, "--dry-run"])
        .args(rules)
        .stdout_contains("dry run: nothing is deleted")
        .stdout_contains("would remove  shop-nov-a")
        .stdout_contains("dry run: would remove 3 backups")
        .run();
    assert!(!dry.stdout.contains("removed "), "{}", dry.stdout);
    assert_eq!(contents(&store), before, "a dry run changed the store");

    let doc = prune_json(&[&["--store", url.as_str()][..], &rules[..]].concat());
    assert_eq!(doc["dry_run"], false);
    assert_eq!(
        decision(&doc, "shop-dec-b"),
        (
            "keep".into(),
            vec!["last 1".into(), "monthly 2026-12".into()]
        )
    );
    assert_eq!(
        decision(&doc, "shop-nov-b"),
        ("keep".into(), vec!["monthly 2026-11".into()])
    );
    for id in ["shop-dec-a", "shop-nov-a", "shop-oct"] {
        assert_eq!(
            decision(&doc, id),
            ("remove".into(), vec!["no rule keeps it".into()])
        );
        assert_eq!(entry(&doc, id)["deleted"], true);
        assert_eq!(entry(&doc, id)["deleted_objects"], 7);
        assert!(
            backup_files(&store, id).is_empty(),
            "{id}: {:?}",
            backup_files(&store, id)
        );
    }
    // Each runbook is decided apart: the only backup of `db` stays.
    assert_eq!(
        decision(&doc, "db-2020"),
        (
            "keep".into(),
            vec!["last 1".into(), "monthly 2020-01".into()]
        )
    );
    assert_eq!(
        (doc["kept"].as_u64(), doc["removed"].as_u64()),
        (Some(3), Some(3))
    );
    for id in ["shop-dec-b", "shop-nov-b", "db-2020"] {
        verify_whole(&url, id);
    }

    // max_age alone would drop every backup here: each runbook keeps its newest.
    let doc = prune_json(&["--store", &url, "--max-age", "1d", "--runbook", "db"]);
    assert_eq!(
        decision(&doc, "db-2020"),
        ("keep".into(), vec!["the only complete backup".into()])
    );
    assert_eq!(doc["runbooks"].as_array().map(Vec::len), Some(1), "{doc:#}");
    verify_whole(&url, "db-2020");
}

#[test]
fn bad_prune_flags_are_usage_errors_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("vault");
    craft(&store, "shop", "shop-1", "2026-12-01T00:00:00Z");
    craft(&store, "shop", "shop-2", "2026-12-02T00:00:00Z");
    let url = store.to_string_lossy().into_owned();
    let before = contents(&store);
    for (args, said) in [
        (vec![], "nothing to prune by"),
        (vec!["--keep-daily", "0"], "--keep-daily must be at least 1"),
        (
            vec!["--max-age", "0s"],
            "--max-age must be longer than zero",
        ),
        (vec!["--max-age", "3 weeks"], "--max-age: invalid duration"),
        (
            vec!["--keep-last", "2", "--incomplete-older-than", "2"],
            "the number has no unit",
        ),
        (vec!["--keep-last", "many"], "invalid value 'many'"),
    ] {
        backups(&["prune", "--store", &url])
            .args(args)
            .status(2)
            .stderr_contains(said)
            .run();
    }
    assert_eq!(contents(&store), before);
}

#[test]
fn a_backup_a_live_run_reads_is_kept_wherever_that_run_keeps_its_lock() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("vault");
    for (id, completed) in [
        ("shop-1", "2026-12-01T00:00:00Z"),
        ("shop-2", "2026-12-02T00:00:00Z"),
        ("shop-3", "2026-12-03T00:00:00Z"),
    ] {
        craft(&store, "shop", id, completed);
    }
    let url = store.to_string_lossy().into_owned();
    // A restore of another runbook, its state in a folder of its own, reads shop-1.
    let state = dir.path().join("restore-state");
    lock_reading(&state, "shop-restore", "restore-run-7", &["shop-1"]);

    // Not told where that lock is, the prune would remove shop-1 (a dry run says so).
    let blind = prune_json(&["--store", &url, "--keep-last", "1", "--dry-run"]);
    assert_eq!(decision(&blind, "shop-1").0, "remove");

    let state_flag = state.to_string_lossy().into_owned();
    let doc = prune_json(&["--store", &url, "--keep-last", "1", "--state", &state_flag]);
    assert_eq!(
        decision(&doc, "shop-1"),
        (
            "keep".into(),
            vec!["being read by run restore-run-7".into()]
        )
    );
    assert_eq!(decision(&doc, "shop-2").0, "remove");
    assert!(backup_files(&store, "shop-2").is_empty());
    verify_whole(&url, "shop-1");

    // The same lock beside the backups (the usual setup) protects it without --state.
    std::fs::remove_dir_all(&state).unwrap_or_else(|e| panic!("{e}"));
    lock_reading(&store, "shop-restore", "restore-run-8", &["shop-1"]);
    let doc = prune_json(&["--store", &url, "--keep-last", "1"]);
    assert_eq!(
        decision(&doc, "shop-1"),
        (
            "keep".into(),
            vec!["being read by run restore-run-8".into()]
        )
    );
    verify_whole(&url, "shop-1");

    // Once that run ends (its lock gone), nothing protects it.
    std::fs::remove_dir_all(store.join("locks")).unwrap_or_else(|e| panic!("{e}"));
    let doc = prune_json(&["--store", &url, "--keep-last", "1"]);
    assert_eq!(decision(&doc, "shop-1").0, "remove");
    assert!(backup_files(&store, "shop-1").is_empty());
    verify_whole(&url, "shop-3");
}

#[test]
fn prune_on_s3_removes_every_key_of_a_removed_backup_and_leaves_the_rest_whole() {
    let bucket = Bucket::new("prune");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let local = dir.path().join("upload");
    for (id, completed) in [
        ("shop-1", "2026-11-01T00:00:00Z"),
        ("shop-2", "2026-11-02T00:00:00Z"),
        ("shop-3", "2026-11-03T00:00:00Z"),
        ("shop-4", "2026-11-04T00:00:00Z"),
    ] {
        craft(&local, "shop", id, completed);
    }
    // An incomplete backup: parts, no manifest (one being written now looks the same).
    let half = local.join("backups/shop-5/resources/core/v1");
    std::fs::create_dir_all(&half).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        path(STORED).join("resources/core/v1/secrets.jsonl.zst"),
        half.join("secrets.jsonl.zst"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // A live restore run keeps its lock in the same bucket, reading shop-2.
    lock_reading(&local, "shop-restore", "restore-run-9", &["shop-2"]);
    let uploaded = aws(&[
        "s3",
        "cp",
        "--recursive",
        &local.to_string_lossy(),
        &format!("s3://{}/dr/", bucket.name),
    ]);
    assert!(
        uploaded.status.success(),
        "{}",
        String::from_utf8_lossy(&uploaded.stderr)
    );
    let before = bucket.keys();
    let keys_of = |keys: &[String], id: &str| -> Vec<String> {
        let folder = format!("dr/backups/{id}/");
        keys.iter()
            .filter(|k| k.starts_with(&folder))
            .cloned()
            .collect()
    };
    assert_eq!(keys_of(&before, "shop-1").len(), 7, "{before:?}");

    backups(&[
        "prune",
        "--store",
        &bucket.url(),
        "--keep-last",
        "1",
        "--dry-run",
    ])
    .stdout_contains("would remove  shop-3")
    .run();
    assert_eq!(bucket.keys(), before, "a dry run changed the bucket");

    let doc = prune_json(&[
        "--store",
        &bucket.url(),
        "--keep-last",
        "1",
        "--incomplete-older-than",
        "1d",
    ]);
    assert_eq!(
        decision(&doc, "shop-4"),
        ("keep".into(), vec!["last 1".into()])
    );
    assert_eq!(
        decision(&doc, "shop-2"),
        (
            "keep".into(),
            vec!["being read by run restore-run-9".into()]
        )
    );
    let (fresh, why) = decision(&doc, "shop-5");
    assert_eq!(fresh, "keep");
    assert!(why[0].contains("it may still be being written"), "{why:?}");
    let after = bucket.keys();
    for id in ["shop-1", "shop-3"] {
        assert_eq!(decision(&doc, id).0, "remove");
        assert!(keys_of(&after, id).is_empty(), "{id} left: {after:?}");
    }
    for id in ["shop-2", "shop-4", "shop-5"] {
        assert_eq!(
            keys_of(&after, id),
            keys_of(&before, id),
            "{id} was touched"
        );
    }
    assert!(after.iter().any(|k| k == "dr/locks/shop-restore.json"));
    for id in ["shop-2", "shop-4"] {
        verify_whole(&bucket.url(), id);
    }
    backups(&["list", "--store", &bucket.url()])
        .stdout_contains("shop-5")
        .run();
}

#[cfg(feature = "crash-points")]
#[test]
fn a_prune_killed_after_a_manifest_went_leaves_an_incomplete_backup_a_later_prune_finishes() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("vault");
    for (id, completed) in [
        ("shop-1", "2026-12-01T00:00:00Z"),
        ("shop-2", "2026-12-02T00:00:00Z"),
        ("shop-3", "2026-12-03T00:00:00Z"),
    ] {
        craft(&store, "shop", id, completed);
    }
    let url = store.to_string_lossy().into_owned();
    // Killed (kill -9) right after the first removal deleted its manifest.
    let killed = backups(&["prune", "--store", &url, "--keep-last", "1"])
        .env("LIFEBOAT_CRASH_AT", "manifest-deleted:1")
        .status_any()
        .run();
    assert_ne!(killed.status, 0, "{}", killed.stderr);
    assert!(
        killed.stderr.contains("crash point manifest-deleted"),
        "{}",
        killed.stderr
    );
    // The oldest went first: it is incomplete now, never listed as complete.
    let left = backup_files(&store, "shop-1");
    assert!(
        !left.is_empty() && !left.contains(&"manifest.json".to_string()),
        "{left:?}"
    );
    let listed = backups(&["list", "--store", &url, "--output", "json"]).run();
    let listed: Value = serde_json::from_str(&listed.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(listed["incomplete"][0]["backup_id"], "shop-1");

    // A prune that is not asked to remove incomplete backups reports it and keeps it.
    let doc = prune_json(&["--store", &url, "--keep-last", "1"]);
    assert_eq!(decision(&doc, "shop-1").0, "keep");
    assert!(backup_files(&store, "shop-2").is_empty());
    assert_eq!(backup_files(&store, "shop-1"), left);

    // Its parts were last written two days ago: older than the limit, it goes.
    let two_days_ago = SystemTime::now() - Duration::from_secs(2 * 86_400);
    for f in &left {
        let file = std::fs::File::options()
            .write(true)
            .open(store.join("backups/shop-1").join(f))
            .unwrap_or_else(|e| panic!("{e}"));
        file.set_modified(two_days_ago)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let doc = prune_json(&[
        "--store",
        &url,
        "--keep-last",
        "1",
        "--incomplete-older-than",
        "1d",
    ]);
    let (what, why) = decision(&doc, "shop-1");
    assert_eq!(what, "remove");
    assert!(why[0].starts_with("incomplete, last written 2d"), "{why:?}");
    assert_eq!(entry(&doc, "shop-1")["deleted"], true);
    assert!(backup_files(&store, "shop-1").is_empty());
    verify_whole(&url, "shop-3");
}

#[test]
fn a_backup_steps_retention_prunes_its_runbook_after_its_own_backup_commits() {
    let a = app_cluster();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("vault");
    for (id, completed) in [
        ("nightly-old-1", "2026-01-01T00:00:00Z"),
        ("nightly-old-2", "2026-01-02T00:00:00Z"),
        ("nightly-old-3", "2026-01-03T00:00:00Z"),
    ] {
        craft(&store, "nightly", id, completed);
    }
    craft(&store, "other", "other-old", "2025-01-01T00:00:00Z");
    // A live run of another runbook (its lock beside the backups) reads nightly-old-1.
    lock_reading(
        &store,
        "nightly-restore",
        "restore-run-3",
        &["nightly-old-1"],
    );
    let rb = runbook_with_store(
        dir.path(),
        "nightly",
        &[("a", &a.kubeconfig)],
        "{ fs: { path: vault } }",
        "  - { id: backup, uses: backup, with: { store: vault, namespaces: [ app ], retention: { keep_last: 2 } } }\n",
    );

    // A dry run says what it would remove, and removes nothing.
    let before = contents(&store);
    let dry = run_json(&rb, &["--dry-run"], 0);
    let would = outputs(&dry, "backup");
    assert_eq!(would["pruned"], "1", "{would:#}");
    assert!(
        would["pruned_backups"].get("nightly-old-2").is_some(),
        "{would:#}"
    );
    assert_eq!(contents(&store), before, "a dry run changed the store");

    let events = run_json(&rb, &[], 0);
    let done = outputs(&events, "backup");
    let id = done["backup_id"].as_str().unwrap_or_default().to_string();
    // Kept: the new backup and the newest old one (keep_last 2), the one being read,
    // and the other runbook's.
    assert_eq!(done["pruned"], "1", "{done:#}");
    assert_eq!(
        done["pruned_backups"],
        json!({ "nightly-old-2": "2026-01-02T00:00:00Z" }),
        "{done:#}"
    );
    assert_eq!(done["prune_error"], "");
    assert!(backup_files(&store, "nightly-old-2").is_empty());
    let url = store.to_string_lossy().into_owned();
    for kept in ["nightly-old-1", "nightly-old-3", "other-old"] {
        verify_whole(&url, kept);
    }
    backups(&["verify", "--store", &url, &id])
        .stdout_contains("parts verified")
        .run();

    // Once the reader is gone, the next backup's retention takes nightly-old-1 and
    // nightly-old-3, the oldest of this runbook: the two newest are the runs' own.
    std::fs::remove_dir_all(store.join("locks")).unwrap_or_else(|e| panic!("{e}"));
    let next = outputs(&run_json(&rb, &[], 0), "backup");
    assert_eq!(next["pruned"], "2", "{next:#}");
    assert!(backup_files(&store, "nightly-old-1").is_empty());
    assert!(backup_files(&store, "nightly-old-3").is_empty());
    backups(&["verify", "--store", &url, &id])
        .stdout_contains("parts verified")
        .run();
    verify_whole(&url, "other-old");

    // When who reads what cannot be told (a lock beside the backups that cannot be
    // read: a symbolic link to itself), nothing is removed: the backup succeeds with a
    // warning that says why.
    std::fs::create_dir_all(store.join("locks")).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("loop.json", store.join("locks/loop.json"))
        .unwrap_or_else(|e| panic!("{e}"));
    let before = contents(&store.join("backups"));
    let events = run_json(&rb, &[], 0);
    let last = outputs(&events, "backup");
    assert_eq!(last["pruned"], "0", "{last:#}");
    let error = last["prune_error"].as_str().unwrap_or_default();
    assert!(error.contains("locks"), "{error}");
    let warned = events.iter().any(|e| {
        e["event"] == "step_warning"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("retention: "))
    });
    assert!(warned, "{events:#?}");
    let new = last["backup_id"].as_str().unwrap_or_default();
    for (file, bytes) in &before {
        let now = std::fs::read(store.join("backups").join(file)).ok();
        assert_eq!(now.as_ref(), Some(bytes), "{file} changed");
    }
    backups(&["verify", "--store", &url, new])
        .stdout_contains("parts verified")
        .run();
}

#[cfg(feature = "crash-points")]
#[test]
fn a_copy_backup_steps_source_is_named_in_its_run_lock_and_beside_it_while_it_is_copied() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("vault");
    craft(&store, "copier", "copier-1", "2026-12-01T00:00:00Z");
    craft(&store, "copier", "copier-2", "2026-12-02T00:00:00Z");
    let offsite = dir.path().join("offsite");
    let rb = crate::harness::TestRunbook::new("copier")
        .store("vault", "{ fs: { path: vault } }")
        .store(
            "offsite",
            &format!("{{ fs: {{ path: \"{}\" }} }}", offsite.display()),
        )
        .steps("  - { id: copy, uses: copy_backup, with: { from: vault, to: offsite, backup: copier-1 } }\n")
        .write(dir.path());
    // Killed (kill -9) while copying, after its first part: its lock stays, its lease
    // running, naming the backup it was reading.
    let killed = Test::new()
        .arg("run")
        .arg(&rb)
        .env("LIFEBOAT_CRASH_AT", "part-copied:1")
        .status_any()
        .run();
    assert!(
        killed.stderr.contains("crash point part-copied"),
        "{}",
        killed.stderr
    );
    let state = dir.path().join("state");
    let lock: Value =
        serde_json::from_slice(&std::fs::read(state.join("locks/copier.json")).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(lock["reading"], json!(["copier-1"]), "{lock:#}");
    let run_id = lock["run_id"].as_str().unwrap_or_default().to_string();

    // Its reader lease beside the backup (SPEC section 6) protects it from a prune
    // that is not told where the run keeps its lock.
    let url = store.to_string_lossy().into_owned();
    let lease = store.join(format!("backups/copier-1/readers/{run_id}.json"));
    assert!(lease.is_file(), "no reader lease at {}", lease.display());
    let blind = prune_json(&["--store", &url, "--keep-last", "1", "--dry-run"]);
    assert_eq!(
        decision(&blind, "copier-1"),
        ("keep".into(), vec![format!("being read by run {run_id}")])
    );
    let doc = prune_json(&[
        "--store",
        &url,
        "--keep-last",
        "1",
        "--state",
        &state.to_string_lossy(),
    ]);
    assert_eq!(
        decision(&doc, "copier-1"),
        ("keep".into(), vec![format!("being read by run {run_id}")])
    );
    verify_whole(&url, "copier-1");

    // Resumed, the copy finishes, and the run's lock goes with the run.
    Test::new()
        .args(["resume", &run_id, "--runbook"])
        .arg(&rb)
        .args(["--steal-lock"])
        .run();
    verify_whole(&offsite.to_string_lossy(), "copier-1");
    assert!(!lease.exists(), "the finished copy left its reader lease");
    let locks = files_under(&state.join("locks"));
    assert!(
        !locks
            .iter()
            .any(|f| f.ends_with(".json") && !f.starts_with('.')),
        "{locks:?}"
    );
    let doc = prune_json(&[
        "--store",
        &url,
        "--keep-last",
        "1",
        "--state",
        &state.to_string_lossy(),
    ]);
    assert_eq!(decision(&doc, "copier-1").0, "remove");
}

/// A store the run may only read (here: a file where the lease's folder would go) gets
/// no reader lease: the restore says so as a warning and restores, protected by its
/// run lock only. In an incident, a retention marker never stops a restore.
#[test]
fn a_reader_lease_that_cannot_be_written_is_a_warning_and_the_restore_goes_on() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("vault");
    craft(&store, "shop", "shop-1", "2026-12-01T00:00:00Z");
    std::fs::write(store.join("backups/shop-1/readers"), b"not a folder")
        .unwrap_or_else(|e| panic!("{e}"));
    let b = crate::served::Served::start(&[]);
    let rb = crate::harness::TestRunbook::new("leaseless")
        .cluster("b", &b.kubeconfig)
        .store("vault", "{ fs: { path: vault } }")
        .steps("  - { id: restore, uses: restore, cluster: b, with: { store: vault, backup: shop-1 } }\n")
        .write(dir.path());
    let events = run_json(&rb, &[], 0);
    let warned = events.iter().any(|e| {
        e["event"] == "step_warning"
            && e["step"] == "restore"
            && e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("failed to write the reader lease of backup shop-1"))
    });
    assert!(warned, "{events:#?}");
    let created: u64 = outputs(&events, "restore")["created"]
        .as_str()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(created > 0, "{events:#?}");
}

/// A reader lease on backup `id` of the folder store `store`, as a live run `run_id`
/// leaves it: its expiry `expires_in` seconds from now (negative: lapsed).
fn lease(store: &Path, id: &str, run_id: &str, expires_in: i64) {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let body = json!({
        "run_id": run_id,
        "runbook": "shop-restore",
        "host": "restore-host",
        "expires": now.saturating_add_signed(expires_in),
    });
    let dir = store.join("backups").join(id).join("readers");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.join(format!("{run_id}.json")),
        serde_json::to_vec(&body).unwrap_or_default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn backups_delete_refuses_a_backup_a_live_run_reads_unless_forced() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("vault");
    craft(&store, "shop", "shop-1", "2026-12-01T00:00:00Z");
    let url = store.to_string_lossy().into_owned();
    let delete = |extra: &[&str], status: i32| {
        Test::new()
            .args(["backups", "delete", "--store", &url, "shop-1"])
            .args(extra)
            .status(status)
            .run()
    };

    // A restore's reader lease: refused with the lock's exit code, nothing touched.
    lease(&store, "shop-1", "restore-run-9", 3600);
    let before = contents(&store);
    let out = delete(&[], 4);
    assert!(
        out.stderr.contains(
            "backup shop-1 is being read by run restore-run-9; delete it once that run ends"
        ),
        "{}",
        out.stderr
    );
    assert_eq!(contents(&store), before);

    // A run lock beside the backups that names it: refused too.
    std::fs::remove_dir_all(store.join("backups/shop-1/readers")).unwrap_or_else(|e| panic!("{e}"));
    lock_reading(&store, "shop-restore", "restore-run-10", &["shop-1"]);
    let out = delete(&[], 4);
    assert!(out.stderr.contains("run restore-run-10"), "{}", out.stderr);
    verify_whole(&url, "shop-1");

    // A lease that lapsed (its reader died long ago) protects nothing.
    std::fs::remove_dir_all(store.join("locks")).unwrap_or_else(|e| panic!("{e}"));
    lease(&store, "shop-1", "restore-run-11", -60);
    delete(&[], 0);
    assert!(backup_files(&store, "shop-1").is_empty());

    // --force deletes what a live run reads.
    craft(&store, "shop", "shop-1", "2026-12-01T00:00:00Z");
    lease(&store, "shop-1", "restore-run-12", 3600);
    delete(&["--force"], 0);
    assert!(backup_files(&store, "shop-1").is_empty());
}
