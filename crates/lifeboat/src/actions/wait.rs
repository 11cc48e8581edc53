//! `wait`: waits, always within a timeout, until objects reach a condition, finish a
//! rollout, or a JSONPath equals a value.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::{CheckInputs, Output, exactly_one_of, located, out};
use crate::cluster::jsonpath;
use crate::cluster::select::{Target, Which};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::{Duration, OrExpr};
use crate::runbook::node::Node;

pub const NAME: &str = "wait";
pub const SUMMARY: &str =
    "Wait until objects reach a condition, finish a rollout, or a JSONPath equals a value.";
pub const ON_CLUSTER: bool = true;
pub const CONFIRM: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "checks the objects once and reports whether they already match";
pub const OUTPUTS: &[Output] = &[
    out("waited", "how long the wait took"),
    out(
        "matched",
        "dry run only: whether the objects already matched (and if not, why)",
    ),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "WaitInputs")]
pub struct Inputs {
    pub kind: String,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub namespace: Option<String>,
    /// One object by name.
    #[serde(default)]
    pub name: Option<String>,
    /// Every object matching a label selector.
    #[serde(default)]
    pub selector: Option<String>,
    /// Every object of the kind in the namespace.
    #[serde(default)]
    pub all: Option<OrExpr<bool>>,
    /// A condition type, such as `Available` or `Ready`.
    #[serde(default)]
    pub condition: Option<String>,
    /// The condition status to wait for (default `True`).
    #[serde(default)]
    pub status: Option<String>,
    /// Wait until the workload's rollout is complete.
    #[serde(default)]
    pub rollout: Option<OrExpr<bool>>,
    /// A JSONPath such as `{.status.phase}` (with `value`).
    #[serde(default)]
    pub jsonpath: Option<String>,
    /// The value the JSONPath must equal.
    #[serde(default)]
    pub value: Option<String>,
    /// Give up after this long (default 5m).
    #[serde(default)]
    pub timeout: Option<Spanned<OrExpr<Duration>>>,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        let mut problems: Vec<DeError> = [
            exactly_one_of(with, &["name", "selector", "all"]),
            exactly_one_of(with, &["condition", "rollout", "jsonpath"]),
        ]
        .into_iter()
        .flatten()
        .collect();
        if self.jsonpath.is_some() != self.value.is_some() {
            let at = with.key("jsonpath").or(with.key("value")).unwrap_or(with);
            problems.push(located(
                DeError::new("`jsonpath` and `value` go together").hint("give both, or neither"),
                at,
            ));
        }
        if self.status.is_some() && self.condition.is_none() {
            let at = with.key("status").unwrap_or(with);
            problems.push(located(
                DeError::new("`status` needs `condition`").hint(
                    "name the condition whose status to wait for, such as `condition: Ready`",
                ),
                at,
            ));
        }
        for (key, flag) in [("all", &self.all), ("rollout", &self.rollout)] {
            if flag.as_ref().and_then(OrExpr::literal) == Some(&false) {
                let at = with.get(key).unwrap_or(with);
                problems.push(located(
                    DeError::new(format!("`{key}: false` selects nothing"))
                        .hint(format!("remove `{key}` or set it to true")),
                    at,
                ));
            }
        }
        problems
    }
}

/// An optional flag, once bound (absent: false).
fn flag(f: &Option<OrExpr<bool>>, name: &str) -> Result<bool, ActionError> {
    f.as_ref().map_or(Ok(false), |f| f.value(name))
}

/// How often the objects are read again while waiting.
const POLL: std::time::Duration = std::time::Duration::from_millis(250);
/// The default `timeout`.
const DEFAULT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Waits until every selected object is ready as asked, or fails at the timeout
/// naming what was not. A dry run looks once and reports.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let which = Which::from_inputs(
        i.name.as_deref(),
        i.selector.as_deref(),
        flag(&i.all, "all")?,
    )?;
    let selection = Target {
        kind: i.kind.clone(),
        api_version: i.api_version.clone(),
        namespace: i.namespace.clone(),
        which,
    }
    .resolve(&conn)
    .await?;
    let timeout = super::duration_or(&i.timeout, "timeout", DEFAULT_TIMEOUT)?;
    let started = std::time::Instant::now();
    loop {
        let objects = selection.objects(&conn).await?;
        let pending = pending(&objects, i)?;
        let waited = crate::runbook::model::Duration(std::time::Duration::from_secs(
            started.elapsed().as_secs(),
        ));
        if objects.is_empty() || !pending.is_empty() {
            let what = if objects.is_empty() {
                format!("no {} found yet", selection.rtype().kind)
            } else {
                format!("not yet: {}", pending.join(", "))
            };
            // A dry run checks the condition once and reports it instead of waiting.
            if ctx.dry_run() {
                let mut outputs = Outputs::new();
                outputs.insert("waited".into(), OutputValue::Str("0s".into()));
                outputs.insert(
                    "matched".into(),
                    OutputValue::Str(format!("false ({what})")),
                );
                return Ok(outputs);
            }
            if started.elapsed() >= timeout {
                return Err(ActionError::Failed(format!(
                    "timed out after {}: {what}",
                    crate::runbook::model::Duration(timeout)
                )));
            }
            tokio::time::sleep(POLL).await;
            continue;
        }
        let mut outputs = Outputs::new();
        outputs.insert("waited".into(), OutputValue::Str(waited.to_string()));
        // A dry run reports that the condition held, having checked it once.
        if ctx.dry_run() {
            outputs.insert("matched".into(), OutputValue::Str("true".into()));
        }
        return Ok(outputs);
    }
}

/// The objects not yet as asked, each with why.
fn pending(objects: &[Value], i: &Inputs) -> Result<Vec<String>, ActionError> {
    let mut out = Vec::new();
    for o in objects {
        let name = o
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("?");
        let why = if let Some(cond) = &i.condition {
            condition_pending(o, cond, i.status.as_deref().unwrap_or("True"))
        } else if flag(&i.rollout, "rollout")? {
            crate::cluster::objects::rollout_pending(o)
        } else if let (Some(path), Some(want)) = (&i.jsonpath, &i.value) {
            let got = jsonpath::eval(o, path).map_err(ActionError::Inputs)?;
            (got.as_deref() != Some(want.as_str())).then(|| {
                format!(
                    "{path} is {}",
                    got.map_or("absent".to_string(), |g| format!("`{g}`"))
                )
            })
        } else {
            None
        };
        if let Some(why) = why {
            out.push(format!("{name} ({why})"));
        }
    }
    Ok(out)
}

fn condition_pending(o: &Value, condition: &str, status: &str) -> Option<String> {
    let conditions = o.pointer("/status/conditions").and_then(Value::as_array);
    let found = conditions.and_then(|cs| {
        cs.iter()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(condition))
    });
    match found.and_then(|c| c.get("status")).and_then(Value::as_str) {
        Some(s) if s == status => None,
        Some(s) => Some(format!("{condition} is {s}")),
        None => Some(format!("no {condition} condition")),
    }
}
