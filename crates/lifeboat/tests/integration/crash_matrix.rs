//! The crash matrix (docs/reliability.md): a failover drill that uses every action is
//! killed with SIGKILL at each crash point (`src/crash.rs`, compiled into the test
//! build): between a part's upload and the manifest, between journal records, during
//! a lock renewal, inside the actions that write in parts, and at the start and the
//! end of each action (its work done, the journal not yet saying so). Then `resume`
//! must complete the run, for the state and stores in a local folder and in S3, with
//! the same result as a run never killed: the restored objects equal the originals,
//! both backups are whole, every failover step took effect once, and the journal
//! replays.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::backup_restore::{Bucket, differences};
use crate::harness::{Test, TestRunbook};
use crate::s3_server::endpoint;
use crate::served::Served;
use testbed::Kube;

/// Every action, in the order the drill runs them.
const STEPS: &[&str] = &[
    "gate", "backup", "copy", "restore", "ready", "check", "snap", "verify", "freeze", "gitops",
    "switch", "announce", "retire", "probe", "note", "pause",
];

/// The points inside the journal, the lock and the actions that write in parts, with
/// the time each is reached that the process is killed.
const INNER_POINTS: &[&str] = &[
    "journal-appended:3",
    "lock-renewing:1",
    "lock-renewed:1",
    "part-uploaded:2",
    "manifest-writing:1",
    "manifest-written:1",
    "part-copied:2",
    "manifest-copied:1",
    "tier-restored:2",
    "gitops-paused:2",
];

/// The steps whose action is killed at its end (its work done, the journal not yet
/// saying so) on S3: those that write to a store. On a local folder, every step.
const S3_STEPS: &[&str] = &["backup", "copy", "restore"];

/// Where the run keeps its state and its two stores.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Fs,
    S3,
}

struct Drill {
    /// The runbook's name.
    name: String,
    a: Served,
    b: Served,
    dir: tempfile::TempDir,
    runbook: std::path::PathBuf,
    bucket: Option<Bucket>,
}

