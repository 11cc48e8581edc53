//! `lifeboat rbac` enforced by a real authorizer: for each example runbook, the RBAC it
//! prints is applied to real control planes and bound to a ServiceAccount of its own,
//! and the runbook runs with that ServiceAccount's token. It succeeds; with one rule
//! taken away it fails at the step the rule's comment names, with the API server's 403
//! saying which permission is missing.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::backup_restore::{Bucket, json_lines};
use crate::harness::{Test, path};
use crate::s3_server::endpoint;
use testbed::{ControlPlane, Kube};

/// The test bed of the runbooks: the shop on one control plane, the edge on another.
struct Bed {
    a: ControlPlane,
    b: ControlPlane,
    dir: tempfile::TempDir,
    bucket: Bucket,
    /// Answers 200 to every request: the failover's health check.
    health: String,
}

impl Bed {
    fn new() -> Bed {
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
        for k in [&a, &b] {
            k.ok(&["create", "namespace", "lifeboat"]);
        }
        // The primary runs Argo CD and Flux: the failover pauses them.
        crate::gitops::seed_gitops(&a);
        Bed {
            a,
            b,
            dir: tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")),
            bucket: Bucket::new("rbac"),
            health: healthy_server(),
        }
    }

    /// The control plane that plays the runbook's cluster `name`.
    fn cluster(&self, name: &str) -> &ControlPlane {
        if name == "standby" { &self.b } else { &self.a }
    }

    /// `lifeboat rbac RUNBOOK --cluster NAME`.
    fn rbac(&self, runbook: &Path, cluster: &str) -> String {
        Test::new()
            .arg("rbac")
            .arg(runbook)
            .args(["--cluster", cluster])
            .run()
            .stdout
    }

    /// Grants `yaml` (replacing what it grants already) to the ServiceAccount
    /// `lifeboat/ACCOUNT` of `cp`, and returns a kubeconfig with its token.
    fn grant(&self, cp: &ControlPlane, account: &str, yaml: &str) -> PathBuf {
        grant(self.dir.path(), cp, account, yaml)
    }

    /// The example runbook `name`, its clusters pointed at `kubeconfigs`, its stores at
    /// the test bucket (one prefix each), its state in the test's folder.
    fn rewrite(&self, name: &str, kubeconfigs: &[(String, PathBuf)]) -> PathBuf {
        let text = std::fs::read_to_string(path(&format!("runbooks/{name}.yaml")))
            .unwrap_or_else(|e| panic!("{e}"));
        let mut rb: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
        for (cluster, kubeconfig) in kubeconfigs {
            rb["clusters"][cluster] = json!({ "kubeconfig": kubeconfig });
        }
        let stores: Vec<String> = rb["stores"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        for store in stores {
            let prefix = rb["stores"][&store]["s3"]["prefix"]
                .as_str()
                .unwrap_or("")
                .to_string();
            rb["stores"][&store] = json!({ "s3": {
                "bucket": self.bucket.name, "prefix": format!("{store}/{prefix}"),
                "endpoint": endpoint(), "region": "us-east-1", "path_style": true,
                "checksum": "when_required",
            }});
        }
        rb["state"] = json!({ "path": self.dir.path().join(format!("state-{name}")) });
        // A step's retries would only repeat a 403.
        for step in rb["steps"].as_array_mut().into_iter().flatten() {
            if let Some(step) = step.as_object_mut() {
                step.remove("retry");
            }
        }
        // JSON is YAML.
        let file = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, rb.to_string()).unwrap_or_else(|e| panic!("{e}"));
        file
    }

