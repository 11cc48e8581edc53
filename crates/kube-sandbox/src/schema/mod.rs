//! Schema validation, as the API server does it. Request bodies decode against their
//! kind's schema (k8s-openapi's for the built-in kinds, the CRD's for custom
//! resources) under the request's `fieldValidation`: `Strict` fails on unknown fields,
//! `Warn` (the default) drops them with a `Warning` each, `Ignore` drops them silently;
//! a value of the wrong type always fails. Custom resources are also pruned, defaulted
//! and held to their CRD's value validations (422). Server-side apply configurations
//! must be fully typed. The same schemas make the OpenAPI documents (`openapi`).

mod builtin;
mod checks;
mod crd;
mod decode;
mod errors;
mod gnostic;
mod node;
pub mod openapi;
mod prune;
mod quantity;
mod typed_patch;
mod validate;

use std::sync::Arc;

use serde_json::Value;

use super::catalog::{Catalog, ServedType};
use super::status::ApiError;
use super::store::Store;
use crd::CustomSchema;
use errors::go_quote;
use node::{Arena, Id};

/// What to do with fields the schema does not know (`fieldValidation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Directive {
    Strict,
    Warn,
    Ignore,
}

impl Directive {
    /// The request's `fieldValidation` (unset: `Warn`); `options` names the request's
    /// options kind (`CreateOptions`, `UpdateOptions`, `PatchOptions`) for the 422 of a
    /// value that is none of the three.
    pub fn parse(value: Option<&str>, options: &str) -> Result<Directive, ApiError> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(Directive::Warn),
            "Strict" => Ok(Directive::Strict),
            "Ignore" => Ok(Directive::Ignore),
            other => {
                let cause = errors::Cause::not_supported(
                    "fieldValidation",
                    go_quote(other),
                    &["", "Ignore", "Strict", "Warn"].map(Value::from),
                );
                Err(ApiError {
                    code: 422,
                    reason: "Invalid",
                    message: format!("{options}.meta.k8s.io \"\" is invalid: {cause}"),
                    details: Some(serde_json::json!({
                        "group": "meta.k8s.io", "kind": options,
                        "causes": [ { "reason": cause.reason, "message": cause.body, "field": cause.field } ],
                    })),
                })
            }
        }
    }
}

/// How a patch came to its result, which is how the server shows it in errors.
#[derive(Clone, Copy, Debug)]
pub enum Patch<'a> {
    /// A JSON or merge patch: the patched object is shown.
    Object,
    /// A strategic merge patch: the patch is shown (as a Go map).
    Strategic(&'a Value),
}

/// The schema the objects of one type are held to.
pub enum Schema {
    Builtin(Id),
    Custom(Arc<CustomSchema>),
}

impl Schema {
    /// The schema of `t`; `None` when there is none (kinds k8s-openapi lacks, CRDs
    /// without a schema): such objects are stored as sent.
    pub fn of(store: &Store, catalog: &Catalog, t: &ServedType) -> Option<Schema> {
        if t.custom {
            crd::lookup(store, catalog, t).map(Schema::Custom)
        } else {
            builtin::registry()
                .kind(&t.group, &t.version, &t.kind)
                .map(Schema::Builtin)
        }
    }

    fn arena(&self) -> (&Arena, Id) {
        match self {
            Schema::Builtin(id) => (&builtin::registry().arena, *id),
            Schema::Custom(c) => (&c.arena, c.root),
        }
    }

    /// Decodes `obj`: its unknown fields (dropped when `prune`), or the decoding error.
    fn decode(&self, obj: &mut Value, prune: bool) -> Result<Vec<String>, String> {
        let (arena, root) = self.arena();
        match self {
            Schema::Builtin(_) => decode::decode(arena, root, obj, prune),
            Schema::Custom(_) => prune::prune(arena, root, obj, prune),
        }
    }

