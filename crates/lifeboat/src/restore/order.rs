//! `RestoreOrder`: which tier each resource type is restored in (SPEC section 5).
//! CRDs first (then the restore waits until they are Established and refreshes
//! discovery), then namespaces, the classes workloads name (storage, priority,
//! runtime: a Pod naming a missing PriorityClass or RuntimeClass is refused), storage,
//! identities, configuration, services, workloads, every other built-in type, custom
//! resources, and last what intercepts the API itself: admission webhooks, admission
//! policies and APIServices, whose backends are restored before them (a webhook with
//! `failurePolicy: Fail` and no backend yet would refuse every later write). The order
//! is data: one table, read top to bottom. Checkpoints name their tier, so a resume
//! after this table changed finds its place by name.

use crate::cluster::ResourceType;

/// The tiers, in order, with the `resource.group` names each holds. The last two
/// tiers hold what no row names: built-in types, then custom resources.
pub const TIERS: &[(&str, &[&str])] = &[
    ("crds", &["customresourcedefinitions.apiextensions.k8s.io"]),
    ("namespaces", &["namespaces"]),
    (
        "classes",
        &[
            "storageclasses.storage.k8s.io",
            "priorityclasses.scheduling.k8s.io",
            "runtimeclasses.node.k8s.io",
            "ingressclasses.networking.k8s.io",
        ],
    ),
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
    // In this order: what a webhook could intercept (APIServices, policies) before
    // the webhooks, which the API server never sends webhook configurations to.
    (
        "admission",
        &[
            "apiservices.apiregistration.k8s.io",
            "validatingadmissionpolicies.admissionregistration.k8s.io",
            "validatingadmissionpolicybindings.admissionregistration.k8s.io",
            "mutatingadmissionpolicies.admissionregistration.k8s.io",
            "mutatingadmissionpolicybindings.admissionregistration.k8s.io",
            "mutatingwebhookconfigurations.admissionregistration.k8s.io",
            "validatingwebhookconfigurations.admissionregistration.k8s.io",
        ],
    ),
];

/// Index of the `other` tier.
const OTHER: usize = TIERS.len() - 3;
/// Index of the custom resources tier.
const CUSTOM: usize = TIERS.len() - 2;
/// Index of the admission tier (webhooks, admission policies, APIServices).
pub const ADMISSION: usize = TIERS.len() - 1;

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

/// Where a resource type comes within its tier: the order its row lists it in (types
/// no row names come after, in the order of the backup's parts).
pub fn rank_in_tier(rtype: &ResourceType) -> usize {
    let name = rtype.qualified();
    TIERS
        .iter()
        .find_map(|(_, names)| names.iter().position(|n| *n == name))
        .unwrap_or(usize::MAX)
}

pub fn tier_name(index: usize) -> &'static str {
    TIERS.get(index).map_or("other", |(name, _)| name)
}

/// The index of the tier called `name`, if this version of lifeboat has one.
pub fn tier_index(name: &str) -> Option<usize> {
    TIERS.iter().position(|(n, _)| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(group: &str, resource: &str) -> ResourceType {
        ResourceType::new(group, "v1", resource, "K", true)
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

    #[test]
    fn classes_come_before_workloads_and_admission_after_everything() {
        let deploy = tier_of(&rt("apps", "deployments"), false);
        let pods = tier_of(&rt("", "pods"), false);
        for (group, resource) in [
            ("scheduling.k8s.io", "priorityclasses"),
            ("node.k8s.io", "runtimeclasses"),
            ("storage.k8s.io", "storageclasses"),
        ] {
            let t = tier_of(&rt(group, resource), false);
            assert!(t < deploy && t < pods, "{resource}");
        }
        let custom = tier_of(&rt("example.com", "widgets"), true);
        for (group, resource) in [
            (
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
            ),
            (
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
            ),
            ("apiregistration.k8s.io", "apiservices"),
        ] {
            assert_eq!(
                tier_of(&rt(group, resource), false),
                ADMISSION,
                "{resource}"
            );
        }
        assert!(custom < ADMISSION);
        // Within the tier, the webhooks come after what they could intercept.
        let webhooks = rank_in_tier(&rt(
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
        ));
        let apiservices = rank_in_tier(&rt("apiregistration.k8s.io", "apiservices"));
        assert!(apiservices < webhooks);
        assert_eq!(tier_index("admission"), Some(ADMISSION));
        assert_eq!(tier_index("storageclasses"), None);
    }
}
