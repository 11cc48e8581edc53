//! Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), decoded
//! into the JSON form the rest of the sandbox works with.
//!
//! kubectl's typed generators (`kubectl create namespace`, `create configmap`,
//! `create deployment`, ...) send their objects in this encoding: the magic bytes
//! `k8s\0`, then a `runtime.Unknown` envelope holding `TypeMeta{apiVersion, kind}` and
//! the object's own message. This module owns that decoding and nothing else.
//!
//! The decoder is table driven: every supported message is a static list of rows
//! (field number, JSON name, type), written from the upstream `generated.proto` files
//! (`k8s.io/api` core/v1, apps/v1, batch/v1, rbac/v1, policy/v1, scheduling/v1,
//! networking/v1, autoscaling/v2; `k8s.io/apimachinery` meta/v1, runtime, resource,
//! intstr) and, for what JSON omits, from the Go types beside them. Rows are listed
//! in declaration order, which is also the order of the keys in the JSON produced.
//!
//! What JSON shows follows Go's encoder: value fields tagged `omitempty` are left out
//! when zero, pointer fields and fields without `omitempty` are kept when present, map
//! keys are sorted, bytes become base64, times RFC 3339 strings, quantities strings.
//! Empty nested objects are left out unless they are pointers (`emptyDir: {}` means
//! something). Fields the tables do not list (status, rarely used volume types, alpha
//! fields) are skipped by wire type, as protobuf readers do with unknown fields.
//!
//! The input comes from the network: nothing here panics, lengths are checked before
//! slicing, and nesting is bounded (`MAX_DEPTH`).

mod fields;
mod tables;
mod wire;

use serde_json::{Map, Value};

use super::status::ApiError;
use fields::decode_message;
use tables::KINDS;
use wire::Envelope;

/// The four bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

/// How deeply messages (and skipped groups) may nest.
const MAX_DEPTH: usize = 32;

/// The last second Go's RFC 3339 encoder can write: 9999-12-31T23:59:59Z.
const MAX_TIME_SECS: i64 = 253_402_300_799;

/// Decodes a Kubernetes protobuf request body (`k8s\0` magic + `runtime.Unknown`
/// envelope carrying `TypeMeta{apiVersion, kind}` and the raw message) into the object's
/// JSON form, as the API server's JSON for that object would look: `apiVersion` and
/// `kind` set, camelCase field names, Secret/ConfigMap binary data as base64 strings,
/// timestamps as RFC 3339 strings, absent and empty fields omitted.
///
/// Malformed input is a 400 `BadRequest`; a kind this module has no tables for is a
/// 415 `UnsupportedMediaType` that suggests sending JSON instead.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let Some(envelope) = body.strip_prefix(MAGIC) else {
        return Err(ApiError::bad_request(
            "the request body is not in Kubernetes protobuf encoding: it does not start with the bytes \"k8s\\x00\"",
        ));
    };
    let unknown = Envelope::read(envelope).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid protobuf envelope (runtime.Unknown){}",
            e.describe()
        ))
    })?;
    if unknown.api_version.is_empty() || unknown.kind.is_empty() {
        return Err(ApiError::bad_request(
            "the protobuf envelope names no apiVersion and kind",
        ));
    }
    if !unknown.content_encoding.is_empty() {
        return Err(ApiError::unsupported_media_type(&format!(
            "application/vnd.kubernetes.protobuf with content encoding {:?}, which the sandbox cannot decode; send the object as JSON instead, e.g. with kubectl apply -f or kubectl create -f",
            unknown.content_encoding
        )));
    }
    let (api_version, kind) = (unknown.api_version, unknown.kind);
    let Some(&(_, _, rows)) = KINDS
        .iter()
        .find(|(v, k, _)| *v == api_version && *k == kind)
    else {
        return Err(ApiError::unsupported_media_type(&format!(
            "application/vnd.kubernetes.protobuf for {api_version} {kind}, a kind the sandbox cannot decode from protobuf; send the object as JSON instead, e.g. with kubectl apply -f or kubectl create -f"
        )));
    };
    let mut fields = Map::new();
    decode_message(unknown.raw, rows, &mut fields, 1).map_err(|e| {
        ApiError::bad_request(format!(
            "invalid protobuf body for {api_version} {kind}{}",
            e.describe()
        ))
    })?;
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String(api_version));
    object.insert("kind".into(), Value::String(kind));
    object.extend(fields);
    Ok(Value::Object(object))
}
