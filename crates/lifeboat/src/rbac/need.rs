//! What a step needs from a cluster's API server, as data: `PermissionNeed`s (verbs on a
//! resource, in a namespace or cluster-wide, optionally only on named objects) and the
//! non-resource URLs of discovery. `Needs` collects them and `reduce` merges duplicates
//! and drops what a broader need already grants, so the rules printed are the fewest
//! that cover every call.

use std::collections::{BTreeMap, BTreeSet};

/// A Kubernetes API verb lifeboat's calls are authorized as.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verb {
    Get,
    List,
    Create,
    Update,
    Patch,
    Delete,
    /// Grant in a Role what the creator does not hold itself.
    Escalate,
    /// Bind a role the creator does not hold itself.
    Bind,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::Escalate => "escalate",
            Verb::Bind => "bind",
        }
    }
}

/// Where a permission applies.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Cluster-scoped resources, or namespaced ones in every namespace: a ClusterRole.
    Cluster,
    /// Namespaced resources in one namespace: a Role there.
    Namespace(String),
}

/// A resource as RBAC names it: an API group (`""` for the core group, `*` for any)
/// and a resource (`deployments`, `deployments/scale`, `*`, `*/status`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Resource {
    pub group: String,
    pub resource: String,
}

/// Any API group, or any resource.
pub const ANY: &str = "*";

impl Resource {
    pub fn new(group: &str, resource: &str) -> Resource {
        Resource {
            group: group.to_string(),
            resource: resource.to_string(),
        }
    }

    /// Every resource of every group.
    pub fn any() -> Resource {
        Resource::new(ANY, ANY)
    }

    /// The subresource `sub` of this resource (`deployments/scale`, `*/status`).
    pub fn sub(&self, sub: &str) -> Resource {
        Resource::new(&self.group, &format!("{}/{sub}", self.resource))
    }

    pub fn is_any(&self) -> bool {
        self.group == ANY && self.resource == ANY
    }

    /// Whether a rule on `self` also grants `other`, as the RBAC authorizer matches:
    /// `*` is every resource and subresource, `*/sub` that subresource of every one.
    pub fn covers(&self, other: &Resource) -> bool {
        let group = self.group == ANY || self.group == other.group;
        let resource = self.resource == ANY
            || self.resource == other.resource
            || self.resource.strip_prefix("*/").is_some_and(|sub| {
                other
                    .resource
                    .split_once('/')
                    .is_some_and(|(_, s)| s == sub)
            });
        group && resource
    }
}

/// Why a permission is needed: who (`step `freeze``) and what for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reason {
    pub who: String,
    pub what: String,
}

/// Verbs on a resource, in a scope, optionally only on named objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PermissionNeed {
    pub scope: Scope,
    pub resource: Resource,
    /// Only these objects (`resourceNames`); empty: any object.
    pub names: BTreeSet<String>,
    pub verbs: BTreeSet<Verb>,
    /// Each reason with the verbs it asks for.
    pub whys: Vec<Why>,
}

/// A reason and the verbs it needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Why {
    pub reason: Reason,
    pub verbs: BTreeSet<Verb>,
}

impl PermissionNeed {
    /// The reasons for the verbs this need still grants.
    pub fn reasons(&self) -> Vec<Reason> {
        self.whys
            .iter()
            .filter(|w| !w.verbs.is_disjoint(&self.verbs))
            .map(|w| w.reason.clone())
            .collect()
    }

    /// Whether a rule granting `self` also grants what `other` asks (verbs aside).
    fn covers(&self, other: &PermissionNeed) -> bool {
        let scope = self.scope == Scope::Cluster || self.scope == other.scope;
        let names = self.names.is_empty()
            || (!other.names.is_empty() && other.names.is_subset(&self.names));
        scope && names && self.resource.covers(&other.resource)
    }

    fn same_target(&self, other: &PermissionNeed) -> bool {
        self.scope == other.scope && self.resource == other.resource && self.names == other.names
    }
}

