//! `deploy/`: the image and the kustomize base of the scheduled in-cluster drill
//! (docs/deploy.md). The base, rendered by kubectl's own kustomize, is accepted by a
//! server-side dry run on the real control plane and on the sandbox; under the
//! `restricted` Pod Security profile of its namespace the real API server admits the
//! CronJob's pod, and refuses it when one securityContext field is weakened. The
//! committed RBAC is what `lifeboat rbac` prints for the runbook today and is bound to
//! the drill's ServiceAccount; the runbook validates; the Dockerfile builds what the
//! tests run. No image can be built here (no container engine): the container's exact
//! command line (its arguments, its environment, the ConfigMap's runbook at the mounted
//! path, a kubeconfig in place of in-cluster config) runs against the sandbox and, as
//! the drill's ServiceAccount, against the real control plane; killed mid-run, the same
//! command line (a rescheduled pod) resumes the run rather than starting over.

use std::process::Command;

use serde_json::{Value, json};

use crate::harness::{Test, path, root};
use crate::served::Served;
use testbed::{ControlPlane, Kube};

/// The drill's namespace, CronJob and ServiceAccount, as deploy/base names them.
const NAMESPACE: &str = "lifeboat";
const CRONJOB: &str = "lifeboat-drill";
const ACCOUNT: &str = "lifeboat-drill";
/// The label the Job controller gives its pods: the run id comes from it.
const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// `kubectl kustomize deploy/base` (kubectl's built-in kustomize): the YAML users apply.
fn render() -> String {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(path("deploy/base"))
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl (it is on the machine image): {e}"));
    assert!(
        out.status.success(),
        "kubectl kustomize deploy/base failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The objects of a multi-document YAML text, as JSON.
fn documents(yaml: &str) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut current = String::new();
    for line in yaml.lines().chain(std::iter::once("---")) {
        if line == "---" {
            if !current.trim().is_empty() {
                let doc: Value = serde_saphyr::from_str(&current).unwrap_or_else(|e| {
                    panic!("a rendered document does not parse: {e}\n{current}")
                });
                if !doc.is_null() {
                    docs.push(doc);
                }
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs
}

/// The one object of `kind` named `name` (or the only one of its kind when `None`).
fn object<'a>(objects: &'a [Value], kind: &str, name: Option<&str>) -> &'a Value {
    let found: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == kind && name.is_none_or(|n| o["metadata"]["name"] == n))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {kind} {name:?} in deploy/base, found {}",
        found.len()
    );
    found[0]
}

fn cronjob(objects: &[Value]) -> &Value {
    object(objects, "CronJob", Some(CRONJOB))
}

/// The pod template of the CronJob's Jobs.
fn template(objects: &[Value]) -> &Value {
    &cronjob(objects)["spec"]["jobTemplate"]["spec"]["template"]
}

/// The drill's container.
fn container(objects: &[Value]) -> &Value {
    let containers = template(objects)["spec"]["containers"]
        .as_array()
        .unwrap_or_else(|| panic!("the CronJob's pod template has no containers"));
    assert_eq!(containers.len(), 1, "the drill's pod has one container");
    &containers[0]
}

/// A Pod as the Job controller makes it from the CronJob's template for Job `job`.
fn pod_of(objects: &[Value], job: &str) -> Value {
    let template = template(objects);
    let mut labels = template["metadata"]["labels"].clone();
    labels[JOB_NAME_LABEL] = json!(job);
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": format!("{job}-check"), "namespace": NAMESPACE, "labels": labels },
        "spec": template["spec"],
    })
}

/// The rendered objects of `kind`, as YAML (JSON is YAML) for kubectl.
fn yaml_of(objects: &[Value], keep: impl Fn(&Value) -> bool) -> String {
    let items: Vec<&Value> = objects.iter().filter(|o| keep(o)).collect();
    json!({ "apiVersion": "v1", "kind": "List", "items": items }).to_string()
}

