//! `wait`: waits, always within a timeout, until objects reach a condition, finish a
//! rollout, or a JSONPath equals a value.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, exactly_one_of, located, out};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::Duration;
use crate::runbook::node::Node;

pub const NAME: &str = "wait";
pub const SUMMARY: &str =
    "Wait until objects reach a condition, finish a rollout, or a JSONPath equals a value.";
pub const ON_CLUSTER: bool = true;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "checks the objects once and reports whether they already match";
pub const OUTPUTS: &[Output] = &[out("waited", "how long the wait took")];

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
    pub all: Option<bool>,
    /// A condition type, such as `Available` or `Ready`.
    #[serde(default)]
    pub condition: Option<String>,
    /// The condition status to wait for (default `True`).
    #[serde(default)]
    pub status: Option<String>,
    /// Wait until the workload's rollout is complete.
    #[serde(default)]
    pub rollout: Option<bool>,
    /// A JSONPath such as `{.status.phase}` (with `value`).
    #[serde(default)]
    pub jsonpath: Option<String>,
    /// The value the JSONPath must equal.
    #[serde(default)]
    pub value: Option<String>,
    /// Give up after this long (default 5m).
    #[serde(default)]
    pub timeout: Option<Spanned<Duration>>,
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
        for (key, flag) in [("all", self.all), ("rollout", self.rollout)] {
            if flag == Some(false) {
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
