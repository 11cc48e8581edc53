//! The compiled form of a schema, which requests are walked against: an arena of nodes
//! (so recursive types, like the JSONSchemaProps inside a CRD, need no boxes), compiled
//! once from OpenAPI JSON: from k8s-openapi's definitions for the built-in kinds, and
//! from a CRD version's `openAPIV3Schema` for custom resources.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::checks::Checks;

/// A node's place in its arena.
pub type Id = usize;

/// The shape of the values a node accepts.
#[derive(Debug)]
pub enum Kind {
    /// Any JSON value (RawExtension, FieldsV1, a CRD node with no type).
    Any,
    /// An object with declared fields: a Go struct, or a CRD object with `properties`.
    Struct(Fields),
    /// An object whose values all share one schema: a Go map, `additionalProperties`.
    Map(Id),
    Array(Id),
    String,
    /// Base64 text of bytes (`format: byte`, a Secret's data).
    Bytes,
    /// An integer; `bits` is 32 or 64 (0: unspecified, CRDs).
    Integer {
        bits: u8,
    },
    Number,
    Boolean,
    /// `x-kubernetes-int-or-string`.
    IntOrString,
    /// A `resource.Quantity`: a string or a number in its grammar.
    Quantity,
    /// One of several shapes, chosen by the JSON type of the value
    /// (JSONSchemaPropsOrBool, JSONSchemaPropsOrArray, ...).
    Either(Vec<Id>),
}

/// The declared fields of an object, in schema order.
#[derive(Debug, Default)]
pub struct Fields {
    index: HashMap<Box<str>, usize>,
    list: Vec<(Box<str>, Id)>,
}

impl Fields {
    /// The field's name (as the schema spells it) and node.
    pub fn get(&self, name: &str) -> Option<(&str, Id)> {
        self.index
            .get(name)
            .map(|&i| (&*self.list[i].0, self.list[i].1))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Id)> {
        self.list.iter().map(|(n, id)| (&**n, *id))
    }

    fn push(&mut self, name: &str, id: Id) {
        self.index.insert(name.into(), self.list.len());
        self.list.push((name.into(), id));
    }
}

/// One schema node.
#[derive(Debug)]
pub struct Node {
    pub kind: Kind,
    /// The Go type, for the typed decoder's messages (`v1.PodSpec`, `int32`,
    /// `[]string`); empty for CRD nodes.
    pub go: Box<str>,
    pub nullable: bool,
    /// `x-kubernetes-preserve-unknown-fields: true`.
    pub preserve_unknown: bool,
    /// `x-kubernetes-embedded-resource: true`: apiVersion, kind and metadata are
    /// implied.
    pub embedded: bool,
    pub default: Option<Value>,
    /// Value validations (CRDs only).
    pub checks: Option<Box<Checks>>,
}

impl Node {
    fn new(kind: Kind) -> Node {
        Node {
            kind,
            go: "".into(),
            nullable: false,
            preserve_unknown: false,
            embedded: false,
            default: None,
            checks: None,
        }
    }

    /// The OpenAPI type name of the values this node accepts, if it declares one.
    pub fn type_name(&self) -> Option<&'static str> {
        Some(match self.kind {
            Kind::Struct(_) | Kind::Map(_) => "object",
            Kind::Array(_) => "array",
            Kind::String | Kind::Bytes => "string",
            Kind::Integer { .. } => "integer",
            Kind::Number => "number",
            Kind::Boolean => "boolean",
            Kind::IntOrString => "integer,string",
            Kind::Quantity | Kind::Any | Kind::Either(_) => return None,
        })
    }
}

/// Nodes, addressed by `Id`.
#[derive(Debug, Default)]
pub struct Arena {
    nodes: Vec<Node>,
}

impl std::ops::Index<Id> for Arena {
    type Output = Node;
    fn index(&self, id: Id) -> &Node {
        &self.nodes[id]
    }
}

impl Arena {
    fn push(&mut self, node: Node) -> Id {
        self.nodes.push(node);
        self.nodes.len() - 1
    }
}

