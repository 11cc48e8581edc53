//! Messages to JSON: each field read by its row's type and shown as Go's JSON encoder
//! would (omitempty, pointers, maps sorted, bytes as base64, times, quantities).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};

use super::tables::T::*;
use super::tables::{Row, T};
use super::wire::{Cursor, Malformed, Wire, text, wrong_wire};
use super::{MAX_DEPTH, MAX_TIME_SECS};
use crate::time::rfc3339;

/// Decodes a message into `out` (merging, as protobuf does when a message field
/// repeats), then puts the keys in declaration order.
pub(super) fn decode_message(
    buf: &[u8],
    rows: &'static [Row],
    out: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), Malformed> {
    decode_fields(buf, rows, out, depth)?;
    let mut unordered = std::mem::take(out);
    put_in_order(&mut unordered, rows, out);
    out.extend(unordered);
    Ok(())
}

pub(super) fn decode_fields(
    buf: &[u8],
    rows: &'static [Row],
    out: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), Malformed> {
    if depth > MAX_DEPTH {
        return Err(Malformed::new(format!(
            "messages nest more than {MAX_DEPTH} levels deep"
        )));
    }
    let mut c = Cursor::new(buf);
    while let Some((number, value)) = c.next_field()? {
        let Some(&(_, name, ty)) = rows.iter().find(|row| row.0 == number) else {
            continue; // unknown to the tables: skipped, as protobuf readers do
        };
        decode_field(value, name, ty, out, depth).map_err(|e| e.at(name))?;
    }
    Ok(())
}

fn decode_field(
    value: Wire<'_>,
    name: &'static str,
    ty: T,
    out: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), Malformed> {
    match (ty, value) {
        (Str | StrK, Wire::Len(b)) => {
            let s = text(b);
            set(out, name, s.is_empty() && matches!(ty, Str), s.into());
        }
        (Bool | BoolK, Wire::Varint(v)) => {
            set(out, name, v == 0 && matches!(ty, Bool), (v != 0).into())
        }
        (I32 | I32K, Wire::Varint(v)) => {
            let n = int32(v);
            set(out, name, n == 0 && matches!(ty, I32), n.into());
        }
        (I64 | I64K, Wire::Varint(v)) => {
            let n = v as i64;
            set(out, name, n == 0 && matches!(ty, I64), n.into());
        }
        (Strs, Wire::Len(b)) => push(out, name, text(b).into()),
        (I32s, Wire::Varint(v)) => push(out, name, int32(v).into()),
        (I64s, Wire::Varint(v)) => push(out, name, (v as i64).into()),
        (I32s | I64s, Wire::Len(packed)) => {
            let mut c = Cursor::new(packed);
            while !c.at_end() {
                let v = c.varint()?;
                let n = if matches!(ty, I32s) {
                    i64::from(int32(v))
                } else {
                    v as i64
                };
                push(out, name, n.into());
            }
        }
        (StrMap | BytesMap | QtyMap, Wire::Len(entry)) => {
            let (key, value) = map_entry(entry, ty)?;
            match out.get_mut(name) {
                Some(Value::Object(map)) => {
                    map.insert(key, value);
                }
                _ => {
                    let mut map = Map::new();
                    map.insert(key, value);
                    out.insert(name.into(), Value::Object(map));
                }
            }
        }
        (Obj(rows) | ObjK(rows), Wire::Len(b)) => {
            let mut map = match out.remove(name) {
                Some(Value::Object(map)) => map,
                _ => Map::new(),
            };
            decode_message(b, rows, &mut map, depth + 1)?;
            if !map.is_empty() || matches!(ty, ObjK(_)) {
                out.insert(name.into(), Value::Object(map));
            }
        }
        (Inline(rows), Wire::Len(b)) => decode_fields(b, rows, out, depth + 1)?,
        (List(rows), Wire::Len(b)) => {
            let mut map = Map::new();
            decode_message(b, rows, &mut map, depth + 1)?;
            push(out, name, Value::Object(map));
        }
        (Time, Wire::Len(b)) => match time(b)? {
            Some(t) => set(out, name, false, t.into()),
            None => set(out, name, true, Value::Null),
        },
        (IntStr | IntStrK, Wire::Len(b)) => {
            let v = int_or_string(b)?;
            let zero = v == 0;
            set(out, name, zero && matches!(ty, IntStr), v);
        }
        (Qty, Wire::Len(b)) => set(out, name, false, quantity(b)?.into()),
        (FieldsV1, Wire::Len(b)) => {
            let raw = single_bytes(b)?;
            if raw.is_empty() {
                set(out, name, true, Value::Null);
            } else {
                let v: Value = serde_json::from_slice(raw)
                    .map_err(|e| Malformed::new(format!("fieldsV1 is not JSON: {e}")))?;
                set(out, name, false, v);
            }
        }
        (_, found) => return Err(wrong_wire(found)),
    }
    Ok(())
}

/// Sets `name`, or (when `omit`, a zero value of an `omitempty` field) removes it: the
/// last occurrence of a field wins.
fn set(out: &mut Map<String, Value>, name: &'static str, omit: bool, value: Value) {
    if omit {
        out.remove(name);
    } else {
        out.insert(name.into(), value);
    }
}

