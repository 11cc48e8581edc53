//! Retention rules (SPEC section 4): deciding which complete backups a policy keeps
//! and which it removes, in the style of restic's `forget` (`keep_last`,
//! `keep_daily`, `keep_weekly`, `keep_monthly`, `max_age`). A backup is kept when
//! any rule keeps it, and the decision records every reason. Days, ISO weeks and
//! months are counted in UTC. The newest complete backup is never removed, and
//! incomplete backups are reported apart, never decided here: pruning them is the
//! caller's separate decision. Pure: no I/O, no clock (the caller passes `now`).

use std::fmt;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

/// A backup the rules decide on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub id: String,
    /// When the backup completed (its manifest's time).
    pub completed: Timestamp,
    /// `false`: the backup has no manifest (it did not finish, or is half deleted).
    pub complete: bool,
}

/// A retention policy; a rule left out (`None`) keeps nothing by itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Policy {
    /// Keep the n newest complete backups.
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the n most recent days that have one.
    pub keep_daily: Option<u32>,
    /// Keep the newest backup of each of the n most recent ISO weeks that have one.
    pub keep_weekly: Option<u32>,
    /// Keep the newest backup of each of the n most recent months that have one.
    pub keep_monthly: Option<u32>,
    /// Keep every backup that completed at most this long before `now`.
    pub max_age: Option<Duration>,
}

/// A policy that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error(
        "a retention policy needs at least one of keep_last, keep_daily, keep_weekly, keep_monthly, max_age"
    )]
    Empty,
    #[error("{field} must be at least 1; leave it out to not keep by {by}")]
    Zero {
        field: &'static str,
        by: &'static str,
    },
    #[error("max_age must be longer than zero; leave it out to not keep by age")]
    ZeroMaxAge,
}

impl Policy {
    /// Whether no rule is set.
    pub fn is_empty(&self) -> bool {
        self.keep_last.is_none()
            && self.keep_daily.is_none()
            && self.keep_weekly.is_none()
            && self.keep_monthly.is_none()
            && self.max_age.is_none()
    }

    /// Rejects a policy with no rule, or with a rule of zero.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.is_empty() {
            return Err(PolicyError::Empty);
        }
        let counts = [
            ("keep_last", "count", self.keep_last),
            ("keep_daily", "day", self.keep_daily),
            ("keep_weekly", "week", self.keep_weekly),
            ("keep_monthly", "month", self.keep_monthly),
        ];
        for (field, by, value) in counts {
            if value == Some(0) {
                return Err(PolicyError::Zero { field, by });
            }
        }
        if self.max_age == Some(Duration::ZERO) {
            return Err(PolicyError::ZeroMaxAge);
        }
        Ok(())
    }
}

/// Why a backup is kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Among the `keep_last` newest; the rank, 1 for the newest.
    Last(u32),
    /// The newest backup of this UTC day.
    Daily(Date),
    /// The newest backup of this ISO week (UTC).
    Weekly { year: i16, week: i8 },
    /// The newest backup of this month (UTC).
    Monthly { year: i16, month: i8 },
    /// Completed within `max_age` (the policy's value) of now.
    Within(Duration),
    /// The newest complete backup, which no rule kept; it is never pruned.
    Newest,
    /// The only complete backup, which no rule kept; it is never pruned.
    OnlyComplete,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Last(rank) => write!(f, "last {rank}"),
            Reason::Daily(date) => write!(f, "daily {date}"),
            Reason::Weekly { year, week } => write!(f, "weekly {year:04}-W{week:02}"),
            Reason::Monthly { year, month } => write!(f, "monthly {year:04}-{month:02}"),
            Reason::Within(age) => write!(f, "within max_age {}", HumanDuration(*age)),
            Reason::Newest => f.write_str("newest complete backup, never pruned"),
            Reason::OnlyComplete => f.write_str("the only complete backup"),
        }
    }
}

/// A duration as `7d`, `1d 12h`, `90m` style parts (whole seconds; below a second,
/// as `Duration`'s own debug form).
pub(crate) struct HumanDuration(pub(crate) Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        if secs == 0 {
            return write!(f, "{:?}", self.0);
        }
        let parts = [
            (secs / 86_400, "d"),
            (secs % 86_400 / 3_600, "h"),
            (secs % 3_600 / 60, "m"),
            (secs % 60, "s"),
        ];
        let mut first = true;
        for (value, unit) in parts {
            if value > 0 {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{value}{unit}")?;
                first = false;
            }
        }
        Ok(())
    }
}

/// What a policy decides; every list is ordered newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Complete backups kept, each with every reason that kept it.
    pub keep: Vec<(String, Vec<Reason>)>,
    /// Complete backups no rule keeps.
    pub remove: Vec<String>,
    /// Incomplete backups: not decided by the rules.
    pub incomplete: Vec<String>,
}

