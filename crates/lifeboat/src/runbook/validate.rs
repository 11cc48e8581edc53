//! Semantic checks of a parsed runbook: names that must resolve (clusters, stores, steps,
//! params, outputs), the `needs` graph (no cycles; outputs only from steps that surely
//! ran before), expressions, and rules between sections. Every problem is reported.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::de::Spanned;
use super::diagnostic::{Diagnostic, Loc, did_you_mean};
use super::expr::{self, ExprError, RUN_FIELDS, Reference};
use super::model::{API_VERSION, KIND, Runbook, Step};
use super::node::Node;
use super::parse::{Broken, Parsed};
use crate::actions;

/// A runbook's dependency graph: for each step (by index), the steps it waits for.
#[derive(Clone, Debug)]
pub struct Graph {
    pub deps: Vec<Vec<usize>>,
}

impl Graph {
    /// Explicit `needs`, or else the step before (runbooks read top to bottom).
    pub fn of(runbook: &Runbook) -> Graph {
        let index: BTreeMap<&str, usize> = runbook
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.head.id.value.0.as_str(), i))
            .collect();
        let deps = runbook
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| match &s.head.needs {
                Some(needs) => {
                    // A step needing itself is reported on its own, not as a cycle.
                    let mut d: Vec<usize> = needs
                        .iter()
                        .filter_map(|n| index.get(n.value.as_str()).copied())
                        .filter(|&d| d != i)
                        .collect();
                    d.sort_unstable();
                    d.dedup();
                    d
                }
                None if i > 0 => vec![i - 1],
                None => Vec::new(),
            })
            .collect();
        Graph { deps }
    }

    /// For every step, the steps that must finish before it (transitively): one pass
    /// in wave order, so long chains stay linear in practice.
    pub fn ancestor_sets(&self) -> Vec<StepSet> {
        let n = self.deps.len();
        match self.waves() {
            Some(waves) => {
                let mut sets = vec![StepSet::new(n); n];
                for &i in waves.iter().flatten() {
                    let mut set = StepSet::new(n);
                    for &d in &self.deps[i] {
                        set.union_with(&sets[d]);
                        set.insert(d);
                    }
                    sets[i] = set;
                }
                sets
            }
            // With a cycle (reported on its own), fall back to a search per step.
            None => (0..n)
                .map(|i| {
                    let mut set = StepSet::new(n);
                    for d in self.ancestors(i) {
                        set.insert(d);
                    }
                    set
                })
                .collect(),
        }
    }

    /// Every step that must finish before step `i` (transitively).
    pub fn ancestors(&self, i: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::new();
        let mut stack = self.deps.get(i).cloned().unwrap_or_default();
        while let Some(d) = stack.pop() {
            if seen.insert(d) {
                stack.extend(self.deps.get(d).into_iter().flatten().copied());
            }
        }
        seen
    }

    /// A cycle, as step indexes with the first repeated at the end, if there is one.
    pub fn cycle(&self) -> Option<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum Mark {
            New,
            Open,
            Done,
        }
        let n = self.deps.len();
        let mut mark = vec![Mark::New; n];
        for start in 0..n {
            if mark[start] != Mark::New {
                continue;
            }
            // Iterative DFS keeping the path, so deep graphs cannot overflow the stack.
            let mut path: Vec<(usize, usize)> = vec![(start, 0)];
            mark[start] = Mark::Open;
            while let Some(&mut (node, ref mut next)) = path.last_mut() {
                if let Some(&d) = self.deps[node].get(*next) {
                    *next += 1;
                    match mark[d] {
                        Mark::New => {
                            mark[d] = Mark::Open;
                            path.push((d, 0));
                        }
                        Mark::Open => {
                            let from = path.iter().position(|(p, _)| *p == d).unwrap_or(0);
                            let mut cycle: Vec<usize> =
                                path[from..].iter().map(|(p, _)| *p).collect();
                            cycle.push(d);
                            return Some(cycle);
                        }
                        Mark::Done => {}
                    }
                } else {
                    mark[node] = Mark::Done;
                    path.pop();
                }
            }
        }
        None
    }

    /// Steps grouped in waves: each wave's steps only wait for earlier waves, so the
    /// steps of one wave may run in parallel. `None` when there is a cycle.
    pub fn waves(&self) -> Option<Vec<Vec<usize>>> {
        let n = self.deps.len();
        // Kahn's algorithm, one wave at a time: a step is ready when all it needs is done.
        let mut waiting: Vec<usize> = self.deps.iter().map(Vec::len).collect();
        let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, deps) in self.deps.iter().enumerate() {
            for &d in deps {
                dependents[d].push(i);
            }
        }
        let mut wave: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
        let mut waves = Vec::new();
        let mut placed = 0;
        while !wave.is_empty() {
            placed += wave.len();
            let mut next = Vec::new();
            for &i in &wave {
                for &j in &dependents[i] {
                    waiting[j] -= 1;
                    if waiting[j] == 0 {
                        next.push(j);
                    }
                }
            }
            next.sort_unstable();
            waves.push(std::mem::replace(&mut wave, next));
        }
        (placed == n).then_some(waves)
    }
}

