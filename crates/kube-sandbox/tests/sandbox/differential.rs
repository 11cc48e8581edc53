//! The sandbox measured against the real control plane: one list of kubectl commands
//! runs against both (with the same kubectl, the real control plane's own), and their
//! answers are compared once what differs by nature is normalized (uids, resource
//! versions, times, allocated IPs and ports). Every difference left must be listed,
//! with the reason it is accepted, in docs/sandbox.md under "Differences from a real
//! API server"; a listed difference that no longer shows is reported too, so the list
//! stays true.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use crate::served::Served;
use testbed::{ControlPlane, Kube, fixture, kubectl, path, upstream};

/// What of a command's answer is compared.
#[derive(Clone, Copy)]
enum View {
    /// The exit status and stdout, as printed.
    Text,
    /// The exit status, and stdout as JSON, normalized.
    Json,
    /// The exit status only (tables with ages, diffs with timestamps).
    Status,
    /// The exit status and the first line of stderr (an error), normalized.
    Error,
}

/// One command of the list.
struct Step {
    name: &'static str,
    args: Vec<String>,
    stdin: Option<String>,
    view: View,
    /// Wait this long before running (controllers at work).
    settle: Duration,
}

fn step(name: &'static str, view: View, args: &[&str]) -> Step {
    Step {
        name,
        args: args.iter().map(|a| a.to_string()).collect(),
        stdin: None,
        view,
        settle: Duration::ZERO,
    }
}

impl Step {
    fn input(mut self, text: &str) -> Step {
        self.stdin = Some(text.to_string());
        self
    }
    fn after(mut self, wait: Duration) -> Step {
        self.settle = wait;
        self
    }
}

const INGRESS_LIKE: &str = include_str!("../fixtures/differential/ingress-like.yaml");

const WIDGETS: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: widgets.lifeboat.test }
spec:
  group: lifeboat.test
  scope: Namespaced
  names: { plural: widgets, singular: widget, kind: Widget, shortNames: [ wd ] }
  versions:
    - name: v1
      served: true
      storage: true
      subresources: { status: {} }
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: { type: integer, minimum: 1 }
                colour: { type: string, enum: [ red, blue ] }
"#;

