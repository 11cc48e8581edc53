//! Typed fields that may hold one `${{ }}` expression instead of a literal: durations,
//! numbers and booleans, in action inputs and in a step's `timeout` and `retry`. A
//! literal is read and checked when the runbook is parsed; an expression is read with
//! the same rules and messages once it is bound (params at load time, outputs when
//! the step runs).

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Serialize};

use super::Duration;

/// JSON-schema pattern of a string holding an expression.
const EXPR_PATTERN: &str = "\\$\\{\\{.*\\}\\}";

/// A literal of type `T`, or a string holding `${{ }}` expressions, read as a `T` once
/// they are bound.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrExpr<T> {
    Value(T),
    Expr(String),
}

/// One scalar as written (or as an expression rendered it).
#[derive(Clone, Copy, Debug)]
pub enum Scalar<'a> {
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(&'a str),
}

/// A type a field of `OrExpr<T>` can hold: read from any scalar, strings included,
/// because a bound expression is a string.
pub trait Literal: Sized + JsonSchema {
    /// What the field takes, for messages ("a whole number").
    const EXPECTED: &'static str;
    /// A literal of the type, for hints (`3`).
    const EXAMPLE: &'static str;
    fn from_scalar(s: Scalar<'_>) -> Result<Self, String>;
    /// The pattern of strings (besides expressions) the schema allows.
    fn text_pattern() -> Option<&'static str> {
        None
    }
}

fn found(s: Scalar<'_>) -> String {
    match s {
        Scalar::Bool(b) => format!("the boolean `{b}`"),
        Scalar::Int(i) => format!("the number `{i}`"),
        Scalar::UInt(u) => format!("the number `{u}`"),
        Scalar::Float(f) => format!("the number `{f}`"),
        // Escaped: a value from an output may end in a newline.
        Scalar::Str(s) => format!("the string `{}`", s.escape_debug()),
    }
}

fn wrong<T: Literal>(s: Scalar<'_>) -> String {
    format!(
        "expected {} or a `${{{{ }}}}` expression, found {}\nwrite a value such as `{}`, or an expression such as `${{{{ params.NAME }}}}`",
        T::EXPECTED,
        found(s),
        T::EXAMPLE
    )
}

impl Literal for i64 {
    const EXPECTED: &'static str = "a whole number";
    const EXAMPLE: &'static str = "3";
    fn from_scalar(s: Scalar<'_>) -> Result<Self, String> {
        match s {
            Scalar::Int(i) => Ok(i),
            Scalar::UInt(u) => i64::try_from(u).map_err(|_| format!("{u} is too large")),
            Scalar::Str(t) => t.trim().parse().map_err(|_| wrong::<i64>(s)),
            _ => Err(wrong::<i64>(s)),
        }
    }
    fn text_pattern() -> Option<&'static str> {
        Some("^\\s*-?[0-9]+\\s*$")
    }
}

impl Literal for u32 {
    const EXPECTED: &'static str = "a whole number";
    const EXAMPLE: &'static str = "3";
    fn from_scalar(s: Scalar<'_>) -> Result<Self, String> {
        let n = i64::from_scalar(s).map_err(|_| wrong::<u32>(s))?;
        u32::try_from(n).map_err(|_| format!("{n} is out of range: expected 0 to {}", u32::MAX))
    }
    fn text_pattern() -> Option<&'static str> {
        Some("^\\s*[0-9]+\\s*$")
    }
}

impl Literal for bool {
    const EXPECTED: &'static str = "`true` or `false`";
    const EXAMPLE: &'static str = "true";
    fn from_scalar(s: Scalar<'_>) -> Result<Self, String> {
        match s {
            Scalar::Bool(b) => Ok(b),
            Scalar::Str(t) if t.trim() == "true" => Ok(true),
            Scalar::Str(t) if t.trim() == "false" => Ok(false),
            _ => Err(wrong::<bool>(s)),
        }
    }
    fn text_pattern() -> Option<&'static str> {
        Some("^(true|false)$")
    }
}

impl Literal for Duration {
    const EXPECTED: &'static str = "a duration";
    const EXAMPLE: &'static str = "90s";
    fn from_scalar(s: Scalar<'_>) -> Result<Self, String> {
        match s {
            Scalar::Str(t) => Duration::parse(t.trim()),
            // `30` has no unit: say so, as a string `30` would.
            Scalar::Int(i) => Duration::parse(&i.to_string()),
            Scalar::UInt(u) => Duration::parse(&u.to_string()),
            _ => Err(wrong::<Duration>(s)),
        }
    }
}

impl<T> OrExpr<T> {
    /// The expression, when this is one.
    pub fn expr(&self) -> Option<&str> {
        match self {
            OrExpr::Expr(e) => Some(e),
            OrExpr::Value(_) => None,
        }
    }

    /// The literal, when this is one.
    pub fn literal(&self) -> Option<&T> {
        match self {
            OrExpr::Value(v) => Some(v),
            OrExpr::Expr(_) => None,
        }
    }
}

