//! Runs through faults: seeded fault-injecting proxies (`testbed::FaultProxy`) in front
//! of the S3 server and of the clusters answer a share of the requests with 500, 503 or
//! 429, reset connections before or after the server acted, stall past the client's
//! timeout, or cut bodies short. A backup, its copy and its restore, with the journal
//! and the lock in the same store, must complete, or fail cleanly so that `resume`
//! completes them; never a manifest over a missing or bad part, never a restored object
//! that differs from the backup, and the journal always replays. Scenarios run at 10%
//! and 30%, against the S3 server, the sandbox and the real control plane.

use std::path::Path;
use std::time::Duration;

use crate::backup_restore::{Bucket, all_objects, app_cluster, differences};
use crate::harness::{Test, TestRunbook};
use crate::s3_server::endpoint;
use crate::served::Served;
use lifeboat::journal::Lock;
use lifeboat::store::{PutMode, S3Config, Store, StoreConfig};
use testbed::{ControlPlane, Fault, FaultPlan, FaultProxy, Kube, kubeconfig_through};

/// Which requests meet faults, how often, from which seed.
#[derive(Clone, Copy)]
struct Faults {
    seed: u64,
    store: f64,
    clusters: f64,
}

/// The client timeout of the clusters in these runs; a stall lasts longer.
const CLUSTER_TIMEOUT: &str = "2s";
const STALL: Duration = Duration::from_secs(3);

/// Every fault kind, stalls included, for a cluster (whose timeout is short).
fn cluster_plan(seed: u64, rate: f64) -> FaultPlan {
    let mut plan = FaultPlan::every_kind(seed, rate);
    plan.faults.push(Fault::Stall(STALL));
    plan
}

/// The bucket's `prefix` as a store reached through `proxy`.
fn store_through(bucket: &Bucket, prefix: &str, proxy: &FaultProxy) -> String {
    format!(
        "{{ s3: {{ bucket: {}, prefix: {prefix}, endpoint: \"{}\", region: us-east-1, path_style: true, checksum: when_required }} }}",
        bucket.name,
        proxy.url()
    )
}

/// The bucket's `dr/` prefix as a store reached through `proxy`, opened in-process.
async fn s3_store_through(bucket: &Bucket, proxy: &FaultProxy) -> Store {
    Store::open(&StoreConfig::S3(S3Config {
        bucket: bucket.name.clone(),
        prefix: "dr/".into(),
        region: Some("us-east-1".into()),
        endpoint: Some(proxy.url()),
        path_style: true,
        checksum_when_required: true,
    }))
    .await
    .unwrap_or_else(|e| panic!("{e}"))
}

/// The objects of namespace `app`. A claim's volume is left out: the backup holds
/// the namespace only, not the PersistentVolumes, so on the target each claim binds
/// a volume of its own.
fn in_app(
    objects: std::collections::BTreeMap<String, serde_json::Value>,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    objects
        .into_iter()
        .filter(|(key, _)| key.split(' ').nth(1).is_some_and(|n| n.starts_with("app/")))
        .map(|(key, mut object)| {
            if key.starts_with("persistentvolumeclaims ")
                && let Some(spec) = object.get_mut("spec").and_then(|s| s.as_object_mut())
            {
                spec.remove("volumeName");
            }
            (key, object)
        })
        .collect()
}

