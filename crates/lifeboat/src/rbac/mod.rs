//! `lifeboat rbac`: the least-privilege RBAC a runbook needs, per cluster, derived from
//! the runbook alone (no cluster is read). Each action says what it asks of the API
//! server as data (`actions`, `archive`: one small function per action and per undo),
//! from inputs bound as `plan` binds them (`bind`), with kinds resolved as discovery
//! would (`kinds`). The needs (`need`) are merged and reduced, then grouped into a
//! ClusterRole and one Role per namespace (`rules`), and printed as YAML ready for
//! `kubectl apply -f -` (`render`). docs/rbac.md describes the mapping and its limits.

mod actions;
mod archive;
mod bind;
mod kinds;
mod need;
mod render;
mod rules;

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::actions::ActionInputs;
use crate::plan;
use crate::runbook::Loaded;
use crate::runbook::model::Cluster;

pub use need::{PermissionNeed, Reason, Resource, Scope, Verb};
pub use render::render;
pub use rules::{RbacRule, RoleDoc};

/// Why RBAC could not be derived.
#[derive(Debug, thiserror::Error)]
pub enum RbacError {
    /// An `apply` step's manifest files cannot be read (the step would fail on them too).
    #[error("cannot read the manifests of an `apply` step: {}: {message}", path.display())]
    Manifests { path: PathBuf, message: String },
    #[error("the runbook has no cluster `{name}`; its clusters: {known}")]
    UnknownCluster { name: String, known: String },
}

/// The RBAC of a runbook: one part per cluster.
#[derive(Clone, Debug)]
pub struct RunbookRbac {
    pub runbook: String,
    /// The runbook file, as given.
    pub file: String,
    /// Params as bound (`name=value`; secret ones named only).
    pub params: Vec<String>,
    /// Whether any param was given with `--set`.
    pub sets: bool,
    pub clusters: Vec<ClusterRbac>,
}

/// What one cluster needs.
#[derive(Clone, Debug)]
pub struct ClusterRbac {
    pub runbook: String,
    pub name: String,
    /// `context prod-eu`, `the current context`, `sandbox`.
    pub reached_by: String,
    /// `--context` for kubectl, when the runbook names one.
    pub context: Option<String>,
    pub sandbox: bool,
    /// The name of the ClusterRole and of every Role.
    pub role_name: String,
    pub cluster_role: Option<RoleDoc>,
    pub roles: Vec<RoleDoc>,
    pub notes: Vec<String>,
}

