//! The YAML layer: reads a runbook file within hard limits (size, UTF-8, nesting, node
//! count, alias expansion) and turns it into a `Node` tree where every value knows its
//! `file:line:col`. Nothing above this module sees raw YAML.

use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::diagnostic::{Diagnostic, Loc};

/// Largest runbook file read, in bytes. A 200-step runbook is about 40 KiB.
pub const MAX_RUNBOOK_BYTES: u64 = 4 * 1024 * 1024; // "4 MiB" in messages
/// Deepest nesting of mappings and sequences.
pub const MAX_DEPTH: usize = 64;
/// Most YAML nodes in one runbook, counting every alias expansion.
pub const MAX_NODES: usize = 50_000;
/// Most events replayed from aliases across the whole file (the billion-laughs guard).
pub const MAX_ALIAS_REPLAY: usize = 10_000;

/// One YAML value and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum NodeKind {
    Null,
    /// A plain (unquoted) boolean or number keeps its source text, so it can be read as a
    /// string without changing its spelling (`1.10` stays `1.10`).
    Bool(bool, String),
    Int(i64, String),
    Float(f64, String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What this value is, for messages: "a string", "a mapping", ...
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "null",
            NodeKind::Bool(..) => "a boolean",
            NodeKind::Int(..) => "an integer",
            NodeKind::Float(..) => "a number",
            NodeKind::Str(_) => "a string",
            NodeKind::Seq(_) => "a sequence",
            NodeKind::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value under `key` when this is a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    /// The key node of `key` when this is a mapping (to point at the key itself).
    pub fn key(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(k, _)| k)
    }

    /// Calls `f` on every string in this tree, depth first, with its location.
    pub fn visit_strings<'a>(&'a self, f: &mut impl FnMut(&'a str, Loc)) {
        match &self.kind {
            NodeKind::Str(s) => f(s, self.loc),
            NodeKind::Seq(items) => items.iter().for_each(|n| n.visit_strings(f)),
            NodeKind::Map(entries) => entries.iter().for_each(|(k, v)| {
                k.visit_strings(f);
                v.visit_strings(f);
            }),
            _ => {}
        }
    }

    /// A copy of this mapping without the named keys (used to split a step into its
    /// common fields and its action-specific `with`).
    pub fn without_keys(&self, keys: &[&str]) -> Node {
        match &self.kind {
            NodeKind::Map(entries) => Node {
                kind: NodeKind::Map(
                    entries
                        .iter()
                        .filter(|(k, _)| !k.as_str().is_some_and(|k| keys.contains(&k)))
                        .cloned()
                        .collect(),
                ),
                loc: self.loc,
            },
            _ => self.clone(),
        }
    }

    /// Converts to JSON (for inputs that carry arbitrary documents, like manifests).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            NodeKind::Null => Value::Null,
            NodeKind::Bool(b, _) => Value::Bool(*b),
            NodeKind::Int(i, _) => Value::from(*i),
            NodeKind::Float(f, raw) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or_else(|| Value::String(raw.clone())),
            NodeKind::Str(s) => Value::String(s.clone()),
            NodeKind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeKind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.key_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// The text of a scalar used as a mapping key.
    pub fn key_text(&self) -> String {
        match &self.kind {
            NodeKind::Str(s) => s.clone(),
            NodeKind::Bool(_, raw) | NodeKind::Int(_, raw) | NodeKind::Float(_, raw) => raw.clone(),
            NodeKind::Null => "null".to_string(),
            NodeKind::Seq(_) | NodeKind::Map(_) => String::from("<complex key>"),
        }
    }
}

