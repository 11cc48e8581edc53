//! The kinds of GitOps objects `gitops_pause` knows (Argo CD Applications, Flux
//! Kustomizations, HelmReleases and sources): where each is served, and which field
//! pauses it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::setting::Setting;

/// A kind of GitOps object, by its resource name.
#[derive(
    Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, PartialOrd, Ord,
)]
pub enum GitOpsKind {
    /// Argo CD `applications.argoproj.io`.
    #[serde(rename = "applications")]
    Applications,
    /// Flux `kustomizations.kustomize.toolkit.fluxcd.io`.
    #[serde(rename = "kustomizations")]
    Kustomizations,
    /// Flux `helmreleases.helm.toolkit.fluxcd.io`.
    #[serde(rename = "helmreleases")]
    HelmReleases,
    /// Flux `gitrepositories.source.toolkit.fluxcd.io`.
    #[serde(rename = "gitrepositories")]
    GitRepositories,
    /// Flux `helmrepositories.source.toolkit.fluxcd.io`.
    #[serde(rename = "helmrepositories")]
    HelmRepositories,
    /// Flux `ocirepositories.source.toolkit.fluxcd.io`.
    #[serde(rename = "ocirepositories")]
    OciRepositories,
}

/// How an Argo CD Application is paused.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ArgoCdMethod {
    /// The `argocd.argoproj.io/skip-reconcile: "true"` annotation (Argo CD 2.7 and
    /// later): the application controller stops all processing of the Application.
    #[default]
    SkipReconcile,
    /// Remove `spec.syncPolicy.automated` (every Argo CD version): the Application is
    /// still compared, never synced on its own.
    DisableAutoSync,
}

impl GitOpsKind {
    /// Every kind, in the order the step pauses them (its undo resumes them in the
    /// reverse order: sources first).
    pub const ALL: [GitOpsKind; 6] = [
        GitOpsKind::Applications,
        GitOpsKind::Kustomizations,
        GitOpsKind::HelmReleases,
        GitOpsKind::GitRepositories,
        GitOpsKind::HelmRepositories,
        GitOpsKind::OciRepositories,
    ];

    /// The resource name, as `kinds` takes it and RBAC names it.
    pub fn resource(self) -> &'static str {
        match self {
            GitOpsKind::Applications => "applications",
            GitOpsKind::Kustomizations => "kustomizations",
            GitOpsKind::HelmReleases => "helmreleases",
            GitOpsKind::GitRepositories => "gitrepositories",
            GitOpsKind::HelmRepositories => "helmrepositories",
            GitOpsKind::OciRepositories => "ocirepositories",
        }
    }

    pub fn group(self) -> &'static str {
        match self {
            GitOpsKind::Applications => "argoproj.io",
            GitOpsKind::Kustomizations => "kustomize.toolkit.fluxcd.io",
            GitOpsKind::HelmReleases => "helm.toolkit.fluxcd.io",
            GitOpsKind::GitRepositories
            | GitOpsKind::HelmRepositories
            | GitOpsKind::OciRepositories => "source.toolkit.fluxcd.io",
        }
    }

    /// The version preferred when the cluster serves several (any served version has
    /// the fields the step sets).
    pub fn version(self) -> &'static str {
        match self {
            GitOpsKind::Applications => "v1alpha1",
            GitOpsKind::HelmReleases => "v2",
            _ => "v1",
        }
    }

    pub fn kind(self) -> &'static str {
        match self {
            GitOpsKind::Applications => "Application",
            GitOpsKind::Kustomizations => "Kustomization",
            GitOpsKind::HelmReleases => "HelmRelease",
            GitOpsKind::GitRepositories => "GitRepository",
            GitOpsKind::HelmRepositories => "HelmRepository",
            GitOpsKind::OciRepositories => "OCIRepository",
        }
    }

    /// `resource.group`, for messages.
    pub fn qualified(self) -> String {
        format!("{}.{}", self.resource(), self.group())
    }

    pub(super) fn setting(self, argocd: ArgoCdMethod) -> Setting {
        match (self, argocd) {
            (GitOpsKind::Applications, ArgoCdMethod::SkipReconcile) => Setting::SkipReconcile,
            (GitOpsKind::Applications, ArgoCdMethod::DisableAutoSync) => Setting::AutoSync,
            _ => Setting::Suspend,
        }
    }
}
