//! `gitops_pause` against the published CRDs of Argo CD (v3.5.1) and Flux, on the
//! sandbox and on the real control plane: the Applications, Kustomizations,
//! HelmReleases and sources it selects are paused while the run goes on (read with
//! kubectl in the middle of the run), a failed check's rollback puts every one of them
//! back exactly as it was (the whole `spec` and `metadata.annotations` compared), one
//! already suspended stays suspended, both Argo CD methods round-trip, and a dry run
//! changes nothing. A step retried after a failure part way, a cluster without Argo CD
//! or Flux, and selection by namespace glob, name and label are proved on the sandbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::backup_restore::{failure, outputs, run_json};
use crate::harness::TestRunbook;
use crate::served::Served;
use testbed::{ControlPlane, Fault, FaultPlan, Kube, kubeconfig_through, upstream};

/// Every kind `gitops_pause` pauses, as kubectl names them.
pub const GITOPS_KINDS: &[&str] = &[
    "applications.argoproj.io",
    "kustomizations.kustomize.toolkit.fluxcd.io",
    "helmreleases.helm.toolkit.fluxcd.io",
    "gitrepositories.source.toolkit.fluxcd.io",
    "helmrepositories.source.toolkit.fluxcd.io",
    "ocirepositories.source.toolkit.fluxcd.io",
];

/// Beside the documentation's examples: a Kustomization already suspended, an
/// OCIRepository with `suspend: false` written out, an Application with no annotation
/// at all and no sync policy, and one whose skip-reconcile annotation says `"false"`
/// and whose automated sync sets every flag.
const MORE: &str = r#"apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: held
  namespace: default
  labels: { tier: platform }
spec:
  interval: 5m
  path: ./held
  prune: false
  suspend: true
  sourceRef: { kind: GitRepository, name: podinfo }
---
apiVersion: source.toolkit.fluxcd.io/v1
kind: OCIRepository
metadata:
  name: manifests
  namespace: flux-system
  labels: { tier: platform }
spec:
  interval: 5m
  url: oci://ghcr.io/stefanprodan/manifests/podinfo
  ref: { tag: latest }
  suspend: false
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: bare
  namespace: argocd
spec:
  project: default
  source: { repoURL: "https://github.com/argoproj/argocd-example-apps", path: guestbook, targetRevision: HEAD }
  destination: { server: "https://kubernetes.default.svc", namespace: guestbook }
---
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: explicit
  namespace: argocd
  annotations: { argocd.argoproj.io/skip-reconcile: "false", team: payments }
spec:
  project: default
  source: { repoURL: "https://github.com/argoproj/argocd-example-apps", path: helm-guestbook, targetRevision: HEAD }
  destination: { server: "https://kubernetes.default.svc", namespace: payments }
  syncPolicy:
    automated: { prune: false, selfHeal: true, allowEmpty: true }
"#;

/// The Argo CD and Flux CRDs (Established), the documentation's examples (applied with
/// kubectl, so they carry its annotation) and `MORE` (created: no annotation).
pub fn seed_gitops(k: &dyn Kube) {
    for crds in ["argocd-application-crd.yaml", "flux-crds.yaml"] {
        // Created, not applied: the Application CRD is too big for kubectl's
        // last-applied annotation.
        k.ok(&["create", "-f", &upstream(crds).to_string_lossy()]);
    }
    let mut wait = vec!["wait", "--for", "condition=Established", "--timeout=60s"];
    let crds: Vec<String> = GITOPS_KINDS.iter().map(|k| format!("crd/{k}")).collect();
    wait.extend(crds.iter().map(String::as_str));
    k.ok(&wait);
    for ns in ["argocd", "flux-system"] {
        k.ok(&["create", "namespace", ns]);
    }
    let examples = upstream("argocd-flux-examples.yaml");
    k.ok(&["apply", "-f", &examples.to_string_lossy()]);
    let out = k.kubectl_in(&["create", "-f", "-"], Some(MORE));
    assert!(
        out.status.success(),
        "kubectl create failed on the {}: {}",
        k.label(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The same objects as sandbox seeds (`lifeboat sandbox serve --seed`): the CRDs, the
/// examples, and `MORE` written into `dir` (for the crash matrix).
#[cfg(feature = "crash-points")]
pub fn seed_files(dir: &Path) -> Vec<PathBuf> {
    let more = dir.join("gitops-more.yaml");
    std::fs::write(&more, MORE).unwrap_or_else(|e| panic!("{e}"));
    vec![
        upstream("argocd-application-crd.yaml"),
        upstream("flux-crds.yaml"),
        upstream("argocd-flux-examples.yaml"),
        more,
    ]
}

/// Every GitOps object as `spec` and `metadata.annotations`, by `kind ns/name`, from
/// a `kubectl get -o json` list of several kinds.
fn of_list(list: &Value) -> BTreeMap<String, Value> {
    list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|item| {
            let key = format!(
                "{} {}/{}",
                item["kind"].as_str().unwrap_or(""),
                item["metadata"]["namespace"].as_str().unwrap_or(""),
                item["metadata"]["name"].as_str().unwrap_or("")
            );
            let kept =
                json!({ "spec": item["spec"], "annotations": item["metadata"]["annotations"] });
            (key, kept)
        })
        .collect()
}

/// The GitOps objects of the cluster, read with kubectl.
pub fn gitops_objects(k: &dyn Kube) -> BTreeMap<String, Value> {
    let kinds = GITOPS_KINDS.join(",");
    let list = k
        .get_json(&[&kinds, "-A"])
        .unwrap_or_else(|| panic!("no list of {kinds}"));
    of_list(&list)
}

/// `a` and `b` differ: every key and value that does.
pub fn differences(a: &BTreeMap<String, Value>, b: &BTreeMap<String, Value>) -> Vec<String> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| format!("{k}:\n  before {:?}\n  after  {:?}", a.get(k), b.get(k)))
        .collect()
}

