//! Journal, resume, locks and Ctrl-C through the real binary: a failed run resumed
//! after the cause is fixed redoes only what did not succeed; a changed runbook is
//! refused; `status` shows runs and steps; a second run of a locked runbook exits 4
//! naming the holder, a stale lock is reported and taken with `--steal-lock`; Ctrl-C
//! exits 130 and prints the `resume` command that finishes the run; a run killed
//! with SIGKILL is resumed without redoing its finished steps.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::backup_restore::{Bucket, failure, json_lines, outputs, run_json};
use crate::harness::{Test, TestRunbook, path};
use crate::served::Served;
use testbed::Kube;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(format!("{name}.yaml"));
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    p
}

fn runbook(dir: &Path, name: &str, cluster: &Path, steps: &str) -> PathBuf {
    TestRunbook::new(name)
        .cluster("c", cluster)
        .steps(steps)
        .write(dir)
}

fn run_id(events: &[Value]) -> String {
    events[0]["run_id"].as_str().unwrap_or_default().to_string()
}

#[test]
fn a_failed_run_resumes_at_the_failed_step_after_the_cause_is_fixed() {
    let c = Served::start(&[
        &path("runbooks/fixtures/shop"),
        &path("runbooks/fixtures/edge"),
    ]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "switch",
        &c.kubeconfig,
        "  - { id: freeze, uses: scale, with: { namespace: shop, kind: Deployment, name: frontend, replicas: 0 } }\n\
         \x20 - { id: check, uses: wait, with: { kind: ConfigMap, namespace: edge, name: routing, jsonpath: \"{.data.active}\", value: standby, timeout: 1s } }\n\
         \x20 - { id: after, uses: sleep, with: { duration: 1ms } }\n",
    );
    let first = run_json(&rb, &[], 1);
    let id = run_id(&first);
    assert!(failure(&first, "check").contains("timed out"));
    let state = dir.path().join("state");

    let status = Test::new().args(["status", "--state"]).arg(&state).run();
    assert!(
        status.stdout.contains(&id) && status.stdout.contains("failed"),
        "{}",
        status.stdout
    );
    let one = Test::new()
        .args(["status", &id, "--state"])
        .arg(&state)
        .run();
    let row = |step: &str| -> Vec<String> {
        one.stdout
            .lines()
            .find(|l| l.starts_with(&format!("{step} ")))
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .unwrap_or_else(|| panic!("no row for {step}:\n{}", one.stdout))
    };
    assert_eq!(row("freeze")[1..3], ["succeeded", "1"]);
    assert_eq!(
        row("freeze").last().map(String::as_str),
        Some("previous=frontend=2")
    );
    assert_eq!(row("check")[1], "failed");
    assert!(one.stdout.contains("timed out after 1s"), "{}", one.stdout);

    // Fix the cause, scale frontend back up by hand, then resume: `freeze` is not
    // redone (frontend stays at 2), `check` runs again and succeeds.
    c.ok(&[
        "patch",
        "configmap",
        "-n",
        "edge",
        "routing",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"active":"standby"}}"#,
    ]);
    c.ok(&["scale", "-n", "shop", "deployment/frontend", "--replicas=2"]);
    let out = Test::new()
        .args(["resume", &id, "--output", "json", "--state"])
        .arg(&state)
        .run();
    let events = json_lines(&out.stdout);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step_resumed" && e["step"] == "freeze"),
        "{}",
        out.stdout
    );
    assert_eq!(outputs(&events, "check")["waited"], "0s");
    outputs(&events, "after");
    assert_eq!(
        c.ok(&[
            "get",
            "deployment",
            "-n",
            "shop",
            "frontend",
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "2"
    );
    let done = Test::new().args(["status", "--state"]).arg(&state).run();
    assert!(done.stdout.contains("succeeded"), "{}", done.stdout);
    Test::new()
        .args(["resume", &id, "--state"])
        .arg(&state)
        .stdout_contains("already succeeded")
        .run();
}

#[test]
fn resuming_a_changed_runbook_is_refused_unless_allowed() {
    let c = Served::start(&[&path("runbooks/fixtures/edge")]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let steps = "  - { id: check, uses: wait, with: { kind: ConfigMap, namespace: edge, name: routing, jsonpath: \"{.data.active}\", value: standby, timeout: 1s } }\n";
    let rb = runbook(dir.path(), "changed", &c.kubeconfig, steps);
    let id = run_id(&run_json(&rb, &[], 1));
    runbook(
        dir.path(),
        "changed",
        &c.kubeconfig,
        &steps.replace("value: standby", "value: primary"),
    );
    let state = dir.path().join("state");
    Test::new()
        .args(["resume", &id, "--state"])
        .arg(&state)
        .status(2)
        .stderr_contains("changed since run")
        .stderr_contains("--allow-changed")
        .run();
    Test::new()
        .args(["resume", &id, "--allow-changed", "--state"])
        .arg(&state)
        .stdout_contains("ok    check")
        .run();
    Test::new()
        .args(["resume", "no-such-run", "--state"])
        .arg(&state)
        .status(1)
        .stderr_contains("no run no-such-run")
        .run();
}

/// Starts `lifeboat run` in the background; returns the child and a reader of its
/// stdout lines.
pub(crate) fn spawn_run(args: &[&str]) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Waits for a line containing `needle`; returns the lines seen.
pub(crate) fn wait_for(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            let hit = line.contains(needle);
            seen.push(line);
            if hit {
                return seen;
            }
        }
    }
    panic!("no line with {needle:?} within 30s; saw {seen:#?}");
}

