//! Store conformance: one suite of checks, written once and run against both backends —
//! a local folder (`fs`) and S3 through the real s3s-fs server that `scripts/test`
//! starts (a fresh bucket per test, path-style addressing, checksums only when
//! required). A few checks only make sense for one backend and say so.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use lifeboat::store::{PutMode, S3Config, Store, StoreConfig, StoreError};
use sha2::{Digest, Sha256};

/// About 20 MiB and not a multiple of the 8 MiB part size: S3 goes multipart with a
/// short last part.
const BIG: usize = 20 * 1024 * 1024 + 12_345;

/// Where a backend keeps its objects, to look behind the store's back.
enum Storage {
    Fs { dir: tempfile::TempDir },
    S3 { bucket: String },
}

struct Backend {
    storage: Storage,
    store: Store,
}

impl Backend {
    async fn fs() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreConfig::Fs {
            root: dir.path().join("store"),
        })
        .await
        .unwrap();
        Backend {
            storage: Storage::Fs { dir },
            store,
        }
    }

    async fn s3() -> Backend {
        Backend::s3_with(true).await
    }

    async fn s3_with(checksum_when_required: bool) -> Backend {
        let bucket = new_bucket();
        let store = open_s3(&bucket, "", checksum_when_required).await;
        Backend {
            storage: Storage::S3 { bucket },
            store,
        }
    }

    /// Another store on the same storage whose root is `prefix` (ending in `/`).
    async fn scoped(&self, prefix: &str) -> Store {
        match &self.storage {
            Storage::Fs { dir } => Store::open(&StoreConfig::Fs {
                root: dir.path().join("store").join(prefix.trim_end_matches('/')),
            })
            .await
            .unwrap(),
            Storage::S3 { bucket } => open_s3(bucket, prefix, true).await,
        }
    }

    /// What a failed write may leave behind: temporary files (fs) or multipart uploads
    /// that were never completed nor aborted (S3).
    fn leftovers(&self) -> Vec<String> {
        match &self.storage {
            Storage::Fs { dir } => {
                let mut found = Vec::new();
                temp_files(dir.path(), &mut found);
                found
            }
            Storage::S3 { bucket } => pending_uploads(bucket),
        }
    }
}

async fn open_s3(bucket: &str, prefix: &str, checksum_when_required: bool) -> Store {
    Store::open(&StoreConfig::S3(S3Config {
        bucket: bucket.to_string(),
        prefix: prefix.to_string(),
        region: None,
        endpoint: Some(crate::s3_server::endpoint()),
        path_style: true,
        checksum_when_required,
    }))
    .await
    .unwrap()
}

/// Runs each check as one test per backend: `store_conformance::fs::<check>` and
/// `store_conformance::s3::<check>`.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod fs {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(&super::Backend::fs().await).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    super::$check(&super::Backend::s3().await).await;
                }
            )*
        }
    };
}

conformance!(
    put_and_get_round_trip,
    missing_objects_are_not_found,
    create_new_never_replaces,
    head_describes_an_object,
    list_is_recursive_sorted_and_relative,
    a_prefixed_store_sees_only_its_prefix,
    delete_removes_and_tolerates_missing,
    large_files_stream_both_ways,
    a_failed_upload_leaves_nothing_behind,
    check_passes,
    keys_that_climb_out_are_refused,
    compare_and_swap_replaces_only_what_was_read,
);

async fn put_and_get_round_trip(b: &Backend) {
    let store = &b.store;
    let body = br#"{"format": 1, "parts": []}"#.to_vec();
    store
        .put("backups/b1/manifest.json", body.clone(), PutMode::Overwrite)
        .await
        .unwrap();
    assert_eq!(store.get("backups/b1/manifest.json").await.unwrap(), body);

    store
        .put(
            "runs/r1/000001.json",
            b"started".to_vec(),
            PutMode::CreateNew,
        )
        .await
        .unwrap();
    assert_eq!(store.get("runs/r1/000001.json").await.unwrap(), b"started");

    store
        .put("empty", Vec::new(), PutMode::CreateNew)
        .await
        .unwrap();
    assert_eq!(store.get("empty").await.unwrap(), b"");
    assert_eq!(store.head("empty").await.unwrap().unwrap().size, 0);

    let name = store.describe();
    match &b.storage {
        Storage::Fs { .. } => assert!(name.starts_with("file:///"), "{name}"),
        Storage::S3 { bucket } => assert_eq!(name, format!("s3://{bucket}")),
    }
}

