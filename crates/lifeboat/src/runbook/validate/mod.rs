//! Semantic checks of a parsed runbook: names that must resolve (clusters, stores, steps,
//! params, outputs), the `needs` graph (no cycles; outputs only from steps that surely
//! ran before), expressions, and rules between sections. Every problem is reported.

mod bound;
mod references;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::de::Spanned;
use super::diagnostic::{Diagnostic, Loc, did_you_mean};
use super::graph::Graph;
use super::model::{API_VERSION, KIND, Runbook, Signing, Step};
use super::node::Node;
use super::parse::{Broken, Parsed};
use crate::actions;

pub use bound::check_bound_inputs;

struct Checker<'a> {
    file: &'a Path,
    /// The runbook's lines, to place expressions inside strings.
    lines: Vec<&'a str>,
    /// Step id → index (the first step with that id).
    step_index: std::collections::HashMap<&'a str, usize>,
    runbook: &'a Runbook,
    broken: &'a Broken,
    out: Vec<Diagnostic>,
}

/// Runs every semantic check; `sets` are the `--set` names given on the command line.
pub fn validate(
    file: &Path,
    source: &str,
    root: &Node,
    parsed: &Parsed,
    sets: &[String],
) -> Vec<Diagnostic> {
    let mut c = Checker {
        file,
        lines: source.lines().collect(),
        step_index: parsed
            .runbook
            .steps
            .iter()
            .enumerate()
            .rev()
            .map(|(i, s)| (s.head.id.value.0.as_str(), i))
            .collect(),
        runbook: &parsed.runbook,
        broken: &parsed.broken,
        out: Vec::new(),
    };
    c.header(root);
    c.params(root, sets);
    c.clusters();
    c.stores();
    c.expressions_outside_steps(root);
    c.steps();
    c.out
}

