//! Kubernetes resource facts that a client (lifeboat) and a server (kube-sandbox) must
//! read the same way: what a resource type is and how users name one
//! (`resource_type`), the table of built-in types (`builtin`), label selectors
//! (`label_selector`), status conditions (`conditions`) and files of manifests
//! (`manifest`). Nothing here talks to a cluster.

pub mod builtin;
pub mod conditions;
pub mod label_selector;
pub mod manifest;
pub mod resource_type;

pub use label_selector::{LabelSelector, SelectorError};
pub use manifest::{Manifest, ManifestError, read_manifests};
pub use resource_type::{ResourceType, is_builtin_group, split_api_version};