async fn missing_objects_are_not_found(b: &Backend) {
    let store = &b.store;
    assert_not_found(store.get("nope.json").await);
    assert_not_found(store.get("no/such/folder/key").await);
    assert!(store.head("nope.json").await.unwrap().is_none());

    let scratch = tempfile::tempdir().unwrap();
    let target = scratch.path().join("out.bin");
    assert_not_found(store.get_to_file("nope.json", &target).await);
    assert!(!target.exists(), "a failed download left {target:?}");
    assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);

    let message = store.get("nope.json").await.unwrap_err().to_string();
    assert!(message.contains("nope.json"), "{message}");
    assert!(message.contains(&store.describe()), "{message}");
}

async fn create_new_never_replaces(b: &Backend) {
    let store = &b.store;
    store
        .put(
            "locks/nightly.json",
            b"holder: a".to_vec(),
            PutMode::CreateNew,
        )
        .await
        .unwrap();
    match store
        .put(
            "locks/nightly.json",
            b"holder: b".to_vec(),
            PutMode::CreateNew,
        )
        .await
    {
        Err(StoreError::AlreadyExists { key, .. }) => assert_eq!(key, "locks/nightly.json"),
        other => panic!("a second create must fail with AlreadyExists, got {other:?}"),
    }
    assert_eq!(store.get("locks/nightly.json").await.unwrap(), b"holder: a");

    store
        .put(
            "locks/nightly.json",
            b"holder: c".to_vec(),
            PutMode::Overwrite,
        )
        .await
        .unwrap();
    assert_eq!(store.get("locks/nightly.json").await.unwrap(), b"holder: c");
    assert_eq!(keys(store, "locks/").await, ["locks/nightly.json"]);
    assert_eq!(b.leftovers(), Vec::<String>::new());
}

async fn head_describes_an_object(b: &Backend) {
    let store = &b.store;
    store
        .put("a/b/part-0001.jsonl.zst", vec![7; 1234], PutMode::Overwrite)
        .await
        .unwrap();
    let meta = store
        .head("a/b/part-0001.jsonl.zst")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(meta.key, "a/b/part-0001.jsonl.zst");
    assert_eq!(meta.size, 1234);
    assert!(meta.modified.is_some());
}

async fn list_is_recursive_sorted_and_relative(b: &Backend) {
    let store = &b.store;
    // Written out of order; `a/b-1` sorts before `a/b/x` (`-` < `/`).
    let written = [
        ("top", 3),
        ("a/c", 1),
        ("a/b/y/z", 7),
        ("a/bc", 2),
        ("a/b/x", 5),
        ("a/b-1", 4),
    ];
    for (key, size) in written {
        store
            .put(key, vec![1; size], PutMode::Overwrite)
            .await
            .unwrap();
    }
    assert_eq!(
        keys(store, "").await,
        ["a/b-1", "a/b/x", "a/b/y/z", "a/bc", "a/c", "top"]
    );
    // A folder prefix does not take in its siblings...
    assert_eq!(keys(store, "a/b/").await, ["a/b/x", "a/b/y/z"]);
    // ...while a bare prefix matches by string, as S3 does.
    assert_eq!(
        keys(store, "a/b").await,
        ["a/b-1", "a/b/x", "a/b/y/z", "a/bc"]
    );
    assert_eq!(keys(store, "a/b/y").await, ["a/b/y/z"]);
    assert_eq!(keys(store, "t").await, ["top"]);
    assert!(keys(store, "nothing/").await.is_empty());
    assert!(keys(store, "a/b/x/").await.is_empty());

    let listed = store.list("a/").await.unwrap();
    let sizes: Vec<(&str, u64)> = listed.iter().map(|m| (m.key.as_str(), m.size)).collect();
    assert_eq!(
        sizes,
        [
            ("a/b-1", 4),
            ("a/b/x", 5),
            ("a/b/y/z", 7),
            ("a/bc", 2),
            ("a/c", 1)
        ]
    );
    assert!(listed.iter().all(|m| m.modified.is_some()));
}

