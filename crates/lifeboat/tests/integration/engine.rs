//! The executor through `lifeboat run`: the README's demo end to end, step order,
//! `if:`, outputs passed between steps, `on_failure` (continue, abort, rollback with
//! the undo of scale and patch proven with kubectl), `--only`, `--inject-failure`,
//! `--dry-run` leaving clusters as they were, and the `scale`, `patch` and `wait`
//! actions.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::backup_restore::{failure, json_lines, outputs, run_json};
use crate::harness::{Test, TestRunbook, path};
use crate::served::Served;
use testbed::Kube;

/// Writes a runbook acting on one served cluster `c` (no stores).
fn runbook(dir: &Path, name: &str, cluster: Option<&Path>, steps: &str) -> PathBuf {
    let mut rb = TestRunbook::new(name).steps(steps);
    if let Some(kubeconfig) = cluster {
        rb = rb.cluster("c", kubeconfig);
    }
    rb.write(dir)
}

fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["event"] == kind).collect()
}

#[test]
fn the_readme_demo_drill_runs_end_to_end() {
    let out = Test::new()
        .args(["run", "runbooks/demo.yaml"])
        .stdout_contains("ok    backup")
        .stdout_contains("ok    restore")
        .stdout_contains("ok    ready")
        .stdout_contains("ok    freeze")
        .stdout_contains("ok    switch")
        .stdout_contains("ok    check")
        // Its objectives (rto 5m, rpo 1h) are met.
        .stdout_contains("objective rto:")
        .stdout_contains(" against 1h: met")
        .run();
    assert!(out.stdout.contains("succeeded in"), "{}", out.stdout);
    assert!(
        out.stdout.contains("6 succeeded, 0 failed, 0 skipped"),
        "{}",
        out.stdout
    );
}

/// The demo's shop and edge in one sandbox, the shop's frontend rolled out.
fn failover_cluster() -> Served {
    let c = Served::start(&[
        &path("runbooks/fixtures/shop"),
        &path("runbooks/fixtures/edge"),
    ]);
    c.ok(&[
        "rollout",
        "status",
        "-n",
        "shop",
        "deployment/frontend",
        "--timeout=30s",
    ]);
    c
}

/// The shop frontend's `spec.replicas`.
fn frontend_replicas(c: &Served) -> String {
    c.ok(&[
        "get",
        "deployment",
        "-n",
        "shop",
        "frontend",
        "-o",
        "jsonpath={.spec.replicas}",
    ])
}

/// The site the edge routes to (`edge/routing` ConfigMap, `active`).
fn active_site(c: &Served) -> String {
    c.ok(&[
        "get",
        "configmap",
        "-n",
        "edge",
        "routing",
        "-o",
        "jsonpath={.data.active}",
    ])
}

#[test]
fn a_failed_check_rolls_back_the_scale_and_the_patch() {
    let c = failover_cluster();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "failover",
        Some(&c.kubeconfig),
        "  - id: freeze\n    uses: scale\n    with: { namespace: shop, kind: Deployment, selector: \"tier=web\", replicas: 0 }\n    undo: {}\n\
         \x20 - id: switch\n    uses: patch\n    with: { kind: ConfigMap, namespace: edge, name: routing, merge: { data: { active: standby } } }\n    undo: {}\n\
         \x20 - id: check\n    uses: wait\n    with: { kind: ConfigMap, namespace: edge, name: routing, jsonpath: \"{.data.active}\", value: never, timeout: 1s }\n    on_failure: rollback\n",
    );
    let before = frontend_replicas(&c);
    let events = run_json(&rb, &[], 1);
    assert_eq!(
        outputs(&events, "freeze")["previous"]["frontend"],
        before.as_str()
    );
    assert!(
        failure(&events, "check").contains("timed out after 1s"),
        "{events:#?}"
    );
    assert!(
        failure(&events, "check").contains("{.data.active} is `standby`"),
        "{events:#?}"
    );
    let undone: Vec<&str> = events_of(&events, "step_undone")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(undone, ["switch", "freeze"], "undo runs newest first");
    assert!(
        events_of(&events, "step_undone")
            .iter()
            .all(|e| e.get("error").is_none()),
        "{events:#?}"
    );
    assert_eq!(frontend_replicas(&c), before);
    assert_eq!(active_site(&c), "primary");
}