    /// `lifeboat run` of `runbook` with `extra` arguments, its approvals given and a
    /// health check pointed here; the events.
    fn run(&self, runbook: &Path, extra: &[String], status: i32) -> Vec<Value> {
        let mut args = vec!["run".to_string(), runbook.to_string_lossy().into_owned()];
        args.extend(["--output", "json", "--yes"].map(str::to_string));
        let text = std::fs::read_to_string(runbook).unwrap_or_default();
        let rb: Value = serde_saphyr::from_str(&text).unwrap_or_default();
        for step in rb["steps"].as_array().into_iter().flatten() {
            if step["uses"] == "approve" {
                args.extend(["--approve".into(), step["id"].as_str().unwrap_or("").into()]);
            }
        }
        if rb["params"].get("health_url").is_some() {
            args.extend(["--set".into(), format!("health_url={}", self.health)]);
        }
        args.extend(extra.iter().cloned());
        let out = Test::new()
            .args(args)
            .env("AWS_ENDPOINT_URL", endpoint())
            .status(status)
            .run();
        json_lines(&out.stdout)
    }
}

/// Grants `yaml` (replacing what it grants already) to the ServiceAccount
/// `lifeboat/ACCOUNT` of `cp`, and returns a kubeconfig with its token, written in
/// `dir`.
fn grant(dir: &Path, cp: &ControlPlane, account: &str, yaml: &str) -> PathBuf {
    let out = cp.kubectl_in(&["replace", "--force", "-f", "-"], Some(yaml));
    if !out.status.success() {
        cp.apply_yaml(yaml);
    }
    if cp
        .kubectl_in(&["get", "serviceaccount", "-n", "lifeboat", account], None)
        .status
        .success()
    {
        // Let the authorizer's caches see the change.
        std::thread::sleep(std::time::Duration::from_secs(2));
    } else {
        cp.ok(&["create", "serviceaccount", "-n", "lifeboat", account]);
        for (kind, namespace, name) in roles(yaml) {
            let subject = format!("--serviceaccount=lifeboat:{account}");
            match namespace {
                None => cp.ok(&[
                    "create",
                    "clusterrolebinding",
                    &name,
                    &format!("--clusterrole={name}"),
                    &subject,
                ]),
                Some(ns) => cp.ok(&[
                    "create",
                    "rolebinding",
                    "-n",
                    &ns,
                    &name,
                    &format!("--{}={name}", kind.to_lowercase()),
                    &subject,
                ]),
            };
        }
    }
    let token = cp.ok(&[
        "create",
        "token",
        "-n",
        "lifeboat",
        account,
        "--duration=2h",
    ]);
    let admin: Value = serde_json::from_str(&cp.ok(&["config", "view", "--raw", "-o", "json"]))
        .unwrap_or_else(|e| panic!("{e}"));
    let cluster = &admin["clusters"][0]["cluster"];
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "testbed", "cluster": cluster}],
        "users": [{"name": account, "user": {"token": token.trim()}}],
        "contexts": [{"name": "testbed", "context": {"cluster": "testbed", "user": account}}],
        "current-context": "testbed",
    });
    let file = dir.join(format!("{account}.kubeconfig"));
    std::fs::write(&file, kubeconfig.to_string()).unwrap_or_else(|e| panic!("{e}"));
    file
}

/// The (kind, namespace, name) of each ClusterRole and Role in `yaml`.
fn roles(yaml: &str) -> Vec<(String, Option<String>, String)> {
    yaml.split("\n---\n")
        .filter_map(|doc| {
            let v: Value = serde_saphyr::from_str(doc).ok()?;
            Some((
                v["kind"].as_str()?.to_string(),
                v["metadata"]["namespace"].as_str().map(str::to_string),
                v["metadata"]["name"].as_str()?.to_string(),
            ))
        })
        .filter(|(kind, _, _)| kind == "ClusterRole" || kind == "Role")
        .collect()
}

/// `yaml` without the rule (with its comment lines) that has a line containing
/// `line`; and the removed rule.
fn without_rule(yaml: &str, line: &str) -> (String, String) {
    let lines: Vec<&str> = yaml.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(line))
        .unwrap_or_else(|| panic!("no rule with {line:?} in\n{yaml}"));
    // The rule starts after the comments above its `- ` line, ends before the next
    // comment or rule.
    let mut start = at;
    while start > 0 && !lines[start].starts_with("  - ") {
        start -= 1;
    }
    while start > 0 && lines[start - 1].starts_with("  #") {
        start -= 1;
    }
    let mut end = at + 1;
    while end < lines.len() && lines[end].starts_with("    ") {
        end += 1;
    }
    let removed = lines[start..end].join("\n");
    let kept: Vec<&str> = lines[..start]
        .iter()
        .chain(&lines[end..])
        .copied()
        .collect();
    (kept.join("\n") + "\n", removed)
}

