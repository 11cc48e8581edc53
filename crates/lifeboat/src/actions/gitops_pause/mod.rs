//! `gitops_pause`: suspends the GitOps controllers that would undo a failover (Argo CD
//! Applications; Flux Kustomizations, HelmReleases and sources), recording each
//! object's setting as it first found it, durably and before changing it, so that its
//! own undo resumes every object exactly as it was and a retried or resumed step never
//! mistakes its own earlier work for an object that was paused before. The kinds it
//! knows are in `kind`, the field that pauses each in `setting`, what it records in
//! `record`.

use std::collections::{BTreeMap, BTreeSet};

use kube::api::Patch;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

mod kind;
mod record;
mod setting;

pub use kind::{ArgoCdMethod, GitOpsKind};
pub use record::Record;
use record::{earlier_records, remember};
pub use setting::Setting;

use super::{CheckInputs, Output, located, map_out, non_empty, out};
use crate::cluster::discovery::{self, ServedType};
use crate::cluster::filter::NamespaceFilter;
use crate::cluster::{ClusterConn, ResourceType, objects};
use crate::context::{ActionError, StepCtx};
use crate::events::{OutputValue, Outputs};
use crate::runbook::de::DeError;
use crate::runbook::model::OrExpr;
use crate::runbook::node::Node;

pub const NAME: &str = "gitops_pause";
pub const SUMMARY: &str =
    "Suspend Argo CD Applications and Flux reconciliation; its undo resumes them as they were.";
pub const ON_CLUSTER: bool = true;
/// Asks the operator at a terminal before it runs: it changes what a cluster runs.
pub const CONFIRM: bool = true;
pub const SELF_UNDO: Option<&str> = Some(
    "puts back each object's recorded setting: resumes what the step paused, leaves paused what already was",
);
pub const DRY_RUN: &str = "finds what it would pause and sends each patch with dryRun=All: the API server checks it, nothing changes";
pub const OUTPUTS: &[Output] = &[
    out("paused", "objects the step paused"),
    out(
        "already_paused",
        "objects that were paused before the step (its undo leaves them paused)",
    ),
    map_out("kinds", "objects paused per kind (`applications`, ...)"),
    out(
        "not_served",
        "selected kinds the cluster does not serve (no CRD), comma-separated",
    ),
];

/// The annotation that stops Argo CD (2.7 and later) from processing an Application.
pub const SKIP_RECONCILE: &str = "argocd.argoproj.io/skip-reconcile";

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "GitopsPauseInputs")]
pub struct Inputs {
    /// Namespaces to pause in (globs; default all).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Only the objects with these names (or use `selector`; default all).
    #[serde(default)]
    pub names: Option<Vec<String>>,
    /// Only the objects matching this label selector (or use `names`).
    #[serde(default)]
    pub selector: Option<String>,
    /// Which kinds to pause (default all of them).
    #[serde(default)]
    pub kinds: Option<Vec<GitOpsKind>>,
    /// How Argo CD Applications are paused (default `skip_reconcile`).
    #[serde(default)]
    pub argocd: ArgoCdMethod,
    /// Succeed when there is nothing to pause: no selected kind served by the cluster,
    /// no object matched, or a name in `names` found nowhere (default false).
    #[serde(default)]
    pub allow_none: OrExpr<bool>,
}

impl Inputs {
    /// The kinds selected, in pausing order, each once.
    pub fn selected_kinds(&self) -> Vec<GitOpsKind> {
        match &self.kinds {
            None => GitOpsKind::ALL.to_vec(),
            Some(kinds) => {
                let asked: BTreeSet<GitOpsKind> = kinds.iter().copied().collect();
                GitOpsKind::ALL
                    .into_iter()
                    .filter(|k| asked.contains(k))
                    .collect()
            }
        }
    }

