//! The protobuf wire format: fields and wire types read from a byte cursor, the
//! `runtime.Unknown` envelope, and what went wrong where.

use super::MAX_DEPTH;

/// What went wrong, and where (JSON field names, innermost first).
#[derive(Debug)]
pub(super) struct Malformed {
    pub(super) message: String,
    pub(super) path: Vec<&'static str>,
}

impl Malformed {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Malformed {
            message: message.into(),
            path: Vec::new(),
        }
    }

    pub(super) fn at(mut self, name: &'static str) -> Self {
        if !name.is_empty() {
            self.path.push(name);
        }
        self
    }

    /// ` at spec.template: message`, or `: message` at the top.
    pub(super) fn describe(&self) -> String {
        if self.path.is_empty() {
            format!(": {}", self.message)
        } else {
            let path: Vec<&str> = self.path.iter().rev().copied().collect();
            format!(" at {}: {}", path.join("."), self.message)
        }
    }
}

/// A field's value as it appears on the wire.
#[derive(Clone, Copy, Debug)]
pub(super) enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    /// fixed32, fixed64 or a group: read past, never used by Kubernetes.
    Other,
}

impl Wire<'_> {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "a varint",
            Wire::Len(_) => "length-delimited",
            Wire::Other => "a fixed-width or group value",
        }
    }
}

/// Reads a message's bytes one field at a time.
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(super) fn byte(&mut self) -> Result<u8, Malformed> {
        let b = self
            .buf
            .get(self.pos)
            .copied()
            .ok_or_else(|| Malformed::new("truncated: the message ends inside a varint"))?;
        self.pos += 1;
        Ok(b)
    }

    pub(super) fn varint(&mut self) -> Result<u64, Malformed> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed::new("a varint is longer than 10 bytes"))
    }

    pub(super) fn take(&mut self, n: u64) -> Result<&'a [u8], Malformed> {
        let rest = self.buf.len().saturating_sub(self.pos);
        let n = usize::try_from(n)
            .ok()
            .filter(|&n| n <= rest)
            .ok_or_else(|| {
                Malformed::new(format!(
                    "truncated: a field claims {n} bytes but only {rest} remain"
                ))
            })?;
        let bytes = self
            .buf
            .get(self.pos..self.pos + n)
            .ok_or_else(|| Malformed::new("truncated"))?;
        self.pos += n;
        Ok(bytes)
    }

    /// A tag: (field number, wire type).
    pub(super) fn tag(&mut self) -> Result<(u32, u8), Malformed> {
        let key = self.varint()?;
        let wire = (key & 7) as u8;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|&n| (1..=0x1fff_ffff).contains(&n))
            .ok_or_else(|| Malformed::new(format!("invalid field number {}", key >> 3)))?;
        Ok((number, wire))
    }

    /// The next field, or `None` at the end of the message.
    pub(super) fn next_field(&mut self) -> Result<Option<(u32, Wire<'a>)>, Malformed> {
        if self.at_end() {
            return Ok(None);
        }
        let (number, wire) = self.tag()?;
        let value = match wire {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Wire::Other
            }
            2 => {
                let len = self.varint()?;
                Wire::Len(self.take(len)?)
            }
            3 => {
                self.skip_group(number)?;
                Wire::Other
            }
            5 => {
                self.take(4)?;
                Wire::Other
            }
            4 => {
                return Err(Malformed::new(format!(
                    "an end-group tag for field {number} without a start-group"
                )));
            }
            w => {
                return Err(Malformed::new(format!(
                    "invalid wire type {w} for field {number}"
                )));
            }
        };
        Ok(Some((number, value)))
    }

    /// Reads past a (deprecated) group, iteratively, to its matching end-group tag.
    pub(super) fn skip_group(&mut self, number: u32) -> Result<(), Malformed> {
        let mut open = vec![number];
        while let Some(&innermost) = open.last() {
            let (n, wire) = self.tag()?;
            match wire {
                0 => {
                    self.varint()?;
                }
                1 => {
                    self.take(8)?;
                }
                2 => {
                    let len = self.varint()?;
                    self.take(len)?;
                }
                3 => {
                    if open.len() >= MAX_DEPTH {
                        return Err(Malformed::new(format!(
                            "groups nest more than {MAX_DEPTH} levels deep"
                        )));
                    }
                    open.push(n);
                }
                4 if n == innermost => {
                    open.pop();
                }
                4 => {
                    return Err(Malformed::new(format!(
                        "an end-group tag for field {n} inside a group for field {innermost}"
                    )));
                }
                5 => {
                    self.take(4)?;
                }
                w => {
                    return Err(Malformed::new(format!(
                        "invalid wire type {w} for field {n}"
                    )));
                }
            }
        }
        Ok(())
    }
}

/// The `runtime.Unknown` envelope.
pub(super) struct Envelope<'a> {
    pub(super) api_version: String,
    pub(super) kind: String,
    pub(super) raw: &'a [u8],
    pub(super) content_encoding: String,
}

impl<'a> Envelope<'a> {
    pub(super) fn read(buf: &'a [u8]) -> Result<Self, Malformed> {
        let mut envelope = Envelope {
            api_version: String::new(),
            kind: String::new(),
            raw: &[],
            content_encoding: String::new(),
        };
        let mut c = Cursor::new(buf);
        while let Some((number, value)) = c.next_field()? {
            match (number, value) {
                (1, Wire::Len(type_meta)) => {
                    let mut t = Cursor::new(type_meta);
                    while let Some((n, v)) = t.next_field()? {
                        match (n, v) {
                            (1, Wire::Len(b)) => envelope.api_version = text(b),
                            (2, Wire::Len(b)) => envelope.kind = text(b),
                            (1 | 2, v) => return Err(wrong_wire(v).at("typeMeta")),
                            _ => {}
                        }
                    }
                }
                (2, Wire::Len(raw)) => envelope.raw = raw,
                (3, Wire::Len(b)) => envelope.content_encoding = text(b),
                (4, Wire::Len(_)) => {} // contentType: the outer one is what counts
                (1..=4, v) => return Err(wrong_wire(v)),
                _ => {}
            }
        }
        Ok(envelope)
    }
}

pub(super) fn wrong_wire(found: Wire<'_>) -> Malformed {
    Malformed::new(format!("unexpected wire type: found {}", found.kind()))
}

/// Protobuf strings as Go's JSON encoder writes them: invalid UTF-8 becomes U+FFFD.
pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
