//! Built-in actions. Each action lives in its own file with its typed inputs (`with:`),
//! its outputs, and whether it can undo itself. This module is the registry that maps an
//! action name (`uses:`) to those facts; execution arrives with the executor.

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::DeserializeOwned;

use crate::context::{ActionError, StepCtx};
use crate::events::Outputs;
use crate::runbook::de::{DeError, Spanned, from_node};
use crate::runbook::node::{Node, NodeKind};

pub mod apply;
pub mod approve;
pub mod backup;
pub mod copy_backup;
pub mod delete;
pub mod exec_local;
pub mod gitops_pause;
pub mod http_check;
pub mod job;
pub mod patch;
pub mod restore;
pub mod scale;
pub mod sleep;
pub mod snapshot;
pub mod verify_restore;
pub mod wait;

mod inputs;
pub(crate) use inputs::duration_or;
pub use inputs::{IntOrExpr, RestorePrevious};

/// One output an action records.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    pub name: &'static str,
    /// A map output (for example per-kind counts) is read as `outputs.NAME.KEY`.
    pub map: bool,
    pub description: &'static str,
}

pub(crate) const fn out(name: &'static str, description: &'static str) -> Output {
    Output {
        name,
        map: false,
        description,
    }
}

pub(crate) const fn map_out(name: &'static str, description: &'static str) -> Output {
    Output {
        name,
        map: true,
        description,
    }
}

/// What the registry knows about one action.
pub struct ActionSpec {
    pub name: &'static str,
    pub summary: &'static str,
    /// Whether the action acts on a cluster (and so needs `cluster:`).
    pub on_cluster: bool,
    /// Whether the action changes or removes what a cluster runs, runs containers in
    /// it, or runs a local program, and so is confirmed at a terminal before it runs.
    pub confirm: bool,
    pub outputs: &'static [Output],
    /// What the action's own undo does (`undo` without `uses`, or `restore_previous`),
    /// or `None` when it cannot undo itself.
    pub self_undo: Option<&'static str>,
    /// What `run --dry-run` does for this action.
    pub dry_run: &'static str,
    parse: fn(&Node) -> Result<ActionInputs, Vec<DeError>>,
    schema: fn(&mut SchemaGenerator) -> Schema,
}

impl ActionSpec {
    /// Reads and checks this action's `with:` mapping.
    pub fn parse_inputs(&self, with: &Node) -> Result<ActionInputs, Vec<DeError>> {
        (self.parse)(with)
    }

    /// The JSON schema of this action's `with:` mapping.
    pub fn inputs_schema(&self, generator: &mut SchemaGenerator) -> Schema {
        (self.schema)(generator)
    }

    pub fn output(&self, name: &str) -> Option<&Output> {
        self.outputs.iter().find(|o| o.name == name)
    }
}

/// Checks an action's inputs beyond their types: rules between fields.
pub trait CheckInputs {
    /// Store names this input refers to (checked against `stores:`).
    fn stores(&self) -> Vec<&Spanned<String>> {
        Vec::new()
    }
    /// Rules between fields; `with` is the mapping as written, for locations.
    fn check(&self, _with: &Node) -> Vec<DeError> {
        Vec::new()
    }
}

macro_rules! registry {
    ($($variant:ident => $module:ident),+ $(,)?) => {
        /// The typed `with:` of a step, one variant per action.
        #[derive(Clone, Debug)]
        pub enum ActionInputs {
            $($variant($module::Inputs),)+
            /// The action's own undo (`restore_previous`).
            RestorePrevious(RestorePrevious),
        }

        impl ActionInputs {
            pub fn stores(&self) -> Vec<&Spanned<String>> {
                match self {
                    $(ActionInputs::$variant(i) => i.stores(),)+
                    ActionInputs::RestorePrevious(_) => Vec::new(),
                }
            }
            pub fn check(&self, with: &Node) -> Vec<DeError> {
                match self {
                    $(ActionInputs::$variant(i) => i.check(with),)+
                    ActionInputs::RestorePrevious(_) => Vec::new(),
                }
            }
        }

        /// Every built-in action, in documentation order.
        pub static ACTIONS: &[ActionSpec] = &[
            $(ActionSpec {
                name: $module::NAME,
                summary: $module::SUMMARY,
                on_cluster: $module::ON_CLUSTER,
                confirm: $module::CONFIRM,
                outputs: $module::OUTPUTS,
                self_undo: $module::SELF_UNDO,
                dry_run: $module::DRY_RUN,
                parse: |with| parse_with::<$module::Inputs>(with).map(ActionInputs::$variant),
                schema: |generator| generator.subschema_for::<$module::Inputs>(),
            },)+
        ];
    };
}

registry! {
    Backup => backup,
    Restore => restore,
    VerifyRestore => verify_restore,
    Scale => scale,
    Patch => patch,
    Apply => apply,
    Delete => delete,
    GitopsPause => gitops_pause,
    Wait => wait,
    HttpCheck => http_check,
    Approve => approve,
    Job => job,
    Snapshot => snapshot,
    CopyBackup => copy_backup,
    ExecLocal => exec_local,
    Sleep => sleep,
}