impl Drill {
    fn new(backend: Backend, tag: &str) -> Drill {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let gitops = crate::gitops::seed_files(dir.path());
        let mut seeds = vec![
            testbed::path("runbooks/fixtures/shop"),
            testbed::fixture("sandbox/app"),
            testbed::upstream("volumesnapshot-crds.yaml"),
        ];
        seeds.extend(gitops);
        let a = Served::start(&seeds.iter().map(|p| p.as_path()).collect::<Vec<_>>());
        let b = Served::start(&[&testbed::path("runbooks/fixtures/edge")]);
        crate::signatures::signing_keys(dir.path());
        // The vault signs what it holds; the offsite copy must be signed to be read.
        let signs = "signing: { secret_key: k.key, public_key: k.pub }";
        let checks = "signing: { public_key: k.pub, require_signature: true }";
        let version_url = server_of(&b.kubeconfig) + "/version";
        let mut rb = TestRunbook::new(tag)
            .cluster("a", &a.kubeconfig)
            .cluster("b", &b.kubeconfig);
        let bucket = match backend {
            Backend::Fs => {
                rb = rb
                    .store("vault", &format!("{{ fs: {{ path: vault }}, {signs} }}"))
                    .store(
                        "offsite",
                        &format!("{{ fs: {{ path: offsite }}, {checks} }}"),
                    );
                None
            }
            Backend::S3 => {
                let bucket = Bucket::new(tag);
                let s3 = |prefix: &str, signing: &str| {
                    format!(
                        "{{ s3: {{ bucket: {}, prefix: {prefix}, endpoint: \"{}\", region: us-east-1, path_style: true, checksum: when_required }}, {signing} }}",
                        bucket.name,
                        endpoint()
                    )
                };
                rb = rb
                    .store("vault", &s3("dr/", signs))
                    .store("offsite", &s3("offsite/", checks))
                    .state_in("vault");
                Some(bucket)
            }
        };
        let runbook = rb
            .steps(&format!(
                concat!(
                    "  - {{ id: gate, uses: approve, with: {{ message: \"fail over?\" }} }}\n",
                    "  - {{ id: backup, uses: backup, cluster: a, with: {{ store: vault, namespaces: [ shop, app ] }} }}\n",
                    "  - {{ id: copy, uses: copy_backup, with: {{ from: vault, to: offsite, backup: \"${{{{ steps.backup.outputs.backup_id }}}}\" }} }}\n",
                    "  - {{ id: restore, uses: restore, cluster: b, with: {{ store: offsite, backup: \"${{{{ steps.backup.outputs.backup_id }}}}\", namespaces: [ shop ], verify: true }} }}\n",
                    "  - {{ id: ready, uses: wait, cluster: b, with: {{ kind: Deployment, namespace: shop, all: true, condition: Available, timeout: 1m }} }}\n",
                    "  - {{ id: check, uses: verify_restore, cluster: b, with: {{ store: offsite, backup: \"${{{{ steps.backup.outputs.backup_id }}}}\", namespaces: [ shop ] }} }}\n",
                    "  - {{ id: snap, uses: snapshot, cluster: a, with: {{ namespace: app, pvcs: [ uploads ], timeout: 30s }} }}\n",
                    "  - id: verify\n    uses: job\n    cluster: b\n    with:\n      namespace: shop\n      spec: {{ template: {{ spec: {{ restartPolicy: Never, containers: [ {{ name: check, image: \"curlimages/curl:8.10.1\", args: [ \"http://frontend/\" ] }} ] }} }} }}\n      timeout: 30s\n",
                    "  - {{ id: freeze, uses: scale, cluster: a, with: {{ namespace: shop, kind: Deployment, selector: \"tier=web\", replicas: 0 }} }}\n",
                    "  - {{ id: gitops, uses: gitops_pause, cluster: a, undo: {{}} }}\n",
                    "  - {{ id: switch, uses: patch, cluster: b, with: {{ kind: ConfigMap, namespace: edge, name: routing, merge: {{ data: {{ active: standby }} }} }} }}\n",
                    "  - {{ id: announce, uses: apply, cluster: b, with: {{ manifests: [ {{ apiVersion: v1, kind: ConfigMap, metadata: {{ name: failover, namespace: edge }}, data: {{ from: a }} }} ] }} }}\n",
                    "  - {{ id: retire, uses: delete, cluster: a, with: {{ kind: ConfigMap, namespace: shop, name: shop-settings }} }}\n",
                    "  - {{ id: probe, uses: http_check, with: {{ url: \"{version_url}\", expect_status: 200 }} }}\n",
                    "  - {{ id: note, uses: exec_local, with: {{ argv: [ \"true\" ] }} }}\n",
                    "  - {{ id: pause, uses: sleep, with: {{ duration: 1200ms }} }}\n",
                ),
                version_url = version_url
            ))
            .write(dir.path());
        Drill {
            name: tag.to_string(),
            a,
            b,
            dir,
            runbook,
            bucket,
        }
    }

    /// `lifeboat run`, killed at `point`.
    fn run_killed_at(&self, point: &str) -> Test {
        Test::new()
            .args(["run", "--yes", "--run-id", "drill", "--output", "json"])
            .arg(&self.runbook)
            .env("LIFEBOAT_CRASH_AT", point)
            // A renewal every 300 ms, so that the drill renews its lock.
            .env("LIFEBOAT_LOCK_RENEW_MS", "300")
            .env("AWS_ENDPOINT_URL", endpoint())
    }

    fn resume(&self) -> Test {
        Test::new()
            .args([
                "resume",
                "drill",
                "--yes",
                "--steal-lock",
                "--output",
                "json",
                "--runbook",
            ])
            .arg(&self.runbook)
            .env("AWS_ENDPOINT_URL", endpoint())
    }

    /// The store URL of a store of the drill, for `lifeboat backups`.
    fn store_url(&self, name: &str) -> String {
        match &self.bucket {
            Some(bucket) => {
                let prefix = if name == "vault" { "dr" } else { "offsite" };
                format!("s3://{}/{prefix}/", bucket.name)
            }
            None => self.dir.path().join(name).to_string_lossy().into_owned(),
        }
    }
}

