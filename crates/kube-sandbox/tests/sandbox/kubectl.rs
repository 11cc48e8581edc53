//! The sandbox judged by the real kubectl: a sandbox served in this process, kubectl
//! against it, assertions on what kubectl prints.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::served::Served;
use testbed::{Kube, fixture, path, upstream};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
    p
}

const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n";

/// A sandbox with the microservices demo applied into `shop` by kubectl.
fn with_shop() -> (Served, tempfile::TempDir) {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let ns = write(dir.path(), "ns.yaml", NAMESPACE);
    s.ok(&["apply", "-f", &ns.to_string_lossy()]);
    let out = s.ok(&[
        "apply",
        "-n",
        "shop",
        "-f",
        &upstream("microservices-demo.yaml").to_string_lossy(),
    ]);
    assert!(out.contains("deployment.apps/frontend created"), "{out}");
    (s, dir)
}

#[test]
fn kubectl_reports_the_sandbox_server_version() {
    let s = Served::start(&[]);
    let out = s.ok(&["version"]);
    assert!(
        out.contains("Server Version: v1.33.0-lifeboat-sandbox"),
        "{out}"
    );
}

#[test]
fn kubectl_applies_a_real_application_and_reads_it_back() {
    let (s, _dir) = with_shop();
    let names = s.ok(&["get", "deployments", "-n", "shop", "-o", "name"]);
    assert_eq!(names.lines().count(), 12, "{names}");
    assert_eq!(
        s.ok(&["get", "services", "-n", "shop", "-o", "name"])
            .lines()
            .count(),
        12
    );
    assert_eq!(
        s.ok(&["get", "serviceaccounts", "-n", "shop", "-o", "name"])
            .lines()
            .count(),
        12,
        "the demo's 11 and the namespace's `default`"
    );
    let json: serde_json::Value =
        serde_json::from_str(&s.ok(&["get", "deployment", "frontend", "-n", "shop", "-o", "json"]))
            .unwrap_or_default();
    assert_eq!(json["kind"], "Deployment");
    assert_eq!(json["metadata"]["namespace"], "shop");
    assert_eq!(json["metadata"]["generation"], 1);
    assert!(
        json["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36)
    );
    assert!(
        json["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|v| v.parse::<u64>().is_ok())
    );
    assert_eq!(
        json["spec"]["template"]["spec"]["containers"][0]["name"],
        "server"
    );
    let again = s.ok(&[
        "apply",
        "-n",
        "shop",
        "-f",
        &upstream("microservices-demo.yaml").to_string_lossy(),
    ]);
    assert!(
        again.contains("deployment.apps/frontend unchanged"),
        "{again}"
    );
    let svc: serde_json::Value =
        serde_json::from_str(&s.ok(&["get", "service", "frontend", "-n", "shop", "-o", "json"]))
            .unwrap_or_default();
    assert!(
        svc["spec"]["clusterIP"]
            .as_str()
            .is_some_and(|ip| ip.starts_with("10.96.")),
        "{svc}"
    );
}

#[test]
fn kubectl_lists_in_chunks_across_pages() {
    let (s, _dir) = with_shop();
    let out = s.kubectl(&[
        "get",
        "deployments",
        "-n",
        "shop",
        "--chunk-size=2",
        "-o",
        "name",
        "-v=6",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stdout.lines().count(), 12, "{stdout}");
    assert!(
        stderr.matches("limit=2").count() >= 6,
        "expected six pages of two:\n{stderr}"
    );
    assert!(stderr.contains("continue="), "{stderr}");
}

#[test]
fn kubectl_selects_by_label() {
    let (s, _dir) = with_shop();
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "-n",
            "shop",
            "-l",
            "app=frontend",
            "-o",
            "name"
        ])
        .trim(),
        "deployment.apps/frontend"
    );
    let set = s.ok(&[
        "get",
        "deploy",
        "-n",
        "shop",
        "-l",
        "app in (cartservice,adservice)",
        "-o",
        "name",
    ]);
    assert_eq!(set.lines().count(), 2, "{set}");
    assert_eq!(
        s.ok(&["get", "deploy", "-n", "shop", "-l", "!app", "-o", "name"])
            .trim(),
        ""
    );
    let field = s.ok(&[
        "get",
        "svc",
        "-n",
        "shop",
        "--field-selector",
        "metadata.name=redis-cart",
        "-o",
        "name",
    ]);
    assert_eq!(field.trim(), "service/redis-cart");
}

#[test]
fn kubectl_scales_and_patches() {
    let (s, _dir) = with_shop();
    s.ok(&[
        "scale",
        "deployment",
        "frontend",
        "-n",
        "shop",
        "--replicas=4",
    ]);
    let replicas = |s: &Served| {
        s.ok(&[
            "get",
            "deploy",
            "frontend",
            "-n",
            "shop",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
    };
    assert_eq!(replicas(&s), "4");
    s.ok(&[
        "patch",
        "deploy",
        "frontend",
        "-n",
        "shop",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    assert_eq!(replicas(&s), "2");
    s.ok(&[
        "patch",
        "deploy",
        "frontend",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":3}]"#,
    ]);
    assert_eq!(replicas(&s), "3");
    s.ok(&[
        "patch",
        "deploy",
        "frontend",
        "-n",
        "shop",
        "--type",
        "strategic",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"server","image":"nginx:1.27"}]}}}}"#,
    ]);
    let c = s.ok(&["get", "deploy", "frontend", "-n", "shop", "-o", "jsonpath={.spec.template.spec.containers[*].name}={.spec.template.spec.containers[0].image} gen={.metadata.generation}"]);
    assert_eq!(
        c, "server=nginx:1.27 gen=5",
        "a strategic patch merges the container by name; each spec change bumps generation"
    );
    let bad = s.fails(&[
        "patch",
        "deploy",
        "frontend",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/spec/nope"}]"#,
    ]);
    assert!(bad.contains("nothing to remove"), "{bad}");
}

