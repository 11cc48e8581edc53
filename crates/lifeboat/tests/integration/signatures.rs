//! Signed manifests: a backup into a store with a minisign secret key gets its
//! manifest signed; the real `minisign` verifies it; a restore from a store that
//! requires signatures refuses a changed or an unsigned backup before writing anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::backup_restore::{app_cluster, backups, failure, outputs, run_json, runbook_with_store};
use crate::served::Served;
use testbed::Kube;

/// A minisign key pair in `dir`, `k.key` (not encrypted) and `k.pub`, made by the
/// real `minisign` (scripts/test installs it).
pub fn signing_keys(dir: &Path) {
    let out = std::process::Command::new("minisign")
        .args(["-G", "-W", "-f", "-p"])
        .arg(dir.join("k.pub"))
        .arg("-s")
        .arg(dir.join("k.key"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run minisign (scripts/test installs it): {e}"));
    assert!(
        out.status.success(),
        "minisign -G: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A minisign key pair in `dir` (`k.key` encrypted with `password`, `k.pub`), made by
/// the real `minisign` reading the password from its standard input.
fn encrypted_keys(dir: &Path, password: &str) {
    let mut child = Command::new("minisign")
        .args(["-G", "-f", "-p"])
        .arg(dir.join("k.pub"))
        .arg("-s")
        .arg(dir.join("k.key"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run minisign (scripts/test installs it): {e}"));
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = write!(stdin, "{password}\n{password}\n");
    }
    let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "minisign -G: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Backs up namespace `app` of `a` into the folder store `dir/vault` with `signing`
/// (YAML of the store's `signing:`); returns the backup id.
fn signed_backup(dir: &Path, a: &Served, signing: &str, env: &[(&str, &str)]) -> String {
    let rb = runbook_with_store(
        dir,
        "signed",
        &[("a", &a.kubeconfig)],
        &format!("{{ fs: {{ path: vault }}{signing} }}"),
        "  - { id: backup, uses: backup, with: { store: vault, namespaces: [ app ] } }\n",
    );
    let mut test = crate::harness::Test::new()
        .args(["run", "--output", "json"])
        .arg(&rb);
    for (k, v) in env {
        test = test.env(k, v);
    }
    let events = crate::backup_restore::json_lines(&test.run().stdout);
    let backup = outputs(&events, "backup");
    backup["backup_id"].as_str().unwrap_or_default().to_string()
}

fn manifest(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("vault/backups/{id}/manifest.json"))
}

/// A restore of backup `id` from `dir/vault` into `b`, the store checking signatures
/// with `k.pub` and requiring them.
fn restore_requiring_signatures(dir: &Path, b: &Served, id: &str) -> PathBuf {
    runbook_with_store(
        dir,
        "checked",
        &[("b", &b.kubeconfig)],
        "{ fs: { path: vault }, signing: { public_key: k.pub, require_signature: true } }",
        &format!("  - {{ id: restore, uses: restore, with: {{ store: vault, backup: {id} }} }}\n"),
    )
}

#[test]
fn a_signed_manifest_verifies_with_the_minisign_cli() {
    let a = app_cluster();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    encrypted_keys(dir.path(), "correct horse");
    let id = signed_backup(
        dir.path(),
        &a,
        ", signing: { secret_key: k.key, password_env: SIGNING_PASSWORD, public_key: k.pub }",
        &[("SIGNING_PASSWORD", "correct horse")],
    );
    let out = Command::new("minisign")
        .arg("-V")
        .arg("-p")
        .arg(dir.path().join("k.pub"))
        .arg("-m")
        .arg(manifest(dir.path(), &id))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Signature and comment signature verified"),
        "minisign -V: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("backup:{id}")), "{stdout}");
    let store = dir.path().join("vault");
    backups(&[
        "verify",
        &id,
        "--store",
        &store.to_string_lossy(),
        "--require-signature",
        "--public-key",
    ])
    .arg(dir.path().join("k.pub"))
    .stdout_contains("signature verified")
    .run();
}

#[test]
fn a_wrong_password_fails_the_backup_before_anything_is_written() {
    let a = app_cluster();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    encrypted_keys(dir.path(), "correct horse");
    let rb = runbook_with_store(
        dir.path(),
        "signed",
        &[("a", &a.kubeconfig)],
        "{ fs: { path: vault }, signing: { secret_key: k.key, password_env: SIGNING_PASSWORD } }",
        "  - { id: backup, uses: backup, with: { store: vault, namespaces: [ app ] } }\n",
    );
    let out = crate::harness::Test::new()
        .args(["run", "--output", "json"])
        .arg(&rb)
        .env("SIGNING_PASSWORD", "battery staple")
        .status(1)
        .run();
    let events = crate::backup_restore::json_lines(&out.stdout);
    assert!(
        failure(&events, "backup").contains("wrong password"),
        "{}",
        failure(&events, "backup")
    );
    assert!(
        !dir.path().join("vault/backups").exists(),
        "a backup was written with a key that could not sign it"
    );
}

#[test]
fn a_changed_signed_manifest_is_refused_before_anything_is_restored() {
    let a = app_cluster();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    signing_keys(dir.path());
    let id = signed_backup(
        dir.path(),
        &a,
        ", signing: { secret_key: k.key, public_key: k.pub }",
        &[],
    );
    // Someone with write access to the store, but not the key, edits the manifest.
    let path = manifest(dir.path(), &id);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let edited = text.replacen("\"objects\":", "\"objects\": ", 1);
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap_or_else(|e| panic!("{e}"));

    let b = Served::start(&[]);
    let events = run_json(&restore_requiring_signatures(dir.path(), &b, &id), &[], 1);
    let why = failure(&events, "restore");
    assert!(why.contains("signature does not match"), "{why}");
    assert!(
        b.fails(&["get", "namespace", "app"]).contains("NotFound"),
        "the restore wrote to the cluster"
    );
    let store = dir.path().join("vault");
    backups(&[
        "verify",
        &id,
        "--store",
        &store.to_string_lossy(),
        "--public-key",
    ])
    .arg(dir.path().join("k.pub"))
    .status(1)
    .run();
}

#[test]
fn an_unsigned_backup_is_refused_where_signatures_are_required() {
    let a = app_cluster();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    signing_keys(dir.path());
    let id = signed_backup(dir.path(), &a, "", &[]);
    let b = Served::start(&[]);
    let events = run_json(&restore_requiring_signatures(dir.path(), &b, &id), &[], 1);
    let why = failure(&events, "restore");
    assert!(why.contains("has no signature"), "{why}");
    assert!(
        b.fails(&["get", "namespace", "app"]).contains("NotFound"),
        "the restore wrote to the cluster"
    );
}
