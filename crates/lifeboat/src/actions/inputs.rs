//! Input types shared by several actions: numbers that may be expressions and the
//! `restore_previous` undo.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::context::ActionError;
use crate::runbook::de::Spanned;
use crate::runbook::model::{Duration, OrExpr};

/// A whole number, or a `${{ }}` expression resolved when the step runs.
pub type IntOrExpr = OrExpr<i64>;

impl OrExpr<i64> {
    /// Checks a literal against a range; expressions are checked when they resolve.
    pub fn check_range(&self, min: i64, max: i64) -> Result<(), String> {
        match self {
            OrExpr::Value(i) if *i < min || *i > max => {
                Err(format!("{i} is out of range: expected {min} to {max}"))
            }
            _ => Ok(()),
        }
    }
}

/// An optional duration input, once bound, or `default` when it is not given.
pub(crate) fn duration_or(
    field: &Option<Spanned<OrExpr<Duration>>>,
    name: &str,
    default: std::time::Duration,
) -> Result<std::time::Duration, ActionError> {
    match field {
        Some(d) => Ok(d.value.value(name)?.0),
        None => Ok(default),
    }
}

/// The inputs of an action's own undo: put back what the step changed, using the
/// step's recorded outputs.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestorePrevious {
    /// Restore what the step found before it changed it (default true).
    #[serde(default = "yes")]
    pub restore_previous: bool,
}

fn yes() -> bool {
    true
}