    /// The namespaces to list in one by one, when `namespaces` names them exactly (no
    /// glob); `None`: list across all namespaces and keep those `namespaces` selects.
    pub fn exact_namespaces(&self) -> Option<Vec<String>> {
        let exact = |n: &String| !n.contains(['*', '?']);
        (!self.namespaces.is_empty() && self.namespaces.iter().all(exact)).then(|| {
            let unique: BTreeSet<String> = self.namespaces.iter().cloned().collect();
            unique.into_iter().collect()
        })
    }
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        let mut problems: Vec<DeError> = ["namespaces", "names", "kinds"]
            .into_iter()
            .filter_map(|key| non_empty(with, key))
            .collect();
        if let (Some(_), Some(selector)) = (with.key("names"), with.key("selector")) {
            problems.push(located(
                DeError::new("only one of `names` or `selector` may be given")
                    .hint("pick objects by name or by label, not both"),
                selector,
            ));
        }
        problems
    }
}

/// An object found to pause.
struct Found {
    kind: GitOpsKind,
    rtype: ResourceType,
    namespace: String,
    name: String,
    object: Value,
}

/// What the cluster serves of the selected kinds, and what it does not.
struct Served {
    types: Vec<(GitOpsKind, ResourceType)>,
    missing: Vec<GitOpsKind>,
}

/// The selected kinds the cluster serves (discovery read again once when one is
/// missing: its CRD may have been created since, by an earlier step).
async fn served_kinds(conn: &ClusterConn, kinds: &[GitOpsKind]) -> Result<Served, ActionError> {
    let pick = |served: &[ServedType]| {
        let mut found = Served {
            types: Vec::new(),
            missing: Vec::new(),
        };
        for &k in kinds {
            match discovery::find(served, k.group(), k.version(), k.kind()) {
                Some(s) => found.types.push((k, s.rtype.clone())),
                None => found.missing.push(k),
            }
        }
        found
    };
    let found = pick(&discovery::served(conn, false).await?);
    if found.missing.is_empty() {
        return Ok(found);
    }
    Ok(pick(&discovery::served(conn, true).await?))
}