/// Backs up namespace `app` of `a`, copies the backup to a second prefix and restores
/// it into `b`, with the state in the store, everything through proxies with `faults`;
/// resumes up to 5 times what fails; then checks the restore, both backups and the
/// journal.
fn round_trip_through_faults(tag: &str, a: &dyn Kube, b: &dyn Kube, faults: Faults) {
    let bucket = Bucket::new(tag);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let store_proxy = FaultProxy::start(
        &endpoint(),
        FaultPlan::every_kind(faults.seed, faults.store),
    );
    let a_config = dir.path().join("a.kubeconfig");
    let b_config = dir.path().join("b.kubeconfig");
    let a_proxy = kubeconfig_through(
        a.kubeconfig(),
        &a_config,
        cluster_plan(faults.seed + 1, faults.clusters),
    );
    let b_proxy = kubeconfig_through(
        b.kubeconfig(),
        &b_config,
        cluster_plan(faults.seed + 2, faults.clusters),
    );
    let requests = format!("requests: {{ timeout: {CLUSTER_TIMEOUT} }}");
    let rb = TestRunbook::new(tag)
        .cluster_with("a", &a_config, &requests)
        .cluster_with("b", &b_config, &requests)
        .store("vault", &store_through(&bucket, "dr/", &store_proxy))
        .store("offsite", &store_through(&bucket, "offsite/", &store_proxy))
        .state_in("vault")
        .steps(concat!(
            "  - { id: backup, uses: backup, cluster: a, with: { store: vault, namespaces: [ app ] } }\n",
            "  - { id: copy, uses: copy_backup, with: { from: vault, to: offsite, backup: \"${{ steps.backup.outputs.backup_id }}\" } }\n",
            "  - id: restore\n    uses: restore\n    cluster: b\n    with: { store: offsite, backup: \"${{ steps.backup.outputs.backup_id }}\", verify: true }\n",
            // Read back again: drift would fail it (a retried read is still a read).
            "  - { id: check, uses: verify_restore, cluster: b, with: { store: offsite, backup: \"${{ steps.backup.outputs.backup_id }}\" } }\n",
        ))
        .write(dir.path());
    let (status, stdout) = run_then_resume(&rb);
    let faulted = store_proxy.faults() + a_proxy.faults() + b_proxy.faults();
    assert_eq!(
        status, 0,
        "neither the run nor 5 resumes completed through {faulted} faults:\n{stdout}"
    );
    assert!(
        store_proxy.faults() > 0 || faults.store == 0.0,
        "no store request met a fault"
    );
    assert!(
        a_proxy.faults() + b_proxy.faults() > 0 || faults.clusters == 0.0,
        "no cluster request met a fault"
    );
    // Every restored object of the namespace equals its original.
    let (problems, compared) = differences(&in_app(all_objects(a)), &in_app(all_objects(b)));
    assert!(
        problems.is_empty(),
        "{} of {compared} differ:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(compared >= 15, "only {compared} objects compared");
    // Both committed backups are whole: every part there, as its manifest says.
    let keys = bucket.keys();
    for prefix in ["dr", "offsite"] {
        let id = keys
            .iter()
            .find_map(|k| {
                k.strip_prefix(&format!("{prefix}/backups/"))?
                    .strip_suffix("/manifest.json")
            })
            .unwrap_or_else(|| panic!("no manifest under {prefix}/: {keys:?}"));
        Test::new()
            .args(["backups", "verify", id, "--store"])
            .arg(format!("s3://{}/{prefix}/", bucket.name))
            .env("AWS_ENDPOINT_URL", endpoint())
            .stdout_contains("parts verified")
            .run();
    }
    // The journal replays.
    Test::new()
        .args(["status", "--runbook"])
        .arg(&rb)
        .stdout_contains("succeeded")
        .run();
}

/// Runs `rb`; when it fails (it must fail cleanly, exit 1, naming its run id), resumes
/// it up to 5 times. The last exit status and output.
fn run_then_resume(rb: &Path) -> (i32, String) {
    let first = Test::new()
        .args(["run", "--output", "json"])
        .arg(rb)
        .status_any()
        .run();
    if first.status == 0 {
        return (0, first.stdout);
    }
    assert_eq!(
        first.status, 1,
        "the run did not fail cleanly:\n{}\n{}",
        first.stdout, first.stderr
    );
    let id = first
        .stdout
        .lines()
        .find_map(|l| l.split("\"run_id\":\"").nth(1))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| {
            panic!(
                "the failed run named no run id:\n{}\n{}",
                first.stdout, first.stderr
            )
        })
        .to_string();
    let mut outcome = (first.status, format!("{}\n{}", first.stdout, first.stderr));
    for _ in 0..5 {
        // The failed run's process is gone; its resume takes its own lock at once.
        let resumed = Test::new()
            .args([
                "resume",
                &id,
                "--steal-lock",
                "--output",
                "json",
                "--runbook",
            ])
            .arg(rb)
            .status_any()
            .run();
        assert!(
            resumed.status == 0 || resumed.status == 1,
            "a resume did not fail cleanly:\n{}\n{}",
            resumed.stdout,
            resumed.stderr
        );
        outcome = (
            resumed.status,
            format!("{}\n{}", resumed.stdout, resumed.stderr),
        );
        if outcome.0 == 0 {
            break;
        }
    }
    outcome
}

const STORE_ONLY: fn(u64, f64) -> Faults = |seed, rate| Faults {
    seed,
    store: rate,
    clusters: 0.0,
};
const EVERYWHERE: fn(u64, f64) -> Faults = |seed, rate| Faults {
    seed,
    store: rate,
    clusters: rate,
};

#[test]
fn a_round_trip_completes_through_10_percent_s3_faults() {
    let (a, b) = (app_cluster(), Served::start(&[]));
    round_trip_through_faults("faults-s3-10", &a, &b, STORE_ONLY(10, 0.10));
}

#[test]
fn a_round_trip_completes_through_30_percent_s3_faults() {
    let (a, b) = (app_cluster(), Served::start(&[]));
    round_trip_through_faults("faults-s3-30", &a, &b, STORE_ONLY(30, 0.30));
}

