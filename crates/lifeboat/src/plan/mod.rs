//! The plan: a valid runbook with its params bound, its steps in execution waves, and
//! each step's cluster, stores, inputs (secrets masked), timeout, retry, failure policy
//! and undo. Built without any network access; rendered as text, JSON or Markdown.
//! The JSON form is documented in docs/plan-json.md and versioned by `format_version`.

mod build;
mod markdown;
mod text;

use serde::Serialize;

pub use build::build;
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
    /// A number, or the expression when it reads an output.
    pub attempts: crate::runbook::model::OrExpr<u32>,
    pub backoff: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanUndo {
    pub uses: String,
    pub cluster: Option<String>,
    pub inputs: serde_json::Value,
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
