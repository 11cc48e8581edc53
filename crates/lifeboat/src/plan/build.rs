//! Building the plan of a loaded runbook: params bound (secrets masked), steps placed
//! in waves, each step's cluster, `if:` (decided when params alone decide it), inputs
//! and undo resolved as far as nothing but the runbook tells.

use super::{
    MASK, PLAN_FORMAT_VERSION, Plan, PlanCluster, PlanObjectives, PlanParam, PlanRetry,
    PlanRunbook, PlanState, PlanStep, PlanStore, PlanUndo,
};
use crate::actions::{self, ActionInputs, ActionSpec};
use crate::runbook::Loaded;
use crate::runbook::expr::{self, Expr, Reference, Value};
use crate::runbook::model::{Cluster, OrExpr, Step, Store};
use crate::runbook::node::{Node, NodeKind};

/// Builds the plan of a loaded runbook.
pub fn build(loaded: &Loaded) -> Plan {
    let rb = &loaded.runbook;
    let waves = loaded.graph.waves().unwrap_or_default();
    let builder = Builder {
        loaded,
        wave_of: wave_of(&waves, rb.steps.len()),
        only_cluster: (rb.clusters.len() == 1).then(|| rb.clusters.0[0].0.value.0.clone()),
    };
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        runbook: PlanRunbook {
            name: rb.metadata.name.value.0.clone(),
            description: rb.metadata.description.clone(),
            file: loaded.path.display().to_string(),
        },
        params: builder.params(),
        objectives: builder.objectives(),
        clusters: rb
            .clusters
            .0
            .iter()
            .map(|(n, c)| plan_cluster(&n.value.0, c))
            .collect(),
        stores: rb
            .stores
            .0
            .iter()
            .map(|(n, s)| plan_store(&n.value.0, s))
            .collect(),
        state: builder.state(),
        waves: waves.iter().map(|w| builder.ids(w)).collect(),
        steps: rb
            .steps
            .iter()
            .enumerate()
            .map(|(i, step)| builder.step(i, step))
            .collect(),
    }
}

/// The 1-based wave of every step.
fn wave_of(waves: &[Vec<usize>], steps: usize) -> Vec<usize> {
    let mut wave_of = vec![0; steps];
    for (w, wave) in waves.iter().enumerate() {
        for &i in wave {
            wave_of[i] = w + 1;
        }
    }
    wave_of
}

struct Builder<'a> {
    loaded: &'a Loaded,
    wave_of: Vec<usize>,
    /// The cluster a step on a cluster uses when it names none.
    only_cluster: Option<String>,
}

