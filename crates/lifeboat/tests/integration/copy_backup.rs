//! `copy_backup` replicates a backup from the S3 server into a folder store: the copy
//! verifies and restores; a damaged part stops the copy before the manifest is
//! written, so the destination never holds a complete-looking damaged backup.

use crate::backup_restore::{
    Bucket, app_cluster, backups, failure, outputs, run_json, runbook_with_store,
};
use crate::s3_server::aws;
use crate::served::Served;
use testbed::Kube;

#[test]
fn a_copied_backup_verifies_and_restores_and_a_damaged_one_is_not_copied() {
    let a = app_cluster();
    let bucket = Bucket::new("copy");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let offsite = dir.path().join("offsite");
    let stores = format!(
        "{}\n  offsite: {{ fs: {{ path: \"{}\" }} }}",
        bucket.store_yaml(),
        offsite.display()
    );
    let rb = runbook_with_store(
        dir.path(),
        "replicated",
        &[("a", &a.kubeconfig)],
        &stores,
        "  - { id: backup, uses: backup, with: { store: vault, namespaces: [ app ] } }\n  - { id: copy, uses: copy_backup, with: { from: vault, to: offsite, backup: \"${{ steps.backup.outputs.backup_id }}\" } }\n",
    );
    let events = run_json(&rb, &[], 0);
    let id = outputs(&events, "backup")["backup_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let copied = outputs(&events, "copy");
    assert_eq!(copied["backup_id"], id.as_str());
    assert_eq!(copied["bytes"], outputs(&events, "backup")["bytes"]);
    backups(&["verify", "--store", &offsite.to_string_lossy(), &id])
        .stdout_contains("parts verified")
        .run();

    let b = Served::start(&[]);
    let from_copy = runbook_with_store(
        dir.path(),
        "from-copy",
        &[("b", &b.kubeconfig)],
        &format!("{{ fs: {{ path: \"{}\" }} }}", offsite.display()),
        &format!("  - {{ id: restore, uses: restore, with: {{ store: vault, backup: {id} }} }}\n"),
    );
    assert_eq!(
        outputs(&run_json(&from_copy, &[], 0), "restore")["failed"],
        "0"
    );
    b.ok(&["get", "statefulset", "-n", "app", "db"]);

    // Damage one part at the source: a second copy (to a new place) stops at that part.
    let key = format!(
        "s3://{}/dr/backups/{id}/resources/core/v1/secrets.jsonl.zst",
        bucket.name
    );
    let local = dir.path().join("part");
    assert!(
        aws(&["s3", "cp", &key, &local.to_string_lossy()])
            .status
            .success()
    );
    let mut bytes = std::fs::read(&local).unwrap_or_else(|e| panic!("{e}"));
    bytes.truncate(bytes.len() / 2);
    std::fs::write(&local, &bytes).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        aws(&["s3", "cp", &local.to_string_lossy(), &key])
            .status
            .success()
    );
    let second = dir.path().join("second");
    let again = runbook_with_store(
        dir.path(),
        "replicated",
        &[("a", &a.kubeconfig)],
        &format!(
            "{}\n  offsite: {{ fs: {{ path: \"{}\" }} }}",
            bucket.store_yaml(),
            second.display()
        ),
        &format!(
            "  - {{ id: copy, uses: copy_backup, with: {{ from: vault, to: offsite, backup: {id} }} }}\n"
        ),
    );
    let events = run_json(&again, &[], 1);
    let error = failure(&events, "copy");
    assert!(
        error.contains("resources/core/v1/secrets.jsonl.zst") && error.contains("not copied"),
        "{error}"
    );
    assert!(!second.join(format!("backups/{id}/manifest.json")).exists());
}
