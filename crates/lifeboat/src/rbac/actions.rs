//! What each action asks of the API server, one small function per action (and per
//! undo), read off the action's code: the verbs of its calls (a dry run makes the same
//! calls with `dryRun=All`), the resources (subresources included), where, and on
//! which objects when their names are known. `backup` and `restore` are in `archive`.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::RbacError;
use super::archive;
use super::bind::known;
use super::kinds::{KindTable, ResolvedKind};
use super::need::{Needs, Reason, Resource, Scope, Verb};
use crate::actions::{
    ActionInputs, apply as apply_action, delete as delete_action, gitops_pause as gitops_action,
    job as job_action, patch as patch_action, scale as scale_action, snapshot as snapshot_action,
    wait as wait_action,
};

/// What a need is for, and what is known without a cluster.
pub struct Cx<'a> {
    /// `step `freeze`` or `undo of step `freeze``.
    pub who: String,
    pub kinds: &'a KindTable,
    /// The runbook's folder (apply `files` are relative to it).
    pub base: &'a Path,
    /// The bound inputs of the runbook's backup steps, by step id (what a restore of
    /// `${{ steps.ID.outputs.backup_id }}` restores).
    pub backups: &'a BTreeMap<String, crate::actions::backup::Inputs>,
}

impl Cx<'_> {
    pub fn why(&self, what: impl Into<String>) -> Reason {
        Reason {
            who: self.who.clone(),
            what: what.into(),
        }
    }
}

/// The discovery paths kube-rs reads to find the served resource types (every action
/// on a cluster resolves its kinds, or walks every type, through them).
const DISCOVERY: &[&str] = &["/api", "/api/*", "/apis", "/apis/*"];

pub fn discovery(cx: &Cx<'_>, needs: &mut Needs) {
    for url in DISCOVERY {
        needs.url(url, cx.why("find the resource types the cluster serves"));
    }
}

/// Discovery, the resource type a step names and where it acts: what every step on
/// one kind of object needs first. `None` when there is nothing to grant there.
fn target(
    cx: &Cx<'_>,
    needs: &mut Needs,
    kind: &str,
    api_version: Option<&str>,
    namespace: Option<&str>,
) -> Option<(ResolvedKind, Place)> {
    discovery(cx, needs);
    let kind = cx.kinds.resolve(kind, api_version);
    let at = place(cx, needs, &kind, namespace)?;
    Some((kind, at))
}

/// What an action needs when it runs.
pub fn step_needs(inputs: &ActionInputs, cx: &Cx<'_>, needs: &mut Needs) -> Result<(), RbacError> {
    match inputs {
        ActionInputs::Backup(i) => archive::backup(i, cx, needs),
        ActionInputs::Restore(i) => archive::restore(i, cx, needs),
        ActionInputs::VerifyRestore(i) => archive::verify_restore(i, cx, needs),
        ActionInputs::Scale(i) => scale(i, cx, needs),
        ActionInputs::Patch(i) => patch(i, cx, needs),
        ActionInputs::Apply(i) => return apply(i, cx, needs),
        ActionInputs::Delete(i) => delete(i, cx, needs),
        ActionInputs::GitopsPause(i) => gitops_pause(i, cx, needs),
        ActionInputs::Wait(i) => wait(i, cx, needs),
        ActionInputs::Job(i) => job(i, cx, needs),
        ActionInputs::Snapshot(i) => snapshot(i, cx, needs),
        // Local actions: no cluster.
        ActionInputs::HttpCheck(_)
        | ActionInputs::Approve(_)
        | ActionInputs::CopyBackup(_)
        | ActionInputs::ExecLocal(_)
        | ActionInputs::Sleep(_)
        | ActionInputs::RestorePrevious(_) => {}
    }
    Ok(())
}

/// What an action's own undo (`undo: {}`) needs, from the step's inputs.
pub fn self_undo_needs(
    inputs: &ActionInputs,
    cx: &Cx<'_>,
    needs: &mut Needs,
) -> Result<(), RbacError> {
    match inputs {
        ActionInputs::Scale(i) => scale_undo(i, cx, needs),
        ActionInputs::Patch(i) => patch_undo(i, cx, needs),
        ActionInputs::Apply(i) => return apply_undo(i, cx, needs),
        ActionInputs::GitopsPause(i) => gitops_pause_undo(i, cx, needs),
        _ => {}
    }
    Ok(())
}

