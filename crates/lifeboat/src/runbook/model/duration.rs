//! Durations as runbooks write them (`90s`, `1h30m`, `2d`): a published grammar,
//! stricter than Go's and jiff's, so a typo is an error and not a surprise.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// A duration written as numbers with units: `500ms`, `90s`, `15m`, `1h30m`, `7d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Duration(pub std::time::Duration);

/// Pattern of durations (mirrors `Duration::parse`).
pub const DURATION_PATTERN: &str = "^([0-9]+(ms|s|m|h|d))+$";

impl Duration {
    pub fn parse(s: &str) -> Result<Duration, String> {
        let hint = "use numbers with units ms, s, m, h or d, like `90s`, `15m` or `1h30m`";
        if s.is_empty() {
            return Err(format!("empty duration\n{hint}"));
        }
        let mut total: u128 = 0;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits == 0 {
                return Err(format!("invalid duration `{s}`\n{hint}"));
            }
            let number: u128 = rest[..digits]
                .parse()
                .map_err(|_| format!("invalid duration `{s}`: the number is too large\n{hint}"))?;
            rest = &rest[digits..];
            let (unit_ms, len) = if rest.starts_with("ms") {
                (1, 2)
            } else if rest.starts_with('s') {
                (1_000, 1)
            } else if rest.starts_with('m') {
                (60_000, 1)
            } else if rest.starts_with('h') {
                (3_600_000, 1)
            } else if rest.starts_with('d') {
                (86_400_000, 1)
            } else if rest.is_empty() {
                return Err(format!(
                    "invalid duration `{s}`: the number has no unit\n{hint}"
                ));
            } else {
                return Err(format!("invalid duration `{s}`\n{hint}"));
            };
            rest = &rest[len..];
            total = total.saturating_add(number.saturating_mul(unit_ms));
        }
        let ms = u64::try_from(total)
            .map_err(|_| format!("invalid duration `{s}`: it is too long\n{hint}"))?;
        Ok(Duration(std::time::Duration::from_millis(ms)))
    }
}

impl fmt::Display for Duration {
    /// The shortest exact spelling: `1h30m`, `90s` prints as `1m30s`, `500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [
            ("d", 86_400_000),
            ("h", 3_600_000),
            ("m", 60_000),
            ("s", 1_000),
            ("ms", 1),
        ] {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl Serialize for Duration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "numbers with units ms, s, m, h, d: `90s`, `15m`, `1h30m`",
        })
    }
}
