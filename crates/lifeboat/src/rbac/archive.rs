//! What `backup` and `restore` ask of the API server. A backup lists (never gets):
//! every selected resource type, in each selected namespace or across all of them,
//! plus the CRDs (always) and the Namespaces (to match `namespaces`). A restore creates
//! what the backup holds (and, with `existing: update`, reads and server-side applies
//! what exists), creates missing target namespaces, patches `/status` with
//! `restore_status`, and reads the CRDs it restored until they are Established. What a
//! backup holds is known when the restore reads `${{ steps.ID.outputs.backup_id }}` of
//! a backup step of the runbook; otherwise it can be anything.

use std::collections::{BTreeMap, BTreeSet};

use super::actions::{Cx, discovery};
use super::bind::known;
use super::kinds::KindTable;
use super::need::{Needs, Resource, Scope, Verb};
use crate::actions::{
    backup as backup_action, restore as restore_action, verify_restore as verify_action,
};
use crate::backup::ClusterResources;
use crate::cluster::filter::NamespaceFilter;
use crate::restore::Existing;
use crate::restore::verify::VerifyMode;
use crate::runbook::expr::{self, Expr, Reference, Segment};

use crate::backup::PER_NAMESPACE_LISTS;

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

fn namespaces_resource() -> Resource {
    Resource::new("", "namespaces")
}

fn crds_resource() -> Resource {
    Resource::new("apiextensions.k8s.io", "customresourcedefinitions")
}

/// Namespaces, as far as they are known without a cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Namespaces {
    /// Every namespace; with why, when the runbook does name some (a glob, a value
    /// known only at run time).
    All(Option<String>),
    Only(BTreeSet<String>),
}

/// Resource types.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Types {
    All,
    Only(Vec<Resource>),
}

impl Types {
    /// From `include_resources`: all when empty or when an entry is a glob or an
    /// expression.
    fn included(include: &[String], kinds: &KindTable) -> Types {
        if include.is_empty() || include.iter().any(|e| !known(e)) {
            return Types::All;
        }
        let resources: Option<Vec<Resource>> =
            include.iter().map(|e| kinds.filter_entry(e)).collect();
        resources.map_or(Types::All, Types::Only)
    }

    fn matches(&self, r: &Resource) -> bool {
        match self {
            Types::All => true,
            Types::Only(list) => list.iter().any(|q| q.covers(r)),
        }
    }

    /// The types both select.
    fn and(&self, other: &Types) -> Types {
        match (self, other) {
            (Types::All, t) | (t, Types::All) => t.clone(),
            (Types::Only(a), Types::Only(b)) => {
                let mut out: Vec<Resource> = Vec::new();
                for r in a {
                    for q in b {
                        let narrower = if q.covers(r) {
                            Some(r)
                        } else if r.covers(q) {
                            Some(q)
                        } else {
                            None
                        };
                        if let Some(n) = narrower
                            && !out.contains(n)
                        {
                            out.push(n.clone());
                        }
                    }
                }
                Types::Only(out)
            }
        }
    }

    /// The namespaced types (all, or those listed that are namespaced or may be).
    fn namespaced(&self, kinds: &KindTable) -> Vec<Resource> {
        match self {
            Types::All => vec![Resource::any()],
            Types::Only(list) => list
                .iter()
                .filter(|r| kinds.namespaced(r) != Some(false))
                .cloned()
                .collect(),
        }
    }

    /// The cluster-scoped types (all, or those listed that are cluster-scoped or may be).
    fn cluster_scoped(&self, kinds: &KindTable) -> Vec<Resource> {
        match self {
            Types::All => vec![Resource::any()],
            Types::Only(list) => list
                .iter()
                .filter(|r| kinds.namespaced(r) != Some(true))
                .cloned()
                .collect(),
        }
    }
}

