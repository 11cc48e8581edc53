//! `lifeboat rbac` against reality: runbooks run on sandboxes that log every API request
//! (`sandbox serve --access-log`), and every request must be allowed by the rules
//! generated for its cluster, matched as the Kubernetes RBAC authorizer matches them
//! (API groups, resources and subresources, verbs, namespaces, resource names,
//! non-resource URLs). Least privilege is checked the other way: on a cluster where
//! the run exercises every path, every verb granted was used; a runbook that only
//! scales gets no Secrets and no wildcards. kubectl (server-side dry run) accepts the
//! output of every example runbook.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::backup_restore::run_json;
use crate::harness::{Test, TestRunbook, path};
use crate::kill::Logged;
use crate::served::Served;
use testbed::Kube;

/// Every request `sandbox` logged, as the RBAC authorizer sees them.
fn requests(sandbox: &Logged) -> Vec<Request> {
    sandbox.entries().iter().map(Request::of).collect()
}

/// One logged API request, as the RBAC authorizer sees it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Request {
    verb: String,
    path: String,
    group: String,
    /// `deployments` or `deployments/scale`.
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
}

impl Request {
    fn of(e: &Value) -> Request {
        let text = |k: &str| e[k].as_str().unwrap_or_default().to_string();
        let (base, sub) = match text("resource").split_once('/') {
            Some((b, s)) => (b.to_string(), Some(s.to_string())),
            None => (text("resource"), None),
        };
        let (plural, group) = match base.split_once('.') {
            Some((p, g)) => (p.to_string(), g.to_string()),
            None => (base.clone(), String::new()),
        };
        let path = text("path");
        Request {
            verb: text("verb"),
            resource: match sub {
                Some(s) => format!("{plural}/{s}"),
                None => plural,
            },
            group,
            namespace: e["namespace"].as_str().map(str::to_string),
            name: object_name(&path),
            path,
        }
    }

    fn is_discovery(&self) -> bool {
        self.verb == "discovery"
    }
}

/// The object a request path names: `/apis/apps/v1/namespaces/shop/deployments/web/scale`
/// names `web`.
fn object_name(path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let rest = match segments.first() {
        Some(&"api") => segments.get(2..)?,
        Some(&"apis") => segments.get(3..)?,
        _ => return None,
    };
    let rest = if rest.first() == Some(&"namespaces") && rest.len() >= 3 {
        &rest[2..]
    } else {
        rest
    };
    rest.get(1).map(|s| s.to_string())
}

/// The rules generated for one cluster: its ClusterRole's, and each Role's by namespace.
#[derive(Debug, Default)]
struct Granted {
    cluster: Vec<Value>,
    roles: BTreeMap<String, Vec<Value>>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

impl Granted {
    /// The rules for `cluster` in the output of `lifeboat rbac`.
    fn of(yaml: &str, cluster: &str) -> Granted {
        let docs: Vec<Value> = serde_saphyr::from_multiple(yaml)
            .unwrap_or_else(|e| panic!("the output is not YAML: {e}\n{yaml}"));
        let mut granted = Granted::default();
        for d in docs.into_iter().filter(|d| !d.is_null()) {
            assert_eq!(d["apiVersion"], "rbac.authorization.k8s.io/v1", "{d}");
            if d["metadata"]["labels"]["lifeboat.dev/cluster"] != cluster {
                continue;
            }
            let rules = d["rules"].as_array().cloned().unwrap_or_default();
            match (d["kind"].as_str(), d["metadata"]["namespace"].as_str()) {
                (Some("ClusterRole"), None) => granted.cluster.extend(rules),
                (Some("Role"), Some(ns)) => granted
                    .roles
                    .entry(ns.to_string())
                    .or_default()
                    .extend(rules),
                _ => panic!("not a ClusterRole or a namespaced Role: {d}"),
            }
        }
        granted
    }

