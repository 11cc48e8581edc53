//! Runs on the real control plane, checked against its audit log (every write it
//! accepted or refused, with its URI): a dry run writes nothing, and a restore killed
//! with SIGKILL in the middle resumes without writing its finished tiers again.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::backup_restore::{all_objects, run_json};
use crate::harness::{Test, TestRunbook, path};
use crate::kill::{Logged, bulk_seed, start_run, write_runbook};
use testbed::{ControlPlane, Kube};

/// `resourceVersion` of every object in `namespaces`, and the names of the
/// cluster-scoped objects (Nodes and their Leases aside, which change on their own).
fn versions(k: &dyn Kube, namespaces: &[&str]) -> BTreeMap<String, Value> {
    all_objects(k)
        .into_iter()
        .filter(|(key, _)| {
            let ns = key
                .split(' ')
                .nth(1)
                .and_then(|n| n.split_once('/'))
                .map_or("", |(ns, _)| ns);
            let t = key.split(' ').next().unwrap_or("");
            (ns.is_empty() && !matches!(t, "nodes" | "csinodes.storage.k8s.io"))
                || namespaces.contains(&ns)
        })
        .map(|(key, o)| (key, o["metadata"]["resourceVersion"].clone()))
        .collect()
}

#[test]
fn a_dry_run_on_the_control_plane_changes_nothing_and_sends_every_write_as_a_dry_run() {
    let a = ControlPlane::start();
    let b = ControlPlane::start();
    a.ok(&[
        "apply",
        "-f",
        &path("runbooks/fixtures/shop").to_string_lossy(),
    ]);
    b.ok(&[
        "apply",
        "-f",
        &path("runbooks/fixtures/edge").to_string_lossy(),
    ]);
    a.ok(&[
        "rollout",
        "status",
        "-n",
        "shop",
        "deployment/frontend",
        "--timeout=60s",
    ]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store = dir.path().join("store");
    let rb = TestRunbook::new("dry-failover")
        .cluster("a", &a.kubeconfig)
        .cluster("b", &b.kubeconfig)
        .store(
            "local",
            &format!("{{ fs: {{ path: \"{}\" }} }}", store.display()),
        )
        .steps(
            r#"  - { id: backup, uses: backup, cluster: a, with: { store: local, namespaces: [ shop ] } }
  - id: restore
    uses: restore
    cluster: b
    with: { store: local, backup: "${{ steps.backup.outputs.backup_id }}" }
  - { id: freeze, uses: scale, cluster: a, with: { namespace: shop, kind: Deployment, selector: "tier=web", replicas: 0 } }
  - { id: switch, uses: patch, cluster: b, with: { kind: ConfigMap, namespace: edge, name: routing, merge: { data: { active: b } } } }
  - id: notice
    uses: apply
    cluster: b
    with: { namespace: edge, manifests: [ { apiVersion: v1, kind: ConfigMap, metadata: { name: notice }, data: { text: failover } } ] }
  - { id: gone, uses: delete, cluster: a, with: { kind: ConfigMap, namespace: shop, name: shop-settings } }
"#,
        )
        .write(dir.path());
    let before = (versions(&a, &["shop"]), versions(&b, &["shop", "edge"]));
    let events = run_json(&rb, &["--dry-run"], 0);
    let results: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "object_result")
        .collect();
    assert!(results.len() >= 5, "{events:#?}");
    assert!(
        results
            .iter()
            .all(|e| e["dry_run"] == true && e["result"] != "failed"),
        "{results:#?}"
    );
    let after = (versions(&a, &["shop"]), versions(&b, &["shop", "edge"]));
    assert_eq!(before.0, after.0, "the dry run changed cluster a");
    assert_eq!(before.1, after.1, "the dry run changed cluster b");
    assert!(!store.exists(), "the dry run wrote a backup");
    // The API server saw every write, each as a dry run.
    for (name, cp) in [("a", &a), ("b", &b)] {
        let writes = cp.lifeboat_writes();
        assert!(!writes.is_empty(), "cluster {name} saw no write");
        let real: Vec<&Value> = writes
            .iter()
            .filter(|e| {
                !e["requestURI"]
                    .as_str()
                    .unwrap_or("")
                    .contains("dryRun=All")
            })
            .collect();
        assert!(real.is_empty(), "cluster {name} got real writes: {real:#?}");
    }
}

