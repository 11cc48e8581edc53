//! Jobs in the sandbox: the selector the API server generates when a Job is created,
//! the pods the Job controller runs for it, and those pods' logs.
//!
//! Nothing runs in the sandbox, so a Job's pods are simulated: they finish as soon as
//! the controller creates them, with the exit code and the log that annotations of the
//! Job's pod template ask for (`EXIT_CODE`, `LOG`; by default exit 0 and one line
//! saying what would have run). A Job that succeeds gets `completions` Succeeded pods;
//! one whose pods fail gets `backoffLimit + 1` Failed pods and the `Failed` condition,
//! as a real cluster would after its retries. Drills use the annotations to exercise
//! both paths of a runbook's `job` step.

use serde_json::{Value, json};

use super::catalog::ServedType;
use super::controllers::{probed_condition, set_status};
use super::status::ApiError;
use super::store::{Store, WriteOptions};
use super::time::now_rfc3339;
use kube_resources::conditions::condition_true;

/// Pod template annotation: the exit code of every container of the Job's pods.
pub const EXIT_CODE: &str = "sandbox.lifeboat.dev/exit-code";
/// Pod template annotation: the log every container of the Job's pods prints.
/// `sandbox.lifeboat.dev/log-<container>` gives one container its own log.
pub const LOG: &str = "sandbox.lifeboat.dev/log";

/// Labels the API server adds to the pod template of a Job without a manual selector.
const UID_LABELS: [&str; 2] = ["batch.kubernetes.io/controller-uid", "controller-uid"];
const NAME_LABELS: [&str; 2] = ["batch.kubernetes.io/job-name", "job-name"];

/// On create: a Job gets the selector `batch.kubernetes.io/controller-uid=<uid>` and
/// its pod template the labels that match it, unless `spec.manualSelector` is true.
/// A selector written without `manualSelector` is refused, as the API server does.
pub fn generate_selector(obj: &mut Value) -> Result<(), ApiError> {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return Ok(());
    }
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let uid = obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(selector) = obj.pointer("/spec/selector")
        && !selector.is_null()
    {
        return Err(ApiError::invalid(
            "Job",
            &name,
            &[(
                "spec.selector",
                format!("Invalid value: {selector}: `selector` will be auto-generated"),
            )],
        ));
    }
    obj["spec"]["selector"] = json!({ "matchLabels": { UID_LABELS[0]: uid } });
    let template = &mut obj["spec"]["template"];
    if !template.is_object() {
        return Ok(());
    }
    if !template["metadata"].is_object() {
        template["metadata"] = json!({});
    }
    if !template["metadata"]["labels"].is_object() {
        template["metadata"]["labels"] = json!({});
    }
    let labels = &mut template["metadata"]["labels"];
    for key in UID_LABELS {
        labels[key] = json!(uid);
    }
    for key in NAME_LABELS {
        labels[key] = json!(name);
    }
    // A Job with no labels of its own takes its pods' (as the API server defaults it).
    let copied = labels.clone();
    let own = obj.pointer("/metadata/labels").and_then(Value::as_object);
    if own.is_none_or(|l| l.is_empty())
        && let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.insert("labels".into(), copied);
    }
    Ok(())
}

