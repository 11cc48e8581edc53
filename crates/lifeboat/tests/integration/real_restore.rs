//! Backup and restore proven on the real control plane (kube-apiserver, the controller
//! manager with its garbage collector, the scheduler, kwok) as well as on the sandbox:
//! one scenario function takes the clusters as parameters and each test runs it on
//! one of them. The round trip compares every restored object with its original and
//! checks a minute later that the garbage collector took nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::backup_restore::{
    Bucket, all_objects, not_restored, outputs, run_json, runbook, stripped,
};
use serde_json::Value;

use crate::harness::path;
use crate::served::Served;
use testbed::{ControlPlane, Kube};

/// The source of the round trip: the project's fixtures (namespace `app`: a
/// StatefulSet with claim templates, a PVC, a Job, a CronJob, Secrets, ConfigMaps,
/// RBAC, two Services, a CRD and its custom resource), the VolumeSnapshot CRDs and
/// examples, and microservices-demo with its NetworkPolicies in namespace `demo`.
pub fn seed_round_trip(k: &dyn Kube) {
    let fixture = |name: &str| testbed::upstream(name).to_string_lossy().into_owned();
    seed_app(k);
    k.ok(&["apply", "-f", &fixture("volumesnapshot-crds.yaml")]);
    established(k, "volumesnapshots.snapshot.storage.k8s.io");
    established(k, "volumesnapshotclasses.snapshot.storage.k8s.io");
    k.ok(&["create", "namespace", "demo"]);
    k.ok(&[
        "apply",
        "-n",
        "demo",
        "-f",
        &fixture("microservices-demo.yaml"),
        "-f",
        &fixture("microservices-demo-netpols.yaml"),
        "-f",
        &fixture("volumesnapshot-examples.yaml"),
    ]);
    k.ok(&[
        "rollout",
        "status",
        "-n",
        "demo",
        "deployment/frontend",
        "--timeout=120s",
    ]);
}

/// Namespace `app` of the project's fixtures (with its CRD, the extras and the custom
/// resources), its migration Job complete.
pub fn seed_app(k: &dyn Kube) {
    let file = |p: &str| path(p).to_string_lossy().into_owned();
    k.ok(&["apply", "-f", &file("testbed/fixtures/sandbox/app")]);
    established(k, "backupschedules.lifeboat.dev");
    k.ok(&[
        "apply",
        "-f",
        &file("testbed/fixtures/sandbox/extras"),
        "-f",
        &file("testbed/fixtures/sandbox/custom"),
    ]);
    k.ok(&[
        "wait",
        "-n",
        "app",
        "--for=condition=Complete",
        "job/migrate",
        "--timeout=120s",
    ]);
}

/// Waits until the CRD `name` is Established.
pub fn established(k: &dyn Kube, name: &str) {
    k.ok(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/{name}"),
        "--timeout=60s",
    ]);
}

/// Whether the object under `key` (`resource.group ns/name`) is in the round trip's
/// scope: in namespace `app` or `demo`, or cluster-scoped.
fn in_scope(key: &str) -> bool {
    let ns = key
        .split(' ')
        .nth(1)
        .and_then(|n| n.split_once('/'))
        .map_or("", |(ns, _)| ns);
    matches!(ns, "" | "app" | "demo")
}

