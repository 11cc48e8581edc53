//! From needs to RBAC rules: cluster-wide needs and discovery URLs go into one
//! ClusterRole, each namespace's needs into a Role there. Needs with the same API group,
//! verbs and object names share a rule; each rule keeps what needs it, for the comment
//! above it.

use std::collections::BTreeMap;

use super::need::{ANY, Needs, PermissionNeed, Reason, Scope};

/// One rule of a Role or ClusterRole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RbacRule {
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
    pub verbs: Vec<&'static str>,
    /// What needs the rule: one line per purpose, naming the steps.
    pub reasons: Vec<String>,
}

/// A Role (in `namespace`) or the ClusterRole (`namespace` is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleDoc {
    pub namespace: Option<String>,
    pub rules: Vec<RbacRule>,
}

/// The ClusterRole (when anything is needed cluster-wide) and the Roles, by namespace.
pub fn role_docs(needs: &Needs) -> (Option<RoleDoc>, Vec<RoleDoc>) {
    let mut by_scope: BTreeMap<Scope, Vec<&PermissionNeed>> = BTreeMap::new();
    for n in &needs.resources {
        by_scope.entry(n.scope.clone()).or_default().push(n);
    }
    let mut cluster_rules = Vec::new();
    if !needs.urls.is_empty() {
        let mut reasons = Vec::new();
        for u in &needs.urls {
            reasons.extend(u.reasons.iter().cloned());
        }
        cluster_rules.push(RbacRule {
            api_groups: Vec::new(),
            resources: Vec::new(),
            resource_names: Vec::new(),
            non_resource_urls: needs.urls.iter().map(|u| u.url.clone()).collect(),
            verbs: vec!["get"],
            reasons: describe(&reasons),
        });
    }
    cluster_rules.extend(rules(by_scope.remove(&Scope::Cluster).unwrap_or_default()));
    let cluster = (!cluster_rules.is_empty()).then_some(RoleDoc {
        namespace: None,
        rules: cluster_rules,
    });
    let roles = by_scope
        .into_iter()
        .filter_map(|(scope, needs)| match scope {
            Scope::Namespace(ns) => Some(RoleDoc {
                namespace: Some(ns),
                rules: rules(needs),
            }),
            Scope::Cluster => None,
        })
        .collect();
    (cluster, roles)
}

/// Rules for the needs of one scope: one per API group, object names and verbs.
fn rules(needs: Vec<&PermissionNeed>) -> Vec<RbacRule> {
    let mut out: Vec<(RbacRule, Vec<Reason>)> = Vec::new();
    for n in needs {
        let verbs: Vec<&'static str> = n.verbs.iter().map(|v| v.as_str()).collect();
        let names: Vec<String> = n.names.iter().cloned().collect();
        let same = out.iter_mut().find(|(r, _)| {
            r.api_groups == [n.resource.group.clone()]
                && r.verbs == verbs
                && r.resource_names == names
        });
        match same {
            Some((rule, reasons)) => {
                if !rule.resources.contains(&n.resource.resource) {
                    rule.resources.push(n.resource.resource.clone());
                }
                reasons.extend(n.reasons());
            }
            None => out.push((
                RbacRule {
                    api_groups: vec![n.resource.group.clone()],
                    resources: vec![n.resource.resource.clone()],
                    resource_names: names,
                    non_resource_urls: Vec::new(),
                    verbs,
                    reasons: Vec::new(),
                },
                n.reasons(),
            )),
        }
    }
    let mut rules: Vec<RbacRule> = out
        .into_iter()
        .map(|(mut rule, reasons)| {
            rule.resources.sort();
            rule.reasons = describe(&reasons);
            rule
        })
        .collect();
    rules.sort_by_key(order_key);
    rules
}

/// Wildcard groups first, then the core group, then the others by name.
fn order_key(rule: &RbacRule) -> (u8, String, Vec<String>, Vec<String>) {
    let group = rule.api_groups.first().cloned().unwrap_or_default();
    let rank = match group.as_str() {
        ANY => 0,
        "" => 1,
        _ => 2,
    };
    (
        rank,
        group,
        rule.resources.clone(),
        rule.resource_names.clone(),
    )
}

/// One line per purpose, with the steps that have it: "step `a`, step `b`: what".
fn describe(reasons: &[Reason]) -> Vec<String> {
    let mut purposes: Vec<(String, Vec<String>)> = Vec::new();
    for r in reasons {
        match purposes.iter_mut().find(|(what, _)| *what == r.what) {
            Some((_, whos)) => {
                if !whos.contains(&r.who) {
                    whos.push(r.who.clone());
                }
            }
            None => purposes.push((r.what.clone(), vec![r.who.clone()])),
        }
    }
    purposes
        .into_iter()
        .map(|(what, whos)| format!("{}: {what}", whos.join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rbac::need::{Resource, Verb};

    fn why(who: &str, what: &str) -> Reason {
        Reason {
            who: who.into(),
            what: what.into(),
        }
    }

    #[test]
    fn needs_become_a_cluster_role_and_roles_per_namespace() {
        let mut needs = Needs::default();
        needs.url("/api", why("step `a`", "discover"));
        needs.url("/apis", why("step `b`", "discover"));
        let shop = Scope::Namespace("shop".into());
        needs.add(
            &shop,
            Resource::new("apps", "deployments"),
            &[],
            &[Verb::List],
            why("step `a`", "list"),
        );
        needs.add(
            &shop,
            Resource::new("apps", "statefulsets"),
            &[],
            &[Verb::List],
            why("step `b`", "list"),
        );
        needs.add(
            &shop,
            Resource::new("", "configmaps"),
            &["routing".into()],
            &[Verb::Get, Verb::Patch],
            why("step `c`", "patch"),
        );
        needs.add(
            &Scope::Cluster,
            Resource::new("", "namespaces"),
            &[],
            &[Verb::Create],
            why("step `d`", "create"),
        );
        let (cluster, roles) = role_docs(&needs);
        let cluster = cluster.unwrap_or_else(|| panic!("no ClusterRole"));
        assert_eq!(cluster.rules[0].non_resource_urls, vec!["/api", "/apis"]);
        assert_eq!(
            cluster.rules[0].reasons,
            vec!["step `a`, step `b`: discover"]
        );
        assert_eq!(cluster.rules[1].resources, vec!["namespaces"]);
        assert_eq!(roles.len(), 1);
        let shop = &roles[0].rules;
        assert_eq!(shop.len(), 2);
        assert_eq!(shop[0].api_groups, vec![""]);
        assert_eq!(shop[0].resource_names, vec!["routing"]);
        assert_eq!(shop[0].verbs, vec!["get", "patch"]);
        assert_eq!(shop[1].resources, vec!["deployments", "statefulsets"]);
    }
}