    /// The rules that apply to a request: the ClusterRole's, and the Role's of its
    /// namespace.
    fn rules_for<'a>(&'a self, r: &Request) -> impl Iterator<Item = &'a Value> {
        let role = r
            .namespace
            .as_ref()
            .and_then(|ns| self.roles.get(ns))
            .into_iter()
            .flatten();
        self.cluster.iter().chain(role)
    }

    fn allows(&self, r: &Request) -> bool {
        self.rules_for(r).any(|rule| rule_allows(rule, r))
    }

    fn all_rules(&self) -> impl Iterator<Item = &Value> {
        self.cluster.iter().chain(self.roles.values().flatten())
    }
}

/// Whether one rule allows a request, as the RBAC authorizer decides.
fn rule_allows(rule: &Value, r: &Request) -> bool {
    let verbs = strings(&rule["verbs"]);
    let verb = if r.is_discovery() { "get" } else { &r.verb };
    if !verbs.iter().any(|v| v == "*" || v == verb) {
        return false;
    }
    if r.is_discovery() {
        return strings(&rule["nonResourceURLs"]).iter().any(|u| {
            u == &r.path
                || u.strip_suffix('*')
                    .is_some_and(|prefix| r.path.starts_with(prefix))
        });
    }
    let groups = strings(&rule["apiGroups"]);
    if !groups.iter().any(|g| g == "*" || *g == r.group) {
        return false;
    }
    let sub = r.resource.split_once('/').map(|(_, s)| s);
    let resource_ok = strings(&rule["resources"]).iter().any(|res| {
        res == "*"
            || *res == r.resource
            || (res.strip_prefix("*/").is_some() && res.strip_prefix("*/") == sub)
    });
    let names = strings(&rule["resourceNames"]);
    let name_ok = names.is_empty() || r.name.as_ref().is_some_and(|n| names.contains(n));
    resource_ok && name_ok
}

fn rbac(args: &[&str]) -> String {
    Test::new()
        .arg("rbac")
        .args(args.iter().copied())
        .run()
        .stdout
}

/// Every request logged by `sandbox` that the rules do not allow.
fn denied(granted: &Granted, requests: &[Request]) -> Vec<Request> {
    let set: BTreeSet<Request> = requests
        .iter()
        .filter(|r| !granted.allows(r))
        .cloned()
        .collect();
    set.into_iter().collect()
}