pub(crate) fn wait_exit(child: &mut std::process::Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "lifeboat did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_second_run_of_a_locked_runbook_exits_4_naming_the_holder() {
    let c = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "locked",
        &c.kubeconfig,
        "  - { id: long, uses: sleep, with: { duration: 20s } }\n",
    );
    let rb_arg = rb.to_string_lossy().to_string();
    let (mut first, rx) = spawn_run(&["run", &rb_arg]);
    let seen = wait_for(&rx, "start long");
    let holder = seen[0]
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    Test::new()
        .arg("run")
        .arg(&rb)
        .status(4)
        .stderr_contains("runbook `locked` is locked")
        .stderr_contains(&format!("run {holder} on host"))
        .run();
    let _ = first.kill();
    let _ = first.wait();

    // The killed run left its lock behind; once expired it is stale: reported, and
    // taken over only with --steal-lock.
    let lock = dir.path().join("state/locks/locked.json");
    let mut held: Value = serde_json::from_str(&std::fs::read_to_string(&lock).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    held["expires"] = Value::from(1);
    std::fs::write(&lock, held.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let quick = runbook(
        dir.path(),
        "locked",
        &c.kubeconfig,
        "  - { id: long, uses: sleep, with: { duration: 1ms } }\n",
    );
    Test::new()
        .arg("run")
        .arg(&quick)
        .status(4)
        .stderr_contains("stale lock")
        .stderr_contains("--steal-lock")
        .run();
    Test::new().arg("run").arg(&quick).arg("--steal-lock").run();
    assert!(!lock.exists(), "the lock is released at the end of a run");
}

#[test]
fn ctrl_c_stops_the_run_and_prints_the_resume_command() {
    let c = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "interrupted",
        &c.kubeconfig,
        "  - { id: first, uses: sleep, with: { duration: 1ms } }\n  - { id: long, uses: sleep, with: { duration: 30s } }\n  - { id: last, uses: sleep, with: { duration: 1ms } }\n",
    );
    let rb_arg = rb.to_string_lossy().to_string();
    let (mut child, rx) = spawn_run(&["run", &rb_arg]);
    wait_for(&rx, "start long");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .is_ok_and(|s| s.success())
    );
    let seen = wait_for(&rx, "lifeboat resume");
    assert_eq!(wait_exit(&mut child), 130);
    let resume = seen.last().cloned().unwrap_or_default();
    let words: Vec<&str> = resume.split_whitespace().collect();
    assert_eq!(&words[..2], ["lifeboat", "resume"], "{resume}");
    // The resumed run writes its reports too.
    let junit = dir.path().join("resumed.xml");
    let out = Test::new()
        .args(&words[1..])
        .arg("--junit")
        .arg(&junit)
        .current_dir(dir.path())
        .run();
    assert!(out.stdout.contains("done  first"), "{}", out.stdout);
    assert!(out.stdout.contains("ok    long"), "{}", out.stdout);
    assert!(out.stdout.contains("ok    last"), "{}", out.stdout);
    let xml = std::fs::read_to_string(&junit).unwrap_or_default();
    for step in ["first", "long", "last"] {
        assert!(xml.contains(&format!("name=\"{step}\"")), "{xml}");
    }
    assert!(xml.contains("failures=\"0\""), "{xml}");
}

