//! Binding a step's `with:` at run time: every `${{ }}` expression is replaced by its
//! value (params, earlier steps' outputs, environment, run facts), then the action's
//! own parser reads the result, so the inputs an action gets are checked exactly as
//! `validate` checks literal ones.

use std::collections::HashMap;

use crate::events::{OutputValue, Outputs};
use crate::runbook::Loaded;
use crate::runbook::de::DeError;
use crate::runbook::expr::{self, Expr, Reference, Value};
use crate::runbook::node::{Node, NodeKind};

/// What expressions can read.
pub struct Scope<'a> {
    pub loaded: &'a Loaded,
    pub run_id: &'a str,
    pub dry_run: bool,
    pub outputs: &'a HashMap<String, Outputs>,
}

impl Scope<'_> {
    /// The value of a reference, or `None` when it has none (a step that did not run).
    pub fn lookup(&self, r: &Reference) -> Option<Value> {
        match r {
            Reference::Param(p) => self.loaded.param(p).map(|p| Value::Str(p.value.clone())),
            Reference::Output { step, output, key } => {
                let value = self.outputs.get(step)?.get(output)?;
                match (value, key) {
                    (OutputValue::Str(s), None) => Some(Value::Str(s.clone())),
                    (OutputValue::Map(m), Some(k)) => {
                        Some(Value::Str(m.get(k).cloned().unwrap_or_else(|| "0".into())))
                    }
                    (OutputValue::Map(_), None) => Some(Value::Str(value.as_text())),
                    (OutputValue::Str(_), Some(_)) => None,
                }
            }
            Reference::Env(e) => Some(Value::Str(std::env::var(e).unwrap_or_default())),
            Reference::Run(f) => match f.as_str() {
                "id" => Some(Value::Str(self.run_id.to_string())),
                "runbook" => Some(Value::Str(
                    self.loaded.runbook.metadata.name.value.0.clone(),
                )),
                "dry_run" => Some(Value::Bool(self.dry_run)),
                _ => None,
            },
        }
    }

    /// Evaluates an `if:` condition.
    pub fn condition(&self, source: &str) -> Result<bool, String> {
        let e = expr::parse_condition(source).map_err(|e| e.message)?;
        e.eval(&|r| self.lookup(r))
            .map(|v| v.truthy())
            .ok_or_else(|| format!("`{source}` reads a value that does not exist yet"))
    }

    /// The text of one string with its expressions replaced by their values (a typed
    /// field written as an expression).
    pub fn render(&self, text: &str) -> Result<String, String> {
        let node = Node {
            kind: NodeKind::Str(text.to_string()),
            loc: Default::default(),
        };
        match self.bind(&node)?.kind {
            NodeKind::Str(s) => Ok(s),
            _ => Ok(text.to_string()),
        }
    }

    /// A problem found in the runbook once expressions are bound, worded as `validate`
    /// words it: `file:line:col: what`.
    pub fn located(&self, e: &DeError) -> String {
        match e.loc {
            Some(loc) => format!(
                "{}:{}:{}: {}",
                self.loaded.path.display(),
                loc.line,
                loc.col,
                e.message
            ),
            None => e.message.clone(),
        }
    }

    /// A copy of `node` with every expression replaced by its value.
    pub fn bind(&self, node: &Node) -> Result<Node, String> {
        let kind = match &node.kind {
            NodeKind::Str(s) if s.contains("${{") => {
                let segments = expr::parse_template(s).map_err(|e| e.message)?;
                let mut missing = None;
                let text = expr::render(&segments, &|e| {
                    let v = match e {
                        Expr::Ref(r) => self.lookup(&r.reference),
                        Expr::Lit(v) => Some(v.clone()),
                        _ => None,
                    };
                    v.map(|v| v.to_string())
                });
                for seg in &segments {
                    if let expr::Segment::Expr {
                        expr: Expr::Ref(r),
                        source,
                        ..
                    } = seg
                        && self.lookup(&r.reference).is_none()
                    {
                        missing.get_or_insert_with(|| source.clone());
                    }
                }
                if let Some(source) = missing {
                    return Err(format!(
                        "{source} has no value (the step it reads did not run or has no such output)"
                    ));
                }
                NodeKind::Str(text)
            }
            NodeKind::Seq(items) => NodeKind::Seq(
                items
                    .iter()
                    .map(|n| self.bind(n))
                    .collect::<Result<_, _>>()?,
            ),
            NodeKind::Map(entries) => NodeKind::Map(
                entries
                    .iter()
                    .map(|(k, v)| Ok((self.bind(k)?, self.bind(v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => other.clone(),
        };
        Ok(Node {
            kind,
            loc: node.loc,
        })
    }
}