/// The `$ref` a schema stands for: `{"$ref": ...}` or `{"allOf": [{"$ref": ...}], ...}`
/// (how OpenAPI 3 gives a reference a description), as the definition's name.
pub fn reference(schema: &Value) -> Option<&str> {
    let target = match schema.get("allOf").and_then(Value::as_array) {
        Some(all) if all.len() == 1 => all[0].get("$ref"),
        _ => schema.get("$ref"),
    }?;
    target.as_str()?.rsplit('/').next()
}

/// `io.k8s.api.core.v1.PodSpec` → `v1.PodSpec`, as Go prints the type.
fn go_name(definition: &str) -> String {
    let mut parts = definition.rsplit('.');
    match (parts.next(), parts.next()) {
        (Some(name), Some(package)) => format!("{package}.{name}"),
        _ => definition.to_string(),
    }
}

/// Compiles the definitions of the built-in kinds (k8s-openapi's schemas).
pub struct BuiltinCompiler<'a> {
    definitions: &'a Map<String, Value>,
    arena: Arena,
    by_name: HashMap<String, Id>,
}

impl<'a> BuiltinCompiler<'a> {
    pub fn new(definitions: &'a Map<String, Value>) -> Self {
        BuiltinCompiler {
            definitions,
            arena: Arena::default(),
            by_name: HashMap::new(),
        }
    }

    /// The node of a definition, compiled on first use.
    pub fn definition(&mut self, name: &str) -> Id {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        // Reserve the slot first: the definition may refer to itself.
        let id = self.arena.push(Node::new(Kind::Any));
        self.by_name.insert(name.to_string(), id);
        let definitions = self.definitions;
        let mut node = match definitions.get(name) {
            Some(schema) => self.special(name).unwrap_or_else(|| self.inline(schema).0),
            None => Node::new(Kind::Any),
        };
        node.go = go_name(name).into();
        self.arena.nodes[id] = node;
        id
    }

    pub fn finish(self) -> (Arena, HashMap<String, Id>) {
        (self.arena, self.by_name)
    }

    /// Types whose JSON form their Go code decides, not their schema.
    fn special(&self, name: &str) -> Option<Node> {
        let kind = match name.rsplit('.').next().unwrap_or("") {
            "Quantity" => Kind::Quantity,
            "IntOrString" => Kind::IntOrString,
            "Time" | "MicroTime" => Kind::String,
            "RawExtension" | "FieldsV1" | "JSON" => Kind::Any,
            _ => return None,
        };
        Some(Node::new(kind))
    }

    /// A schema's node and Go type.
    fn node(&mut self, schema: &Value) -> (Id, String) {
        if let Some(name) = reference(schema) {
            return (self.definition(name), go_name(name));
        }
        let (node, go) = self.inline(schema);
        let mut node = node;
        node.go = go.as_str().into();
        (self.arena.push(node), go)
    }

    fn inline(&mut self, schema: &Value) -> (Node, String) {
        if let Some(alternatives) = schema.get("oneOf").and_then(Value::as_array) {
            let ids = alternatives.iter().map(|a| self.node(a).0).collect();
            return (Node::new(Kind::Either(ids)), "interface {}".into());
        }
        if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
            return (Node::new(Kind::IntOrString), "intstr.IntOrString".into());
        }
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        match schema.get("type").and_then(Value::as_str).unwrap_or("") {
            "object" => {
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    let mut fields = Fields::default();
                    for (name, prop) in props {
                        let (id, _) = self.node(prop);
                        fields.push(name, id);
                    }
                    (Node::new(Kind::Struct(fields)), "struct".into())
                } else if let Some(values) =
                    schema.get("additionalProperties").filter(|a| a.is_object())
                {
                    let (id, go) = self.node(values);
                    (Node::new(Kind::Map(id)), format!("map[string]{go}"))
                } else {
                    (Node::new(Kind::Struct(Fields::default())), "struct".into())
                }
            }
            "array" => {
                let (id, go) = match schema.get("items") {
                    Some(items) => self.node(items),
                    None => (self.arena.push(Node::new(Kind::Any)), "interface {}".into()),
                };
                (Node::new(Kind::Array(id)), format!("[]{go}"))
            }
            "string" if format == "byte" => (Node::new(Kind::Bytes), "[]uint8".into()),
            "string" => (Node::new(Kind::String), "string".into()),
            "integer" => {
                let bits = if format == "int32" { 32 } else { 64 };
                (Node::new(Kind::Integer { bits }), format!("int{bits}"))
            }
            "number" => (Node::new(Kind::Number), "float64".into()),
            "boolean" => (Node::new(Kind::Boolean), "bool".into()),
            _ => (Node::new(Kind::Any), "interface {}".into()),
        }
    }
}