async fn a_prefixed_store_sees_only_its_prefix(b: &Backend) {
    let root = &b.store;
    for key in ["tenant/a", "tenant/b/c", "tenantx/d", "other"] {
        root.put(key, key.as_bytes().to_vec(), PutMode::Overwrite)
            .await
            .unwrap();
    }
    let tenant = b.scoped("tenant/").await;
    assert!(tenant.describe().ends_with("tenant/") || tenant.describe().ends_with("tenant"));
    assert_eq!(keys(&tenant, "").await, ["a", "b/c"]);
    assert_eq!(tenant.get("b/c").await.unwrap(), b"tenant/b/c");
    assert_not_found(tenant.get("other").await);
    assert_not_found(tenant.get("d").await);
    assert_config(tenant.get("../other").await);
    assert_config(tenant.list("../").await);

    tenant
        .put("e", b"new".to_vec(), PutMode::CreateNew)
        .await
        .unwrap();
    assert_eq!(root.get("tenant/e").await.unwrap(), b"new");
    tenant.delete("a").await.unwrap();
    assert!(root.head("tenant/a").await.unwrap().is_none());
    assert_eq!(
        keys(root, "").await,
        ["other", "tenant/b/c", "tenant/e", "tenantx/d"]
    );
}

async fn delete_removes_and_tolerates_missing(b: &Backend) {
    let store = &b.store;
    store
        .put("runs/r1/lock", b"x".to_vec(), PutMode::Overwrite)
        .await
        .unwrap();
    store
        .put("runs/r1/keep", b"y".to_vec(), PutMode::Overwrite)
        .await
        .unwrap();
    store.delete("runs/r1/lock").await.unwrap();
    assert!(store.head("runs/r1/lock").await.unwrap().is_none());
    assert_not_found(store.get("runs/r1/lock").await);
    assert_eq!(keys(store, "").await, ["runs/r1/keep"]);
    store.delete("runs/r1/lock").await.unwrap();
    store.delete("never/existed").await.unwrap();
    // Once deleted, a key can be created again.
    store
        .put("runs/r1/lock", b"z".to_vec(), PutMode::CreateNew)
        .await
        .unwrap();
    assert_eq!(store.get("runs/r1/lock").await.unwrap(), b"z");
}

async fn large_files_stream_both_ways(b: &Backend) {
    let store = &b.store;
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("part.bin");
    let data = noise(BIG, 0x5eed);
    std::fs::write(&source, &data).unwrap();

    let key = "backups/b1/resources/apps/v1/deployments.jsonl.zst";
    let sent = store
        .put_file(key, &source, PutMode::CreateNew)
        .await
        .unwrap();
    assert_eq!(sent, BIG as u64);
    assert_eq!(store.head(key).await.unwrap().unwrap().size, BIG as u64);
    assert_eq!(keys(store, "").await, [key]);
    if let Storage::S3 { bucket } = &b.storage {
        // A multipart object's ETag ends with its part count: 8 + 8 + ~4 MiB.
        let head = aws(&[
            "s3api",
            "head-object",
            "--bucket",
            bucket,
            "--key",
            key,
            "--output",
            "json",
        ]);
        let head: serde_json::Value = serde_json::from_slice(&head).unwrap();
        let etag = head["ETag"].as_str().unwrap_or_default();
        assert!(etag.ends_with("-3\""), "not a 3-part upload: {head}");
    }

    let target = scratch.path().join("restored/part.bin");
    let received = store.get_to_file(key, &target).await.unwrap();
    assert_eq!(received, BIG as u64);
    assert_eq!(sha256(&target), Sha256::digest(&data).to_vec());
    // Only the downloaded file, no temporary file next to it.
    assert_eq!(
        std::fs::read_dir(target.parent().unwrap()).unwrap().count(),
        1
    );

    // Overwriting a large object with a small file replaces it whole.
    let small = scratch.path().join("small.bin");
    std::fs::write(&small, b"small").unwrap();
    assert_eq!(
        store
            .put_file(key, &small, PutMode::Overwrite)
            .await
            .unwrap(),
        5
    );
    assert_eq!(store.get(key).await.unwrap(), b"small");
    assert_eq!(store.get_to_file(key, &target).await.unwrap(), 5);
    assert_eq!(std::fs::read(&target).unwrap(), b"small");
    assert_eq!(b.leftovers(), Vec::<String>::new());
}

