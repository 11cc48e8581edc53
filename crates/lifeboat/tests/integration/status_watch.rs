//! `lifeboat status RUN_ID --watch` follows a run from another process through its
//! journal (a local folder, a bucket on the S3 server) and exits with the run's own
//! exit code; a run whose process died is said to have died.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::backup_restore::Bucket;
use crate::harness::{Test, TestRunbook};
use crate::journal::{spawn_run, wait_exit, wait_for};

/// A runbook whose second step naps for `nap` (the time to watch it), then `last` runs
/// `last_argv`; objective rto `rto`.
fn napping(
    dir: &Path,
    nap: &str,
    last_argv: &str,
    rto: &str,
    state_in: Option<&Bucket>,
) -> std::path::PathBuf {
    let mut rb = TestRunbook::new("napping").steps(&format!(
        "  - {{ id: first, uses: exec_local, with: {{ argv: [ echo, hello ] }} }}\n\
         \x20 - {{ id: nap, uses: sleep, needs: [ first ], with: {{ duration: {nap} }} }}\n\
         \x20 - {{ id: last, uses: exec_local, needs: [ nap ], with: {{ argv: {last_argv} }} }}\n"
    ));
    if let Some(bucket) = state_in {
        rb = rb.store("vault", &bucket.store_yaml()).state_in("vault");
    }
    let file = rb.write(dir);
    // The objectives go at the top level, after metadata.
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let text = text.replacen(
        "\nstate:",
        &format!("\nobjectives: {{ rto: {rto} }}\nstate:"),
        1,
    );
    std::fs::write(&file, text).unwrap_or_else(|e| panic!("{e}"));
    file
}

#[test]
fn a_watch_follows_a_live_run_and_exits_with_its_code() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = napping(dir.path(), "3s", "[ echo, done ]", "1h", None);
    let rb_arg = rb.to_string_lossy().into_owned();
    let (mut child, lines) = spawn_run(&["run", "--yes", "--run-id", "watched-1", &rb_arg]);
    wait_for(&lines, "start nap");
    let state = dir.path().join("state").to_string_lossy().into_owned();
    let out = Test::new()
        .args(["status", "watched-1", "--watch", "--state", &state])
        .limit(Duration::from_secs(60))
        .run();
    let text = &out.stdout;
    assert!(
        text.starts_with("watching run watched-1 of napping (started ")
            && text.contains("lock held by run watched-1 on host "),
        "{text}"
    );
    // Steps in order, the nap's end seen after the watch began.
    let at = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in:\n{text}"))
    };
    assert!(at("ok    first") < at("start nap"));
    assert!(at("start nap") < at("ok    nap in 3"));
    assert!(at("ok    nap in 3") < at("ok    last"));
    assert!(at("objective rto: ") < at("run succeeded in "));
    assert!(
        text.ends_with("watch ended: run watched-1 succeeded; exit code 0\n"),
        "{text}"
    );
    assert_eq!(wait_exit(&mut child), 0);
}

