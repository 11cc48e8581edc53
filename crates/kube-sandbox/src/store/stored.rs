//! How the sandbox's store keeps one object: as compact JSON text, since a parsed
//! `serde_json::Value` (ordered maps, one allocation per key and string) takes about
//! fifteen times the memory, which at 100,000 objects is gigabytes. Readers parse
//! their own copy. The labels are kept apart (as text too) so that label and field
//! selectors are evaluated without parsing the whole object.

use serde_json::{Map, Value, json};

thread_local! {
    /// Where objects are written before their text gets its own allocation: growing a
    /// fresh buffer leaves a trail of freed ones behind, for every write.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// One stored object (never changed once made: a change stores a new one).
#[derive(Debug)]
pub struct Stored {
    /// With its capacity rounded up to a size class (see `capacity_for`).
    json: String,
    /// `metadata.labels` as JSON text, when the object has labels.
    labels: Option<Box<str>>,
    /// Whether `metadata.deletionTimestamp` is set.
    deleting: bool,
}

impl Stored {
    pub fn new(obj: &Value) -> Stored {
        Stored {
            json: text_of(obj),
            labels: labels_of(obj),
            deleting: obj.pointer("/metadata/deletionTimestamp").is_some(),
        }
    }

    /// Whether the object is being deleted (has a deletionTimestamp).
    pub fn deleting(&self) -> bool {
        self.deleting
    }

    /// The object, parsed (text this module wrote from a `Value` always parses back
    /// to an equal one: `Null` cannot happen).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }

    /// The object as compact JSON text.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// What selectors read of the object: `metadata.name`, `metadata.namespace` (empty
    /// when cluster-scoped, as `ns` is) and `metadata.labels`.
    pub fn selectable(&self, ns: &str, name: &str) -> Value {
        let mut metadata = Map::new();
        metadata.insert("name".into(), json!(name));
        if !ns.is_empty() {
            metadata.insert("namespace".into(), json!(ns));
        }
        if let Some(labels) = self.labels.as_deref() {
            metadata.insert("labels".into(), parse_labels(labels));
        }
        json!({ "metadata": metadata })
    }
}

/// The object as compact JSON, in an allocation of its size class.
fn text_of(obj: &Value) -> String {
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        // Writing a `Value` cannot fail (its keys are strings) and yields UTF-8.
        let _ = serde_json::to_writer(&mut *scratch, obj);
        let text = String::from_utf8_lossy(scratch);
        let mut json = String::with_capacity(capacity_for(text.len()));
        json.push_str(&text);
        json
    })
}

/// `metadata.labels` as JSON text, unless there are none.
fn labels_of(obj: &Value) -> Option<Box<str>> {
    obj.get("metadata")
        .and_then(|m| m.get("labels"))
        .filter(|l| l.as_object().is_some_and(|l| !l.is_empty()))
        .map(|l| l.to_string().into_boxed_str())
}

/// The allocation size for `len` bytes: rounded up to one of four steps per power of
/// two (at most a quarter more). Texts are freed as objects change; with few distinct
/// sizes the allocator reuses those holes whole instead of splitting them into
/// scattered pieces (lists over HTTP in `examples/sandbox_bench.rs` were a third
/// faster with it).
fn capacity_for(len: usize) -> usize {
    let step = (len.next_power_of_two() / 8).max(16);
    len.div_ceil(step) * step
}

/// Labels text this module wrote (a mapping of strings).
fn parse_labels(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_objects_and_what_selectors_read() {
        let obj = json!({ "kind": "ConfigMap", "metadata": { "name": "a", "namespace": "ns", "labels": { "app": "web" } }, "data": { "n": "1.50" }, "x": 1.5 });
        let stored = Stored::new(&obj);
        assert_eq!(stored.value(), obj);
        assert!(!stored.deleting());
        assert_eq!(
            stored.selectable("ns", "a"),
            json!({ "metadata": { "name": "a", "namespace": "ns", "labels": { "app": "web" } } })
        );
        for len in [0, 1, 100, 1000, 2400, 1 << 20] {
            assert!((len..=len + len / 4 + 16).contains(&capacity_for(len)));
        }
        let unlabelled = Stored::new(&json!({ "metadata": { "name": "n" } }));
        assert_eq!(
            unlabelled.selectable("", "n"),
            json!({ "metadata": { "name": "n" } })
        );
    }
}