/// Backs up `app` and `demo` with the cluster-scoped objects from `a`, restores into
/// `b`, and checks every object the restore created against its original; the demo's
/// Deployments become Available on `b`, and a minute later nothing restored is gone.
fn round_trip(a: &dyn Kube, b: &dyn Kube) {
    seed_round_trip(a);
    let bucket = Bucket::new("real-round");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "round-trip",
        &[("a", a.kubeconfig()), ("b", b.kubeconfig())],
        &bucket,
        "  - { id: backup, uses: backup, cluster: a, with: { store: vault, namespaces: [ app, demo ], cluster_resources: true } }\n  - id: restore\n    uses: restore\n    cluster: b\n    with: { store: vault, backup: \"${{ steps.backup.outputs.backup_id }}\" }\n",
    );
    let before = all_objects(a);
    let present: BTreeSet<String> = all_objects(b).into_keys().collect();
    let events = run_json(&rb, &[], 0);
    let restore = outputs(&events, "restore");
    assert_eq!(restore["failed"], "0", "{restore}");

    let after = all_objects(b);
    let mut compared = BTreeMap::new();
    let mut problems = Vec::new();
    for (key, original) in &before {
        let t = key.split(' ').next().unwrap_or("");
        // What the target had before is its own (the restore skips it).
        if !in_scope(key) || not_restored(t, original) || present.contains(key) {
            continue;
        }
        match after.get(key) {
            None => problems.push(format!("{key} was not restored")),
            Some(restored) => {
                let (want, got) = (stripped(t, original), stripped(t, restored));
                if want != got {
                    problems.push(format!(
                        "{key} differs on the {}:\n  original: {want}\n  restored: {got}",
                        b.label()
                    ));
                }
                compared.insert(key.clone(), restored["metadata"]["uid"].clone());
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} of {} objects differ:\n{}",
        problems.len(),
        compared.len(),
        problems.join("\n")
    );
    assert!(
        compared.len() >= 70,
        "only {} objects compared",
        compared.len()
    );
    for kind in [
        "persistentvolumeclaims",
        "statefulsets.apps",
        "customresourcedefinitions.apiextensions.k8s.io",
        "networkpolicies.networking.k8s.io",
        "backupschedules.lifeboat.dev",
    ] {
        assert!(
            compared.keys().any(|k| k.starts_with(&format!("{kind} "))),
            "no {kind} compared: {:?}",
            compared.keys()
        );
    }
    b.ok(&[
        "wait",
        "-n",
        "demo",
        "--for=condition=Available",
        "deployment",
        "--all",
        "--timeout=120s",
    ]);

    // A garbage collector deletes what names an owner uid that does not exist.
    std::thread::sleep(Duration::from_secs(60));
    let later = all_objects(b);
    let gone: Vec<&String> = compared
        .iter()
        .filter(|(key, uid)| later.get(*key).map(|o| &o["metadata"]["uid"]) != Some(*uid))
        .map(|(key, _)| key)
        .collect();
    assert!(
        gone.is_empty(),
        "a minute after the restore these objects are gone from the {}: {gone:?}",
        b.label()
    );
}

#[test]
fn a_round_trip_on_the_sandbox_restores_every_object_and_keeps_them() {
    round_trip(&Served::start(&[]), &Served::start(&[]));
}

#[test]
fn a_round_trip_between_two_real_control_planes_restores_every_object_and_keeps_them() {
    let a = ControlPlane::start();
    let b = ControlPlane::start();
    round_trip(&a, &b);
}

/// A runbook with clusters `a` and `b` and the bucket as store `vault`.
fn two_clusters(
    dir: &std::path::Path,
    name: &str,
    a: &dyn Kube,
    b: &dyn Kube,
    bucket: &Bucket,
    steps: &str,
) -> std::path::PathBuf {
    runbook(
        dir,
        name,
        &[("a", a.kubeconfig()), ("b", b.kubeconfig())],
        bucket,
        steps,
    )
}

/// The `backup` step of cluster `a` with these extra inputs.
fn backup_step(with: &str) -> String {
    format!("  - {{ id: backup, uses: backup, cluster: a, with: {{ store: vault{with} }} }}\n")
}

/// A `restore` step of the backup into cluster `c` with these extra inputs.
fn restore_step(id: &str, cluster: &str, with: &str) -> String {
    format!(
        "  - id: {id}\n    uses: restore\n    cluster: {cluster}\n    with: {{ store: vault, backup: \"${{{{ steps.backup.outputs.backup_id }}}}\"{with} }}\n"
    )
}

/// The uid of an object, or `None` when it does not exist.
fn uid(k: &dyn Kube, args: &[&str]) -> Option<String> {
    k.get_json(args)
        .and_then(|o| o["metadata"]["uid"].as_str().map(str::to_string))
}

/// The owner references of an object (`[]` when it has none).
fn owner_refs(k: &dyn Kube, args: &[&str]) -> Vec<Value> {
    k.get_json(args)
        .unwrap_or_else(|| panic!("{args:?} does not exist on the {}", k.label()))["metadata"]
        ["ownerReferences"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

const OWNED: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: owned }
---
apiVersion: lifeboat.dev/v1
kind: BackupSchedule
metadata: { name: nightly, namespace: owned }
spec: { schedule: "0 3 * * *", store: vault }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: parent, namespace: owned }
data: { role: parent }
"#;