/// `kubectl apply --dry-run=server` of the whole base on `k`: every object answered,
/// none warned about, nothing written. A namespaced object cannot be dry-run into a
/// namespace that does not exist, so the base's Namespace is applied for real first
/// (as `kubectl apply -k` would create it before the rest).
fn dry_run_applies(k: &dyn Kube, yaml: &str, objects: &[Value]) {
    let namespaces = yaml_of(objects, |o| o["kind"] == "Namespace");
    k.apply_yaml(&namespaces);
    let out = k.kubectl_in(&["apply", "--dry-run=server", "-f", "-"], Some(yaml));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the {} refused deploy/base in a server-side dry run:\n{stdout}\n{stderr}",
        k.label()
    );
    // A pod template the namespace's `warn: restricted` would refuse is a warning here.
    assert!(
        !stderr.contains("Warning"),
        "the {} warned about deploy/base:\n{stderr}",
        k.label()
    );
    for o in objects {
        let name = o["metadata"]["name"].as_str().unwrap_or_default();
        assert!(
            stdout
                .lines()
                .any(|l| l.contains(&format!("/{name} ")) && l.ends_with("(server dry run)")),
            "the dry run did not answer for {} {name}:\n{stdout}",
            o["kind"]
        );
    }
    assert_eq!(
        stdout.lines().count(),
        objects.len(),
        "one line per object:\n{stdout}"
    );
    assert!(
        k.get_json(&["cronjob", "-n", NAMESPACE, CRONJOB]).is_none(),
        "the server-side dry run created the CronJob on the {}",
        k.label()
    );
}

/// `kubectl create --dry-run=server` of `pod`: the API server's answer.
fn admit(k: &dyn Kube, pod: &Value) -> std::process::Output {
    k.kubectl_in(
        &["create", "--dry-run=server", "-f", "-"],
        Some(&pod.to_string()),
    )
}

#[test]
fn the_committed_rbac_is_what_lifeboat_rbac_prints_and_the_drill_account_holds_it() {
    let printed = Test::new()
        .args(["rbac", "deploy/base/drill.yaml"])
        .run()
        .stdout;
    let committed = std::fs::read_to_string(path("deploy/base/rbac.yaml"))
        .unwrap_or_else(|e| panic!("deploy/base/rbac.yaml: {e}"));
    assert!(
        printed == committed,
        "deploy/base/rbac.yaml is stale: run `lifeboat rbac deploy/base/drill.yaml > deploy/base/rbac.yaml` from the repository root"
    );
    let roles: Vec<Value> = documents(&committed)
        .into_iter()
        .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "Role")
        .collect();
    assert!(!roles.is_empty(), "lifeboat rbac printed no role");
    let bindings = documents(
        &std::fs::read_to_string(path("deploy/base/bindings.yaml"))
            .unwrap_or_else(|e| panic!("deploy/base/bindings.yaml: {e}")),
    );
    let objects = documents(&render());
    let account = template(&objects)["spec"]["serviceAccountName"].clone();
    assert_eq!(
        account, ACCOUNT,
        "the CronJob runs as the drill's ServiceAccount"
    );
    for role in &roles {
        let kind = role["kind"].as_str().unwrap_or_default();
        let binding_kind = if kind == "Role" {
            "RoleBinding"
        } else {
            "ClusterRoleBinding"
        };
        let bound = bindings.iter().any(|b| {
            b["kind"] == binding_kind
                && b["roleRef"]["kind"] == kind
                && b["roleRef"]["name"] == role["metadata"]["name"]
                && b["metadata"]["namespace"] == role["metadata"]["namespace"]
                && b["subjects"].as_array().is_some_and(|s| {
                    s.iter().any(|s| {
                        s["kind"] == "ServiceAccount"
                            && s["name"] == ACCOUNT
                            && s["namespace"] == NAMESPACE
                    })
                })
        });
        assert!(
            bound,
            "{kind} {} ({}) is not bound to ServiceAccount {NAMESPACE}/{ACCOUNT} in deploy/base/bindings.yaml",
            role["metadata"]["name"], role["metadata"]["namespace"]
        );
    }
}