/// A loopback HTTP server answering 200 to everything; its URL.
fn healthy_server() -> String {
    let (url, _) = crate::recording_server::start(|_| Some(("200 OK", "ok")));
    format!("{url}/healthz")
}

/// One example runbook under its own RBAC: it succeeds; without the rule with a line
/// containing `rule_line` on cluster `cluster`, run again with `again` (a fresh
/// target namespace, where the first run's would be in the way), step `step` fails
/// with the 403 that names `permission`.
fn enforced(
    bed: &Bed,
    name: &str,
    clusters: &[&str],
    taken: (&str, &str, &str, &str),
    again: &[&str],
) {
    let (cluster_of_rule, rule_line, step, permission) = taken;
    let original = path(&format!("runbooks/{name}.yaml"));
    let account = |cluster: &str| format!("{name}-{cluster}");
    let mut grants = Vec::new();
    let mut kubeconfigs = Vec::new();
    for cluster in clusters {
        let yaml = bed.rbac(&original, cluster);
        let kubeconfig = bed.grant(bed.cluster(cluster), &account(cluster), &yaml);
        kubeconfigs.push((cluster.to_string(), kubeconfig));
        grants.push((cluster.to_string(), yaml));
    }
    let runbook = bed.rewrite(name, &kubeconfigs);
    let events = bed.run(&runbook, &[], 0);
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "run_finished" && e["state"] == "succeeded"),
        "{name} did not succeed under its own RBAC: {events:#?}"
    );

    let yaml = &grants
        .iter()
        .find(|(c, _)| c == cluster_of_rule)
        .unwrap_or_else(|| panic!("no cluster {cluster_of_rule}"))
        .1;
    let (narrower, removed) = without_rule(yaml, rule_line);
    assert!(
        removed.contains(&format!("step `{step}`")),
        "the rule taken away does not name step {step}:\n{removed}"
    );
    bed.grant(
        bed.cluster(cluster_of_rule),
        &account(cluster_of_rule),
        &narrower,
    );
    let again: Vec<String> = again.iter().map(|a| a.to_string()).collect();
    let events = bed.run(&runbook, &again, 1);
    let failed = events
        .iter()
        .find(|e| e["event"] == "step_failed")
        .unwrap_or_else(|| panic!("{name}: no step failed without\n{removed}\n{events:#?}"));
    assert_eq!(failed["step"], step, "{name}: {failed}");
    let mut said: Vec<String> = vec![failed["error"].as_str().unwrap_or("").to_string()];
    said.extend(
        events
            .iter()
            .filter(|e| e["event"] == "object_result" && e["step"] == step)
            .filter_map(|e| e["reason"].as_str().map(str::to_string)),
    );
    assert!(
        said.iter()
            .any(|s| s.contains("forbidden") && s.contains(permission)),
        "{name}: step {step} failed without saying `{permission}`:\n{said:#?}"
    );
    // Put the rule back for the runbooks after this one.
    bed.grant(
        bed.cluster(cluster_of_rule),
        &account(cluster_of_rule),
        yaml,
    );
}