/// Kubernetes stops a pod with SIGTERM (and lifeboat is PID 1 there): the run stops as
/// on Ctrl-C, its journal says where, and the same `run --run-id` resumes it.
#[test]
fn sigterm_stops_the_run_like_ctrl_c_and_the_same_command_resumes_it() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("terminated")
        .steps(
            "  - { id: first, uses: sleep, with: { duration: 1ms } }\n  - { id: long, uses: sleep, with: { duration: 3s } }\n",
        )
        .write(dir.path());
    let rb_arg = rb.to_string_lossy().to_string();
    let (mut child, rx) = spawn_run(&["run", "--yes", "--run-id", "termed-1", &rb_arg]);
    wait_for(&rx, "start long");
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success())
    );
    wait_for(&rx, "lifeboat resume termed-1");
    assert_eq!(wait_exit(&mut child), 130);
    let out = Test::new()
        .args(["run", "--yes", "--run-id", "termed-1", &rb_arg])
        .stderr_contains("run termed-1 did not finish")
        .run();
    assert!(out.stdout.contains("done  first"), "{}", out.stdout);
    assert!(out.stdout.contains("ok    long"), "{}", out.stdout);
}

#[test]
fn a_run_id_that_is_not_one_safe_path_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("ids")
        .steps("  - { id: first, uses: sleep, with: { duration: 1ms } }\n")
        .write(dir.path());
    for id in ["../escape", "a/b", "", "..", "with space"] {
        Test::new()
            .arg("run")
            .arg(&rb)
            .args(["--run-id", id])
            .status(2)
            .stderr_contains("a run id is 1 to 128 letters, digits")
            .run();
    }
    assert!(!dir.path().join("escape").exists());
    assert!(!dir.path().join("state").exists(), "nothing was written");
}

#[test]
fn a_killed_backup_run_resumes_without_redoing_the_backup() {
    let a = crate::backup_restore::app_cluster();
    let bucket = Bucket::new("killed");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = write(
        dir.path(),
        "killed",
        &format!(
            "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: {{ name: killed }}\nclusters:\n  c: {{ kubeconfig: \"{}\" }}\nstores:\n  vault: {}\nstate: {{ store: vault }}\nsteps:\n  - {{ id: backup, uses: backup, with: {{ store: vault, namespaces: [ app ] }} }}\n  - {{ id: pause, uses: sleep, with: {{ duration: 30s }} }}\n  - {{ id: restore, uses: restore, with: {{ store: vault, backup: \"${{{{ steps.backup.outputs.backup_id }}}}\", existing: skip }} }}\n",
            a.kubeconfig.display(),
            bucket.store_yaml()
        ),
    );
    let rb_arg = rb.to_string_lossy().to_string();
    let (mut child, rx) = spawn_run(&["run", &rb_arg, "--output", "json"]);
    let seen = wait_for(&rx, "\"step\":\"pause\"");
    let id = serde_json::from_str::<Value>(&seen[0]).unwrap_or_default()["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let _ = child.kill();
    let _ = child.wait();
    let keys_before = bucket.keys();
    // The journal lives in the bucket: one object per event.
    assert!(
        keys_before
            .iter()
            .any(|k| k.starts_with(&format!("dr/runs/{id}/events/"))),
        "{keys_before:?}"
    );

    let short = std::fs::read_to_string(&rb)
        .unwrap_or_default()
        .replace("duration: 30s", "duration: 1ms");
    std::fs::write(&rb, short).unwrap_or_else(|e| panic!("{e}"));
    let out = Test::new()
        .args([
            "resume",
            &id,
            "--allow-changed",
            // The killed run's lease still runs; its process is gone.
            "--steal-lock",
            "--output",
            "json",
            "--state",
            &bucket.url(),
        ])
        .env("AWS_ENDPOINT_URL", crate::s3_server::endpoint())
        .run();
    let events = json_lines(&out.stdout);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step_resumed" && e["step"] == "backup"),
        "{}",
        out.stdout
    );
    assert!(
        !events
            .iter()
            .any(|e| e["event"] == "step_started" && e["step"] == "backup"),
        "the backup was redone"
    );
    assert_eq!(outputs(&events, "restore")["failed"], "0");
    let manifests = bucket
        .keys()
        .iter()
        .filter(|k| k.ends_with("manifest.json"))
        .count();
    assert_eq!(manifests, 1, "one backup, not two");
}

