//! lifeboat runs disaster-recovery runbooks for Kubernetes: declarative YAML describing
//! backup, restore and failover steps. This crate holds the runbook language
//! (`runbook`), the built-in actions (`actions`), the static plan (`plan`), the
//! simulated cluster (`sandbox`), the run's reports (`report`) and the command line
//! (`cli`).

pub mod actions;
pub mod archive;
pub mod backup;
pub mod cli;
pub mod cluster;
pub mod engine;
pub mod error;
pub mod journal;
pub mod logging;
pub mod plan;
pub mod rbac;
pub mod report;
pub mod restore;
pub mod runbook;
pub mod sandbox;
pub mod secrets;
pub mod store;
pub mod tls;

pub use error::{Error, ExitCode};