#[test]
fn kubectl_reapplies_a_changed_file_with_a_three_way_merge() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    s.ok(&[
        "apply",
        "-f",
        &write(dir.path(), "ns.yaml", NAMESPACE).to_string_lossy(),
    ]);
    let manifest = |image: &str, env: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: web, namespace: shop }}\nspec:\n  replicas: 2\n  selector: {{ matchLabels: {{ app: web }} }}\n  template:\n    metadata: {{ labels: {{ app: web }} }}\n    spec:\n      containers:\n        - name: web\n          image: {image}\n          env: {env}\n"
        )
    };
    let file = write(
        dir.path(),
        "web.yaml",
        &manifest(
            "nginx:1.25",
            r#"[ { name: A, value: "1" }, { name: B, value: "2" } ]"#,
        ),
    );
    let file = file.to_string_lossy().into_owned();
    s.ok(&["apply", "-f", &file]);
    // A label added by hand, which the file does not name: re-applying keeps it.
    s.ok(&["label", "deploy", "web", "-n", "shop", "owner=ops"]);
    write(
        dir.path(),
        "web.yaml",
        &manifest(
            "nginx:1.27",
            r#"[ { name: A, value: "1" }, { name: C, value: "3" } ]"#,
        ),
    );
    let diff = s.kubectl(&["diff", "-f", &file]);
    assert_eq!(
        diff.status.code(),
        Some(1),
        "diff must report a change: {}",
        String::from_utf8_lossy(&diff.stderr)
    );
    assert!(String::from_utf8_lossy(&diff.stdout).contains("nginx:1.27"));
    assert!(
        s.ok(&["apply", "-f", &file])
            .contains("deployment.apps/web configured")
    );
    let got = s.ok(&["get", "deploy", "web", "-n", "shop", "-o", "jsonpath={.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[*].name} {.metadata.labels.owner}"]);
    assert_eq!(
        got, "nginx:1.27 A C ops",
        "B removed, C added, the hand-made label kept"
    );
    assert_eq!(s.kubectl(&["diff", "-f", &file]).status.code(), Some(0));
}

#[test]
fn server_side_dry_run_leaves_nothing_behind() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: probe, namespace: default }\ndata: { a: b }\n",
    );
    let out = s.ok(&["create", "-f", &file.to_string_lossy(), "--dry-run=server"]);
    assert!(
        out.contains("configmap/probe created (server dry run)"),
        "{out}"
    );
    let err = s.fails(&["get", "configmap", "probe"]);
    assert!(err.contains("configmaps \"probe\" not found"), "{err}");
    s.ok(&["create", "-f", &file.to_string_lossy()]);
    let err = s.fails(&["create", "-f", &file.to_string_lossy()]);
    assert!(
        err.contains("AlreadyExists") || err.contains("already exists"),
        "{err}"
    );
}

#[test]
fn deleting_a_namespace_deletes_everything_in_it() {
    let (s, _dir) = with_shop();
    s.ok(&["delete", "namespace", "shop"]);
    let err = s.fails(&["get", "namespace", "shop"]);
    assert!(err.contains("namespaces \"shop\" not found"), "{err}");
    let left = s.ok(&[
        "get",
        "deployments,services,serviceaccounts,configmaps",
        "-A",
        "-o",
        "custom-columns=NS:.metadata.namespace",
        "--no-headers",
    ]);
    assert!(!left.lines().any(|l| l.trim() == "shop"), "{left}");
}

#[test]
fn a_stale_update_is_a_conflict() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c, namespace: default }\ndata: { v: '1' }\n",
    );
    s.ok(&["create", "-f", &file.to_string_lossy()]);
    let stale = s.ok(&["get", "configmap", "c", "-o", "json"]);
    s.ok(&[
        "patch",
        "configmap",
        "c",
        "--type",
        "merge",
        "-p",
        r#"{"data":{"v":"2"}}"#,
    ]);
    let stale_file = write(dir.path(), "stale.json", &stale);
    let err = s.fails(&["replace", "-f", &stale_file.to_string_lossy()]);
    assert!(err.contains("the object has been modified"), "{err}");
    assert_eq!(
        s.ok(&["get", "configmap", "c", "-o", "jsonpath={.data.v}"]),
        "2"
    );
}

