//! lifeboat runs disaster-recovery runbooks for Kubernetes: declarative YAML describing
//! backup, restore and failover steps. This crate holds the runbook language
//! (`runbook`), the built-in actions (`actions`), the static plan (`plan`), the
//! executor (`engine`), the run's reports (`report`) and the command line (`cli`). The
//! simulated cluster a `sandbox:` cluster entry starts is the kube-sandbox crate.

pub mod actions;
pub mod archive;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod cluster;
pub mod context;
pub mod crash;
pub mod drift;
pub mod engine;
pub mod error;
pub mod events;
pub mod journal;
pub mod logging;
pub mod plan;
pub mod progress;
pub mod rbac;
pub mod report;
pub mod restore;
pub mod runbook;
pub mod secrets;
pub mod store;
pub mod terminal;
pub mod tls;

pub use error::{Error, ExitCode};
