//! Typed reading of a `Node` tree: a serde `Deserializer` over nodes whose errors carry
//! the location of the offending value and a hint, and `Spanned<T>`, a value that
//! remembers where it was written. The runbook model derives `Deserialize` and is read
//! through this, so the types are the one source of truth for parsing and the schema.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde::de::{
    self, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess, VariantAccess,
    Visitor,
};

use super::diagnostic::{Loc, closest};
use super::node::{Node, NodeKind};

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
/// mapping fails, each of its entries is read again on its own, so every wrong entry
/// is reported (nested mappings report their first error).
pub fn from_node<T: DeserializeOwned>(node: &Node) -> Result<T, Vec<DeError>> {
    let first = match T::deserialize(node) {
        Ok(v) => return Ok(v),
        Err(e) => e.at(node.loc),
    };
    let mut errors = Vec::new();
    if let NodeKind::Map(entries) = &node.kind
        && entries.len() > 1
    {
        let mut sound = Vec::new();
        for entry in entries {
            let probe = Node {
                kind: NodeKind::Map(vec![entry.clone()]),
                loc: node.loc,
            };
            // Missing fields of this mapping show up in every probe: they are found
            // below. Missing fields of nested mappings are kept.
            match T::deserialize(&probe) {
                Err(e) if !(e.missing_field.is_some() && e.loc.is_none_or(|l| l == node.loc)) => {
                    let e = e.at(node.loc);
                    if !errors.contains(&e) {
                        errors.push(e);
                    }
                }
                _ => sound.push(entry.clone()),
            }
        }
        // With the wrong entries left out, what remains to fail is a missing field.
        let rest = Node {
            kind: NodeKind::Map(sound),
            loc: node.loc,
        };
        // A field that is written but wrong is not also "missing".
        if let Err(e) = T::deserialize(&rest)
            && e.missing_field.is_some_and(|f| node.get(f).is_none())
        {
            errors.insert(0, e.at(node.loc));
        }
    }
    if errors.is_empty() {
        errors.push(first);
    }
    Err(errors)
}

const SPANNED_MARKER: &str = "$lifeboat::Spanned";
const SPANNED_FIELDS: &[&str] = &["$line", "$col", "$value"];

/// A value together with the place in the runbook it was written.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spanned<T> {
    pub value: T,
    pub loc: Loc,
}

impl<T> Spanned<T> {
    pub fn new(value: T, loc: Loc) -> Self {
        Spanned { value, loc }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: serde::Serialize> serde::Serialize for Spanned<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(s)
    }
}

impl<T: JsonSchema> JsonSchema for Spanned<T> {
    fn schema_name() -> Cow<'static, str> {
        T::schema_name()
    }
    fn schema_id() -> Cow<'static, str> {
        T::schema_id()
    }
    fn inline_schema() -> bool {
        T::inline_schema()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        T::json_schema(generator)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SpannedVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for SpannedVisitor<T> {
            type Value = Spanned<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Spanned<T>, A::Error> {
                let line: u32 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("spanned value without a line"))?;
                let col: u32 = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("spanned value without a column"))?;
                let value: T = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::custom("spanned value without a value"))?;
                Ok(Spanned::new(value, Loc::new(line, col)))
            }
        }
        d.deserialize_struct(
            SPANNED_MARKER,
            SPANNED_FIELDS,
            SpannedVisitor(std::marker::PhantomData),
        )
    }
}

/// Hands a `Spanned<T>` its line, column, then the value.
struct SpannedAccess<'a> {
    node: &'a Node,
    step: u8,
}

impl<'de> SeqAccess<'de> for SpannedAccess<'de> {
    type Error = DeError;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        self.step += 1;
        match self.step {
            1 => seed
                .deserialize(self.node.loc.line.into_deserializer())
                .map(Some),
            2 => seed
                .deserialize(self.node.loc.col.into_deserializer())
                .map(Some),
            3 => seed.deserialize(self.node).map(Some),
            _ => Ok(None),
        }
    }
}