fn steps() -> Vec<Step> {
    let demo = upstream("microservices-demo.yaml")
        .to_string_lossy()
        .into_owned();
    let netpols = upstream("microservices-demo-netpols.yaml")
        .to_string_lossy()
        .into_owned();
    let app_ns = fixture("sandbox/app/00-namespace.yaml")
        .to_string_lossy()
        .into_owned();
    let app = fixture("sandbox/app/02-workloads.yaml")
        .to_string_lossy()
        .into_owned();
    let mut list = vec![
        step("version-major", View::Status, &["version"]),
        step("create-namespace", View::Text, &["create", "namespace", "diff"]),
        step("apply-demo", View::Text, &["apply", "-n", "diff", "-f", &demo]),
        step("apply-netpols", View::Text, &["apply", "-n", "diff", "-f", &netpols]),
        step(
            "rollout-status",
            View::Status,
            &["rollout", "status", "-n", "diff", "deployment/frontend", "--timeout=90s"],
        ),
        step(
            "wait-available",
            View::Text,
            &["wait", "-n", "diff", "--for=condition=Available", "deployment/cartservice", "--timeout=90s"],
        ),
        step("get-deployment", View::Json, &["get", "-n", "diff", "deployment/frontend", "-o", "json"]),
        step("get-service", View::Json, &["get", "-n", "diff", "service/frontend-external", "-o", "json"]),
        step("get-netpol", View::Json, &["get", "-n", "diff", "networkpolicy/frontend", "-o", "json"]),
        step("get-serviceaccount", View::Json, &["get", "-n", "diff", "serviceaccount/cartservice", "-o", "json"]),
        step(
            "patch-merge",
            View::Json,
            &["patch", "-n", "diff", "deployment/frontend", "--type", "merge", "-p", r#"{"metadata":{"labels":{"team":"shop"}}}"#, "-o", "json"],
        ),
        step(
            "patch-json",
            View::Json,
            &["patch", "-n", "diff", "deployment/frontend", "--type", "json", "-p", r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#, "-o", "json"],
        ),
        step(
            "patch-strategic",
            View::Json,
            &["patch", "-n", "diff", "deployment/frontend", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"server","env":[{"name":"EXTRA","value":"1"}]}]}}}}"#, "-o", "json"],
        ),
        step(
            "patch-test-fails",
            View::Error,
            &["patch", "-n", "diff", "deployment/frontend", "--type", "json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":7}]"#],
        ),
        step("scale", View::Text, &["scale", "-n", "diff", "deployment/frontend", "--replicas=3"]),
        step(
            "scaled-replicas",
            View::Text,
            &["get", "-n", "diff", "deployment/frontend", "-o", "jsonpath={.spec.replicas}"],
        ),
        step(
            "ssa-first-manager",
            View::Json,
            &["apply", "--server-side", "--field-manager=alpha", "-n", "diff", "-f", "-", "-o", "json"],
        )
        .input("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: shared }\ndata: { owner: alpha }\n"),
        step(
            "ssa-conflict",
            View::Error,
            &["apply", "--server-side", "--field-manager=beta", "-n", "diff", "-f", "-"],
        )
        .input("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: shared }\ndata: { owner: beta }\n"),
        step(
            "ssa-force",
            View::Json,
            &["apply", "--server-side", "--field-manager=beta", "--force-conflicts", "-n", "diff", "-f", "-", "-o", "json"],
        )
        .input("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: shared }\ndata: { owner: beta }\n"),
        step(
            "create-dry-run-server",
            View::Json,
            &["create", "configmap", "ghost", "-n", "diff", "--from-literal=a=b", "--dry-run=server", "-o", "json"],
        ),
        step("ghost-absent", View::Error, &["get", "configmap", "ghost", "-n", "diff"]),
        step(
            "stale-update",
            View::Error,
            &["replace", "-n", "diff", "-f", "-"],
        )
        .input("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: shared, resourceVersion: \"1\" }\ndata: { owner: gamma }\n"),
        step(
            "diff-changed",
            View::Status,
            &["diff", "-n", "diff", "-f", "-"],
        )
        .input("apiVersion: v1\nkind: ConfigMap\nmetadata: { name: shared }\ndata: { owner: delta }\n"),
        step("apply-crd", View::Text, &["apply", "-f", "-"]).input(WIDGETS),
        step(
            "crd-established",
            View::Text,
            &["wait", "--for=condition=Established", "crd/widgets.lifeboat.test", "--timeout=60s"],
        ),
        step("apply-widget", View::Text, &["apply", "-n", "diff", "-f", "-"])
            .input("apiVersion: lifeboat.test/v1\nkind: Widget\nmetadata: { name: w1 }\nspec: { size: 3, colour: blue, extra: x }\n"),
        step("get-widget", View::Json, &["get", "widget", "w1", "-n", "diff", "-o", "json"]),
        step("widget-invalid", View::Error, &["apply", "-n", "diff", "-f", "-"])
            .input("apiVersion: lifeboat.test/v1\nkind: Widget\nmetadata: { name: w2 }\nspec: { size: 0, colour: green }\n"),
        step("apply-ingress-like", View::Text, &["apply", "-f", "-"]).input(INGRESS_LIKE),
        step(
            "get-webhook",
            View::Json,
            &["get", "validatingwebhookconfiguration", "lifeboat-ingress-admission", "-o", "json"],
        ),
        step(
            "get-ingressclass",
            View::Json,
            &["get", "ingressclass", "lifeboat-nginx", "-o", "json"],
        ),
        step(
            "get-ingress-controller",
            View::Json,
            &["get", "-n", "lifeboat-ingress", "deployment/controller", "-o", "json"],
        ),
        step("apply-app", View::Text, &["apply", "-f", &app_ns, "-f", &app]),
        step(
            "job-complete",
            View::Text,
            &["wait", "-n", "app", "--for=condition=Complete", "job/migrate", "--timeout=60s"],
        ),
        step("get-job", View::Json, &["get", "-n", "app", "job/migrate", "-o", "json"]),
        step(
            "claim-named-volume-waits",
            View::Text,
            &["apply", "-n", "diff", "-f", "-"],
        )
        .input("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: { name: pinned }\nspec: { volumeName: no-such-volume, accessModes: [ ReadWriteOnce ], resources: { requests: { storage: 1Gi } } }\n"),
        step(
            "claim-named-volume-phase",
            View::Text,
            &["get", "pvc", "pinned", "-n", "diff", "-o", "jsonpath={.status.phase}"],
        )
        .after(Duration::from_secs(3)),
        step("node-port-taken", View::Error, &["apply", "-n", "diff", "-f", "-"]).input(
            "apiVersion: v1\nkind: Service\nmetadata: { name: one }\nspec: { type: NodePort, ports: [ { port: 80, nodePort: 30777 } ] }\n---\napiVersion: v1\nkind: Service\nmetadata: { name: two }\nspec: { type: NodePort, ports: [ { port: 80, nodePort: 30777 } ] }\n",
        ),
        step("orphan", View::Text, &["apply", "-n", "diff", "-f", "-"]).input(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: orphan\n  ownerReferences: [ { apiVersion: v1, kind: ConfigMap, name: gone, uid: 00000000-0000-0000-0000-000000000000 } ]\ndata: { a: b }\n",
        ),
        step("orphan-collected", View::Error, &["get", "configmap", "orphan", "-n", "diff"])
            .after(Duration::from_secs(10)),
        step("pod-missing-priority-class", View::Error, &["apply", "-n", "diff", "-f", "-"]).input(
            "apiVersion: v1\nkind: Pod\nmetadata: { name: lonely }\nspec: { priorityClassName: no-such-class, containers: [ { name: c, image: busybox } ] }\n",
        ),
        step(
            "delete-namespace",
            View::Text,
            &["delete", "namespace", "diff", "--timeout=120s"],
        ),
        step("namespace-gone", View::Error, &["get", "namespace", "diff"]),
    ];
    for s in &mut list {
        s.args.insert(0, "--request-timeout=60s".into());
    }
    list
}

