//! `Kube`: what a scenario needs of a cluster (an admin kubeconfig and the kubectl
//! that speaks to it), with the kubectl calls tests make, asserting as they go.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// A cluster a scenario runs against.
pub trait Kube {
    /// The admin kubeconfig.
    fn kubeconfig(&self) -> &Path;
    /// The kubectl to use with it.
    fn kubectl_program(&self) -> &OsStr;
    /// `sandbox` or `control plane`, for messages.
    fn label(&self) -> &'static str;

    /// Runs kubectl against the cluster.
    fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_in(args, None)
    }

    /// Runs kubectl against the cluster, with `stdin` as its input.
    fn kubectl_in(&self, args: &[&str], stdin: Option<&str>) -> Output {
        kubectl(self.kubectl_program(), self.kubeconfig(), args, stdin)
    }

    /// Runs kubectl and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed on the {}:\n{}\n{}",
            self.label(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs kubectl and expects failure; returns stderr.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} succeeded on the {}:\n{}",
            self.label(),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `kubectl apply -f -` of `yaml`, expecting success.
    fn apply_yaml(&self, yaml: &str) -> String {
        let out = self.kubectl_in(&["apply", "-f", "-"], Some(yaml));
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
        let out = self.kubectl(&all);
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