/// With params bound, inputs written as expressions must still be valid: a number where
/// a number goes, within its range. (Secret params are left unbound, so their values
/// never reach a message.)
pub fn check_bound_inputs(
    file: &Path,
    runbook: &Runbook,
    params: &[super::BoundParam],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for step in &runbook.steps {
        let mut pieces = vec![(step.head.uses.value.as_str(), &step.with_node)];
        if let Some(undo) = &step.undo
            && !matches!(undo.with, actions::ActionInputs::RestorePrevious(_))
        {
            pieces.push((undo.uses.as_str(), &undo.with_node));
        }
        for (uses, node) in pieces {
            let Some(action) = actions::find(uses) else {
                continue;
            };
            let bound = bind_params(node, params);
            if &bound == node {
                continue;
            }
            let errors = match action.parse_inputs(&bound) {
                Ok(inputs) => inputs.check(&bound),
                Err(errors) => errors,
            };
            for e in errors {
                out.push(
                    Diagnostic::new(
                        file,
                        e.loc.unwrap_or(node.loc),
                        format!("with params bound, {}", e.message),
                    )
                    .with_hint(
                        "the value comes from a param: check `--set` and the param's `default`",
                    ),
                );
            }
        }
    }
    out
}

/// A copy of `node` with every non-secret `${{ params.X }}` replaced by its value.
fn bind_params(node: &Node, params: &[super::BoundParam]) -> Node {
    use super::node::NodeKind;
    let kind = match &node.kind {
        NodeKind::Str(s) if s.contains("${{") => match expr::parse_template(s) {
            Ok(segments) => NodeKind::Str(expr::render(&segments, &|e| match e {
                expr::Expr::Ref(r) => match &r.reference {
                    Reference::Param(p) => params
                        .iter()
                        .find(|b| &b.name == p && !b.secret)
                        .map(|b| b.value.clone()),
                    _ => None,
                },
                _ => None,
            })),
            Err(_) => node.kind.clone(),
        },
        NodeKind::Seq(items) => {
            NodeKind::Seq(items.iter().map(|n| bind_params(n, params)).collect())
        }
        NodeKind::Map(entries) => NodeKind::Map(
            entries
                .iter()
                .map(|(k, v)| (bind_params(k, params), bind_params(v, params)))
                .collect(),
        ),
        other => other.clone(),
    };
    Node {
        kind,
        loc: node.loc,
    }
}

/// A set of step indexes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepSet(Vec<u64>);

