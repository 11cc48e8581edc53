//! The protobuf form of an OpenAPI v2 document, as `/openapi/v2` serves it to kubectl
//! (which asks for `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`): gnostic's
//! `openapi.v2.Document`, with the field numbers of its `OpenAPIv2.proto`. Only what
//! schemas carry is encoded (info, definitions); extensions and examples are YAML
//! (JSON text, which is YAML) in gnostic's `Any`.

use serde_json::Value;

/// The media type the API server answers with: the requested one with `.` for `@`,
/// which Go's media type parser (in kubectl) rejects.
pub const MEDIA_TYPE: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

/// Encodes a v2 document (`swagger`, `info`, `definitions`).
pub fn encode(doc: &Value) -> Vec<u8> {
    let mut pb = Writer::default();
    pb.string(1, text(doc, "swagger"));
    if let Some(info) = doc.get("info") {
        pb.message(2, |m| {
            m.string(1, text(info, "title"));
            m.string(2, text(info, "version"));
        });
    }
    if let Some(defs) = doc.get("definitions").and_then(Value::as_object) {
        pb.message(9, |m| named_schemas(m, defs));
    }
    pb.0
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `repeated NamedSchema additional_properties = 1` (Definitions, Properties).
fn named_schemas(pb: &mut Writer, schemas: &serde_json::Map<String, Value>) {
    for (name, s) in schemas {
        pb.message(1, |n| {
            n.string(1, name);
            n.message(2, |m| schema(m, s));
        });
    }
}

/// gnostic's `Any`: the value as YAML.
fn any(pb: &mut Writer, field: u32, v: &Value) {
    pb.message(field, |a| a.string(2, &v.to_string()));
}

fn schema(pb: &mut Writer, s: &Value) {
    let Some(map) = s.as_object() else {
        return;
    };
    let number = |k: &str| map.get(k).and_then(Value::as_f64);
    let count = |k: &str| map.get(k).and_then(Value::as_i64);
    let flag = |k: &str| map.get(k) == Some(&Value::Bool(true));
    pb.string(1, text(s, "$ref"));
    pb.string(2, text(s, "format"));
    pb.string(3, text(s, "title"));
    pb.string(4, text(s, "description"));
    if let Some(d) = map.get("default") {
        any(pb, 5, d);
    }
    for (field, key) in [(6, "multipleOf"), (7, "maximum"), (9, "minimum")] {
        if let Some(n) = number(key) {
            pb.double(field, n);
        }
    }
    for (field, key) in [
        (8, "exclusiveMaximum"),
        (10, "exclusiveMinimum"),
        (16, "uniqueItems"),
        (27, "readOnly"),
    ] {
        if flag(key) {
            pb.varint_field(field, 1);
        }
    }
    for (field, key) in [
        (11, "maxLength"),
        (12, "minLength"),
        (14, "maxItems"),
        (15, "minItems"),
        (17, "maxProperties"),
        (18, "minProperties"),
    ] {
        if let Some(n) = count(key) {
            pb.varint_field(field, n as u64);
        }
    }
    pb.string(13, text(s, "pattern"));
    for r in map
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pb.string(19, r.as_str().unwrap_or(""));
    }
    for e in map
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        any(pb, 20, e);
    }
    match map.get("additionalProperties") {
        Some(Value::Bool(b)) => pb.message(21, |a| a.varint_field(2, u64::from(*b))),
        Some(extra @ Value::Object(_)) => pb.message(21, |a| a.message(1, |m| schema(m, extra))),
        _ => {}
    }
    match map.get("type") {
        Some(Value::String(t)) => pb.message(22, |m| m.string(1, t)),
        Some(Value::Array(ts)) => pb.message(22, |m| {
            ts.iter()
                .for_each(|t| m.string(1, t.as_str().unwrap_or("")))
        }),
        _ => {}
    }
    match map.get("items") {
        Some(item @ Value::Object(_)) => pb.message(23, |m| m.message(1, |i| schema(i, item))),
        Some(Value::Array(items)) => pb.message(23, |m| {
            items
                .iter()
                .for_each(|item| m.message(1, |i| schema(i, item)))
        }),
        _ => {}
    }
    for sub in map
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        pb.message(24, |m| schema(m, sub));
    }
    if let Some(props) = map.get("properties").and_then(Value::as_object) {
        pb.message(25, |m| named_schemas(m, props));
    }
    for (name, value) in map.iter().filter(|(k, _)| k.starts_with("x-")) {
        pb.message(31, |n| {
            n.string(1, name);
            any(n, 2, value);
        });
    }
}

/// Protocol buffer wire format, proto3 style (empty strings are left out).
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    fn varint_field(&mut self, field: u32, v: u64) {
        self.key(field, 0);
        self.varint(v);
    }

    fn double(&mut self, field: u32, v: f64) {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
    }

    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn message(&mut self, field: u32, build: impl FnOnce(&mut Writer)) {
        let mut inner = Writer::default();
        build(&mut inner);
        self.bytes(field, &inner.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn encodes_the_wire_format() {
        let doc = json!({
            "swagger": "2.0",
            "info": { "title": "T", "version": "v" },
            "definitions": { "a.B": { "type": "string", "x-k": [1] } },
        });
        let bytes = encode(&doc);
        // swagger (field 1, "2.0"), info (field 2: title "T", version "v").
        assert_eq!(&bytes[..13], b"\x0a\x032.0\x12\x06\x0a\x01T\x12\x01v");
        // definitions (field 9) → NamedSchema "a.B" → Schema with type and extension.
        let rest = &bytes[13..];
        assert_eq!(rest[0], 9 << 3 | 2);
        assert!(rest.windows(3).any(|w| w == b"a.B"));
        assert!(rest.windows(6).any(|w| w == b"string"));
        assert!(rest.windows(3).any(|w| w == b"[1]"));
    }
}