impl<T: Literal + Copy> OrExpr<T> {
    /// The value once expressions are bound (an action's inputs always are: the engine
    /// binds them and reads them again before the action runs).
    pub fn value(&self, name: &str) -> Result<T, crate::context::ActionError> {
        match self {
            OrExpr::Value(v) => Ok(*v),
            OrExpr::Expr(e) => Err(crate::context::ActionError::Inputs(format!(
                "`{name}` is `{e}`, not {}",
                T::EXPECTED
            ))),
        }
    }

    /// Reads the value with `resolve` rendering an expression's text: `Ok(None)` when
    /// `resolve` cannot yet (a validate-time check of what params alone decide).
    pub fn resolve(
        &self,
        resolve: &dyn Fn(&str) -> Result<Option<String>, String>,
    ) -> Result<Option<T>, String> {
        match self {
            OrExpr::Value(v) => Ok(Some(*v)),
            OrExpr::Expr(e) => match resolve(e)? {
                Some(text) => T::from_scalar(Scalar::Str(&text)).map(Some),
                None => Ok(None),
            },
        }
    }
}

impl OrExpr<bool> {
    /// Whether this flag is, or may turn out to be, `v` (an expression still unbound
    /// may be either: what it needs is counted, as for `lifeboat rbac`).
    pub fn may_be(&self, v: bool) -> bool {
        match self {
            OrExpr::Value(b) => *b == v,
            OrExpr::Expr(_) => true,
        }
    }
}

impl<T: Default> Default for OrExpr<T> {
    fn default() -> Self {
        OrExpr::Value(T::default())
    }
}

impl<T: fmt::Display> fmt::Display for OrExpr<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrExpr::Value(v) => v.fmt(f),
            OrExpr::Expr(e) => f.write_str(e),
        }
    }
}

impl<T: Serialize> Serialize for OrExpr<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            OrExpr::Value(v) => v.serialize(s),
            OrExpr::Expr(e) => s.serialize_str(e),
        }
    }
}

impl<'de, T: Literal> Deserialize<'de> for OrExpr<T> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<T: Literal> V<T> {
            fn read<E: de::Error>(s: Scalar<'_>) -> Result<OrExpr<T>, E> {
                T::from_scalar(s).map(OrExpr::Value).map_err(E::custom)
            }
        }
        impl<T: Literal> Visitor<'_> for V<T> {
            type Value = OrExpr<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{} or a `${{{{ }}}}` expression", T::EXPECTED)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<OrExpr<T>, E> {
                Self::read(Scalar::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OrExpr<T>, E> {
                Self::read(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OrExpr<T>, E> {
                Self::read(Scalar::UInt(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OrExpr<T>, E> {
                Self::read(Scalar::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OrExpr<T>, E> {
                if v.contains("${{") {
                    Ok(OrExpr::Expr(v.to_string()))
                } else {
                    Self::read(Scalar::Str(v))
                }
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<T: Literal> JsonSchema for OrExpr<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("{}OrExpr", T::schema_name()).into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let pattern = match T::text_pattern() {
            Some(p) => format!("{p}|{EXPR_PATTERN}"),
            None => EXPR_PATTERN.to_string(),
        };
        let literal = generator.subschema_for::<T>();
        json_schema!({
            "anyOf": [
                literal,
                { "type": "string", "pattern": pattern }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: Literal>(s: Scalar<'_>) -> Result<T, String> {
        T::from_scalar(s)
    }

    #[test]
    fn a_bound_expression_reads_as_the_literal_would() {
        assert_eq!(read::<bool>(Scalar::Str("true")), Ok(true));
        assert_eq!(read::<i64>(Scalar::Str(" 3 ")), Ok(3));
        assert_eq!(read::<u32>(Scalar::Str("5")), Ok(5));
        assert_eq!(
            read::<Duration>(Scalar::Str("90s")),
            Ok(Duration(std::time::Duration::from_secs(90)))
        );
    }

    #[test]
    fn a_wrong_value_says_what_the_field_takes() {
        let e = read::<bool>(Scalar::Str("yes")).unwrap_err();
        assert!(e.contains("expected `true` or `false`"), "{e}");
        let e = read::<u32>(Scalar::Int(-1)).unwrap_err();
        assert!(e.contains("out of range"), "{e}");
        let e = read::<u32>(Scalar::Float(1.5)).unwrap_err();
        assert!(e.contains("expected a whole number"), "{e}");
        let e = read::<Duration>(Scalar::Int(30)).unwrap_err();
        assert!(e.contains("no unit"), "{e}");
        let e = read::<Duration>(Scalar::Str("3 weeks")).unwrap_err();
        assert!(e.contains("invalid duration"), "{e}");
    }

    #[test]
    fn an_unresolved_expression_is_left_for_later() {
        let v: OrExpr<Duration> = OrExpr::Expr("${{ outputs.x.y }}".into());
        assert_eq!(v.resolve(&|_| Ok(None)), Ok(None));
        assert_eq!(
            v.resolve(&|_| Ok(Some("2m".into()))),
            Ok(Some(Duration(std::time::Duration::from_secs(120))))
        );
        assert!(v.resolve(&|_| Ok(Some("2".into()))).is_err());
    }
}