    /// The body of a create or update: decoded (400 when it cannot be, or has unknown
    /// fields under `Strict`), pruned, and for custom resources defaulted and validated.
    pub fn admit(
        &self,
        t: &ServedType,
        obj: &mut Value,
        directive: Directive,
        warnings: &mut Vec<String>,
    ) -> Result<(), ApiError> {
        let unknown = self
            .decode(obj, true)
            .map_err(|e| errors::cannot_handle(t, obj, &e))?;
        if !unknown.is_empty() {
            match directive {
                Directive::Strict => {
                    return Err(errors::cannot_handle(t, obj, &errors::strict(&unknown)));
                }
                Directive::Warn => {
                    warnings.extend(unknown.iter().map(|p| errors::unknown_field(p)))
                }
                Directive::Ignore => {}
            }
        }
        self.validate(t, obj)
    }

    /// The result of a JSON, merge or strategic merge patch, as `admit` (but failures
    /// are 422s about the patch, as the server words them).
    pub fn admit_patched(
        &self,
        t: &ServedType,
        obj: &mut Value,
        patch: Patch<'_>,
        directive: Directive,
        warnings: &mut Vec<String>,
    ) -> Result<(), ApiError> {
        if let Patch::Strategic(_) = patch {
            drop_directives(obj);
        }
        let shown = |obj: &Value| match patch {
            Patch::Object => errors::sorted_json(obj),
            Patch::Strategic(p) => errors::go_map(p),
        };
        let unknown = self
            .decode(obj, false)
            .map_err(|e| errors::patch_invalid(&shown(obj), &e))?;
        if !unknown.is_empty() {
            match directive {
                Directive::Strict => {
                    return Err(errors::patch_invalid(
                        &shown(obj),
                        &errors::strict(&unknown),
                    ));
                }
                Directive::Warn => {
                    warnings.extend(unknown.iter().map(|p| errors::unknown_field(p)))
                }
                Directive::Ignore => {}
            }
            self.decode(obj, true)
                .map_err(|e| errors::patch_invalid(&shown(obj), &e))?;
        }
        self.validate(t, obj)
    }

    /// A server-side apply configuration: every field declared, every value of its
    /// field's shape (500 otherwise, as the server answers).
    pub fn check_apply(
        &self,
        t: &ServedType,
        ns: Option<&str>,
        config: &Value,
    ) -> Result<(), ApiError> {
        let (arena, root) = self.arena();
        let found = typed_patch::check(arena, root, config, true);
        if found.is_empty() {
            return Ok(());
        }
        let meta = |f: &str| {
            config
                .pointer(&format!("/metadata/{f}"))
                .and_then(Value::as_str)
        };
        Err(errors::typed_patch(
            t,
            meta("namespace").or(ns).unwrap_or(""),
            meta("name").unwrap_or(""),
            &found,
        ))
    }

    /// What an applied custom resource gets before it is stored: defaults, and its
    /// CRD's validations.
    pub fn complete(&self, t: &ServedType, obj: &mut Value) -> Result<(), ApiError> {
        if let Schema::Custom(_) = self {
            self.decode(obj, true)
                .map_err(|e| errors::cannot_handle(t, obj, &e))?;
        }
        self.validate(t, obj)
    }

    /// A custom resource's CRD validations (422 naming every violation).
    fn validate(&self, t: &ServedType, obj: &Value) -> Result<(), ApiError> {
        let Schema::Custom(c) = self else {
            return Ok(());
        };
        let causes = validate::validate(&c.arena, c.root, obj);
        if causes.is_empty() {
            return Ok(());
        }
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        Err(errors::invalid(t, name, &causes))
    }
}

/// Removes what a strategic merge patch leaves of its directives (`$patch`,
/// `$setElementOrder/...`): the server consumes them, they are never fields.
fn drop_directives(v: &mut Value) {
    match v {
        Value::Object(map) => {
            if map.keys().any(|k| k.starts_with('$')) {
                map.retain(|k, _| !k.starts_with('$'));
            }
            map.values_mut().for_each(drop_directives);
        }
        Value::Array(list) => list.iter_mut().for_each(drop_directives),
        _ => {}
    }
}

/// Warms the built-in schemas (they are otherwise built by the first request).
pub fn prepare() {
    builtin::registry();
}