#[test]
fn a_watch_on_s3_state_in_json_ends_with_a_failed_runs_code() {
    let bucket = Bucket::new("watch");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = napping(
        dir.path(),
        "2s",
        "[ sh, -c, \"echo broken >&2; exit 3\" ]",
        "1h",
        Some(&bucket),
    );
    let rb_arg = rb.to_string_lossy().into_owned();
    let (mut child, lines) = spawn_run(&["run", "--yes", "--run-id", "watched-2", &rb_arg]);
    wait_for(&lines, "start nap");
    // Found through the runbook's own state store, as an operator would.
    let out = Test::new()
        .args([
            "status",
            "watched-2",
            "--watch",
            "--output",
            "json",
            "--runbook",
            &rb_arg,
        ])
        .limit(Duration::from_secs(60))
        .status(1)
        .run();
    let docs: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let kinds: Vec<&str> = docs.iter().filter_map(|d| d["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"run_started"), "{kinds:?}");
    assert!(kinds.contains(&"step_failed"), "{kinds:?}");
    let last = docs.last().cloned().unwrap_or_default();
    assert_eq!(last["event"], "watch_finished");
    assert_eq!(last["state"], "failed");
    assert_eq!(last["exit_code"], 1);
    // The records are the journal's: numbered from 1 without a gap.
    let seqs: Vec<u64> = docs.iter().filter_map(|d| d["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(wait_exit(&mut child), 1);
}

#[test]
fn a_watch_of_a_run_that_misses_its_objective_exits_3() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = napping(dir.path(), "1s", "[ echo, done ]", "1ms", None);
    let rb_arg = rb.to_string_lossy().into_owned();
    let (mut child, lines) = spawn_run(&["run", "--yes", "--run-id", "watched-3", &rb_arg]);
    wait_for(&lines, "start nap");
    let state = dir.path().join("state").to_string_lossy().into_owned();
    Test::new()
        .args(["status", "watched-3", "--watch", "--state", &state])
        .limit(Duration::from_secs(60))
        .status(3)
        .stdout_contains("objective rto: ")
        .stdout_contains("MISSED")
        .stdout_contains("watch ended: run watched-3 succeeded; exit code 3")
        .run();
    assert_eq!(wait_exit(&mut child), 3);
    // `status` without --watch tells the objectives too.
    Test::new()
        .args(["status", "watched-3", "--state", &state])
        .stdout_contains("against 1ms: MISSED")
        .run();
    // The same command line again (a rescheduled pod) reports the run with its code.
    Test::new()
        .args(["run", "--yes", "--run-id", "watched-3", &rb_arg])
        .status(3)
        .stdout_contains("already ran to its end (it succeeded and missed an objective")
        .run();
}

#[test]
fn a_watch_of_a_run_whose_process_died_says_so_and_how_to_resume() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = napping(dir.path(), "60s", "[ echo, done ]", "1h", None);
    let rb_arg = rb.to_string_lossy().into_owned();
    let (mut child, lines) = spawn_run(&["run", "--yes", "--run-id", "watched-4", &rb_arg]);
    wait_for(&lines, "start nap");
    // The terminal hears of a step a moment before its journal does.
    let journal = dir.path().join("state/runs/watched-4/journal.jsonl");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(&journal).is_ok_and(|t| t.contains("\"step\":\"nap\"")) {
        assert!(
            std::time::Instant::now() < deadline,
            "the journal never had the nap"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap_or_else(|e| panic!("{e}"));
    let _ = child.wait();
    // Its lock stays until its lease lapses (120 s after the last renewal, never judged
    // from the process): that lapse is played by ending the lease now.
    let state = dir.path().join("state");
    let lock = state.join("locks/napping.json");
    let mut holder: Value = serde_json::from_slice(&std::fs::read(&lock).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    holder["expires"] = Value::from(0);
    std::fs::write(&lock, holder.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let state_arg = state.to_string_lossy().into_owned();
    Test::new()
        .args(["status", "watched-4", "--watch", "--state", &state_arg])
        .limit(Duration::from_secs(60))
        .status(130)
        .stdout_contains("no process holds its lock")
        .stdout_contains("start nap")
        .stdout_contains(&format!(
            "run watched-4 stopped without finishing: its lock lapsed and its journal has no end (its process died). `lifeboat resume watched-4 --state {state_arg}` continues it"
        ))
        .run();
}

#[test]
fn a_watch_shows_the_progress_records_of_a_backup_and_a_restore() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // A sandbox seeded with 2,500 ConfigMaps: progress is told per 1,000 objects.
    let seed = dir.path().join("seed");
    std::fs::create_dir_all(&seed).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        seed.join("namespace.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: { name: many }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // At most 1,024 documents a file: five files of 500.
    for file in 0..5 {
        let manifests: Vec<String> = (file * 500..(file + 1) * 500)
            .map(|n| {
                format!(
                    "apiVersion: v1\nkind: ConfigMap\nmetadata: {{ name: c{n}, namespace: many }}\ndata: {{ n: \"{n}\" }}\n"
                )
            })
            .collect();
        std::fs::write(
            seed.join(format!("many-{file}.yaml")),
            manifests.join("---\n"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let text = "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: many }\n\
         clusters:\n  a: { sandbox: { seed: [ ./seed ] } }\n  b: { sandbox: {} }\n\
         stores:\n  local: { fs: { path: ./backups } }\nstate: { path: state }\nsteps:\n\
         \x20 - { id: backup, uses: backup, cluster: a, with: { store: local, namespaces: [ many ] } }\n\
         \x20 - { id: restore, uses: restore, cluster: b, needs: [ backup ], with: { store: local, backup: \"${{ steps.backup.outputs.backup_id }}\" } }\n";
    let rb = dir.path().join("many.yaml");
    std::fs::write(&rb, text).unwrap_or_else(|e| panic!("{e}"));
    Test::new()
        .args(["run", "--yes", "--run-id", "many-1"])
        .arg(&rb)
        .limit(Duration::from_secs(120))
        .run();
    let state = dir.path().join("state").to_string_lossy().into_owned();
    let out = Test::new()
        .args(["status", "many-1", "--watch", "--state", &state])
        .run();
    // The first progress record of each step is written at once, the next ones at
    // most every 2 s.
    // A backup counts by resource type; a restore out of the manifest's total.
    assert!(out.stdout.contains("      backup: "), "{}", out.stdout);
    assert!(
        out.stdout.contains("/2,503 objects (restore"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .ends_with("watch ended: run many-1 succeeded; exit code 0\n"),
        "{}",
        out.stdout
    );
    // Not a run id: said, naming where it looked.
    Test::new()
        .args(["status", "no-such-run", "--watch", "--state", &state])
        .status(1)
        .stderr_contains("no run no-such-run")
        .run();
}
