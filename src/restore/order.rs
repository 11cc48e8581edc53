//! `RestoreOrder`: which tier each resource type is restored in (SPEC section 5).
//! CRDs first (then the restore waits until they are Established and refreshes
//! discovery), then namespaces, storage, identities, configuration, services,
//! workloads, every other built-in type, and custom resources last. The order is data:
//! one table, read top to bottom.

use crate::cluster::ResourceType;

/// The tiers, in order, with the `resource.group` names each holds. The last two
/// tiers hold what no row names: built-in types, then custom resources.
pub const TIERS: &[(&str, &[&str])] = &[
    ("crds", &["customresourcedefinitions.apiextensions.k8s.io"]),
    ("namespaces", &["namespaces"]),
    ("storageclasses", &["storageclasses.storage.k8s.io"]),
    ("persistentvolumes", &["persistentvolumes"]),
    ("persistentvolumeclaims", &["persistentvolumeclaims"]),
    ("serviceaccounts", &["serviceaccounts"]),
    (
        "rbac",
        &[
            "clusterroles.rbac.authorization.k8s.io",
            "roles.rbac.authorization.k8s.io",
            "clusterrolebindings.rbac.authorization.k8s.io",
            "rolebindings.rbac.authorization.k8s.io",
        ],
    ),
    ("secrets", &["secrets"]),
    ("configmaps", &["configmaps"]),
    ("services", &["services"]),
    (
        "workloads",
        &[
            "deployments.apps",
            "statefulsets.apps",
            "daemonsets.apps",
            "replicasets.apps",
            "replicationcontrollers",
            "cronjobs.batch",
            "jobs.batch",
            "pods",
        ],
    ),
    ("other", &[]),
    ("custom-resources", &[]),
];

/// Index of the `other` tier.
const OTHER: usize = TIERS.len() - 2;
/// Index of the custom resources tier.
const CUSTOM: usize = TIERS.len() - 1;

/// The tier a resource type is restored in; `custom` says whether its group is served
/// by a CRD.
pub fn tier_of(rtype: &ResourceType, custom: bool) -> usize {
    if custom && !rtype.is_crd() {
        return CUSTOM;
    }
    let name = rtype.qualified();
    TIERS
        .iter()
        .position(|(_, names)| names.contains(&name.as_str()))
        .unwrap_or(OTHER)
}

pub fn tier_name(index: usize) -> &'static str {
    TIERS.get(index).map_or("other", |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(group: &str, resource: &str) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            kind: "K".into(),
            namespaced: true,
        }
    }

    #[test]
    fn crds_come_first_and_custom_resources_last() {
        let crd = tier_of(
            &rt("apiextensions.k8s.io", "customresourcedefinitions"),
            false,
        );
        let ns = tier_of(&rt("", "namespaces"), false);
        let pvc = tier_of(&rt("", "persistentvolumeclaims"), false);
        let secret = tier_of(&rt("", "secrets"), false);
        let deploy = tier_of(&rt("apps", "deployments"), false);
        let netpol = tier_of(&rt("networking.k8s.io", "networkpolicies"), false);
        let snap = tier_of(&rt("snapshot.storage.k8s.io", "volumesnapshots"), true);
        assert!(crd < ns && ns < pvc && pvc < secret && secret < deploy);
        assert!(deploy < netpol && netpol < snap);
        assert_eq!(tier_name(netpol), "other");
        assert_eq!(tier_name(snap), "custom-resources");
    }
}