#[test]
fn a_crd_serves_its_custom_resources() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: { name: crontabs.stable.example.com }\nspec:\n  group: stable.example.com\n  scope: Namespaced\n  names: { plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ ct ] }\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema: { openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true } }\n";
    s.ok(&[
        "apply",
        "-f",
        &write(dir.path(), "crd.yaml", crd).to_string_lossy(),
    ]);
    let established = s.ok(&[
        "get",
        "crd",
        "crontabs.stable.example.com",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Established\")].status}",
    ]);
    assert_eq!(established, "True");
    let cr = "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: { name: nightly, namespace: default }\nspec: { cronSpec: '0 3 * * *', image: backup:1 }\n";
    assert!(
        s.ok(&[
            "apply",
            "-f",
            &write(dir.path(), "cr.yaml", cr).to_string_lossy()
        ])
        .contains("crontab.stable.example.com/nightly created")
    );
    assert_eq!(
        s.ok(&["get", "ct", "nightly", "-o", "jsonpath={.spec.cronSpec}"]),
        "0 3 * * *"
    );
    s.ok(&["delete", "crd", "crontabs.stable.example.com"]);
    // kubectl's cached discovery still names the type; the server no longer serves it.
    let err = s.fails(&["get", "crontabs"]);
    assert!(
        err.contains("could not find the requested resource")
            || err.contains("doesn't have a resource type"),
        "{err}"
    );
}

#[test]
fn deployments_roll_out_and_kubectl_waits_for_them() {
    let (s, _dir) = with_shop();
    let out = s.ok(&[
        "rollout",
        "status",
        "deployment/frontend",
        "-n",
        "shop",
        "--timeout=20s",
    ]);
    assert!(out.contains("successfully rolled out"), "{out}");
    s.ok(&[
        "set",
        "image",
        "deployment/frontend",
        "-n",
        "shop",
        "server=nginx:1.27",
    ]);
    assert!(
        s.ok(&[
            "rollout",
            "status",
            "deployment/frontend",
            "-n",
            "shop",
            "--timeout=20s"
        ])
        .contains("successfully rolled out")
    );
    let status = s.ok(&["get", "deploy", "frontend", "-n", "shop", "-o", "jsonpath={.status.observedGeneration} {.status.updatedReplicas} {.status.availableReplicas}"]);
    assert_eq!(status, "2 1 1");
    // The deployment owns a ReplicaSet per template; the old one is scaled to zero.
    let sets = s.ok(&[
        "get",
        "rs",
        "-n",
        "shop",
        "-l",
        "app=frontend",
        "-o",
        "jsonpath={range .items[*]}{.spec.replicas}{\" \"}{end}",
    ]);
    let mut counts: Vec<&str> = sets.split_whitespace().collect();
    counts.sort_unstable();
    assert_eq!(counts, vec!["0", "1"], "{sets}");
    s.ok(&[
        "scale",
        "deployment",
        "frontend",
        "-n",
        "shop",
        "--replicas=0",
    ]);
    s.ok(&[
        "wait",
        "--for=jsonpath={.status.observedGeneration}=3",
        "deployment/frontend",
        "-n",
        "shop",
        "--timeout=20s",
    ]);
    assert_eq!(
        s.ok(&[
            "get",
            "deploy",
            "frontend",
            "-n",
            "shop",
            "-o",
            "jsonpath={.status.availableReplicas}"
        ]),
        ""
    );
    s.ok(&[
        "scale",
        "deployment",
        "frontend",
        "-n",
        "shop",
        "--replicas=3",
    ]);
    let out = s.ok(&[
        "wait",
        "--for=condition=Available",
        "deployment/frontend",
        "-n",
        "shop",
        "--timeout=20s",
    ]);
    assert!(out.contains("condition met"), "{out}");
    s.ok(&[
        "wait",
        "--for=jsonpath={.status.readyReplicas}=3",
        "deployment/frontend",
        "-n",
        "shop",
        "--timeout=20s",
    ]);
    // Deleting the deployment deletes the ReplicaSets it owns.
    s.ok(&["delete", "deployment", "frontend", "-n", "shop"]);
    assert_eq!(
        s.ok(&[
            "get",
            "rs",
            "-n",
            "shop",
            "-l",
            "app=frontend",
            "-o",
            "name"
        ])
        .trim(),
        ""
    );
}

#[test]
fn jobs_complete_claims_bind_and_snapshots_become_ready() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let manifests = "apiVersion: batch/v1\nkind: Job\nmetadata: { name: dump, namespace: default }\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [ { name: dump, image: busybox, command: [ 'true' ] } ]\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: { name: data, namespace: default }\nspec: { accessModes: [ ReadWriteOnce ], resources: { requests: { storage: 5Gi } } }\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: { name: fast, namespace: default }\nspec: { storageClassName: fast-ssd, accessModes: [ ReadWriteOnce ], resources: { requests: { storage: 1Gi } } }\n---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata: { name: db, namespace: default }\nspec:\n  replicas: 2\n  serviceName: db\n  selector: { matchLabels: { app: db } }\n  template:\n    metadata: { labels: { app: db } }\n    spec: { containers: [ { name: db, image: postgres:16 } ] }\n";
    s.ok(&[
        "apply",
        "-f",
        &write(dir.path(), "all.yaml", manifests).to_string_lossy(),
    ]);
    assert!(
        s.ok(&[
            "wait",
            "--for=condition=complete",
            "job/dump",
            "--timeout=20s"
        ])
        .contains("condition met")
    );
    assert_eq!(
        s.ok(&["get", "job", "dump", "-o", "jsonpath={.status.succeeded}"]),
        "1"
    );
    s.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "pvc/data",
        "--timeout=20s",
    ]);
    let volume = s.ok(&["get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}"]);
    assert!(volume.starts_with("pvc-"), "{volume}");
    assert_eq!(
        s.ok(&[
            "get",
            "pv",
            &volume,
            "-o",
            "jsonpath={.spec.claimRef.name} {.spec.capacity.storage}"
        ]),
        "data 5Gi"
    );
    assert!(
        s.ok(&["rollout", "status", "statefulset/db", "--timeout=20s"])
            .contains("roll out complete")
    );
    // No such storage class: the claim stays Pending until one exists.
    assert_eq!(
        s.ok(&["get", "pvc", "fast", "-o", "jsonpath={.status.phase}"]),
        "Pending"
    );
    let class = "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: { name: fast-ssd }\nprovisioner: sandbox\n";
    s.ok(&[
        "apply",
        "-f",
        &write(dir.path(), "sc.yaml", class).to_string_lossy(),
    ]);
    s.ok(&["annotate", "pvc", "fast", "retry=now"]);
    s.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "pvc/fast",
        "--timeout=20s",
    ]);
    s.ok(&[
        "apply",
        "-f",
        &upstream("volumesnapshot-crds.yaml").to_string_lossy(),
    ]);
    s.ok(&[
        "apply",
        "-f",
        &upstream("volumesnapshot-examples.yaml").to_string_lossy(),
    ]);
    let out = s.ok(&[
        "wait",
        "--for=jsonpath={.status.readyToUse}=true",
        "volumesnapshot",
        "--all",
        "-A",
        "--timeout=20s",
    ]);
    assert!(out.contains("condition met"), "{out}");
}