/// The demo shop, and a PersistentVolumeClaim to snapshot in namespace `vault`.
fn shop_seed(dir: &Path) -> PathBuf {
    let seed = dir.join("seed-shop");
    std::fs::create_dir_all(&seed).unwrap_or_else(|e| panic!("{e}"));
    std::fs::copy(
        path("runbooks/fixtures/shop/shop.yaml"),
        seed.join("shop.yaml"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        seed.join("pvc.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: { name: vault }\n---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: { name: data, namespace: vault }\nspec:\n  accessModes: [ ReadWriteOnce ]\n  resources: { requests: { storage: 1Gi } }\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    seed
}

const FAILOVER_STEPS: &str = r#"  - { id: backup, uses: backup, cluster: a, with: { store: local, namespaces: [ "${{ params.ns }}" ] } }
  - { id: snap, uses: snapshot, cluster: a, with: { namespace: vault, pvcs: [ data ], timeout: 30s } }
  - id: freeze
    uses: scale
    cluster: a
    with: { namespace: "${{ params.ns }}", kind: Deployment, selector: "tier=web", replicas: 0 }
    undo: {}
  - id: pin
    uses: scale
    cluster: a
    with: { namespace: shop, kind: Deployment, name: cart, replicas: 2 }
    undo: {}
  - { id: gone, uses: delete, cluster: a, with: { kind: ConfigMap, namespace: shop, name: shop-settings } }
  - id: restore
    uses: restore
    cluster: b
    with: { store: local, backup: "${{ steps.backup.outputs.backup_id }}", existing: update, restore_status: true }
  - { id: ready, uses: wait, cluster: b, with: { kind: Deployment, namespace: shop, all: true, condition: Available, timeout: 60s } }
  - id: switch
    uses: patch
    cluster: b
    with: { kind: ConfigMap, namespace: edge, name: routing, merge: { data: { active: b } } }
    undo: {}
  - id: notice
    uses: apply
    cluster: b
    with:
      namespace: edge
      manifests:
        - { apiVersion: v1, kind: ConfigMap, metadata: { name: notice, labels: { lifeboat-test: "yes" } }, data: { text: failover } }
    undo: {}
  - id: dump
    uses: job
    cluster: b
    with:
      namespace: edge
      spec: { template: { spec: { restartPolicy: Never, containers: [ { name: dump, image: "postgres:16", args: [ pg_dumpall ] } ] } } }
      timeout: 30s
  - { id: tidy, uses: delete, cluster: b, with: { kind: ConfigMap, namespace: edge, selector: "lifeboat-test=yes" } }
  - id: check
    uses: wait
    cluster: b
    with: { kind: ConfigMap, namespace: edge, name: routing, jsonpath: "{.data.active}", value: b, timeout: 10s }
    on_failure: rollback
"#;

#[test]
fn every_request_of_real_runs_is_allowed_by_the_rules_of_its_cluster() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = Logged::start(dir.path(), "a", Some(&shop_seed(dir.path())));
    let b = Logged::start(dir.path(), "b", Some(&path("runbooks/fixtures/edge")));
    let store = dir.path().join("store");
    let rb = TestRunbook::new("rbac-reality")
        .params("  ns: { default: shop }\n")
        .cluster("a", &a.kubeconfig)
        .cluster("b", &b.kubeconfig)
        .store(
            "local",
            &format!("{{ fs: {{ path: \"{}\" }} }}", store.display()),
        )
        .steps(FAILOVER_STEPS)
        .write(dir.path());
    // A run, a run that fails at the end and rolls back (undos; the restore meets
    // existing objects), and a dry run.
    run_json(&rb, &[], 0);
    let rolled_back = run_json(&rb, &["--inject-failure", "check"], 1);
    let undone: Vec<&str> = rolled_back
        .iter()
        .filter(|e| e["event"] == "step_undone" && e["error"].is_null())
        .filter_map(|e| e["step"].as_str())
        .collect();
    assert_eq!(
        undone,
        ["notice", "switch", "pin", "freeze"],
        "{rolled_back:#?}"
    );
    run_json(&rb, &["--dry-run"], 0);

    let yaml = rbac(&[&rb.display().to_string()]);
    for (name, sandbox) in [("a", &a), ("b", &b)] {
        let granted = Granted::of(&yaml, name);
        let requests = requests(sandbox);
        assert!(requests.len() > 20, "cluster {name}: {requests:?}");
        let denied = denied(&granted, &requests);
        assert!(
            denied.is_empty(),
            "cluster {name}: the generated rules deny {} requests the run made:\n{denied:#?}\n\n{yaml}",
            denied.len()
        );
    }
    // Every request the dry run made carried dryRun=All, and was allowed all the same.
    let a_granted = Granted::of(&yaml, "a");
    assert!(
        a_granted
            .all_rules()
            .all(|r| !strings(&r["verbs"]).contains(&"*".to_string())),
        "no verb wildcard:\n{yaml}"
    );
    // Least privilege: on cluster a every path ran, so every verb granted was used.
    let requests = requests(&a);
    for rule in a_granted.all_rules() {
        for verb in strings(&rule["verbs"]) {
            let single = serde_json::json!({
                "apiGroups": rule["apiGroups"], "resources": rule["resources"],
                "resourceNames": rule["resourceNames"], "nonResourceURLs": rule["nonResourceURLs"],
                "verbs": [verb],
            });
            assert!(
                requests.iter().any(|r| {
                    rule_allows(&single, r)
                        && (r.is_discovery() == rule["nonResourceURLs"].is_array())
                }),
                "cluster a: `{verb}` of rule {rule} was never used: more than the runbook needs\n{yaml}"
            );
        }
    }
    // Where lifeboat acts on one namespace only, it gets a Role there, not the cluster.
    assert!(
        a_granted.roles.contains_key("shop"),
        "a Role in shop:\n{yaml}"
    );
    let shop = &a_granted.roles["shop"];
    assert!(
        shop.iter()
            .any(|r| strings(&r["resources"]) == ["deployments/scale"]),
        "{yaml}"
    );
    let b_granted = Granted::of(&yaml, "b");
    assert!(
        b_granted.roles.contains_key("edge"),
        "the standby's edge namespace exists before the run: a Role there\n{yaml}"
    );
}

#[test]
fn a_runbook_that_only_scales_gets_no_secrets_and_no_wildcards() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let a = Logged::start(dir.path(), "a", Some(&path("runbooks/fixtures/shop")));
    let rb = TestRunbook::new("only-scale")
        .cluster("c", &a.kubeconfig)
        .steps(
            "  - id: freeze\n    uses: scale\n    with: { namespace: shop, kind: Deployment, selector: \"tier=web\", replicas: 0 }\n    undo: {}\n",
        )
        .write(dir.path());
    run_json(&rb, &[], 0);
    let yaml = rbac(&[&rb.display().to_string()]);
    let granted = Granted::of(&yaml, "c");
    assert!(denied(&granted, &requests(&a)).is_empty(), "{yaml}");
    assert!(!yaml.contains("secrets"), "{yaml}");
    for rule in granted.all_rules() {
        for key in ["apiGroups", "resources", "verbs"] {
            assert!(
                !strings(&rule[key]).contains(&"*".to_string()),
                "no wildcard in {key}: {rule}\n{yaml}"
            );
        }
    }
    // Exactly: discovery, list the Deployments, patch their /scale, in shop.
    assert_eq!(granted.cluster.len(), 1, "{yaml}");
    assert!(granted.cluster[0]["nonResourceURLs"].is_array(), "{yaml}");
    let shop: Vec<(Vec<String>, Vec<String>, Vec<String>)> = granted.roles["shop"]
        .iter()
        .map(|r| {
            (
                strings(&r["apiGroups"]),
                strings(&r["resources"]),
                strings(&r["verbs"]),
            )
        })
        .collect();
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        shop,
        vec![
            (s(&["apps"]), s(&["deployments"]), s(&["list"])),
            (s(&["apps"]), s(&["deployments/scale"]), s(&["patch"])),
        ],
        "{yaml}"
    );
}