#[test]
fn the_drill_runbook_validates_uses_in_cluster_config_and_keeps_its_state_in_s3() {
    let file = path("deploy/base/drill.yaml");
    Test::new()
        .arg("validate")
        .arg(&file)
        .stdout_contains(": ok (")
        .run();
    let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{e}"));
    // Editors find the schema as for the runbooks in runbooks/.
    let schema = text
        .lines()
        .find_map(|l| l.strip_prefix("# yaml-language-server: $schema="))
        .unwrap_or_else(|| panic!("deploy/base/drill.yaml names no $schema"));
    let schema = path("deploy/base").join(schema.trim());
    assert!(
        schema.is_file() && schema.ends_with("docs/lifeboat.schema.json"),
        "{} is not the committed schema",
        schema.display()
    );
    let rb: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let clusters = rb["clusters"].as_object().cloned().unwrap_or_default();
    assert!(!clusters.is_empty(), "the drill names no cluster");
    for (name, c) in &clusters {
        for field in ["kubeconfig", "context", "sandbox"] {
            assert!(
                c.get(field).is_none(),
                "cluster `{name}` sets `{field}`: in a pod it must use in-cluster config"
            );
        }
    }
    let state = rb["state"]["store"].as_str().unwrap_or_default();
    assert!(
        rb["stores"][state]["s3"].is_object(),
        "the drill's state is not in an S3 store: {}",
        rb["state"]
    );
    let restore = rb["steps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["uses"] == "restore")
        .unwrap_or_else(|| panic!("the drill restores nothing"));
    assert!(
        restore["with"]["namespace_mapping"].is_object(),
        "the drill restores in place, not into a scratch namespace"
    );
    assert!(rb["objectives"]["rto"].is_string() && rb["objectives"]["rpo"].is_string());
    // The ConfigMap the pod mounts holds this very file.
    let objects = documents(&render());
    let maps: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap")
        .collect();
    assert_eq!(maps.len(), 1);
    assert_eq!(maps[0]["data"]["drill.yaml"].as_str(), Some(text.as_str()));
}

#[test]
fn the_cronjob_is_a_drill_that_never_overlaps_and_is_bounded() {
    let objects = documents(&render());
    let cj = cronjob(&objects);
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Forbid");
    let job = &cj["spec"]["jobTemplate"]["spec"];
    assert!(job["backoffLimit"].as_u64().is_some_and(|n| n > 0));
    let pod = &job["template"]["spec"];
    assert!(["Never", "OnFailure"].contains(&pod["restartPolicy"].as_str().unwrap_or("")));
    assert_eq!(pod["automountServiceAccountToken"], true);
    let c = container(&objects);
    for kind in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                c["resources"][kind][resource].is_string(),
                "the container has no {kind}.{resource}"
            );
        }
    }
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    // Every pod of a Job finds the same run: the run id is the Job's name.
    let args: Vec<&str> = c["args"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let at = args
        .iter()
        .position(|a| *a == "--run-id")
        .unwrap_or_else(|| panic!("the drill runs without --run-id: {args:?}"));
    let var = args[at + 1]
        .strip_prefix("$(")
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or_else(|| panic!("--run-id {} is not an environment variable", args[at + 1]));
    let source = c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == var)
        .unwrap_or_else(|| panic!("no env {var}"));
    assert_eq!(
        source["valueFrom"]["fieldRef"]["fieldPath"],
        format!("metadata.labels['{JOB_NAME_LABEL}']")
    );
    // The template is a template: no real key in it.
    let secret = object(&objects, "Secret", None);
    for (key, value) in secret["stringData"].as_object().into_iter().flatten() {
        if key.contains("KEY") {
            assert!(
                value.as_str().unwrap_or("").starts_with("PLACEHOLDER"),
                "{key} in deploy/base/s3-secret.yaml is not a placeholder"
            );
        }
    }
}

/// The Dockerfile's instructions, one per logical line (continuations joined).
fn dockerfile() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path("deploy/Dockerfile"))
        .unwrap_or_else(|e| panic!("deploy/Dockerfile: {e}"));
    let mut out = Vec::new();
    let mut line = String::new();
    for l in text.lines() {
        if l.trim_start().starts_with('#') || l.trim().is_empty() {
            continue;
        }
        if let Some(more) = l.strip_suffix('\\') {
            line.push_str(more);
            continue;
        }
        line.push_str(l);
        let joined = std::mem::take(&mut line);
        let (op, rest) = joined.trim().split_once(' ').unwrap_or((joined.trim(), ""));
        out.push((op.to_uppercase(), rest.trim().to_string()));
    }
    out
}