#[test]
fn jobs_run_simulated_pods_whose_logs_kubectl_reads() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let manifests = "apiVersion: batch/v1\nkind: Job\nmetadata: { name: hello, namespace: default }\nspec:\n  completions: 2\n  template:\n    metadata: { annotations: { sandbox.lifeboat.dev/log: \"hello from the sandbox\" } }\n    spec:\n      restartPolicy: Never\n      containers: [ { name: hello, image: busybox, command: [ echo, hello ] } ]\n---\napiVersion: batch/v1\nkind: Job\nmetadata: { name: broken, namespace: default }\nspec:\n  backoffLimit: 1\n  template:\n    metadata: { annotations: { sandbox.lifeboat.dev/exit-code: \"2\", sandbox.lifeboat.dev/log: \"dumping\\nerror: connection refused\" } }\n    spec:\n      restartPolicy: Never\n      containers: [ { name: dump, image: postgres:16 } ]\n";
    s.ok(&[
        "apply",
        "-f",
        &write(dir.path(), "jobs.yaml", manifests).to_string_lossy(),
    ]);
    s.ok(&[
        "wait",
        "--for=condition=complete",
        "job/hello",
        "--timeout=20s",
    ]);
    // The API server generated the selector; the pods carry its labels.
    let selector = s.ok(&[
        "get",
        "job",
        "hello",
        "-o",
        "jsonpath={.spec.selector.matchLabels}",
    ]);
    assert!(
        selector.contains("batch.kubernetes.io/controller-uid"),
        "{selector}"
    );
    assert_eq!(s.ok(&["logs", "job/hello"]), "hello from the sandbox\n");
    let pods = s.ok(&["get", "pods", "-l", "job-name=hello"]);
    assert_eq!(pods.matches("Completed").count(), 2, "{pods}");
    assert!(pods.contains("0/1"), "{pods}");
    assert_eq!(
        s.ok(&["get", "job", "hello", "-o", "jsonpath={.status.succeeded}"]),
        "2"
    );

    s.ok(&[
        "wait",
        "--for=condition=failed",
        "job/broken",
        "--timeout=20s",
    ]);
    assert_eq!(
        s.ok(&["get", "job", "broken", "-o", "jsonpath={.status.failed}"]),
        "2",
        "backoffLimit 1: the first try and one retry"
    );
    assert!(s.ok(&["get", "job", "broken"]).contains("Failed"));
    assert!(
        s.ok(&["get", "pods", "-l", "job-name=broken"])
            .contains("Error")
    );
    assert_eq!(
        s.ok(&["logs", "job/broken", "--tail=1"]),
        "error: connection refused\n"
    );
    // A selector written by hand needs manualSelector, as on a real cluster.
    let manual = "apiVersion: batch/v1\nkind: Job\nmetadata: { name: manual, namespace: default }\nspec:\n  selector: { matchLabels: { app: x } }\n  template:\n    metadata: { labels: { app: x } }\n    spec: { restartPolicy: Never, containers: [ { name: c, image: busybox } ] }\n";
    let refused = s.fails(&[
        "apply",
        "-f",
        &write(dir.path(), "manual.yaml", manual).to_string_lossy(),
    ]);
    assert!(
        refused.contains("`selector` will be auto-generated"),
        "{refused}"
    );

    // Deleting a Job deletes its pods.
    s.ok(&["delete", "job", "hello"]);
    let start = Instant::now();
    loop {
        let out = s.kubectl(&["get", "pods", "-l", "job-name=hello"]);
        let text = String::from_utf8_lossy(&out.stderr);
        if text.contains("No resources found") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the Job's pods outlived it"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn server_side_apply_owns_fields_and_reports_conflicts() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let manifest = |replicas: u32| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{ name: web, namespace: default, labels: {{ app: web }} }}\nspec:\n  replicas: {replicas}\n  selector: {{ matchLabels: {{ app: web }} }}\n  template:\n    metadata: {{ labels: {{ app: web }} }}\n    spec: {{ containers: [ {{ name: web, image: nginx }} ] }}\n"
        )
    };
    let file = write(dir.path(), "web.yaml", &manifest(2))
        .to_string_lossy()
        .into_owned();
    // Created by client-side apply: kubectl-client-side-apply owns every field.
    s.ok(&["apply", "-f", &file]);
    write(dir.path(), "web.yaml", &manifest(5));
    let err = s.fails(&["apply", "--server-side", "-f", &file]);
    assert!(
        err.contains("conflict with \"kubectl-client-side-apply\"")
            && err.contains(".spec.replicas"),
        "{err}"
    );
    assert_eq!(
        s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "2",
        "a refused apply changes nothing"
    );
    assert!(
        s.ok(&["apply", "--server-side", "--force-conflicts", "-f", &file])
            .contains("serverside-applied")
    );
    assert_eq!(
        s.ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas}"]),
        "5"
    );
    let managers = s.ok(&[
        "get",
        "deploy",
        "web",
        "--show-managed-fields",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(managers.contains("kubectl"), "{managers}");
    // A new object by server-side apply.
    let cm = write(
        dir.path(),
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: ssa, namespace: default }\ndata: { a: '1' }\n",
    );
    assert!(
        s.ok(&["apply", "--server-side", "-f", &cm.to_string_lossy()])
            .contains("configmap/ssa serverside-applied")
    );
    assert_eq!(s.ok(&["get", "cm", "ssa", "-o", "jsonpath={.data.a}"]), "1");
}

