//! Inputs checked again once params are bound (`--set`, defaults): a value that is
//! only known then is held to the action's rules as a literal would be.

use std::path::Path;

use crate::actions;
use crate::runbook::diagnostic::Diagnostic;
use crate::runbook::expr::{self, Reference};
use crate::runbook::model::Runbook;
use crate::runbook::node::Node;

/// With params bound, inputs written as expressions must still be valid: a number where
/// a number goes, within its range. (Secret params are left unbound, so their values
/// never reach a message.)
pub fn check_bound_inputs(
    file: &Path,
    runbook: &Runbook,
    params: &[crate::runbook::BoundParam],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let located = |e: crate::runbook::de::DeError, fallback| {
        Diagnostic::new(
            file,
            e.loc.unwrap_or(fallback),
            format!("with params bound, {}", e.message),
        )
        .with_hint("the value comes from a param: check `--set` and the param's `default`")
    };
    for step in &runbook.steps {
        // `timeout` and `retry`: checked when params alone decide them.
        let resolve = |text: &str| {
            let node = Node {
                kind: crate::runbook::node::NodeKind::Str(text.to_string()),
                loc: step.loc,
            };
            Ok(bind_params(&node, params)
                .as_str()
                .filter(|s| !s.contains("${{"))
                .map(str::to_string))
        };
        if let Err(errors) = step.head.limits(&resolve) {
            out.extend(errors.into_iter().map(|e| located(e, step.loc)));
        }
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
            out.extend(errors.into_iter().map(|e| located(e, node.loc)));
        }
    }
    out
}

/// A copy of `node` with every non-secret `${{ params.X }}` replaced by its value.
fn bind_params(node: &Node, params: &[crate::runbook::BoundParam]) -> Node {
    use crate::runbook::node::NodeKind;
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