impl Checker<'_> {
    fn error(&mut self, loc: Loc, message: impl Into<String>, hint: Option<String>) {
        self.out
            .push(Diagnostic::new(self.file, loc, message).with_hint_opt(hint));
    }

    fn header(&mut self, root: &Node) {
        let rb = self.runbook;
        if let Some(node) = root.get("apiVersion")
            && node.as_str().is_some()
            && rb.api_version != API_VERSION
        {
            self.error(
                node.loc,
                format!("unsupported apiVersion `{}`", rb.api_version),
                Some(format!("this lifeboat reads `apiVersion: {API_VERSION}`")),
            );
        }
        if let Some(node) = root.get("kind")
            && node.as_str().is_some()
            && rb.kind != KIND
        {
            self.error(
                node.loc,
                format!("unsupported kind `{}`", rb.kind),
                Some(format!("use `kind: {KIND}`")),
            );
        }
    }

    fn params(&mut self, root: &Node, sets: &[String]) {
        let rb = self.runbook;
        for (name, param) in &rb.params.0 {
            if param.default.is_none() && !sets.contains(&name.value.0) {
                self.error(
                    name.loc,
                    format!("param `{}` has no default and is not given", name.value),
                    Some(format!(
                        "pass `--set {}=VALUE`, or give it a `default:`",
                        name.value
                    )),
                );
            }
        }
        for set in sets {
            if rb.params.get(set).is_none() && !self.broken.params.contains(set) {
                let at = root.key("params").map_or(Loc::new(1, 1), |n| n.loc);
                self.error(
                    at,
                    format!("`--set {set}=...` names no param of this runbook"),
                    Some(did_you_mean(set, "params", rb.params.names())),
                );
            }
        }
    }

    fn clusters(&mut self) {
        let rb = self.runbook;
        let dir = self.file.parent().unwrap_or(Path::new("."));
        for (name, cluster) in &rb.clusters.0 {
            if let Some(sandbox) = &cluster.sandbox {
                if cluster.context.is_some() || cluster.kubeconfig.is_some() {
                    self.error(
                        name.loc,
                        format!(
                            "cluster `{}` is both a sandbox and a kubeconfig context",
                            name.value
                        ),
                        Some("use either `sandbox:` or `context:`/`kubeconfig:`".into()),
                    );
                }
                for seed in &sandbox.seed {
                    let path = dir.join(&seed.value);
                    if !path.exists() {
                        self.error(
                            seed.loc,
                            format!("sandbox seed `{}` does not exist", seed.value),
                            Some(format!(
                                "seed paths are relative to the runbook's folder ({})",
                                dir.display()
                            )),
                        );
                    }
                }
            }
        }
    }

    /// A store's `signing`: key files that exist, and a public key when signatures
    /// are required.
    fn signing(&mut self, store: &str, loc: Loc, signing: &Signing) {
        let dir = self.file.parent().unwrap_or(Path::new("."));
        if signing.require_signature && signing.public_key.is_none() {
            self.error(
                loc,
                format!("store `{store}` requires signatures but names no `public_key`"),
                Some("add `public_key:` (a minisign public key file) to check them with".into()),
            );
        }
        if signing.secret_key.is_none() && signing.public_key.is_none() {
            self.error(
                loc,
                format!("store `{store}` has `signing` without a key"),
                Some("add `secret_key:` to sign backups written here, `public_key:` to check those read from here".into()),
            );
        }
        for key in [&signing.secret_key, &signing.public_key]
            .into_iter()
            .flatten()
        {
            if !dir.join(&key.value).is_file() {
                self.error(
                    key.loc,
                    format!("key file `{}` does not exist", key.value),
                    Some(format!(
                        "key paths are relative to the runbook's folder ({}); make a key pair with `minisign -G`",
                        dir.display()
                    )),
                );
            }
        }
    }

    fn stores(&mut self) {
        let rb = self.runbook;
        for (name, store) in &rb.stores.0 {
            match (&store.s3, &store.fs) {
                (Some(_), Some(_)) => self.error(
                    name.loc,
                    format!("store `{}` has both `s3` and `fs`", name.value),
                    Some("a store is either `s3:` or `fs:`".into()),
                ),
                (None, None) => self.error(
                    name.loc,
                    format!("store `{}` has neither `s3` nor `fs`", name.value),
                    Some("add `s3: {{ bucket: ... }}` or `fs: {{ path: ... }}`".into()),
                ),
                _ => {}
            }
            if let Some(enc) = &store.encryption {
                if enc.age_recipients.is_empty() {
                    self.error(
                        name.loc,
                        format!("store `{}` has encryption without recipients", name.value),
                        Some("list at least one `age1...` recipient".into()),
                    );
                }
                for r in &enc.age_recipients {
                    if !r.value.starts_with("age1") && !r.value.starts_with("ssh-") {
                        self.error(
                            r.loc,
                            format!("`{}` is not an age recipient", r.value),
                            Some(
                                "age recipients look like `age1...` (from `age-keygen -y`)".into(),
                            ),
                        );
                    }
                }
            }
            if let Some(signing) = &store.signing {
                self.signing(&name.value.0, name.loc, signing);
            }
        }
        if let Some(state) = &rb.state
            && let Some(store) = &state.store
        {
            self.store_ref(store);
            if state.path.is_some() {
                self.error(
                    store.loc,
                    "`state` has both `store` and `path`",
                    Some("keep one of them".into()),
                );
            }
        }
    }

    fn store_ref(&mut self, store: &Spanned<String>) {
        let rb = self.runbook;
        if store.value.contains("${{") {
            self.error(
                store.loc,
                "a store is named, not computed: expressions are not resolved here",
                Some(did_you_mean("", "stores", rb.stores.names())),
            );
            return;
        }
        if rb.stores.get(&store.value).is_none() && !self.broken.stores.contains(&store.value) {
            self.error(
                store.loc,
                format!("unknown store `{}`", store.value),
                Some(did_you_mean(&store.value, "stores", rb.stores.names())),
            );
        }
    }

    fn cluster_ref(
        &mut self,
        step: &Step,
        action: &actions::ActionSpec,
        cluster: Option<&Spanned<String>>,
        what: &str,
    ) {
        let rb = self.runbook;
        if let Some(c) = cluster.filter(|c| c.value.contains("${{")) {
            self.error(
                c.loc,
                "a cluster is named, not computed: expressions are not resolved here",
                Some(did_you_mean("", "clusters", rb.clusters.names())),
            );
            return;
        }
        match (action.on_cluster, cluster) {
            (true, Some(c))
                if rb.clusters.get(&c.value).is_none()
                    && !self.broken.clusters.contains(&c.value) =>
            {
                self.error(
                    c.loc,
                    format!("unknown cluster `{}`", c.value),
                    Some(did_you_mean(&c.value, "clusters", rb.clusters.names())),
                );
            }
            (true, None) if rb.clusters.len() + self.broken.clusters.len() != 1 => {
                let hint = if rb.clusters.is_empty() {
                    "define a cluster under `clusters:` and name it with `cluster:`".to_string()
                } else {
                    did_you_mean("", "clusters", rb.clusters.names())
                };
                self.error(
                    step.head.uses.loc,
                    format!(
                        "{what} `{}` uses `{}`, which acts on a cluster, but names no cluster",
                        step.head.id.value, action.name
                    ),
                    Some(format!("add `cluster:`; {hint}")),
                );
            }
            (false, Some(c)) => self.error(
                c.loc,
                format!("action `{}` does not act on a cluster", action.name),
                Some("remove `cluster:`".into()),
            ),
            _ => {}
        }
    }

    fn steps(&mut self) {
        let rb = self.runbook;
        let mut first_seen: BTreeMap<&str, Loc> = BTreeMap::new();
        for step in &rb.steps {
            let id = step.head.id.value.0.as_str();
            if let Some(first) = first_seen.get(id) {
                self.error(
                    step.head.id.loc,
                    format!("duplicate step id `{id}`"),
                    Some(format!(
                        "the first step `{id}` is at line {}; step ids must be unique",
                        first.line
                    )),
                );
            } else {
                first_seen.insert(id, step.head.id.loc);
            }
        }
        let known: BTreeSet<&str> = first_seen
            .keys()
            .copied()
            .chain(self.broken.steps.iter().map(String::as_str))
            .collect();
        for step in &rb.steps {
            let Some(action) = actions::find(&step.head.uses.value) else {
                continue;
            };
            self.cluster_ref(step, action, step.head.cluster.as_ref(), "step");
            for store in step.with.stores() {
                self.store_ref(store);
            }
            if let Some(undo) = &step.undo
                && let Some(undo_action) = actions::find(&undo.uses)
            {
                let cluster = undo.head.cluster.as_ref().or(step.head.cluster.as_ref());
                if undo.head.cluster.is_some() || undo_action.on_cluster != action.on_cluster {
                    self.cluster_ref(step, undo_action, cluster, "the undo of step");
                }
                for store in undo.with.stores() {
                    self.store_ref(store);
                }
            }
            if let Some(needs) = &step.head.needs {
                let mut seen = BTreeSet::new();
                for need in needs {
                    if need.value == step.head.id.value.0 {
                        self.error(
                            need.loc,
                            format!("step `{}` needs itself", need.value),
                            Some("remove it from `needs`".into()),
                        );
                    } else if !known.contains(need.value.as_str()) {
                        self.error(
                            need.loc,
                            format!("unknown step `{}` in `needs`", need.value),
                            Some(did_you_mean(&need.value, "steps", known.iter().copied())),
                        );
                    } else if !seen.insert(need.value.as_str()) {
                        self.error(
                            need.loc,
                            format!("step `{}` is listed twice in `needs`", need.value),
                            Some("list each step once".into()),
                        );
                    }
                }
            }
        }
        let graph = Graph::of(rb);
        self.cycles(&graph);
        let before = graph.ancestor_sets();
        for (i, step) in rb.steps.iter().enumerate() {
            self.step_expressions(i, step, &before[i]);
        }
    }

    /// Reports every cycle in `needs` (at most 20), each at the `needs` entry that
    /// closes it.
    fn cycles(&mut self, graph: &Graph) {
        let rb = self.runbook;
        let id = |i: usize| rb.steps[i].head.id.value.0.as_str();
        let mut graph = graph.clone();
        for _ in 0..20 {
            let Some(cycle) = graph.cycle() else { return };
            // cycle[j] waits for cycle[j + 1]; find the edges written as `needs`.
            let edges: Vec<(usize, usize)> = cycle.windows(2).map(|w| (w[0], w[1])).collect();
            let explicit = |(from, to): (usize, usize)| {
                rb.steps[from]
                    .head
                    .needs
                    .as_ref()
                    .and_then(|needs| needs.iter().find(|n| n.value == id(to)))
            };
            let implicit = edges.iter().any(|&e| explicit(e).is_none());
            let closing = edges.iter().rev().copied().find(|&e| explicit(e).is_some());
            let at = closing
                .and_then(explicit)
                .map_or(rb.steps[cycle[0]].head.id.loc, |n| n.loc);
            let mut order: Vec<&str> = cycle.iter().map(|&i| id(i)).collect();
            order.reverse();
            let mut hint = "remove one of these `needs` so the steps can be ordered".to_string();
            if implicit {
                hint.push_str("; a step without `needs` runs after the step before it");
            }
            self.error(
                at,
                format!(
                    "steps wait for each other in a cycle: {}",
                    order.join(" → ")
                ),
                Some(hint),
            );
            let (from, to) = closing.unwrap_or(edges[0]);
            graph.deps[from].retain(|&d| d != to);
        }
    }
}
