//! The plan: a valid runbook with its params bound, its steps in execution waves, and
//! each step's cluster, stores, inputs (secrets masked), timeout, retry, failure policy
//! and undo. Built without any network access; rendered as text, JSON or Markdown.
//! The JSON form is documented in docs/plan-json.md and versioned by `format_version`.

mod markdown;
mod text;

use serde::Serialize;

use crate::actions;
use crate::runbook::Loaded;
use crate::runbook::expr::{self, Expr, Reference, Value};
use crate::runbook::model::{Cluster, Store};
use crate::runbook::node::{Node, NodeKind};

pub use markdown::render_markdown;
pub use text::render_text;

/// Version of the plan's JSON form; bumped on any incompatible change.
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What a secret looks like in a plan.
pub const MASK: &str = "********";

#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    pub format_version: u32,
    pub runbook: PlanRunbook,
    pub params: Vec<PlanParam>,
    pub objectives: PlanObjectives,
    pub clusters: Vec<PlanCluster>,
    pub stores: Vec<PlanStore>,
    pub state: PlanState,
    /// Step ids by wave: the steps of one wave may run in parallel.
    pub waves: Vec<Vec<String>>,
    pub steps: Vec<PlanStep>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanRunbook {
    pub name: String,
    pub description: Option<String>,
    pub file: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanParam {
    pub name: String,
    /// The bound value, or `********` for secret params.
    pub value: String,
    pub secret: bool,
    /// `default` or `set` (given with `--set`).
    pub source: crate::runbook::ParamSource,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanObjectives {
    pub rto: Option<String>,
    pub rpo: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanCluster {
    pub name: String,
    /// `kubeconfig` or `sandbox`.
    pub kind: &'static str,
    pub context: Option<String>,
    pub kubeconfig: Option<String>,
    pub seed: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanStore {
    pub name: String,
    /// `s3` or `fs`.
    pub kind: &'static str,
    /// `s3://bucket/prefix` or the folder path.
    pub location: String,
    pub encrypted: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanState {
    /// `store`, `path` or `default`.
    pub kind: &'static str,
    pub location: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanStep {
    pub id: String,
    pub name: Option<String>,
    pub uses: String,
    pub summary: &'static str,
    /// 1-based wave number.
    pub wave: usize,
    pub cluster: Option<String>,
    pub stores: Vec<String>,
    /// The steps this one waits for (explicit `needs`, or the step before).
    pub needs: Vec<String>,
    /// The `if:` condition with params bound.
    pub condition: Option<String>,
    /// The condition's value when params alone decide it; `null` when it depends on
    /// outputs or the environment (known only at run time), or when there is none.
    pub condition_value: Option<bool>,
    /// Inputs with params bound and secrets masked; other expressions are left as
    /// written, to be resolved at run time.
    pub inputs: serde_json::Value,
    pub timeout: Option<String>,
    pub retry: Option<PlanRetry>,
    pub on_failure: String,
    pub undo: Option<PlanUndo>,
    pub outputs: Vec<&'static str>,
    pub dry_run: &'static str,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanRetry {
    pub attempts: u32,
    pub backoff: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanUndo {
    pub uses: String,
    pub cluster: Option<String>,
    pub inputs: serde_json::Value,
}

/// Builds the plan of a loaded runbook.
pub fn build(loaded: &Loaded) -> Plan {
    let rb = &loaded.runbook;
    let lookup = |r: &Reference| -> Option<Value> {
        match r {
            Reference::Param(p) => loaded.param(p).map(|p| {
                Value::Str(if p.secret {
                    MASK.to_string()
                } else {
                    p.value.clone()
                })
            }),
            Reference::Run(f) if f == "runbook" => {
                Some(Value::Str(rb.metadata.name.value.0.clone()))
            }
            _ => None,
        }
    };
    let bind = |node: &Node| bind_node(node, &lookup);
    let waves = loaded.graph.waves().unwrap_or_default();
    let mut wave_of = vec![0; rb.steps.len()];
    for (w, wave) in waves.iter().enumerate() {
        for &i in wave {
            wave_of[i] = w + 1;
        }
    }
    let only_cluster = (rb.clusters.len() == 1).then(|| rb.clusters.0[0].0.value.0.clone());
    let steps = rb
        .steps
        .iter()
        .enumerate()
        .map(|(i, step)| {
            let action = actions::find(&step.head.uses.value);
            let cluster = action.filter(|a| a.on_cluster).and_then(|_| {
                step.head
                    .cluster
                    .as_ref()
                    .map(|c| c.value.clone())
                    .or(only_cluster.clone())
            });
            let condition = step.head.condition.as_ref().map(|c| {
                // Evaluated with real values, except that a condition reading a secret
                // is left to run time: its answer would say something about the secret.
                let parsed = expr::parse_condition(&c.value).ok();
                let value = parsed.as_ref().and_then(|e| {
                    let reads_secret = e.references().iter().any(|r| {
                        matches!(&r.reference, Reference::Param(p) if loaded.param(p).is_some_and(|p| p.secret))
                    });
                    if reads_secret {
                        return None;
                    }
                    e.eval(&|r: &Reference| match r {
                        Reference::Param(p) => loaded.param(p).map(|p| Value::Str(p.value.clone())),
                        other => lookup(other),
                    })
                });
                (c.value.clone(), value.map(|v| v.truthy()))
            });
            PlanStep {
                id: step.head.id.value.0.clone(),
                name: step.head.name.as_ref().map(|n| bind_text(&n.value, &lookup)),
                uses: step.head.uses.value.clone(),
                summary: action.map_or("", |a| a.summary),
                wave: wave_of[i],
                cluster: cluster.clone(),
                stores: step.with.stores().iter().map(|s| s.value.clone()).collect(),
                needs: loaded.graph.deps[i]
                    .iter()
                    .map(|&d| rb.steps[d].head.id.value.0.clone())
                    .collect(),
                condition: condition.as_ref().map(|(c, _)| c.clone()),
                condition_value: condition.and_then(|(_, v)| v),
                inputs: bind(&step.with_node),
                timeout: step.head.timeout.as_ref().map(|t| t.value.to_string()),
                retry: step.head.retry.as_ref().map(|r| PlanRetry {
                    attempts: r.attempts.value,
                    backoff: r.backoff.as_ref().map(|b| b.value.to_string()),
                }),
                on_failure: step.head.on_failure.to_string(),
                undo: step.undo.as_ref().map(|u| PlanUndo {
                    uses: u.uses.clone(),
                    cluster: actions::find(&u.uses)
                        .filter(|a| a.on_cluster)
                        .and_then(|_| {
                            u.head
                                .cluster
                                .as_ref()
                                .map(|c| c.value.clone())
                                .or(cluster.clone())
                                .or(only_cluster.clone())
                        }),
                    inputs: match &u.with {
                        actions::ActionInputs::RestorePrevious(r) => {
                            serde_json::json!({ "restore_previous": r.restore_previous })
                        }
                        _ => bind(&u.with_node),
                    },
                }),
                outputs: action
                    .map_or_else(Vec::new, |a| a.outputs.iter().map(|o| o.name).collect()),
                dry_run: action.map_or("", |a| a.dry_run),
            }
        })
        .collect();
    Plan {
        format_version: PLAN_FORMAT_VERSION,
        runbook: PlanRunbook {
            name: rb.metadata.name.value.0.clone(),
            description: rb.metadata.description.clone(),
            file: loaded.path.display().to_string(),
        },
        params: loaded
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
            .collect(),
        objectives: PlanObjectives {
            rto: rb
                .objectives
                .as_ref()
                .and_then(|o| o.rto.as_ref())
                .map(|d| d.value.to_string()),
            rpo: rb
                .objectives
                .as_ref()
                .and_then(|o| o.rpo.as_ref())
                .map(|d| d.value.to_string()),
        },
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
        state: match &rb.state {
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
        },
        waves: waves
            .iter()
            .map(|w| {
                w.iter()
                    .map(|&i| rb.steps[i].head.id.value.0.clone())
                    .collect()
            })
            .collect(),
        steps,
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

/// A compact one-line rendering of an input value, control characters escaped.
pub(crate) fn compact(v: &serde_json::Value) -> String {
    let text = match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}