#[test]
fn kubectl_accepts_the_rbac_of_every_example_runbook() {
    let sandbox = Served::start(&[
        &path("runbooks/fixtures/shop"),
        &path("runbooks/fixtures/edge"),
    ]);
    // The failover pauses Argo CD and Flux in their namespaces: Roles go there.
    for ns in ["argocd", "flux-system"] {
        sandbox.ok(&["create", "namespace", ns]);
    }
    let mut runbooks: Vec<PathBuf> = std::fs::read_dir(path("runbooks"))
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    runbooks.sort();
    assert!(runbooks.len() >= 5, "{runbooks:?}");
    for rb in &runbooks {
        let yaml = rbac(&[&rb.display().to_string()]);
        assert!(
            yaml.contains("kind: ClusterRole"),
            "{}:\n{yaml}",
            rb.display()
        );
        let out = sandbox.kubectl_in(&["apply", "--dry-run=server", "-f", "-"], Some(&yaml));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "kubectl apply --dry-run=server of the RBAC of {}:\n{}\n{}\n{yaml}",
            rb.display(),
            stdout,
            String::from_utf8_lossy(&out.stderr)
        );
        let objects = yaml.matches("\nkind: ").count();
        assert_eq!(
            stdout.matches("(server dry run)").count(),
            objects,
            "{stdout}"
        );
        assert!(stdout.contains("clusterrole.rbac.authorization.k8s.io/lifeboat-"));
    }
    // The README's example: a whole-cluster backup reads every type, writes nothing.
    let yaml = rbac(&["runbooks/backup.yaml"]);
    let granted = Granted::of(&yaml, "prod");
    assert!(granted.roles.is_empty(), "{yaml}");
    for rule in granted.all_rules() {
        assert!(
            strings(&rule["verbs"])
                .iter()
                .all(|v| v == "get" || v == "list"),
            "a backup only reads: {rule}"
        );
    }
    assert!(yaml.contains("\"/version\""), "{yaml}");
}

