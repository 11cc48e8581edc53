//! The YAML `lifeboat rbac` prints: a comment header (runbook, params, how to bind),
//! then per cluster a comment naming it and its notes, its ClusterRole and its Roles,
//! each rule under a comment saying which steps need it and what for. Strings are
//! written as JSON strings (valid YAML), so no value can break the document.

use super::rules::{RbacRule, RoleDoc};
use super::{ClusterRbac, RunbookRbac};

/// Renders the RBAC of a runbook as a YAML stream.
pub fn render(rbac: &RunbookRbac) -> String {
    let mut out = String::new();
    let line = |out: &mut String, text: &str| {
        out.push_str("# ");
        out.push_str(&comment(text));
        out.push('\n');
    };
    line(
        &mut out,
        &format!(
            "Least-privilege RBAC for runbook `{}` ({}), made by `lifeboat rbac` from the runbook alone: no cluster was read.",
            rbac.runbook, rbac.file
        ),
    );
    if !rbac.params.is_empty() {
        line(
            &mut out,
            &format!("Params as bound: {}.", rbac.params.join(", ")),
        );
    }
    line(
        &mut out,
        "Nothing here names who is granted it: bind the ClusterRole with a ClusterRoleBinding and each Role with a RoleBinding in its namespace, to the user or ServiceAccount that runs lifeboat.",
    );
    if rbac.clusters.len() > 1 {
        line(
            &mut out,
            &format!(
                "Apply each cluster's part to that cluster: lifeboat rbac {} --cluster NAME{} | kubectl --context CONTEXT apply -f -",
                rbac.file,
                if rbac.sets {
                    " (same --set values)"
                } else {
                    ""
                }
            ),
        );
    }
    if rbac.clusters.is_empty() {
        line(
            &mut out,
            "The runbook acts on no cluster: it needs no RBAC.",
        );
    }
    for c in &rbac.clusters {
        out.push_str("#\n");
        cluster(&mut out, c);
    }
    out
}

fn cluster(out: &mut String, c: &ClusterRbac) {
    let line = |out: &mut String, text: &str| {
        out.push_str("# ");
        out.push_str(&comment(text));
        out.push('\n');
    };
    if c.cluster_role.is_none() && c.roles.is_empty() {
        line(
            out,
            &format!(
                "Cluster `{}` ({}): no step acts on it, it needs nothing.",
                c.name, c.reached_by
            ),
        );
        return;
    }
    let namespaces: Vec<&str> = c
        .roles
        .iter()
        .filter_map(|r| r.namespace.as_deref())
        .collect();
    let parts = match (&c.cluster_role, namespaces.is_empty()) {
        (Some(_), true) => format!("ClusterRole {}", c.role_name),
        (Some(_), false) => format!(
            "ClusterRole {0} and Role {0} in {1}",
            c.role_name,
            namespaces.join(", ")
        ),
        (None, _) => format!("Role {} in {}", c.role_name, namespaces.join(", ")),
    };
    line(
        out,
        &format!("Cluster `{}` ({}): {parts}.", c.name, c.reached_by),
    );
    let context = c
        .context
        .as_ref()
        .map(|ctx| format!(" --context {ctx}"))
        .unwrap_or_default();
    line(out, "For example, for the ServiceAccount NS/NAME:");
    if c.cluster_role.is_some() {
        line(
            out,
            &format!(
                "  kubectl{context} create clusterrolebinding {0} --clusterrole={0} --serviceaccount=NS:NAME",
                c.role_name
            ),
        );
    }
    for ns in &namespaces {
        line(
            out,
            &format!(
                "  kubectl{context} -n {ns} create rolebinding {0} --role={0} --serviceaccount=NS:NAME",
                c.role_name
            ),
        );
    }
    if !c.notes.is_empty() {
        line(out, "Notes:");
        for n in &c.notes {
            line(out, &format!("- {n}"));
        }
    }
    if let Some(role) = &c.cluster_role {
        document(out, c, role);
    }
    for role in &c.roles {
        document(out, c, role);
    }
}

fn document(out: &mut String, c: &ClusterRbac, role: &RoleDoc) {
    out.push_str("---\napiVersion: rbac.authorization.k8s.io/v1\n");
    out.push_str(match role.namespace {
        Some(_) => "kind: Role\n",
        None => "kind: ClusterRole\n",
    });
    out.push_str("metadata:\n");
    out.push_str(&format!("  name: {}\n", quote(&c.role_name)));
    if let Some(ns) = &role.namespace {
        out.push_str(&format!("  namespace: {}\n", quote(ns)));
    }
    out.push_str("  labels:\n");
    out.push_str("    app.kubernetes.io/managed-by: lifeboat\n");
    out.push_str(&format!(
        "    lifeboat.dev/runbook: {}\n",
        quote(&c.runbook)
    ));
    out.push_str(&format!("    lifeboat.dev/cluster: {}\n", quote(&c.name)));
    out.push_str("rules:\n");
    for rule in &role.rules {
        rule_yaml(out, rule);
    }
}

fn rule_yaml(out: &mut String, rule: &RbacRule) {
    for r in &rule.reasons {
        out.push_str("  # ");
        out.push_str(&comment(r));
        out.push('\n');
    }
    let mut first = true;
    let mut field = |out: &mut String, key: &str, values: &[String]| {
        if values.is_empty() {
            return;
        }
        out.push_str(if first { "  - " } else { "    " });
        first = false;
        out.push_str(&format!("{key}: {}\n", flow(values)));
    };
    if rule.non_resource_urls.is_empty() {
        field(out, "apiGroups", &rule.api_groups);
        field(out, "resources", &rule.resources);
        field(out, "resourceNames", &rule.resource_names);
    } else {
        field(out, "nonResourceURLs", &rule.non_resource_urls);
    }
    let verbs: Vec<String> = rule.verbs.iter().map(|v| v.to_string()).collect();
    field(out, "verbs", &verbs);
}

/// `["a", "b"]`.
fn flow(values: &[String]) -> String {
    format!(
        "[{}]",
        values
            .iter()
            .map(|v| quote(v))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// A YAML scalar that is exactly `s` (a JSON string is a YAML double-quoted scalar).
fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// Comment text on one line: control characters (newlines) become spaces.
fn comment(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