/// Owner references name owners by uid: restored, they are remapped to the owners'
/// new uids (also for an owner restored in a later tier than what it owns) or dropped
/// when the owner is not restored, and the garbage collector keeps every object.
fn owner_references_follow_their_owners(a: &dyn Kube, b: &dyn Kube) {
    a.ok(&[
        "apply",
        "-f",
        &testbed::fixture("sandbox/app/01-crd.yaml").to_string_lossy(),
    ]);
    established(a, "backupschedules.lifeboat.dev");
    a.apply_yaml(OWNED);
    let schedule = uid(a, &["backupschedule", "-n", "owned", "nightly"]).unwrap_or_default();
    let parent = uid(a, &["configmap", "-n", "owned", "parent"]).unwrap_or_default();
    // A ConfigMap owned by a custom resource (restored in a later tier), and a Service
    // owned by a ConfigMap (restored in an earlier tier).
    a.apply_yaml(&format!(
        r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: nightly-settings
  namespace: owned
  ownerReferences: [ {{ apiVersion: lifeboat.dev/v1, kind: BackupSchedule, name: nightly, uid: "{schedule}", controller: true }} ]
data: {{ retention: 7d }}
---
apiVersion: v1
kind: Service
metadata:
  name: child
  namespace: owned
  ownerReferences: [ {{ apiVersion: v1, kind: ConfigMap, name: parent, uid: "{parent}" }} ]
spec: {{ ports: [ {{ port: 80 }} ] }}
"#
    ));
    let bucket = Bucket::new("owners");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let steps = backup_step(", namespaces: [ owned ]")
        + &restore_step("whole", "b", ", namespace_mapping: { owned: owned-whole }")
        + &restore_step(
            "without-owner",
            "b",
            ", namespace_mapping: { owned: owned-part }, exclude_resources: [ backupschedules.lifeboat.dev ]",
        );
    let rb = two_clusters(dir.path(), "owners", a, b, &bucket, &steps);
    let events = run_json(&rb, &[], 0);
    for step in ["whole", "without-owner"] {
        assert_eq!(outputs(&events, step)["failed"], "0", "{step}");
    }
    // Give a garbage collector time to act on what it would collect (it learns of a
    // new CRD's kind at its next discovery, every 30 s).
    std::thread::sleep(Duration::from_secs(45));
    for ns in ["owned-whole", "owned-part"] {
        for object in [["configmap", "nightly-settings"], ["service", "child"]] {
            assert!(
                uid(b, &[object[0], "-n", ns, object[1]]).is_some(),
                "the {} deleted {ns}/{}: its owner reference names an owner that does not exist",
                b.label(),
                object[1]
            );
        }
    }
    let new_schedule = uid(b, &["backupschedule", "-n", "owned-whole", "nightly"]);
    let new_parent = uid(b, &["configmap", "-n", "owned-whole", "parent"]);
    let refs = owner_refs(b, &["configmap", "-n", "owned-whole", "nightly-settings"]);
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0]["uid"].as_str(), new_schedule.as_deref(), "{refs:?}");
    assert_eq!(refs[0]["controller"], true);
    let refs = owner_refs(b, &["service", "-n", "owned-whole", "child"]);
    assert_eq!(refs.len(), 1, "{refs:?}");
    assert_eq!(refs[0]["uid"].as_str(), new_parent.as_deref(), "{refs:?}");
    // The owner was not restored: the reference went, the object stayed.
    let refs = owner_refs(b, &["configmap", "-n", "owned-part", "nightly-settings"]);
    assert!(refs.is_empty(), "{refs:?}");
    assert!(uid(b, &["service", "-n", "owned-part", "child"]).is_some());

    // The remapped references are real: deleting the owner collects what it owns.
    b.ok(&[
        "delete",
        "backupschedule",
        "-n",
        "owned-whole",
        "nightly",
        "--wait=true",
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while uid(b, &["configmap", "-n", "owned-whole", "nightly-settings"]).is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the {} did not collect the ConfigMap of the deleted owner",
            b.label()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn owner_references_follow_their_owners_on_the_sandbox() {
    owner_references_follow_their_owners(&Served::start(&[]), &Served::start(&[]));
}

#[test]
fn owner_references_follow_their_owners_on_the_control_plane() {
    owner_references_follow_their_owners(&ControlPlane::start(), &ControlPlane::start());
}

const PORTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: ports }
---
apiVersion: v1
kind: Service
metadata: { name: edge, namespace: ports }
spec:
  type: NodePort
  selector: { app: edge }
  ports: [ { name: http, port: 80, nodePort: 30080 } ]
---
apiVersion: v1
kind: Service
metadata: { name: balancer, namespace: ports }
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: { app: edge }
  ports: [ { name: https, port: 443 } ]
"#;

fn node_port(k: &dyn Kube, ns: &str, name: &str) -> i64 {
    k.get_json(&["service", "-n", ns, name])
        .unwrap_or_else(|| panic!("no service {ns}/{name}"))["spec"]["ports"][0]["nodePort"]
        .as_i64()
        .unwrap_or(0)
}

/// Node ports are the target's to allocate: a restore beside the original (whose
/// ports are taken) gets new ones, and `keep_node_ports` keeps them where they are
/// free.
fn node_ports_are_cleared_unless_kept(a: &dyn Kube, b: &dyn Kube) {
    a.apply_yaml(PORTS);
    let balancer = a
        .get_json(&["service", "-n", "ports", "balancer"])
        .unwrap_or_default();
    assert!(
        balancer["spec"]["healthCheckNodePort"].as_i64().is_some(),
        "the {} allocated no health check port: {balancer}",
        a.label()
    );
    let bucket = Bucket::new("ports");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let steps = backup_step(", namespaces: [ ports ]")
        + &restore_step("beside", "a", ", namespace_mapping: { ports: ports-copy }")
        + &restore_step("kept", "b", ", keep_node_ports: true");
    let rb = two_clusters(dir.path(), "ports", a, b, &bucket, &steps);
    let events = run_json(&rb, &[], 0);
    assert_eq!(outputs(&events, "beside")["failed"], "0");
    let copy = node_port(a, "ports-copy", "edge");
    assert!(
        (30000..=32767).contains(&copy) && copy != 30080,
        "the copy's node port is {copy}"
    );
    assert_eq!(node_port(b, "ports", "edge"), 30080);
    let kept = b
        .get_json(&["service", "-n", "ports", "balancer"])
        .unwrap_or_default();
    assert_eq!(
        kept["spec"]["healthCheckNodePort"],
        balancer["spec"]["healthCheckNodePort"]
    );
}

#[test]
fn node_ports_are_cleared_unless_kept_on_the_sandbox() {
    node_ports_are_cleared_unless_kept(&Served::start(&[]), &Served::start(&[]));
}

#[test]
fn node_ports_are_cleared_unless_kept_on_the_control_plane() {
    node_ports_are_cleared_unless_kept(&ControlPlane::start(), &ControlPlane::start());
}

/// The guarded namespace: a Deployment and its Service, the webhook they serve
/// (failing closed, on everything created in the namespace), a NetworkPolicy and a
/// custom resource that a restore writes after the workloads, and a second webhook
/// whose Service selects no workload at all.
fn guarded(name: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Namespace
metadata: {{ name: guarded }}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{ name: guard, namespace: guarded }}
spec:
  replicas: 1
  selector: {{ matchLabels: {{ app: guard }} }}
  template:
    metadata: {{ labels: {{ app: guard }} }}
    spec: {{ containers: [ {{ name: guard, image: registry.example/guard:1 }} ] }}
---
apiVersion: v1
kind: Service
metadata: {{ name: guard, namespace: guarded }}
spec: {{ selector: {{ app: guard }}, ports: [ {{ port: 443, targetPort: 8443 }} ] }}
---
apiVersion: v1
kind: Service
metadata: {{ name: nobody, namespace: guarded }}
spec: {{ selector: {{ app: nobody }}, ports: [ {{ port: 443 }} ] }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{ name: default-deny, namespace: guarded }}
spec: {{ podSelector: {{}}, policyTypes: [ Ingress ] }}
---
apiVersion: lifeboat.dev/v1
kind: BackupSchedule
metadata: {{ name: nightly, namespace: guarded }}
spec: {{ schedule: "0 3 * * *", store: vault }}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {{ name: {name} }}
webhooks:
  - name: guard.lifeboat.test
    clientConfig: {{ service: {{ namespace: guarded, name: guard, path: /validate }} }}
    rules: [ {{ operations: [ CREATE, UPDATE ], apiGroups: [ "*" ], apiVersions: [ "*" ], resources: [ "*" ] }} ]
    namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: guarded }} }}
    failurePolicy: Fail
    sideEffects: None
    admissionReviewVersions: [ v1 ]
    timeoutSeconds: 2
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {{ name: {name}-down }}
webhooks:
  - name: down.lifeboat.test
    clientConfig: {{ service: {{ namespace: guarded, name: nobody, path: /validate }} }}
    rules: [ {{ operations: [ DELETE ], apiGroups: [ "" ], apiVersions: [ v1 ], resources: [ configmaps ] }} ]
    namespaceSelector: {{ matchLabels: {{ kubernetes.io/metadata.name: guarded }} }}
    sideEffects: None
    admissionReviewVersions: [ v1 ]