/// Every object of the served types that `i` selects, in pausing order.
async fn find_objects(
    i: &Inputs,
    conn: &ClusterConn,
    types: &[(GitOpsKind, ResourceType)],
) -> Result<Vec<Found>, ActionError> {
    let filter = NamespaceFilter::new(&i.namespaces, &[]);
    let names: Option<BTreeSet<&str>> = i
        .names
        .as_ref()
        .map(|n| n.iter().map(String::as_str).collect());
    let selector = i.selector.as_deref();
    let mut found = Vec::new();
    for (kind, rtype) in types {
        let listed = match i.exact_namespaces() {
            Some(namespaces) => {
                let mut all = Vec::new();
                for ns in &namespaces {
                    all.extend(objects::list_all(conn, rtype, Some(ns), selector).await?);
                }
                all
            }
            None => objects::list_all(conn, rtype, None, selector).await?,
        };
        let mut of_kind: Vec<Found> = listed
            .into_iter()
            .filter_map(|object| {
                let text = |p: &str| {
                    object
                        .pointer(p)
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                let (namespace, name) = (text("/metadata/namespace")?, text("/metadata/name")?);
                let wanted = filter.matches(&namespace)
                    && names.as_ref().is_none_or(|n| n.contains(name.as_str()));
                wanted.then(|| Found {
                    kind: *kind,
                    rtype: rtype.clone(),
                    namespace,
                    name,
                    object,
                })
            })
            .collect();
        of_kind.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        found.extend(of_kind);
    }
    Ok(found)
}

/// Pauses every selected object that is not paused yet, having recorded (durably, in a
/// checkpoint) each object's setting as the step first found it.
pub async fn execute(i: &Inputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let conn = ctx.cluster().await?;
    let allow_none = i.allow_none.value("allow_none")?;
    let kinds = i.selected_kinds();
    let served = served_kinds(&conn, &kinds).await?;
    if served.types.is_empty() && !allow_none {
        return Err(ActionError::Failed(format!(
            "{} serves none of {}: neither Argo CD nor Flux is installed there (is it the right cluster?); set `allow_none: true` if nothing to pause is expected",
            conn.describe(),
            list(served.missing.iter().map(|k| k.qualified()))
        )));
    }
    if !served.missing.is_empty() && i.kinds.is_some() {
        ctx.warn(format!(
            "{} does not serve {} (no CRD): skipped",
            conn.describe(),
            list(served.missing.iter().map(|k| k.qualified()))
        ));
    }
    let found = find_objects(i, &conn, &served.types).await?;
    if !allow_none {
        nothing_missing(i, &conn, &found)?;
    }

    // Each object's setting as the step first found it: from an earlier attempt when
    // there was one (it may have paused the object since), else as it is now.
    let earlier = earlier_records(ctx)?;
    let mut records = Vec::with_capacity(found.len());
    let mut new = Vec::new();
    for f in &found {
        let setting = f.kind.setting(i.argocd);
        let now = Record {
            kind: f.kind,
            namespace: f.namespace.clone(),
            name: f.name.clone(),
            setting,
            previous: setting.read(&f.object),
        };
        let record = match earlier.iter().find(|r| r.key() == now.key()) {
            Some(before) => before.clone(),
            None => {
                new.push(now.clone());
                now
            }
        };
        records.push(record);
    }
    if !new.is_empty() {
        remember(ctx, &new)?;
    }
    // What an earlier attempt paused that is not selected now (deleted, relabelled)
    // is still the step's to resume.
    let gone: Vec<Record> = earlier
        .iter()
        .filter(|e| !e.already_paused() && !records.iter().any(|r| r.key() == e.key()))
        .cloned()
        .collect();

    let mut kinds_paused: BTreeMap<String, u64> = served
        .types
        .iter()
        .map(|(k, _)| (k.resource().to_string(), 0))
        .collect();
    let (mut paused, mut already) = (0u64, 0u64);
    for (f, record) in found.iter().zip(&records) {
        if !record
            .setting
            .is_paused(record.setting.read(&f.object).as_ref())
        {
            objects::patch(
                &conn,
                &f.rtype,
                Some(&f.namespace),
                &f.name,
                None,
                &Patch::Merge(record.setting.pause_patch()),
            )
            .await?;
            crate::crash::point("gitops-paused");
        }
        if record.already_paused() {
            already += 1;
        } else {
            paused += 1;
            *kinds_paused
                .entry(f.kind.resource().to_string())
                .or_default() += 1;
        }
    }
    records.extend(gone);
    let state = serde_json::to_value(&records)
        .map_err(|e| ActionError::Failed(format!("cannot record the paused objects: {e}")))?;
    ctx.set_undo_state(state);

    let mut outputs = Outputs::new();
    outputs.insert("paused".into(), OutputValue::Str(paused.to_string()));
    outputs.insert(
        "already_paused".into(),
        OutputValue::Str(already.to_string()),
    );
    outputs.insert(
        "kinds".into(),
        OutputValue::Map(
            kinds_paused
                .into_iter()
                .map(|(k, n)| (k, n.to_string()))
                .collect(),
        ),
    );
    outputs.insert(
        "not_served".into(),
        OutputValue::Str(
            served
                .missing
                .iter()
                .map(|k| k.resource())
                .collect::<Vec<_>>()
                .join(","),
        ),
    );
    Ok(outputs)
}

/// Fails when the step would pause nothing, or when a name in `names` matched no
/// object: a pause that silently misses its target lets the controller undo the
/// failover.
fn nothing_missing(i: &Inputs, conn: &ClusterConn, found: &[Found]) -> Result<(), ActionError> {
    let within = if i.namespaces.is_empty() {
        String::new()
    } else {
        format!(" in namespaces {}", list(i.namespaces.iter().cloned()))
    };
    if let Some(names) = &i.names {
        let seen: BTreeSet<&str> = found.iter().map(|f| f.name.as_str()).collect();
        let missing: Vec<String> = names
            .iter()
            .filter(|n| !seen.contains(n.as_str()))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(ActionError::Failed(format!(
                "no GitOps object named {}{within} on {}: check the names, or set `allow_none: true`",
                list(missing.into_iter()),
                conn.describe()
            )));
        }
    }
    if found.is_empty() {
        let matching = i
            .selector
            .as_ref()
            .map_or(String::new(), |s| format!(" matching `{s}`"));
        return Err(ActionError::Failed(format!(
            "nothing to pause: no {}{matching}{within} on {}; set `allow_none: true` if that is expected",
            list(i.selected_kinds().iter().map(|k| k.resource().to_string())),
            conn.describe()
        )));
    }
    Ok(())
}