/// Where an action acting on `kind` in `namespace` (as bound) needs its permissions,
/// and what to add to each reason about it. `None` when the step cannot run (a
/// namespaced kind without a namespace): it needs nothing past discovery.
pub struct Place {
    pub scope: Scope,
    pub caveat: String,
}

pub fn place(
    cx: &Cx<'_>,
    needs: &mut Needs,
    kind: &ResolvedKind,
    namespace: Option<&str>,
) -> Option<Place> {
    if let Some(guess) = &kind.guess {
        needs.note(guess.clone());
    }
    let cluster = |caveat: String| {
        Some(Place {
            scope: Scope::Cluster,
            caveat,
        })
    };
    match (kind.namespaced, namespace) {
        (Some(false), _) => cluster(String::new()),
        (Some(true), None) => {
            needs.note(format!(
                "{}: {} is namespaced but no `namespace` is given, so the step fails before it reads anything",
                cx.who, kind.kind
            ));
            None
        }
        (None, None) => cluster(String::new()),
        (_, Some(ns)) if known(ns) => Some(Place {
            scope: Scope::Namespace(ns.to_string()),
            caveat: String::new(),
        }),
        (_, Some(ns)) => cluster(format!(
            ", in every namespace: `{ns}` is known only when the step runs"
        )),
    }
}

/// The object names a rule may be restricted to: the name when it is known.
fn names(name: Option<&str>) -> Vec<String> {
    name.filter(|n| known(n))
        .map(|n| vec![n.to_string()])
        .unwrap_or_default()
}

fn object(kind: &ResolvedKind, name: Option<&str>) -> String {
    match name {
        Some(n) => format!("{} {n}", kind.kind),
        None => format!("{}s", kind.kind),
    }
}

fn scale(i: &scale_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    let Some((kind, at)) = target(cx, needs, i.kind.as_str(), None, Some(&i.namespace)) else {
        return;
    };
    let c = &at.caveat;
    match (&i.name, &i.selector) {
        (Some(name), _) => needs.add(
            &at.scope,
            kind.resource.clone(),
            &names(Some(name)),
            &[Verb::Get],
            cx.why(format!(
                "read the replicas of {}{c}",
                object(&kind, Some(name))
            )),
        ),
        (None, selector) => needs.add(
            &at.scope,
            kind.resource.clone(),
            &[],
            &[Verb::List],
            cx.why(format!(
                "list the {} to scale (`{}`){c}",
                object(&kind, None),
                selector.as_deref().unwrap_or("")
            )),
        ),
    }
    needs.add(
        &at.scope,
        kind.resource.sub("scale"),
        &names(i.name.as_deref()),
        &[Verb::Patch],
        cx.why(format!("set replicas through /scale{c}")),
    );
}

fn scale_undo(i: &scale_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    let Some((kind, at)) = target(cx, needs, i.kind.as_str(), None, Some(&i.namespace)) else {
        return;
    };
    needs.add(
        &at.scope,
        kind.resource.sub("scale"),
        &names(i.name.as_deref()),
        &[Verb::Patch],
        cx.why(format!(
            "set the previous replicas back through /scale{}",
            at.caveat
        )),
    );
}

fn patch(i: &patch_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    patched(i, cx, needs, &[Verb::Get, Verb::Patch], |o| {
        format!("read {o} (kept for undo), then patch it")
    });
}

fn patch_undo(i: &patch_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    patched(i, cx, needs, &[Verb::Get, Verb::Update], |o| {
        format!("put {o} back as it was (read, then replace)")
    });
}

/// The one object a patch (or its undo) changes, with `verbs`, for `why(object)`.
fn patched(
    i: &patch_action::Inputs,
    cx: &Cx<'_>,
    needs: &mut Needs,
    verbs: &[Verb],
    why: impl Fn(String) -> String,
) {
    let (k, v, ns) = (&i.kind, i.api_version.as_deref(), i.namespace.as_deref());
    let Some((kind, at)) = target(cx, needs, k, v, ns) else {
        return;
    };
    let what = why(object(&kind, Some(&i.name)));
    needs.add(
        &at.scope,
        kind.resource.clone(),
        &names(Some(&i.name)),
        verbs,
        cx.why(format!("{what}{}", at.caveat)),
    );
}