"#
    )
}

/// Webhooks are restored last, once the workloads behind them are ready: everything
/// they intercept is written before them. A webhook whose backend never becomes ready
/// is not restored, and says why.
fn webhooks_are_restored_after_what_they_guard(a: &dyn Kube, b: &dyn Kube) {
    a.ok(&[
        "apply",
        "-f",
        &testbed::fixture("sandbox/app/01-crd.yaml").to_string_lossy(),
    ]);
    established(a, "backupschedules.lifeboat.dev");
    a.apply_yaml(&guarded("guard"));
    let bucket = Bucket::new("webhooks");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let steps = backup_step(", namespaces: [ guarded ], cluster_resources: true")
        + &restore_step("restore", "b", ", backend_timeout: 5s");
    let rb = two_clusters(dir.path(), "webhooks", a, b, &bucket, &steps);
    let events = run_json(&rb, &[], 1);
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "object_result" && e["result"] == "failed")
        .collect();
    // Only the webhook whose Service selects nothing failed, saying why.
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["name"], "guard-down");
    let reason = failed[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("Service guarded/nobody") && reason.contains("not ready after 5s"),
        "{reason}"
    );
    for object in [
        ["networkpolicy", "default-deny"],
        ["backupschedule", "nightly"],
        ["deployment", "guard"],
    ] {
        assert!(
            uid(b, &[object[0], "-n", "guarded", object[1]]).is_some(),
            "{} {} was not restored",
            object[0],
            object[1]
        );
    }
    assert!(uid(b, &["validatingwebhookconfiguration", "guard"]).is_some());
    assert!(uid(b, &["validatingwebhookconfiguration", "guard-down"]).is_none());
}