#[test]
fn every_example_runbook_runs_under_the_rbac_lifeboat_prints_for_it_and_not_with_less() {
    let bed = Bed::new();
    enforced(
        &bed,
        "backup",
        &["prod"],
        (
            "prod",
            "resources: [\"*\"]",
            "backup",
            "cannot list resource",
        ),
        &[],
    );
    // The restores read the newest backup of their own runbook: take one of the shop.
    for (runbook, cluster) in [("shop-restore", "prod"), ("shop-drill", "drill")] {
        let prepare = crate::backup_restore::runbook_with_store(
            bed.dir.path(),
            runbook,
            &[(cluster, &bed.a.kubeconfig)],
            &format!(
                "{{ s3: {{ bucket: {}, prefix: vault/shop/, endpoint: \"{}\", region: us-east-1, path_style: true, checksum: when_required }} }}",
                bed.bucket.name,
                endpoint()
            ),
            "  - { id: backup, uses: backup, with: { store: vault, namespaces: [ shop ] } }\n",
        );
        bed.run(&prepare, &[], 0);
    }
    enforced(
        &bed,
        "restore",
        &["prod"],
        (
            "prod",
            "resources: [\"daemonsets\", \"deployments\", \"statefulsets\"]",
            "ready",
            "cannot list resource \"deployments\"",
        ),
        &["--set", "target=shop-restored-again"],
    );
    enforced(
        &bed,
        "drill",
        &["drill"],
        (
            "drill",
            "resources: [\"pods\"]",
            "verify",
            "cannot list resource \"pods\"",
        ),
        &["--set", "scratch=shop-drill-again"],
    );
    enforced(
        &bed,
        "demo",
        &["primary", "standby"],
        (
            "standby",
            "resourceNames: [\"routing\"]",
            "switch",
            "cannot get resource \"configmaps\"",
        ),
        &[],
    );
    enforced(
        &bed,
        "failover",
        &["primary", "standby"],
        (
            "primary",
            "resources: [\"deployments/scale\"]",
            "freeze",
            "cannot patch resource \"deployments/scale\"",
        ),
        &[],
    );
}

/// `gitops_pause` and its undo on a real control plane holding the Argo CD and Flux
/// CRDs, under exactly the RBAC `lifeboat rbac` prints for them (a Role in each
/// namespace the step names): the pause and the rollback's undo succeed and every
/// object ends as it was; without the rule on Kustomizations in one of those
/// namespaces, the step fails with the API server's 403.
#[test]
fn gitops_pause_runs_under_the_rbac_lifeboat_prints_for_it_and_not_with_less() {
    let cp = ControlPlane::start();
    crate::gitops::seed_gitops(&cp);
    cp.ok(&["create", "namespace", "lifeboat"]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let account = "gitops";
    let kubeconfig = dir.path().join(format!("{account}.kubeconfig"));
    let rb = crate::harness::TestRunbook::new("gitops-rbac")
        .cluster("c", &kubeconfig)
        .steps(concat!(
            "  - { id: pause, uses: gitops_pause, cluster: c, with: { namespaces: [ argocd, default, flux-system ] }, undo: {} }\n",
            "  - { id: check, uses: sleep, with: { duration: 1ms }, on_failure: rollback }\n",
        ))
        .write(dir.path());
    let yaml = Test::new().arg("rbac").arg(&rb).run().stdout;
    let namespaced: Vec<Option<String>> = roles(&yaml).into_iter().map(|(_, ns, _)| ns).collect();
    assert_eq!(
        namespaced,
        [
            None,
            Some("argocd".to_string()),
            Some("default".to_string()),
            Some("flux-system".to_string())
        ],
        "a Role in each namespace named, the ClusterRole for discovery only:\n{yaml}"
    );
    grant(dir.path(), &cp, account, &yaml);
    let before = crate::gitops::gitops_objects(&cp);
    let events = crate::backup_restore::run_json(&rb, &["--inject-failure", "check"], 1);
    let out = crate::backup_restore::outputs(&events, "pause");
    assert_eq!(
        (&out["paused"], &out["already_paused"]),
        (&json!("8"), &json!("1")),
        "{out}"
    );
    crate::gitops::undone_cleanly(&events);
    let problems = crate::gitops::differences(&before, &crate::gitops::gitops_objects(&cp));
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let (narrower, removed) = without_rule(&yaml, "resources: [\"kustomizations\"]");
    assert!(removed.contains("step `pause`"), "{removed}");
    grant(dir.path(), &cp, account, &narrower);
    let events = crate::backup_restore::run_json(&rb, &[], 1);
    let error = crate::backup_restore::failure(&events, "pause");
    assert!(
        error.contains("forbidden") && error.contains("cannot list resource \"kustomizations\""),
        "{error}"
    );
    // Refused before it paused anything, so there was nothing to put back.
    let problems = crate::gitops::differences(&before, &crate::gitops::gitops_objects(&cp));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