#[test]
fn the_dockerfile_builds_the_binary_the_tests_run_and_runs_it_as_the_cronjob_expects() {
    let steps = dockerfile();
    let stages: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, (op, _))| op == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stages.len(), 2, "a builder stage and a runtime stage");
    let (builder, runtime) = (&steps[stages[0]..stages[1]], &steps[stages[1]..]);
    // The builder: the workspace's own toolchain, a plain locked release build.
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).unwrap_or_default();
    let rust_version = cargo
        .lines()
        .find_map(|l| l.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("the workspace declares no rust-version"));
    assert_eq!(
        builder[0].1,
        format!("rust:{rust_version}-bookworm AS build"),
        "the builder's toolchain is the workspace's rust-version"
    );
    let workdir = builder
        .iter()
        .find(|(op, _)| op == "WORKDIR")
        .map(|(_, d)| d.clone())
        .unwrap_or_else(|| panic!("the builder has no WORKDIR"));
    assert!(
        builder.iter().any(|s| *s
            == (
                "RUN".into(),
                "cargo build --release --locked -p lifeboat --features otlp".into()
            )),
        "the builder does not run `cargo build --release --locked -p lifeboat --features otlp`: {builder:?}"
    );
    // The runtime: distroless, the binary only, a numeric non-root user, the binary as
    // ENTRYPOINT in exec form (no shell anywhere at run time).
    assert!(
        runtime[0]
            .1
            .starts_with("gcr.io/distroless/cc-debian12:nonroot"),
        "{}",
        runtime[0].1
    );
    assert!(
        !runtime.iter().any(|(op, _)| op == "RUN"),
        "the runtime stage runs commands: it has no shell"
    );
    let entrypoint: Vec<String> = runtime
        .iter()
        .find(|(op, _)| op == "ENTRYPOINT")
        .and_then(|(_, e)| serde_json::from_str(e).ok())
        .unwrap_or_else(|| panic!("no ENTRYPOINT in exec form (a JSON array)"));
    assert_eq!(entrypoint.len(), 1, "ENTRYPOINT is the binary alone");
    let copy = format!(
        "--from=build {}/target/release/lifeboat {}",
        workdir, entrypoint[0]
    );
    assert!(
        runtime.iter().any(|s| *s == ("COPY".into(), copy.clone())),
        "the runtime does not get the builder's binary at the ENTRYPOINT: COPY {copy}"
    );
    let user = runtime
        .iter()
        .find(|(op, _)| op == "USER")
        .map(|(_, u)| u.clone())
        .unwrap_or_else(|| panic!("no USER: the image would run as root"));
    let (uid, gid) = user.split_once(':').unwrap_or((&user, &user));
    let uid: u64 = uid
        .parse()
        .unwrap_or_else(|_| panic!("USER {user} is not numeric: runAsNonRoot cannot check a name"));
    assert_ne!(uid, 0);
    // The CronJob runs the same user, and the image's ENTRYPOINT (no `command`).
    let objects = documents(&render());
    let security = &template(&objects)["spec"]["securityContext"];
    assert_eq!(security["runAsUser"].as_u64(), Some(uid));
    assert_eq!(security["runAsGroup"].to_string(), gid);
    assert!(
        container(&objects).get("command").is_none(),
        "the CronJob replaces the image's ENTRYPOINT"
    );
}

/// Makes a pod break one rule of the restricted profile.
type Weaken = dyn Fn(&mut Value);

/// Removes `field` from the pod's and its container's securityContext.
fn unset(pod: &mut Value, field: &str) {
    if let Some(sc) = pod["spec"]["securityContext"].as_object_mut() {
        sc.remove(field);
    }
    if let Some(sc) = pod["spec"]["containers"][0]["securityContext"].as_object_mut() {
        sc.remove(field);
    }
}

