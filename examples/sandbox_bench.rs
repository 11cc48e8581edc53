//! Capacity of the sandbox (run by `scripts/bench`): parallel creates per second over
//! HTTP with kube-rs, listing 10,000 objects in pages of 500, and memory with 100,000
//! objects in the store. Prints figures; asserts nothing.

use std::time::Instant;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use lifeboat::sandbox::store::WriteOptions;
use lifeboat::sandbox::{Sandbox, SandboxOptions};
use serde_json::json;

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
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
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sandbox = Sandbox::start(SandboxOptions::default()).await?;
    let client = sandbox.client()?;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");

    let total = 10_000;
    let workers = 16;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..workers {
        let cms = cms.clone();
        tasks.push(tokio::spawn(async move {
            for i in (w..total).step_by(workers) {
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
        "sandbox: {total} creates over HTTP, {workers} clients: {secs:.2} s ({:.0} creates/s; target: thousands/s)",
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
    let mut query = lifeboat::sandbox::store::ListQuery {
        limit: Some(500),
        ..Default::default()
    };
    let mut bytes = 0;
    let mut serialize = std::time::Duration::ZERO;
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
