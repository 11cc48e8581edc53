//! Capacity of the sandbox (run by `scripts/bench`). Two cases:
//!
//! - ConfigMaps: parallel creates per second over HTTP with kube-rs, listing 10,000
//!   objects in pages of 500, and memory with 100,000 objects in the store;
//! - a workload: 100,000 objects in 20 namespaces, a quarter of them Deployments (the
//!   rest ConfigMaps, Secrets and Services), created over HTTP by parallel clients while
//!   the simulated controllers roll the Deployments out; then how long until every
//!   Deployment is available, the CPU the settled controllers burn, memory, and a list
//!   of everything in pages of 500 (what a backup does).
//!
//! The workload runs in a child process of its own (`sandbox_bench workload`), so its
//! memory figures are its own. `LIFEBOAT_BENCH_WORKLOAD` changes its object count.
//! Prints figures; asserts nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, PostParams};
use kube::core::GroupVersionKind;
use kube_sandbox::store::{EventType, ListQuery, Store, WriteOptions};
use kube_sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

type BenchResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Parallel clients of both cases.
const WORKERS: usize = 16;
/// Namespaces of the workload case.
const NAMESPACES: usize = 20;

fn proc_status(field: &str) -> Option<f64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn rss_mib() -> f64 {
    proc_status("VmRSS:").map_or(0.0, |kb| kb / 1024.0)
}

fn peak_rss_mib() -> f64 {
    proc_status("VmHWM:").map_or(0.0, |kb| kb / 1024.0)
}

/// CPU seconds this process has used (user + system).
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which ends with ')'): utime and stime are the
    // 12th and 13th, in clock ticks of 1/100 s.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    ticks(11).unwrap_or(0.0) / 100.0 + ticks(12).unwrap_or(0.0) / 100.0
}

fn config_map(i: usize) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": format!("cm-{i:06}"), "labels": { "app": "bench", "shard": (i % 10).to_string() } },
        "data": { "key": "value", "index": i.to_string() },
    }))
    .unwrap_or_default()
}

#[tokio::main]
async fn main() -> BenchResult {
    if std::env::args().nth(1).as_deref() == Some("workload") {
        return workload().await;
    }
    config_maps().await?;
    let status = std::process::Command::new(std::env::current_exe()?)
        .arg("workload")
        .status()?;
    if !status.success() {
        return Err(format!("the workload case failed ({status})").into());
    }
    Ok(())
}

/// The ConfigMap case.
async fn config_maps() -> BenchResult {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let client = sandbox.client()?;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");

    let total = 10_000;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WORKERS {
        let cms = cms.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..total).step_by(WORKERS) {
                cms.create(&PostParams::default(), &config_map(i)).await?;
            }
            Ok::<(), kube::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sandbox: {total} creates over HTTP, {WORKERS} clients: {secs:.2} s ({:.0} creates/s; target: thousands/s)",
        total as f64 / secs
    );

    let start = Instant::now();
    let mut params = ListParams::default().limit(500);
    let mut listed = 0;
    loop {
        let page = cms.list(&params).await?;
        listed += page.items.len();
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => params = params.continue_token(&c),
            _ => break,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sandbox: list of {listed} objects in pages of 500: {:.0} ms (target: well under 1 s)",
        secs * 1000.0
    );

    let store = sandbox.store().clone();
    let catalog = store.catalog();
    let t = catalog
        .by_path("", "v1", "configmaps")
        .cloned()
        .ok_or("no configmaps type")?;
    let start = Instant::now();
    let mut query = ListQuery {
        limit: Some(500),
        ..Default::default()
    };
    let mut bytes = 0;
    let mut serialize = Duration::ZERO;
    loop {
        let page = store
            .list(&t, Some("default"), &query)
            .map_err(|e| e.message)?;
        let t0 = Instant::now();
        bytes += page
            .items
            .iter()
            .map(|o| o.to_string().len())
            .sum::<usize>();
        serialize += t0.elapsed();
        match page.continue_token {
            Some(c) => query.continue_token = Some(c),
            None => break,
        }
    }
    println!(
        "sandbox: the same pages inside the store: {:.0} ms, {:.0} ms of it serializing {:.1} MiB of JSON (the rest is HTTP and the client)",
        start.elapsed().as_secs_f64() * 1000.0,
        serialize.as_secs_f64() * 1000.0,
        bytes as f64 / 1_048_576.0
    );

    let before = rss_mib();
    let start = Instant::now();
    for i in total..100_000 {
        let obj = serde_json::to_value(config_map(i))?;
        store
            .create(&t, Some("default"), obj, WriteOptions::default())
            .map_err(|e| e.message)?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sandbox: 100,000 objects in memory: {:.0} MiB resident ({:.0} MiB for the last 90,000; {:.0} creates/s in-process)",
        rss_mib(),
        rss_mib() - before,
        90_000.0 / secs
    );
    Ok(())
}

