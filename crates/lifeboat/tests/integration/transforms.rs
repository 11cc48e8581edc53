//! Restore transforms on the sandbox and on the real control plane: a storage class
//! mapping (a PVC and a StatefulSet's claim templates) and modifiers (a JSON patch
//! that changes replicas and an image, a merge patch that removes an annotation, one
//! that adds a Secret key, and a `test` that does not hold: that object fails, named
//! with the rule, and the rest is restored). A dry run shows each change by field path,
//! never a Secret's value. Every result is read back with kubectl.

use serde_json::Value;

use crate::backup_restore::{Bucket, failure, json_lines, runbook};
use crate::harness::Test;
use crate::served::Served;
use testbed::{ControlPlane, Kube};

const SOURCE: &str = r#"
apiVersion: v1
kind: Namespace
metadata: { name: tx }
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: { name: data, namespace: tx }
spec: { storageClassName: gp2, accessModes: [ ReadWriteOnce ], resources: { requests: { storage: 1Gi } } }
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: db, namespace: tx, annotations: { legacy/drop-me: "x" } }
spec:
  serviceName: db
  replicas: 1
  selector: { matchLabels: { app: db } }
  template:
    metadata: { labels: { app: db } }
    spec: { containers: [ { name: pg, image: "registry.eu/postgres:16" } ] }
  volumeClaimTemplates:
    - metadata: { name: pgdata }
      spec: { storageClassName: gp2, accessModes: [ ReadWriteOnce ], resources: { requests: { storage: 1Gi } } }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: tx, labels: { tier: web }, annotations: { legacy/drop-me: "x", keep: "y" } }
spec:
  replicas: 3
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [ { name: web, image: "registry.eu/shop/web:1.0" } ] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: worker, namespace: tx, labels: { tier: jobs } }
spec:
  replicas: 2
  selector: { matchLabels: { app: worker } }
  template:
    metadata: { labels: { app: worker } }
    spec: { containers: [ { name: worker, image: "registry.eu/shop/worker:1.0" } ] }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: guarded, namespace: tx }
data: { mode: lenient }
---
apiVersion: v1
kind: Secret
metadata: { name: creds, namespace: tx }
type: Opaque
stringData: { password: hunter2-do-not-show }
"#;

/// The restore's transforms (the inputs after `store` and `backup`).
const TRANSFORMS: &str = r#"
      storage_class_mapping: { gp2: premium-rwo }
      modifiers:
        - match: { resources: [ deployments.apps ], label_selector: "tier=web" }
          json_patch:
            - { op: replace, path: /spec/replicas, value: 1 }
            - { op: replace, path: /spec/template/spec/containers/0/image, value: "registry.us/shop/web:1.0" }
        - match: { resources: [ deployments.apps, statefulsets.apps ], namespaces: [ tx ] }
          merge_patch: { metadata: { annotations: { legacy/drop-me: null } } }
        - match: { resources: [ configmaps ], name: "guard*" }
          json_patch: [ { op: test, path: /data/mode, value: strict } ]
        - match: { resources: [ secrets ] }
          merge_patch: { data: { extra: ZXh0cmEtdmFsdWU= } }
"#;

fn steps() -> String {
    format!(
        "  - {{ id: backup, uses: backup, cluster: a, with: {{ store: vault, namespaces: [ tx ] }} }}\n  - id: restore\n    uses: restore\n    cluster: b\n    with:\n      store: vault\n      backup: \"${{{{ steps.backup.outputs.backup_id }}}}\"{TRANSFORMS}"
    )
}

fn field(k: &dyn Kube, args: &[&str], pointer: &str) -> Value {
    k.get_json(args)
        .unwrap_or_else(|| panic!("{args:?} does not exist on the {}", k.label()))
        .pointer(pointer)
        .cloned()
        .unwrap_or(Value::Null)
}

