//! Per-object results of a restore and their counts, in total and per kind.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use serde::Serialize;

/// What happened to one object (or, in dry-run, would happen).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Skipped(String),
    Failed(String),
}

/// Counts of outcomes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl Counts {
    fn add(&mut self, o: &Outcome) {
        match o {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Skipped(_) => self.skipped += 1,
            Outcome::Failed(_) => self.failed += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.skipped + self.failed
    }
}

impl AddAssign<&Counts> for Counts {
    fn add_assign(&mut self, other: &Counts) {
        self.created += other.created;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.skipped += other.skipped;
        self.failed += other.failed;
    }
}

/// One failed object, for messages and reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub kind: String,
    /// `namespace/name` or `name`.
    pub name: String,
    pub reason: String,
}

/// The tally of a restore.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub total: Counts,
    pub kinds: BTreeMap<String, Counts>,
    /// The first failures (at most `FAILURES_KEPT`).
    pub failures: Vec<Failure>,
    /// Objects the API server could not check in dry-run (their namespace or CRD is
    /// created by this restore), counted as created.
    pub unchecked: u64,
}

pub(super) const FAILURES_KEPT: usize = 20;

impl Tally {
    pub fn record(&mut self, kind: &str, name: &str, outcome: &Outcome) {
        self.total.add(outcome);
        self.kinds.entry(kind.to_string()).or_default().add(outcome);
        if let Outcome::Failed(reason) = outcome
            && self.failures.len() < FAILURES_KEPT
        {
            self.failures.push(Failure {
                kind: kind.to_string(),
                name: name.to_string(),
                reason: reason.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_field_by_field() {
        let mut a = Counts {
            created: 1,
            updated: 2,
            unchanged: 3,
            skipped: 4,
            failed: 5,
        };
        a += &Counts {
            created: 10,
            updated: 20,
            unchanged: 30,
            skipped: 40,
            failed: 50,
        };
        let want = Counts {
            created: 11,
            updated: 22,
            unchanged: 33,
            skipped: 44,
            failed: 55,
        };
        assert_eq!(a, want);
        assert_eq!(a.total(), 165);
    }
}