#[test]
fn the_base_applies_to_a_real_control_plane_and_its_pod_passes_the_restricted_profile() {
    let cp = ControlPlane::start();
    // The drill's Role and RoleBinding are in the namespace it backs up.
    cp.ok(&[
        "apply",
        "-f",
        &path("runbooks/fixtures/shop").to_string_lossy(),
    ]);
    let yaml = render();
    let objects = documents(&yaml);
    dry_run_applies(&cp, &yaml, &objects);
    let ns = cp
        .get_json(&["namespace", NAMESPACE])
        .unwrap_or_else(|| panic!("no namespace {NAMESPACE}"));
    assert_eq!(
        ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
        "restricted"
    );

    // Applied for real, the ServiceAccount exists for the pod to name.
    cp.apply_yaml(&yaml);
    let pod = pod_of(&objects, "lifeboat-drill-29000000");
    let out = admit(&cp, &pod);
    assert!(
        out.status.success(),
        "the restricted namespace refused the drill's pod:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Warning"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The profile is enforced: weaken one field and the same pod is refused, naming it.
    let weakened: [(&str, &Weaken); 5] = [
        ("privileged", &|p| {
            let sc = &mut p["spec"]["containers"][0]["securityContext"];
            sc["privileged"] = json!(true);
            // The API server refuses privileged without privilege escalation outright.
            sc["allowPrivilegeEscalation"] = json!(true);
        }),
        ("allowPrivilegeEscalation != false", &|p| {
            p["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true)
        }),
        ("unrestricted capabilities", &|p| {
            p["spec"]["containers"][0]["securityContext"]["capabilities"] = json!({})
        }),
        ("runAsNonRoot != true", &|p| {
            for field in ["runAsNonRoot", "runAsUser"] {
                unset(p, field);
            }
        }),
        ("seccompProfile", &|p| unset(p, "seccompProfile")),
    ];
    for (reason, weaken) in weakened {
        let mut bad = pod.clone();
        weaken(&mut bad);
        let out = admit(&cp, &bad);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success()
                && stderr.contains("violates PodSecurity \"restricted:latest\"")
                && stderr.contains(reason),
            "a pod with {reason} was not refused by the restricted profile:\n{stderr}"
        );
        // The namespace's label refuses it, nothing else: elsewhere it is admitted.
        let mut elsewhere = bad.clone();
        elsewhere["metadata"]["namespace"] = json!("default");
        if let Some(spec) = elsewhere["spec"].as_object_mut() {
            spec.remove("serviceAccountName");
        }
        let out = admit(&cp, &elsewhere);
        assert!(
            out.status.success(),
            "a pod with {reason} is refused outside the restricted namespace too:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn the_base_applies_to_the_sandbox_with_a_server_side_dry_run() {
    let sandbox = Served::start(&[&path("runbooks/fixtures/shop")]);
    let yaml = render();
    let objects = documents(&yaml);
    dry_run_applies(&sandbox, &yaml, &objects);
    // Applied for real, and its pod dry-run (the sandbox has no Pod Security admission:
    // docs/sandbox.md).
    sandbox.apply_yaml(&yaml);
    let out = admit(&sandbox, &pod_of(&objects, "lifeboat-drill-29000000"));
    assert!(
        out.status.success(),
        "the sandbox refused the drill's pod:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cj = sandbox
        .get_json(&["cronjob", "-n", NAMESPACE, CRONJOB])
        .unwrap_or_else(|| panic!("the CronJob was not applied"));
    assert_eq!(cj["spec"]["concurrencyPolicy"], "Forbid");
}

/// The container's command line run in place (needs the crash points: a pod killed
/// mid-run is one killed at a named point, with no timing luck).
#[cfg(feature = "crash-points")]
mod command_line {
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::sync::Mutex;
    use std::time::Duration;

    use serde_json::{Value, json};

    use super::*;
    use crate::harness::{Output, wait_output};
    use crate::s3_server::{aws, endpoint};

    /// Runs of the drill share the bucket, the prefix and the lock its runbook names.
    static DRILL: Mutex<()> = Mutex::new(());

    /// The PATH of the distroless image (its other variables do not matter here).
    const IMAGE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

    /// The container's exact command line for Job `job`, with the folders standing for
    /// its volumes under `dir`: the program (the binary the Dockerfile's ENTRYPOINT
    /// names), its arguments and its whole environment.
    struct CommandLine {
        args: Vec<String>,
        env: BTreeMap<String, String>,
        home: PathBuf,
    }

    impl CommandLine {
        fn of(objects: &[Value], job: &str, kubeconfig: &Path, dir: &Path) -> CommandLine {
            let c = container(objects);
            let spec = &template(objects)["spec"];
            // Each volume is a folder; a ConfigMap's keys are files in it.
            let mut mounts: Vec<(String, PathBuf)> = Vec::new();
            for m in c["volumeMounts"].as_array().into_iter().flatten() {
                let name = m["name"].as_str().unwrap_or_default();
                let at = dir.join(format!("volume-{name}"));
                std::fs::create_dir_all(&at).unwrap_or_else(|e| panic!("{e}"));
                let volume = spec["volumes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|v| v["name"] == name)
                    .unwrap_or_else(|| panic!("no volume {name}"));
                if let Some(map) = volume["configMap"]["name"].as_str() {
                    let data = &object(objects, "ConfigMap", Some(map))["data"];
                    for (key, text) in data.as_object().into_iter().flatten() {
                        std::fs::write(at.join(key), text.as_str().unwrap_or_default())
                            .unwrap_or_else(|e| panic!("{e}"));
                    }
                } else {
                    assert!(volume["emptyDir"].is_object(), "volume {name}: {volume}");
                }
                mounts.push((m["mountPath"].as_str().unwrap_or_default().to_string(), at));
            }
            let local = |value: &str| -> String {
                for (mount, at) in &mounts {
                    if let Some(rest) = value.strip_prefix(mount.as_str())
                        && (rest.is_empty() || rest.starts_with('/'))
                    {
                        return format!("{}{rest}", at.display());
                    }
                }
                value.to_string()
            };
            let home = dir.join("home");
            std::fs::create_dir_all(&home).unwrap_or_else(|e| panic!("{e}"));
            let mut env = BTreeMap::from([
                ("PATH".to_string(), IMAGE_PATH.to_string()),
                ("HOME".to_string(), home.display().to_string()),
            ]);
            // envFrom first, as the kubelet does: the test S3 server's credentials in
            // place of the Secret's placeholders, and its endpoint (the Secret's
            // optional key).
            for from in c["envFrom"].as_array().into_iter().flatten() {
                let name = from["secretRef"]["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("envFrom other than a Secret: {from}"));
                let secret = object(objects, "Secret", Some(name));
                for key in secret["stringData"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k)
                {
                    let value = std::env::var(key).unwrap_or_else(|_| {
                        panic!("{key} is not set: run the tests with `scripts/test`, which sets the S3 server's credentials")
                    });
                    env.insert(key.clone(), value);
                }
                env.insert("AWS_ENDPOINT_URL".into(), endpoint());
            }
            for e in c["env"].as_array().into_iter().flatten() {
                let name = e["name"].as_str().unwrap_or_default().to_string();
                let value = if let Some(v) = e["value"].as_str() {
                    local(&expand(v, &env))
                } else {
                    let field = e["valueFrom"]["fieldRef"]["fieldPath"]
                        .as_str()
                        .unwrap_or_else(|| panic!("env {name}: {e}"));
                    assert_eq!(
                        field,
                        format!("metadata.labels['{JOB_NAME_LABEL}']"),
                        "env {name} comes from a field this test does not stand in for"
                    );
                    job.to_string()
                };
                env.insert(name, value);
            }
            // In-cluster config, stood in for.
            env.insert("KUBECONFIG".into(), kubeconfig.display().to_string());
            let args = c["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| local(&expand(a.as_str().unwrap_or_default(), &env)))
                .collect();
            CommandLine { args, env, home }
        }

        /// Runs it, with `extra` variables (a crash point), bounded in time.
        fn run(&self, extra: &[(&str, &str)]) -> Output {
            let child = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
                .args(&self.args)
                .env_clear()
                .envs(&self.env)
                .envs(extra.iter().copied())
                .current_dir(&self.home)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start lifeboat: {e}"));
            wait_output(
                child,
                Duration::from_secs(300),
                &format!("the drill {:?}", self.args),
            )
        }
    }

    /// A kubeconfig for `cp` with the token of the drill's ServiceAccount: what in-cluster
    /// config gives the pod (the same identity, the same CA).
    fn account_kubeconfig(cp: &ControlPlane, dir: &Path) -> PathBuf {
        let token = cp.ok(&["create", "token", "-n", NAMESPACE, ACCOUNT, "--duration=1h"]);
        let admin: Value = serde_json::from_str(&cp.ok(&["config", "view", "--raw", "-o", "json"]))
            .unwrap_or_else(|e| panic!("{e}"));
        let kubeconfig = json!({
            "apiVersion": "v1", "kind": "Config",
            "clusters": [{ "name": "in-cluster", "cluster": admin["clusters"][0]["cluster"] }],
            "users": [{ "name": ACCOUNT, "user": { "token": token.trim() } }],
            "contexts": [{ "name": "in-cluster", "context": { "cluster": "in-cluster", "user": ACCOUNT } }],
            "current-context": "in-cluster",
        });
        let file = dir.join("in-cluster.kubeconfig");
        std::fs::write(&file, kubeconfig.to_string()).unwrap_or_else(|e| panic!("{e}"));
        file
    }

    /// `$(VAR)` replaced by VAR's value when VAR is defined (else left as written), and
    /// `$$` by `$`: the kubelet's expansion of a container's `args` and `env`.
    fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some(after) = tail.strip_prefix("$$") {
                out.push('$');
                rest = after;
            } else if let Some((name, after)) = tail
                .strip_prefix("$(")
                .and_then(|t| t.split_once(')'))
                .filter(|(name, _)| env.contains_key(*name))
            {
                out.push_str(&env[name]);
                rest = after;
            } else {
                out.push('$');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    }

    /// The runbook's state store: its bucket and prefix.
    fn state_store(objects: &[Value]) -> (String, String) {
        let map = object(objects, "ConfigMap", None);
        let rb: Value = serde_saphyr::from_str(map["data"]["drill.yaml"].as_str().unwrap_or(""))
            .unwrap_or_else(|e| panic!("{e}"));
        let store = &rb["stores"][rb["state"]["store"].as_str().unwrap_or("")]["s3"];
        (
            store["bucket"].as_str().unwrap_or_default().to_string(),
            store["prefix"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// Every record of run `job`'s journal in the state bucket, in order.
    fn journal(bucket: &str, prefix: &str, job: &str, dir: &Path) -> Vec<Value> {
        static READS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = READS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let into = dir.join(format!("journal-{job}-{n}"));
        let out = aws(&[
            "s3",
            "cp",
            "--recursive",
            &format!("s3://{bucket}/{prefix}runs/{job}/events/"),
            &into.to_string_lossy(),
        ]);
        assert!(
            out.status.success(),
            "the journal of run {job} cannot be read: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut files: Vec<PathBuf> = std::fs::read_dir(&into)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.sort();
        let records = files
            .iter()
            .map(|f| {
                let text =
                    std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            })
            .collect();
        let _ = std::fs::remove_dir_all(&into);
        records
    }

    /// The drill runbook's name (its lock's name).
    fn runbook_name(objects: &[Value]) -> String {
        let map = object(objects, "ConfigMap", None);
        let rb: Value = serde_saphyr::from_str(map["data"]["drill.yaml"].as_str().unwrap_or(""))
            .unwrap_or_else(|e| panic!("{e}"));
        rb["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A failed scenario may leave its killed run's lock live for two minutes; the
    /// other scenario, which shares the runbook and the bucket, would then meet it
    /// instead of its own failure. Removed on the way out of a failing test only.
    struct LockLeftBehind {
        key: String,
    }

    impl Drop for LockLeftBehind {
        fn drop(&mut self) {
            if std::thread::panicking() {
                let _ = aws(&["s3", "rm", &self.key]);
            }
        }
    }

    fn count(records: &[Value], event: &str, step: Option<&str>) -> usize {
        records
            .iter()
            .filter(|r| r["event"] == event && step.is_none_or(|s| r["step"] == s))
            .count()
    }

    /// The drill as the pod runs it, against `k` reached through `kubeconfig`: killed
    /// when the restore starts, then the same command line again (the pod the Job
    /// starts instead) resumes the run: the backup is not taken again, the rest runs,
    /// and a third time it says the run is over.
    fn drill_in_place(k: &dyn Kube, objects: &[Value], kubeconfig: &Path, dir: &Path) {
        let _one_at_a_time = DRILL.lock().unwrap_or_else(|e| e.into_inner());
        let (bucket, prefix) = state_store(objects);
        let _lock = LockLeftBehind {
            key: format!("s3://{bucket}/{prefix}locks/{}.json", runbook_name(objects)),
        };
        let made = aws(&["s3", "mb", &format!("s3://{bucket}")]);
        let said = String::from_utf8_lossy(&made.stderr);
        assert!(
            made.status.success() || said.contains("BucketAlready"),
            "mb {bucket}: {said}"
        );
        let job = format!(
            "{CRONJOB}-{}-{}",
            k.label().replace(' ', "-"),
            std::process::id()
        );
        let line = CommandLine::of(objects, &job, kubeconfig, dir);
        assert!(
            line.args.contains(&job),
            "the run id is not the Job's name: {:?}",
            line.args
        );

        let killed = line.run(&[("LIFEBOAT_CRASH_AT", "step-started:restore:1")]);
        assert!(
            killed.status != 0 && killed.stderr.contains("crash point step-started:restore"),
            "the first pod was not killed when the restore started:\n{}\n{}",
            killed.stdout,
            killed.stderr
        );
        let before = journal(&bucket, &prefix, &job, dir);
        assert_eq!(count(&before, "step_succeeded", Some("backup")), 1);
        assert_eq!(count(&before, "step_succeeded", Some("restore")), 0);
        assert_eq!(count(&before, "run_finished", None), 0);

        // The rescheduled pod: the same command line.
        let resumed = line.run(&[]);
        assert_eq!(
            resumed.status,
            0,
            "the rescheduled pod did not finish the drill on the {}:\n{}\n{}",
            k.label(),
            resumed.stdout,
            resumed.stderr
        );
        assert!(
            resumed
                .stderr
                .contains(&format!("run {job} did not finish")),
            "{}",
            resumed.stderr
        );
        let events: Vec<Value> = resumed
            .stdout
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        assert_eq!(
            count(&events, "step_started", Some("backup")),
            0,
            "the backup was taken again:\n{}",
            resumed.stdout
        );
        for step in ["restore", "ready", "still-whole", "cleanup"] {
            assert_eq!(
                count(&events, "step_succeeded", Some(step)),
                1,
                "step {step}:\n{}",
                resumed.stdout
            );
        }
        let after = journal(&bucket, &prefix, &job, dir);
        assert_eq!(count(&after, "step_started", Some("backup")), 1);
        assert_eq!(count(&after, "run_resumed", None), 1);
        assert!(
            after
                .last()
                .is_some_and(|r| r["event"] == "run_finished" && r["state"] == "succeeded"),
            "{:?}",
            after.last()
        );
        // The copy was made and verified in the scratch namespace, then cleaned up.
        let restored = count(&events, "step_succeeded", Some("still-whole"));
        assert_eq!(restored, 1);
        let scratch = k.get_json(&["namespace", "shop-drill"]);
        assert!(
            scratch.is_none_or(|ns| ns["metadata"]["deletionTimestamp"].is_string()),
            "the scratch namespace was not deleted"
        );

        // Once more (a pod started after the run ended): reported, nothing runs.
        let again = line.run(&[]);
        assert_eq!(again.status, 0, "{}", again.stderr);
        assert!(
            again.stderr.contains("already ran to its end"),
            "{}",
            again.stderr
        );
        assert_eq!(again.stdout, "", "events of a run that did not happen");
        assert_eq!(journal(&bucket, &prefix, &job, dir).len(), after.len());
    }

    #[test]
    fn the_containers_command_line_runs_the_drill_on_the_sandbox_and_a_rescheduled_pod_resumes_it()
    {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sandbox = Served::start(&[&path("runbooks/fixtures/shop")]);
        let objects = documents(&render());
        drill_in_place(&sandbox, &objects, &sandbox.kubeconfig, dir.path());
    }

    #[test]
    fn the_containers_command_line_runs_the_drill_as_its_service_account_on_a_real_control_plane() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cp = ControlPlane::start();
        cp.ok(&[
            "apply",
            "-f",
            &path("runbooks/fixtures/shop").to_string_lossy(),
        ]);
        let yaml = render();
        let objects = documents(&yaml);
        // The base, applied as users apply it: the ServiceAccount, its RBAC, its bindings.
        cp.apply_yaml(&yaml);
        let kubeconfig = account_kubeconfig(&cp, dir.path());
        drill_in_place(&cp, &objects, &kubeconfig, dir.path());
    }
}
