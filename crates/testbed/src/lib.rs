//! The test bed of the workspace's tests: where the repository and its fixtures are,
//! the `Kube` trait (what a scenario needs of a cluster: a kubeconfig and the kubectl
//! that speaks to it, so one scenario runs on the sandbox and on the real control
//! plane), `ControlPlane`, a real Kubernetes control plane started with
//! `scripts/controlplane` (docs/testing.md), and `FaultProxy`, which puts seeded
//! faults between a client and the S3 server, a sandbox or a control plane.

mod controlplane;
pub mod faults;
mod kube;

use std::path::PathBuf;

pub use controlplane::ControlPlane;
pub use faults::{Fault, FaultPlan, FaultProxy, kubeconfig_through};
pub use kube::{Kube, kubectl};

/// The repository root (the workspace's Cargo.toml).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|e| panic!("the repository root cannot be found: {e}"))
}

/// A path under the repository root.
pub fn path(rel: &str) -> PathBuf {
    root().join(rel)
}

/// A manifest of a real project (`testbed/fixtures/upstream/NAME`, unmodified).
pub fn upstream(name: &str) -> PathBuf {
    fixture(&format!("upstream/{name}"))
}

/// A folder or file of `testbed/fixtures` (the sandbox seeds of both crates' tests).
pub fn fixture(rel: &str) -> PathBuf {
    let p = path(&format!("testbed/fixtures/{rel}"));
    assert!(p.exists(), "{} is missing from the checkout", p.display());
    p
}
