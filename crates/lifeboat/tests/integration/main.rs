//! Integration tests: one binary that runs the real `lifeboat` executable (and real
//! tools: the AWS CLI against the S3 server `scripts/test` starts).

mod backup_restore;
mod backups_diff;
mod ci_examples;
mod cli;
mod copy_backup;
#[cfg(feature = "crash-points")]
mod crash_matrix;
mod deploy;
mod docs;
mod engine;
mod faults;
mod gitops;
mod harness;
mod hostile;
mod interrupt;
mod invalid;
mod journal;
mod kill;
mod metrics;
mod output;
mod plan;
mod properties;
mod prune;
mod rbac;
mod rbac_enforced;
mod readme;
mod real_restore;
mod real_runs;
mod recording_server;
mod redaction;
mod report;
mod report_render;
mod restore_options;
mod runbooks;
mod s3_server;
mod served;
mod signatures;
mod status_watch;
mod store_conformance;
mod terminal;
#[cfg(feature = "otlp")]
mod traces;
mod transforms;
mod verified_restores;