/// A dry run shows what each transform changes; the run applies them, fails the one
/// object whose `test` does not hold (naming the rule), and restores the rest.
fn transforms_change_what_is_restored(a: &dyn Kube, b: &dyn Kube) {
    a.apply_yaml(SOURCE);
    let bucket = Bucket::new("transforms");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = runbook(
        dir.path(),
        "transforms",
        &[("a", a.kubeconfig()), ("b", b.kubeconfig())],
        &bucket,
        &steps(),
    );

    // The dry run: every change by field, the Secret's by path only.
    let dry = Test::new()
        .arg("run")
        .arg(&rb)
        .arg("--dry-run")
        .status(1)
        .run();
    let shown = format!("{}{}", dry.stdout, dry.stderr);
    for line in [
        "would create Deployment tx/web",
        "spec.replicas: 3 → 1",
        "spec.template.spec.containers[0].image: \"registry.eu/shop/web:1.0\" → \"registry.us/shop/web:1.0\"",
        "metadata.annotations.legacy/drop-me: removed",
        "spec.storageClassName: \"gp2\" → \"premium-rwo\"",
        "spec.volumeClaimTemplates[0].spec.storageClassName: \"gp2\" → \"premium-rwo\"",
        "data.extra: added",
        "rejected: ConfigMap tx/guarded (modifier 3 did not apply",
    ] {
        assert!(
            shown.contains(line),
            "the dry run does not show `{line}`:\n{shown}"
        );
    }
    assert!(!shown.contains("ZXh0cmEtdmFsdWU="), "{shown}");
    assert!(!shown.contains("aHVudGVy"), "{shown}");
    assert!(
        b.fails(&["get", "namespace", "tx"]).contains("NotFound"),
        "a dry run wrote to the {}",
        b.label()
    );

    // The run.
    let out = Test::new()
        .arg("run")
        .arg(&rb)
        .args(["--output", "json"])
        .status(1)
        .run();
    let events = json_lines(&out.stdout);
    let error = failure(&events, "restore");
    assert!(
        error.contains("1 of") && error.contains("ConfigMap tx/guarded: modifier 3 did not apply"),
        "{error}"
    );
    let pvc = ["pvc", "-n", "tx", "data"];
    assert_eq!(field(b, &pvc, "/spec/storageClassName"), "premium-rwo");
    let sts = ["statefulset", "-n", "tx", "db"];
    assert_eq!(
        field(
            b,
            &sts,
            "/spec/volumeClaimTemplates/0/spec/storageClassName"
        ),
        "premium-rwo"
    );
    assert_eq!(
        field(b, &sts, "/metadata/annotations/legacy~1drop-me"),
        Value::Null
    );
    let web = ["deployment", "-n", "tx", "web"];
    assert_eq!(field(b, &web, "/spec/replicas"), 1);
    assert_eq!(
        field(b, &web, "/spec/template/spec/containers/0/image"),
        "registry.us/shop/web:1.0"
    );
    assert_eq!(
        field(b, &web, "/metadata/annotations/legacy~1drop-me"),
        Value::Null
    );
    assert_eq!(field(b, &web, "/metadata/annotations/keep"), "y");
    // The rule selected by label left the other Deployment as it was.
    let worker = ["deployment", "-n", "tx", "worker"];
    assert_eq!(field(b, &worker, "/spec/replicas"), 2);
    assert_eq!(
        field(b, &worker, "/spec/template/spec/containers/0/image"),
        "registry.eu/shop/worker:1.0"
    );
    assert_eq!(
        field(b, &["secret", "-n", "tx", "creds"], "/data/extra"),
        "ZXh0cmEtdmFsdWU="
    );
    assert!(
        b.fails(&["get", "configmap", "-n", "tx", "guarded"])
            .contains("NotFound"),
        "the object whose modifier failed was written"
    );
}

#[test]
fn transforms_change_what_is_restored_on_the_sandbox() {
    transforms_change_what_is_restored(&Served::start(&[]), &Served::start(&[]));
}

#[test]
fn transforms_change_what_is_restored_on_the_control_plane() {
    transforms_change_what_is_restored(&ControlPlane::start(), &ControlPlane::start());
}