/// One counting rule (daily, weekly, monthly): keeps the first backup of each new
/// bucket, walking newest first, until it has kept `left`.
struct Buckets<K> {
    left: u32,
    last: Option<K>,
}

impl<K: PartialEq> Buckets<K> {
    fn new(count: Option<u32>) -> Self {
        Buckets {
            left: count.unwrap_or(0),
            last: None,
        }
    }

    fn take(&mut self, key: K) -> bool {
        if self.left == 0 || self.last.as_ref() == Some(&key) {
            return false;
        }
        self.left -= 1;
        self.last = Some(key);
        true
    }
}

/// Applies `policy` to `candidates` as of `now`.
pub fn decide(
    candidates: &[Candidate],
    policy: &Policy,
    now: Timestamp,
) -> Result<Decision, PolicyError> {
    policy.validate()?;
    let mut sorted: Vec<&Candidate> = candidates.iter().collect();
    sorted.sort_by(|a, b| b.completed.cmp(&a.completed).then_with(|| b.id.cmp(&a.id)));
    let (complete, incomplete): (Vec<&Candidate>, Vec<&Candidate>) =
        sorted.into_iter().partition(|c| c.complete);

    // A max_age too large for a signed duration keeps everything.
    let age_limit = policy
        .max_age
        .map(|age| (age, SignedDuration::try_from(age).ok()));
    let mut daily = Buckets::new(policy.keep_daily);
    let mut weekly = Buckets::new(policy.keep_weekly);
    let mut monthly = Buckets::new(policy.keep_monthly);

    let mut decision = Decision {
        incomplete: incomplete.iter().map(|c| c.id.clone()).collect(),
        ..Decision::default()
    };
    for (index, candidate) in complete.iter().enumerate() {
        let mut reasons = Vec::new();
        let rank = u32::try_from(index + 1).unwrap_or(u32::MAX);
        if policy.keep_last.is_some_and(|n| rank <= n) {
            reasons.push(Reason::Last(rank));
        }
        let date = candidate.completed.to_zoned(TimeZone::UTC).date();
        if daily.take(date) {
            reasons.push(Reason::Daily(date));
        }
        let iso = date.iso_week_date();
        if weekly.take((iso.year(), iso.week())) {
            reasons.push(Reason::Weekly {
                year: iso.year(),
                week: iso.week(),
            });
        }
        if monthly.take((date.year(), date.month())) {
            reasons.push(Reason::Monthly {
                year: date.year(),
                month: date.month(),
            });
        }
        if let Some((age, limit)) = age_limit {
            let within = limit.is_none_or(|limit| now.duration_since(candidate.completed) <= limit);
            if within {
                reasons.push(Reason::Within(age));
            }
        }
        if index == 0 && reasons.is_empty() {
            reasons.push(if complete.len() == 1 {
                Reason::OnlyComplete
            } else {
                Reason::Newest
            });
        }
        if reasons.is_empty() {
            decision.remove.push(candidate.id.clone());
        } else {
            decision.keep.push((candidate.id.clone(), reasons));
        }
    }
    Ok(decision)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn backup(id: &str, completed: &str) -> Candidate {
        Candidate {
            id: id.to_string(),
            completed: at(completed),
            complete: true,
        }
    }

    fn unfinished(id: &str, completed: &str) -> Candidate {
        Candidate {
            complete: false,
            ..backup(id, completed)
        }
    }

    fn kept(decision: &Decision) -> Vec<&str> {
        decision.keep.iter().map(|(id, _)| id.as_str()).collect()
    }

    fn reasons<'a>(decision: &'a Decision, id: &str) -> &'a [Reason] {
        decision
            .keep
            .iter()
            .find(|(kept, _)| kept == id)
            .map(|(_, reasons)| reasons.as_slice())
            .unwrap()
    }

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    const NOW: &str = "2026-12-31T12:00:00Z";

    #[test]
    fn keep_last_keeps_the_n_newest() {
        let candidates = [
            backup("a", "2026-12-01T00:00:00Z"),
            backup("c", "2026-12-03T00:00:00Z"),
            backup("b", "2026-12-02T00:00:00Z"),
            backup("d", "2026-12-04T00:00:00Z"),
        ];
        let policy = Policy {
            keep_last: Some(2),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["d", "c"]);
        assert_eq!(decision.remove, ["b", "a"]);
        assert_eq!(reasons(&decision, "d"), [Reason::Last(1)]);
        assert_eq!(reasons(&decision, "c"), [Reason::Last(2)]);
    }

    #[test]
    fn equal_times_order_by_id_descending() {
        let candidates = [
            backup("a", "2026-12-01T00:00:00Z"),
            backup("b", "2026-12-01T00:00:00Z"),
        ];
        let policy = Policy {
            keep_last: Some(1),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["b"]);
        assert_eq!(decision.remove, ["a"]);
    }

    #[test]
    fn keep_daily_keeps_the_newest_of_each_day_counting_only_days_with_backups() {
        let candidates = [
            backup("d1-early", "2026-12-01T01:00:00Z"),
            backup("d1-late", "2026-12-01T23:00:00Z"),
            backup("d5", "2026-12-05T10:00:00Z"),
            backup("d9-early", "2026-12-09T00:00:00Z"),
            backup("d9-late", "2026-12-09T23:59:59Z"),
        ];
        let policy = Policy {
            keep_daily: Some(2),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["d9-late", "d5"]);
        assert_eq!(decision.remove, ["d9-early", "d1-late", "d1-early"]);
        assert_eq!(
            reasons(&decision, "d5"),
            [Reason::Daily(date("2026-12-05"))]
        );
    }

    #[test]
    fn keep_weekly_uses_iso_weeks_across_the_year_boundary() {
        // 2026 has 53 ISO weeks: 2026-W53 runs Mon 2026-12-28 to Sun 2027-01-03.
        let candidates = [
            backup("sun-w52", "2026-12-27T12:00:00Z"),
            backup("tue-w53", "2026-12-29T12:00:00Z"),
            backup("sat-w53", "2027-01-02T12:00:00Z"),
            backup("tue-w01", "2027-01-05T12:00:00Z"),
        ];
        let policy = Policy {
            keep_weekly: Some(3),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at("2027-01-06T00:00:00Z")).unwrap();
        assert_eq!(kept(&decision), ["tue-w01", "sat-w53", "sun-w52"]);
        assert_eq!(decision.remove, ["tue-w53"]);
        assert_eq!(
            reasons(&decision, "tue-w01"),
            [Reason::Weekly {
                year: 2027,
                week: 1
            }]
        );
        assert_eq!(
            reasons(&decision, "sat-w53"),
            [Reason::Weekly {
                year: 2026,
                week: 53
            }]
        );
        assert_eq!(
            reasons(&decision, "sat-w53")[0].to_string(),
            "weekly 2026-W53"
        );
    }

    #[test]
    fn keep_monthly_keeps_the_newest_of_each_month() {
        let candidates = [
            backup("oct", "2026-10-15T00:00:00Z"),
            backup("nov-early", "2026-11-01T00:00:00Z"),
            backup("nov-late", "2026-11-30T23:59:59Z"),
            backup("dec", "2026-12-01T00:00:00Z"),
        ];
        let policy = Policy {
            keep_monthly: Some(2),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["dec", "nov-late"]);
        assert_eq!(decision.remove, ["nov-early", "oct"]);
        assert_eq!(
            reasons(&decision, "nov-late"),
            [Reason::Monthly {
                year: 2026,
                month: 11
            }]
        );
    }

    #[test]
    fn max_age_keeps_a_backup_exactly_at_the_age() {
        let candidates = [
            backup("fresh", "2026-12-31T11:00:00Z"),
            backup("exactly", "2026-12-24T12:00:00Z"),
            backup("one-second-older", "2026-12-24T11:59:59Z"),
        ];
        let week = Duration::from_secs(7 * DAY);
        let policy = Policy {
            max_age: Some(week),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["fresh", "exactly"]);
        assert_eq!(decision.remove, ["one-second-older"]);
        assert_eq!(reasons(&decision, "exactly"), [Reason::Within(week)]);
    }

    #[test]
    fn union_of_rules_lists_every_reason() {
        let two_days = Duration::from_secs(2 * DAY);
        let candidates = [
            backup("nov", "2026-11-20T00:00:00Z"),
            backup("dec-1", "2026-12-01T00:00:00Z"),
            backup("dec-30-a", "2026-12-30T08:00:00Z"),
            backup("dec-30-b", "2026-12-30T09:00:00Z"),
            backup("dec-31", "2026-12-31T10:00:00Z"),
        ];
        let policy = Policy {
            keep_last: Some(1),
            keep_daily: Some(2),
            keep_monthly: Some(2),
            max_age: Some(two_days),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["dec-31", "dec-30-b", "dec-30-a", "nov"]);
        assert_eq!(decision.remove, ["dec-1"]);
        assert_eq!(
            reasons(&decision, "dec-31"),
            [
                Reason::Last(1),
                Reason::Daily(date("2026-12-31")),
                Reason::Monthly {
                    year: 2026,
                    month: 12
                },
                Reason::Within(two_days),
            ]
        );
        assert_eq!(
            reasons(&decision, "dec-30-b"),
            [Reason::Daily(date("2026-12-30")), Reason::Within(two_days)]
        );
        assert_eq!(reasons(&decision, "dec-30-a"), [Reason::Within(two_days)]);
        assert_eq!(
            reasons(&decision, "nov"),
            [Reason::Monthly {
                year: 2026,
                month: 11
            }]
        );
    }

    #[test]
    fn newest_complete_is_kept_even_when_max_age_drops_it() {
        let candidates = [
            backup("old", "2026-11-01T00:00:00Z"),
            backup("newest", "2026-11-02T00:00:00Z"),
        ];
        let policy = Policy {
            max_age: Some(Duration::from_secs(DAY)),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["newest"]);
        assert_eq!(decision.remove, ["old"]);
        assert_eq!(reasons(&decision, "newest"), [Reason::Newest]);
    }

    #[test]
    fn the_only_complete_backup_is_kept() {
        let candidates = [
            backup("only", "2026-11-01T00:00:00Z"),
            unfinished("broken", "2026-12-31T00:00:00Z"),
        ];
        let policy = Policy {
            max_age: Some(Duration::from_secs(DAY)),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["only"]);
        assert_eq!(reasons(&decision, "only"), [Reason::OnlyComplete]);
        assert!(decision.remove.is_empty());
    }

    #[test]
    fn incomplete_backups_are_reported_apart_and_never_removed() {
        let candidates = [
            unfinished("broken-old", "2026-01-01T00:00:00Z"),
            backup("a", "2026-12-01T00:00:00Z"),
            backup("b", "2026-12-02T00:00:00Z"),
            unfinished("broken-new", "2026-12-30T00:00:00Z"),
        ];
        let policy = Policy {
            keep_last: Some(1),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["b"]);
        assert_eq!(reasons(&decision, "b"), [Reason::Last(1)]);
        assert_eq!(decision.remove, ["a"]);
        assert_eq!(decision.incomplete, ["broken-new", "broken-old"]);
    }

    #[test]
    fn empty_policy_and_zero_values_are_rejected() {
        let candidates = [backup("a", "2026-12-01T00:00:00Z")];
        assert!(Policy::default().is_empty());
        assert_eq!(
            decide(&candidates, &Policy::default(), at(NOW)),
            Err(PolicyError::Empty)
        );
        let zero_daily = Policy {
            keep_last: Some(3),
            keep_daily: Some(0),
            ..Policy::default()
        };
        let err = decide(&candidates, &zero_daily, at(NOW)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "keep_daily must be at least 1; leave it out to not keep by day"
        );
        let zero_age = Policy {
            max_age: Some(Duration::ZERO),
            ..Policy::default()
        };
        assert_eq!(zero_age.validate(), Err(PolicyError::ZeroMaxAge));
        let fine = Policy {
            keep_weekly: Some(1),
            ..Policy::default()
        };
        assert!(!fine.is_empty());
        assert_eq!(fine.validate(), Ok(()));
    }

    #[test]
    fn a_rule_asking_for_more_than_exist_keeps_all() {
        let candidates = [
            backup("a", "2026-12-01T00:00:00Z"),
            backup("b", "2026-12-02T00:00:00Z"),
            backup("c", "2026-12-03T00:00:00Z"),
        ];
        let policy = Policy {
            keep_last: Some(10),
            keep_daily: Some(30),
            ..Policy::default()
        };
        let decision = decide(&candidates, &policy, at(NOW)).unwrap();
        assert_eq!(kept(&decision), ["c", "b", "a"]);
        assert!(decision.remove.is_empty());
        assert_eq!(
            reasons(&decision, "a"),
            [Reason::Last(3), Reason::Daily(date("2026-12-01"))]
        );
    }

    #[test]
    fn reasons_display_as_lowercase_fragments() {
        let shown: Vec<String> = [
            Reason::Last(3),
            Reason::Daily(date("2026-12-05")),
            Reason::Weekly {
                year: 2026,
                week: 9,
            },
            Reason::Monthly {
                year: 2026,
                month: 2,
            },
            Reason::Within(Duration::from_secs(7 * DAY)),
            Reason::Within(Duration::from_secs(DAY + 12 * 3_600)),
            Reason::Newest,
            Reason::OnlyComplete,
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            shown,
            [
                "last 3",
                "daily 2026-12-05",
                "weekly 2026-W09",
                "monthly 2026-02",
                "within max_age 7d",
                "within max_age 1d 12h",
                "newest complete backup, never pruned",
                "the only complete backup",
            ]
        );
    }
}
