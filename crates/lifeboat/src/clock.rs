//! Wall-clock times as lifeboat writes and reads them (the journal, the lock, backup
//! manifests, reports): RFC 3339 in UTC, through jiff. Reading accepts any offset
//! (`2026-11-28T05:15:00+02:00` is the same instant as `2026-11-28T03:15:00Z`).

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;

/// Now.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> u64 {
    unix_secs(Timestamp::now())
}

/// Seconds since the Unix epoch (0 before it).
pub fn unix_secs(t: Timestamp) -> u64 {
    u64::try_from(t.as_second()).unwrap_or(0)
}

/// `2026-11-28T03:15:00Z`: whole seconds, as Kubernetes writes `creationTimestamp`.
pub fn seconds(t: Timestamp) -> String {
    let t = Timestamp::from_second(t.as_second()).unwrap_or(t);
    DateTimePrinter::new()
        .precision(Some(0))
        .timestamp_to_string(&t)
}

/// `2026-11-28T03:15:00.123Z`: always three fraction digits, for records that must
/// order events less than a second apart.
pub fn millis(t: Timestamp) -> String {
    let t = Timestamp::from_millisecond(t.as_millisecond()).unwrap_or(t);
    DateTimePrinter::new()
        .precision(Some(3))
        .timestamp_to_string(&t)
}

/// Reads an RFC 3339 time, with any offset and fraction.
pub fn parse(s: &str) -> Option<Timestamp> {
    s.trim().parse().ok()
}

/// How long ago `then` was (zero when it is in the future).
pub fn since(then: Timestamp) -> std::time::Duration {
    std::time::Duration::try_from(Timestamp::now().duration_since(then)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_name_the_same_instant_as_utc() {
        assert_eq!(
            parse("2026-11-28T05:15:00+02:00"),
            parse("2026-11-28T03:15:00Z")
        );
        assert_eq!(parse("not a time"), None);
    }

    #[test]
    fn written_forms_have_a_fixed_precision() {
        let t = Timestamp::from_second(1_795_836_900).unwrap();
        assert_eq!(seconds(t), "2026-11-28T03:35:00Z");
        assert_eq!(millis(t), "2026-11-28T03:35:00.000Z");
        let t = Timestamp::from_millisecond(1_795_836_900_750).unwrap();
        assert_eq!(seconds(t), "2026-11-28T03:35:00Z");
        assert_eq!(millis(t), "2026-11-28T03:35:00.750Z");
    }
}