#[test]
fn webhooks_are_restored_after_what_they_guard_on_the_sandbox() {
    webhooks_are_restored_after_what_they_guard(&Served::start(&[]), &Served::start(&[]));
}

#[test]
fn webhooks_are_restored_after_what_they_guard_on_the_control_plane() {
    let b = ControlPlane::start();
    webhooks_are_restored_after_what_they_guard(&ControlPlane::start(), &b);
    // The restored webhook is real and fails closed: its backend (kwok's pod) does
    // not answer, so a write it intercepts is refused. Had it been restored before
    // the NetworkPolicy, that write would have failed the same way.
    let refused = b.kubectl_in(
        &[
            "create",
            "configmap",
            "late",
            "-n",
            "guarded",
            "--from-literal=a=b",
        ],
        None,
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("failed calling webhook"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

const CLASSES: &str = r#"
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: { name: lifeboat-high }
value: 100000
description: restored before the Pods that name it
---
apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata: { name: lifeboat-fast }
handler: runc
---
apiVersion: v1
kind: Namespace
metadata: { name: classes }
---
apiVersion: v1
kind: Pod
metadata: { name: batch, namespace: classes }
spec:
  priorityClassName: lifeboat-high
  runtimeClassName: lifeboat-fast
  containers: [ { name: batch, image: registry.example/batch:1 } ]
"#;

/// A Pod naming a PriorityClass or RuntimeClass that does not exist is refused, so
/// the classes are restored before the workloads.
fn classes_are_restored_before_the_pods_that_name_them(a: &dyn Kube, b: &dyn Kube) {
    a.apply_yaml(CLASSES);
    let bucket = Bucket::new("classes");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let steps = backup_step(", namespaces: [ classes ], cluster_resources: true")
        + &restore_step("restore", "b", "");
    let rb = two_clusters(dir.path(), "classes", a, b, &bucket, &steps);
    let events = run_json(&rb, &[], 0);
    assert_eq!(outputs(&events, "restore")["failed"], "0");
    let pod = b
        .get_json(&["pod", "-n", "classes", "batch"])
        .unwrap_or_default();
    assert_eq!(pod["spec"]["priorityClassName"], "lifeboat-high");
    assert_eq!(pod["spec"]["runtimeClassName"], "lifeboat-fast");
}

#[test]
fn classes_are_restored_before_the_pods_that_name_them_on_the_sandbox() {
    classes_are_restored_before_the_pods_that_name_them(&Served::start(&[]), &Served::start(&[]));
}

#[test]
fn classes_are_restored_before_the_pods_that_name_them_on_the_control_plane() {
    let b = ControlPlane::start();
    classes_are_restored_before_the_pods_that_name_them(&ControlPlane::start(), &b);
    let pod = b
        .get_json(&["pod", "-n", "classes", "batch"])
        .unwrap_or_default();
    // The admission plugins resolved the class.
    assert_eq!(pod["spec"]["priority"], 100000, "{pod}");
}

const WIDGETS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.lifeboat.test }
spec:
  group: lifeboat.test
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget }
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
              properties:
                size: { type: integer }
                colour: { type: string }
"#;

/// A field the target does not know (its CRD is narrower) fails the object, naming
/// the field, instead of vanishing from the restored object.
fn unknown_fields_fail_the_object_naming_them(a: &dyn Kube, b: &dyn Kube) {
    a.apply_yaml(WIDGETS);
    established(a, "widgets.lifeboat.test");
    a.apply_yaml(
        "apiVersion: v1\nkind: Namespace\nmetadata: { name: widgets }\n---\napiVersion: lifeboat.test/v1\nkind: Widget\nmetadata: { name: w1, namespace: widgets }\nspec: { size: 3, colour: blue }\n",
    );
    // The target's CRD has no `colour`.
    b.apply_yaml(&WIDGETS.replace("                colour: { type: string }\n", ""));
    established(b, "widgets.lifeboat.test");
    let bucket = Bucket::new("strict");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let steps = backup_step(", namespaces: [ widgets ]") + &restore_step("restore", "b", "");
    let rb = two_clusters(dir.path(), "strict", a, b, &bucket, &steps);
    let events = run_json(&rb, &[], 1);
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "object_result" && e["result"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["name"], "widgets/w1");
    let reason = failed[0]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("unknown field") && reason.contains("spec.colour"),
        "{reason}"
    );
    assert!(uid(b, &["widget", "-n", "widgets", "w1"]).is_none());
}