/// `v` without the field that pausing sets (`spec.suspend`, or the skip-reconcile
/// annotation, or `spec.syncPolicy.automated`).
fn without_pause(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(spec) = v["spec"].as_object_mut() {
        spec.remove("suspend");
    }
    if let Some(policy) = v["spec"]["syncPolicy"].as_object_mut() {
        policy.remove("automated");
    }
    if let Some(a) = v["annotations"].as_object_mut() {
        a.remove("argocd.argoproj.io/skip-reconcile");
        if a.is_empty() {
            v["annotations"] = Value::Null;
        }
    }
    v
}

/// A runbook on `k` (cluster `c`): `gitops_pause` with `with` and its own undo; kubectl
/// reading every GitOps object (step `during`); a check that the Kustomization
/// `default/podinfo` runs again, which fails while it is suspended, rolling back.
fn pause_then_roll_back(dir: &Path, name: &str, k: &dyn Kube, with: &str) -> PathBuf {
    let kubectl = k.kubectl_program().to_string_lossy().into_owned();
    let kubeconfig = k.kubeconfig().display().to_string();
    TestRunbook::new(name)
        .cluster("c", k.kubeconfig())
        .steps(&format!(
            concat!(
                "  - {{ id: pause, uses: gitops_pause, cluster: c, with: {with}, undo: {{}} }}\n",
                "  - {{ id: during, uses: exec_local, with: {{ argv: [ \"{kubectl}\", \"--kubeconfig\", \"{kubeconfig}\", get, \"{kinds}\", -A, -o, json ] }} }}\n",
                "  - id: check\n    uses: wait\n    cluster: c\n",
                "    with: {{ kind: Kustomization, api_version: kustomize.toolkit.fluxcd.io/v1, namespace: default, name: podinfo, jsonpath: \"{{.spec.suspend}}\", value: \"false\", timeout: 1s }}\n",
                "    on_failure: rollback\n",
            ),
            with = with,
            kubectl = kubectl,
            kubeconfig = kubeconfig,
            kinds = GITOPS_KINDS.join(","),
        ))
        .write(dir)
}

/// What kubectl read in the middle of the run (step `during`).
fn during(events: &[Value]) -> BTreeMap<String, Value> {
    let stdout = outputs(events, "during")["stdout"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let list: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("kubectl printed no JSON ({e}): {stdout}"));
    of_list(&list)
}

fn warnings(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["event"] == "step_warning")
        .filter_map(|e| e["message"].as_str().map(str::to_string))
        .collect()
}

/// Checks that the pause step's undo ran without an error.
pub fn undone_cleanly(events: &[Value]) {
    let undone: Vec<&Value> = events
        .iter()
        .filter(|e| e["event"] == "step_undone")
        .collect();
    assert_eq!(undone.len(), 1, "{events:#?}");
    assert_eq!(undone[0]["step"], "pause");
    assert!(undone[0].get("error").is_none(), "{:#?}", undone[0]);
}