/// The `server:` of a kubeconfig the sandbox wrote.
fn server_of(kubeconfig: &Path) -> String {
    let text = std::fs::read_to_string(kubeconfig).unwrap_or_else(|e| panic!("{e}"));
    text.lines()
        .find_map(|l| l.trim().strip_prefix("server:"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no server in {}", kubeconfig.display()))
}

/// The kinds of namespace `shop` (runbooks/fixtures/shop).
const SHOP_TYPES: &[&str] = &[
    "configmaps",
    "secrets",
    "serviceaccounts",
    "services",
    "deployments.apps",
];

/// The objects of namespace `shop`, keyed as `all_objects` keys them (one kubectl
/// call per kind, not one per kind the cluster serves).
fn shop_objects(cluster: &dyn Kube) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for t in SHOP_TYPES {
        let list: Value =
            serde_json::from_str(&cluster.ok(&["get", t, "-n", "shop", "-o", "json"]))
                .unwrap_or_else(|e| panic!("{t}: {e}"));
        for item in list["items"].as_array().cloned().unwrap_or_default() {
            let name = item["metadata"]["name"].as_str().unwrap_or("");
            out.insert(format!("{t} shop/{name}"), item);
        }
    }
    out
}

/// Kills the drill at `point`, resumes it, and checks that the result is that of a
/// drill never killed.
fn crash_then_resume(backend: Backend, point: &str) {
    let tag = format!(
        "crash-{}-{}",
        format!("{backend:?}").to_lowercase(),
        point.replace([':', '-'], "")
    );
    let drill = Drill::new(backend, &tag[..tag.len().min(40)]);
    let shop_before = shop_objects(&drill.a);
    let killed = drill.run_killed_at(point).status_any().run();
    assert_eq!(
        killed.status, -1,
        "the run was not killed at {point}:\n{}\n{}",
        killed.stdout, killed.stderr
    );
    assert!(
        killed.stderr.contains(&format!(
            "crash point {}",
            point.split(':').next().unwrap_or(point)
        )),
        "killed elsewhere than at {point}:\n{}",
        killed.stderr
    );
    let resumed = drill
        .resume()
        .stdout_contains("\"state\":\"succeeded\"")
        .run();

    // The restore: every object of `shop` as the backup had it.
    let (problems, compared) = differences(&shop_before, &shop_objects(&drill.b));
    assert!(
        problems.is_empty(),
        "after a crash at {point} ({backend:?}), {} of {compared} differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(compared >= 5, "only {compared} objects compared");
    // Both backups whole.
    let id = format!("{}-drill-backup", drill.name);
    for store in ["vault", "offsite"] {
        let public_key = drill.dir.path().join("k.pub");
        Test::new()
            .args(["backups", "verify", &id, "--store", &drill.store_url(store)])
            .arg("--public-key")
            .arg(&public_key)
            .arg("--require-signature")
            .stdout_contains("signature verified")
            .env("AWS_ENDPOINT_URL", endpoint())
            .stdout_contains("parts verified")
            .run();
    }
    // Every failover step took effect.
    let replicas = drill.a.ok(&[
        "get",
        "deployment",
        "-n",
        "shop",
        "frontend",
        "-o",
        "jsonpath={.spec.replicas}",
    ]);
    assert_eq!(replicas.trim(), "0", "freeze did not take effect");
    let active = drill.b.ok(&[
        "get",
        "configmap",
        "-n",
        "edge",
        "routing",
        "-o",
        "jsonpath={.data.active}",
    ]);
    assert_eq!(active.trim(), "standby", "switch did not take effect");
    // Every GitOps object paused, and recorded as the step first found it: a step
    // run again over its own work does not take what it paused for paused before.
    for (key, object) in crate::gitops::gitops_objects(&drill.a) {
        assert!(
            object["spec"]["suspend"] == true
                || object["annotations"]["argocd.argoproj.io/skip-reconcile"] == "true",
            "gitops did not pause {key}: {object}"
        );
    }
    let gitops = crate::backup_restore::json_lines(&resumed.stdout)
        .into_iter()
        .find(|e| {
            (e["event"] == "step_succeeded" || e["event"] == "step_resumed")
                && e["step"] == "gitops"
        })
        .unwrap_or_else(|| panic!("the resume says nothing of gitops:\n{}", resumed.stdout));
    assert_eq!(
        (
            &gitops["outputs"]["paused"],
            &gitops["outputs"]["already_paused"]
        ),
        (&Value::from("8"), &Value::from("1")),
        "after a crash at {point}, gitops recorded what it had paused itself as paused before: {gitops}"
    );
    // The restore read back what it wrote, and so did the check after it: no drift.
    for step in ["restore", "check"] {
        let done = crate::backup_restore::json_lines(&resumed.stdout)
            .into_iter()
            .find(|e| {
                (e["event"] == "step_succeeded" || e["event"] == "step_resumed")
                    && e["step"] == step
            })
            .unwrap_or_else(|| panic!("the resume says nothing of {step}:\n{}", resumed.stdout));
        assert_eq!(
            done["outputs"]["drift"], "0",
            "after a crash at {point}: {done}"
        );
        assert_ne!(
            done["outputs"]["verified"], "0",
            "after a crash at {point}: {done}"
        );
    }
    drill.b.ok(&["get", "configmap", "-n", "edge", "failover"]);
    assert!(
        drill
            .a
            .fails(&["get", "configmap", "-n", "shop", "shop-settings"])
            .contains("NotFound"),
        "retire did not take effect"
    );
    let snapshots = drill
        .a
        .ok(&["get", "volumesnapshots", "-n", "app", "-o", "name"]);
    assert_eq!(
        snapshots.lines().count(),
        1,
        "one snapshot, whatever the crash: {snapshots}"
    );
    // The journal replays, and says the run succeeded.
    Test::new()
        .args(["status", "drill", "--runbook"])
        .arg(&drill.runbook)
        .env("AWS_ENDPOINT_URL", endpoint())
        .stdout_contains("succeeded")
        .run();
}

/// Every crash point of the matrix on `backend`: inside the journal, the lock and the
/// actions that write in parts; a step started but not finished; and the end of every
/// action (of those that write to a store, on S3).
fn points(backend: Backend) -> Vec<String> {
    let mut points: Vec<String> = INNER_POINTS.iter().map(|p| p.to_string()).collect();
    points.push("step-started:backup:1".into());
    points.push("step-started:restore:1".into());
    let steps = match backend {
        Backend::Fs => STEPS,
        Backend::S3 => S3_STEPS,
    };
    points.extend(steps.iter().map(|step| format!("action-done:{step}:1")));
    points
}

fn matrix(backend: Backend, shard: usize, shards: usize) {
    for (n, point) in points(backend).iter().enumerate() {
        if n % shards == shard {
            crash_then_resume(backend, point);
        }
    }
}

// Sharded so that the suite's test threads run several at once.
#[test]
fn the_crash_matrix_on_a_local_folder_part_1() {
    matrix(Backend::Fs, 0, 3);
}

#[test]
fn the_crash_matrix_on_a_local_folder_part_2() {
    matrix(Backend::Fs, 1, 3);
}

#[test]
fn the_crash_matrix_on_a_local_folder_part_3() {
    matrix(Backend::Fs, 2, 3);
}

#[test]
fn the_crash_matrix_on_s3_part_1() {
    matrix(Backend::S3, 0, 2);
}

#[test]
fn the_crash_matrix_on_s3_part_2() {
    matrix(Backend::S3, 1, 2);
}

#[test]
fn the_reliability_doc_lists_every_point_of_the_crash_matrix() {
    let doc = std::fs::read_to_string(testbed::path("docs/reliability.md"))
        .unwrap_or_else(|e| panic!("{e}"));
    for (backend, label) in [(Backend::Fs, "local folder"), (Backend::S3, "S3")] {
        for point in points(backend) {
            let name = point
                .rsplit_once(':')
                .map_or(point.as_str(), |(name, _)| name);
            let row = format!("| `{name}` | {label} |");
            assert!(doc.contains(&row), "docs/reliability.md has no row `{row}`");
        }
    }
}
