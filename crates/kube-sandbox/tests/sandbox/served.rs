//! A sandbox served in this process for kubectl: started on a runtime of its own,
//! its kubeconfig in a temporary folder, stopped on drop.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use kube_sandbox::{Sandbox, SandboxOptions};
use testbed::Kube;

pub struct Served {
    // Dropped before the runtime it serves on.
    sandbox: Option<Sandbox>,
    runtime: Option<tokio::runtime::Runtime>,
    pub kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Served {
    /// Seeds a sandbox from `seeds` (folders or files of manifests) and serves it.
    pub fn start(seeds: &[&Path]) -> Served {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start a runtime: {e}"));
        let options = SandboxOptions {
            seeds: seeds.iter().map(|s| s.to_path_buf()).collect(),
            ..SandboxOptions::default()
        };
        let sandbox = runtime
            .block_on(Sandbox::start(options))
            .unwrap_or_else(|e| panic!("cannot start the sandbox: {e}"));
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let kubeconfig = dir.path().join("kubeconfig");
        sandbox
            .write_kubeconfig(&kubeconfig)
            .unwrap_or_else(|e| panic!("{e}"));
        Served {
            sandbox: Some(sandbox),
            runtime: Some(runtime),
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
        drop(self.sandbox.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