/// The whole scenario on one cluster.
fn pause_and_resume_exactly(k: &dyn Kube) {
    seed_gitops(k);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let before = gitops_objects(k);
    assert_eq!(before.len(), 9, "{before:#?}");

    // A dry run says what it would pause, and changes nothing.
    let dry = TestRunbook::new("gitops-dry")
        .cluster("c", k.kubeconfig())
        .steps("  - { id: pause, uses: gitops_pause, cluster: c, undo: {} }\n")
        .write(dir.path());
    let events = run_json(&dry, &["--dry-run"], 0);
    let out = outputs(&events, "pause");
    assert_eq!(out["paused"], "8", "{out}");
    assert_eq!(out["already_paused"], "1", "{out}");
    let problems = differences(&before, &gitops_objects(k));
    assert!(
        problems.is_empty(),
        "the dry run changed:\n{}",
        problems.join("\n")
    );

    // skip_reconcile (the default): every object paused during the run, then each
    // exactly as it was after the rollback.
    let rb = pause_then_roll_back(dir.path(), "gitops-skip", k, "{}");
    let events = run_json(&rb, &[], 1);
    let out = outputs(&events, "pause");
    assert_eq!(out["paused"], "8", "{out}");
    assert_eq!(out["already_paused"], "1", "{out}");
    assert_eq!(out["not_served"], "", "{out}");
    assert_eq!(
        out["kinds"],
        json!({ "applications": "3", "kustomizations": "1", "helmreleases": "1",
                "gitrepositories": "1", "helmrepositories": "1", "ocirepositories": "1" })
    );
    let mid = during(&events);
    assert_eq!(mid.len(), before.len(), "{mid:#?}");
    for (key, object) in &mid {
        if key.starts_with("Application ") {
            assert_eq!(
                object["annotations"]["argocd.argoproj.io/skip-reconcile"], "true",
                "{key} not paused: {object}"
            );
        } else {
            assert_eq!(
                object["spec"]["suspend"], true,
                "{key} not suspended: {object}"
            );
        }
        assert_eq!(
            without_pause(object),
            without_pause(&before[key]),
            "pausing {key} changed more than its pause"
        );
    }
    assert!(
        failure(&events, "check").contains("is `true`"),
        "{events:#?}"
    );
    undone_cleanly(&events);
    let problems = differences(&before, &gitops_objects(k));
    assert!(
        problems.is_empty(),
        "after the rollback ({}):\n{}",
        k.label(),
        problems.join("\n")
    );
    assert!(
        warnings(&events)
            .iter()
            .any(|w| w.contains("Kustomization default/held was suspended before the step")),
        "{events:#?}"
    );

    // disable_auto_sync: `automated` removed during the run, put back with the same
    // flags after it. `bare` has no sync policy: paused already.
    let rb = pause_then_roll_back(
        dir.path(),
        "gitops-autosync",
        k,
        "{ argocd: disable_auto_sync, kinds: [ applications, kustomizations ] }",
    );
    let events = run_json(&rb, &[], 1);
    let out = outputs(&events, "pause");
    assert_eq!(out["paused"], "3", "{out}");
    assert_eq!(out["already_paused"], "2", "{out}");
    let mid = during(&events);
    for (key, object) in mid.iter().filter(|(k, _)| k.starts_with("Application ")) {
        assert!(
            object["spec"]["syncPolicy"].get("automated").is_none(),
            "{key} still syncs on its own: {object}"
        );
        assert_eq!(
            object["annotations"], before[key]["annotations"],
            "{key}: its annotations changed"
        );
    }
    assert_eq!(
        mid["Application argocd/argocd"]["spec"]["syncPolicy"]["syncOptions"],
        json!(["ServerSideApply=true"])
    );
    undone_cleanly(&events);
    let after = gitops_objects(k);
    let problems = differences(&before, &after);
    assert!(
        problems.is_empty(),
        "after the rollback ({}):\n{}",
        k.label(),
        problems.join("\n")
    );
    assert_eq!(
        after["Application argocd/argocd"]["spec"]["syncPolicy"]["automated"],
        json!({ "prune": true, "selfHeal": true })
    );
}

#[test]
fn gitops_pause_pauses_argo_cd_and_flux_and_its_undo_puts_each_back_exactly_on_the_sandbox() {
    pause_and_resume_exactly(&Served::start(&[]));
}

#[test]
fn gitops_pause_pauses_argo_cd_and_flux_and_its_undo_puts_each_back_exactly_on_the_control_plane() {
    pause_and_resume_exactly(&ControlPlane::start());
}