fn push(out: &mut Map<String, Value>, name: &'static str, value: Value) {
    match out.get_mut(name) {
        Some(Value::Array(items)) => items.push(value),
        _ => {
            out.insert(name.into(), Value::Array(vec![value]));
        }
    }
}

/// An int32 field: ten-byte varints of negative numbers keep their low 32 bits.
fn int32(v: u64) -> i32 {
    v as u32 as i32
}

/// Moves the keys of `from` that `rows` name into `to`, in the rows' order, with map
/// fields' keys sorted (as Go writes maps).
fn put_in_order(from: &mut Map<String, Value>, rows: &[Row], to: &mut Map<String, Value>) {
    for &(_, name, ty) in rows {
        if let Inline(inner) = ty {
            put_in_order(from, inner, to);
        } else if let Some(mut value) = from.remove(name) {
            if let (StrMap | BytesMap | QtyMap, Value::Object(map)) = (ty, &mut value) {
                map.sort_keys();
            }
            to.insert(name.into(), value);
        }
    }
}

/// One `map<string, …>` entry: key = 1, value = 2.
fn map_entry(buf: &[u8], ty: T) -> Result<(String, Value), Malformed> {
    let mut key = String::new();
    let mut value = match ty {
        QtyMap => Value::from("0"),
        _ => Value::from(""),
    };
    let mut c = Cursor::new(buf);
    while let Some((n, v)) = c.next_field()? {
        match (n, v) {
            (1, Wire::Len(b)) => key = text(b),
            (2, Wire::Len(b)) => {
                value = match ty {
                    BytesMap => BASE64.encode(b).into(),
                    QtyMap => quantity(b)?.into(),
                    _ => text(b).into(),
                }
            }
            (1 | 2, v) => return Err(wrong_wire(v)),
            _ => {}
        }
    }
    Ok((key, value))
}

/// meta/v1 Time {seconds = 1, nanos = 2} as RFC 3339 (seconds precision, as
/// `metav1.Time` marshals); `None` for the zero time, which JSON leaves out.
fn time(buf: &[u8]) -> Result<Option<String>, Malformed> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    let mut c = Cursor::new(buf);
    while let Some((n, v)) = c.next_field()? {
        match (n, v) {
            (1, Wire::Varint(v)) => seconds = v as i64,
            (2, Wire::Varint(v)) => nanos = int32(v),
            (1 | 2, v) => return Err(wrong_wire(v)),
            _ => {}
        }
    }
    if seconds == 0 && nanos == 0 {
        return Ok(None);
    }
    match jiff::Timestamp::from_second(seconds) {
        Ok(t) if (0..=MAX_TIME_SECS).contains(&seconds) => Ok(Some(rfc3339(t))),
        _ => Err(Malformed::new(format!(
            "timestamp {seconds} is outside 1970-01-01 to 9999-12-31"
        ))),
    }
}

/// intstr.IntOrString {type = 1 (0 int, 1 string), intVal = 2, strVal = 3}.
fn int_or_string(buf: &[u8]) -> Result<Value, Malformed> {
    let (mut kind, mut int_val, mut str_val) = (0u64, 0i32, String::new());
    let mut c = Cursor::new(buf);
    while let Some((n, v)) = c.next_field()? {
        match (n, v) {
            (1, Wire::Varint(v)) => kind = v,
            (2, Wire::Varint(v)) => int_val = int32(v),
            (3, Wire::Len(b)) => str_val = text(b),
            (1..=3, v) => return Err(wrong_wire(v)),
            _ => {}
        }
    }
    match kind {
        0 => Ok(int_val.into()),
        1 => Ok(str_val.into()),
        k => Err(Malformed::new(format!(
            "IntOrString has an invalid type {k}"
        ))),
    }
}

/// resource.Quantity {string = 1}: the quantity as written (`500m`, `1Gi`); `0` when
/// absent.
fn quantity(buf: &[u8]) -> Result<String, Malformed> {
    let mut s = None;
    let mut c = Cursor::new(buf);
    while let Some((n, v)) = c.next_field()? {
        match (n, v) {
            (1, Wire::Len(b)) => s = Some(text(b)),
            (1, v) => return Err(wrong_wire(v)),
            _ => {}
        }
    }
    match s {
        None => Ok("0".into()),
        Some(s) if s.is_empty() => Err(Malformed::new("a quantity is empty")),
        Some(s) => Ok(s),
    }
}

/// The bytes field 1 of a one-field message (meta/v1 FieldsV1 {Raw = 1}).
fn single_bytes(buf: &[u8]) -> Result<&[u8], Malformed> {
    let mut raw: &[u8] = &[];
    let mut c = Cursor::new(buf);
    while let Some((n, v)) = c.next_field()? {
        match (n, v) {
            (1, Wire::Len(b)) => raw = b,
            (1, v) => return Err(wrong_wire(v)),
            _ => {}
        }
    }
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::tables::DEPLOYMENT;

    #[test]
    fn messages_nested_past_the_limit_are_refused() {
        let mut out = Map::new();
        let err = decode_fields(&[], DEPLOYMENT, &mut out, MAX_DEPTH + 1)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(err.contains("nest"), "{err}");
    }
}
