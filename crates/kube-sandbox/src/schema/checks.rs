//! The value validations of a CRD schema node (enum, minimum/maximum, lengths,
//! pattern, item and property counts, required, allOf/anyOf/oneOf/not), compiled once
//! with the node they belong to.

use serde_json::Value;

use super::node::Id;
use regex::Regex;

/// A node's value validations; `None` on the node when it has none.
#[derive(Debug, Default)]
pub struct Checks {
    pub enumeration: Vec<Value>,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    /// The pattern as written, and its compiled form (RE2 syntax, as the API server
    /// reads it; `None` when it does not compile: then it is not enforced).
    pub pattern: Option<(String, Option<Regex>)>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub required: Vec<String>,
    pub all_of: Vec<Id>,
    pub any_of: Vec<Id>,
    pub one_of: Vec<Id>,
    pub not: Option<Id>,
}

impl Checks {
    /// The validations `schema` declares; `compile` compiles its subschemas.
    pub fn compile(schema: &Value, compile: &mut dyn FnMut(&Value) -> Id) -> Option<Checks> {
        let number = |key: &str| schema.get(key).and_then(Value::as_f64);
        let count = |key: &str| schema.get(key).and_then(Value::as_u64);
        let flag = |key: &str| schema.get(key) == Some(&Value::Bool(true));
        let mut list = |key: &str| -> Vec<Id> {
            schema
                .get(key)
                .and_then(Value::as_array)
                .map(|all| all.iter().map(&mut *compile).collect())
                .unwrap_or_default()
        };
        let checks = Checks {
            enumeration: schema
                .get("enum")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            minimum: number("minimum"),
            exclusive_minimum: flag("exclusiveMinimum"),
            maximum: number("maximum"),
            exclusive_maximum: flag("exclusiveMaximum"),
            multiple_of: number("multipleOf").filter(|m| *m > 0.0),
            min_length: count("minLength"),
            max_length: count("maxLength"),
            pattern: schema
                .get("pattern")
                .and_then(Value::as_str)
                .map(|p| (p.to_string(), compile_pattern(p))),
            min_items: count("minItems"),
            max_items: count("maxItems"),
            unique_items: flag("uniqueItems"),
            min_properties: count("minProperties"),
            max_properties: count("maxProperties"),
            required: schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| {
                    r.iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            all_of: list("allOf"),
            any_of: list("anyOf"),
            one_of: list("oneOf"),
            not: schema
                .get("not")
                .filter(|n| n.is_object())
                .map(&mut *compile),
        };
        (!checks.is_empty()).then_some(checks)
    }

    fn is_empty(&self) -> bool {
        self.enumeration.is_empty()
            && self.minimum.is_none()
            && self.maximum.is_none()
            && self.multiple_of.is_none()
            && self.min_length.is_none()
            && self.max_length.is_none()
            && self.pattern.is_none()
            && self.min_items.is_none()
            && self.max_items.is_none()
            && !self.unique_items
            && self.min_properties.is_none()
            && self.max_properties.is_none()
            && self.required.is_empty()
            && self.all_of.is_empty()
            && self.any_of.is_empty()
            && self.one_of.is_empty()
            && self.not.is_none()
    }
}

/// A CRD `pattern` as the API server reads it: Go's RE2 syntax, which the regex crate
/// shares, except that Go's `\d`, `\w` and `\s` (and their negations) are ASCII while
/// the regex crate's are Unicode; they are written out as the ASCII classes they are.
/// `None` when the pattern does not compile (then it is not enforced).
fn compile_pattern(pattern: &str) -> Option<Regex> {
    Regex::new(&ascii_perl_classes(pattern)).ok()
}

fn ascii_perl_classes(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let set = match e.to_ascii_lowercase() {
                    'd' => "0-9",
                    'w' => "0-9A-Za-z_",
                    's' => r"\t\n\f\r ",
                    _ => "",
                };
                match (set.is_empty(), in_class, e.is_ascii_uppercase()) {
                    (false, false, negated) => {
                        out.push_str(if negated { "[^" } else { "[" });
                        out.push_str(set);
                        out.push(']');
                    }
                    (false, true, false) => out.push_str(set),
                    // Not a Perl class, or a negated one inside a class: as written.
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perl_classes_are_ascii_as_in_go() {
        assert_eq!(ascii_perl_classes(r"^\d+$"), "^[0-9]+$");
        assert_eq!(
            ascii_perl_classes(r"[\w.-]+\S"),
            r"[0-9A-Za-z_.-]+[^\t\n\f\r ]"
        );
        assert_eq!(ascii_perl_classes(r"a\.b\\d"), r"a\.b\\d");
        let digits = compile_pattern(r"^\d+$").unwrap_or_else(|| panic!("compiles"));
        assert!(digits.is_match("123"));
        // Arabic-Indic digits: Unicode digits, not Go's \d.
        assert!(!digits.is_match("١٢٣"));
    }
}