/// A non-resource URL (discovery), read with `get`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlNeed {
    pub url: String,
    pub reasons: Vec<Reason>,
}

/// Everything the steps acting on one cluster need.
#[derive(Clone, Debug, Default)]
pub struct Needs {
    pub resources: Vec<PermissionNeed>,
    pub urls: Vec<UrlNeed>,
    /// Assumptions worth telling the reader (a guessed resource name, a missing input).
    pub notes: Vec<String>,
    /// Namespaces the runbook creates on this cluster, with who creates each.
    pub created_namespaces: BTreeMap<String, Vec<String>>,
}

impl Needs {
    /// Adds `verbs` on `resource` in `scope` (only on `names`, when not empty).
    pub fn add(
        &mut self,
        scope: &Scope,
        resource: Resource,
        names: &[String],
        verbs: &[Verb],
        reason: Reason,
    ) {
        let verbs: BTreeSet<Verb> = verbs.iter().copied().collect();
        let need = PermissionNeed {
            scope: scope.clone(),
            resource,
            names: names.iter().cloned().collect(),
            verbs: verbs.clone(),
            whys: vec![Why { reason, verbs }],
        };
        match self.resources.iter_mut().find(|n| n.same_target(&need)) {
            Some(existing) => {
                existing.verbs.extend(need.verbs);
                push_whys(&mut existing.whys, need.whys);
            }
            None => self.resources.push(need),
        }
    }

    /// Adds `get` on the non-resource URL `url`.
    pub fn url(&mut self, url: &str, reason: Reason) {
        match self.urls.iter_mut().find(|u| u.url == url) {
            Some(existing) => push_reasons(&mut existing.reasons, vec![reason]),
            None => self.urls.push(UrlNeed {
                url: url.to_string(),
                reasons: vec![reason],
            }),
        }
    }

    /// Records that `who` creates (or may create) `namespace`.
    pub fn created(&mut self, namespace: &str, who: &str) {
        let whos = self
            .created_namespaces
            .entry(namespace.to_string())
            .or_default();
        if !whos.iter().any(|w| w == who) {
            whos.push(who.to_string());
        }
    }