/// Runs an action with its bound inputs.
pub async fn execute(inputs: &ActionInputs, ctx: &StepCtx<'_>) -> Result<Outputs, ActionError> {
    match inputs {
        ActionInputs::Backup(i) => backup::execute(i, ctx).await,
        ActionInputs::Restore(i) => restore::execute(i, ctx).await,
        ActionInputs::VerifyRestore(i) => verify_restore::execute(i, ctx).await,
        ActionInputs::Approve(i) => approve::execute(i, ctx).await,
        ActionInputs::Sleep(i) => sleep::execute(i, ctx).await,
        ActionInputs::Scale(i) => scale::execute(i, ctx).await,
        ActionInputs::Patch(i) => patch::execute(i, ctx).await,
        ActionInputs::Apply(i) => apply::execute(i, ctx).await,
        ActionInputs::Delete(i) => delete::execute(i, ctx).await,
        ActionInputs::GitopsPause(i) => gitops_pause::execute(i, ctx).await,
        ActionInputs::Wait(i) => wait::execute(i, ctx).await,
        ActionInputs::HttpCheck(i) => http_check::execute(i, ctx).await,
        ActionInputs::Job(i) => job::execute(i, ctx).await,
        ActionInputs::Snapshot(i) => snapshot::execute(i, ctx).await,
        ActionInputs::CopyBackup(i) => copy_backup::execute(i, ctx).await,
        ActionInputs::ExecLocal(i) => exec_local::execute(i, ctx).await,
        ActionInputs::RestorePrevious(_) => Err(ActionError::Inputs(
            "`restore_previous` is an undo: it runs only when its step is rolled back".into(),
        )),
    }
}

/// Runs an action's own undo (`undo: {}`), from the step's bound inputs, its outputs
/// and what it recorded.
pub async fn undo_own(
    inputs: &ActionInputs,
    outputs: &Outputs,
    state: Option<&serde_json::Value>,
    ctx: &StepCtx<'_>,
) -> Result<Outputs, ActionError> {
    match inputs {
        ActionInputs::Scale(i) => scale::undo(i, outputs, ctx).await,
        ActionInputs::Patch(i) => patch::undo(i, state, ctx).await,
        ActionInputs::Apply(_) => apply::undo(state, ctx).await,
        ActionInputs::GitopsPause(_) => gitops_pause::undo(state, ctx).await,
        _ => Err(ActionError::Inputs(
            "this action has no undo of its own: name a compensating action with `uses:`".into(),
        )),
    }
}

/// Reads a `with:` mapping (absent `with:` is an empty mapping).
fn parse_with<T: DeserializeOwned>(with: &Node) -> Result<T, Vec<DeError>> {
    from_node(with)
}

/// The action named `name`.
pub fn find(name: &str) -> Option<&'static ActionSpec> {
    ACTIONS.iter().find(|a| a.name == name)
}

/// Names of every action (for hints).
pub fn names() -> impl Iterator<Item = &'static str> + Clone {
    ACTIONS.iter().map(|a| a.name)
}

/// Reads the inputs of an action's own undo.
pub fn parse_self_undo(with: &Node) -> Result<ActionInputs, Vec<DeError>> {
    let undo: RestorePrevious = from_node(with)?;
    if !undo.restore_previous {
        let at = with.get("restore_previous").unwrap_or(with);
        return Err(vec![located(
            DeError::new("`restore_previous: false` undoes nothing")
                .hint("remove the `undo`, or name a compensating action with `uses:`"),
            at,
        )]);
    }
    Ok(ActionInputs::RestorePrevious(undo))
}

/// The schema of an action's own undo inputs.
pub fn self_undo_schema(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<RestorePrevious>()
}

/// Rule: exactly one of `keys` is given in `with`.
pub(crate) fn exactly_one_of(with: &Node, keys: &[&str]) -> Option<DeError> {
    let given: Vec<&Node> = keys.iter().filter_map(|k| with.key(k)).collect();
    let list = keys
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match given.as_slice() {
        [_] => None,
        [] => Some(located(
            DeError::new(format!("one of {list} is required"))
                .hint(format!("give exactly one of {list}")),
            with,
        )),
        [_, second, ..] => Some(located(
            DeError::new(format!("only one of {list} may be given"))
                .hint("remove all but one of them"),
            second,
        )),
    }
}

/// Rule: a non-empty list.
pub(crate) fn non_empty(with: &Node, key: &str) -> Option<DeError> {
    let node = with.get(key)?;
    match &node.kind {
        NodeKind::Seq(items) if items.is_empty() => Some(located(
            DeError::new(format!("`{key}` must not be empty"))
                .hint("list at least one entry, or leave the input out"),
            node,
        )),
        _ => None,
    }
}

pub(crate) fn located(mut e: DeError, node: &Node) -> DeError {
    e.loc = Some(node.loc);
    e
}

/// JSON schema of `T`, for the action docs.
pub fn schema_of<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}