/// The namespaces `include` (globs) and `exclude` select.
fn selected(include: &[String], exclude: &[String]) -> Namespaces {
    if include.is_empty() {
        return Namespaces::All(None);
    }
    if let Some(e) = include.iter().find(|n| !known(n)) {
        return Namespaces::All(Some(format!("`{e}` is known only when the step runs")));
    }
    if let Some(g) = include.iter().find(|n| n.contains(['*', '?'])) {
        return Namespaces::All(Some(format!("`{g}` is a glob")));
    }
    let filter = NamespaceFilter::new(include, exclude);
    Namespaces::Only(
        include
            .iter()
            .filter(|n| filter.matches(n))
            .cloned()
            .collect(),
    )
}

/// What a backup holds, as far as the runbook says.
#[derive(Clone, Debug)]
struct Contents {
    namespaces: Namespaces,
    types: Types,
    /// Whether cluster-scoped types are taken (else only Namespaces and CRDs).
    cluster_scoped: bool,
}

impl Contents {
    fn of_backup(i: &backup_action::Inputs, kinds: &KindTable) -> Contents {
        let all_namespaces = i.namespaces.is_empty() && i.exclude_namespaces.is_empty();
        Contents {
            namespaces: selected(&i.namespaces, &i.exclude_namespaces),
            types: Types::included(&i.include_resources, kinds),
            cluster_scoped: match i.cluster_resources {
                ClusterResources::Include => true,
                ClusterResources::Exclude => false,
                ClusterResources::Auto => all_namespaces,
            },
        }
    }

    /// A backup the runbook does not describe: anything.
    fn unknown() -> Contents {
        Contents {
            namespaces: Namespaces::All(None),
            types: Types::All,
            cluster_scoped: true,
        }
    }
}

/// The scopes namespaced reads or writes happen in, and what to add to each reason.
fn scopes_of(namespaces: &Namespaces, max: Option<usize>) -> (Vec<Scope>, String) {
    match namespaces {
        Namespaces::Only(set) if max.is_none_or(|m| set.len() <= m) => (
            set.iter().map(|ns| Scope::Namespace(ns.clone())).collect(),
            String::new(),
        ),
        Namespaces::Only(set) => (
            vec![Scope::Cluster],
            format!(
                ", across all namespaces: {} namespaces are read with one list per type",
                set.len()
            ),
        ),
        Namespaces::All(None) => (vec![Scope::Cluster], String::new()),
        Namespaces::All(Some(why)) => {
            (vec![Scope::Cluster], format!(", in every namespace: {why}"))
        }
    }
}

fn label(r: &Resource) -> String {
    if r.is_any() {
        "every resource type".to_string()
    } else if r.group.is_empty() {
        r.resource.clone()
    } else {
        format!("{}.{}", r.resource, r.group)
    }
}

fn where_(scope: &Scope) -> String {
    match scope {
        Scope::Namespace(ns) => format!(" in {ns}"),
        Scope::Cluster => String::new(),
    }
}

pub fn backup(i: &backup_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    discovery(cx, needs);
    needs.url(
        "/version",
        cx.why("record the server version in the backup's manifest"),
    );
    let contents = Contents::of_backup(i, cx.kinds);
    needs.add(
        &Scope::Cluster,
        crds_resource(),
        &[],
        &[Verb::List],
        cx.why("list CustomResourceDefinitions, to find the groups of custom resources"),
    );
    if !(i.namespaces.is_empty() && i.exclude_namespaces.is_empty()) {
        needs.add(
            &Scope::Cluster,
            namespaces_resource(),
            &[],
            &[Verb::List],
            cx.why("list Namespaces, to find those `namespaces` selects"),
        );
    }
    let (scopes, caveat) = scopes_of(&contents.namespaces, Some(PER_NAMESPACE_LISTS));
    for scope in &scopes {
        for r in contents.types.namespaced(cx.kinds) {
            needs.add(
                scope,
                r.clone(),
                &[],
                &[Verb::List],
                cx.why(format!(
                    "list {} to back up{}{caveat}",
                    label(&r),
                    where_(scope)
                )),
            );
        }
    }
    if contents.cluster_scoped {
        for r in contents.types.cluster_scoped(cx.kinds) {
            needs.add(
                &Scope::Cluster,
                r.clone(),
                &[],
                &[Verb::List],
                cx.why(format!(
                    "list {} to back up (cluster-scoped types are taken)",
                    label(&r)
                )),
            );
        }
    } else if contents.types.matches(&namespaces_resource()) {
        needs.add(
            &Scope::Cluster,
            namespaces_resource(),
            &[],
            &[Verb::List],
            cx.why("list the Namespace objects of the selected namespaces, to back them up"),
        );
    }
}