impl StepSet {
    pub fn new(n: usize) -> Self {
        StepSet(vec![0; n.div_ceil(64)])
    }
    pub fn insert(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
    pub fn contains(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    pub fn union_with(&mut self, other: &StepSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
}

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

    /// Checks every `${{ }}` in the step's inputs, undo, name and description, and its
    /// `if:` condition.
    fn step_expressions(&mut self, index: usize, step: &Step, before: &StepSet) {
        // (text, where, whether it belongs to the undo, which sees the step's own outputs)
        let mut strings: Vec<(&str, Loc, bool)> = Vec::new();
        step.with_node
            .visit_strings(&mut |s, loc| strings.push((s, loc, false)));
        if let Some(undo) = &step.undo {
            undo.with_node
                .visit_strings(&mut |s, loc| strings.push((s, loc, true)));
        }
        for text in [&step.head.name, &step.head.description]
            .into_iter()
            .flatten()
        {
            strings.push((&text.value, text.loc, false));
        }
        for (text, loc, in_undo) in strings {
            if !text.contains("${{") {
                continue;
            }
            let (segments, errors) = expr::parse_template_all(text);
            for e in errors {
                self.expr_error(loc, text, e);
            }
            for seg in segments {
                if let expr::Segment::Expr { expr, .. } = seg {
                    for r in expr.references() {
                        let at = self.loc_in_string(loc, text, r.offset);
                        self.reference(index, step, before, in_undo, &r.reference, at);
                    }
                }
            }
        }
        if let Some(cond) = &step.head.condition {
            match expr::parse_condition(&cond.value) {
                Ok(e) => {
                    for r in e.references() {
                        let at = self.loc_in_string(cond.loc, &cond.value, r.offset);
                        self.reference(index, step, before, false, &r.reference, at);
                    }
                }
                Err(e) => self.expr_error(cond.loc, &cond.value, e),
            }
        }
    }

    fn expr_error(&mut self, loc: Loc, text: &str, e: ExprError) {
        let at = self.loc_in_string(loc, text, e.offset);
        self.error(at, format!("invalid expression: {}", e.message), e.hint);
    }

    /// Checks one reference; `before` holds the steps that surely ran before this one,
    /// and `own` says whether the step's own outputs are visible (in its undo).
    fn reference(
        &mut self,
        index: usize,
        step: &Step,
        before: &StepSet,
        own: bool,
        r: &Reference,
        at: Loc,
    ) {
        let rb = self.runbook;
        match r {
            Reference::Param(p) => {
                if rb.params.get(p).is_none() && !self.broken.params.contains(p) {
                    self.error(
                        at,
                        format!("unknown param `{p}`"),
                        Some(did_you_mean(p, "params", rb.params.names())),
                    );
                }
            }
            Reference::Run(field) => {
                if !RUN_FIELDS.contains(&field.as_str()) {
                    self.error(
                        at,
                        format!("unknown run field `run.{field}`"),
                        Some(did_you_mean(
                            field,
                            "run fields",
                            RUN_FIELDS.iter().copied(),
                        )),
                    );
                }
            }
            Reference::Env(_) => {}
            Reference::Output {
                step: producer,
                output,
                key,
            } => {
                if self.broken.steps.contains(producer) {
                    return;
                }
                let Some((pi, ps)) = self
                    .step_index
                    .get(producer.as_str())
                    .map(|&i| (i, &rb.steps[i]))
                else {
                    let ids = rb.steps.iter().map(|s| s.head.id.value.0.as_str());
                    self.error(
                        at,
                        format!("unknown step `{producer}`"),
                        Some(did_you_mean(producer, "steps", ids)),
                    );
                    return;
                };
                let Some(action) = actions::find(&ps.head.uses.value) else {
                    return;
                };
                let Some(out) = action.output(output) else {
                    let names = action.outputs.iter().map(|o| o.name);
                    let hint = if action.outputs.is_empty() {
                        format!("`{}` records no outputs", action.name)
                    } else {
                        did_you_mean(output, &format!("outputs of `{}`", action.name), names)
                    };
                    self.error(
                        at,
                        format!("step `{producer}` has no output `{output}`"),
                        Some(hint),
                    );
                    return;
                };
                if key.is_some() && !out.map {
                    self.error(
                        at,
                        format!(
                            "output `{output}` of step `{producer}` is a single value, not a map"
                        ),
                        Some(format!("use `steps.{producer}.outputs.{output}`")),
                    );
                }
                if pi == index && !own {
                    self.error(
                        at,
                        format!("step `{producer}` reads its own output `{output}`"),
                        Some("a step's outputs exist only after it has run".into()),
                    );
                } else if pi != index && !before.contains(pi) {
                    self.error(
                        at,
                        format!("step `{}` reads `steps.{producer}.outputs.{output}` but does not run after `{producer}`", step.head.id.value),
                        Some(format!("add `{producer}` to this step's `needs:` (directly or through a step it needs)")),
                    );
                }
            }
        }
    }

    /// Expressions are resolved in steps only.
    fn expressions_outside_steps(&mut self, root: &Node) {
        let Some(entries) = root.as_map() else { return };
        let mut found: Vec<Loc> = Vec::new();
        for (key, value) in entries {
            if key.as_str() != Some("steps") {
                value.visit_strings(&mut |s, loc| {
                    if s.contains("${{") {
                        found.push(loc);
                    }
                });
            }
        }
        for loc in found {
            self.error(
                loc,
                "expressions are only resolved inside steps",
                Some("write the value itself here, or pass it with a param used in a step".into()),
            );
        }
    }

    /// The position of character `offset` of a string scalar that starts at `loc`.
    /// Exact when the text before `offset` stands in the file as it is (one-line plain
    /// or quoted scalars without escapes); otherwise the scalar's own start.
    fn loc_in_string(&self, loc: Loc, value: &str, offset: usize) -> Loc {
        let Some(line) = self.lines.get(loc.line.saturating_sub(1) as usize) else {
            return loc;
        };
        let start = loc.col.saturating_sub(1) as usize;
        let shift = match line.chars().nth(start) {
            Some('"') | Some('\'') => 1,
            _ => 0,
        };
        let written = line.chars().skip(start + shift);
        let prefix = value.chars().take(offset);
        let same = written.zip(prefix.clone()).filter(|(a, b)| a == b).count() == offset
            && prefix.count() == offset;
        if !same {
            return loc;
        }
        let col = start + 1 + shift + offset;
        Loc::new(loc.line, u32::try_from(col).unwrap_or(loc.col))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(deps: Vec<Vec<usize>>) -> Graph {
        Graph { deps }
    }

    #[test]
    fn waves_group_independent_steps() {
        let g = graph(vec![vec![], vec![0], vec![0], vec![1, 2]]);
        assert_eq!(g.waves(), Some(vec![vec![0], vec![1, 2], vec![3]]));
        assert_eq!(g.ancestors(3), BTreeSet::from([0, 1, 2]));
    }

    #[test]
    fn cycles_are_found_and_named_in_order() {
        let g = graph(vec![vec![2], vec![0], vec![1]]);
        assert_eq!(g.cycle(), Some(vec![0, 2, 1, 0]));
        assert_eq!(g.waves(), None);
    }

    #[test]
    fn a_deep_chain_has_no_cycle_and_no_stack_overflow() {
        let deps: Vec<Vec<usize>> = (0..100_000)
            .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
            .collect();
        assert_eq!(graph(deps).cycle(), None);
    }
}
