//! `job`: runs a Kubernetes Job to completion and keeps its logs (database dumps, data
//! checks).

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{CheckInputs, Output, out};
use crate::cluster::{ClusterConn, discovery, objects};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::Spanned;
use crate::runbook::model::{Duration, OrExpr};

pub const NAME: &str = "job";
pub const SUMMARY: &str = "Run a Kubernetes Job to completion and keep its logs.";
pub const ON_CLUSTER: bool = true;
/// Asks the operator at a terminal before it runs: it runs containers in a cluster.
pub const CONFIRM: bool = true;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "creates the Job with dryRun=All (validated, not run)";
pub const OUTPUTS: &[Output] = &[
    out("job_name", "name of the Job created"),
    out("succeeded", "pods that succeeded"),
    out("logs", "the Job's logs (truncated to 64 KiB)"),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "JobInputs")]
pub struct Inputs {
    pub namespace: String,
    /// Name of the Job (default: the step id and the run id).
    #[serde(default)]
    pub name: Option<String>,
    /// The Job's `spec`, as in a Job manifest.
    pub spec: serde_json::Value,
    /// Give up after this long (default 30m).
    #[serde(default)]
    pub timeout: Option<Spanned<OrExpr<Duration>>>,
    /// Keep the Job after it completes (default: delete it, logs are kept in the outputs).
    #[serde(default)]
    pub keep: OrExpr<bool>,
}

impl CheckInputs for Inputs {}

const POLL: std::time::Duration = std::time::Duration::from_millis(250);
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);
/// At most this much of the Job's logs is kept.
const KEEP: usize = 64 * 1024;

/// Creates the Job (named after the step and the run unless `name` says otherwise, so
/// a re-run finds its own), waits for Complete or Failed, keeps its pods' logs, and
/// deletes it unless `keep`.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let job_type = discovery::resolve(&conn, "Job", Some("batch/v1")).await?;
    let ns = i.namespace.as_str();
    let name = i.name.clone().unwrap_or_else(|| {
        let n = format!("{}-{}", ctx.step, ctx.run.run_id)
            .to_ascii_lowercase()
            .replace('_', "-");
        n.chars()
            .take(63)
            .collect::<String>()
            .trim_end_matches('-')
            .to_string()
    });
    let body = json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": { "name": name, "namespace": ns, "labels": { "lifeboat.dev/run": ctx.run.run_id } },
        "spec": i.spec,
    });
    match objects::create(&conn, &job_type, Some(ns), &body).await {
        Ok(_) => {}
        Err(e) if e.code() == Some(409) && i.name.is_none() => {}
        Err(e) => return Err(e.into()),
    }
    let mut outputs = Outputs::new();
    outputs.insert("job_name".into(), OutputValue::Str(name.clone()));
    // A Job that a dry run did not start has no pods to wait for nor logs to keep.
    if ctx.dry_run() {
        outputs.insert(
            "succeeded".into(),
            OutputValue::Str("not run (dry run)".into()),
        );
        return Ok(outputs);
    }
    let timeout = super::duration_or(&i.timeout, "timeout", DEFAULT_TIMEOUT)?;
    let started = std::time::Instant::now();
    let job = loop {
        let job = objects::get(&conn, &job_type, Some(ns), &name)
            .await?
            .ok_or_else(|| {
                ActionError::Failed(format!("Job {ns}/{name} disappeared while running"))
            })?;
        if kube_resources::conditions::condition_true(&job, "Complete")
            || kube_resources::conditions::condition_true(&job, "Failed")
        {
            break job;
        }
        if started.elapsed() >= timeout {
            return Err(ActionError::Failed(format!(
                "Job {ns}/{name} did not finish within {}",
                Duration(timeout)
            )));
        }
        tokio::time::sleep(POLL).await;
    };
    let (logs, unreadable) = logs(&conn, ns, &name).await?;
    for why in unreadable {
        ctx.warn(format!("a log of Job {ns}/{name} could not be read: {why}"));
    }
    let succeeded = job
        .pointer("/status/succeeded")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    outputs.insert("succeeded".into(), OutputValue::Str(succeeded.to_string()));
    outputs.insert("logs".into(), OutputValue::Str(logs.clone()));
    if !i.keep.value("keep")? {
        objects::delete(&conn, &job_type, Some(ns), &name, "Background").await?;
    }
    if kube_resources::conditions::condition_true(&job, "Failed") {
        let why = job
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some("Failed"))
            })
            .and_then(|c| c.get("message").or_else(|| c.get("reason")))
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        let last = logs
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        return Err(ActionError::Failed(format!(
            "Job {ns}/{name} failed: {why}{}",
            if last.is_empty() {
                String::new()
            } else {
                format!("; last log line: {last}")
            }
        )));
    }
    Ok(outputs)
}

/// The logs of the Job's pods (found by their `job-name` label), oldest pod first, at
/// most `KEEP` bytes. With more than one pod or container, each log is headed by the
/// pod and container it comes from. A log the API server cannot fetch from its node
/// (the node or its kubelet is gone: a 5xx) does not decide the Job's outcome: it is
/// left out and said why, beside the text; a refused read (403) fails the step.
async fn logs(
    conn: &ClusterConn,
    ns: &str,
    job: &str,
) -> Result<(String, Vec<String>), ActionError> {
    let pod_type = discovery::resolve(conn, "Pod", Some("v1")).await?;
    let mut pods =
        objects::list_all(conn, &pod_type, Some(ns), Some(&format!("job-name={job}"))).await?;
    let created = |p: &Value| {
        (
            p.pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            p.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        )
    };
    pods.sort_by_key(created);
    let sources: Vec<(String, String)> = pods
        .iter()
        .flat_map(|pod| {
            let name = created(pod).1;
            pod.pointer("/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get("name").and_then(Value::as_str))
                .map(move |c| (name.clone(), c.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let mut text = String::new();
    let mut unreadable = Vec::new();
    for (pod, container) in &sources {
        let log = match objects::pod_log(conn, ns, pod, container).await {
            Ok(Some(log)) => log,
            Ok(None) => continue,
            Err(e) if e.code().is_some_and(|c| c >= 500) => {
                unreadable.push(format!(
                    "pod {pod}, container {container}: {}",
                    e.api_message()
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        if sources.len() > 1 {
            text.push_str(&format!("--- pod {pod}, container {container} ---\n"));
        }
        text.push_str(&log);
        if text.len() >= KEEP {
            let mut cut = KEEP;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            break;
        }
    }
    Ok((text, unreadable))
}