    pub fn note(&mut self, note: impl Into<String>) {
        let note = note.into();
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    /// Moves every need in `namespace` to cluster scope.
    pub fn widen_namespace(&mut self, namespace: &str) {
        let needs = std::mem::take(&mut self.resources);
        for n in needs {
            let scope = match n.scope {
                Scope::Namespace(ns) if ns == namespace => Scope::Cluster,
                other => other,
            };
            let names: Vec<String> = n.names.into_iter().collect();
            for w in n.whys {
                let verbs: Vec<Verb> = w.verbs.into_iter().collect();
                self.add(&scope, n.resource.clone(), &names, &verbs, w.reason);
            }
        }
    }

    /// The fewest needs that grant the same: a verb that a broader need (wider scope,
    /// wildcard resource, no name restriction) grants is dropped from the narrower one,
    /// whose reasons go to the broader one; needs left without verbs are dropped.
    pub fn reduce(mut self) -> Needs {
        let n = self.resources.len();
        let mut moves: Vec<(usize, Verb, usize)> = Vec::new();
        for b in 0..n {
            for &verb in &self.resources[b].verbs {
                if let Some(a) = self.widest_cover(b, verb) {
                    moves.push((b, verb, a));
                }
            }
        }
        for (b, verb, a) in moves {
            self.resources[b].verbs.remove(&verb);
            let moved: Vec<Why> = self.resources[b]
                .whys
                .iter()
                .filter(|w| w.verbs.contains(&verb))
                .map(|w| Why {
                    reason: w.reason.clone(),
                    verbs: BTreeSet::from([verb]),
                })
                .collect();
            push_whys(&mut self.resources[a].whys, moved);
        }
        self.resources.retain(|n| !n.verbs.is_empty());
        self
    }

    /// A need other than `b` that grants `verb` on what `b` asks and that no other need
    /// grants more widely.
    fn widest_cover(&self, b: usize, verb: Verb) -> Option<usize> {
        let grants = |a: usize, x: usize| {
            a != x
                && self.resources[a].verbs.contains(&verb)
                && self.resources[a].covers(&self.resources[x])
        };
        let mut current = (0..self.resources.len()).find(|&a| grants(a, b))?;
        // Climb to a maximal one (covering is a strict order here: equal targets were
        // merged by `add`, so this ends).
        while let Some(wider) = (0..self.resources.len()).find(|&a| grants(a, current)) {
            current = wider;
        }
        Some(current)
    }
}

fn push_reasons(into: &mut Vec<Reason>, from: Vec<Reason>) {
    for r in from {
        if !into.contains(&r) {
            into.push(r);
        }
    }
}

fn push_whys(into: &mut Vec<Why>, from: Vec<Why>) {
    for w in from {
        match into.iter_mut().find(|i| i.reason == w.reason) {
            Some(i) => i.verbs.extend(w.verbs),
            None => into.push(w),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn why(what: &str) -> Reason {
        Reason {
            who: "step `s`".into(),
            what: what.into(),
        }
    }

    #[test]
    fn wildcards_cover_as_the_rbac_authorizer_matches() {
        let scale = Resource::new("apps", "deployments/scale");
        assert!(Resource::any().covers(&scale));
        assert!(Resource::new("apps", "*").covers(&scale));
        assert!(!Resource::new("", "*").covers(&scale));
        assert!(Resource::new("*", "*/scale").covers(&scale));
        assert!(!Resource::new("*", "*/status").covers(&scale));
        assert!(!Resource::new("apps", "deployments").covers(&scale));
        assert!(!scale.covers(&Resource::new("apps", "deployments")));
    }

    #[test]
    fn a_broader_need_absorbs_the_verbs_it_grants() {
        let shop = Scope::Namespace("shop".into());
        let mut needs = Needs::default();
        needs.add(&shop, Resource::any(), &[], &[Verb::List], why("back up"));
        needs.add(
            &shop,
            Resource::new("apps", "deployments"),
            &[],
            &[Verb::List, Verb::Patch],
            why("scale"),
        );
        needs.add(
            &Scope::Cluster,
            Resource::new("", "configmaps"),
            &["routing".into()],
            &[Verb::Get],
            why("patch"),
        );
        needs.add(
            &Scope::Namespace("edge".into()),
            Resource::new("", "configmaps"),
            &["routing".into()],
            &[Verb::Get, Verb::Update],
            why("patch"),
        );
        let reduced = needs.reduce();
        assert_eq!(reduced.resources.len(), 4);
        let deployments = &reduced.resources[1];
        assert_eq!(deployments.verbs, BTreeSet::from([Verb::Patch]));
        assert_eq!(
            reduced.resources[0].reasons(),
            vec![why("back up"), why("scale")]
        );
        assert_eq!(deployments.reasons(), vec![why("scale")]);
        let edge = &reduced.resources[3];
        assert_eq!(edge.verbs, BTreeSet::from([Verb::Update]));
    }

    #[test]
    fn a_need_covered_entirely_disappears_and_widening_merges() {
        let mut needs = Needs::default();
        let shop = Scope::Namespace("shop".into());
        needs.add(
            &shop,
            Resource::new("apps", "deployments"),
            &[],
            &[Verb::Get],
            why("a"),
        );
        needs.add(
            &Scope::Cluster,
            Resource::any(),
            &[],
            &[Verb::Get],
            why("b"),
        );
        needs.add(&shop, Resource::any(), &[], &[Verb::Create], why("c"));
        needs.widen_namespace("shop");
        let reduced = needs.reduce();
        assert_eq!(reduced.resources.len(), 1, "{reduced:?}");
        assert_eq!(
            reduced.resources[0].verbs,
            BTreeSet::from([Verb::Get, Verb::Create])
        );
    }
}