/// What one run of a step answered, normalized for `view`.
fn answer(k: &dyn Kube, program: &std::ffi::OsStr, s: &Step) -> String {
    std::thread::sleep(s.settle);
    let args: Vec<&str> = s.args.iter().map(String::as_str).collect();
    let out = kubectl(program, k.kubeconfig(), &args, s.stdin.as_deref());
    let code = out.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    match s.view {
        View::Status => format!("exit {code}"),
        View::Text => format!("exit {code}\n{stdout}"),
        View::Error => format!(
            "exit {code}\n{}",
            normalize_text(stderr.lines().next().unwrap_or(""))
        ),
        View::Json => match serde_json::from_str::<Value>(&stdout) {
            Ok(mut v) => {
                normalize(&mut v);
                format!(
                    "exit {code}\n{}",
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                )
            }
            Err(_) => format!("exit {code}\nnot JSON: {stdout}{stderr}"),
        },
    }
}

/// Numbers and ids that differ between any two clusters, in an error message.
fn normalize_text(s: &str) -> String {
    let uid = regex_lite_uid(s);
    uid.split_whitespace()
        .map(|w| {
            if w.trim_matches(|c: char| !c.is_ascii_digit()).len() >= 4
                && w.chars().filter(char::is_ascii_digit).count() >= 4
                && !w.contains("30777")
            {
                "<n>"
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` with every uid-shaped word replaced.
fn regex_lite_uid(s: &str) -> String {
    s.split(|c: char| c == '"' || c.is_whitespace())
        .fold(s.to_string(), |acc, w| {
            let shaped = w.len() == 36 && w.chars().filter(|c| *c == '-').count() == 4;
            if shaped { acc.replace(w, "<uid>") } else { acc }
        })
}

/// Leaves out of an object what differs between any two clusters, or what the
/// controllers of each write at their own pace.
fn normalize(v: &mut Value) {
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        items.iter_mut().for_each(normalize);
        return;
    }
    let Some(map) = v.as_object_mut() else {
        return;
    };
    map.remove("status");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        for f in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(f);
        }
        if let Some(Value::Array(refs)) = meta.get_mut("ownerReferences") {
            for r in refs.iter_mut().filter_map(Value::as_object_mut) {
                r.remove("uid");
            }
        }
    }
    if let Some(Value::Object(spec)) = map.get_mut("spec") {
        for f in ["clusterIP", "clusterIPs", "healthCheckNodePort"] {
            if spec.contains_key(f) {
                spec.insert(f.into(), Value::from("<allocated>"));
            }
        }
        for port in spec
            .get_mut("ports")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object_mut)
        {
            if port.contains_key("nodePort") {
                port.insert("nodePort".into(), Value::from("<allocated>"));
            }
        }
    }
    uid_values(v);
}

/// Label values that are uids (a Job's `controller-uid`), anywhere.
fn uid_values(v: &mut Value) {
    match v {
        Value::Object(m) => m.values_mut().for_each(uid_values),
        Value::Array(a) => a.iter_mut().for_each(uid_values),
        Value::String(s) if s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4 => {
            *s = "<uid>".into();
        }
        _ => {}
    }
}

/// The steps docs/sandbox.md lists as accepted differences.
fn accepted() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(path("docs/sandbox.md")).unwrap_or_default();
    let Some((_, section)) = doc.split_once("## Differences from a real API server") else {
        return BTreeSet::new();
    };
    let section = section.split("\n## ").next().unwrap_or("");
    section
        .lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split_once('`').map(|(name, _)| name.to_string()))
        .collect()
}

/// A line-by-line account of how two answers differ.
fn difference(sandbox: &str, real: &str) -> String {
    let a: Vec<&str> = sandbox.lines().collect();
    let b: Vec<&str> = real.lines().collect();
    let mut out = Vec::new();
    for l in &a {
        if !b.contains(l) {
            out.push(format!("  sandbox only: {l}"));
        }
    }
    for l in &b {
        if !a.contains(l) {
            out.push(format!("  real only:    {l}"));
        }
    }
    if out.is_empty() {
        // The same lines in another order: show where they part.
        if let Some(i) = a.iter().zip(&b).position(|(x, y)| x != y) {
            out.push(format!(
                "  the same lines in another order, from line {i}:\n  sandbox: {}\n  real:    {}",
                a[i..a.len().min(i + 6)].join(" "),
                b[i..b.len().min(i + 6)].join(" ")
            ));
        }
    }
    out.join("\n")
}

#[test]
fn the_sandbox_answers_kubectl_as_the_real_control_plane_does() {
    let real = ControlPlane::start();
    let sandbox = Served::start(&[]);
    let program = real.kubectl_program().to_os_string();
    let accepted = accepted();
    let mut differing = BTreeSet::new();
    let mut report = Vec::new();
    for s in steps() {
        let on_sandbox = answer(&sandbox, &program, &s);
        let on_real = answer(&real, &program, &s);
        if on_sandbox != on_real {
            differing.insert(s.name.to_string());
            if !accepted.contains(s.name) {
                report.push(format!(
                    "step `{}` ({}):\n{}",
                    s.name,
                    s.args.join(" "),
                    difference(&on_sandbox, &on_real)
                ));
            }
        }
    }
    eprintln!("differences (accepted in docs/sandbox.md: {accepted:?}): {differing:?}");
    assert!(
        report.is_empty(),
        "the sandbox answers differently, and docs/sandbox.md does not list it:\n\n{}",
        report.join("\n\n")
    );
    let stale: Vec<&String> = accepted.difference(&differing).collect();
    assert!(
        stale.is_empty(),
        "docs/sandbox.md lists differences that no longer show: {stale:?}"
    );
}
