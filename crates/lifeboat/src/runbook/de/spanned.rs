//! `Spanned<T>`: a value together with where it was written. The node deserializer
//! hands its position to `Spanned`'s `Deserialize` through a marker struct.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IntoDeserializer, SeqAccess, Visitor};

use super::DeError;
use crate::runbook::diagnostic::Loc;
use crate::runbook::node::Node;

pub(super) const SPANNED_MARKER: &str = "$lifeboat::Spanned";
pub(super) const SPANNED_FIELDS: &[&str] = &["$line", "$col", "$value"];

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
pub(super) struct SpannedAccess<'a> {
    pub(super) node: &'a Node,
    pub(super) step: u8,
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