fn delete(i: &delete_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    let (k, v, ns) = (&i.kind, i.api_version.as_deref(), i.namespace.as_deref());
    let Some((kind, at)) = target(cx, needs, k, v, ns) else {
        return;
    };
    let c = &at.caveat;
    match (&i.name, &i.selector) {
        (Some(name), _) => needs.add(
            &at.scope,
            kind.resource.clone(),
            &names(Some(name)),
            &[Verb::Delete],
            cx.why(format!("delete {}{c}", object(&kind, Some(name)))),
        ),
        (None, selector) => needs.add(
            &at.scope,
            kind.resource.clone(),
            &[],
            &[Verb::List, Verb::Delete],
            cx.why(format!(
                "list the {} matching `{}` and delete them{c}",
                object(&kind, None),
                selector.as_deref().unwrap_or("")
            )),
        ),
    }
}

/// Where a `gitops_pause` step (or its undo) acts: a Role in each namespace it names
/// exactly, else every namespace; and what to add to each reason about it.
fn gitops_scopes(i: &gitops_action::Inputs) -> (Vec<Scope>, String) {
    if let Some(e) = i.namespaces.iter().find(|n| !known(n)) {
        let why = format!(", in every namespace: `{e}` is known only when the step runs");
        return (vec![Scope::Cluster], why);
    }
    match i.exact_namespaces() {
        Some(list) => (
            list.into_iter().map(Scope::Namespace).collect(),
            String::new(),
        ),
        None => match i.namespaces.iter().find(|n| n.contains(['*', '?'])) {
            Some(glob) => (
                vec![Scope::Cluster],
                format!(", in every namespace: `{glob}` is a glob"),
            ),
            None => (vec![Scope::Cluster], String::new()),
        },
    }
}

/// The names a `gitops_pause` step's writes may be restricted to: `names`, when all
/// are known.
fn gitops_names(i: &gitops_action::Inputs) -> Vec<String> {
    match &i.names {
        Some(list) if list.iter().all(|n| known(n)) => list.clone(),
        _ => Vec::new(),
    }
}

/// What pausing (or resuming) an object of `kind` changes, for the reasons.
fn gitops_field(kind: gitops_action::GitOpsKind, i: &gitops_action::Inputs) -> &'static str {
    match (kind, i.argocd) {
        (gitops_action::GitOpsKind::Applications, gitops_action::ArgoCdMethod::SkipReconcile) => {
            "the skip-reconcile annotation"
        }
        (gitops_action::GitOpsKind::Applications, gitops_action::ArgoCdMethod::DisableAutoSync) => {
            "spec.syncPolicy.automated"
        }
        _ => "spec.suspend",
    }
}

fn gitops_pause(i: &gitops_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    discovery(cx, needs);
    let (scopes, caveat) = gitops_scopes(i);
    let names = gitops_names(i);
    for kind in i.selected_kinds() {
        let resource = Resource::new(kind.group(), kind.resource());
        let label = kind.qualified();
        for scope in &scopes {
            needs.add(
                scope,
                resource.clone(),
                &[],
                &[Verb::List],
                cx.why(format!("list the {label} to pause{caveat}")),
            );
            needs.add(
                scope,
                resource.clone(),
                &names,
                &[Verb::Patch],
                cx.why(format!(
                    "pause them: a merge patch of {}{caveat}",
                    gitops_field(kind, i)
                )),
            );
        }
    }
}

fn gitops_pause_undo(i: &gitops_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    discovery(cx, needs);
    let (scopes, caveat) = gitops_scopes(i);
    let names = gitops_names(i);
    for kind in i.selected_kinds() {
        let resource = Resource::new(kind.group(), kind.resource());
        for scope in &scopes {
            needs.add(
                scope,
                resource.clone(),
                &names,
                &[Verb::Get, Verb::Patch],
                cx.why(format!(
                    "read each {} the step paused and put {} back as it was{caveat}",
                    kind.kind(),
                    gitops_field(kind, i)
                )),
            );
        }
    }
}

