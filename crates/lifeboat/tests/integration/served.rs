//! `lifeboat sandbox serve` in its own process, as users run it: the source and target
//! clusters of the scenarios, reached with kubectl. Stopped on drop. The tests here
//! are of `sandbox serve` itself.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testbed::{Kube, upstream};

pub struct Served {
    child: Child,
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Seeds a sandbox from `seeds` (folders or files of manifests) and serves it.
    pub fn start(seeds: &[&Path]) -> Served {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let kubeconfig = dir.path().join("kubeconfig");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.args(["sandbox", "serve", "--port", "0", "--kubeconfig"])
            .arg(&kubeconfig);
        for s in seeds {
            cmd.arg("--seed").arg(s);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start the sandbox: {e}"));
        let start = Instant::now();
        while !kubeconfig.exists() {
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut err);
                }
                panic!("the sandbox exited with {status}: {err}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the sandbox did not start within 30s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Served {
            child,
            kubeconfig,
            _dir: dir,
        }
    }
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

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_seeds_real_manifests_crds_first() {
    // The examples (a VolumeSnapshot) come before their CRDs in name order: seeding puts
    // CRDs first, as it must.
    let seeds = [
        upstream("volumesnapshot-examples.yaml"),
        upstream("volumesnapshot-crds.yaml"),
        upstream("microservices-demo.yaml"),
    ];
    let seeds: Vec<&Path> = seeds.iter().map(PathBuf::as_path).collect();
    let s = Served::start(&seeds);
    assert_eq!(
        s.ok(&["get", "deployments", "-n", "default", "-o", "name"])
            .lines()
            .count(),
        12
    );
    let crds = s.ok(&["get", "crd", "-o", "name"]);
    assert!(
        crds.contains("volumesnapshots.snapshot.storage.k8s.io"),
        "{crds}"
    );
    assert!(
        !s.ok(&["get", "volumesnapshots", "-A", "-o", "name"])
            .trim()
            .is_empty()
    );
    assert!(
        !s.ok(&["get", "volumesnapshotclasses", "-o", "name"])
            .trim()
            .is_empty()
    );
}

#[test]
fn serve_refuses_a_broken_seed_file_naming_it() {
    // Like kubectl, the sandbox does not guess at YAML it cannot parse.
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: [\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["sandbox", "serve", "--port", "0", "--seed"])
        .arg(&bad)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("failed to seed the sandbox from")
            && err.contains("bad.yaml")
            && err.contains("invalid YAML"),
        "{err}"
    );
}