/// The workload case.
async fn workload() -> BenchResult {
    let total: usize = std::env::var("LIFEBOAT_BENCH_WORKLOAD")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let rss_before = rss_mib();
    create_namespaces(&sandbox).await?;
    roll_out(&sandbox, total).await?;
    report_settled(sandbox.store(), rss_before).await;
    report_lists(&sandbox).await
}

/// Creates the workload and waits for the controllers to finish with it, printing
/// creates/s and how long they took.
async fn roll_out(sandbox: &Sandbox, total: usize) -> BenchResult {
    let start = Instant::now();
    let rollouts = tokio::spawn(watch_rollouts(sandbox.store().clone(), total / 4));
    create_workload(sandbox, total).await?;
    let created = start.elapsed().as_secs_f64();
    println!(
        "sandbox workload: {total} creates over HTTP ({} Deployments, {NAMESPACES} namespaces, {WORKERS} clients): {created:.1} s ({:.0} creates/s; target: thousands/s)",
        total / 4,
        total as f64 / created
    );
    tokio::time::timeout(Duration::from_secs(600), rollouts).await???;
    let available = start.elapsed().as_secs_f64();
    let quiet = quiet_since(sandbox.store(), Duration::from_secs(1)).await;
    println!(
        "sandbox workload: every Deployment available {available:.1} s after the first create ({:.1} s after the last); the controllers' last write at {:.1} s",
        available - created,
        quiet.duration_since(start).as_secs_f64()
    );
    Ok(())
}

/// Prints what the settled sandbox costs: CPU, writes and memory.
async fn report_settled(store: &Store, rss_before: f64) {
    let (cpu, writes) = idle_load(store, Duration::from_secs(3)).await;
    println!(
        "sandbox workload: settled: {:.0}% CPU, {writes} writes in 3 s; {:.0} MiB resident ({:.0} MiB for the workload; peak {:.0} MiB); {} objects stored",
        cpu * 100.0,
        rss_mib(),
        rss_mib() - rss_before,
        peak_rss_mib(),
        store.len()
    );
}

/// Prints how long listing everything takes, over HTTP and inside the store.
async fn report_lists(sandbox: &Sandbox) -> BenchResult {
    let start = Instant::now();
    let listed = list_everything(sandbox).await?;
    println!(
        "sandbox workload: list of all {listed} objects in pages of 500 over HTTP: {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    let listed = list_in_store(sandbox.store())?;
    println!(
        "sandbox workload: the same pages inside the store: {listed} objects in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn team(i: usize) -> String {
    format!("team-{:02}", i % NAMESPACES)
}

async fn create_namespaces(sandbox: &Sandbox) -> BenchResult {
    let api: Api<DynamicObject> = Api::all_with(sandbox.client()?, &resource("", "Namespace"));
    for t in 0..NAMESPACES {
        let ns =
            json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": team(t) } });
        api.create(&PostParams::default(), &serde_json::from_value(ns)?)
            .await?;
    }
    Ok(())
}

/// The `ApiResource` of a built-in kind (`apps/v1` when `group` is "apps").
fn resource(group: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, "v1", kind))
}

/// Object `i` of the workload: ConfigMap, Secret, Service or Deployment in turn (as
/// `scripts/bench_backup.py` seeds them).
fn workload_object(i: usize) -> Value {
    let name = format!("obj-{i:06}");
    let meta = json!({ "name": name, "namespace": team(i), "labels": { "app": format!("app-{}", i % 50), "tier": if i.is_multiple_of(3) { "batch" } else { "web" } } });
    match i % 4 {
        0 => json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                     "data": { "LOG_LEVEL": "info", "INDEX": i.to_string(), "FEATURES": "a,b,c,d" } }),
        1 => json!({ "apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque",
                     "data": { "token": "c2VjcmV0LXZhbHVlLXRoYXQtaXMtbG9uZw==" } }),
        2 => json!({ "apiVersion": "v1", "kind": "Service", "metadata": meta,
                     "spec": { "selector": { "app": format!("app-{}", i % 50) }, "ports": [ { "port": 80, "targetPort": 8080 } ] } }),
        _ => json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta,
                     "spec": { "replicas": 2, "selector": { "matchLabels": { "app": name } },
                               "template": { "metadata": { "labels": { "app": name } },
                                             "spec": { "containers": [ { "name": "app", "image": "registry.example/app:1.2.3", "ports": [ { "containerPort": 8080 } ] } ] } } } }),
    }
}