async fn a_failed_upload_leaves_nothing_behind(b: &Backend) {
    let store = &b.store;
    let scratch = tempfile::tempdir().unwrap();
    let source = scratch.path().join("part.bin");
    std::fs::write(&source, noise(BIG, 42)).unwrap();

    // The upload sends every part, then the conditional completion is refused (S3), or
    // the no-replace move is (fs): the old object stays, the parts are aborted.
    store
        .put("backups/b1/part", b"old".to_vec(), PutMode::Overwrite)
        .await
        .unwrap();
    match store
        .put_file("backups/b1/part", &source, PutMode::CreateNew)
        .await
    {
        Err(StoreError::AlreadyExists { key, .. }) => assert_eq!(key, "backups/b1/part"),
        other => panic!("a create over an existing object must fail, got {other:?}"),
    }
    assert_eq!(store.get("backups/b1/part").await.unwrap(), b"old");
    assert_eq!(b.leftovers(), Vec::<String>::new());

    // A source that is not there fails before anything is written.
    match store
        .put_file(
            "backups/b1/other",
            &scratch.path().join("gone.bin"),
            PutMode::Overwrite,
        )
        .await
    {
        Err(StoreError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            assert!(source.to_string().contains("gone.bin"), "{source}");
        }
        other => panic!("uploading a missing file must fail, got {other:?}"),
    }
    assert!(store.head("backups/b1/other").await.unwrap().is_none());
    assert_eq!(keys(store, "").await, ["backups/b1/part"]);
    assert_eq!(b.leftovers(), Vec::<String>::new());
}

/// `replace` and `delete_if` act only on the version that was read (S3 `If-Match` on
/// the ETag; locally under the key's lock): what the run lock's takeovers and renewals
/// stand on.
async fn compare_and_swap_replaces_only_what_was_read(b: &Backend) {
    let store = &b.store;
    store
        .put("locks/cas.json", b"first".to_vec(), PutMode::CreateNew)
        .await
        .unwrap();
    let (body, first) = store.get_versioned("locks/cas.json").await.unwrap();
    assert_eq!(body, b"first");
    store
        .replace("locks/cas.json", b"second".to_vec(), &first)
        .await
        .unwrap();
    let (body, second) = store.get_versioned("locks/cas.json").await.unwrap();
    assert_eq!(body, b"second");
    assert_ne!(first, second);
    // A swap from a version that is no longer there changes nothing.
    match store
        .replace("locks/cas.json", b"third".to_vec(), &first)
        .await
    {
        Err(StoreError::Changed { key, .. }) => assert_eq!(key, "locks/cas.json"),
        other => panic!("a stale swap must be refused, got {other:?}"),
    }
    match store.delete_if("locks/cas.json", &first).await {
        Err(StoreError::Changed { .. }) => {}
        other => panic!("a stale delete must be refused, got {other:?}"),
    }
    assert_eq!(store.get("locks/cas.json").await.unwrap(), b"second");
    store.delete_if("locks/cas.json", &second).await.unwrap();
    assert_not_found(store.get("locks/cas.json").await);
    // Gone: nothing to swap.
    match store
        .replace("locks/cas.json", b"again".to_vec(), &second)
        .await
    {
        Err(StoreError::Changed { .. }) => {}
        other => panic!("a swap of a removed object must be refused, got {other:?}"),
    }
    assert_not_found(store.get("locks/cas.json").await);
    assert!(
        keys(store, "").await.is_empty(),
        "{:?}",
        keys(store, "").await
    );
}

async fn check_passes(b: &Backend) {
    b.store.check_conditional_writes("runs/").await.unwrap();
    b.store.check_conditional_writes("runs/").await.unwrap();
    assert!(
        keys(&b.store, "").await.is_empty(),
        "the probe was not removed"
    );
}

