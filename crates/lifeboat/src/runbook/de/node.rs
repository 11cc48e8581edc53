//! The serde `Deserializer` over a `Node`: scalars read as the type asks (YAML's
//! strings, numbers and booleans), maps as structs with unknown fields named, and
//! every error placed at the value it is about.

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};

use super::DeError;
use super::spanned::{SPANNED_MARKER, SpannedAccess};
use crate::runbook::diagnostic::Loc;
use crate::runbook::node::{Node, NodeKind};

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