/// The Job controller: runs the Job's pods (simulated) and reports the outcome.
pub fn reconcile(store: &Store, t: &ServedType, job: &Value) {
    let finished = |kind: &str| condition_true(job, kind);
    if job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true)
        || finished("Complete")
        || finished("Failed")
    {
        return;
    }
    let catalog = store.catalog();
    let Some(pod_type) = catalog.by_path("", "v1", "pods") else {
        return;
    };
    let ns = job.pointer("/metadata/namespace").and_then(Value::as_str);
    let uid = job
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let exit_code = exit_code(job);
    let wanted = if exit_code == 0 {
        int_at(job, "/spec/completions", 1)
    } else {
        int_at(job, "/spec/backoffLimit", 6) + 1
    };
    let pods = store.owned(pod_type, ns, uid);
    for _ in pods.len() as i64..wanted {
        let _ = store.create(pod_type, ns, pod(job, exit_code), WriteOptions::default());
    }
    let pods = store.owned(pod_type, ns, uid);
    let phase_count = |phase: &str| {
        pods.iter()
            .filter(|p| p.pointer("/status/phase").and_then(Value::as_str) == Some(phase))
            .count() as i64
    };
    let (succeeded, failed) = (phase_count("Succeeded"), phase_count("Failed"));
    let now = now_rfc3339();
    let start = job
        .pointer("/status/startTime")
        .cloned()
        .unwrap_or(json!(now));
    let mut status = json!({
        "startTime": start,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    });
    if succeeded > 0 {
        status["succeeded"] = json!(succeeded);
    }
    if failed > 0 {
        status["failed"] = json!(failed);
    }
    let limit = int_at(job, "/spec/backoffLimit", 6);
    if exit_code == 0 && succeeded >= int_at(job, "/spec/completions", 1) {
        let reached = "Reached expected number of succeeded pods";
        status["completionTime"] = json!(now);
        status["conditions"] = json!([
            probed_condition("SuccessCriteriaMet", "True", "CompletionsReached", reached),
            probed_condition("Complete", "True", "CompletionsReached", reached),
        ]);
    } else if exit_code != 0 && failed > limit {
        let reached = "Job has reached the specified backoff limit";
        status["conditions"] = json!([
            probed_condition("FailureTarget", "True", "BackoffLimitExceeded", reached),
            probed_condition("Failed", "True", "BackoffLimitExceeded", reached),
        ]);
    }
    set_status(store, t, job, status);
}

/// The exit code the Job's pod template asks its containers to end with (0 unless
/// the `EXIT_CODE` annotation says otherwise).
fn exit_code(job: &Value) -> i64 {
    job.pointer("/spec/template/metadata/annotations")
        .and_then(|a| a.get(EXIT_CODE))
        .and_then(Value::as_str)
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0)
}

fn int_at(obj: &Value, pointer: &str, default: i64) -> i64 {
    obj.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// One finished pod of `job`: the template's metadata and spec, owned by the Job, on
/// the sandbox's node, every container terminated with `exit_code`.
fn pod(job: &Value, exit_code: i64) -> Value {
    let name = job
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("job");
    let uid = job
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("");
    let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut spec = template.get("spec").cloned().unwrap_or(json!({}));
    spec["nodeName"] = json!("sandbox");
    let now = now_rfc3339();
    let (phase, reason) = if exit_code == 0 {
        ("Succeeded", "Completed")
    } else {
        ("Failed", "Error")
    };
    let statuses: Vec<Value> = spec
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("");
            json!({
                "name": cname,
                "image": c.get("image").cloned().unwrap_or(json!("")),
                "imageID": "",
                "containerID": format!("sandbox://{uid}/{cname}"),
                "ready": false,
                "started": false,
                "restartCount": 0,
                "state": { "terminated": { "exitCode": exit_code, "reason": reason, "startedAt": now, "finishedAt": now } },
            })
        })
        .collect();
    let ready = probed_condition("Ready", "False", "PodCompleted", "");
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{name}-"),
            "labels": template.pointer("/metadata/labels").cloned().unwrap_or(json!({})),
            "annotations": template.pointer("/metadata/annotations").cloned().unwrap_or(json!({})),
            "ownerReferences": [ { "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": uid, "controller": true, "blockOwnerDeletion": true } ],
        },
        "spec": spec,
        "status": {
            "phase": phase,
            "hostIP": "10.0.0.1",
            "podIP": "10.244.0.10",
            "startTime": now,
            "conditions": [ ready ],
            "containerStatuses": statuses,
        },
    })
}

/// Options of a log request (`/pods/<name>/log`) the sandbox honours.
#[derive(Debug, Default)]
pub struct LogOptions {
    pub container: Option<String>,
    pub tail_lines: Option<usize>,
    pub limit_bytes: Option<usize>,
    pub timestamps: bool,
}