#[test]
fn kubectl_get_prints_the_columns_people_expect() {
    let s = Served::start(&[&path("runbooks/fixtures/shop")]);
    s.ok(&[
        "rollout",
        "status",
        "deployment/frontend",
        "-n",
        "shop",
        "--timeout=20s",
    ]);
    let deployments = s.ok(&["get", "deployments", "-n", "shop"]);
    let header: Vec<&str> = deployments
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
        "{deployments}"
    );
    assert!(
        deployments
            .lines()
            .any(|l| l.starts_with("frontend") && l.contains("2/2")),
        "{deployments}"
    );
    let wide = s.ok(&["get", "deployments", "-n", "shop", "-o", "wide"]);
    let header: Vec<&str> = wide
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    assert_eq!(header[5..], ["CONTAINERS", "IMAGES", "SELECTOR"], "{wide}");
    assert!(
        wide.lines()
            .any(|l| l.starts_with("frontend") && l.ends_with("app=frontend")),
        "{wide}"
    );
    let services = s.ok(&["get", "services", "-n", "shop"]);
    assert!(
        services
            .lines()
            .any(|l| l.starts_with("frontend") && l.contains("ClusterIP") && l.contains("80/TCP")),
        "{services}"
    );
    let namespaces = s.ok(&["get", "namespaces"]);
    assert!(
        namespaces
            .lines()
            .any(|l| l.starts_with("shop") && l.contains("Active")),
        "{namespaces}"
    );
    // stringData is stored as base64 data, as the API server does.
    let secrets = s.ok(&["get", "secrets", "-n", "shop"]);
    assert!(
        secrets
            .lines()
            .any(|l| l.starts_with("payment-api") && l.split_whitespace().nth(2) == Some("1")),
        "{secrets}"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "secret",
            "payment-api",
            "-n",
            "shop",
            "-o",
            "jsonpath={.data.token}"
        ]),
        "ZGVtby1ub3QtYS1yZWFsLXRva2Vu"
    );
}

#[test]
fn kubectl_create_generators_work_through_protobuf() {
    // kubectl's typed generators send protobuf bodies for built-in kinds.
    let s = Served::start(&[]);
    s.ok(&["create", "namespace", "demo"]);
    s.ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "demo",
        "--from-literal=mode=drill",
    ]);
    s.ok(&[
        "create",
        "secret",
        "generic",
        "token",
        "-n",
        "demo",
        "--from-literal=value=s3cr3t",
    ]);
    s.ok(&["create", "serviceaccount", "bot", "-n", "demo"]);
    s.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "demo",
        "--image=nginx:1.27",
        "--replicas=2",
    ]);
    s.ok(&["create", "job", "dump", "-n", "demo", "--image=busybox"]);
    assert_eq!(
        s.ok(&[
            "get",
            "configmap",
            "settings",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.mode}"
        ]),
        "drill"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "secret",
            "token",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.value}"
        ]),
        "czNjcjN0"
    );
    assert_eq!(
        s.ok(&[
            "get",
            "deployment",
            "web",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image}"
        ]),
        "2 nginx:1.27"
    );
    assert!(
        s.ok(&[
            "rollout",
            "status",
            "deployment/web",
            "-n",
            "demo",
            "--timeout=20s"
        ])
        .contains("successfully rolled out")
    );
    assert!(
        s.ok(&[
            "wait",
            "--for=condition=complete",
            "job/dump",
            "-n",
            "demo",
            "--timeout=20s"
        ])
        .contains("condition met")
    );
}

