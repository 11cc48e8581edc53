//! From a `Node` tree to a `Runbook`, one section and one step at a time, so that one
//! broken step does not hide the problems of the next: every error found is kept.

use std::path::Path;

use super::de::{DeError, Spanned, from_node};
use super::diagnostic::{Diagnostic, Loc, closest, did_you_mean};
use super::model::{
    Metadata, NamedMap, RUNBOOK_FIELDS, Runbook, RunbookName, STEP_EXTRA_FIELDS, STEP_FIELDS, Step,
    StepHead, Undo, UndoHead,
};
use super::node::{Node, NodeKind};
use crate::actions::{self, ActionInputs};

/// What parsing produced: the runbook (with the parts that could be read) and every
/// problem found on the way.
pub struct Parsed {
    pub runbook: Runbook,
    /// Names of entries that could not be read, so references to them are not reported
    /// a second time as unknown.
    pub broken: Broken,
    pub diagnostics: Vec<Diagnostic>,
}

/// Names of params, clusters, stores and steps whose definitions could not be read.
#[derive(Clone, Debug, Default)]
pub struct Broken {
    pub params: Vec<String>,
    pub clusters: Vec<String>,
    pub stores: Vec<String>,
    pub steps: Vec<String>,
}

struct Ctx<'a> {
    file: &'a Path,
    diagnostics: Vec<Diagnostic>,
    broken: Broken,
}

impl Ctx<'_> {
    fn error(&mut self, e: DeError, fallback: Loc) {
        self.diagnostics.push(
            Diagnostic::new(self.file, e.loc.unwrap_or(fallback), e.message).with_hint_opt(e.hint),
        );
    }

    fn errors(&mut self, errors: Vec<DeError>, fallback: Loc) {
        for e in errors {
            self.error(e, fallback);
        }
    }

    fn read<T: serde::de::DeserializeOwned>(&mut self, node: &Node) -> Option<T> {
        match from_node(node) {
            Ok(v) => Some(v),
            Err(errors) => {
                self.errors(errors, node.loc);
                None
            }
        }
    }
}

/// Parses a runbook tree. Never fails: problems go into `Parsed::diagnostics`.
pub fn parse(file: &Path, root: &Node) -> Parsed {
    let mut cx = Ctx {
        file,
        diagnostics: Vec::new(),
        broken: Broken::default(),
    };
    let mut runbook = Runbook {
        api_version: String::new(),
        kind: String::new(),
        metadata: Metadata {
            name: Spanned::new(RunbookName(String::new()), root.loc),
            description: None,
            labels: Default::default(),
        },
        params: NamedMap::default(),
        objectives: None,
        clusters: NamedMap::default(),
        stores: NamedMap::default(),
        state: None,
        steps: Vec::new(),
    };
    if root.kind == NodeKind::Null {
        cx.diagnostics.push(
            Diagnostic::new(file, Loc::new(1, 1), "runbook is empty").with_hint(
                "a runbook starts with `apiVersion: lifeboat.dev/v1alpha1` and `kind: Runbook`",
            ),
        );
        return Parsed {
            runbook,
            broken: cx.broken,
            diagnostics: cx.diagnostics,
        };
    }
    let Some(entries) = root.as_map() else {
        cx.diagnostics.push(
            Diagnostic::new(
                file,
                root.loc,
                format!("expected a runbook mapping, found {}", root.describe()),
            )
            .with_hint(
                "a runbook starts with `apiVersion: lifeboat.dev/v1alpha1` and `kind: Runbook`",
            ),
        );
        return Parsed {
            runbook,
            broken: cx.broken,
            diagnostics: cx.diagnostics,
        };
    };
    for (key, value) in entries {
        let name = key.key_text();
        match name.as_str() {
            "apiVersion" => {
                runbook.api_version = cx
                    .read::<Spanned<String>>(value)
                    .map(|s| s.value)
                    .unwrap_or_default()
            }
            "kind" => {
                runbook.kind = cx
                    .read::<Spanned<String>>(value)
                    .map(|s| s.value)
                    .unwrap_or_default()
            }
            "metadata" => {
                if let Some(m) = cx.read(value) {
                    runbook.metadata = m;
                }
            }
            "params" => runbook.params = named_map(&mut cx, value, |b| &mut b.params),
            "objectives" => runbook.objectives = cx.read(value),
            "clusters" => runbook.clusters = named_map(&mut cx, value, |b| &mut b.clusters),
            "stores" => runbook.stores = named_map(&mut cx, value, |b| &mut b.stores),
            "state" => runbook.state = cx.read(value),
            "steps" => runbook.steps = steps(&mut cx, value),
            _ => cx.diagnostics.push(
                Diagnostic::new(file, key.loc, format!("unknown field `{name}`")).with_hint(
                    did_you_mean(&name, "top-level fields", RUNBOOK_FIELDS.iter().copied()),
                ),
            ),
        }
    }
    for required in ["apiVersion", "kind", "metadata", "steps"] {
        if root.get(required).is_none() {
            cx.diagnostics.push(
                Diagnostic::new(
                    file,
                    root.loc,
                    format!("missing required field `{required}`"),
                )
                .with_hint(match required {
                    "apiVersion" => "add `apiVersion: lifeboat.dev/v1alpha1`",
                    "kind" => "add `kind: Runbook`",
                    "metadata" => "add `metadata:` with a `name:`",
                    _ => "add `steps:` with at least one step",
                }),
            );
        }
    }
    Parsed {
        runbook,
        broken: cx.broken,
        diagnostics: cx.diagnostics,
    }
}

