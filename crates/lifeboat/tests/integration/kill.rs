//! SIGKILL in the middle of long steps, then `resume`: the result equals an
//! uninterrupted run, and no finished restore tier is written again, counted from the
//! sandbox's access log (`sandbox serve --access-log`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{Test, TestRunbook};

/// A `lifeboat sandbox serve` writing its access log to a file.
pub(crate) struct Logged {
    child: Child,
    pub(crate) kubeconfig: PathBuf,
    log: PathBuf,
}

impl Logged {
    pub(crate) fn start(dir: &Path, name: &str, seed: Option<&Path>) -> Logged {
        let kubeconfig = dir.join(format!("{name}.kubeconfig"));
        let log = dir.join(format!("{name}.access.jsonl"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.args(["sandbox", "serve", "--kubeconfig"])
            .arg(&kubeconfig)
            .arg("--access-log")
            .arg(&log);
        if let Some(s) = seed {
            cmd.arg("--seed").arg(s);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        let deadline = Instant::now() + Duration::from_secs(60);
        while !kubeconfig.exists() {
            assert!(Instant::now() < deadline, "the sandbox did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Logged {
            child,
            kubeconfig,
            log,
        }
    }

    /// Every request logged so far.
    pub(crate) fn entries(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = Command::new("kubectl")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Logged {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A namespace with a service account, 20 secrets and `n` ConfigMaps.
pub(crate) fn bulk_seed(dir: &Path, n: usize) -> PathBuf {
    let seed = dir.join("seed");
    std::fs::create_dir_all(&seed).unwrap_or_else(|e| panic!("{e}"));
    let mut items = vec![
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bulk"}}),
        serde_json::json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "worker", "namespace": "bulk"}}),
    ];
    for i in 0..20 {
        items.push(serde_json::json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("s{i:03}"), "namespace": "bulk"}, "data": {"k": "dmFsdWU="}}));
    }
    for i in 0..n {
        items.push(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i:05}"), "namespace": "bulk"}, "data": {"i": i.to_string()}}));
    }
    for (n, chunk) in items.chunks(400).enumerate() {
        let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": chunk});
        std::fs::write(seed.join(format!("{n:03}.json")), list.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
    }
    seed
}

pub(crate) fn write_runbook(
    dir: &Path,
    name: &str,
    cluster: &Path,
    store: &Path,
    steps: &str,
) -> PathBuf {
    TestRunbook::new(name)
        .cluster("c", cluster)
        .store(
            "local",
            &format!("{{ fs: {{ path: \"{}\" }} }}", store.display()),
        )
        .steps(steps)
        .write(dir)
}

/// `lifeboat run RUNBOOK --output json` in the background, from `dir`; returns the
/// process and its run id (read from the first event).
pub(crate) fn start_run(runbook: &Path, dir: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("run")
        .arg(runbook)
        .args(["--output", "json"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
    let first = BufReader::new(stdout)
        .lines()
        .next()
        .and_then(Result::ok)
        .unwrap_or_default();
    let run_id = serde_json::from_str::<Value>(&first).unwrap_or_default()["run_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (child, run_id)
}

/// Create requests per resource (with `status`, or any status when `None`).
fn creates(entries: &[Value], status: Option<u64>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in entries
        .iter()
        .filter(|e| e["verb"] == "create" && status.is_none_or(|s| e["status"] == s))
    {
        *out.entry(e["resource"].as_str().unwrap_or("").to_string())
            .or_insert(0) += 1;
    }
    out
}

#[test]
fn a_restore_killed_mid_tier_resumes_without_writing_finished_tiers_again() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let n = 3000;
    let a = Logged::start(dir.path(), "a", Some(&bulk_seed(dir.path(), n)));
    let store = dir.path().join("store");
    let backup = write_runbook(
        dir.path(),
        "take",
        &a.kubeconfig,
        &store,
        "  - { id: backup, uses: backup, with: { store: local, namespaces: [ bulk ] } }\n",
    );
    let out = Test::new()
        .arg("run")
        .arg(&backup)
        .args(["--output", "json"])
        .run();
    let id = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["event"] == "step_succeeded")
        .and_then(|e| e["outputs"]["backup_id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{}", out.stdout));

    let b = Logged::start(dir.path(), "b", None);
    let restore = write_runbook(
        dir.path(),
        "bring-back",
        &b.kubeconfig,
        &store,
        &format!(
            "  - {{ id: restore, uses: restore, with: {{ store: local, backup: {id}, parallelism: 4 }} }}\n"
        ),
    );
    let (mut child, run_id) = start_run(&restore, dir.path());
    // Kill -9 once the ConfigMaps tier is under way.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let made = creates(&b.entries(), Some(201))
            .get("configmaps")
            .copied()
            .unwrap_or(0);
        if made >= 300 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the restore did not reach the ConfigMaps"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    let at_kill = creates(&b.entries(), None);
    assert!(
        at_kill.get("configmaps").copied().unwrap_or(0) < n,
        "the kill came too late: {at_kill:?}"
    );

    Test::new()
        .args(["resume", &run_id, "--steal-lock", "--state"])
        .arg(dir.path().join("state"))
        .stdout_contains("ok    restore")
        .run();
    // The tiers finished before the kill got no request after it; every object exists
    // once, as after an uninterrupted restore.
    let entries = b.entries();
    let after = creates(&entries, None);
    for finished in ["namespaces", "serviceaccounts", "secrets"] {
        assert_eq!(
            after.get(finished),
            at_kill.get(finished),
            "{finished} were written again"
        );
    }
    let ok = creates(&entries, Some(201));
    assert_eq!(ok.get("secrets"), Some(&20));
    assert_eq!(ok.get("configmaps"), Some(&n), "{ok:?}");
    let count = b.kubectl(&[
        "get",
        "configmaps",
        "-n",
        "bulk",
        "--field-selector",
        "metadata.name!=kube-root-ca.crt",
        "-o",
        "name",
    ]);
    assert_eq!(count.lines().count(), n);
}

#[test]
fn a_backup_killed_midway_resumes_without_reading_finished_types_again() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let n = 20_000;
    let a = Logged::start(dir.path(), "a", Some(&bulk_seed(dir.path(), n)));
    let store = dir.path().join("store");
    let rb = write_runbook(
        dir.path(),
        "take",
        &a.kubeconfig,
        &store,
        "  - { id: backup, uses: backup, with: { store: local, namespaces: [ bulk ], parallelism: 2 } }\n",
    );
    let (mut child, run_id) = start_run(&rb, dir.path());
    let lists = |entries: &[Value], resource: &str| {
        entries
            .iter()
            .filter(|e| e["verb"] == "list" && e["resource"] == resource)
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while lists(&a.entries(), "configmaps") < 3 {
        assert!(
            Instant::now() < deadline,
            "the backup did not reach the ConfigMaps"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    let at_kill = a.entries().len();
    let killed_at = jiff::Timestamp::now();

    // What the journal says was finished before the kill.
    let journal = std::fs::read_to_string(
        dir.path()
            .join(format!("state/runs/{run_id}/journal.jsonl")),
    )
    .unwrap_or_default();
    assert!(
        !journal.contains("\"step_succeeded\""),
        "the kill came too late"
    );
    let finished: Vec<String> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["event"] == "checkpoint")
        .map(|r| {
            let t = &r["data"]["rtype"];
            let (group, resource) = (
                t["group"].as_str().unwrap_or(""),
                t["resource"].as_str().unwrap_or(""),
            );
            if group.is_empty() {
                resource.to_string()
            } else {
                format!("{resource}.{group}")
            }
        })
        .collect();
    assert!(
        !finished.is_empty(),
        "no resource type was checkpointed before the kill"
    );

    Test::new()
        .args(["resume", &run_id, "--steal-lock", "--state"])
        .arg(dir.path().join("state"))
        .stdout_contains("ok    backup")
        .run();
    let since = &a.entries()[at_kill..];
    // Namespaces and CRDs are read again to resolve the selection (globs, custom
    // groups), whatever was backed up; every other finished type is not.
    let selection = [
        "namespaces",
        "customresourcedefinitions.apiextensions.k8s.io",
    ];
    let checked: Vec<&String> = finished
        .iter()
        .filter(|t| !selection.contains(&t.as_str()))
        .collect();
    assert!(
        !checked.is_empty(),
        "only selection types were checkpointed: {finished:?}"
    );
    for t in checked {
        assert_eq!(lists(since, t), 0, "{t} was read again after the resume");
    }
    let id = format!("take-{run_id}-backup");
    Test::new()
        .args(["backups", "verify", "--store"])
        .arg(&store)
        .arg(&id)
        .stdout_contains("parts verified")
        .run();
    let shown = Test::new()
        .args(["backups", "show", "--output", "json", "--store"])
        .arg(&store)
        .arg(&id)
        .run();
    let manifest: Value = serde_json::from_str(&shown.stdout).unwrap_or_default();
    let configmaps: u64 = manifest["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["resource"] == "configmaps")
        .filter_map(|p| p["objects"].as_u64())
        .sum();
    // The seeded ones and the namespace's kube-root-ca.crt.
    assert_eq!(configmaps, n as u64 + 1);
    // Regression: the resumed backup was stamped with the resume's time, while parts
    // it reused were read before the kill: its age (the RPO) was understated.
    let created: jiff::Timestamp = manifest["created"]
        .as_str()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|e| panic!("created: {e}: {manifest}"));
    assert!(
        created < killed_at,
        "created {created}, killed at {killed_at}"
    );
}