/// Regression: a step whose `if:` could not be evaluated failed the run without the
/// rollback its `on_failure: rollback` asks for.
#[test]
fn an_if_that_cannot_be_evaluated_rolls_back_when_asked() {
    let c = failover_cluster();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "if-error",
        Some(&c.kubeconfig),
        "  - id: switch\n    uses: patch\n    with: { kind: ConfigMap, namespace: edge, name: routing, merge: { data: { active: standby } } }\n    undo: {}\n\
         \x20 - { id: maybe, uses: wait, if: \"${{ run.dry_run }}\", with: { kind: ConfigMap, namespace: edge, name: routing, jsonpath: \"{.data.active}\", value: standby, timeout: 5s } }\n\
         \x20 - id: check\n    uses: sleep\n    if: \"${{ steps.maybe.outputs.waited == '0s' }}\"\n    with: { duration: 1ms }\n    on_failure: rollback\n",
    );
    let events = run_json(&rb, &[], 1);
    assert!(
        failure(&events, "check").contains("cannot evaluate `if`"),
        "{events:#?}"
    );
    let undone: Vec<&str> = events_of(&events, "step_undone")
        .iter()
        .map(|e| e["step"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(undone, ["switch"], "{events:#?}");
    assert_eq!(active_site(&c), "primary");
}

/// A kubeconfig's `insecure-skip-tls-verify` is honoured as written, and every step
/// on that cluster says what it means.
#[test]
fn an_insecure_kubeconfig_is_honoured_with_a_warning() {
    let c = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let text = std::fs::read_to_string(&c.kubeconfig).unwrap_or_default();
    let insecure = dir.path().join("insecure.kubeconfig");
    std::fs::write(
        &insecure,
        text.replace(
            "    server:",
            "    insecure-skip-tls-verify: true\n    server:",
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "insecure",
        Some(&insecure),
        "  - { id: look, uses: wait, with: { kind: ConfigMap, namespace: default, name: kube-root-ca.crt, jsonpath: \"{.metadata.name}\", value: kube-root-ca.crt, timeout: 10s } }\n",
    );
    let events = run_json(&rb, &[], 0);
    let warned: Vec<&str> = events_of(&events, "step_warning")
        .iter()
        .filter(|e| e["step"] == "look")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        warned
            .iter()
            .any(|m| m.contains("insecure-skip-tls-verify") && m.contains("not checked")),
        "{events:#?}"
    );
}

#[test]
fn a_dry_run_leaves_the_cluster_as_it_was() {
    let c = Served::start(&[
        &path("runbooks/fixtures/shop"),
        &path("runbooks/fixtures/edge"),
    ]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "dry",
        Some(&c.kubeconfig),
        "  - { id: freeze, uses: scale, with: { namespace: shop, kind: Deployment, name: frontend, replicas: 0 } }\n\
         \x20 - { id: switch, uses: patch, with: { kind: ConfigMap, namespace: edge, name: routing, merge: { data: { active: standby } } } }\n\
         \x20 - { id: check, uses: wait, with: { kind: ConfigMap, namespace: edge, name: routing, jsonpath: \"{.data.active}\", value: standby, timeout: 5s } }\n",
    );
    for d in ["frontend", "cart"] {
        c.ok(&[
            "rollout",
            "status",
            "-n",
            "shop",
            &format!("deployment/{d}"),
            "--timeout=30s",
        ]);
    }
    let before = c.ok(&["get", "deployment,configmap", "-A", "-o", "json"]);
    let events = run_json(&rb, &["--dry-run"], 0);
    assert!(
        outputs(&events, "check")["matched"]
            .as_str()
            .unwrap_or("")
            .starts_with("false"),
        "{events:#?}"
    );
    let after = c.ok(&["get", "deployment,configmap", "-A", "-o", "json"]);
    assert_eq!(before, after, "a dry run changed the cluster");
}

#[test]
fn scale_fails_when_its_selector_matches_nothing() {
    let c = Served::start(&[&path("runbooks/fixtures/shop")]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "typo",
        Some(&c.kubeconfig),
        "  - { id: freeze, uses: scale, with: { namespace: shop, kind: Deployment, selector: \"tier=wbe\", replicas: 0 } }\n",
    );
    let events = run_json(&rb, &[], 1);
    assert!(
        failure(&events, "freeze").contains("no Deployment matching `tier=wbe` in namespace shop"),
        "{events:#?}"
    );
}

#[test]
fn steps_pass_outputs_honour_if_and_on_failure_continue() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "flow",
        None,
        "  - { id: first, uses: approve, with: { message: \"go?\" } }\n\
         \x20 - { id: echo, uses: approve, with: { message: \"approved by ${{ steps.first.outputs.approved_by }}\" } }\n\
         \x20 - { id: never, uses: sleep, if: \"${{ run.dry_run }}\", with: { duration: 1s } }\n\
         \x20 - { id: broken, uses: sleep, with: { duration: 1ms }, on_failure: continue }\n\
         \x20 - { id: after-broken, uses: sleep, needs: [ broken ], with: { duration: 1ms } }\n\
         \x20 - { id: independent, uses: sleep, needs: [ first ], with: { duration: 1ms } }\n",
    );
    let events = run_json(&rb, &["--yes", "--inject-failure", "broken"], 1);
    assert_eq!(outputs(&events, "first")["approved_by"], "--yes");
    let skipped: Vec<(&str, &str)> = events_of(&events, "step_skipped")
        .iter()
        .map(|e| {
            (
                e["step"].as_str().unwrap_or(""),
                e["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(
        skipped
            .iter()
            .any(|(s, r)| *s == "never" && r.contains("is false")),
        "{skipped:?}"
    );
    assert!(
        skipped
            .iter()
            .any(|(s, r)| *s == "after-broken" && r.contains("needs `broken`")),
        "{skipped:?}"
    );
    outputs(&events, "independent");
    assert!(failure(&events, "broken").contains("injected"));
    let finished = events_of(&events, "run_finished");
    assert_eq!(finished[0]["state"], "failed");

    // Without --yes and without a terminal, an approval fails and says what to do.
    let events = run_json(&rb, &["--only", "first"], 1);
    assert!(
        failure(&events, "first").contains("--approve first"),
        "{events:#?}"
    );
    assert_eq!(events_of(&events, "step_skipped").len(), 5);
}

#[test]
fn missed_objectives_exit_3_and_met_ones_exit_0() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let slow = dir.path().join("slow.yaml");
    std::fs::write(
        &slow,
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: slow }\nobjectives: { rto: 1ms }\nstate: { path: state }\nsteps:\n  - { id: nap, uses: sleep, with: { duration: 20ms } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let events = run_json(&slow, &[], 3);
    let rto = events
        .iter()
        .find(|e| e["event"] == "objective_checked" && e["objective"] == "rto")
        .unwrap_or_else(|| panic!("{events:#?}"));
    assert_eq!(rto["met"], false);
    assert!(rto["measured_ms"].as_u64().unwrap_or(0) >= 20);
    let finished = events.last().cloned().unwrap_or_default();
    assert_eq!(finished["event"], "run_finished");
    assert_eq!(finished["objectives_missed"], true);
    // The last line says so too, not only the exit code.
    Test::new()
        .arg("run")
        .arg(&slow)
        .current_dir(dir.path())
        .status(3)
        .stdout_contains("but MISSED an objective (exit 3): 1 succeeded")
        .run();

    // RPO is the age of the restored backup: the stored version-1 backup is older than 1s.
    let b = Served::start(&[]);
    let old = dir.path().join("old.yaml");
    std::fs::write(
        &old,
        format!(
            "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: {{ name: old }}\nobjectives: {{ rto: 1h, rpo: 1s }}\nclusters:\n  b: {{ kubeconfig: \"{}\" }}\nstores:\n  old: {{ fs: {{ path: \"{}\" }} }}\nstate: {{ path: state }}\nsteps:\n  - {{ id: restore, uses: restore, with: {{ store: old, backup: shop-v1 }} }}\n",
            b.kubeconfig.display(),
            path("crates/lifeboat/tests/fixtures/backups-v1").display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = Test::new().arg("run").arg(&old).status(3).run();
    assert!(
        out.stdout.contains("objective rto:") && out.stdout.contains(": met"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("objective rpo:") && out.stdout.contains("MISSED"),
        "{}",
        out.stdout
    );
}

/// The sandbox's URL, from its kubeconfig.
fn server(c: &Served) -> String {
    let kc = std::fs::read_to_string(&c.kubeconfig).unwrap_or_default();
    kc.lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .map(|s| s.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("no server in {kc}"))
}

#[test]
fn http_check_checks_status_body_and_failure_rolls_back() {
    let c = failover_cluster();
    let url = server(&c);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "http",
        Some(&c.kubeconfig),
        &format!(
            "  - {{ id: up, uses: http_check, with: {{ url: \"{url}/version\", expect_body: v1.33, max_latency: 10s }} }}\n\
             \x20 - {{ id: missing, uses: http_check, with: {{ url: \"{url}/api/v1/namespaces/nope\", expect_status: 404 }} }}\n\
             \x20 - id: freeze\n    uses: scale\n    with: {{ namespace: shop, kind: Deployment, name: frontend, replicas: 0 }}\n    undo: {{}}\n\
             \x20 - id: switch\n    uses: patch\n    with: {{ kind: ConfigMap, namespace: edge, name: routing, merge: {{ data: {{ active: standby }} }} }}\n    undo: {{}}\n\
             \x20 - id: smoke\n    uses: http_check\n    with: {{ url: \"{url}/version\", expect_body: \"no such text\" }}\n    retry: {{ attempts: 2, backoff: 10ms }}\n    on_failure: rollback\n"
        ),
    );
    let events = run_json(&rb, &[], 1);
    assert_eq!(outputs(&events, "up")["status"], "200");
    assert_eq!(outputs(&events, "missing")["status"], "404");
    assert!(
        failure(&events, "smoke").contains("does not contain `no such text`"),
        "{events:#?}"
    );
    assert_eq!(events_of(&events, "step_retrying").len(), 1, "{events:#?}");
    assert_eq!(active_site(&c), "primary");
    let replicas = frontend_replicas(&c);
    assert_eq!(replicas, "2", "the scale was not undone");

    let refused = runbook(
        dir.path(),
        "refused",
        None,
        "  - { id: down, uses: http_check, with: { url: \"http://127.0.0.1:9/\" } }\n  - { id: wrong, uses: http_check, with: { url: \"http://127.0.0.1:9/\" } }\n",
    );
    let events = run_json(&refused, &[], 1);
    let error = failure(&events, "down");
    assert!(
        error.contains("request to http://127.0.0.1:9/ failed"),
        "{error}"
    );
    assert!(error.to_lowercase().contains("refused"), "{error}");
}

#[test]
fn exec_local_runs_argv_without_a_shell_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = dir.path().join("exec.yaml");
    std::fs::write(
        &rb,
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: { name: exec }\nparams:\n  name: { default: \"x; touch injected\" }\n  token: { secret: true, default: s3cr3t-value }\nsteps:\n\
         \x20 - { id: echo, uses: exec_local, with: { argv: [ echo, \"${{ params.name }}\", \"${{ params.token }}\" ] } }\n\
         \x20 - { id: fail, uses: exec_local, with: { argv: [ sh, -c, \"echo broken >&2; exit 7\" ] }, on_failure: continue }\n\
         \x20 - { id: env, uses: exec_local, with: { argv: [ env ], env: { GREETING: hello } } }\n\
         \x20 - { id: slow, uses: exec_local, with: { argv: [ sleep, \"5\" ], timeout: 100ms } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--output", "json"])
        .env("AWS_SECRET_ACCESS_KEY", "planted-secret-key")
        .current_dir(dir.path())
        .status(1)
        .run();
    let events = json_lines(&out.stdout);
    // The param stays one argument: nothing is interpreted by a shell.
    assert_eq!(
        outputs(&events, "echo")["stdout"],
        "x; touch injected ********\n"
    );
    assert!(!dir.path().join("injected").exists());
    assert!(!out.stdout.contains("s3cr3t-value"), "{}", out.stdout);
    assert_eq!(failure(&events, "fail"), "`sh` exited with code 7: broken");
    // The program's environment is PATH and what the step names, nothing of lifeboat's.
    let seen = outputs(&events, "env")["stdout"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut names: Vec<&str> = seen.lines().filter_map(|l| l.split('=').next()).collect();
    names.sort_unstable();
    assert_eq!(names, ["GREETING", "PATH"], "{seen}");
    assert!(!out.stdout.contains("planted-secret-key"), "{}", out.stdout);
    assert!(
        failure(&events, "slow").contains("did not finish within 100ms"),
        "{events:#?}"
    );
    let dry = Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--dry-run", "--only", "echo"])
        .current_dir(dir.path())
        .run();
    assert!(
        dry.stdout
            .contains("argv=[\"echo\", \"x; touch injected\", \"********\"]"),
        "{}",
        dry.stdout
    );
}

#[test]
fn apply_and_delete_act_and_apply_undoes_itself() {
    let c = Served::start(&[
        &path("runbooks/fixtures/edge"),
        &path("runbooks/fixtures/shop"),
    ]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(&manifests).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        manifests.join("maintenance.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: maintenance }\ndata: { on: \"yes\" }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "applied",
        Some(&c.kubeconfig),
        "  - id: switch\n    uses: apply\n    with:\n      namespace: edge\n      force: true\n      manifests:\n        - { apiVersion: v1, kind: ConfigMap, metadata: { name: routing }, data: { active: standby } }\n      \n    undo: {}\n\
         \x20 - id: files\n    uses: apply\n    with: { namespace: edge, files: [ manifests ] }\n    undo: {}\n\
         \x20 - { id: gone, uses: delete, with: { kind: ConfigMap, namespace: shop, name: shop-settings } }\n\
         \x20 - { id: again, uses: delete, with: { kind: ConfigMap, namespace: shop, name: shop-settings } }\n\
         \x20 - id: check\n    uses: wait\n    with: { kind: ConfigMap, namespace: edge, name: routing, jsonpath: \"{.data.active}\", value: never, timeout: 1s }\n    on_failure: rollback\n",
    );
    let events = run_json(&rb, &[], 1);
    assert_eq!(outputs(&events, "switch")["updated"], "1");
    assert_eq!(outputs(&events, "files")["created"], "1");
    assert_eq!(outputs(&events, "gone")["deleted"], "1");
    assert_eq!(
        outputs(&events, "again")["deleted"],
        "0",
        "deleting what is gone succeeds"
    );
    // Rolled back: the created ConfigMap is gone again, the changed one is as it was.
    assert!(
        c.fails(&["get", "configmap", "-n", "edge", "maintenance"])
            .contains("NotFound")
    );
    assert_eq!(active_site(&c), "primary");
    assert!(
        c.fails(&["get", "configmap", "-n", "shop", "shop-settings"])
            .contains("NotFound")
    );
}

#[test]
fn job_runs_to_completion_and_snapshot_waits_until_ready() {
    let c = Served::start(&[
        &testbed::fixture("sandbox/app"),
        &testbed::upstream("volumesnapshot-crds.yaml"),
    ]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "dump",
        Some(&c.kubeconfig),
        "  - id: dump\n    uses: job\n    with:\n      namespace: app\n      spec: { template: { spec: { restartPolicy: Never, containers: [ { name: dump, image: \"postgres:16\", args: [ pg_dumpall ] } ] } } }\n      timeout: 30s\n\
         \x20 - id: broken\n    uses: job\n    on_failure: continue\n    with:\n      namespace: app\n      spec: { backoffLimit: 0, template: { metadata: { annotations: { sandbox.lifeboat.dev/exit-code: \"1\", sandbox.lifeboat.dev/log: \"dumping\\npg_dump: error: connection refused\" } }, spec: { restartPolicy: Never, containers: [ { name: dump, image: \"postgres:16\" } ] } } }\n      timeout: 30s\n\
         \x20 - { id: snap, uses: snapshot, with: { namespace: app, pvcs: [ uploads ], timeout: 30s } }\n\
         \x20 - { id: none, uses: snapshot, with: { namespace: app, pvcs: [ nope ] } }\n",
    );
    let events = run_json(&rb, &[], 1);
    let dump = outputs(&events, "dump");
    assert_eq!(dump["succeeded"], "1");
    let job = dump["job_name"].as_str().unwrap_or_default().to_string();
    assert!(job.starts_with("dump-"), "{dump}");
    assert_eq!(
        dump["logs"],
        "sandbox: simulated run of image postgres:16: pg_dumpall (nothing is executed)\n",
        "the logs of the Job's pod"
    );
    assert!(
        c.fails(&["get", "job", "-n", "app", &job])
            .contains("NotFound"),
        "the Job is deleted unless keep"
    );
    let left = c.kubectl(&["get", "pods", "-n", "app", "-l", &format!("job-name={job}")]);
    assert!(
        String::from_utf8_lossy(&left.stderr).contains("No resources found"),
        "the Job's pods go with it"
    );
    let broken = failure(&events, "broken");
    assert!(
        broken.contains("failed: Job has reached the specified backoff limit")
            && broken.contains("last log line: pg_dump: error: connection refused"),
        "{broken}"
    );
    let snap = outputs(&events, "snap");
    assert_eq!(snap["count"], "1");
    let name = snap["snapshots"]["uploads"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ready = c.ok(&[
        "get",
        "volumesnapshot",
        "-n",
        "app",
        &name,
        "-o",
        "jsonpath={.status.readyToUse}",
    ]);
    assert_eq!(ready, "true");
    assert!(
        failure(&events, "none").contains("PersistentVolumeClaim app/nope does not exist"),
        "{events:#?}"
    );
}

#[test]
fn independent_branches_run_at_the_same_time() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "branches",
        None,
        "  - { id: start, uses: sleep, with: { duration: 1ms } }\n\
         \x20 - { id: left, uses: sleep, needs: [ start ], with: { duration: 500ms } }\n\
         \x20 - { id: right, uses: sleep, needs: [ start ], with: { duration: 500ms } }\n\
         \x20 - { id: join, uses: sleep, needs: [ left, right ], with: { duration: 1ms } }\n",
    );
    let events = run_json(&rb, &[], 0);
    let at = |event: &str, step: &str| {
        events
            .iter()
            .position(|e| e["event"] == event && e["step"] == step)
            .unwrap_or_else(|| panic!("no {event} of {step}: {events:#?}"))
    };
    // Both branches started before either finished; the join waited for both.
    let first_end = at("step_succeeded", "left").min(at("step_succeeded", "right"));
    assert!(
        at("step_started", "left") < first_end && at("step_started", "right") < first_end,
        "{events:#?}"
    );
    let last_end = at("step_succeeded", "left").max(at("step_succeeded", "right"));
    assert!(at("step_started", "join") > last_end);
}

#[test]
fn a_retry_succeeds_on_the_third_attempt_and_a_timeout_is_reported_as_one() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "retries",
        None,
        "  - id: flaky\n    uses: exec_local\n    with: { argv: [ sh, -c, \"n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; echo attempt $n >&2; [ $n -ge 3 ]\" ] }\n    retry: { attempts: 3, backoff: 10ms }\n\
         \x20 - id: slow\n    uses: sleep\n    with: { duration: 10s }\n    timeout: 200ms\n",
    );
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--output", "json"])
        .current_dir(dir.path())
        .status(1)
        .run();
    let events = json_lines(&out.stdout);
    let retries: Vec<&Value> = events_of(&events, "step_retrying");
    assert_eq!(retries.len(), 2, "{events:#?}");
    assert!(
        retries[0]["error"]
            .as_str()
            .unwrap_or("")
            .contains("attempt 1"),
        "{events:#?}"
    );
    let third = events
        .iter()
        .find(|e| e["event"] == "step_started" && e["step"] == "flaky" && e["attempt"] == 3);
    assert!(third.is_some(), "{events:#?}");
    assert_eq!(outputs(&events, "flaky")["exit_code"], "0");
    assert_eq!(failure(&events, "slow"), "timed out after 200ms");
}

#[test]
fn approve_steps_are_approved_by_name_or_fail_saying_how() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "asks",
        None,
        "  - { id: go, uses: approve, with: { message: \"switch traffic?\" } }\n  - { id: really, uses: approve, with: { message: \"really?\" } }\n",
    );
    let events = run_json(&rb, &["--approve", "go"], 1);
    assert_eq!(outputs(&events, "go")["approved_by"], "--approve");
    let error = failure(&events, "really");
    assert!(
        error.contains("switch traffic?") || error.contains("really?"),
        "{error}"
    );
    assert!(error.contains("--approve really"), "{error}");
    Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--approve", "nope"])
        .status(2)
        .stderr_contains("--approve nope: the runbook has no step `nope`")
        .run();
}

