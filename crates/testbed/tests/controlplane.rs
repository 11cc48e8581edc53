//! The test bed's own check: a control plane it starts is a real, working cluster.

use testbed::{ControlPlane, Kube, kubectl};

#[test]
fn the_control_plane_runs_real_controllers_and_kwok_nodes() {
    let cp = ControlPlane::start();
    let version = cp.ok(&["version", "-o", "json"]);
    let version: serde_json::Value =
        serde_json::from_str(&version).unwrap_or_else(|e| panic!("{e}: {version}"));
    assert_eq!(
        version["serverVersion"]["gitVersion"], "v1.35.4",
        "{version}"
    );
    assert_eq!(
        version["clientVersion"]["gitVersion"], "v1.35.4",
        "{version}"
    );
    let nodes = cp.ok(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    cp.ok(&["create", "namespace", "smoke"]);
    cp.ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "smoke",
        "--image=nginx",
        "--replicas=2",
    ]);
    // The controller manager, the scheduler and kwok make it Available.
    cp.ok(&[
        "rollout",
        "status",
        "-n",
        "smoke",
        "deployment/web",
        "--timeout=60s",
    ]);
    let pods = cp.ok(&[
        "get",
        "pods",
        "-n",
        "smoke",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName} {.status.phase}{\"\\n\"}{end}",
    ]);
    assert_eq!(pods.lines().count(), 2, "{pods}");
    assert!(
        pods.lines()
            .all(|l| l.starts_with("kwok-node-") && l.ends_with(" Running")),
        "{pods}"
    );
    // RBAC is enforced: an identity with no role is refused.
    let refused = kubectl(
        cp.kubectl_program(),
        &cp.nobody_kubeconfig,
        &["get", "pods", "-n", "smoke"],
        None,
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("forbidden"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