#[test]
fn a_resumed_restore_does_not_redo_the_tiers_it_finished() {
    let a = crate::backup_restore::app_cluster();
    let bucket = Bucket::new("tiers");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = crate::backup_restore::back_up(dir.path(), &a, &bucket, ", namespaces: [ app ]");
    let restore = |target: &Served, existing: &str| {
        TestRunbook::new("tiers")
            .cluster("c", &target.kubeconfig)
            .store("vault", &bucket.store_yaml())
            .steps(&format!(
                "  - {{ id: restore, uses: restore, with: {{ store: vault, backup: {id}, existing: {existing} }} }}\n"
            ))
            .write(dir.path())
    };
    let total = |o: &Value| -> u64 {
        ["created", "updated", "unchanged", "skipped", "failed"]
            .iter()
            .map(|k| {
                o[*k]
                    .as_str()
                    .and_then(|s| s.parse::<u64>().ok())
                    .unwrap_or(0)
            })
            .sum()
    };
    // A clean restore, for the expected counts.
    let c = Served::start(&[]);
    let clean = outputs(&run_json(&restore(&c, "update"), &[], 0), "restore");

    // B already has a Deployment `web` with another selector, which is immutable:
    // the workloads tier fails, after the tiers before it were restored and
    // checkpointed.
    let b = Served::start(&[]);
    b.ok(&["create", "namespace", "app"]);
    let other = "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web, namespace: app }\nspec:\n  selector: { matchLabels: { app: other } }\n  template:\n    metadata: { labels: { app: other } }\n    spec: { containers: [ { name: c, image: other:1 } ] }\n";
    let applied = b.kubectl_in(&["apply", "-f", "-"], Some(other));
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let rb = restore(&b, "update");
    let first = run_json(&rb, &[], 1);
    assert!(
        failure(&first, "restore").contains("Deployment app/web"),
        "{first:#?}"
    );
    let run = run_id(&first);
    b.ok(&["delete", "deployment", "web", "-n", "app"]);

    // Resumed, the finished tiers are not written again: had they been, their objects
    // would be counted twice (once before the resume, once after).
    let out = Test::new()
        .args(["resume", &run, "--output", "json", "--state"])
        .arg(dir.path().join("state"))
        .env("AWS_ENDPOINT_URL", crate::s3_server::endpoint())
        .run();
    let events = json_lines(&out.stdout);
    let resumed = outputs(&events, "restore");
    assert_eq!(
        total(&resumed),
        total(&clean),
        "resumed: {resumed}\nclean: {clean}"
    );
    assert_eq!(resumed["failed"], "0");
    // The counts of the finished tiers come from their checkpoints (created before the
    // resume); a restore that redid them would find them all unchanged instead.
    let created: u64 = resumed["created"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    assert!(created >= 10, "{resumed}");
    b.ok(&["get", "deployment", "-n", "app", "web"]);
    let image = b.ok(&[
        "get",
        "deployment",
        "-n",
        "app",
        "web",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "registry.example/web:2.4.1");
}

#[test]
fn a_run_killed_during_a_wait_resumes_at_the_wait() {
    let c = Served::start(&[&path("runbooks/fixtures/edge")]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "waiting",
        &c.kubeconfig,
        "  - { id: mark, uses: patch, with: { kind: ConfigMap, namespace: edge, name: routing, merge: { data: { draining: \"yes\" } } } }\n\
         \x20 - { id: check, uses: wait, with: { kind: ConfigMap, namespace: edge, name: routing, jsonpath: \"{.data.active}\", value: standby, timeout: 60s } }\n",
    );
    let rb_arg = rb.to_string_lossy().to_string();
    let (mut child, rx) = spawn_run(&["run", &rb_arg]);
    let seen = wait_for(&rx, "start check");
    let run = seen[0]
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    let _ = child.kill();
    let _ = child.wait();
    c.ok(&[
        "patch",
        "configmap",
        "-n",
        "edge",
        "routing",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"active":"standby"}}"#,
    ]);
    let out = Test::new()
        .args(["resume", &run, "--steal-lock", "--state"])
        .arg(dir.path().join("state"))
        .current_dir(dir.path())
        .run();
    // `mark` is not run again: its outputs come from the journal.
    assert!(out.stdout.contains("done  mark"), "{}", out.stdout);
    assert!(!out.stdout.contains("start mark"), "{}", out.stdout);
    assert!(out.stdout.contains("ok    check"), "{}", out.stdout);
    let log = c.ok(&[
        "get",
        "configmap",
        "-n",
        "edge",
        "routing",
        "-o",
        "jsonpath={.data.draining}",
    ]);
    assert_eq!(log, "yes");
}