fn wait(i: &wait_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    let (k, v, ns) = (&i.kind, i.api_version.as_deref(), i.namespace.as_deref());
    let Some((kind, at)) = target(cx, needs, k, v, ns) else {
        return;
    };
    let c = &at.caveat;
    match &i.name {
        Some(name) => needs.add(
            &at.scope,
            kind.resource.clone(),
            &names(Some(name)),
            &[Verb::Get],
            cx.why(format!(
                "read {} until it matches{c}",
                object(&kind, Some(name))
            )),
        ),
        None => needs.add(
            &at.scope,
            kind.resource.clone(),
            &[],
            &[Verb::List],
            cx.why(format!(
                "list the {} until they match{c}",
                object(&kind, None)
            )),
        ),
    }
}

fn job(i: &job_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    discovery(cx, needs);
    let jobs = cx.kinds.resolve("Job", Some("batch/v1"));
    let pods = cx.kinds.resolve("Pod", Some("v1"));
    let Some(at) = place(cx, needs, &jobs, Some(&i.namespace)) else {
        return;
    };
    let (s, c) = (&at.scope, &at.caveat);
    let job_names = names(i.name.as_deref());
    needs.add(
        s,
        jobs.resource.clone(),
        &[],
        &[Verb::Create],
        cx.why(format!("create the Job{c}")),
    );
    needs.add(
        s,
        jobs.resource.clone(),
        &job_names,
        &[Verb::Get],
        cx.why(format!("read the Job until it completes or fails{c}")),
    );
    needs.add(
        s,
        pods.resource.clone(),
        &[],
        &[Verb::List],
        cx.why(format!("find the Job's pods (label job-name){c}")),
    );
    needs.add(
        s,
        pods.resource.sub("log"),
        &[],
        &[Verb::Get],
        cx.why(format!("keep the logs of the Job's pods{c}")),
    );
    if i.keep.may_be(false) {
        needs.add(
            s,
            jobs.resource.clone(),
            &job_names,
            &[Verb::Delete],
            cx.why(format!("delete the Job once it is done (keep: false){c}")),
        );
    }
}

fn snapshot(i: &snapshot_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    discovery(cx, needs);
    let pvcs = cx.kinds.resolve("PersistentVolumeClaim", Some("v1"));
    let snaps = cx
        .kinds
        .resolve("VolumeSnapshot", Some("snapshot.storage.k8s.io/v1"));
    let Some(at) = place(cx, needs, &pvcs, Some(&i.namespace)) else {
        return;
    };
    let (s, c) = (&at.scope, &at.caveat);
    match (&i.pvcs, &i.selector) {
        (Some(list), _) => {
            let all_known = list.iter().all(|n| known(n));
            let named: Vec<String> = if all_known { list.clone() } else { Vec::new() };
            needs.add(
                s,
                pvcs.resource.clone(),
                &named,
                &[Verb::Get],
                cx.why(format!("check that each PersistentVolumeClaim exists{c}")),
            );
        }
        (None, selector) => needs.add(
            s,
            pvcs.resource.clone(),
            &[],
            &[Verb::List, Verb::Get],
            cx.why(format!(
                "list the PersistentVolumeClaims matching `{}` and check each{c}",
                selector.as_deref().unwrap_or("")
            )),
        ),
    }
    needs.add(
        s,
        snaps.resource.clone(),
        &[],
        &[Verb::Create, Verb::Get],
        cx.why(format!(
            "create a VolumeSnapshot per PersistentVolumeClaim and read it until readyToUse{c}"
        )),
    );
}

/// The manifests an `apply` step applies, when they are known before it runs.
pub enum Manifests {
    Known(Vec<Value>),
    /// Files named by an expression: known only when the step runs.
    Unknown(String),
}