impl Builder<'_> {
    /// What the plan knows of a reference: params (secrets masked) and the runbook's
    /// name; outputs, the environment and the run are known only at run time.
    fn lookup(&self, r: &Reference) -> Option<Value> {
        match r {
            Reference::Param(p) => self.loaded.param(p).map(|p| {
                Value::Str(if p.secret {
                    MASK.to_string()
                } else {
                    p.value.clone()
                })
            }),
            Reference::Run(f) if f == "runbook" => Some(Value::Str(
                self.loaded.runbook.metadata.name.value.0.clone(),
            )),
            _ => None,
        }
    }

    fn bind(&self, node: &Node) -> serde_json::Value {
        bind_node(node, &|r| self.lookup(r))
    }

    fn ids(&self, indexes: &[usize]) -> Vec<String> {
        indexes
            .iter()
            .map(|&i| self.loaded.runbook.steps[i].head.id.value.0.clone())
            .collect()
    }

    fn step(&self, i: usize, step: &Step) -> PlanStep {
        let action = actions::find(&step.head.uses.value);
        let cluster = self.cluster_of(action, step.head.cluster.as_ref().map(|c| &c.value));
        let condition = step.head.condition.as_ref().map(|c| c.value.clone());
        PlanStep {
            id: step.head.id.value.0.clone(),
            name: step
                .head
                .name
                .as_ref()
                .map(|n| bind_text(&n.value, &|r| self.lookup(r))),
            uses: step.head.uses.value.clone(),
            summary: action.map_or("", |a| a.summary),
            wave: self.wave_of[i],
            cluster: cluster.clone(),
            stores: step.with.stores().iter().map(|s| s.value.clone()).collect(),
            needs: self.ids(&self.loaded.graph.deps[i]),
            condition_value: condition.as_deref().and_then(|c| self.decide(c)),
            condition,
            inputs: self.bind(&step.with_node),
            timeout: step
                .head
                .timeout
                .as_ref()
                .map(|t| bind_text(&t.value.to_string(), &|r| self.lookup(r))),
            retry: step.head.retry.as_ref().map(|r| PlanRetry {
                attempts: match &r.attempts.value {
                    OrExpr::Expr(e) => {
                        let text = bind_text(e, &|r| self.lookup(r));
                        text.trim()
                            .parse()
                            .map_or(OrExpr::Expr(text), OrExpr::Value)
                    }
                    literal => literal.clone(),
                },
                backoff: r
                    .backoff
                    .as_ref()
                    .map(|b| bind_text(&b.value.to_string(), &|r| self.lookup(r))),
            }),
            on_failure: step.head.on_failure.to_string(),
            undo: step.undo.as_ref().map(|u| PlanUndo {
                uses: u.uses.clone(),
                // An undo runs on its step's cluster unless it names another.
                cluster: self.cluster_of(
                    actions::find(&u.uses),
                    u.head
                        .cluster
                        .as_ref()
                        .map(|c| &c.value)
                        .or(cluster.as_ref()),
                ),
                inputs: match &u.with {
                    ActionInputs::RestorePrevious(r) => {
                        serde_json::json!({ "restore_previous": r.restore_previous })
                    }
                    _ => self.bind(&u.with_node),
                },
            }),
            outputs: action.map_or_else(Vec::new, |a| a.outputs.iter().map(|o| o.name).collect()),
            dry_run: action.map_or("", |a| a.dry_run),
        }
    }

    /// The cluster an action on a cluster uses: the one named, or the only one.
    fn cluster_of(&self, action: Option<&ActionSpec>, named: Option<&String>) -> Option<String> {
        action
            .filter(|a| a.on_cluster)
            .and_then(|_| named.cloned().or(self.only_cluster.clone()))
    }

    /// The value of an `if:` when params alone decide it. A condition reading a secret
    /// is left to run time: its answer would say something about the secret.
    fn decide(&self, condition: &str) -> Option<bool> {
        let parsed = expr::parse_condition(condition).ok()?;
        let reads_secret = parsed.references().iter().any(|r| {
            matches!(&r.reference, Reference::Param(p) if self.loaded.param(p).is_some_and(|p| p.secret))
        });
        if reads_secret {
            return None;
        }
        parsed
            .eval(&|r: &Reference| match r {
                Reference::Param(p) => self.loaded.param(p).map(|p| Value::Str(p.value.clone())),
                other => self.lookup(other),
            })
            .map(|v| v.truthy())
    }

    fn params(&self) -> Vec<PlanParam> {
        self.loaded
            .params
            .iter()
            .map(|p| PlanParam {
                name: p.name.clone(),
                value: if p.secret {
                    MASK.to_string()
                } else {
                    p.value.clone()
                },
                secret: p.secret,
                source: p.source,
                description: p.description.clone(),
            })
            .collect()
    }

    fn objectives(&self) -> PlanObjectives {
        let objectives = self.loaded.runbook.objectives.as_ref();
        PlanObjectives {
            rto: objectives
                .and_then(|o| o.rto.as_ref())
                .map(|d| d.value.to_string()),
            rpo: objectives
                .and_then(|o| o.rpo.as_ref())
                .map(|d| d.value.to_string()),
        }
    }

    fn state(&self) -> PlanState {
        match &self.loaded.runbook.state {
            Some(s) if s.store.is_some() => PlanState {
                kind: "store",
                location: s
                    .store
                    .as_ref()
                    .map(|s| s.value.clone())
                    .unwrap_or_default(),
            },
            Some(s) if s.path.is_some() => PlanState {
                kind: "path",
                location: s.path.clone().unwrap_or_default(),
            },
            _ => PlanState {
                kind: "default",
                location: ".lifeboat/".to_string(),
            },
        }
    }
}

fn plan_cluster(name: &str, c: &Cluster) -> PlanCluster {
    PlanCluster {
        name: name.to_string(),
        kind: if c.sandbox.is_some() {
            "sandbox"
        } else {
            "kubeconfig"
        },
        context: c.context.clone(),
        kubeconfig: c.kubeconfig.as_ref().map(|k| k.value.clone()),
        seed: c.sandbox.as_ref().map_or_else(Vec::new, |s| {
            s.seed.iter().map(|p| p.value.clone()).collect()
        }),
    }
}

fn plan_store(name: &str, s: &Store) -> PlanStore {
    let (kind, location) = match (&s.s3, &s.fs) {
        (Some(s3), _) => (
            "s3",
            format!(
                "s3://{}/{}",
                s3.bucket.value,
                s3.prefix.clone().unwrap_or_default()
            ),
        ),
        (None, Some(fs)) => ("fs", fs.path.value.clone()),
        (None, None) => ("none", String::new()),
    };
    PlanStore {
        name: name.to_string(),
        kind,
        location,
        encrypted: s.encryption.is_some(),
    }
}

/// A string with what `lookup` knows resolved.
fn bind_text(s: &str, lookup: &dyn Fn(&Reference) -> Option<Value>) -> String {
    match expr::parse_template(s) {
        Ok(segments) => expr::render(&segments, &|e: &Expr| e.eval(lookup).map(|v| v.to_string())),
        Err(_) => s.to_string(),
    }
}

/// Converts inputs to JSON, resolving what `lookup` knows inside strings.
fn bind_node(node: &Node, lookup: &dyn Fn(&Reference) -> Option<Value>) -> serde_json::Value {
    match &node.kind {
        NodeKind::Str(s) if s.contains("${{") => serde_json::Value::String(bind_text(s, lookup)),
        NodeKind::Seq(items) => {
            serde_json::Value::Array(items.iter().map(|n| bind_node(n, lookup)).collect())
        }
        NodeKind::Map(entries) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.key_text(), bind_node(v, lookup)))
                .collect(),
        ),
        _ => node.to_json(),
    }
}
