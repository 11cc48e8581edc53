//! `lifeboat backups diff`: two backups of one cluster, taken before and after a few
//! changes, compared: what was added, removed and changed, per resource type, with the
//! changed fields named by path and no value shown (a Secret's least of all); and a
//! backup compared with the cluster's live state (`--cluster`), on the sandbox and on
//! the real control plane.

use serde_json::Value;

use crate::backup_restore::{app_cluster, outputs, run_json, runbook_with_store};
use crate::harness::Test;
use crate::real_restore::seed_app;
use testbed::{ControlPlane, Kube};

const NEW_PASSWORD: &str = "planted-new-password-41d2";

#[test]
fn a_diff_of_two_backups_names_what_was_added_removed_and_changed_without_values() {
    let a = app_cluster();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook_with_store(
        dir.path(),
        "diffed",
        &[("a", &a.kubeconfig)],
        "{ fs: { path: vault } }",
        "  - { id: backup, uses: backup, with: { store: vault, namespaces: [ app ] } }\n",
    );
    let backup = || {
        outputs(&run_json(&rb, &[], 0), "backup")["backup_id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let before = backup();
    a.ok(&[
        "create",
        "configmap",
        "added-cm",
        "-n",
        "app",
        "--from-literal=k=v",
    ]);
    a.ok(&["delete", "service", "db", "-n", "app"]);
    a.ok(&["scale", "statefulset", "db", "-n", "app", "--replicas=5"]);
    a.ok(&[
        "patch",
        "secret",
        "db-credentials",
        "-n",
        "app",
        "-p",
        &format!("{{\"stringData\":{{\"password\":\"{NEW_PASSWORD}\"}}}}"),
    ]);
    let after = backup();
    assert_ne!(before, after);

    let store = dir.path().join("vault");
    let store = store.to_string_lossy();
    let out = Test::new()
        .args(["backups", "diff", "--store", &store, &before, &after])
        .stdout_contains(&format!("backup {before} -> backup {after}"))
        .stdout_contains("  added    app/added-cm")
        .stdout_contains("  removed  app/db")
        .stdout_contains("  changed  app/db: spec.replicas")
        .stdout_contains("  changed  app/db-credentials: data.password")
        .run();
    let encoded = base64_of(NEW_PASSWORD);
    for secret in [NEW_PASSWORD, encoded.as_str()] {
        assert!(
            !out.stdout.contains(secret),
            "a Secret value reached the diff:\n{}",
            out.stdout
        );
    }

    let json = Test::new()
        .args([
            "backups", "diff", "--store", &store, &before, &after, "--output", "json",
        ])
        .run();
    let doc: Value =
        serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.stdout));
    let kind = |resource: &str| {
        doc["kinds"]
            .as_array()
            .and_then(|k| k.iter().find(|k| k["resource"] == resource))
            .cloned()
            .unwrap_or_else(|| panic!("no {resource} in {doc}"))
    };
    assert_eq!(
        kind("configmaps")["added"],
        serde_json::json!(["app/added-cm"])
    );
    assert_eq!(kind("services")["removed"], serde_json::json!(["app/db"]));
    assert_eq!(
        kind("statefulsets.apps")["changed"][0]["fields"],
        serde_json::json!(["spec.replicas"])
    );
    assert!(doc["unchanged"].as_u64().is_some_and(|n| n > 5), "{doc}");
    // The same backup twice: nothing differs.
    Test::new()
        .args(["backups", "diff", "--store", &store, &after, &after])
        .stdout_contains("0 added, 0 removed, 0 changed")
        .run();
}

/// A backup of namespace `app`, then changes made to the cluster, then the backup
/// diffed against the live state: each change, and nothing the changes did not touch.
fn a_backup_diffed_with_live_state(a: &dyn Kube) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook_with_store(
        dir.path(),
        "live",
        &[("a", a.kubeconfig())],
        "{ fs: { path: vault } }",
        "  - { id: backup, uses: backup, with: { store: vault, namespaces: [ app ] } }\n",
    );
    let id = outputs(&run_json(&rb, &[], 0), "backup")["backup_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    a.ok(&[
        "create",
        "configmap",
        "added-cm",
        "-n",
        "app",
        "--from-literal=k=v",
    ]);
    a.ok(&["delete", "service", "db", "-n", "app"]);
    a.ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "app",
        "-p",
        r#"{"data":{"LOG_LEVEL":"debug"}}"#,
    ]);
    a.ok(&[
        "patch",
        "secret",
        "db-credentials",
        "-n",
        "app",
        "-p",
        &format!("{{\"stringData\":{{\"password\":\"{NEW_PASSWORD}\"}}}}"),
    ]);
    let context = a.ok(&["config", "current-context"]).trim().to_string();
    let store = dir.path().join("vault");
    let store = store.to_string_lossy();
    let kubeconfig = a.kubeconfig().to_string_lossy().into_owned();
    let out = Test::new()
        .args([
            "backups",
            "diff",
            "--store",
            &store,
            &id,
            "--cluster",
            &context,
            "--kubeconfig",
            &kubeconfig,
        ])
        .stdout_contains(&format!("backup {id} -> cluster {context}"))
        .stdout_contains("  added    app/added-cm")
        .stdout_contains("  removed  app/db")
        .stdout_contains("  changed  app/settings: data.LOG_LEVEL")
        .stdout_contains("  changed  app/db-credentials: data.password")
        .run();
    let encoded = base64_of(NEW_PASSWORD);
    assert!(
        !out.stdout.contains(NEW_PASSWORD) && !out.stdout.contains(encoded.as_str()),
        "a Secret value reached the diff:\n{}",
        out.stdout
    );
    // What was not touched is not reported.
    for quiet in ["app/batch-settings", "app/api-token", "app/uploads"] {
        assert!(
            !out.stdout.contains(quiet),
            "{quiet} is reported on the {}:\n{}",
            a.label(),
            out.stdout
        );
    }
    let json = Test::new()
        .args([
            "backups",
            "diff",
            "--store",
            &store,
            &id,
            "--cluster",
            &context,
            "--kubeconfig",
            &kubeconfig,
            "--output",
            "json",
        ])
        .run();
    let doc: Value =
        serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.stdout));
    assert_eq!(doc["to"], format!("cluster {context}"), "{doc}");
    assert!(doc["changed"].as_u64().is_some_and(|n| n >= 2), "{doc}");
    // Exactly one of a second backup and --cluster.
    Test::new()
        .args([
            "backups",
            "diff",
            "--store",
            &store,
            &id,
            &id,
            "--cluster",
            &context,
        ])
        .status(2)
        .stderr_contains("either")
        .run();
}

#[test]
fn a_backup_diffed_with_the_live_sandbox_names_what_changed_since() {
    let a = crate::served::Served::start(&[]);
    seed_app(&a);
    a_backup_diffed_with_live_state(&a);
}

#[test]
fn a_backup_diffed_with_a_live_control_plane_names_what_changed_since() {
    let a = ControlPlane::start();
    seed_app(&a);
    a_backup_diffed_with_live_state(&a);
}

fn base64_of(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
