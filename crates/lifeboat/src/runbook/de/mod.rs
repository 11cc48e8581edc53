//! Typed reading of a `Node` tree: a serde `Deserializer` over nodes whose errors carry
//! the location of the offending value and a hint, and `Spanned<T>`, a value that
//! remembers where it was written. The runbook model derives `Deserialize` and is read
//! through this, so the types are the one source of truth for parsing and the schema.

mod node;
mod spanned;

use std::fmt;

use serde::de;
use serde::de::DeserializeOwned;

use super::diagnostic::{Loc, closest};
use super::node::{Node, NodeKind};
pub use spanned::Spanned;

/// A deserialization error: what, where, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeError {
    pub message: String,
    pub hint: Option<String>,
    pub loc: Option<Loc>,
    /// The required field that is absent, for "missing field" errors.
    pub missing_field: Option<&'static str>,
}

impl DeError {
    /// An error; a message of two lines is the problem and then the hint.
    pub fn new(message: impl Into<String>) -> Self {
        let message: String = message.into();
        let (message, hint) = match message.split_once('\n') {
            Some((m, h)) => (m.to_string(), Some(h.to_string())),
            None => (message, None),
        };
        DeError {
            message,
            hint,
            loc: None,
            missing_field: None,
        }
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Sets the location unless a deeper value already did.
    fn at(mut self, loc: Loc) -> Self {
        self.loc.get_or_insert(loc);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

fn one_of(expected: &[&str]) -> String {
    let list: Vec<String> = expected.iter().map(|e| format!("`{e}`")).collect();
    match list.as_slice() {
        [] => "nothing is expected here".to_string(),
        [only] => format!("expected {only}"),
        _ => format!("expected one of {}", list.join(", ")),
    }
}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError::new(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        let expected = describe_expected(exp);
        let hint = type_hint(&expected);
        let e = DeError::new(format!(
            "expected {expected}, found {}",
            describe_unexpected(&unexp)
        ));
        match hint {
            Some(h) => e.hint(h),
            None => e,
        }
    }

    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        DeError::new(format!(
            "invalid value {}: expected {}",
            describe_unexpected(&unexp),
            describe_expected(exp)
        ))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let hint = match closest(field, expected.iter().copied()) {
            Some(best) => format!("did you mean `{best}`? {}", one_of(expected)),
            None => one_of(expected),
        };
        DeError::new(format!("unknown field `{field}`")).hint(hint)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let hint = match closest(variant, expected.iter().copied()) {
            Some(best) => format!("did you mean `{best}`? {}", one_of(expected)),
            None => one_of(expected),
        };
        DeError::new(format!("unknown value `{variant}`")).hint(hint)
    }

    fn missing_field(field: &'static str) -> Self {
        let mut e = DeError::new(format!("missing required field `{field}`"))
            .hint(format!("add `{field}:` to this mapping"));
        e.missing_field = Some(field);
        e
    }

    fn duplicate_field(field: &'static str) -> Self {
        DeError::new(format!("field `{field}` is given twice"))
    }
}

/// What to write instead, for the common expected types.
fn type_hint(expected: &str) -> Option<String> {
    Some(
        match expected {
            e if e.starts_with("a whole number") => "write a number such as `3`",
            "a string" => "write text; quote it (\"...\") when it would read as something else",
            "a boolean" => "write `true` or `false`",
            "a mapping" => "write `key: value` pairs, or `{}` for none",
            "a sequence" => "write a list: `[a, b]`, or one `- item` per line",
            _ => return None,
        }
        .to_string(),
    )
}

/// serde names Rust types ("u32", "struct Retry"); users wrote YAML.
fn describe_expected(exp: &dyn de::Expected) -> String {
    let exp = exp.to_string();
    match exp.as_str() {
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => {
            "a whole number of 0 or more".to_string()
        }
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "a map" => "a mapping".to_string(),
        _ if exp.starts_with("struct ") => "a mapping".to_string(),
        _ if exp.starts_with("enum ") => "one of the listed values".to_string(),
        _ => exp,
    }
}

fn describe_unexpected(u: &de::Unexpected) -> String {
    match u {
        de::Unexpected::Bool(b) => format!("boolean `{b}`"),
        de::Unexpected::Unsigned(n) => format!("integer `{n}`"),
        de::Unexpected::Signed(n) => format!("integer `{n}`"),
        de::Unexpected::Float(n) => format!("number `{n}`"),
        de::Unexpected::Str(s) => format!("string `{s}`"),
        de::Unexpected::Unit => "null".to_string(),
        de::Unexpected::Seq => "a sequence".to_string(),
        de::Unexpected::Map => "a mapping".to_string(),
        other => other.to_string(),
    }
}

/// Reads a `T` from a node. Errors carry the location of the value at fault.
///
/// serde stops at the first error, but a user fixing a runbook wants them all: when a
/// mapping fails, each of its entries is read again on its own, and so, in turn, is
/// each entry of a nested mapping that fails inside, so every wrong entry is reported.
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, Vec<DeError>> {
    let first = match T::deserialize(node) {
        Ok(v) => return Ok(v),
        Err(e) => e.at(node.loc),
    };
    let mut errors = Vec::new();
    if let NodeKind::Map(entries) = &node.kind
        && entries.len() > 1
    {
        every_error::<T>(node, &|whole| whole, &[node.loc], &mut errors);
    }
    if errors.is_empty() {
        errors.push(first);
    }
    Err(errors)
}

/// The errors of mapping `map`, each of its entries read on its own inside the
/// document `wrap` rebuilds around it (`mappings`: the locations of `map` and of the
/// mappings around it, outermost first). An entry that fails inside a mapping value
/// of several entries is read entry by entry in turn.
fn every_error<T: DeserializeOwned>(
    map: &Node,
    wrap: &dyn Fn(Node) -> Node,
    mappings: &[Loc],
    errors: &mut Vec<DeError>,
) {
    let NodeKind::Map(entries) = &map.kind else {
        return;
    };
    let narrowed = |entries: Vec<(Node, Node)>| {
        wrap(Node {
            kind: NodeKind::Map(entries),
            loc: map.loc,
        })
    };
    let mut sound = Vec::new();
    for entry in entries {
        // Missing fields of this mapping (and of those around it) show up in every
        // probe: they are found below. Missing fields of nested mappings are kept.
        let e = match T::deserialize(&narrowed(vec![entry.clone()])) {
            Err(e)
                if !(e.missing_field.is_some() && e.loc.is_none_or(|l| mappings.contains(&l))) =>
            {
                e
            }
            _ => {
                sound.push(entry.clone());
                continue;
            }
        };
        let (key, value) = entry;
        let inside = matches!(&value.kind, NodeKind::Map(inner) if inner.len() > 1)
            && e.loc.is_some_and(|l| l != value.loc && l != key.loc);
        let before = errors.len();
        if inside {
            let rewrap = |inner: Node| {
                wrap(Node {
                    kind: NodeKind::Map(vec![(key.clone(), inner)]),
                    loc: map.loc,
                })
            };
            let mut nested = mappings.to_vec();
            nested.push(value.loc);
            every_error::<T>(value, &rewrap, &nested, errors);
        }
        if errors.len() == before {
            let e = e.at(map.loc);
            if !errors.contains(&e) {
                errors.push(e);
            }
        }
    }
    // With the wrong entries left out, what remains to fail is a missing field. A
    // field that is written but wrong is not also "missing".
    if let Err(e) = T::deserialize(&narrowed(sound))
        && e.missing_field.is_some_and(|f| map.get(f).is_none())
        && e.loc.is_none_or(|l| l == map.loc)
    {
        let e = e.at(map.loc);
        if !errors.contains(&e) {
            if mappings.len() == 1 {
                errors.insert(0, e);
            } else {
                errors.push(e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::node::parse_str;
    use serde::Deserialize;
    use std::path::Path;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: Spanned<String>,
        #[serde(default)]
        count: u32,
    }

    fn read(text: &str) -> Result<Sample, DeError> {
        let node = parse_str(Path::new("t.yaml"), text).map_err(|d| DeError::new(d.message))?;
        from_node(&node).map_err(|mut e| e.remove(0))
    }

    fn read_all(text: &str) -> Vec<(Option<Loc>, String)> {
        let node = parse_str(Path::new("t.yaml"), text).unwrap_or_else(|d| panic!("{d}"));
        from_node::<Sample>(&node)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.loc, e.message))
            .collect()
    }

    #[test]
    fn every_wrong_entry_of_a_mapping_is_reported() {
        let errors = read_all("name: a\ncount: x\nextra: 1\nmore: 2\n");
        let at: Vec<Option<Loc>> = errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            at,
            vec![
                Some(Loc::new(2, 8)),
                Some(Loc::new(3, 1)),
                Some(Loc::new(4, 1))
            ],
            "{errors:?}"
        );
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        #[serde(default)]
        top: u32,
        #[serde(default)]
        inner: Option<Sample>,
    }

    fn read_nested(text: &str) -> Vec<(Option<Loc>, String)> {
        let node = parse_str(Path::new("t.yaml"), text).unwrap_or_else(|d| panic!("{d}"));
        from_node::<Outer>(&node)
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.loc, e.message))
            .collect()
    }

    #[test]
    fn every_wrong_entry_of_a_nested_mapping_is_reported() {
        let errors = read_nested("top: y\ninner: { name: a, count: x, extra: 1 }\n");
        let at: Vec<Option<Loc>> = errors.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            at,
            vec![
                Some(Loc::new(1, 6)),
                Some(Loc::new(2, 26)),
                Some(Loc::new(2, 29))
            ],
            "{errors:?}"
        );
        // A nested mapping's missing field is reported once, at that mapping.
        let errors = read_nested("top: 1\ninner: { count: x, extra: 1 }\n");
        let messages: Vec<&str> = errors.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "expected a whole number of 0 or more, found string `x`",
                "unknown field `extra`",
                "missing required field `name`"
            ],
            "{errors:?}"
        );
        assert_eq!(errors[2].0, Some(Loc::new(2, 8)));
        let node = parse_str(
            Path::new("t.yaml"),
            "top: 1\ninner: { name: a, count: 2 }\n",
        )
        .unwrap_or_else(|d| panic!("{d}"));
        let read = from_node::<Outer>(&node).map(|o| (o.top, o.inner.map(|i| i.count)));
        assert_eq!(read, Ok((1, Some(2))));
    }

    #[test]
    fn a_missing_field_is_reported_once_beside_the_other_errors() {
        let errors = read_all("count: x\nextra: 1\n");
        let messages: Vec<&str> = errors.iter().map(|(_, m)| m.as_str()).collect();
        assert_eq!(
            messages,
            vec![
                "missing required field `name`",
                "expected a whole number of 0 or more, found string `x`",
                "unknown field `extra`"
            ]
        );
    }

    #[test]
    fn unknown_field_points_at_the_key_and_suggests() {
        let err = read("name: a\ncuont: 2\n").err();
        let err = err.as_ref();
        assert_eq!(err.map(|e| e.loc), Some(Some(Loc::new(2, 1))));
        assert_eq!(
            err.map(|e| e.message.as_str()),
            Some("unknown field `cuont`")
        );
        assert!(
            err.and_then(|e| e.hint.as_deref())
                .is_some_and(|h| h.starts_with("did you mean `count`?"))
        );
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let err = read("name: a\ncount: [1]\n").err();
        assert_eq!(
            err.map(|e| (e.loc, e.message)),
            Some((
                Some(Loc::new(2, 8)),
                "expected a whole number of 0 or more, found a sequence".to_string()
            ))
        );
    }

    #[test]
    fn spanned_records_position() {
        let s = read("\nname:   hello\n").ok();
        assert_eq!(
            s.map(|s| (s.name.value, s.name.loc, s.count)),
            Some(("hello".to_string(), Loc::new(2, 9), 0))
        );
    }

    #[test]
    fn missing_field_points_at_the_mapping() {
        let err = read("count: 1\n").err();
        assert_eq!(
            err.map(|e| (e.loc, e.message)),
            Some((
                Some(Loc::new(1, 1)),
                "missing required field `name`".to_string()
            ))
        );
    }
}
