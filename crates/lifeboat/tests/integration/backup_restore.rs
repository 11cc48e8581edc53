//! Backup and restore through `lifeboat run`, between two real `lifeboat sandbox
//! serve` processes and the real S3 server (s3s-fs) that `scripts/test` starts. The
//! restored objects are read back over HTTP and compared with the originals, all of
//! them; the real `aws` CLI, `zstd` and `jq` read the stored backup.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::{Test, TestRunbook};
use crate::s3_server::{aws, endpoint};
use crate::served::Served;
use testbed::Kube;

/// A fresh bucket on the test S3 server.
pub struct Bucket {
    pub name: String,
}

impl Bucket {
    pub fn new(tag: &str) -> Bucket {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("lb-{tag}-{}-{n}", std::process::id());
        let out = aws(&["s3", "mb", &format!("s3://{name}")]);
        assert!(
            out.status.success(),
            "mb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Bucket { name }
    }

    /// The store URL of the `dr/` prefix, as `lifeboat backups --store` takes it.
    pub fn url(&self) -> String {
        format!("s3://{}/dr/", self.name)
    }

    /// A runbook `stores:` entry for this bucket.
    pub fn store_yaml(&self) -> String {
        format!(
            "{{ s3: {{ bucket: {}, prefix: dr/, endpoint: \"{}\", region: us-east-1, path_style: true, checksum: when_required }} }}",
            self.name,
            endpoint()
        )
    }

    /// Every object in the bucket with its size and time, as `aws s3 ls` lists them.
    pub fn listing(&self) -> String {
        let out = aws(&["s3", "ls", "--recursive", &format!("s3://{}/", self.name)]);
        assert!(
            out.status.success(),
            "ls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Every key in the bucket.
    pub fn keys(&self) -> Vec<String> {
        let out = aws(&["s3", "ls", "--recursive", &format!("s3://{}/", self.name)]);
        assert!(
            out.status.success(),
            "ls: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }
}

/// Writes a runbook with these clusters (name → kubeconfig), the bucket as store
/// `vault`, and these steps.
pub fn runbook(
    dir: &Path,
    name: &str,
    clusters: &[(&str, &Path)],
    bucket: &Bucket,
    steps: &str,
) -> PathBuf {
    runbook_with_store(dir, name, clusters, &bucket.store_yaml(), steps)
}

/// Writes a runbook with these clusters, `store` as store `vault`, and these steps.
pub fn runbook_with_store(
    dir: &Path,
    name: &str,
    clusters: &[(&str, &Path)],
    store: &str,
    steps: &str,
) -> PathBuf {
    let mut rb = TestRunbook::new(name).store("vault", store).steps(steps);
    for (c, kubeconfig) in clusters {
        rb = rb.cluster(c, kubeconfig);
    }
    rb.write(dir)
}

/// How the objects of a restore's target differ from its source's: every object that
/// is restored (not what controllers recreate) must be there and equal once what the
/// target assigns is stripped. Returns the differences and how many were compared.
pub fn differences(
    before: &BTreeMap<String, Value>,
    after: &BTreeMap<String, Value>,
) -> (Vec<String>, usize) {
    let mut compared = 0;
    let mut problems = Vec::new();
    for (key, original) in before {
        let t = key.split(' ').next().unwrap_or("");
        if not_restored(t, original) {
            continue;
        }
        match after.get(key) {
            None => problems.push(format!("{key} was not restored")),
            Some(restored) => {
                let (want, got) = (stripped(t, original), stripped(t, restored));
                if want != got {
                    problems.push(format!(
                        "{key} differs:\n  original: {want}\n  restored: {got}"
                    ));
                }
                compared += 1;
            }
        }
    }
    (problems, compared)
}

/// `lifeboat run RUNBOOK --output json`, expecting `status`; returns the events.
pub fn run_json(runbook: &Path, extra: &[&str], status: i32) -> Vec<Value> {
    let out = Test::new()
        .arg("run")
        .arg(runbook)
        .args(["--output", "json"])
        .args(extra.iter().copied())
        .status(status)
        .run();
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// The JSON events among `stdout`'s lines (`--output json`).
pub fn json_lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The outputs of a succeeded step.
pub fn outputs(events: &[Value], step: &str) -> Value {
    events
        .iter()
        .find(|e| e["event"] == "step_succeeded" && e["step"] == step)
        .map(|e| e["outputs"].clone())
        .unwrap_or_else(|| panic!("step {step} did not succeed: {events:#?}"))
}

/// The error of a failed step.
pub fn failure(events: &[Value], step: &str) -> String {
    events
        .iter()
        .find(|e| e["event"] == "step_failed" && e["step"] == step)
        .and_then(|e| e["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("step {step} did not fail: {events:#?}"))
}

/// The source cluster of most tests: the project's fixtures (namespace `app`: a
/// StatefulSet with PVC templates, a Job, a CronJob, Secrets, ConfigMaps, RBAC, a
/// headless and a normal Service, a CRD and its custom resource), the VolumeSnapshot
/// CRDs and examples, and microservices-demo applied into namespace `demo`.
pub fn source_cluster() -> Served {
    let a = Served::start(&[
        &testbed::fixture("sandbox/app"),
        &testbed::fixture("sandbox/extras"),
        &testbed::fixture("sandbox/custom"),
        &testbed::upstream("volumesnapshot-crds.yaml"),
        &testbed::upstream("volumesnapshot-examples.yaml"),
    ]);
    a.ok(&["create", "namespace", "demo"]);
    let demo = testbed::upstream("microservices-demo.yaml");
    a.ok(&["apply", "-n", "demo", "-f", &demo.to_string_lossy()]);
    // Let the simulated controllers roll out (ReplicaSets, PVC bindings, Job status).
    a.ok(&[
        "rollout",
        "status",
        "-n",
        "demo",
        "deployment/frontend",
        "--timeout=30s",
    ]);
    a.ok(&[
        "wait",
        "-n",
        "app",
        "--for=condition=Complete",
        "job/migrate",
        "--timeout=30s",
    ]);
    a
}

/// Every object of every listable type, as `kubectl get -o json` shows it, keyed by
/// `resource.group ns/name`.
pub fn all_objects(cluster: &dyn Kube) -> BTreeMap<String, Value> {
    let types = cluster.ok(&["api-resources", "--verbs=list", "-o", "name"]);
    let mut out = BTreeMap::new();
    for t in types.lines().filter(|t| !t.is_empty()) {
        let list: Value = serde_json::from_str(&cluster.ok(&["get", t, "-A", "-o", "json"]))
            .unwrap_or_else(|e| panic!("{t}: {e}"));
        for item in list["items"].as_array().cloned().unwrap_or_default() {
            let ns = item["metadata"]["namespace"].as_str().unwrap_or("");
            let name = item["metadata"]["name"].as_str().unwrap_or("");
            out.insert(format!("{t} {ns}/{name}"), item);
        }
    }
    out
}

/// SPEC section 5's strip list, written out independently of lifeboat's own rules.
pub fn stripped(t: &str, o: &Value) -> Value {
    let mut o = o.clone();
    if t == "jobs.batch" {
        // Each cluster generates a Job's selector from the Job's own uid.
        let uid = o["metadata"]["uid"].clone();
        for labels in [
            "/metadata/labels",
            "/spec/selector/matchLabels",
            "/spec/template/metadata/labels",
        ] {
            for v in o
                .pointer_mut(labels)
                .and_then(Value::as_object_mut)
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                if *v == uid {
                    *v = Value::from("<the job's uid>");
                }
            }
        }
    }
    if let Some(meta) = o.get_mut("metadata").and_then(Value::as_object_mut) {
        for f in [
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "deletionTimestamp",
            "selfLink",
            "managedFields",
        ] {
            meta.remove(f);
        }
        if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            if t == "persistentvolumeclaims" {
                // Each cluster's volume binder writes its own.
                for binding in [
                    "pv.kubernetes.io/bind-completed",
                    "pv.kubernetes.io/bound-by-controller",
                    "volume.beta.kubernetes.io/storage-provisioner",
                    "volume.kubernetes.io/storage-provisioner",
                    "volume.kubernetes.io/selected-node",
                ] {
                    a.remove(binding);
                }
            }
            // Set by each cluster's own Deployment controller.
            a.remove("deployment.kubernetes.io/revision");
        }
        if meta
            .get("annotations")
            .and_then(Value::as_object)
            .is_some_and(|a| a.is_empty())
        {
            meta.remove("annotations");
        }
    }
    if let Some(map) = o.as_object_mut() {
        map.remove("status");
    }
    if t == "services"
        && let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut)
    {
        if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
            spec.remove("clusterIP");
            spec.remove("clusterIPs");
        }
        // Allocated by each cluster (restore clears them unless asked to keep them).
        spec.remove("healthCheckNodePort");
        for port in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            port.remove("nodePort");
        }
    }
    if t == "persistentvolumes"
        && let Some(claim) = o
            .pointer_mut("/spec/claimRef")
            .and_then(Value::as_object_mut)
    {
        claim.remove("uid");
        claim.remove("resourceVersion");
    }
    o
}

/// Whether SPEC section 5 says the object is not restored: Events, things a
/// controller recreates, and objects describing the cluster itself.
pub fn not_restored(t: &str, o: &Value) -> bool {
    let controller_owned = o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|r| r["controller"] == true));
    matches!(
        t,
        "events"
            | "events.events.k8s.io"
            | "endpointslices.discovery.k8s.io"
            | "endpoints"
            | "nodes"
            | "leases.coordination.k8s.io"
            | "ipaddresses.networking.k8s.io"
    ) || (controller_owned && t != "persistentvolumeclaims")
        || o["type"] == "kubernetes.io/service-account-token"
        || (t == "configmaps" && o["metadata"]["name"] == "kube-root-ca.crt")
}

#[test]
fn a_cluster_backup_restores_into_an_empty_cluster_with_every_object_equal() {
    let a = source_cluster();
    let b = Served::start(&[]);
    let bucket = Bucket::new("round");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "round-trip",
        &[("a", &a.kubeconfig), ("b", &b.kubeconfig)],
        &bucket,
        "  - { id: backup, uses: backup, cluster: a, with: { store: vault } }\n  - id: restore\n    uses: restore\n    cluster: b\n    with: { store: vault, backup: \"${{ steps.backup.outputs.backup_id }}\" }\n",
    );
    let before = all_objects(&a);
    let events = run_json(&rb, &[], 0);
    let backup = outputs(&events, "backup");
    let restore = outputs(&events, "restore");
    let objects: u64 = backup["objects"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    assert!(
        objects >= 90,
        "the backup holds {objects} objects: {backup}"
    );
    assert_eq!(restore["failed"], "0");
    assert_eq!(restore["backup_id"], backup["backup_id"]);

    let after = all_objects(&b);
    let (problems, compared) = differences(&before, &after);
    assert!(
        problems.is_empty(),
        "{} of {compared} objects differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(compared >= 60, "only {compared} objects compared");
    // What a controller recreates was left to the controller: B's ReplicaSets are B's own.
    for (key, o) in &after {
        if key.starts_with("replicasets.apps ") {
            let uid = o["metadata"]["uid"].as_str().unwrap_or("");
            assert!(
                !before.values().any(|x| x["metadata"]["uid"] == uid),
                "{key} was copied from the source instead of recreated"
            );
        }
    }

    // The stored backup is plain files: the aws CLI lists and fetches a part, zstd and
    // jq read it.
    let id = backup["backup_id"].as_str().unwrap_or_default();
    let keys = bucket.keys();
    assert!(
        keys.contains(&format!("dr/backups/{id}/manifest.json")),
        "{keys:?}"
    );
    let part = format!("dr/backups/{id}/resources/apps/v1/deployments.jsonl.zst");
    assert!(keys.contains(&part), "{keys:?}");
    let local = dir.path().join("deployments.jsonl.zst");
    let got = aws(&[
        "s3",
        "cp",
        &format!("s3://{}/{part}", bucket.name),
        &local.to_string_lossy(),
    ]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    let read = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zstd -d -c '{}' | jq -r '.metadata.namespace + \"/\" + .metadata.name'",
            local.display()
        ))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    let names = String::from_utf8_lossy(&read.stdout);
    assert!(names.lines().any(|l| l == "demo/frontend"), "{names}");
    assert!(names.lines().any(|l| l == "app/web"), "{names}");
}

/// `lifeboat backups ...` against the test S3 server.
pub fn backups(args: &[&str]) -> Test {
    Test::new()
        .arg("backups")
        .args(args.iter().copied())
        .env("AWS_ENDPOINT_URL", endpoint())
}

/// A small source cluster: namespace `app` with every kind of the project's fixtures.
pub fn app_cluster() -> Served {
    let a = Served::start(&[
        &testbed::fixture("sandbox/app"),
        &testbed::fixture("sandbox/extras"),
        &testbed::fixture("sandbox/custom"),
    ]);
    a.ok(&[
        "wait",
        "-n",
        "app",
        "--for=condition=Complete",
        "job/migrate",
        "--timeout=30s",
    ]);
    a
}

/// Backs up cluster `a` and returns the backup id.
pub fn back_up(dir: &Path, a: &Served, bucket: &Bucket, with: &str) -> String {
    let rb = runbook(
        dir,
        "source",
        &[("a", &a.kubeconfig)],
        bucket,
        &format!("  - {{ id: backup, uses: backup, with: {{ store: vault{with} }} }}\n"),
    );
    let events = run_json(&rb, &[], 0);
    outputs(&events, "backup")["backup_id"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A runbook restoring backup `id` into cluster `b` with extra `with:` entries.
pub fn restore_runbook(dir: &Path, b: &Served, bucket: &Bucket, id: &str, with: &str) -> PathBuf {
    runbook(
        dir,
        "target",
        &[("b", &b.kubeconfig)],
        bucket,
        &format!(
            "  - {{ id: restore, uses: restore, with: {{ store: vault, backup: {id}{with} }} }}\n"
        ),
    )
}

#[test]
fn a_tampered_part_fails_verification_and_its_restore_writes_nothing() {
    let a = app_cluster();
    let bucket = Bucket::new("tamper");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = back_up(dir.path(), &a, &bucket, "");
    backups(&["verify", "--store", &bucket.url(), &id])
        .stdout_contains("ok    resources/core/v1/configmaps.jsonl.zst")
        .run();

    // Flip one byte in the middle of one part.
    let key = format!(
        "s3://{}/dr/backups/{id}/resources/core/v1/configmaps.jsonl.zst",
        bucket.name
    );
    let local = dir.path().join("part");
    assert!(
        aws(&["s3", "cp", &key, &local.to_string_lossy()])
            .status
            .success()
    );
    let mut bytes = std::fs::read(&local).unwrap_or_else(|e| panic!("{e}"));
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&local, &bytes).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        aws(&["s3", "cp", &local.to_string_lossy(), &key])
            .status
            .success()
    );

    backups(&["verify", "--store", &bucket.url(), &id])
        .status(1)
        .stdout_contains("FAIL  resources/core/v1/configmaps.jsonl.zst: sha256 is")
        .stdout_contains("ok    resources/apps/v1/deployments.jsonl.zst")
        .stderr_contains("failed verification")
        .run();

    let c = Served::start(&[]);
    let untouched = all_objects(&c);
    let rb = restore_runbook(dir.path(), &c, &bucket, &id, "");
    let events = run_json(&rb, &[], 1);
    let error = failure(&events, "restore");
    assert!(
        error.contains("resources/core/v1/configmaps.jsonl.zst"),
        "{error}"
    );
    assert!(error.contains("sha256"), "{error}");
    let after = all_objects(&c);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        untouched.keys().collect::<Vec<_>>(),
        "a refused restore created objects"
    );
}

#[test]
fn a_backup_without_its_manifest_is_listed_as_incomplete_and_never_restored() {
    let a = app_cluster();
    let bucket = Bucket::new("incomplete");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let id = back_up(dir.path(), &a, &bucket, "");
    backups(&["list", "--store", &bucket.url()])
        .stdout_contains(&id)
        .stdout_contains("source")
        .run();
    let manifest = format!("s3://{}/dr/backups/{id}/manifest.json", bucket.name);
    assert!(aws(&["s3", "rm", &manifest]).status.success());

    let listed = backups(&["list", "--store", &bucket.url()])
        .stdout_contains("no complete backups")
        .stdout_contains("incomplete (no readable manifest; never restored): 1")
        .run();
    assert!(
        listed.stdout.contains(&format!("  {id}  ")),
        "{}",
        listed.stdout
    );
    let json = backups(&["list", "--store", &bucket.url(), "--output", "json"]).run();
    let doc: Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(doc["complete"], serde_json::json!([]));
    assert_eq!(doc["incomplete"][0]["backup_id"], id.as_str());

    let c = Served::start(&[]);
    let untouched = all_objects(&c);
    let events = run_json(&restore_runbook(dir.path(), &c, &bucket, &id, ""), &[], 1);
    assert!(
        failure(&events, "restore").contains("is incomplete"),
        "{events:#?}"
    );
    let latest = run_json(
        &restore_runbook(dir.path(), &c, &bucket, "latest", ""),
        &[],
        1,
    );
    assert!(
        failure(&latest, "restore").contains("no complete backup"),
        "{latest:#?}"
    );
    assert_eq!(all_objects(&c).len(), untouched.len());
}

#[test]
fn backups_show_delete_and_latest_work_on_a_store() {
    let a = app_cluster();
    let bucket = Bucket::new("catalog");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let first = back_up(dir.path(), &a, &bucket, "");
    let second = back_up(dir.path(), &a, &bucket, "");
    let shown = backups(&[
        "show",
        "--store",
        &bucket.url(),
        &second,
        "--output",
        "json",
    ])
    .run();
    let manifest: Value = serde_json::from_str(&shown.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(manifest["format_version"], 1);
    assert_eq!(manifest["backup_id"], second.as_str());
    assert_eq!(manifest["runbook"], "source");
    let parts = manifest["parts"].as_array().cloned().unwrap_or_default();
    let sum: u64 = parts.iter().filter_map(|p| p["objects"].as_u64()).sum();
    assert_eq!(manifest["objects"].as_u64(), Some(sum));
    for p in &parts {
        assert_eq!(p["sha256"].as_str().map(str::len), Some(64), "{p}");
    }
    backups(&["show", "--store", &bucket.url(), &second])
        .stdout_contains("resources/apps/v1/statefulsets.jsonl.zst")
        .run();

    // `latest` is the newest complete backup of the runbook that wrote it.
    let c = Served::start(&[]);
    let rb = runbook(
        dir.path(),
        "source",
        &[("b", &c.kubeconfig)],
        &bucket,
        "  - { id: restore, uses: restore, with: { store: vault, backup: latest, namespaces: [ app ] } }\n",
    );
    assert_eq!(
        outputs(&run_json(&rb, &[], 0), "restore")["backup_id"],
        second.as_str()
    );

    backups(&["delete", "--store", &bucket.url(), &second])
        .stdout_contains(&format!("deleted backup {second}"))
        .run();
    assert!(
        !bucket.keys().iter().any(|k| k.contains(&second)),
        "{:?}",
        bucket.keys()
    );
    let listed = backups(&["list", "--store", &bucket.url()]).run();
    assert!(
        listed.stdout.contains(&first) && !listed.stdout.contains(&second),
        "{}",
        listed.stdout
    );
    backups(&["show", "--store", &bucket.url(), &second])
        .status(1)
        .stderr_contains("does not exist")
        .run();
    backups(&["show", "--store", &bucket.url()])
        .status(2)
        .stderr_contains("needs a backup id")
        .run();
}

#[test]
fn an_encrypted_backup_hides_secrets_and_restores_only_with_the_identity() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let key = dir.path().join("key.txt");
    let made = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .output()
        .unwrap_or_else(|e| panic!("cannot run age-keygen (scripts/test installs age): {e}"));
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let key_text = std::fs::read_to_string(&key).unwrap_or_else(|e| panic!("{e}"));
    let public = key_text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap_or_else(|| panic!("no public key in {key_text}"))
        .to_string();

    let a = app_cluster();
    let bucket = Bucket::new("sealed");
    let store = bucket.store_yaml().replacen(
        " }",
        &format!(" }}, encryption: {{ age_recipients: [ \"{public}\" ] }}"),
        1,
    );
    let write = |name: &str, cluster: &Path, step: &str, store: &str| {
        runbook_with_store(
            dir.path(),
            name,
            &[("c", cluster)],
            store,
            &format!("  - {step}\n"),
        )
    };
    let rb = write(
        "sealed",
        &a.kubeconfig,
        "{ id: backup, uses: backup, with: { store: vault, namespaces: [ app ] } }",
        &store,
    );
    let id = outputs(&run_json(&rb, &[], 0), "backup")["backup_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();

    // No secret value, plain or base64, is in any stored byte.
    let local = dir.path().join("bucket");
    let synced = aws(&[
        "s3",
        "sync",
        &format!("s3://{}/", bucket.name),
        &local.to_string_lossy(),
    ]);
    assert!(
        synced.status.success(),
        "{}",
        String::from_utf8_lossy(&synced.stderr)
    );
    let parts: Vec<PathBuf> = walk(&local)
        .into_iter()
        .filter(|p| !p.ends_with("manifest.json"))
        .collect();
    assert!(parts.len() >= 5, "{parts:?}");
    for p in &parts {
        assert!(
            p.to_string_lossy().ends_with(".jsonl.zst.age"),
            "{}",
            p.display()
        );
        let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("{e}"));
        for secret in [
            "not-a-real-password",
            "bm90LWEtcmVhbC1wYXNzd29yZA",
            "c2VjcmV0LXRva2VuLXZhbHVl",
            "secret-token-value",
        ] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in {}",
                p.display()
            );
        }
    }
    // The standard age CLI decrypts a part; zstd and jq read it.
    let secrets = parts
        .iter()
        .find(|p| p.to_string_lossy().ends_with("secrets.jsonl.zst.age"))
        .unwrap_or_else(|| panic!("no secrets part in {parts:?}"));
    let read = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "age -d -i '{}' '{}' | zstd -d | jq -r .metadata.name",
            key.display(),
            secrets.display()
        ))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        read.status.success(),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );
    assert!(
        String::from_utf8_lossy(&read.stdout)
            .lines()
            .any(|l| l == "db-credentials")
    );

    backups(&["verify", "--store", &bucket.url(), &id])
        .env("LIFEBOAT_AGE_IDENTITY", "")
        .status(1)
        .stdout_contains("no age identity")
        .run();
    backups(&[
        "verify",
        "--store",
        &bucket.url(),
        &id,
        "--identity",
        &key.to_string_lossy(),
    ])
    .stdout_contains("parts verified")
    .run();

    // Without the identity the restore is refused before anything is written.
    let b = Served::start(&[]);
    let untouched = all_objects(&b);
    let no_key = write(
        "open",
        &b.kubeconfig,
        &format!("{{ id: restore, uses: restore, with: {{ store: vault, backup: {id} }} }}"),
        &store,
    );
    let events = run_json(&no_key, &[], 1);
    assert!(
        failure(&events, "restore").contains("no age identity"),
        "{events:#?}"
    );
    assert_eq!(all_objects(&b).len(), untouched.len());

    let with_key = store.replacen(
        "age_recipients:",
        &format!("identity_file: \"{}\", age_recipients:", key.display()),
        1,
    );
    let rb = write(
        "open",
        &b.kubeconfig,
        &format!("{{ id: restore, uses: restore, with: {{ store: vault, backup: {id} }} }}"),
        &with_key,
    );
    let restored = outputs(&run_json(&rb, &[], 0), "restore");
    assert_eq!(restored["failed"], "0");
    let password = b.ok(&[
        "get",
        "secret",
        "-n",
        "app",
        "db-credentials",
        "-o",
        "jsonpath={.data.password}",
    ]);
    assert_eq!(password, "bm90LWEtcmVhbC1wYXNzd29yZA==");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{e}")) {
        let p = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn namespace_globs_select_what_a_backup_takes_however_many_match() {
    let a = Served::start(&[]);
    for ns in [
        "team-1", "team-2", "team-3", "team-4", "team-5", "team-6", "other",
    ] {
        a.ok(&["create", "namespace", ns]);
        a.ok(&[
            "create",
            "configmap",
            "-n",
            ns,
            "settings",
            "--from-literal=owner=me",
        ]);
    }
    let bucket = Bucket::new("globs");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Six namespaces match (read with one list across all namespaces), one is excluded.
    let many = back_up(
        dir.path(),
        &a,
        &bucket,
        ", namespaces: [ \"team-*\" ], exclude_namespaces: [ team-3 ]",
    );
    // Two match (read namespace by namespace).
    let few = back_up(dir.path(), &a, &bucket, ", namespaces: [ team-1, other ]");
    for (id, want) in [
        (
            &many,
            vec!["team-1", "team-2", "team-4", "team-5", "team-6"],
        ),
        (&few, vec!["other", "team-1"]),
    ] {
        let b = Served::start(&[]);
        let rb = restore_runbook(dir.path(), &b, &bucket, id, "");
        assert_eq!(outputs(&run_json(&rb, &[], 0), "restore")["failed"], "0");
        let got = b.ok(&[
            "get",
            "configmaps",
            "-A",
            "--field-selector",
            "metadata.name=settings",
            "-o",
            "jsonpath={.items[*].metadata.namespace}",
        ]);
        let mut got: Vec<&str> = got.split_whitespace().collect();
        got.sort_unstable();
        assert_eq!(got, want, "backup {id}");
        let namespaces = b.ok(&["get", "namespaces", "-o", "name"]);
        assert!(!namespaces.contains("namespace/team-3"), "{namespaces}");
    }
}