/// Creates the workload with parallel clients, printing the rate of each quarter (so
/// a rate that falls as the store grows shows).
async fn create_workload(sandbox: &Sandbox, total: usize) -> BenchResult {
    let kinds = [
        resource("", "ConfigMap"),
        resource("", "Secret"),
        resource("", "Service"),
        resource("apps", "Deployment"),
    ];
    let quarter = total.div_ceil(4);
    for q in 0..4 {
        let range = q * quarter..((q + 1) * quarter).min(total);
        let start = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..WORKERS {
            let (client, kinds, range) = (sandbox.client()?, kinds.clone(), range.clone());
            tasks.push(tokio::spawn(async move {
                for i in range.skip(w).step_by(WORKERS) {
                    let api: Api<DynamicObject> =
                        Api::namespaced_with(client.clone(), &team(i), &kinds[i % 4]);
                    let obj: DynamicObject = serde_json::from_value(workload_object(i))?;
                    api.create(&PostParams::default(), &obj).await?;
                }
                BenchResult::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        println!(
            "sandbox workload: objects {}..{}: {:.0} creates/s, {:.0} MiB resident",
            range.start,
            range.end,
            range.len() as f64 / start.elapsed().as_secs_f64(),
            rss_mib()
        );
    }
    Ok(())
}

/// Follows the store's changes until `expected` Deployments report every replica
/// available for their current generation.
async fn watch_rollouts(store: Arc<Store>, expected: usize) -> BenchResult {
    let Some((_, mut feed)) = store.watch_from(store.resource_version()) else {
        return Err("cannot watch the store".into());
    };
    let mut available = HashSet::new();
    while available.len() < expected {
        match feed.recv().await {
            Ok(e) if e.resource == "deployments" => {
                let key = e.object.pointer("/metadata/uid").cloned();
                if e.kind != EventType::Deleted && rolled_out(&e.object) {
                    available.insert(key);
                } else {
                    available.remove(&key);
                }
            }
            Ok(_) => {}
            // Fell behind: count from the store instead.
            Err(RecvError::Lagged(_)) => available = rolled_out_now(&store)?,
            Err(RecvError::Closed) => return Err("the store is gone".into()),
        }
    }
    Ok(())
}

/// The uids of the Deployments rolled out now.
fn rolled_out_now(store: &Store) -> BenchResult<HashSet<Option<Value>>> {
    let catalog = store.catalog();
    let t = catalog
        .by_path("apps", "v1", "deployments")
        .ok_or("no deployments type")?;
    let page = store
        .list(t, None, &ListQuery::default())
        .map_err(|e| e.message)?;
    Ok(page
        .items
        .iter()
        .filter(|d| rolled_out(d))
        .map(|d| d.pointer("/metadata/uid").cloned())
        .collect())
}

/// Waits until the store took no write for `quiet`; when it took the last one.
async fn quiet_since(store: &Store, quiet: Duration) -> Instant {
    let (mut rv, mut changed) = (store.resource_version(), Instant::now());
    while changed.elapsed() < quiet {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = store.resource_version();
        if now != rv {
            (rv, changed) = (now, Instant::now());
        }
    }
    changed
}

fn rolled_out(deploy: &Value) -> bool {
    let int = |p: &str| deploy.pointer(p).and_then(Value::as_i64);
    int("/status/observedGeneration") == int("/metadata/generation")
        && int("/status/availableReplicas") == int("/spec/replicas")
}

/// The share of one core this process used over `window` while nothing was asked of
/// the sandbox, and how many writes the store took meanwhile.
async fn idle_load(store: &Store, window: Duration) -> (f64, u64) {
    let (cpu, rv) = (cpu_seconds(), store.resource_version());
    tokio::time::sleep(window).await;
    (
        (cpu_seconds() - cpu) / window.as_secs_f64(),
        store.resource_version() - rv,
    )
}

/// The kinds the workload made (and the controllers, and every namespace has).
const LISTED: &[(&str, &str)] = &[
    ("", "Namespace"),
    ("", "ServiceAccount"),
    ("", "ConfigMap"),
    ("", "Secret"),
    ("", "Service"),
    ("apps", "Deployment"),
    ("apps", "ReplicaSet"),
];

/// Lists every kind of `LISTED` in pages of 500 from the store itself (no HTTP); the
/// number of objects.
fn list_in_store(store: &Store) -> BenchResult<usize> {
    let catalog = store.catalog();
    let mut listed = 0;
    for (group, kind) in LISTED {
        let version = if group.is_empty() {
            "v1".to_string()
        } else {
            format!("{group}/v1")
        };
        let t = catalog.by_kind(&version, kind).ok_or("no such kind")?;
        let mut query = ListQuery {
            limit: Some(500),
            ..Default::default()
        };
        loop {
            let page = store.list(t, None, &query).map_err(|e| e.message)?;
            listed += page.items.len();
            match page.continue_token {
                Some(c) => query.continue_token = Some(c),
                None => break,
            }
        }
    }
    Ok(listed)
}

/// Lists every kind the workload made (and what the controllers made) across all
/// namespaces in pages of 500 over HTTP; the number of objects.
async fn list_everything(sandbox: &Sandbox) -> BenchResult<usize> {
    let client = sandbox.client()?;
    let mut listed = 0;
    for (group, kind) in LISTED {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource(group, kind));
        let mut params = ListParams::default().limit(500);
        loop {
            let page = api.list(&params).await?;
            listed += page.items.len();
            match page.metadata.continue_ {
                Some(c) if !c.is_empty() => params = params.continue_token(&c),
                _ => break,
            }
        }
    }
    Ok(listed)
}