/// Derives the RBAC every cluster of `loaded` needs (only `only`'s when given).
pub fn generate(loaded: &Loaded, only: Option<&str>) -> Result<RunbookRbac, RbacError> {
    let rb = &loaded.runbook;
    if let Some(name) = only
        && rb.clusters.get(name).is_none()
    {
        return Err(RbacError::UnknownCluster {
            name: name.to_string(),
            known: rb
                .clusters
                .names()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let needs = cluster_needs(loaded)?;
    let runbook = rb.metadata.name.value.0.clone();
    let clusters = rb
        .clusters
        .0
        .iter()
        .filter(|(n, _)| only.is_none_or(|o| o == n.value.0))
        .map(|(n, c)| {
            let name = n.value.0.clone();
            let needs = needs.get(&name).cloned().unwrap_or_default();
            cluster_rbac(&runbook, &name, c, needs)
        })
        .collect();
    Ok(RunbookRbac {
        runbook,
        file: loaded.path.display().to_string(),
        params: loaded
            .params
            .iter()
            .map(|p| {
                if p.secret {
                    format!("{} (secret: not read)", p.name)
                } else {
                    format!("{}={}", p.name, p.value)
                }
            })
            .collect(),
        sets: loaded
            .params
            .iter()
            .any(|p| p.source == crate::runbook::ParamSource::Set),
        clusters,
    })
}

/// What the steps (and undos) acting on each cluster need, by cluster name.
fn cluster_needs(loaded: &Loaded) -> Result<BTreeMap<String, need::Needs>, RbacError> {
    let rb = &loaded.runbook;
    let plan = plan::build(loaded);
    let binder = bind::Binder::new(loaded);
    let base = loaded.path.parent().map(PathBuf::from).unwrap_or_default();
    // The bound inputs of every step, and of every undo naming its own action.
    let bound: Vec<ActionInputs> = rb
        .steps
        .iter()
        .map(|s| binder.inputs(&s.head.uses.value, &s.with_node, &s.with))
        .collect();
    let undos: Vec<Option<ActionInputs>> = rb
        .steps
        .iter()
        .map(|s| {
            s.undo.as_ref().and_then(|u| match u.with {
                ActionInputs::RestorePrevious(_) => None,
                _ => Some(binder.inputs(&u.uses, &u.with_node, &u.with)),
            })
        })
        .collect();
    let mut kinds = kinds::KindTable::builtin();
    for inputs in bound.iter().chain(undos.iter().flatten()) {
        if let ActionInputs::Apply(i) = inputs
            && let actions::Manifests::Known(objects) = actions::manifests(i, &base)?
        {
            for o in objects.iter().filter(|o| {
                o.get("kind").and_then(serde_json::Value::as_str)
                    == Some("CustomResourceDefinition")
            }) {
                kinds.learn_crd(o);
            }
        }
    }
    let backups: BTreeMap<String, crate::actions::backup::Inputs> = rb
        .steps
        .iter()
        .zip(&bound)
        .filter_map(|(s, b)| match b {
            ActionInputs::Backup(i) => Some((s.head.id.value.0.clone(), i.clone())),
            _ => None,
        })
        .collect();
    let mut out: BTreeMap<String, need::Needs> = BTreeMap::new();
    for (i, step) in rb.steps.iter().enumerate() {
        let id = &step.head.id.value.0;
        let planned = &plan.steps[i];
        let cx = |who: String| actions::Cx {
            who,
            kinds: &kinds,
            base: &base,
            backups: &backups,
        };
        if let Some(cluster) = &planned.cluster {
            let needs = out.entry(cluster.clone()).or_default();
            actions::step_needs(&bound[i], &cx(format!("step `{id}`")), needs)?;
        }
        let (Some(undo), Some(cluster)) = (
            &step.undo,
            planned.undo.as_ref().and_then(|u| u.cluster.clone()),
        ) else {
            continue;
        };
        let needs = out.entry(cluster).or_default();
        let who = cx(format!("undo of step `{id}`"));
        match (&undo.with, &undos[i]) {
            (ActionInputs::RestorePrevious(_), _) => {
                actions::self_undo_needs(&bound[i], &who, needs)?;
            }
            (_, Some(inputs)) => actions::step_needs(inputs, &who, needs)?,
            (_, None) => {}
        }
    }
    Ok(out)
}

/// The roles of one cluster. Namespaces the runbook creates get no Role (none can be
/// there before the run): what is done in them is granted cluster-wide.
fn cluster_rbac(
    runbook: &str,
    name: &str,
    cluster: &Cluster,
    mut needs: need::Needs,
) -> ClusterRbac {
    let created = std::mem::take(&mut needs.created_namespaces);
    for (ns, whos) in created {
        let used = needs
            .resources
            .iter()
            .any(|n| n.scope == Scope::Namespace(ns.clone()));
        if used {
            needs.widen_namespace(&ns);
            needs.note(format!(
                "namespace `{ns}` may be created by {}: no Role can be in it before the run, so what the runbook does there is granted cluster-wide (if it always exists beforehand, a Role there would do)",
                whos.join(", ")
            ));
        }
    }
    let needs = needs.reduce();
    let (cluster_role, roles) = rules::role_docs(&needs);
    let reached_by = match (&cluster.sandbox, &cluster.context, &cluster.kubeconfig) {
        (Some(_), _, _) => "an in-process sandbox, which checks no permissions".to_string(),
        (None, Some(ctx), Some(k)) => format!("context `{ctx}` of {}", k.value),
        (None, Some(ctx), None) => format!("context `{ctx}`"),
        (None, None, Some(k)) => format!("the current context of {}", k.value),
        (None, None, None) => "the current context".to_string(),
    };
    ClusterRbac {
        runbook: runbook.to_string(),
        name: name.to_string(),
        reached_by,
        context: cluster.context.clone(),
        sandbox: cluster.sandbox.is_some(),
        role_name: format!("lifeboat-{runbook}-{}", name.replace('_', "-")),
        cluster_role,
        roles,
        notes: needs.notes,
    }
}