/// Reads an `apply` step's manifests: inline ones as bound, files from the runbook's
/// folder (a file that cannot be read is an error: the step would fail on it too).
pub fn manifests(i: &apply_action::Inputs, base: &Path) -> Result<Manifests, RbacError> {
    if let Some(inline) = &i.manifests {
        return Ok(Manifests::Known(inline.clone()));
    }
    let mut out = Vec::new();
    for f in i.files.iter().flatten() {
        if !known(f) {
            return Ok(Manifests::Unknown(f.clone()));
        }
        let path = base.join(f);
        let read = kube_resources::read_manifests(&path).map_err(|e| RbacError::Manifests {
            path: e.path,
            message: e.message,
        })?;
        out.extend(read.into_iter().map(|m| m.object));
    }
    Ok(Manifests::Known(out))
}

/// One manifest's type, namespace (bound from `namespace` when it names none) and name.
struct Applied {
    kind: ResolvedKind,
    namespace: Option<String>,
    name: Option<String>,
}

fn applied(cx: &Cx<'_>, object: &Value, default_ns: Option<&str>) -> Applied {
    let text = |p: &str| object.pointer(p).and_then(Value::as_str);
    let api_version = text("/apiVersion").filter(|v| known(v));
    let kind = match text("/kind").filter(|k| known(k)) {
        Some(k) => cx.kinds.resolve(k, api_version),
        None => ResolvedKind {
            resource: Resource::any(),
            kind: "object".into(),
            namespaced: None,
            guess: None,
        },
    };
    let namespace = text("/metadata/namespace")
        .or(default_ns)
        .map(str::to_string);
    Applied {
        kind,
        namespace,
        name: text("/metadata/name").map(str::to_string),
    }
}

fn apply(i: &apply_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) -> Result<(), RbacError> {
    discovery(cx, needs);
    let objects = match manifests(i, cx.base)? {
        Manifests::Known(objects) => objects,
        Manifests::Unknown(file) => {
            needs.add(
                &Scope::Cluster,
                Resource::any(),
                &[],
                &[Verb::Get, Verb::Patch],
                cx.why(format!(
                    "read and server-side apply every object of `{file}`: which objects is known only when the step runs"
                )),
            );
            return Ok(());
        }
    };
    for object in &objects {
        let a = applied(cx, object, i.namespace.as_deref());
        let Some(at) = place(cx, needs, &a.kind, a.namespace.as_deref()) else {
            continue;
        };
        if a.kind.resource == Resource::new("", "namespaces")
            && let Some(name) = a.name.as_deref().filter(|n| known(n))
        {
            needs.created(name, &cx.who);
        }
        needs.add(
            &at.scope,
            a.kind.resource.clone(),
            &names(a.name.as_deref()),
            &[Verb::Get, Verb::Patch],
            cx.why(format!(
                "read {} (kept for undo), then server-side apply it{}",
                object_of(&a),
                at.caveat
            )),
        );
    }
    Ok(())
}

fn apply_undo(i: &apply_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) -> Result<(), RbacError> {
    discovery(cx, needs);
    let undo_verbs = [Verb::Get, Verb::Update, Verb::Delete];
    let objects = match manifests(i, cx.base)? {
        Manifests::Known(objects) => objects,
        Manifests::Unknown(file) => {
            needs.add(
                &Scope::Cluster,
                Resource::any(),
                &[],
                &[Verb::Get, Verb::Update, Verb::Delete, Verb::Create],
                cx.why(format!(
                    "delete what it created, put back what it changed (objects of `{file}`, known only when the step runs)"
                )),
            );
            return Ok(());
        }
    };
    for object in &objects {
        let a = applied(cx, object, i.namespace.as_deref());
        let Some(at) = place(cx, needs, &a.kind, a.namespace.as_deref()) else {
            continue;
        };
        let what = object_of(&a);
        needs.add(
            &at.scope,
            a.kind.resource.clone(),
            &names(a.name.as_deref()),
            &undo_verbs,
            cx.why(format!(
                "delete {what} if the step created it, else read it and replace it with its earlier version{}",
                at.caveat
            )),
        );
        needs.add(
            &at.scope,
            a.kind.resource.clone(),
            &[],
            &[Verb::Create],
            cx.why(format!(
                "create {what} again if it was deleted meanwhile{}",
                at.caveat
            )),
        );
    }
    Ok(())
}

fn object_of(a: &Applied) -> String {
    object(&a.kind, a.name.as_deref())
}
