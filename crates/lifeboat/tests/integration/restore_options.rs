//! Restore's options through `lifeboat run`: namespace mapping, what happens to objects
//! that exist (skip, update, fail), CRDs with their custom resources, one namespace
//! out of a cluster backup, label selection, dry-run, and a stored version-1 backup.

use serde_json::Value;

use crate::backup_restore::{
    Bucket, all_objects, app_cluster, back_up, failure, outputs, restore_runbook, run_json,
    runbook_with_store,
};
use crate::harness::path;
use crate::served::Served;
use testbed::Kube;

fn count(outputs: &Value, name: &str) -> u64 {
    outputs[name]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {outputs}"))
}

fn data(cluster: &Served, ns: &str, cm: &str, key: &str) -> String {
    cluster.ok(&[
        "get",
        "configmap",
        "-n",
        ns,
        cm,
        "-o",
        &format!("jsonpath={{.data.{key}}}"),
    ])
}

#[test]
fn namespace_mapping_restores_beside_the_original() {
    let a = app_cluster();
    let bucket = Bucket::new("mapping");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = back_up(dir.path(), &a, &bucket, ", namespaces: [ app ]");
    let rb = restore_runbook(
        dir.path(),
        &a,
        &bucket,
        &id,
        ", namespaces: [ app ], namespace_mapping: { app: app-copy }",
    );
    let restored = outputs(&run_json(&rb, &[], 0), "restore");
    assert_eq!(count(&restored, "failed"), 0);
    assert!(count(&restored, "created") >= 10, "{restored}");
    assert_eq!(data(&a, "app-copy", "settings", "LOG_LEVEL"), "info");
    let subject = a.ok(&[
        "get",
        "rolebinding",
        "-n",
        "app-copy",
        "web-reads-config",
        "-o",
        "jsonpath={.subjects[0].namespace}",
    ]);
    assert_eq!(subject, "app-copy");
    a.ok(&["get", "namespace", "app-copy"]);
    a.ok(&["get", "backupschedule", "-n", "app-copy", "nightly"]);
    // The original is untouched.
    assert_eq!(data(&a, "app", "settings", "LOG_LEVEL"), "info");
}

#[test]
fn existing_objects_are_skipped_updated_or_failed_as_asked() {
    let a = app_cluster();
    let bucket = Bucket::new("existing");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = back_up(dir.path(), &a, &bucket, ", namespaces: [ app ]");
    a.ok(&[
        "patch",
        "configmap",
        "-n",
        "app",
        "settings",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"LOG_LEVEL":"debug"}}"#,
    ]);

    let skip = restore_runbook(dir.path(), &a, &bucket, &id, ", existing: skip");
    let skipped = outputs(&run_json(&skip, &[], 0), "restore");
    assert_eq!(count(&skipped, "created"), 0, "{skipped}");
    assert!(count(&skipped, "skipped") >= 10, "{skipped}");
    assert_eq!(data(&a, "app", "settings", "LOG_LEVEL"), "debug");

    let fail = restore_runbook(dir.path(), &a, &bucket, &id, ", existing: fail");
    let events = run_json(&fail, &[], 1);
    assert!(
        failure(&events, "restore").contains("already exists (existing: fail)"),
        "{events:#?}"
    );
    assert_eq!(data(&a, "app", "settings", "LOG_LEVEL"), "debug");

    let update = restore_runbook(dir.path(), &a, &bucket, &id, ", existing: update");
    let updated = outputs(&run_json(&update, &[], 0), "restore");
    assert!(count(&updated, "updated") >= 1, "{updated}");
    assert!(count(&updated, "unchanged") >= 1, "{updated}");
    assert_eq!(data(&a, "app", "settings", "LOG_LEVEL"), "info");
    // A second update finds nothing to change (the two ConfigMaps of the app; the
    // namespace's kube-root-ca.crt is the target's own and is skipped).
    let again = outputs(&run_json(&update, &[], 0), "restore");
    assert_eq!(again["kinds"]["ConfigMap"], "2", "{again}");
    assert_eq!(count(&again, "updated"), 0, "{again}");
    assert_eq!(count(&again, "failed"), 0);
}

