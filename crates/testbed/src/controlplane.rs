//! The real Kubernetes control plane of the tests (docs/testing.md): etcd,
//! kube-apiserver, the controller manager, the scheduler and kwok, built by
//! `scripts/test` from Kubernetes' Go modules. Each test that needs one starts its own
//! with `scripts/controlplane up` (a few seconds) and it is stopped when the test drops
//! it, so tests never share cluster-scoped objects. At most `AT_ONCE` run at a time in
//! one test process.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};

use crate::{Kube, path};

/// Control planes running at once (each takes about 550 MiB and little CPU when idle).
const AT_ONCE: usize = 4;

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