/// A mapping of name → T (params, clusters, stores), each entry read on its own.
fn named_map<T: serde::de::DeserializeOwned>(
    cx: &mut Ctx,
    node: &Node,
    broken: fn(&mut Broken) -> &mut Vec<String>,
) -> NamedMap<T> {
    let mut out = NamedMap::default();
    if node.kind == NodeKind::Null {
        return out;
    }
    let Some(entries) = node.as_map() else {
        cx.error(
            DeError::new(format!(
                "expected a mapping of names, found {}",
                node.describe()
            )),
            node.loc,
        );
        return out;
    };
    for (key, value) in entries {
        let name = cx.read::<Spanned<super::model::Ident>>(key);
        let item = cx.read::<T>(value);
        match (name, item) {
            (Some(name), Some(item)) => out.0.push((name, item)),
            (Some(name), None) => broken(&mut cx.broken).push(name.value.0),
            _ => {}
        }
    }
    out
}

fn steps(cx: &mut Ctx, node: &Node) -> Vec<Step> {
    let mut out = Vec::new();
    let NodeKind::Seq(items) = &node.kind else {
        cx.error(
            DeError::new(format!(
                "expected a list of steps, found {}",
                node.describe()
            ))
            .hint("write each step as `- id: ...` with `uses:`"),
            node.loc,
        );
        return out;
    };
    if items.is_empty() {
        cx.error(
            DeError::new("a runbook needs at least one step")
                .hint("add a step such as `- { id: pause, uses: sleep, with: { duration: 1s } }`"),
            node.loc,
        );
    }
    for item in items {
        match step(cx, item) {
            Some(s) => out.push(s),
            None => {
                if let Some(id) = item.get("id").and_then(Node::as_str) {
                    cx.broken.steps.push(id.to_string());
                }
            }
        }
    }
    out
}

/// An empty mapping standing for an omitted `with:`.
fn empty_map(loc: Loc) -> Node {
    Node {
        kind: NodeKind::Map(Vec::new()),
        loc,
    }
}

fn with_of(node: &Node) -> Node {
    match node.get("with") {
        Some(w) if w.kind == NodeKind::Null => empty_map(w.loc),
        Some(w) => w.clone(),
        None => empty_map(node.loc),
    }
}

