//! Input types shared by several actions: numbers that may be expressions and the
//! `restore_previous` undo.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Serialize};

/// A whole number, or a `${{ }}` expression resolved when the step runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum IntOrExpr {
    Int(i64),
    Expr(String),
}

impl fmt::Display for IntOrExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IntOrExpr::Int(i) => write!(f, "{i}"),
            IntOrExpr::Expr(e) => f.write_str(e),
        }
    }
}

impl<'de> Deserialize<'de> for IntOrExpr {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IntOrExpr;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a whole number or a `${{ }}` expression")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<IntOrExpr, E> {
                Ok(IntOrExpr::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<IntOrExpr, E> {
                i64::try_from(v)
                    .map(IntOrExpr::Int)
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IntOrExpr, E> {
                if v.contains("${{") {
                    Ok(IntOrExpr::Expr(v.to_string()))
                } else {
                    v.trim()
                        .parse()
                        .map(IntOrExpr::Int)
                        .map_err(|_| E::custom(format!("expected a whole number or a `${{{{ }}}}` expression, found string `{v}`")))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl IntOrExpr {
    /// The number, once expressions are bound.
    pub fn value(&self, name: &str) -> Result<i64, crate::context::ActionError> {
        match self {
            IntOrExpr::Int(i) => Ok(*i),
            IntOrExpr::Expr(e) => Err(crate::context::ActionError::Inputs(format!(
                "`{name}` is `{e}`, not a whole number"
            ))),
        }
    }

    /// Checks a literal against a range; expressions are checked when they resolve.
    pub fn check_range(&self, min: i64, max: i64) -> Result<(), String> {
        match self {
            IntOrExpr::Int(i) if *i < min || *i > max => {
                Err(format!("{i} is out of range: expected {min} to {max}"))
            }
            _ => Ok(()),
        }
    }
}

impl JsonSchema for IntOrExpr {
    fn schema_name() -> Cow<'static, str> {
        "IntOrExpr".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "integer" },
                { "type": "string", "pattern": "^\\s*-?[0-9]+\\s*$|\\$\\{\\{.*\\}\\}" }
            ]
        })
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
