//! Verified restores on the sandbox and on the real control plane: a restore with
//! `verify: true` of the project's fixtures reads every object back and finds no drift
//! (what the target cluster adds on its own is not drift), also when moved to another
//! namespace; then, with an object
//! changed, one deleted and a Deployment scaled in the target, `verify_restore` fails
//! naming each by field path (a Secret's values never shown), `report_only: true`
//! records the same drift and succeeds, and the JUnit and HTML reports show it.

use serde_json::Value;

use crate::backup_restore::{Bucket, failure, json_lines, outputs, runbook};
use crate::harness::Test;
use crate::real_restore::seed_app;
use crate::served::Served;
use testbed::{ControlPlane, Kube};

fn verify_step(backup: &str, extra: &str) -> String {
    format!(
        "  - {{ id: check, uses: verify_restore, cluster: b, with: {{ store: vault, backup: {backup}{extra} }} }}\n"
    )
}

fn drift_events(events: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = events
        .iter()
        .filter(|e| e["event"] == "object_drift")
        .map(|e| {
            let fields: Vec<&str> = e["fields"]
                .as_array()
                .map(|f| f.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if e["missing"] == true {
                format!(
                    "{} {} missing",
                    e["kind"].as_str().unwrap_or(""),
                    e["name"].as_str().unwrap_or("")
                )
            } else {
                format!(
                    "{} {} {}",
                    e["kind"].as_str().unwrap_or(""),
                    e["name"].as_str().unwrap_or(""),
                    fields.join(",")
                )
            }
        })
        .collect();
    out.sort();
    out
}

fn verified_restores(a: &dyn Kube, b: &dyn Kube) {
    seed_app(a);
    let bucket = Bucket::new("verify");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let clusters = [("a", a.kubeconfig()), ("b", b.kubeconfig())];
    let rb = runbook(
        dir.path(),
        "verified",
        &clusters,
        &bucket,
        &format!(
            "  - {{ id: backup, uses: backup, cluster: a, with: {{ store: vault, namespaces: [ app ] }} }}\n  - {{ id: restore, uses: restore, cluster: b, with: {{ store: vault, backup: \"${{{{ steps.backup.outputs.backup_id }}}}\", verify: true }} }}\n  - {{ id: moved, uses: restore, cluster: b, with: {{ store: vault, backup: \"${{{{ steps.backup.outputs.backup_id }}}}\", namespace_mapping: {{ app: app-copy }}, verify: true }} }}\n{}",
            verify_step("\"${{ steps.backup.outputs.backup_id }}\"", "")
        ),
    );
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--output", "json"])
        .status_any()
        .run();
    let events = json_lines(&out.stdout);
    assert!(
        drift_events(&events).is_empty(),
        "a clean restore into the {} has drift: {:#?}",
        b.label(),
        drift_events(&events)
    );
    assert_eq!(out.status, 0, "{}\n{}", out.stdout, out.stderr);
    let restore = outputs(&events, "restore");
    assert_eq!(restore["drift"], "0", "{restore}");
    let verified: u64 = restore["verified"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let created: u64 = restore["created"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(verified >= created && created > 10, "{restore}");
    // Moved to another namespace (renamed, with its name label), read back the same.
    assert_eq!(outputs(&events, "moved")["drift"], "0");
    let check = outputs(&events, "check");
    assert_eq!(check["verified"], restore["verified"], "{check}");
    assert_eq!(check["drift"], "0", "{check}");
    let backup_id = restore["backup_id"].as_str().unwrap_or("").to_string();

    // The target drifts: a value changed, a Secret deleted, a Deployment scaled.
    b.ok(&[
        "patch",
        "configmap",
        "settings",
        "-n",
        "app",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"LOG_LEVEL":"debug"}}"#,
    ]);
    b.ok(&["delete", "secret", "api-token", "-n", "app"]);
    b.ok(&[
        "patch",
        "secret",
        "db-credentials",
        "-n",
        "app",
        "--type",
        "merge",
        "-p",
        r#"{"stringData":{"password":"rotated-do-not-show"}}"#,
    ]);
    b.ok(&["scale", "deployment", "web", "-n", "app", "--replicas", "5"]);

    let check = runbook(
        dir.path(),
        "check",
        &clusters,
        &bucket,
        &verify_step(&backup_id, ""),
    );
    let junit = dir.path().join("check.xml");
    let report = dir.path().join("check.html");
    let out = Test::new()
        .arg("run")
        .arg(&check)
        .args(["--output", "json", "--junit"])
        .arg(&junit)
        .arg("--report")
        .arg(&report)
        .status(1)
        .run();
    let events = json_lines(&out.stdout);
    let expected = [
        "ConfigMap app/settings data.LOG_LEVEL",
        "Deployment app/web spec.replicas",
        "Secret app/api-token missing",
        "Secret app/db-credentials data.password",
    ];
    assert_eq!(drift_events(&events), expected, "on the {}", b.label());
    let error = failure(&events, "check");
    assert!(
        error.starts_with("4 of ")
            && error.contains(&format!(
                "differ from backup {backup_id} (1 missing, 3 changed)"
            )),
        "{error}"
    );
    let junit = std::fs::read_to_string(&junit).unwrap_or_default();
    assert!(
        junit.contains("object drift: Secret app/api-token missing"),
        "{junit}"
    );
    assert!(
        junit.contains("object drift: Deployment app/web differs at spec.replicas"),
        "{junit}"
    );
    let html = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(
        html.contains("drift: ConfigMap app/settings differs at data.LOG_LEVEL"),
        "{html}"
    );
    for shown in [&out.stdout, &out.stderr, &junit, &html] {
        assert!(
            !shown.contains("rotated-do-not-show") && !shown.contains("cm90YXRlZC1kby1ub3Qtc2hvdw"),
            "a Secret value was shown"
        );
    }

    // Report only: the same drift, recorded; the step succeeds.
    let report_only = runbook(
        dir.path(),
        "report",
        &clusters,
        &bucket,
        &verify_step(&backup_id, ", report_only: true"),
    );
    let out = Test::new()
        .arg("run")
        .arg(&report_only)
        .args(["--output", "json"])
        .run();
    let events = json_lines(&out.stdout);
    assert_eq!(drift_events(&events), expected);
    let check = outputs(&events, "check");
    assert_eq!(
        (
            check["drift"].as_str(),
            check["missing"].as_str(),
            check["changed"].as_str()
        ),
        (Some("4"), Some("1"), Some("3")),
        "{check}"
    );
}

#[test]
fn a_verified_restore_finds_no_drift_and_then_the_drift_made_on_the_sandbox() {
    verified_restores(&Served::start(&[]), &Served::start(&[]));
}

#[test]
fn a_verified_restore_finds_no_drift_and_then_the_drift_made_on_the_control_plane() {
    verified_restores(&ControlPlane::start(), &ControlPlane::start());
}
