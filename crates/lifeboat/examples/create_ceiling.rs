//! The ceiling of a restore's create rate on a cluster (run by `scripts/bench`): a bare
//! parallel client that POSTs every object of a JSON Lines file, namespaces first, with
//! kube-rs over the same HTTP stack lifeboat uses, and nothing else (no backup to read,
//! no verification, no rules, no tiers). Prints `created N in S s`.
//!
//!   create_ceiling KUBECONFIG OBJECTS.jsonl [PARALLEL]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use futures_util::{StreamExt, stream};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;

type BenchResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The collection path of an object (`/api/v1/namespaces/NS/configmaps`).
fn collection(o: &Value) -> Option<String> {
    let api_version = o.get("apiVersion")?.as_str()?;
    let kind = o.get("kind")?.as_str()?;
    let plural = match kind {
        "Namespace" => "namespaces".to_string(),
        "ConfigMap" => "configmaps".to_string(),
        "Secret" => "secrets".to_string(),
        "Service" => "services".to_string(),
        other => format!("{}s", other.to_ascii_lowercase()),
    };
    let root = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    Some(
        match o.pointer("/metadata/namespace").and_then(Value::as_str) {
            Some(ns) => format!("{root}/namespaces/{ns}/{plural}"),
            None => format!("{root}/{plural}"),
        },
    )
}

async fn create(client: &kube::Client, o: &Value) -> BenchResult {
    let path = collection(o).ok_or("an object without apiVersion or kind")?;
    let request = http::Request::post(path)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(o)?)?;
    client.request::<Value>(request).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> BenchResult {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kubeconfig), Some(objects)) = (args.get(1), args.get(2)) else {
        return Err("usage: create_ceiling KUBECONFIG OBJECTS.jsonl [PARALLEL]".into());
    };
    let parallel: usize = args.get(3).and_then(|p| p.parse().ok()).unwrap_or(16);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(PathBuf::from(kubeconfig))?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let client = kube::Client::try_from(config)?;
    let text = std::fs::read_to_string(objects)?;
    let all: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(serde_json::from_str)
        .collect::<Result<_, _>>()?;
    let (namespaces, rest): (Vec<Value>, Vec<Value>) =
        all.into_iter().partition(|o| o["kind"] == "Namespace");
    let started = Instant::now();
    let failed = Arc::new(AtomicU64::new(0));
    for batch in [namespaces, rest] {
        stream::iter(batch)
            .for_each_concurrent(parallel, |o| {
                let client = client.clone();
                let failed = failed.clone();
                async move {
                    if let Err(e) = create(&client, &o).await
                        && failed.fetch_add(1, Ordering::Relaxed) < 3
                    {
                        eprintln!("create_ceiling: {e}");
                    }
                }
            })
            .await;
    }
    let secs = started.elapsed().as_secs_f64();
    let lines = text.lines().filter(|l| !l.trim().is_empty()).count() as u64;
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "created {} in {secs:.3} s ({failed} failed)",
        lines - failed
    );
    Ok(())
}