#[test]
fn typed_fields_read_outputs_when_the_step_runs_and_say_where_a_bad_one_is() {
    let c = Served::start(&[&path("runbooks/fixtures/shop")]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("typed")
        .cluster("c", &c.kubeconfig)
        .params("  strict: { default: \"false\" }\n")
        .steps(
            "  - { id: words, uses: exec_local, with: { argv: [ echo, soon ] } }\n\
             \x20 - { id: short, uses: exec_local, with: { argv: [ echo, 100ms ] } }\n\
             \x20 - id: unsure\n    uses: sleep\n    on_failure: continue\n    with: { duration: \"${{ steps.words.outputs.stdout }}\" }\n\
             \x20 - id: slow\n    uses: sleep\n    on_failure: continue\n    with: { duration: 10s }\n    timeout: \"${{ steps.short.outputs.stdout }}\"\n\
             \x20 - id: tries\n    uses: sleep\n    on_failure: continue\n    with: { duration: 1ms }\n    retry: { attempts: \"${{ steps.words.outputs.stdout }}\" }\n\
             \x20 - id: gone\n    uses: delete\n    on_failure: continue\n    with: { kind: ConfigMap, namespace: shop, name: nothing-here, ignore_missing: \"${{ params.strict }}\" }\n",
        )
        .write(dir.path());
    let events = run_json(&rb, &[], 1);
    let file = rb.display().to_string();
    // The output is read as a literal would be, and the message names its place.
    assert_eq!(
        failure(&events, "unsure"),
        format!("invalid inputs: {file}:15:23: invalid duration `soon`"),
        "{events:#?}"
    );
    assert_eq!(failure(&events, "slow"), "timed out after 100ms");
    assert!(
        failure(&events, "tries").starts_with(&format!("invalid inputs: {file}:25:24: ")),
        "{events:#?}"
    );
    assert!(
        failure(&events, "tries").ends_with(
            "expected a whole number or a `${{ }}` expression, found the string `soon\\n`"
        ),
        "{events:#?}"
    );
    // A boolean from a param: `ignore_missing: false` makes a missing object a failure.
    assert!(
        failure(&events, "gone").contains("nothing to delete"),
        "{events:#?}"
    );
}