/// Create requests lifeboat sent per resource (answered with `code`, or any answer).
fn creates(cp: &ControlPlane, code: Option<u64>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for e in cp.lifeboat_writes() {
        if e["verb"] != "create" || code.is_some_and(|c| e["responseStatus"]["code"] != c) {
            continue;
        }
        *out.entry(
            e["objectRef"]["resource"]
                .as_str()
                .unwrap_or("")
                .to_string(),
        )
        .or_insert(0) += 1;
    }
    out
}

#[test]
fn a_restore_into_the_control_plane_killed_mid_tier_resumes_without_writing_finished_tiers_again() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let n = 3000;
    // The backup is taken from a sandbox (fast to fill); the restore goes into the
    // real control plane.
    let source = Logged::start(dir.path(), "source", Some(&bulk_seed(dir.path(), n)));
    let store = dir.path().join("store");
    let take = write_runbook(
        dir.path(),
        "take",
        &source.kubeconfig,
        &store,
        "  - { id: backup, uses: backup, with: { store: local, namespaces: [ bulk ] } }\n",
    );
    let out = Test::new()
        .arg("run")
        .arg(&take)
        .args(["--output", "json"])
        .run();
    let id = crate::backup_restore::json_lines(&out.stdout)
        .iter()
        .find(|e| e["event"] == "step_succeeded")
        .and_then(|e| e["outputs"]["backup_id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{}", out.stdout));

    let b = ControlPlane::start();
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
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let made = creates(&b, Some(201))
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
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let at_kill = creates(&b, None);
    assert!(
        at_kill.get("configmaps").copied().unwrap_or(0) < n,
        "the kill came too late: {at_kill:?}"
    );
    Test::new()
        .args(["resume", &run_id, "--steal-lock", "--state"])
        .arg(dir.path().join("state"))
        .stdout_contains("ok    restore")
        .limit(Duration::from_secs(180))
        .run();
    let after = creates(&b, None);
    for finished in ["namespaces", "serviceaccounts", "secrets"] {
        assert_eq!(
            after.get(finished),
            at_kill.get(finished),
            "{finished} were written again"
        );
    }
    let ok = creates(&b, Some(201));
    assert_eq!(ok.get("secrets"), Some(&20), "{ok:?}");
    assert_eq!(ok.get("configmaps"), Some(&n), "{ok:?}");
    let names = b.ok(&[
        "get",
        "configmaps",
        "-n",
        "bulk",
        "--field-selector",
        "metadata.name!=kube-root-ca.crt",
        "-o",
        "name",
    ]);
    assert_eq!(names.lines().count(), n);
}

/// Hostile kubeconfig on a real TLS API server: a certificate authority that is not
/// the server's (here, not a certificate at all) fails the step saying the server's
/// certificate is not trusted; nothing is sent.
#[test]
fn a_kubeconfig_whose_authority_is_not_the_servers_fails_on_the_certificate() {
    let cp = ControlPlane::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let admin = std::fs::read_to_string(&cp.kubeconfig).unwrap_or_default();
    let broken: String = admin
        .lines()
        .map(|l| match l.split_once("certificate-authority: ") {
            Some((head, _)) => {
                format!("{head}certificate-authority-data: bm90IGEgY2VydGlmaWNhdGU= }}")
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(
        broken, admin,
        "the admin kubeconfig names no certificate-authority"
    );
    let kubeconfig = dir.path().join("broken.kubeconfig");
    std::fs::write(&kubeconfig, broken).unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("broken-ca")
        .cluster("c", &kubeconfig)
        .steps("  - { id: look, uses: wait, cluster: c, with: { kind: ConfigMap, namespace: default, name: kube-root-ca.crt, jsonpath: \"{.metadata.name}\", value: kube-root-ca.crt, timeout: 5s } }\n")
        .write(dir.path());
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .current_dir(dir.path())
        .status(1)
        .run();
    assert!(
        out.stdout.contains("FAIL  look") && out.stdout.to_lowercase().contains("certificate"),
        "{}",
        out.stdout
    );
}