#[test]
fn unknown_fields_fail_the_object_naming_them_on_the_sandbox() {
    unknown_fields_fail_the_object_naming_them(&Served::start(&[]), &Served::start(&[]));
}

#[test]
fn unknown_fields_fail_the_object_naming_them_on_the_control_plane() {
    unknown_fields_fail_the_object_naming_them(&ControlPlane::start(), &ControlPlane::start());
}

/// metrics-server's APIService, with no metrics-server behind it.
const BROKEN_APISERVICE: &str = r#"
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: { name: v1beta1.metrics.k8s.io }
spec:
  group: metrics.k8s.io
  version: v1beta1
  service: { namespace: kube-system, name: metrics-server }
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
"#;

#[test]
fn a_backup_leaves_out_an_aggregated_api_whose_backend_is_down_and_says_so() {
    let a = ControlPlane::start();
    a.apply_yaml(BROKEN_APISERVICE);
    a.ok(&["create", "namespace", "shop"]);
    a.ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "shop",
        "--from-literal=a=b",
    ]);
    // Wait until the aggregator has found it unavailable (discovery then answers 503).
    a.ok(&[
        "wait",
        "--for=condition=Available=False",
        "apiservice/v1beta1.metrics.k8s.io",
        "--timeout=60s",
    ]);
    let bucket = Bucket::new("aggregated");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "aggregated",
        &[("a", &a.kubeconfig)],
        &bucket,
        &backup_step(""),
    );
    let events = run_json(&rb, &[], 0);
    let warning = events
        .iter()
        .find(|e| e["event"] == "step_warning" && e["step"] == "backup")
        .unwrap_or_else(|| panic!("no warning: {events:#?}"));
    let message = warning["message"].as_str().unwrap_or_default();
    assert!(message.contains("metrics.k8s.io/v1beta1"), "{message}");
    let id = outputs(&events, "backup")["backup_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let shown = crate::backup_restore::backups(&[
        "show",
        "--store",
        &bucket.url(),
        &id,
        "--output",
        "json",
    ])
    .run();
    let manifest: Value = serde_json::from_str(&shown.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        manifest["unavailable_groups"][0]["group_version"], "metrics.k8s.io/v1beta1",
        "{manifest}"
    );
    let configmaps = manifest["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["resource"] == "configmaps")
        .cloned()
        .unwrap_or_default();
    assert!(
        configmaps["objects"].as_u64().unwrap_or(0) >= 1,
        "{manifest}"
    );
}

