//! Timestamps as the API server writes them (`2026-11-28T03:15:00Z`: RFC 3339, UTC,
//! whole seconds), through jiff.

use jiff::Timestamp;
use jiff::fmt::temporal::DateTimePrinter;

/// Now, as Kubernetes writes `creationTimestamp`.
pub fn now_rfc3339() -> String {
    rfc3339(Timestamp::now())
}

/// `t` in whole seconds (the fraction is dropped, as Go's `metav1.Time` does).
pub fn rfc3339(t: Timestamp) -> String {
    let t = Timestamp::from_second(t.as_second()).unwrap_or(t);
    DateTimePrinter::new()
        .precision(Some(0))
        .timestamp_to_string(&t)
}
