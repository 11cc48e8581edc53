//! What `gitops_pause` records of each object before it changes it: the setting as
//! first found, kept in a checkpoint (durable, read again by a resume and by a retry),
//! so that its undo puts back what was there before the step.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::kind::GitOpsKind;
use super::setting::Setting;
use crate::context::{ActionError, StepCtx};

/// One object the step pauses, with its setting as the step first found it: kept in a
/// checkpoint before the object is changed, and as the step's undo state.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Record {
    pub kind: GitOpsKind,
    pub namespace: String,
    pub name: String,
    pub setting: Setting,
    /// The field before the step changed anything; `None` when it was absent.
    pub previous: Option<Value>,
}

impl Record {
    pub(super) fn key(&self) -> (GitOpsKind, String, String, Setting) {
        (
            self.kind,
            self.namespace.clone(),
            self.name.clone(),
            self.setting,
        )
    }

    /// Whether the object was paused before the step.
    pub fn already_paused(&self) -> bool {
        self.setting.is_paused(self.previous.as_ref())
    }

    pub(super) fn describe(&self) -> String {
        format!("{} {}/{}", self.kind.kind(), self.namespace, self.name)
    }
}

/// The key of the records in a checkpoint of this action.
const CHECKPOINT_KEY: &str = "gitops_pause";

/// The records of this step's earlier attempts, from its checkpoints (recorded before a
/// resume, or by an earlier attempt before a retry: the engine hands every attempt
/// those of the earlier ones), the oldest first.
pub(super) fn earlier_records(ctx: &StepCtx<'_>) -> Result<Vec<Record>, ActionError> {
    let mut records = Vec::new();
    for checkpoint in ctx.checkpoints() {
        let Some(list) = checkpoint.get(CHECKPOINT_KEY) else {
            continue;
        };
        let list: Vec<Record> = serde_json::from_value(list.clone()).map_err(|e| {
            ActionError::Failed(format!(
                "a checkpoint of step `{}` cannot be read ({e}): the settings the step found before it paused anything are lost; set them back by hand after checking the objects",
                ctx.step
            ))
        })?;
        records.extend(list);
    }
    Ok(records)
}

/// Keeps `records` in a checkpoint, for a retry and, durably, for a resume.
pub(super) fn remember(ctx: &StepCtx<'_>, records: &[Record]) -> Result<(), ActionError> {
    let list = serde_json::to_value(records)
        .map_err(|e| ActionError::Failed(format!("cannot record the paused objects: {e}")))?;
    // Durable before it returns: the journal has it before any object changes.
    (ctx.checkpointer())(json!({ CHECKPOINT_KEY: list }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_json_with_absent_previous_values() {
        let record = Record {
            kind: GitOpsKind::HelmReleases,
            namespace: "default".into(),
            name: "podinfo".into(),
            setting: Setting::Suspend,
            previous: None,
        };
        let text = serde_json::to_value(&record).unwrap_or_default();
        assert_eq!(text["kind"], "helmreleases");
        assert_eq!(text["setting"], "suspend");
        let back: Record = serde_json::from_value(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, record);
        assert!(!back.already_paused());
    }
}