/// The first attempt pauses the Applications, then the first patch of a Kustomization
/// is refused (403, injected once by a proxy); the step's `retry` runs it again. The
/// second attempt finds the Applications paused by the first: it must still record
/// them as not paused before the step, so the rollback resumes them.
#[test]
fn a_retried_pause_remembers_what_its_first_attempt_paused() {
    let c = Served::start(&[]);
    seed_gitops(&c);
    let before = gitops_objects(&c);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let through = dir.path().join("through.kubeconfig");
    let proxy = kubeconfig_through(
        &c.kubeconfig,
        &through,
        FaultPlan {
            seed: 7,
            rate: 1.0,
            faults: vec![Fault::Status(403)],
            ignore_conditions: false,
            max_faults: Some(1),
            only: Some("PATCH /apis/kustomize.toolkit.fluxcd.io/".into()),
        },
    );
    let rb = TestRunbook::new("gitops-retry")
        .cluster("c", &through)
        .steps(concat!(
            "  - { id: pause, uses: gitops_pause, cluster: c, retry: { attempts: 2, backoff: 10ms }, undo: {} }\n",
            "  - { id: check, uses: sleep, with: { duration: 1ms }, on_failure: rollback }\n",
        ))
        .write(dir.path());
    let events = run_json(&rb, &["--inject-failure", "check"], 1);
    assert_eq!(proxy.faults(), 1, "{:?}", proxy.seen());
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "step_retrying" && e["step"] == "pause"),
        "the first attempt did not fail: {events:#?}"
    );
    let out = outputs(&events, "pause");
    assert_eq!(out["paused"], "8", "{out}");
    assert_eq!(out["already_paused"], "1", "{out}");
    undone_cleanly(&events);
    let problems = differences(&before, &gitops_objects(&c));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_cluster_without_argo_cd_or_flux_fails_the_pause_unless_allow_none() {
    let c = Served::start(&[]);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("gitops-none")
        .cluster("c", &c.kubeconfig)
        .steps("  - { id: pause, uses: gitops_pause, cluster: c }\n")
        .write(dir.path());
    let events = run_json(&rb, &[], 1);
    let error = failure(&events, "pause");
    assert!(
        error.contains("serves none of `applications.argoproj.io`")
            && error.contains("allow_none: true"),
        "{error}"
    );
    let rb = TestRunbook::new("gitops-allowed")
        .cluster("c", &c.kubeconfig)
        .steps("  - { id: pause, uses: gitops_pause, cluster: c, with: { allow_none: true } }\n")
        .write(dir.path());
    let events = run_json(&rb, &[], 0);
    let out = outputs(&events, "pause");
    assert_eq!(out["paused"], "0");
    assert_eq!(
        out["not_served"],
        "applications,kustomizations,helmreleases,gitrepositories,helmrepositories,ocirepositories"
    );
}

/// Namespaces by glob, objects by name or by label: only those are paused.
#[test]
fn the_pause_takes_only_the_namespaces_names_and_labels_it_is_given() {
    let c = Served::start(&[]);
    seed_gitops(&c);
    let before = gitops_objects(&c);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let paused = |objects: &BTreeMap<String, Value>| -> Vec<String> {
        objects
            .iter()
            .filter(|(_, o)| {
                o["spec"]["suspend"] == true
                    || o["annotations"]["argocd.argoproj.io/skip-reconcile"] == "true"
            })
            .map(|(k, _)| k.clone())
            .collect()
    };
    let cases = [
        (
            "{ namespaces: [ \"flux-*\" ] }",
            vec![
                "Kustomization default/held",
                "OCIRepository flux-system/manifests",
            ],
        ),
        (
            "{ names: [ podinfo ], kinds: [ kustomizations, helmreleases ] }",
            vec![
                "HelmRelease default/podinfo",
                "Kustomization default/held",
                "Kustomization default/podinfo",
            ],
        ),
        (
            "{ selector: \"tier=platform\", namespaces: [ default, flux-system ] }",
            vec![
                "Kustomization default/held",
                "OCIRepository flux-system/manifests",
            ],
        ),
    ];
    for (n, (with, expected)) in cases.iter().enumerate() {
        let rb = pause_then_roll_back(dir.path(), &format!("gitops-select-{n}"), &c, with);
        let events = run_json(&rb, &[], 1);
        assert_eq!(&paused(&during(&events)), expected, "{with}");
        undone_cleanly(&events);
        let problems = differences(&before, &gitops_objects(&c));
        assert!(problems.is_empty(), "{with}: {}", problems.join("\n"));
    }

    // A name found nowhere is a typo: it fails the step.
    let rb = TestRunbook::new("gitops-typo")
        .cluster("c", &c.kubeconfig)
        .steps("  - { id: pause, uses: gitops_pause, cluster: c, with: { names: [ podinfo, podnifo ] } }\n")
        .write(dir.path());
    let events = run_json(&rb, &[], 1);
    let error = failure(&events, "pause");
    assert!(
        error.contains("no GitOps object named `podnifo`"),
        "{error}"
    );
    assert_eq!(paused(&gitops_objects(&c)), ["Kustomization default/held"]);
}