async fn keys_that_climb_out_are_refused(b: &Backend) {
    let store = &b.store;
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("f");
    std::fs::write(&file, b"f").unwrap();
    for key in [
        "../x",
        "a/../../x",
        "..",
        "/etc/passwd",
        "a//b",
        "",
        "./a",
        "a/.",
        "a\\b",
    ] {
        assert_config(store.put(key, b"x".to_vec(), PutMode::Overwrite).await);
        assert_config(store.put_file(key, &file, PutMode::Overwrite).await);
        assert_config(store.get(key).await);
        assert_config(store.get_to_file(key, &scratch.path().join("out")).await);
        assert_config(store.head(key).await);
        assert_config(store.delete(key).await);
    }
    for prefix in ["../", "/", "a/../", "a//"] {
        assert_config(store.list(prefix).await);
    }
    assert!(keys(store, "").await.is_empty());
}

/// Many tasks racing to create one key on a local folder: exactly one wins, on every
/// round, and its bytes are what is stored. (s3s-fs checks `If-None-Match` before it
/// writes, not atomically, so this race is only run against the fs backend.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fs_concurrent_creates_have_exactly_one_winner() {
    let b = Backend::fs().await;
    for round in 0..8 {
        let key = format!("locks/round-{round}.json");
        let mut tasks = Vec::new();
        for writer in 0..24 {
            let store = b.store.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let body = format!("writer {writer}").into_bytes();
                (
                    body.clone(),
                    store.put(&key, body, PutMode::CreateNew).await,
                )
            }));
        }
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (body, Ok(())) => winners.push(body),
                (_, Err(StoreError::AlreadyExists { .. })) => {}
                (_, Err(e)) => panic!("a racing create failed: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
        assert_eq!(b.store.get(&key).await.unwrap(), winners[0]);
    }
    assert_eq!(keys(&b.store, "").await.len(), 8);
    assert_eq!(b.leftovers(), Vec::<String>::new());
}

/// A folder (the start of other keys) is no object. (s3s-fs keeps objects as files too,
/// and answers a GET of such a key with 500 InternalError where S3 says NoSuchKey, so
/// this runs against the fs backend only.)
#[tokio::test]
async fn fs_folders_are_not_objects() {
    let b = Backend::fs().await;
    let store = &b.store;
    store
        .put("dir/inner", b"x".to_vec(), PutMode::Overwrite)
        .await
        .unwrap();
    assert_not_found(store.get("dir").await);
    assert!(store.head("dir").await.unwrap().is_none());
    let scratch = tempfile::tempdir().unwrap();
    assert_not_found(store.get_to_file("dir", &scratch.path().join("out")).await);
    store.delete("dir").await.unwrap();
    assert_eq!(store.get("dir/inner").await.unwrap(), b"x");
}

/// The SDK's default checksums (CRC32 on PutObject and UploadPart, response validation)
/// work against s3s-fs too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_default_checksums_round_trip() {
    let b = Backend::s3_with(false).await;
    b.store
        .put("small", b"checksummed".to_vec(), PutMode::CreateNew)
        .await
        .unwrap();
    assert_eq!(b.store.get("small").await.unwrap(), b"checksummed");
    b.store.delete("small").await.unwrap();
    large_files_stream_both_ways(&b).await;
}

/// Guards the guard: a multipart upload left open is seen by `leftovers`.
#[tokio::test]
async fn s3_pending_uploads_are_detected() {
    let bucket = new_bucket();
    let created = aws(&[
        "s3api",
        "create-multipart-upload",
        "--bucket",
        &bucket,
        "--key",
        "dangling",
        "--output",
        "json",
    ]);
    let created: serde_json::Value = serde_json::from_slice(&created).unwrap();
    let upload_id = created["UploadId"].as_str().unwrap();
    assert_eq!(pending_uploads(&bucket), ["dangling"]);
    aws(&[
        "s3api",
        "abort-multipart-upload",
        "--bucket",
        &bucket,
        "--key",
        "dangling",
        "--upload-id",
        upload_id,
    ]);
    assert_eq!(pending_uploads(&bucket), Vec::<String>::new());
}

fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::NotFound { .. }) => {}
        other => panic!("expected NotFound, got {other:?}"),
    }
}

fn assert_config<T: std::fmt::Debug>(result: Result<T, StoreError>) {
    match result {
        Err(StoreError::Config(_)) => {}
        other => panic!("expected a config error, got {other:?}"),
    }
}

async fn keys(store: &Store, prefix: &str) -> Vec<String> {
    let listed = store.list(prefix).await.unwrap();
    listed.into_iter().map(|m| m.key).collect()
}

/// Bytes that never repeat within the file (xorshift64), so a misplaced part shows.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn sha256(path: &Path) -> Vec<u8> {
    Sha256::digest(std::fs::read(path).unwrap()).to_vec()
}

fn temp_files(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            temp_files(&entry.path(), found);
        } else if entry
            .file_name()
            .to_string_lossy()
            .starts_with(".lifeboat-tmp-")
        {
            found.push(entry.path().display().to_string());
        }
    }
}

/// A bucket no other test uses.
fn new_bucket() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let bucket = format!(
        "conformance-{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    aws(&["s3", "mb", &format!("s3://{bucket}")]);
    bucket
}

/// Runs the AWS CLI against the test server; panics with its stderr when it fails.
fn aws(args: &[&str]) -> Vec<u8> {
    let out = aws_output(args);
    assert!(
        out.status.success(),
        "aws {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn aws_output(args: &[&str]) -> std::process::Output {
    Command::new("aws")
        .args(["--endpoint-url", &crate::s3_server::endpoint()])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the aws CLI (it is on the machine image): {e}"))
}

/// Keys of the bucket's multipart uploads that were neither completed nor aborted.
/// s3s-fs 0.14 does not implement ListMultipartUploads; there, the answer comes from
/// the per-upload metadata files it keeps in its data folder.
fn pending_uploads(bucket: &str) -> Vec<String> {
    let out = aws_output(&[
        "s3api",
        "list-multipart-uploads",
        "--bucket",
        bucket,
        "--output",
        "json",
    ]);
    if out.status.success() {
        let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let uploads = listed["Uploads"].as_array().cloned().unwrap_or_default();
        return uploads
            .iter()
            .map(|u| u["Key"].as_str().unwrap_or_default().to_string())
            .collect();
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("NotImplemented"),
        "list-multipart-uploads failed: {stderr}"
    );
    s3s_fs_pending_uploads(bucket)
}

/// s3s-fs records an open upload of `key` in `bucket` as
/// `.bucket-<b64(bucket)>.object-<b64(key)>.upload-<id>.metadata.json` in its data
/// folder, and removes it on completion or abort.
fn s3s_fs_pending_uploads(bucket: &str) -> Vec<String> {
    let data = s3s_fs_data_folder(bucket);
    let marker = format!(".bucket-{}.object-", base64url(bucket.as_bytes()));
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(&data).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(&marker) else {
            continue;
        };
        if !name.ends_with(".metadata.json") {
            continue;
        }
        if let Some((key, _)) = rest.split_once(".upload-") {
            keys.push(String::from_utf8(base64url_decode(key)).unwrap());
        }
    }
    keys.sort();
    keys
}

/// The data folder `scripts/test` gave s3s-fs (`LIFEBOAT_TEST_S3_DATA_DIR`).
fn s3s_fs_data_folder(bucket: &str) -> PathBuf {
    let dir = std::env::var_os("LIFEBOAT_TEST_S3_DATA_DIR").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "the S3 server does not implement ListMultipartUploads and LIFEBOAT_TEST_S3_DATA_DIR \
             (its data folder) is not set: run the tests with `scripts/test`"
        )
    });
    assert!(
        dir.join(bucket).is_dir(),
        "bucket {bucket} is not in the S3 server's data folder {}",
        dir.display()
    );
    dir
}

const B64URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded URL-safe base64, as s3s-fs names its metadata files.
fn base64url(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64URL[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

fn base64url_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = B64URL.iter().position(|&d| d == c).unwrap() as u32;
        acc = (acc << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}