/// The log of one container of `pod`: the `LOG` annotations, else one line saying
/// what the container would have run. A pod with several containers needs
/// `container`, as on a real cluster.
pub fn log(pod: &Value, opts: &LogOptions) -> Result<String, ApiError> {
    let name = pod
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let containers: Vec<&Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let container = match &opts.container {
        Some(c) => containers
            .iter()
            .find(|x| x.get("name").and_then(Value::as_str) == Some(c.as_str()))
            .ok_or_else(|| {
                ApiError::bad_request(format!("container {c} is not valid for pod {name}"))
            })?,
        None if containers.len() == 1 => &containers[0],
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let cname = container.get("name").and_then(Value::as_str).unwrap_or("");
    let annotations = pod.pointer("/metadata/annotations");
    let annotated = annotations
        .and_then(|a| a.get(format!("{LOG}-{cname}")).or_else(|| a.get(LOG)))
        .and_then(Value::as_str);
    let mut text = match annotated {
        Some(t) => t.to_string(),
        None => default_log(container),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if opts.timestamps {
        let at = pod
            .pointer("/status/startTime")
            .and_then(Value::as_str)
            .unwrap_or("");
        text = text.lines().map(|l| format!("{at} {l}\n")).collect();
    }
    if let Some(n) = opts.tail_lines {
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(n);
        text = lines[from..].iter().map(|l| format!("{l}\n")).collect();
    }
    if let Some(limit) = opts.limit_bytes
        && text.len() > limit
    {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Ok(text)
}

/// What a container without a `LOG` annotation "prints": what it would have run.
fn default_log(container: &Value) -> String {
    let words = |field: &str| -> Vec<String> {
        container
            .get(field)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect()
    };
    let argv: Vec<String> = words("command").into_iter().chain(words("args")).collect();
    let image = container.get("image").and_then(Value::as_str).unwrap_or("");
    if argv.is_empty() {
        format!("sandbox: simulated run of image {image} (nothing is executed)\n")
    } else {
        format!(
            "sandbox: simulated run of image {image}: {} (nothing is executed)\n",
            argv.join(" ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Value {
        json!({
            "metadata": { "name": "dump", "uid": "u-1" },
            "spec": { "template": { "metadata": { "labels": { "app": "db" } }, "spec": { "containers": [ { "name": "c", "image": "pg" } ] } } },
        })
    }

    #[test]
    fn a_job_gets_the_generated_selector_and_template_labels() {
        let mut j = job();
        generate_selector(&mut j).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(
            j["spec"]["selector"],
            json!({ "matchLabels": { "batch.kubernetes.io/controller-uid": "u-1" } })
        );
        let labels = &j["spec"]["template"]["metadata"]["labels"];
        assert_eq!(labels["app"], "db");
        assert_eq!(labels["controller-uid"], "u-1");
        assert_eq!(labels["batch.kubernetes.io/job-name"], "dump");
        assert_eq!(labels["job-name"], "dump");
    }

    #[test]
    fn a_selector_without_manual_selector_is_refused() {
        let mut j = job();
        j["spec"]["selector"] = json!({ "matchLabels": { "app": "db" } });
        let e = generate_selector(&mut j).err();
        assert!(e.is_some_and(
            |e| e.code == 422 && e.message.contains("`selector` will be auto-generated")
        ),);
        j["spec"]["manualSelector"] = json!(true);
        assert!(generate_selector(&mut j).is_ok());
        assert_eq!(j["spec"]["selector"]["matchLabels"]["app"], "db");
    }

    #[test]
    fn logs_come_from_annotations_per_container() {
        let mut p = pod(&job(), 0);
        p["metadata"]["name"] = json!("dump-x");
        p["metadata"]["annotations"] =
            json!({ LOG: "one\ntwo\nthree", "sandbox.lifeboat.dev/log-side": "side" });
        p["spec"]["containers"] =
            json!([ { "name": "c", "image": "pg" }, { "name": "side", "image": "x" } ]);
        let e = log(&p, &LogOptions::default()).err();
        assert!(e.is_some_and(|e| e.code == 400
            && e.message
                == "a container name must be specified for pod dump-x, choose one of: [c side]"));
        let opts = |c: &str| LogOptions {
            container: Some(c.into()),
            ..LogOptions::default()
        };
        assert_eq!(
            log(&p, &opts("c")).ok().as_deref(),
            Some("one\ntwo\nthree\n")
        );
        assert_eq!(log(&p, &opts("side")).ok().as_deref(), Some("side\n"));
        let tail = LogOptions {
            tail_lines: Some(1),
            ..opts("c")
        };
        assert_eq!(log(&p, &tail).ok().as_deref(), Some("three\n"));
        assert!(log(&p, &opts("nope")).is_err());
    }

    #[test]
    fn without_annotations_the_log_says_what_would_have_run() {
        let mut j = job();
        j["spec"]["template"]["spec"]["containers"][0]["command"] = json!(["pg_dump", "-Fc"]);
        let p = pod(&j, 0);
        assert_eq!(
            log(&p, &LogOptions::default()).ok().as_deref(),
            Some("sandbox: simulated run of image pg: pg_dump -Fc (nothing is executed)\n")
        );
    }
}
