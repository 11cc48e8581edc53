//! The real Kubernetes control plane of the tests (docs/testing.md): etcd,
//! kube-apiserver, the controller manager, the scheduler and kwok, built by
//! `scripts/test` from Kubernetes' Go modules. Each test that needs one starts its own
//! with `scripts/controlplane up` (a few seconds) and it is stopped when the test drops
//! it, so tests never share cluster-scoped objects. At most `AT_ONCE` run at a time.
//!
//! `Kube` is what a scenario needs of a cluster (a kubeconfig and the kubectl that
//! speaks to it), so one scenario runs on the sandbox and on the real control plane.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Condvar, Mutex};

use crate::harness::path;
use crate::sandbox_kubectl::Served;

/// Control planes running at once (each takes about 550 MiB and little CPU when idle).
const AT_ONCE: usize = 4;

/// A cluster a scenario runs against.
pub trait Kube {
    /// The admin kubeconfig.
    fn kubeconfig(&self) -> &Path;
    /// The kubectl to use with it.
    fn kubectl_program(&self) -> &OsStr;
    /// `sandbox` or `control plane`, for messages.
    fn label(&self) -> &'static str;

    /// Runs kubectl against the cluster, with `stdin` as its input.
    fn kubectl_with(&self, args: &[&str], stdin: Option<&str>) -> Output {
        kubectl(self.kubectl_program(), self.kubeconfig(), args, stdin)
    }

    /// Runs kubectl and expects success; returns stdout.
    fn run_ok(&self, args: &[&str]) -> String {
        let out = self.kubectl_with(args, None);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed on the {}:\n{}\n{}",
            self.label(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `yaml`, expecting success.
    fn apply_yaml(&self, yaml: &str) -> String {
        let out = self.kubectl_with(&["apply", "-f", "-"], Some(yaml));
        assert!(
            out.status.success(),
            "kubectl apply failed on the {}:\n{}\n{yaml}",
            self.label(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The object as JSON, or `None` when it does not exist.
    fn get_json(&self, args: &[&str]) -> Option<serde_json::Value> {
        let mut all = vec!["get"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-o", "json"]);
        let out = self.kubectl_with(&all, None);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("NotFound"), "kubectl {all:?}: {err}");
            return None;
        }
        Some(
            serde_json::from_slice(&out.stdout)
                .unwrap_or_else(|e| panic!("kubectl {all:?} printed no JSON: {e}")),
        )
    }
}

/// Runs `program` (a kubectl) with `kubeconfig`.
pub fn kubectl(program: &OsStr, kubeconfig: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(program);
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--request-timeout=30s")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.to_string_lossy()));
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = std::io::Write::write_all(&mut pipe, input.as_bytes());
    }
    child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("kubectl failed: {e}"))
}

impl Kube for Served {
    fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
    fn kubectl_program(&self) -> &OsStr {
        OsStr::new("kubectl")
    }
    fn label(&self) -> &'static str {
        "sandbox"
    }
}

/// A running control plane of the test bed, stopped on drop.
pub struct ControlPlane {
    dir: PathBuf,
    pub kubeconfig: PathBuf,
    /// A kubeconfig of an identity that RBAC grants nothing.
    pub nobody_kubeconfig: PathBuf,
    kubectl: PathBuf,
    _slot: Slot,
}

/// Where `scripts/test` keeps the control planes of the tests, and the binaries.
fn testbed() -> (PathBuf, PathBuf) {
    let get = |var: &str| {
        std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
            panic!(
                "{var} is not set: run the tests with `scripts/test`, which builds the real \
                 control plane once (scripts/controlplane build) and says where it is"
            )
        })
    };
    (
        get("LIFEBOAT_TEST_CONTROLPLANES"),
        get("LIFEBOAT_TEST_CONTROLPLANE_BIN"),
    )
}

impl ControlPlane {
    /// Starts a fresh control plane (waiting while `AT_ONCE` are running) and returns
    /// once its Nodes are Ready.
    pub fn start() -> ControlPlane {
        let (root, bin) = testbed();
        let slot = Slot::take();
        let dir = tempfile::Builder::new()
            .prefix("cp-")
            .tempdir_in(&root)
            .unwrap_or_else(|e| panic!("cannot make a folder in {}: {e}", root.display()))
            .keep();
        let out = Command::new(path("scripts/controlplane"))
            .arg("up")
            .arg(&dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run scripts/controlplane: {e}"));
        assert!(
            out.status.success(),
            "scripts/controlplane up {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        ControlPlane {
            kubeconfig: dir.join("kubeconfig"),
            nobody_kubeconfig: dir.join("nobody.kubeconfig"),
            kubectl: bin.join("kubectl"),
            dir,
            _slot: slot,
        }
    }
}

impl ControlPlane {
    /// Every write the API server has recorded so far (its audit log: `verb`,
    /// `objectRef`, `requestURI`, `responseStatus`, `user`, `userAgent`, ...), as
    /// lifeboat made them (kubectl's are left out).
    pub fn lifeboat_writes(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("logs/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| {
                e["user"]["username"] == "lifeboat-admin"
                    && !e["userAgent"].as_str().unwrap_or("").starts_with("kubectl")
            })
            .collect()
    }
}

impl Kube for ControlPlane {
    fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }
    fn kubectl_program(&self) -> &OsStr {
        self.kubectl.as_os_str()
    }
    fn label(&self) -> &'static str {
        "control plane"
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        let _ = Command::new(path("scripts/controlplane"))
            .arg("down")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One of the `AT_ONCE` places for a running control plane.
struct Slot;

static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

impl Slot {
    fn take() -> Slot {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *running >= AT_ONCE {
            running = FREED.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *running -= 1;
        FREED.notify_one();
    }
}

#[test]
fn the_control_plane_runs_real_controllers_and_kwok_nodes() {
    let cp = ControlPlane::start();
    let version = cp.run_ok(&["version", "-o", "json"]);
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
    let nodes = cp.run_ok(&["get", "nodes", "-o", "name"]);
    assert_eq!(nodes.lines().count(), 3, "{nodes}");
    cp.run_ok(&["create", "namespace", "smoke"]);
    cp.run_ok(&[
        "create",
        "deployment",
        "web",
        "-n",
        "smoke",
        "--image=nginx",
        "--replicas=2",
    ]);
    // The controller manager, the scheduler and kwok make it Available.
    cp.run_ok(&[
        "rollout",
        "status",
        "-n",
        "smoke",
        "deployment/web",
        "--timeout=60s",
    ]);
    let pods = cp.run_ok(&[
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