#[test]
fn one_namespace_restores_out_of_a_cluster_backup_with_its_crds() {
    let a = Served::start(&[
        &testbed::fixture("sandbox/app"),
        &testbed::fixture("sandbox/extras"),
        &testbed::fixture("sandbox/custom"),
    ]);
    a.ok(&[
        "create",
        "configmap",
        "-n",
        "default",
        "elsewhere",
        "--from-literal=a=b",
    ]);
    let bucket = Bucket::new("onens");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = back_up(dir.path(), &a, &bucket, "");
    let b = Served::start(&[]);
    let rb = restore_runbook(dir.path(), &b, &bucket, &id, ", namespaces: [ app ]");
    let restored = outputs(&run_json(&rb, &[], 0), "restore");
    assert_eq!(count(&restored, "failed"), 0);
    // The CRD came first, then its custom resource.
    b.ok(&["get", "crd", "backupschedules.lifeboat.dev"]);
    let schedule = b.ok(&[
        "get",
        "backupschedule",
        "-n",
        "app",
        "nightly",
        "-o",
        "jsonpath={.spec.schedule}",
    ]);
    assert_eq!(schedule, "0 3 * * *");
    b.ok(&["get", "statefulset", "-n", "app", "db"]);
    assert!(
        b.fails(&["get", "configmap", "-n", "default", "elsewhere"])
            .contains("NotFound")
    );
}

#[test]
fn a_label_selector_restores_only_matching_objects() {
    let a = app_cluster();
    let bucket = Bucket::new("labels");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = back_up(dir.path(), &a, &bucket, ", namespaces: [ app ]");
    let b = Served::start(&[]);
    let rb = restore_runbook(
        dir.path(),
        &b,
        &bucket,
        &id,
        ", label_selector: \"tier=web\"",
    );
    let restored = outputs(&run_json(&rb, &[], 0), "restore");
    assert_eq!(count(&restored, "failed"), 0);
    for (kind, name) in [
        ("configmap", "settings"),
        ("secret", "api-token"),
        ("service", "web"),
        ("deployment", "web"),
    ] {
        b.ok(&["get", kind, "-n", "app", name]);
    }
    for (kind, name) in [
        ("configmap", "batch-settings"),
        ("cronjob", "report"),
        ("statefulset", "db"),
        ("pvc", "reports"),
    ] {
        assert!(
            b.fails(&["get", kind, "-n", "app", name])
                .contains("NotFound"),
            "{kind}/{name} was restored"
        );
    }
}

#[test]
fn a_dry_run_restore_changes_nothing_and_says_what_it_would_do() {
    let a = app_cluster();
    let bucket = Bucket::new("dryrun");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = back_up(dir.path(), &a, &bucket, ", namespaces: [ app ]");
    // A dry-run backup lists and counts, and writes nothing to the store.
    let keys_before = bucket.listing();
    let backup_rb = runbook_with_store(
        dir.path(),
        "dry-backup",
        &[("a", &a.kubeconfig)],
        &bucket.store_yaml(),
        "  - { id: backup, uses: backup, with: { store: vault, namespaces: [ app ] } }\n",
    );
    let counted = outputs(&run_json(&backup_rb, &["--dry-run"], 0), "backup");
    assert!(count(&counted, "objects") >= 10, "{counted}");
    assert_eq!(
        bucket.listing(),
        keys_before,
        "a dry-run backup wrote to the store"
    );
    let b = Served::start(&[]);
    let before = all_objects(&b);
    let rb = restore_runbook(dir.path(), &b, &bucket, &id, "");
    let events = run_json(&rb, &["--dry-run"], 0);
    assert_eq!(events[0]["dry_run"], true);
    let would = outputs(&events, "restore");
    assert!(count(&would, "created") >= 10, "{would}");
    assert_eq!(count(&would, "failed"), 0, "{would}");
    // Every object is reported: what it would do, and why when it would skip.
    let per_object: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "object_result")
        .collect();
    let created = per_object
        .iter()
        .filter(|e| e["result"] == "created")
        .count() as u64;
    assert_eq!(created, count(&would, "created"));
    assert!(per_object.iter().all(|e| e["dry_run"] == true));
    assert!(
        per_object.iter().any(|e| e["kind"] == "ConfigMap"
            && e["name"] == "app/settings"
            && e["result"] == "created"),
        "{per_object:#?}"
    );
    let human = crate::harness::Test::new()
        .arg("run")
        .arg(&rb)
        .arg("--dry-run")
        .run();
    assert!(
        human.stdout.contains("would create ConfigMap app/settings"),
        "{}",
        human.stdout
    );
    assert!(all_objects(&b) == before, "a dry run changed the cluster");
    assert_eq!(
        bucket.listing(),
        keys_before,
        "a dry run wrote to the store"
    );
}

#[test]
fn a_version_1_backup_restores_forever() {
    let store = path("crates/lifeboat/tests/fixtures/backups-v1");
    let b = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook_with_store(
        dir.path(),
        "v1",
        &[("b", &b.kubeconfig)],
        &format!("{{ fs: {{ path: \"{}\" }} }}", store.display()),
        "  - { id: restore, uses: restore, with: { store: vault, backup: shop-v1 } }\n",
    );
    let restored = outputs(&run_json(&rb, &[], 0), "restore");
    assert_eq!(count(&restored, "failed"), 0);
    assert!(count(&restored, "created") >= 5, "{restored}");
    b.ok(&["get", "deployment", "-n", "shop", "frontend", "cart"]);
}