#[test]
fn kubectl_applies_a_folder_of_several_kinds_and_round_trips_json() {
    let s = Served::start(&[]);
    let out = s.ok(&["apply", "-f", &fixture("sandbox/app").to_string_lossy()]);
    for created in [
        "namespace/app created",
        "customresourcedefinition.apiextensions.k8s.io/backupschedules.lifeboat.dev created",
        "secret/db-credentials created",
        "service/db created",
        "statefulset.apps/db created",
        "persistentvolumeclaim/uploads created",
        "job.batch/migrate created",
    ] {
        assert!(out.contains(created), "missing `{created}`:\n{out}");
    }
    // Custom resources go in a second apply, once kubectl's discovery knows the CRD (as
    // with a real cluster).
    let custom = s.ok(&["apply", "-f", &fixture("sandbox/custom").to_string_lossy()]);
    assert!(
        custom.contains("backupschedule.lifeboat.dev/nightly created"),
        "{custom}"
    );
    // A headless service stays headless; a CRD's printer columns show.
    assert_eq!(
        s.ok(&[
            "get",
            "svc",
            "db",
            "-n",
            "app",
            "-o",
            "jsonpath={.spec.clusterIP}"
        ]),
        "None"
    );
    let schedules = s.ok(&["get", "bs", "-n", "app"]);
    assert!(
        schedules.contains("SCHEDULE") && schedules.contains("0 3 * * *"),
        "{schedules}"
    );
    // get -o json, then replace with exactly that: accepted, nothing changes but the version.
    let json = s.ok(&["get", "statefulset", "db", "-n", "app", "-o", "json"]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = write(dir.path(), "db.json", &json);
    s.ok(&["replace", "-f", &file.to_string_lossy()]);
    let after: serde_json::Value =
        serde_json::from_str(&s.ok(&["get", "statefulset", "db", "-n", "app", "-o", "json"]))
            .unwrap_or_default();
    let before: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(after["metadata"]["uid"], before["metadata"]["uid"]);
    assert_eq!(
        after["metadata"]["generation"], before["metadata"]["generation"],
        "an unchanged spec keeps its generation"
    );
    assert_ne!(
        after["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
}

#[test]
fn review_regressions_dry_run_delete_immutable_fields_orphans_and_claims() {
    let s = Served::start(&[&fixture("sandbox/app")]);
    // A server dry-run of a delete (options in the DELETE body) deletes nothing.
    let out = s.ok(&[
        "delete",
        "secret",
        "db-credentials",
        "-n",
        "app",
        "--dry-run=server",
    ]);
    assert!(out.contains("(server dry run)"), "{out}");
    s.ok(&["get", "secret", "db-credentials", "-n", "app"]);
    s.ok(&["delete", "namespace", "app", "--dry-run=server"]);
    s.ok(&["get", "namespace", "app"]);
    // Immutable fields stay immutable.
    let err = s.fails(&[
        "patch",
        "statefulset",
        "db",
        "-n",
        "app",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"serviceName":"other"}}"#,
    ]);
    assert!(
        err.contains("spec.serviceName") && err.contains("field is immutable"),
        "{err}"
    );
    let err = s.fails(&[
        "patch",
        "job",
        "migrate",
        "-n",
        "app",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"migrate","image":"app:2.0"}]}}}}"#,
    ]);
    assert!(err.contains("field is immutable"), "{err}");
    // Every namespace has its default ServiceAccount and root CA ConfigMap.
    s.ok(&["get", "serviceaccount", "default", "-n", "app"]);
    s.ok(&["get", "configmap", "kube-root-ca.crt", "-n", "app"]);
    // A StatefulSet's volumeClaimTemplates become one bound PVC per replica.
    s.ok(&[
        "wait",
        "--for=jsonpath={.status.phase}=Bound",
        "pvc/data-db-0",
        "pvc/data-db-1",
        "-n",
        "app",
        "--timeout=20s",
    ]);
    // Orphaning keeps the dependents and drops their owner reference.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let web = "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: web, namespace: app }\nspec:\n  selector: { matchLabels: { app: web } }\n  template:\n    metadata: { labels: { app: web } }\n    spec: { containers: [ { name: web, image: nginx } ] }\n";
    s.ok(&[
        "apply",
        "-f",
        &write(dir.path(), "web.yaml", web).to_string_lossy(),
    ]);
    s.ok(&[
        "rollout",
        "status",
        "deployment/web",
        "-n",
        "app",
        "--timeout=20s",
    ]);
    s.ok(&[
        "delete",
        "deployment",
        "web",
        "-n",
        "app",
        "--cascade=orphan",
    ]);
    let owners = s.ok(&[
        "get",
        "rs",
        "-n",
        "app",
        "-l",
        "app=web",
        "-o",
        "jsonpath={.items[*].metadata.ownerReferences}",
    ]);
    // As on a real API server, the emptied list is left out of the object.
    assert_eq!(
        owners.trim(),
        "",
        "the orphaned ReplicaSet keeps no reference to its deleted owner"
    );
}

#[test]
fn kubectl_get_watch_keeps_its_columns() {
    let s = Served::start(&[&path("runbooks/fixtures/shop")]);
    s.ok(&[
        "rollout",
        "status",
        "deployment/frontend",
        "-n",
        "shop",
        "--timeout=20s",
    ]);
    let watch = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&s.kubeconfig)
        .args([
            "get",
            "deployments",
            "-n",
            "shop",
            "-w",
            "--request-timeout=6s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    std::thread::sleep(Duration::from_millis(1500));
    s.ok(&[
        "scale",
        "deployment",
        "frontend",
        "-n",
        "shop",
        "--replicas=3",
    ]);
    let out = watch.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("NAME").count(),
        1,
        "one header, then rows:\n{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("frontend") && l.contains("3/3")),
        "{text}"
    );
}