/// Undo: puts back each object's recorded setting, newest first (sources before what
/// reads them); an object that was paused before the step is left paused, and said so.
pub async fn undo(state: Option<&Value>, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    let records: Vec<Record> = state
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| ActionError::Failed(format!("the step's record cannot be read: {e}")))?
        .ok_or_else(|| ActionError::Failed("the step recorded no objects to resume".into()))?;
    let conn = ctx.cluster().await?;
    let kinds: Vec<GitOpsKind> = GitOpsKind::ALL
        .into_iter()
        .filter(|k| records.iter().any(|r| r.kind == *k && !r.already_paused()))
        .collect();
    let served = served_kinds(&conn, &kinds).await?;
    let (mut resumed, mut left) = (0u64, 0u64);
    for record in records.iter().rev() {
        if record.already_paused() {
            left += 1;
            ctx.warn(format!(
                "{} was {} before the step: left so",
                record.describe(),
                record.setting.paused_word()
            ));
            continue;
        }
        let Some((_, rtype)) = served.types.iter().find(|(k, _)| *k == record.kind) else {
            ctx.warn(format!(
                "{} cannot be resumed: {} no longer serves {}",
                record.describe(),
                conn.describe(),
                record.kind.qualified()
            ));
            continue;
        };
        let Some(current) =
            objects::get(&conn, rtype, Some(&record.namespace), &record.name).await?
        else {
            ctx.warn(format!(
                "{} no longer exists: nothing to resume",
                record.describe()
            ));
            continue;
        };
        let now = record.setting.read(&current);
        if now != record.previous {
            let patch = record
                .setting
                .restore_patch(now.as_ref(), record.previous.as_ref());
            objects::patch(
                &conn,
                rtype,
                Some(&record.namespace),
                &record.name,
                None,
                &Patch::Merge(patch),
            )
            .await?;
        }
        resumed += 1;
    }
    let mut outputs = Outputs::new();
    outputs.insert("resumed".into(), OutputValue::Str(resumed.to_string()));
    outputs.insert("left_paused".into(), OutputValue::Str(left.to_string()));
    Ok(outputs)
}

/// `a`, `b`, `c`.
fn list(items: impl Iterator<Item = String>) -> String {
    items
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_selected_in_pausing_order_each_once() {
        let inputs = |kinds: Option<Vec<GitOpsKind>>| Inputs {
            namespaces: Vec::new(),
            names: None,
            selector: None,
            kinds,
            argocd: ArgoCdMethod::default(),
            allow_none: OrExpr::Value(false),
        };
        assert_eq!(inputs(None).selected_kinds(), GitOpsKind::ALL.to_vec());
        let some = inputs(Some(vec![
            GitOpsKind::GitRepositories,
            GitOpsKind::Applications,
            GitOpsKind::GitRepositories,
        ]));
        assert_eq!(
            some.selected_kinds(),
            [GitOpsKind::Applications, GitOpsKind::GitRepositories]
        );
    }

    #[test]
    fn exact_namespaces_are_listed_one_by_one_and_globs_across_all() {
        let with = |namespaces: &[&str]| Inputs {
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            names: None,
            selector: None,
            kinds: None,
            argocd: ArgoCdMethod::default(),
            allow_none: OrExpr::Value(false),
        };
        assert_eq!(
            with(&["flux-system", "argocd", "argocd"]).exact_namespaces(),
            Some(vec!["argocd".to_string(), "flux-system".to_string()])
        );
        assert_eq!(with(&["team-*", "argocd"]).exact_namespaces(), None);
        assert_eq!(with(&[]).exact_namespaces(), None);
    }
}