/// Compiles a CRD version's `openAPIV3Schema` (a structural schema).
pub fn compile_crd(schema: &Value) -> (Arena, Id) {
    let mut arena = Arena::default();
    let root = crd_node(&mut arena, schema);
    (arena, root)
}

fn crd_node(arena: &mut Arena, schema: &Value) -> Id {
    let flag = |key: &str| schema.get(key) == Some(&Value::Bool(true));
    let kind = if flag("x-kubernetes-int-or-string") {
        Kind::IntOrString
    } else {
        match schema.get("type").and_then(Value::as_str).unwrap_or("") {
            "object" => crd_object(arena, schema),
            "array" => {
                let items = match schema.get("items") {
                    Some(items) if items.is_object() => crd_node(arena, items),
                    _ => arena.push(Node::new(Kind::Any)),
                };
                Kind::Array(items)
            }
            "string" => Kind::String,
            "integer" => Kind::Integer { bits: 0 },
            "number" => Kind::Number,
            "boolean" => Kind::Boolean,
            // No type: only value validations (inside allOf, anyOf, ...), or anything
            // under x-kubernetes-preserve-unknown-fields.
            _ if schema.get("properties").is_some() => crd_object(arena, schema),
            _ => Kind::Any,
        }
    };
    let mut node = Node::new(kind);
    node.nullable = flag("nullable");
    node.preserve_unknown = flag("x-kubernetes-preserve-unknown-fields");
    node.embedded = flag("x-kubernetes-embedded-resource");
    node.default = schema.get("default").cloned();
    node.checks = Checks::compile(schema, &mut |s| crd_node(arena, s)).map(Box::new);
    arena.push(node)
}

fn crd_object(arena: &mut Arena, schema: &Value) -> Kind {
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        let mut fields = Fields::default();
        for (name, prop) in props {
            let id = crd_node(arena, prop);
            fields.push(name, id);
        }
        return Kind::Struct(fields);
    }
    match schema.get("additionalProperties") {
        Some(values) if values.is_object() => Kind::Map(crd_node(arena, values)),
        Some(Value::Bool(true)) => Kind::Map(arena.push(Node::new(Kind::Any))),
        _ => Kind::Struct(Fields::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_resolve_with_or_without_all_of() {
        assert_eq!(
            reference(&json!({ "$ref": "#/components/schemas/a.b.C" })),
            Some("a.b.C")
        );
        assert_eq!(
            reference(
                &json!({ "allOf": [{ "$ref": "#/components/schemas/a.b.C" }], "description": "x" })
            ),
            Some("a.b.C")
        );
        assert_eq!(reference(&json!({ "type": "string" })), None);
    }

    #[test]
    fn crd_schemas_compile_to_structs_maps_and_lists() {
        let (arena, root) = compile_crd(&json!({
            "type": "object",
            "properties": {
                "spec": { "type": "object", "properties": {
                    "replicas": { "type": "integer", "minimum": 0 },
                    "tags": { "type": "array", "items": { "type": "string" } },
                    "labels": { "type": "object", "additionalProperties": { "type": "string" } },
                    "port": { "x-kubernetes-int-or-string": true },
                } },
                "status": { "type": "object", "x-kubernetes-preserve-unknown-fields": true },
            },
        }));
        let Kind::Struct(top) = &arena[root].kind else {
            panic!("root")
        };
        let (_, spec) = top.get("spec").unwrap_or_else(|| panic!("spec"));
        let Kind::Struct(spec) = &arena[spec].kind else {
            panic!("spec")
        };
        let kinds: Vec<&str> = spec
            .iter()
            .map(|(_, id)| match arena[id].kind {
                Kind::Integer { .. } => "int",
                Kind::Array(_) => "array",
                Kind::Map(_) => "map",
                Kind::IntOrString => "int-or-string",
                _ => "other",
            })
            .collect();
        assert_eq!(kinds, ["int", "array", "map", "int-or-string"]);
        let (_, status) = top.get("status").unwrap_or_else(|| panic!("status"));
        assert!(arena[status].preserve_unknown);
    }
}