fn step(cx: &mut Ctx, node: &Node) -> Option<Step> {
    if node.as_map().is_none() {
        cx.error(
            DeError::new(format!(
                "expected a step mapping, found {}",
                node.describe()
            ))
            .hint("a step is a mapping with at least `id:` and `uses:`"),
            node.loc,
        );
        return None;
    }
    // Unknown keys are reported here, against every step field (`with` and `undo`
    // included), so `wiht:` suggests `with`; the rest is read by `StepHead`.
    let mut skip: Vec<&str> = STEP_EXTRA_FIELDS.to_vec();
    let mut misspelt_with = false;
    for (key, _) in node.as_map().unwrap_or_default() {
        let name = key.key_text();
        if STEP_FIELDS.contains(&name.as_str()) {
            continue;
        }
        let guess = closest(&name, STEP_FIELDS.iter().copied());
        misspelt_with |= guess == Some("with");
        cx.diagnostics.push(
            Diagnostic::new(cx.file, key.loc, format!("unknown field `{}`", name)).with_hint(
                did_you_mean(&name, "step fields", STEP_FIELDS.iter().copied()),
            ),
        );
        if let Some(k) = key.as_str() {
            skip.push(k);
        }
    }
    let head: Option<StepHead> = cx.read(&node.without_keys(&skip));
    // Even when the common fields are broken, read the action's inputs, so their
    // problems are reported in the same pass.
    let uses_node = node.get("uses");
    let action = uses_node.and_then(|u| {
        let name = u.as_str()?;
        let found = actions::find(name);
        if found.is_none() {
            cx.diagnostics.push(
                Diagnostic::new(cx.file, u.loc, format!("unknown action `{name}`"))
                    .with_hint(did_you_mean(name, "actions", actions::names())),
            );
        }
        found
    });
    let with_node = with_of(node);
    // A misspelt `with:` already has its error; its inputs are not "missing" too.
    let with = if misspelt_with && node.get("with").is_none() {
        None
    } else {
        action.and_then(|a| inputs(cx, a, &with_node))
    };
    let undo = match (node.get("undo"), action) {
        (Some(u), Some(a)) => Some(undo(cx, a, u)?),
        _ => None,
    };
    let head = head?;
    Some(Step {
        head,
        with: with?,
        with_node,
        undo,
        loc: node.loc,
    })
}

fn inputs(cx: &mut Ctx, action: &actions::ActionSpec, with: &Node) -> Option<ActionInputs> {
    if with.as_map().is_none() {
        cx.error(
            DeError::new(format!("expected the inputs of `{}` as a mapping, found {}", action.name, with.describe()))
                .hint("write `with: { name: value, ... }`; docs/runbook-reference.md lists each action's inputs"),
            with.loc,
        );
        return None;
    }
    match action.parse_inputs(with) {
        Ok(inputs) => {
            let problems = inputs.check(with);
            let ok = problems.is_empty();
            for p in problems {
                cx.error(p, with.loc);
            }
            ok.then_some(inputs)
        }
        Err(errors) => {
            cx.errors(errors, with.loc);
            None
        }
    }
}

fn undo(cx: &mut Ctx, step_action: &actions::ActionSpec, node: &Node) -> Option<Undo> {
    if node.as_map().is_none() {
        cx.error(
            DeError::new(format!(
                "expected `undo` as a mapping, found {}",
                node.describe()
            ))
            .hint("write `undo: { uses: ACTION, with: {...} }`"),
            node.loc,
        );
        return None;
    }
    let head: UndoHead = cx.read(&node.without_keys(&["with"]))?;
    let with_node = with_of(node);
    let uses: String = head
        .uses
        .as_ref()
        .map_or(step_action.name, |u| u.value.as_str())
        .to_string();
    // `undo` without `uses`, or the same action with `restore_previous`, is the action
    // undoing itself from its recorded outputs.
    let self_undo = head.uses.is_none()
        || (uses == step_action.name && with_node.get("restore_previous").is_some());
    if self_undo {
        if step_action.self_undo.is_none() {
            let at = head.uses.as_ref().map_or(node.loc, |u| u.loc);
            cx.diagnostics.push(
                Diagnostic::new(cx.file, at, format!("action `{}` has no undo of its own", step_action.name))
                    .with_hint(format!(
                        "name a compensating action with `undo: {{ uses: ..., with: ... }}`; actions that can undo themselves: {}",
                        actions::ACTIONS
                            .iter()
                            .filter(|a| a.self_undo.is_some())
                            .map(|a| format!("`{}`", a.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
            );
            return None;
        }
        let with = match actions::parse_self_undo(&with_node) {
            Ok(w) => w,
            Err(errors) => {
                cx.errors(errors, with_node.loc);
                return None;
            }
        };
        return Some(Undo {
            head,
            uses: step_action.name.to_string(),
            with,
            with_node,
            loc: node.loc,
        });
    }
    let Some(action) = actions::find(&uses) else {
        let at = head.uses.as_ref().map_or(node.loc, |u| u.loc);
        cx.diagnostics.push(
            Diagnostic::new(cx.file, at, format!("unknown action `{uses}`"))
                .with_hint(did_you_mean(&uses, "actions", actions::names())),
        );
        return None;
    };
    let with = inputs(cx, action, &with_node)?;
    Some(Undo {
        head,
        uses,
        with,
        with_node,
        loc: node.loc,
    })
}
