//! Binding a step's inputs without running anything, as `plan` does: params take
//! their `--set` or default values and `run.runbook` its name; secret params, outputs
//! of other steps, `env` and `run.id` are known only when the step runs, so they are
//! left as written (`${{ ... }}`) and whatever reads them is granted more widely.

use crate::actions::{self, ActionInputs};
use crate::runbook::Loaded;
use crate::runbook::expr::{self, Expr, Reference, Value};
use crate::runbook::node::{Node, NodeKind};

/// Binds what is known statically.
pub struct Binder<'a> {
    loaded: &'a Loaded,
}

impl<'a> Binder<'a> {
    pub fn new(loaded: &'a Loaded) -> Binder<'a> {
        Binder { loaded }
    }

    fn lookup(&self, r: &Reference) -> Option<Value> {
        match r {
            Reference::Param(p) => self
                .loaded
                .param(p)
                .filter(|p| !p.secret)
                .map(|p| Value::Str(p.value.clone())),
            Reference::Run(f) if f == "runbook" => Some(Value::Str(
                self.loaded.runbook.metadata.name.value.0.clone(),
            )),
            _ => None,
        }
    }

    /// A string with what is known bound; unknown expressions stay as written.
    pub fn text(&self, s: &str) -> String {
        match expr::parse_template(s) {
            Ok(segments) => expr::render(&segments, &|e: &Expr| match e {
                Expr::Ref(r) => self.lookup(&r.reference).map(|v| v.to_string()),
                Expr::Lit(v) => Some(v.to_string()),
                _ => None,
            }),
            Err(_) => s.to_string(),
        }
    }

    /// A copy of `node` with what is known bound.
    pub fn node(&self, node: &Node) -> Node {
        let kind = match &node.kind {
            NodeKind::Str(s) if s.contains("${{") => NodeKind::Str(self.text(s)),
            NodeKind::Seq(items) => NodeKind::Seq(items.iter().map(|n| self.node(n)).collect()),
            NodeKind::Map(entries) => NodeKind::Map(
                entries
                    .iter()
                    .map(|(k, v)| (self.node(k), self.node(v)))
                    .collect(),
            ),
            other => other.clone(),
        };
        Node {
            kind,
            loc: node.loc,
        }
    }

    /// The typed inputs of action `uses` from its `with` mapping, bound; `written` (the
    /// inputs as parsed from the file) when the bound mapping does not parse.
    pub fn inputs(&self, uses: &str, with: &Node, written: &ActionInputs) -> ActionInputs {
        actions::find(uses)
            .and_then(|a| a.parse_inputs(&self.node(with)).ok())
            .unwrap_or_else(|| written.clone())
    }
}

/// Whether a bound value is known (holds no expression left for run time).
pub fn known(s: &str) -> bool {
    !s.contains("${{")
}