#[test]
fn a_round_trip_completes_through_10_percent_faults_of_the_sandbox_and_s3() {
    let (a, b) = (app_cluster(), Served::start(&[]));
    round_trip_through_faults("faults-sb-10", &a, &b, EVERYWHERE(110, 0.10));
}

#[test]
fn a_round_trip_completes_through_30_percent_faults_of_the_sandbox_and_s3() {
    let (a, b) = (app_cluster(), Served::start(&[]));
    round_trip_through_faults("faults-sb-30", &a, &b, EVERYWHERE(130, 0.30));
}

/// A control plane with namespace `app` of the project's fixtures.
fn app_control_plane() -> ControlPlane {
    let a = ControlPlane::start();
    crate::real_restore::seed_app(&a);
    a
}

#[test]
fn a_round_trip_completes_through_10_percent_faults_of_control_planes_and_s3() {
    let (a, b) = (app_control_plane(), ControlPlane::start());
    round_trip_through_faults("faults-cp-10", &a, &b, EVERYWHERE(210, 0.10));
}

#[test]
fn a_round_trip_completes_through_30_percent_faults_of_control_planes_and_s3() {
    let (a, b) = (app_control_plane(), ControlPlane::start());
    round_trip_through_faults("faults-cp-30", &a, &b, EVERYWHERE(230, 0.30));
}

/// `gitops_pause` (its step retried when an attempt fails) and its undo, run by a
/// failed check's rollback, with every request to the cluster meeting `rate` faults:
/// the pause records every object as it was before the step, and after the rollback
/// every Argo CD and Flux object is exactly as it was.
fn gitops_pause_through_faults(tag: &str, k: &dyn Kube, seed: u64, rate: f64) {
    crate::gitops::seed_gitops(k);
    let before = crate::gitops::gitops_objects(k);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = dir.path().join("c.kubeconfig");
    let proxy = kubeconfig_through(k.kubeconfig(), &config, cluster_plan(seed, rate));
    let rb = TestRunbook::new(tag)
        .cluster_with("c", &config, &format!("requests: {{ timeout: {CLUSTER_TIMEOUT} }}"))
        .steps(concat!(
            "  - { id: pause, uses: gitops_pause, cluster: c, retry: { attempts: 3, backoff: 100ms }, undo: {} }\n",
            "  - { id: check, uses: sleep, with: { duration: 1ms }, on_failure: rollback }\n",
        ))
        .write(dir.path());
    let out = Test::new()
        .args(["run", "--output", "json", "--inject-failure", "check"])
        .arg(&rb)
        .status(1)
        .run();
    let events = crate::backup_restore::json_lines(&out.stdout);
    assert!(proxy.faults() > 0, "no cluster request met a fault");
    let paused = crate::backup_restore::outputs(&events, "pause");
    assert_eq!(
        (&paused["paused"], &paused["already_paused"]),
        (&serde_json::json!("8"), &serde_json::json!("1")),
        "through {} faults: {paused}",
        proxy.faults()
    );
    crate::gitops::undone_cleanly(&events);
    let problems = crate::gitops::differences(&before, &crate::gitops::gitops_objects(k));
    assert!(
        problems.is_empty(),
        "after the rollback through {} faults:\n{}",
        proxy.faults(),
        problems.join("\n")
    );
}

#[test]
fn gitops_pause_and_its_undo_complete_through_30_percent_faults_of_the_sandbox() {
    gitops_pause_through_faults("faults-gitops-sb", &Served::start(&[]), 430, 0.30);
}

#[test]
fn gitops_pause_and_its_undo_complete_through_30_percent_faults_of_a_control_plane() {
    gitops_pause_through_faults("faults-gitops-cp", &ControlPlane::start(), 530, 0.30);
}