#[test]
fn rollout_history_and_undo_reuse_the_old_replica_set() {
    let s = Served::start(&[&path("runbooks/fixtures/shop")]);
    let status = |s: &Served| {
        s.ok(&[
            "rollout",
            "status",
            "deployment/frontend",
            "-n",
            "shop",
            "--timeout=20s",
        ])
    };
    status(&s);
    let original = s.ok(&[
        "get",
        "deploy",
        "frontend",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    s.ok(&[
        "set",
        "image",
        "deployment/frontend",
        "-n",
        "shop",
        "server=nginx:1",
    ]);
    status(&s);
    s.ok(&[
        "set",
        "image",
        "deployment/frontend",
        "-n",
        "shop",
        "server=nginx:2",
    ]);
    status(&s);
    let history = s.ok(&["rollout", "history", "deployment/frontend", "-n", "shop"]);
    let revisions: Vec<&str> = history
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.parse::<u32>().is_ok())
        .collect();
    assert_eq!(revisions, vec!["1", "2", "3"], "{history}");
    s.ok(&[
        "rollout",
        "undo",
        "deployment/frontend",
        "-n",
        "shop",
        "--to-revision=1",
    ]);
    status(&s);
    let image = s.ok(&[
        "get",
        "deploy",
        "frontend",
        "-n",
        "shop",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, original);
    assert_eq!(
        s.ok(&[
            "get",
            "rs",
            "-n",
            "shop",
            "-l",
            "app=frontend",
            "-o",
            "name"
        ])
        .lines()
        .count(),
        3,
        "the first ReplicaSet is reused, not copied"
    );
}

/// A Deployment with a misspelt field (`spec.templat`) and an unknown container field.
const TYPO_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: typo }\nspec:\n  replicas: 2\n  selector: { matchLabels: { app: typo } }\n  templat: {}\n  template:\n    metadata: { labels: { app: typo } }\n    spec:\n      containers:\n      - name: web\n        image: nginx:1\n        imagePullPolicyx: Always\n";

#[test]
fn unknown_fields_fail_strict_validation_and_are_dropped_otherwise() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = write(dir.path(), "typo.yaml", TYPO_DEPLOYMENT);
    let file = file.to_string_lossy();
    // kubectl validates strictly by default, on the server (fieldValidation=Strict).
    let err = s.fails(&["apply", "-f", &file]);
    assert!(
        err.contains("Error from server (BadRequest): error when creating")
            && err.contains("Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.templat\", unknown field \"spec.template.spec.containers[0].imagePullPolicyx\""),
        "{err}"
    );
    assert!(s.fails(&["get", "deploy", "typo"]).contains("not found"));
    // --validate=false (fieldValidation=Ignore): stored, without the unknown fields.
    s.ok(&["apply", "--validate=false", "-f", &file]);
    let stored: serde_json::Value =
        serde_json::from_str(&s.ok(&["get", "deploy", "typo", "-o", "json"]))
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(stored["spec"].get("templat").is_none(), "{stored}");
    let container = &stored["spec"]["template"]["spec"]["containers"][0];
    assert!(container.get("imagePullPolicyx").is_none(), "{container}");
    assert_eq!(container["image"], "nginx:1");
    assert_eq!(stored["spec"]["replicas"], 2);
    // Applying it again patches it: the patch's result fails strict decoding (422).
    let err = s.fails(&["apply", "-f", &file]);
    assert!(
        err.contains("The request is invalid: patch: Invalid value: \"map[")
            && err.contains("strict decoding error: unknown field"),
        "{err}"
    );
    // --validate=warn: accepted, one warning per unknown field.
    let out = s.kubectl(&["apply", "--validate=warn", "-f", &file]);
    let warnings = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{warnings}");
    assert!(
        warnings.contains("Warning: unknown field \"spec.templat\""),
        "{warnings}"
    );
    // Server-side apply types the whole configuration, whatever the validation.
    let err = s.fails(&["apply", "--server-side", "--validate=false", "-f", &file]);
    assert!(
        err.contains(
            "failed to create typed patch object (default/typo; apps/v1, Kind=Deployment)"
        ) && err.contains(".spec.templat: field not declared in schema"),
        "{err}"
    );
}

#[test]
fn a_value_of_the_wrong_type_fails_naming_the_field() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bad = TYPO_DEPLOYMENT
        .replace("replicas: 2", "replicas: three")
        .replace("  templat: {}\n", "")
        .replace("        imagePullPolicyx: Always\n", "");
    let file = write(dir.path(), "bad.yaml", &bad);
    let file = file.to_string_lossy();
    for validate in ["--validate=strict", "--validate=false"] {
        let err = s.fails(&["apply", validate, "-f", &file]);
        assert!(
            err.contains("Deployment in version \"v1\" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"),
            "{validate}: {err}"
        );
    }
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: { name: numbers }\ndata: { count: 3 }\n";
    let err = s.fails(&[
        "create",
        "-f",
        &write(dir.path(), "cm.yaml", cm).to_string_lossy(),
    ]);
    assert!(
        err.contains(
            "json: cannot unmarshal number into Go struct field ConfigMap.data of type string"
        ),
        "{err}"
    );
    let err = s.fails(&["get", "deploy", "typo"]);
    assert!(err.contains("not found"), "{err}");
}

