//! The runbook language: reading a file (`node`), typed parsing (`de`, `model`,
//! `parse`), semantic checks (`validate`), the `needs` graph (`graph`), expressions
//! (`expr`) and the JSON schema (`schema`). `load` is the one entry point the rest of lifeboat uses.

pub mod de;
pub mod diagnostic;
pub mod expr;
pub mod graph;
pub mod model;
pub mod node;
pub mod parse;
pub mod schema;
pub mod validate;

use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Diagnostics, Loc};
pub use model::Runbook;

/// Where a param's value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamSource {
    Default,
    Set,
}

/// A param with its value bound (from `--set` or its default).
#[derive(Clone, Debug, serde::Serialize)]
pub struct BoundParam {
    pub name: String,
    pub value: String,
    pub secret: bool,
    pub source: ParamSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A valid runbook, with its params bound.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub path: PathBuf,
    pub source: String,
    pub runbook: Runbook,
    pub params: Vec<BoundParam>,
    pub graph: graph::Graph,
}

impl Loaded {
    pub fn param(&self, name: &str) -> Option<&BoundParam> {
        self.params.iter().find(|p| p.name == name)
    }
}

/// Reads, parses and checks one runbook with `--set` values. Returns every problem found.
pub fn load(path: &Path, sets: &[(String, String)]) -> Result<Loaded, Diagnostics> {
    let (source, root) = node::load_file(path).map_err(|d| Diagnostics(vec![d]))?;
    let parsed = parse::parse(path, &root);
    let set_names: Vec<String> = sets.iter().map(|(k, _)| k.clone()).collect();
    let mut diagnostics = parsed.diagnostics.clone();
    diagnostics.extend(validate::validate(
        path, &source, &root, &parsed, &set_names,
    ));
    if !diagnostics.is_empty() {
        for d in &mut diagnostics {
            d.hint.get_or_insert_with(|| {
                "docs/runbook-reference.md describes every field and what it takes".to_string()
            });
        }
        return Err(Diagnostics(diagnostics).sorted());
    }
    let runbook = parsed.runbook;
    let params: Vec<BoundParam> = runbook
        .params
        .0
        .iter()
        .map(|(name, p)| {
            let set = sets.iter().rev().find(|(k, _)| *k == name.value.0);
            BoundParam {
                name: name.value.0.clone(),
                value: set
                    .map(|(_, v)| v.clone())
                    .or_else(|| p.default.clone())
                    .unwrap_or_default(),
                secret: p.secret,
                source: if set.is_some() {
                    ParamSource::Set
                } else {
                    ParamSource::Default
                },
                description: p.description.clone(),
            }
        })
        .collect();
    let bound = validate::check_bound_inputs(path, &runbook, &params);
    if !bound.is_empty() {
        return Err(Diagnostics(bound).sorted());
    }
    let graph = graph::Graph::of(&runbook);
    Ok(Loaded {
        path: path.to_path_buf(),
        source,
        runbook,
        params,
        graph,
    })
}

/// Reads and parses a runbook without binding params or checking its steps: enough
/// to find where its runs keep their state (`resume --runbook`, `status --runbook`),
/// which must work without the params the run was given.
pub fn parse_only(path: &Path) -> Result<Runbook, Diagnostics> {
    let (_, root) = node::load_file(path).map_err(|d| Diagnostics(vec![d]))?;
    let parsed = parse::parse(path, &root);
    if parsed.diagnostics.is_empty() {
        Ok(parsed.runbook)
    } else {
        Err(Diagnostics(parsed.diagnostics).sorted())
    }
}

/// Parses `--set name=value`.
pub fn parse_set(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not NAME=VALUE")),
    }
}
