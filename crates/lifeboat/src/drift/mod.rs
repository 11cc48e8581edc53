//! Drift: how a cluster's live objects differ from a backup's. `live` compares a backup
//! with what a cluster serves now, in the backup's own scope (`lifeboat backups diff ID
//! --cluster NAME`: for an incident, what changed since the last good backup).

pub mod live;