#[test]
fn set_binds_params_and_cluster_picks_one_cluster() {
    let demo = path("runbooks/demo.yaml").display().to_string();
    let yaml = rbac(&[&demo, "--set", "namespace=web", "--cluster", "primary"]);
    let granted = Granted::of(&yaml, "primary");
    assert!(granted.roles.contains_key("web"), "{yaml}");
    assert!(!yaml.contains("lifeboat-demo-standby"), "{yaml}");
    assert!(yaml.contains("Params as bound: namespace=web."), "{yaml}");
    Test::new()
        .args(["rbac", &demo, "--cluster", "nosuch"])
        .status(2)
        .stderr_contains("the runbook has no cluster `nosuch`; its clusters: `primary`, `standby`")
        .run();
    Test::new()
        .args([
            "rbac",
            "crates/lifeboat/tests/fixtures/invalid/unknown-cluster.yaml",
        ])
        .status(2)
        .stderr_contains("unknown cluster `stanby`")
        .run();
}

#[test]
fn values_known_only_at_run_time_are_granted_widely_and_secrets_never_printed() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let kubeconfig = dir.path().join("none.kubeconfig");
    let rb = TestRunbook::new("late")
        .params("  hidden: { default: s3cr3t-namespace, secret: true }\n")
        .cluster("c", &kubeconfig)
        .steps(
            "  - { id: probe, uses: exec_local, with: { argv: [ echo, shop ] } }\n\
             \x20 - { id: ready, uses: wait, with: { kind: Deployment, namespace: \"${{ steps.probe.outputs.stdout }}\", all: true, rollout: true } }\n\
             \x20 - { id: peek, uses: wait, with: { kind: ConfigMap, namespace: \"${{ params.hidden }}\", name: routing, condition: Ready } }\n\
             \x20 - { id: widget, uses: delete, with: { kind: Widget, api_version: example.com/v1, namespace: edge, name: w1 } }\n",
        )
        .write(dir.path());
    let yaml = rbac(&[&rb.display().to_string()]);
    assert!(
        !yaml.contains("s3cr3t"),
        "a secret param's value is never printed:\n{yaml}"
    );
    let granted = Granted::of(&yaml, "c");
    let cluster_resources: Vec<Vec<String>> = granted
        .cluster
        .iter()
        .map(|r| strings(&r["resources"]))
        .collect();
    assert!(
        cluster_resources.contains(&vec!["deployments".to_string()]),
        "a namespace known only at run time: every namespace\n{yaml}"
    );
    assert!(
        yaml.contains("`${{ steps.probe.outputs.stdout }}` is known only when the step runs"),
        "{yaml}"
    );
    assert!(
        yaml.contains("`Widget` is not a built-in kind: its resource is taken as `widgets`"),
        "{yaml}"
    );
    let edge = &granted.roles["edge"];
    assert_eq!(
        strings(&edge[0]["apiGroups"]),
        vec!["example.com"],
        "{yaml}"
    );
    assert_eq!(strings(&edge[0]["resourceNames"]), vec!["w1"], "{yaml}");
}

#[test]
fn apply_files_that_cannot_be_read_are_a_clear_error() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let rb = TestRunbook::new("no-files")
        .cluster("c", &dir.path().join("none.kubeconfig"))
        .steps("  - { id: put, uses: apply, with: { files: [ missing/ ] } }\n")
        .write(dir.path());
    Test::new()
        .arg("rbac")
        .arg(&rb)
        .status(2)
        .stderr_contains("cannot read the manifests")
        .stderr_contains("missing")
        .run();
}
