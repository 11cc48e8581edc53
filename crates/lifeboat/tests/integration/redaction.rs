//! Credentials never reach errors or logs: a run with every library's logs on
//! (`RUST_LOG=trace`), against a sandbox reached with a bearer token and the S3 server
//! with its secret key, one step that succeeds and one that fails, prints neither the
//! token nor the secret key nor a request signature made from it.

use crate::backup_restore::{Bucket, app_cluster};
use crate::harness::{Test, TestRunbook};

const TOKEN: &str = "planted-bearer-token-5f0c9d2e7a";

#[test]
fn a_bearer_token_and_the_s3_secret_key_reach_no_log_or_error() {
    let a = app_cluster();
    let bucket = Bucket::new("redaction");
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    // The sandbox's kubeconfig with a bearer token (the sandbox takes any).
    let kubeconfig = dir.path().join("token.kubeconfig");
    let text = std::fs::read_to_string(&a.kubeconfig).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        &kubeconfig,
        text.replace("user: {}", &format!("user: {{ token: {TOKEN} }}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        std::fs::read_to_string(&kubeconfig)
            .unwrap_or_default()
            .contains(TOKEN),
        "the token was not planted"
    );
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY")
        .unwrap_or_else(|_| panic!("AWS_SECRET_ACCESS_KEY is not set: run with scripts/test"));
    let rb = TestRunbook::new("redaction")
        .cluster("a", &kubeconfig)
        .store("vault", &bucket.store_yaml())
        .steps(concat!(
            "  - { id: backup, uses: backup, cluster: a, with: { store: vault, namespaces: [ app ] } }\n",
            "  - { id: nowhere, uses: restore, cluster: a, with: { store: vault, backup: no-such-backup } }\n",
        ))
        .write(dir.path());
    for format in ["text", "json"] {
        let out = Test::new()
            .args(["run", "--log-format", format, "--output", "json"])
            .arg(&rb)
            .env("RUST_LOG", "trace")
            .status(1)
            .run();
        let all = format!("{}\n{}", out.stdout, out.stderr);
        assert!(
            all.contains("\"step\":\"nowhere\"") && all.contains("no-such-backup does not exist"),
            "the failing step did not fail on the missing backup:\n{}",
            &all[all.len().saturating_sub(3000)..]
        );
        assert!(
            all.len() > 100_000,
            "trace logs were not on ({} bytes)",
            all.len()
        );
        for (what, planted) in [
            ("the bearer token", TOKEN),
            ("the S3 secret key", secret.as_str()),
        ] {
            if let Some(at) = all.find(planted) {
                let from = at.saturating_sub(300);
                panic!(
                    "{what} reached the output ({format} logs):\n...{}...",
                    &all[from..(at + 300).min(all.len())]
                );
            }
        }
        assert!(
            !all.contains("Bearer "),
            "an Authorization header reached the {format} logs"
        );
    }
}