#[test]
fn restore_status_writes_the_backed_up_status_and_fail_fast_stops_at_the_first_failure() {
    let a = app_cluster();
    a.ok(&[
        "patch",
        "backupschedule",
        "-n",
        "app",
        "nightly",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"lastBackup":"2026-11-27T03:00:00Z"}}"#,
    ]);
    let bucket = Bucket::new("status");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = back_up(dir.path(), &a, &bucket, ", namespaces: [ app ]");

    let b = Served::start(&[]);
    let with_status = restore_runbook(dir.path(), &b, &bucket, &id, ", restore_status: true");
    assert_eq!(
        count(
            &outputs(&run_json(&with_status, &[], 0), "restore"),
            "failed"
        ),
        0
    );
    let last = b.ok(&[
        "get",
        "backupschedule",
        "-n",
        "app",
        "nightly",
        "-o",
        "jsonpath={.status.lastBackup}",
    ]);
    assert_eq!(last, "2026-11-27T03:00:00Z");

    let c = Served::start(&[]);
    let without = restore_runbook(dir.path(), &c, &bucket, &id, "");
    run_json(&without, &[], 0);
    let none = c.ok(&[
        "get",
        "backupschedule",
        "-n",
        "app",
        "nightly",
        "-o",
        "jsonpath={.status}",
    ]);
    assert_eq!(none, "", "status was restored without restore_status");

    // Everything exists in the source: with existing: fail each object fails;
    // fail_fast stops after the first ones instead of trying them all.
    let all = restore_runbook(dir.path(), &a, &bucket, &id, ", existing: fail");
    let slow = failure(&run_json(&all, &[], 1), "restore");
    let fast = restore_runbook(
        dir.path(),
        &a,
        &bucket,
        &id,
        ", existing: fail, fail_fast: true, parallelism: 1",
    );
    let quick = failure(&run_json(&fast, &[], 1), "restore");
    assert!(quick.contains("fail_fast stopped the restore"), "{quick}");
    let failed = |msg: &str| -> u64 {
        msg.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{msg}"))
    };
    assert!(
        failed(&quick) < failed(&slow),
        "fail_fast: {quick}\nwithout: {slow}"
    );
}

/// Regression: `existing: update` of a PVC already bound in the target failed on the
/// immutable `spec.volumeName` (the backup names the source's volume); the update now
/// keeps the target's binding. And a dry-run restore with `restore_status` counted every
/// object it would create as failed (its status patch found no object).
#[test]
fn an_update_keeps_a_bound_claims_volume_and_a_dry_run_with_status_does_not_fail() {
    let a = app_cluster();
    let bucket = Bucket::new("boundpvc");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = back_up(dir.path(), &a, &bucket, ", namespaces: [ app ]");
    let b = Served::start(&[]);
    let dry = restore_runbook(dir.path(), &b, &bucket, &id, ", restore_status: true");
    let dry_out = outputs(&run_json(&dry, &["--dry-run"], 0), "restore");
    assert_eq!(count(&dry_out, "failed"), 0, "{dry_out}");

    let claim = "apiVersion: v1\nkind: Namespace\nmetadata: { name: app }\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: { name: uploads, namespace: app }\nspec: { accessModes: [ ReadWriteOnce ], resources: { requests: { storage: 1Gi } } }\n";
    b.kubectl_in(&["apply", "-f", "-"], Some(claim));
    b.ok(&[
        "wait",
        "-n",
        "app",
        "--for=jsonpath={.status.phase}=Bound",
        "pvc/uploads",
        "--timeout=20s",
    ]);
    let volume = b.ok(&[
        "get",
        "pvc",
        "-n",
        "app",
        "uploads",
        "-o",
        "jsonpath={.spec.volumeName}",
    ]);
    let update = restore_runbook(dir.path(), &b, &bucket, &id, ", existing: update");
    let updated = outputs(&run_json(&update, &[], 0), "restore");
    assert_eq!(count(&updated, "failed"), 0, "{updated}");
    assert_eq!(
        b.ok(&[
            "get",
            "pvc",
            "-n",
            "app",
            "uploads",
            "-o",
            "jsonpath={.spec.volumeName} {.spec.resources.requests.storage}"
        ]),
        format!("{volume} 2Gi"),
        "the claim keeps its volume and takes the backed-up request"
    );
}