/// Reads and parses a runbook file. Every failure is one diagnostic pointing at the
/// first offending place; nothing about the file is trusted (size, encoding, depth).
pub fn load_file(path: &Path) -> Result<(String, Node), Diagnostic> {
    let start = Loc::new(1, 1);
    let meta = std::fs::metadata(path).map_err(|e| {
        Diagnostic::new(
            path,
            start,
            format!("cannot read runbook: {}", io_reason(&e)),
        )
        .with_hint("check the path; runbooks are YAML files such as runbooks/demo.yaml")
    })?;
    if meta.is_dir() {
        return Err(
            Diagnostic::new(path, start, "is a directory, not a runbook file")
                .with_hint("pass the runbook files, for example runbooks/*.yaml"),
        );
    }
    let too_large = |size: Option<u64>| {
        let what = match size {
            Some(n) => format!("runbook is too large: {n} bytes (the limit is 4 MiB)"),
            None => "runbook is too large: more than the limit of 4 MiB".to_string(),
        };
        Diagnostic::new(path, start, what)
            .with_hint("move large manifests into files and reference them from the step")
    };
    if meta.len() > MAX_RUNBOOK_BYTES {
        return Err(too_large(Some(meta.len())));
    }
    // Read at most one byte past the limit: a device or pipe (`/dev/zero`, `<(yes)`)
    // reports no size but must not fill memory either.
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_RUNBOOK_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| {
            Diagnostic::new(
                path,
                start,
                format!("cannot read runbook: {}", io_reason(&e)),
            )
        })?;
    if bytes.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(too_large(None));
    }
    let text = decode(path, bytes)?;
    let node = parse_str(path, &text)?;
    Ok((text, node))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string().to_lowercase(),
    }
}

/// Checks the bytes are UTF-8 text (no NUL bytes) and returns them as a string.
fn decode(path: &Path, bytes: Vec<u8>) -> Result<String, Diagnostic> {
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let bytes = e.as_bytes();
            let at = e.utf8_error().valid_up_to();
            let loc = loc_of_byte(&bytes[..at]);
            return Err(Diagnostic::new(
                path,
                loc,
                format!(
                    "runbook is not valid UTF-8 (invalid byte 0x{:02x})",
                    bytes[at]
                ),
            )
            .with_hint("save the file as UTF-8 text; binary files are not runbooks"));
        }
    };
    if let Some(at) = text.find('\0') {
        return Err(Diagnostic::new(
            path,
            loc_of_byte(&text.as_bytes()[..at]),
            "runbook holds a NUL byte: it is binary, not YAML text",
        )
        .with_hint("pass a YAML runbook file"));
    }
    Ok(text)
}

/// The position just after `prefix` (which must be valid UTF-8 up to its end).
fn loc_of_byte(prefix: &[u8]) -> Loc {
    let text = String::from_utf8_lossy(prefix);
    let line = text.matches('\n').count() + 1;
    let col = text.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Loc::new(saturate(line as u64), saturate(col as u64))
}

fn saturate(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Parses YAML text into a `Node` tree within the limits above.
pub fn parse_str(path: &Path, text: &str) -> Result<Node, Diagnostic> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        // `.inf` and `!!binary` are read as the text they are, never as surprises.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::AsString,
        ignore_binary_tag_for_string: true,
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            flow_nesting_limit: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_documents: 1,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_ALIAS_REPLAY,
        },
    };
    let raw: serde_saphyr::Spanned<RawKind> = serde_saphyr::from_str_with_options(text, options)
        .map_err(|e| yaml_diagnostic(path, &e))?;
    Ok(convert(raw, text))
}

fn yaml_diagnostic(path: &Path, e: &serde_saphyr::Error) -> Diagnostic {
    let loc = e
        .location()
        .filter(|l| l.line() > 0)
        .map_or(Loc::new(1, 1), |l| {
            Loc::new(saturate(l.line()), saturate(l.column()))
        });
    let full = e.without_snippet().to_string();
    let what = full
        .split(" at line ")
        .next()
        .unwrap_or(&full)
        .trim()
        .to_string();
    if what.contains("Documents") || what.contains("multiple documents") {
        return Diagnostic::new(path, loc, "a runbook file holds exactly one YAML document")
            .with_hint("split the documents into one file each");
    }
    if what.contains("unknown anchor") {
        return Diagnostic::new(path, loc, "YAML alias refers to an unknown anchor")
            .with_hint("define the anchor (`&name`) before its alias (`*name`)");
    }
    if let Some(rest) = what.strip_prefix("duplicate mapping key: ") {
        let key = rest.split(',').next().unwrap_or(rest).trim();
        return Diagnostic::new(path, loc, format!("duplicate key `{key}` in this mapping"))
            .with_hint("each key may appear once in a mapping; remove or rename one of them");
    }
    let limit = if what.contains("Depth") || what.contains("recursion limit") {
        Some(format!("nesting deeper than {MAX_DEPTH} levels"))
    } else if what.contains("Nodes") {
        Some(format!("more than {MAX_NODES} YAML nodes"))
    } else if what.contains("replay") || what.contains("expansion limit") {
        Some(format!(
            "YAML aliases expanding to more than {MAX_ALIAS_REPLAY} nodes"
        ))
    } else if what.starts_with("budget breached") {
        Some(what.clone())
    } else {
        None
    };
    if let Some(limit) = limit {
        return Diagnostic::new(path, loc, format!("runbook exceeds the parser's limits: {limit}"))
            .with_hint(format!(
                "runbooks may nest {MAX_DEPTH} levels deep and hold {MAX_NODES} YAML nodes, counting each use of an alias"
            ));
    }
    Diagnostic::new(path, loc, format!("invalid YAML: {what}"))
        .with_hint("fix the YAML syntax here; indentation and unclosed quotes or brackets are the usual causes")
}