/// The backup step a restore's `backup` input reads (`${{ steps.ID.outputs.backup_id }}`).
fn backup_step(backup: &str) -> Option<String> {
    let segments = expr::parse_template(backup).ok()?;
    match segments.as_slice() {
        [
            Segment::Expr {
                expr: Expr::Ref(r), ..
            },
        ] => match &r.reference {
            Reference::Output {
                step,
                output,
                key: None,
            } if output == "backup_id" => Some(step.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The namespaces a restore writes to: those of `source` it selects, mapped.
fn targets(source: Namespaces, i: &restore_action::Inputs) -> Namespaces {
    let own = selected(&i.namespaces, &i.exclude_namespaces);
    let chosen = match (source, own) {
        (Namespaces::Only(set), _) => {
            let include: &[String] = if i.namespaces.iter().all(|n| known(n)) {
                &i.namespaces
            } else {
                &[]
            };
            let filter = NamespaceFilter::new(include, &i.exclude_namespaces);
            Namespaces::Only(set.into_iter().filter(|n| filter.matches(n)).collect())
        }
        (Namespaces::All(_), Namespaces::Only(set)) => Namespaces::Only(set),
        (Namespaces::All(a), Namespaces::All(b)) => Namespaces::All(a.or(b)),
    };
    map_namespaces(chosen, &i.namespace_mapping)
}

fn map_namespaces(namespaces: Namespaces, mapping: &BTreeMap<String, String>) -> Namespaces {
    let Namespaces::Only(set) = namespaces else {
        return namespaces;
    };
    if let Some(k) = mapping.keys().find(|k| !known(k)) {
        return Namespaces::All(Some(format!(
            "the mapping of `{k}` is known only when the step runs"
        )));
    }
    let mut out = BTreeSet::new();
    for ns in set {
        let to = mapping.get(&ns).cloned().unwrap_or(ns);
        if !known(&to) {
            return Namespaces::All(Some(format!("`{to}` is known only when the step runs")));
        }
        out.insert(to);
    }
    Namespaces::Only(out)
}

/// What a restore writes: the resource types and where.
struct Restored {
    /// "the backup of step `x`", for the reasons.
    source: String,
    types: Types,
    targets: Namespaces,
    scopes: Vec<Scope>,
    caveat: String,
    namespaced: Vec<Resource>,
    cluster_types: Vec<Resource>,
}

fn restored(i: &restore_action::Inputs, cx: &Cx<'_>) -> Restored {
    let (contents, source) = match backup_step(&i.backup).and_then(|s| {
        cx.backups
            .get(&s)
            .map(|b| (Contents::of_backup(b, cx.kinds), s))
    }) {
        Some((c, step)) => (c, format!("the backup of step `{step}`")),
        None => (Contents::unknown(), "the backup".to_string()),
    };
    let types = contents
        .types
        .and(&Types::included(&i.include_resources, cx.kinds));
    let targets = targets(contents.namespaces.clone(), i);
    let (scopes, caveat) = scopes_of(&targets, None);
    let namespaced = types.namespaced(cx.kinds);
    let cluster_types: Vec<Resource> = if contents.cluster_scoped {
        types.cluster_scoped(cx.kinds)
    } else {
        [namespaces_resource(), crds_resource()]
            .into_iter()
            .filter(|r| types.matches(r))
            .collect()
    };
    Restored {
        source,
        types,
        targets,
        scopes,
        caveat,
        namespaced,
        cluster_types,
    }
}

/// `verify_restore`: reads what the restore it checks writes.
pub fn verify_restore(i: &verify_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    discovery(cx, needs);
    // Inputs that only resolve when the step runs do not change what is read.
    let Ok(r) = i.as_restore() else { return };
    let restored = restored(&r, cx);
    read_back(&restored, cx, needs);
}

/// Reading back every object a restore writes (`verify`, `verify_restore`).
fn read_back(r: &Restored, cx: &Cx<'_>, needs: &mut Needs) {
    let why = |what: String| {
        cx.why(format!(
            "read back {what} to compare it with {} (verify)",
            r.source
        ))
    };
    for scope in &r.scopes {
        for t in &r.namespaced {
            let what = format!("{}{}{}", label(t), where_(scope), r.caveat);
            needs.add(scope, t.clone(), &[], &[Verb::Get], why(what));
        }
    }
    for t in &r.cluster_types {
        let what = if t.is_any() {
            "every cluster-scoped resource type".to_string()
        } else {
            label(t)
        };
        needs.add(&Scope::Cluster, t.clone(), &[], &[Verb::Get], why(what));
    }
}

pub fn restore(i: &restore_action::Inputs, cx: &Cx<'_>, needs: &mut Needs) {
    discovery(cx, needs);
    let restored = restored(i, cx);
    let Restored {
        source,
        types,
        targets,
        scopes,
        caveat,
        namespaced,
        cluster_types,
    } = &restored;
    if i.verify != VerifyMode::Off {
        read_back(&restored, cx, needs);
    }
    if let Namespaces::Only(set) = targets {
        for ns in set {
            needs.created(ns, &cx.who);
        }
    }
    let update = i.existing == Existing::Update;
    let verbs: &[Verb] = if update {
        &[Verb::Create, Verb::Get, Verb::Patch]
    } else {
        &[Verb::Create]
    };
    let writes = if update {
        format!(
            "create the objects of {source}, or read and server-side apply those that exist (existing: update)"
        )
    } else {
        format!("create the objects of {source}")
    };
    let mut write = |scope: &Scope, r: &Resource, caveat: &str| {
        let what = match scope {
            Scope::Cluster if r.is_any() && caveat.is_empty() => {
                "every cluster-scoped resource type".to_string()
            }
            _ => format!("{}{}", label(r), where_(scope)),
        };
        needs.add(
            scope,
            r.clone(),
            &[],
            verbs,
            cx.why(format!("{writes}: {what}{caveat}")),
        );
        if i.restore_status.may_be(true) {
            needs.add(
                scope,
                r.sub("status"),
                &[],
                &[Verb::Patch],
                cx.why(format!(
                    "restore the status of {what} (restore_status){caveat}"
                )),
            );
        }
    };
    for scope in scopes {
        for r in namespaced {
            write(scope, r, caveat);
        }
    }
    for r in cluster_types {
        write(&Scope::Cluster, r, "");
    }
    let service_accounts = Resource::new("", "serviceaccounts");
    if !update && namespaced.iter().any(|r| r.covers(&service_accounts)) {
        for scope in scopes {
            needs.add(
                scope,
                service_accounts.clone(),
                &["default".to_string()],
                &[Verb::Get, Verb::Patch],
                cx.why(format!(
                    "apply the backup's `default` ServiceAccount over the one the cluster makes in a namespace the restore creates{}",
                    where_(scope)
                )),
            );
        }
    }
    if !namespaced.is_empty() {
        needs.add(
            &Scope::Cluster,
            namespaces_resource(),
            &[],
            &[Verb::Create],
            cx.why("create a target namespace that does not exist yet"),
        );
    }
    if types.matches(&crds_resource()) {
        needs.add(
            &Scope::Cluster,
            crds_resource(),
            &[],
            &[Verb::Get],
            cx.why("read the restored CRDs until they are Established"),
        );
    }
    let admission = [
        Resource::new(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
        ),
        Resource::new(
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations",
        ),
        Resource::new("apiregistration.k8s.io", "apiservices"),
    ];
    if cluster_types
        .iter()
        .any(|t| admission.iter().any(|a| t.covers(a)))
    {
        let why = "wait until the workloads behind restored webhooks and APIServices are ready";
        needs.add(
            &Scope::Cluster,
            Resource::new("", "services"),
            &[],
            &[Verb::Get],
            cx.why(why),
        );
        for r in [
            Resource::new("apps", "deployments"),
            Resource::new("apps", "statefulsets"),
            Resource::new("apps", "daemonsets"),
            Resource::new("discovery.k8s.io", "endpointslices"),
        ] {
            needs.add(&Scope::Cluster, r, &[], &[Verb::List], cx.why(why));
        }
    }
    rbac_objects(types, scopes, cluster_types, cx, needs);
}

/// Restoring Roles and bindings: the API server lets a Role grant, and a binding bind,
/// only what its creator holds itself, unless the creator may `escalate` and `bind`.
fn rbac_objects(
    types: &Types,
    scopes: &[Scope],
    cluster_types: &[Resource],
    cx: &Cx<'_>,
    needs: &mut Needs,
) {
    let roles = Resource::new(RBAC_GROUP, "roles");
    let cluster_roles = Resource::new(RBAC_GROUP, "clusterroles");
    let why = "restore Roles and bindings, which may grant what lifeboat itself does not hold";
    if types.matches(&roles) || types.matches(&Resource::new(RBAC_GROUP, "rolebindings")) {
        for scope in scopes {
            needs.add(
                scope,
                roles.clone(),
                &[],
                &[Verb::Escalate, Verb::Bind],
                cx.why(why),
            );
            needs.add(
                scope,
                cluster_roles.clone(),
                &[],
                &[Verb::Bind],
                cx.why(why),
            );
        }
    }
    let cluster_rbac = [
        cluster_roles.clone(),
        Resource::new(RBAC_GROUP, "clusterrolebindings"),
    ];
    if cluster_types
        .iter()
        .any(|t| cluster_rbac.iter().any(|r| t.covers(r)))
    {
        needs.add(
            &Scope::Cluster,
            cluster_roles,
            &[],
            &[Verb::Escalate, Verb::Bind],
            cx.why(why),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_knows_the_backup_of_a_step_by_its_output() {
        assert_eq!(
            backup_step("${{ steps.take.outputs.backup_id }}"),
            Some("take".into())
        );
        assert_eq!(backup_step("${{ steps.take.outputs.objects }}"), None);
        assert_eq!(backup_step("latest"), None);
        assert_eq!(backup_step("x-${{ steps.take.outputs.backup_id }}"), None);
    }

    #[test]
    fn selected_namespaces_are_known_only_when_literal() {
        let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            selected(&s(&["shop", "edge"]), &s(&["edge"])),
            Namespaces::Only(BTreeSet::from(["shop".to_string()]))
        );
        assert!(matches!(
            selected(&s(&["shop-*"]), &[]),
            Namespaces::All(Some(_))
        ));
        assert!(matches!(
            selected(&s(&["${{ steps.a.outputs.ns }}"]), &[]),
            Namespaces::All(Some(_))
        ));
        assert_eq!(selected(&[], &s(&["kube-system"])), Namespaces::All(None));
        let mapping = BTreeMap::from([("shop".to_string(), "drill".to_string())]);
        assert_eq!(
            map_namespaces(
                Namespaces::Only(BTreeSet::from(["shop".to_string(), "edge".to_string()])),
                &mapping
            ),
            Namespaces::Only(BTreeSet::from(["drill".to_string(), "edge".to_string()]))
        );
    }

    #[test]
    fn types_intersect_to_the_narrower() {
        let kinds = KindTable::builtin();
        let a = Types::included(&["configmaps".into(), "widgets".into()], &kinds);
        let b = Types::included(&["widgets.example.com".into()], &kinds);
        assert_eq!(
            a.and(&b),
            Types::Only(vec![Resource::new("example.com", "widgets")])
        );
        assert_eq!(Types::All.and(&b), b);
        assert_eq!(Types::included(&["config*".into()], &kinds), Types::All);
    }
}
