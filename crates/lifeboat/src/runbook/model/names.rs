//! Names in a runbook: identifiers (clusters, stores, steps, params), the runbook's
//! own name (it names locks and backups), and maps keyed by identifiers in the order
//! they were written.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::runbook::de::Spanned;

/// Named entries in the order they were written.
#[derive(Clone, Debug)]
pub struct NamedMap<T>(pub Vec<(Spanned<Ident>, T)>);

impl<T> Default for NamedMap<T> {
    fn default() -> Self {
        NamedMap(Vec::new())
    }
}

impl<T> NamedMap<T> {
    pub fn get(&self, name: &str) -> Option<&T> {
        self.0
            .iter()
            .find(|(k, _)| k.value.0 == name)
            .map(|(_, v)| v)
    }
    pub fn names(&self) -> impl Iterator<Item = &str> + Clone {
        self.0.iter().map(|(k, _)| k.value.0.as_str())
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: JsonSchema> JsonSchema for NamedMap<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("Map_of_{}", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let value = generator.subschema_for::<T>();
        json_schema!({
            "type": "object",
            "propertyNames": { "pattern": IDENT_PATTERN },
            "additionalProperties": value,
        })
    }
}

/// Pattern of step ids and of the names of params, clusters and stores.
pub const IDENT_PATTERN: &str = "^[a-z][a-z0-9_-]{0,62}$";
/// Pattern of `metadata.name` (a DNS label).
pub const RUNBOOK_NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$";

/// An identifier: a step id or the name of a param, cluster or store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Ident(pub String);

impl Ident {
    pub fn is_valid(s: &str) -> bool {
        let mut chars = s.chars();
        s.len() <= 63
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    }
}

impl fmt::Display for Ident {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Ident {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if Ident::is_valid(&s) {
            Ok(Ident(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid name `{s}`\nuse lowercase letters, digits, `-` and `_`, starting with a letter (at most 63 characters)"
            )))
        }
    }
}

impl JsonSchema for Ident {
    fn schema_name() -> Cow<'static, str> {
        "Ident".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": IDENT_PATTERN })
    }
}

/// `metadata.name`: a DNS label, since it names locks and backups.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunbookName(pub String);

impl RunbookName {
    pub fn is_valid(s: &str) -> bool {
        let b = s.as_bytes();
        let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
        !b.is_empty()
            && b.len() <= 63
            && b.first().is_some_and(ok)
            && b.last().is_some_and(ok)
            && b.iter().all(|c| ok(c) || *c == b'-')
    }
}

impl<'de> Deserialize<'de> for RunbookName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if RunbookName::is_valid(&s) {
            Ok(RunbookName(s))
        } else {
            Err(serde::de::Error::custom(format!(
                "invalid runbook name `{s}`\nuse lowercase letters, digits and `-`, starting and ending with a letter or digit (at most 63 characters): it names locks and backups"
            )))
        }
    }
}

impl JsonSchema for RunbookName {
    fn schema_name() -> Cow<'static, str> {
        "RunbookName".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": RUNBOOK_NAME_PATTERN })
    }
}
