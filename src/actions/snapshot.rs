//! `snapshot`: CSI VolumeSnapshots of selected PVCs, waited until readyToUse.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, exactly_one_of, map_out, out};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::model::Duration;
use crate::runbook::node::Node;

pub const NAME: &str = "snapshot";
pub const SUMMARY: &str = "Take CSI VolumeSnapshots of PVCs and wait until they are readyToUse.";
pub const ON_CLUSTER: bool = true;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "creates the VolumeSnapshots with dryRun=All and lists them";
pub const OUTPUTS: &[Output] = &[
    map_out("snapshots", "VolumeSnapshot name per PVC"),
    out("count", "snapshots taken"),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SnapshotInputs")]
pub struct Inputs {
    pub namespace: String,
    /// PVC names.
    #[serde(default)]
    pub pvcs: Option<Vec<String>>,
    /// PVCs matching a label selector.
    #[serde(default)]
    pub selector: Option<String>,
    /// VolumeSnapshotClass (default: the cluster's default class).
    #[serde(default)]
    pub snapshot_class: Option<String>,
    /// Give up waiting for readyToUse after this long (default 10m).
    #[serde(default)]
    pub timeout: Option<Spanned<Duration>>,
}

impl CheckInputs for Inputs {
    fn check(&self, with: &Node) -> Vec<DeError> {
        exactly_one_of(with, &["pvcs", "selector"])
            .into_iter()
            .collect()
    }
}