/// The phase of a PVC and the volume it is bound to, once it has settled (Bound, or
/// still Pending after 20 s).
fn claim_state(k: &dyn Kube, ns: &str, name: &str) -> (String, String) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let pvc = k.get_json(&["pvc", "-n", ns, name]).unwrap_or_default();
        let phase = pvc["status"]["phase"].as_str().unwrap_or("").to_string();
        if phase == "Bound" || std::time::Instant::now() >= deadline {
            let volume = pvc["spec"]["volumeName"].as_str().unwrap_or("").to_string();
            return (phase, volume);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A claim bound to a volume the backup does not hold would wait forever for it: its
/// binding is reset and the target provisions one. A volume in the backup comes with
/// its claim, also into another namespace.
fn claims_bind_after_a_restore(a: &dyn Kube, b: &dyn Kube) {
    a.apply_yaml(
        "apiVersion: v1\nkind: Namespace\nmetadata: { name: claims }\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: { name: data, namespace: claims }\nspec: { accessModes: [ ReadWriteOnce ], resources: { requests: { storage: 1Gi } } }\n",
    );
    let (phase, source_volume) = claim_state(a, "claims", "data");
    assert_eq!(phase, "Bound", "the {} did not bind the claim", a.label());
    let bucket = Bucket::new("claims");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // Without its volume (a namespace's backup holds no PV), then with it.
    let steps = backup_step(", namespaces: [ claims ]")
        + &restore_step("without-volume", "b", "")
        + "  - { id: with-volume-backup, uses: backup, cluster: a, with: { store: vault, namespaces: [ claims ], cluster_resources: true, include_resources: [ persistentvolumes, persistentvolumeclaims, namespaces ] } }\n"
        + "  - id: with-volume\n    uses: restore\n    cluster: b\n    with: { store: vault, backup: \"${{ steps.with-volume-backup.outputs.backup_id }}\", namespace_mapping: { claims: claims-moved } }\n";
    let rb = two_clusters(dir.path(), "claims", a, b, &bucket, &steps);
    let events = run_json(&rb, &[], 0);
    for step in ["without-volume", "with-volume"] {
        assert_eq!(outputs(&events, step)["failed"], "0", "{step}");
    }
    let (phase, volume) = claim_state(b, "claims", "data");
    assert_eq!(
        phase, "Bound",
        "the restored claim waits for volume {volume}"
    );
    assert_ne!(volume, source_volume, "bound to the source's volume name");
    let (phase, volume) = claim_state(b, "claims-moved", "data");
    assert_eq!(phase, "Bound", "the moved claim waits (volume {volume})");
    assert_eq!(volume, source_volume, "the restored volume went unused");
    let pv = b.get_json(&["pv", &source_volume]).unwrap_or_default();
    assert_eq!(pv["spec"]["claimRef"]["namespace"], "claims-moved", "{pv}");
}

#[test]
fn claims_bind_after_a_restore_on_the_sandbox() {
    claims_bind_after_a_restore(&Served::start(&[]), &Served::start(&[]));
}

#[test]
fn claims_bind_after_a_restore_on_the_control_plane() {
    claims_bind_after_a_restore(&ControlPlane::start(), &ControlPlane::start());
}
