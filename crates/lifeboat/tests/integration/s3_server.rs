//! The S3 server that `scripts/test` starts (s3s-fs) is reachable, and the real AWS CLI
//! can write and read objects on it. Later tests store backups there; this guards the
//! harness itself. Never skipped: without the server it fails and says how to get it.

use std::process::Command;

pub fn endpoint() -> String {
    std::env::var("LIFEBOAT_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "LIFEBOAT_TEST_S3_ENDPOINT is not set: run the tests with `scripts/test`, which installs \
             s3s-fs (cargo install s3s-fs@0.14.1 --features binary --locked) and starts it"
        )
    })
}

/// Runs the aws CLI against the test S3 server.
pub fn aws(args: &[&str]) -> std::process::Output {
    Command::new("aws")
        .args(["--endpoint-url", &endpoint()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the aws CLI (it is on the machine image): {e}"))
}

#[test]
fn the_aws_cli_round_trips_an_object_through_the_test_s3_server() {
    let bucket = format!("harness-{}", std::process::id());
    let made = aws(&["s3", "mb", &format!("s3://{bucket}")]);
    assert!(
        made.status.success(),
        "mb failed: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let src = dir.path().join("in.txt");
    std::fs::write(&src, "lifeboat\n").unwrap_or_else(|e| panic!("{e}"));
    let key = format!("s3://{bucket}/a/in.txt");
    let put = aws(&["s3", "cp", &src.to_string_lossy(), &key]);
    assert!(
        put.status.success(),
        "cp up failed: {}",
        String::from_utf8_lossy(&put.stderr)
    );
    let listed = aws(&["s3", "ls", &format!("s3://{bucket}/a/")]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("in.txt"));
    let dst = dir.path().join("out.txt");
    let got = aws(&["s3", "cp", &key, &dst.to_string_lossy()]);
    assert!(
        got.status.success(),
        "cp down failed: {}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&dst).unwrap_or_default(),
        "lifeboat\n"
    );
}