/// Renews a lock in S3 through 30% faults: every renewal either lands or fails as a
/// transient error, never as a lock lost to another holder (a renewal whose answer was
/// lost is recognised as its own by its token), and the lock is ours at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_renewals_through_30_percent_s3_faults_never_lose_the_lock() {
    let bucket = Bucket::new("faults-lock");
    let proxy = tokio::task::spawn_blocking(|| {
        FaultProxy::start(&endpoint(), FaultPlan::every_kind(330, 0.30))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let store = s3_store_through(&bucket, &proxy).await;
    let mut lock = Lock::acquire(&store, "renewals", "run-1", false)
        .await
        .unwrap_or_else(|e| panic!("the lock was not taken: {e}"));
    let mut landed = 0;
    for _ in 0..20 {
        match lock.renew().await {
            Ok(()) => landed += 1,
            Err(e) => assert!(
                !matches!(e, lifeboat::journal::LockError::Lost { .. }),
                "a renewal lost the lock to nobody: {e}"
            ),
        }
    }
    assert!(landed >= 15, "only {landed} of 20 renewals landed");
    assert!(proxy.faults() > 0, "no request met a fault");
    // Nobody else can take it: it is ours, and live.
    let other = Lock::acquire(&store, "renewals", "run-2", true).await;
    assert!(other.is_err(), "another run took a live lock");
    lock.release()
        .await
        .unwrap_or_else(|e| panic!("the lock was not released: {e}"));
    drop(proxy);
}

/// A store that ignores `If-None-Match` (the proxy answers its refusals with 200).
fn unconditional_store() -> FaultProxy {
    FaultProxy::start(
        &endpoint(),
        FaultPlan {
            ignore_conditions: true,
            ..FaultPlan::none()
        },
    )
}

#[test]
fn a_state_store_that_ignores_conditional_writes_is_refused_before_anything_is_written() {
    let bucket = Bucket::new("unconditional-state");
    let proxy = unconditional_store();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("unconditional")
        .store("vault", &store_through(&bucket, "dr/", &proxy))
        .state_in("vault")
        .steps("  - { id: wait, uses: sleep, with: { duration: 1ms } }\n")
        .write(dir.path());
    Test::new()
        .arg("run")
        .arg(&rb)
        .status(2)
        .stderr_contains("does not honour conditional writes")
        .stderr_contains("keep the state")
        .run();
    let keys = bucket.keys();
    assert!(
        keys.iter()
            .all(|k| !k.contains("/events/") && !k.contains("lock")),
        "the refused run wrote its journal or lock: {keys:?}"
    );
}

#[test]
fn a_backup_into_a_store_that_ignores_conditional_writes_says_so() {
    let a = app_cluster();
    let bucket = Bucket::new("unconditional-backup");
    let proxy = unconditional_store();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("unconditional-backup")
        .cluster("a", &a.kubeconfig)
        .store("vault", &store_through(&bucket, "dr/", &proxy))
        .steps("  - { id: backup, uses: backup, cluster: a, with: { store: vault, namespaces: [ app ] } }\n")
        .write(dir.path());
    let out = Test::new().args(["run", "--output", "json"]).arg(&rb).run();
    assert!(
        out.stdout.contains("does not honour conditional writes"),
        "no warning:\n{}",
        out.stdout
    );
}

/// The soak behind `scripts/bench --soak`: the sandbox-and-S3 round trip at 30% faults
/// for `LIFEBOAT_SOAK_SEEDS` seeds (default 20), one after another. Not part of
/// `scripts/test` (it takes many minutes).
#[test]
#[ignore = "a soak: scripts/bench --soak runs it"]
fn soak_round_trips_through_30_percent_faults_with_many_seeds() {
    let seeds: u64 = std::env::var("LIFEBOAT_SOAK_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    for seed in 0..seeds {
        let started = std::time::Instant::now();
        let (a, b) = (app_cluster(), Served::start(&[]));
        round_trip_through_faults(
            &format!("soak-{seed}"),
            &a,
            &b,
            EVERYWHERE(1000 + seed, 0.30),
        );
        println!(
            "soak seed {seed}: completed in {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
}

/// S3 answers a multipart completion that failed after its answer began with 200 OK and
/// an error in the body. The first completion of a 20 MiB upload meets that: the
/// upload is retried to completion, and the object read back is the file, whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_completion_answered_200_with_an_error_is_retried_and_the_object_is_whole() {
    let bucket = Bucket::new("faults-multipart");
    let proxy = tokio::task::spawn_blocking(|| {
        FaultProxy::start(
            &endpoint(),
            FaultPlan {
                seed: 1,
                rate: 1.0,
                faults: vec![Fault::OkWithErrorBody],
                ignore_conditions: false,
                max_faults: Some(1),
                only: None,
            },
        )
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let store = s3_store_through(&bucket, &proxy).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let file = dir.path().join("big");
    let content: Vec<u8> = (0..20 * 1024 * 1024 + 777u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&file, &content).unwrap_or_else(|e| panic!("{e}"));
    store
        .put_file("big", &file, PutMode::CreateNew)
        .await
        .unwrap_or_else(|e| panic!("the upload did not complete: {e}"));
    let completions: Vec<_> = proxy
        .seen()
        .into_iter()
        .filter(|(_, request, _)| request.starts_with("POST") && request.contains("uploadId="))
        .collect();
    assert!(
        completions
            .first()
            .is_some_and(|(_, _, f)| *f == Some(Fault::OkWithErrorBody)),
        "the first completion did not meet the fault: {completions:?}"
    );
    let back = dir.path().join("back");
    store
        .get_to_file("big", &back)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        std::fs::read(&back).unwrap_or_default() == content,
        "the object read back differs from the file"
    );
    drop(proxy);
}