/// The shape serde-saphyr hands us, before locations are normalised.
enum RawKind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<serde_saphyr::Spanned<RawKind>>),
    Map(
        Vec<(
            serde_saphyr::Spanned<RawKind>,
            serde_saphyr::Spanned<RawKind>,
        )>,
    ),
}

impl<'de> Deserialize<'de> for RawKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<RawKind, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawKind;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }
    fn visit_none<E>(self) -> Result<RawKind, E> {
        Ok(RawKind::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawKind, D::Error> {
        RawKind::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<RawKind, E> {
        Ok(RawKind::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<RawKind, E> {
        Ok(RawKind::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<RawKind, E> {
        Ok(i64::try_from(v).map_or(RawKind::Float(v as f64), RawKind::Int))
    }
    fn visit_i128<E>(self, v: i128) -> Result<RawKind, E> {
        Ok(i64::try_from(v).map_or(RawKind::Float(v as f64), RawKind::Int))
    }
    fn visit_u128<E>(self, v: u128) -> Result<RawKind, E> {
        Ok(i64::try_from(v).map_or(RawKind::Float(v as f64), RawKind::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<RawKind, E> {
        Ok(RawKind::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<RawKind, E> {
        Ok(RawKind::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<RawKind, E> {
        Ok(RawKind::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<RawKind, E> {
        Err(E::custom(
            "binary (!!binary) values are not supported in runbooks",
        ))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawKind, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(RawKind::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawKind, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(RawKind::Map(entries))
    }
}

fn convert(raw: serde_saphyr::Spanned<RawKind>, text: &str) -> Node {
    let at = &raw.referenced;
    let loc = Loc::new(saturate(at.line()), saturate(at.column()));
    let source = || {
        let span = at.span();
        span.byte_offset()
            .zip(span.byte_len())
            .and_then(|(o, l)| text.get(o as usize..(o + l) as usize))
            .map(str::to_string)
    };
    let kind = match raw.value {
        RawKind::Null => NodeKind::Null,
        RawKind::Bool(b) => NodeKind::Bool(b, source().unwrap_or_else(|| b.to_string())),
        RawKind::Int(i) => NodeKind::Int(i, source().unwrap_or_else(|| i.to_string())),
        RawKind::Float(f) => NodeKind::Float(f, source().unwrap_or_else(|| f.to_string())),
        RawKind::Str(s) => NodeKind::Str(s),
        RawKind::Seq(items) => NodeKind::Seq(items.into_iter().map(|n| convert(n, text)).collect()),
        RawKind::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(k, text), convert(v, text)))
                .collect(),
        ),
    };
    Node { kind, loc }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Node, Diagnostic> {
        parse_str(Path::new("t.yaml"), text)
    }

    #[test]
    fn plain_numbers_keep_their_spelling() {
        let node = parse("v: 1.10\nb: true\n").unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(
            node.get("v").map(|n| &n.kind),
            Some(&NodeKind::Float(1.1, "1.10".into()))
        );
        assert_eq!(node.get("b").map(|n| n.loc), Some(Loc::new(2, 4)));
    }

    #[test]
    fn yes_and_on_stay_strings() {
        let node = parse("a: on\n").unwrap_or_else(|d| panic!("{d}"));
        assert_eq!(node.get("a").and_then(Node::as_str), Some("on"));
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_second_key() {
        let err = parse("a: 1\na: 2\n").err().map(|d| d.loc.line);
        assert_eq!(err, Some(2));
    }
}