const CRONTAB_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: crontabs.stable.example.com }
spec:
  group: stable.example.com
  scope: Namespaced
  names: { plural: crontabs, singular: crontab, kind: CronTab, shortNames: [ ct ] }
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              description: What to run, and when.
              required: [ cronSpec ]
              properties:
                cronSpec: { type: string, description: "The schedule, in cron format.", pattern: '^(\d+|\*)(/\d+)?(\s+(\d+|\*)(/\d+)?){4}$' }
                image: { type: string }
                replicas: { type: integer, minimum: 1, maximum: 10, default: 1 }
                mode: { type: string, enum: [ Always, Never ] }
                extra: { type: object, x-kubernetes-preserve-unknown-fields: true }
"#;

#[test]
fn custom_resources_are_held_to_their_crd_schema_and_pruned() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    s.ok(&[
        "apply",
        "-f",
        &write(dir.path(), "crd.yaml", CRONTAB_CRD).to_string_lossy(),
    ]);
    let cr = |spec: &str| {
        format!(
            "apiVersion: stable.example.com/v1\nkind: CronTab\nmetadata: {{ name: nightly }}\nspec: {spec}\n"
        )
    };
    let invalid = write(
        dir.path(),
        "invalid.yaml",
        &cr("{ cronSpec: '* * * *', replicas: 15, mode: Sometimes }"),
    );
    let err = s.fails(&["apply", "-f", &invalid.to_string_lossy()]);
    for expected in [
        "The CronTab \"nightly\" is invalid",
        "spec.cronSpec: Invalid value: \"* * * *\": spec.cronSpec in body should match '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'",
        "spec.replicas: Invalid value: 15: spec.replicas in body should be less than or equal to 10",
        "spec.mode: Unsupported value: \"Sometimes\": supported values: \"Always\", \"Never\"",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
    let missing = write(dir.path(), "missing.yaml", &cr("{ image: 'backup:1' }"));
    let err = s.fails(&["apply", "-f", &missing.to_string_lossy()]);
    assert!(err.contains("spec.cronSpec: Required value"), "{err}");
    let wrong = write(
        dir.path(),
        "wrong.yaml",
        &cr("{ cronSpec: '0 3 * * *', replicas: three }"),
    );
    let err = s.fails(&["apply", "-f", &wrong.to_string_lossy()]);
    assert!(
        err.contains("spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""),
        "{err}"
    );
    // Unknown fields: refused under strict validation, pruned otherwise (but not
    // where the schema preserves them); defaults fill in.
    let extra = write(
        dir.path(),
        "extra.yaml",
        &cr("{ cronSpec: '0 3 * * *', colour: red, extra: { any: { thing: 1 } } }"),
    );
    let extra = extra.to_string_lossy();
    let err = s.fails(&["apply", "-f", &extra]);
    assert!(
        err.contains("CronTab in version \"v1\" cannot be handled as a CronTab: strict decoding error: unknown field \"spec.colour\""),
        "{err}"
    );
    s.ok(&["apply", "--validate=false", "-f", &extra]);
    let spec: serde_json::Value =
        serde_json::from_str(&s.ok(&["get", "ct", "nightly", "-o", "jsonpath={.spec}"]))
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        spec,
        serde_json::json!({ "cronSpec": "0 3 * * *", "extra": { "any": { "thing": 1 } }, "replicas": 1 })
    );
    // Patches are held to the schema too.
    let err = s.fails(&[
        "patch",
        "ct",
        "nightly",
        "--type=merge",
        "-p",
        "{\"spec\":{\"replicas\":0}}",
    ]);
    assert!(
        err.contains("spec.replicas in body should be greater than or equal to 1"),
        "{err}"
    );
}

#[test]
fn kubectl_explain_prints_the_schemas() {
    let s = Served::start(&[]);
    let out = s.ok(&["explain", "deployment.spec.replicas"]);
    assert!(out.contains("FIELD: replicas <integer>"), "{out}");
    assert!(out.contains("Number of desired pods."), "{out}");
    let out = s.ok(&["explain", "pods.spec.containers"]);
    assert!(out.contains("imagePullPolicy\t<string>"), "{out}");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    s.ok(&[
        "apply",
        "-f",
        &write(dir.path(), "crd.yaml", CRONTAB_CRD).to_string_lossy(),
    ]);
    let out = s.ok(&["explain", "crontab.spec"]);
    assert!(out.contains("What to run, and when."), "{out}");
    assert!(out.contains("cronSpec\t<string> -required-"), "{out}");
    assert!(out.contains("The schedule, in cron format."), "{out}");
}

#[test]
fn kubectl_applies_a_list_validating_it_against_openapi_v2() {
    let s = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let item = |name: &str, extra: &str| {
        format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"metadata\":{{\"name\":\"{name}\"}},\"data\":{{\"a\":\"b\"}}{extra}}}"
        )
    };
    let list = |items: &[String]| {
        format!(
            "{{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{}]}}",
            items.join(",")
        )
    };
    let good = write(
        dir.path(),
        "list.json",
        &list(&[item("one", ""), item("two", "")]),
    );
    let out = s.ok(&["apply", "-f", &good.to_string_lossy()]);
    assert!(
        out.contains("configmap/one created") && out.contains("configmap/two created"),
        "{out}"
    );
    // kubectl validates a List itself, with the v2 schemas: as against a real server.
    let bad = write(
        dir.path(),
        "bad.json",
        &list(&[item("three", ",\"foo\":1")]),
    );
    let err = s.fails(&["apply", "-f", &bad.to_string_lossy()]);
    assert!(
        err.contains("error validating data: ValidationError(ConfigMap): unknown field \"foo\" in io.k8s.api.core.v1.ConfigMap"),
        "{err}"
    );
}