impl<'de> de::Deserializer<'de> for &'de Node {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let r = match &self.kind {
            NodeKind::Null => v.visit_unit(),
            NodeKind::Bool(b, _) => v.visit_bool(*b),
            NodeKind::Int(i, _) => v.visit_i64(*i),
            NodeKind::Float(f, _) => v.visit_f64(*f),
            NodeKind::Str(s) => v.visit_borrowed_str(s),
            NodeKind::Seq(items) => v.visit_seq(NodeSeq { iter: items.iter() }),
            NodeKind::Map(entries) => v.visit_map(NodeMap {
                iter: entries.iter(),
                value: None,
            }),
        };
        r.map_err(|e| e.at(self.loc))
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.kind {
            NodeKind::Null => v.visit_none(),
            _ => v.visit_some(self),
        }
        .map_err(|e| e.at(self.loc))
    }

    /// Plain booleans and numbers read as strings keep their written spelling.
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match &self.kind {
            NodeKind::Bool(_, raw) | NodeKind::Int(_, raw) | NodeKind::Float(_, raw) => v
                .visit_borrowed_str(raw)
                .map_err(|e: DeError| e.at(self.loc)),
            _ => self.deserialize_any(v),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        self.deserialize_str(v)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        if name == SPANNED_MARKER {
            return v.visit_seq(SpannedAccess {
                node: self,
                step: 0,
            });
        }
        match &self.kind {
            NodeKind::Map(_) => self.deserialize_any(v),
            _ => Err(
                DeError::new(format!("expected a mapping, found {}", self.describe()))
                    .hint(format!(
                        "write a mapping with the fields {}",
                        field_list(fields)
                    ))
                    .at(self.loc),
            ),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        v: V,
    ) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self).map_err(|e| e.at(self.loc))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        let r = match &self.kind {
            NodeKind::Str(_) | NodeKind::Bool(..) | NodeKind::Int(..) => v.visit_enum(NodeEnum {
                tag: self,
                value: None,
            }),
            NodeKind::Map(entries) if entries.len() == 1 => v.visit_enum(NodeEnum {
                tag: &entries[0].0,
                value: Some(&entries[0].1),
            }),
            _ => Err(DeError::new(format!(
                "expected one of {}, found {}",
                field_list(variants),
                self.describe()
            ))),
        };
        r.map_err(|e| e.at(self.loc))
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char
        bytes byte_buf unit unit_struct seq tuple tuple_struct map
    }
}

fn field_list(fields: &[&str]) -> String {
    fields
        .iter()
        .map(|f| format!("`{f}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

struct NodeSeq<'a> {
    iter: std::slice::Iter<'a, Node>,
}

impl<'de> SeqAccess<'de> for NodeSeq<'de> {
    type Error = DeError;
    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, DeError> {
        match self.iter.next() {
            Some(node) => seed.deserialize(node).map(Some).map_err(|e| e.at(node.loc)),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct NodeMap<'a> {
    iter: std::slice::Iter<'a, (Node, Node)>,
    value: Option<&'a Node>,
}

impl<'de> MapAccess<'de> for NodeMap<'de> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(k).map(Some).map_err(|e| e.at(k.loc))
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let node = self
            .value
            .take()
            .ok_or_else(|| DeError::new("mapping value requested before its key"))?;
        seed.deserialize(node).map_err(|e| e.at(node.loc))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct NodeEnum<'a> {
    tag: &'a Node,
    value: Option<&'a Node>,
}

impl<'de> EnumAccess<'de> for NodeEnum<'de> {
    type Error = DeError;
    type Variant = NodeVariant<'de>;
    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, NodeVariant<'de>), DeError> {
        let tag = seed.deserialize(self.tag).map_err(|e| e.at(self.tag.loc))?;
        Ok((
            tag,
            NodeVariant {
                value: self.value,
                loc: self.tag.loc,
            },
        ))
    }
}

struct NodeVariant<'a> {
    value: Option<&'a Node>,
    loc: Loc,
}

impl<'de> VariantAccess<'de> for NodeVariant<'de> {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        match self.value {
            None => Ok(()),
            Some(n) if n.kind == NodeKind::Null => Ok(()),
            Some(n) => Err(DeError::new("this value takes no settings").at(n.loc)),
        }
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, DeError> {
        match self.value {
            Some(n) => seed.deserialize(n),
            None => Err(DeError::new("this value needs settings").at(self.loc)),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, v: V) -> Result<V::Value, DeError> {
        match self.value {
            Some(n) => de::Deserializer::deserialize_seq(n, v),
            None => Err(DeError::new("this value needs settings").at(self.loc)),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        match self.value {
            Some(n) => de::Deserializer::deserialize_struct(n, "", fields, v),
            None => Err(DeError::new("this value needs settings").at(self.loc)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::node::parse_str;
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
