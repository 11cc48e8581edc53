//! `copy_backup`: replicates a backup to another store (another region, another
//! provider), checking every part's checksum.

use schemars::JsonSchema;
use serde::Deserialize;

use super::{CheckInputs, Output, located, out};
use crate::runbook::de::{DeError, Spanned};
use crate::runbook::node::Node;

pub const NAME: &str = "copy_backup";
pub const SUMMARY: &str = "Copy a backup to another store, verifying every part.";
pub const ON_CLUSTER: bool = false;
pub const SELF_UNDO: Option<&str> = None;
pub const DRY_RUN: &str = "reads the source manifest and lists the parts that would be copied";
pub const OUTPUTS: &[Output] = &[
    out("backup_id", "id of the backup copied"),
    out("parts", "parts copied"),
    out("bytes", "bytes copied"),
];

#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "CopyBackupInputs")]
pub struct Inputs {
    /// Source store (a name under `stores:`).
    pub from: Spanned<String>,
    /// Destination store.
    pub to: Spanned<String>,
    /// Backup id, or `latest`.
    #[serde(default = "latest")]
    pub backup: String,
}

fn latest() -> String {
    "latest".to_string()
}

impl CheckInputs for Inputs {
    fn stores(&self) -> Vec<&Spanned<String>> {
        vec![&self.from, &self.to]
    }
    fn check(&self, with: &Node) -> Vec<DeError> {
        match with.get("to") {
            Some(node) if self.from.value == self.to.value => vec![located(
                DeError::new(format!(
                    "`from` and `to` are the same store `{}`",
                    self.to.value
                )),
                node,
            )],
            _ => Vec::new(),
        }
    }
}
