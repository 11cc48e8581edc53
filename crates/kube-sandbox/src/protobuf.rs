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

use serde_json::{Map, Value};

use super::status::ApiError;
use super::time::rfc3339;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

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

// ---------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------

/// One field of a message: (field number, JSON name, type).
type Row = (u32, &'static str, T);

/// How a field is read and shown. `…K` variants are kept in JSON even when zero or
/// empty (Go pointers, and value fields without `omitempty`); the others are left out
/// when zero, as `omitempty` does.
#[derive(Clone, Copy, Debug)]
enum T {
    Str,
    StrK,
    Bool,
    BoolK,
    /// int32: a varint, possibly ten bytes long for a negative number, truncated.
    I32,
    I32K,
    I64,
    I64K,
    /// repeated string
    Strs,
    /// repeated int32 (packed or not)
    I32s,
    /// repeated int64 (packed or not)
    I64s,
    /// map<string, string>
    StrMap,
    /// map<string, bytes>: values as base64
    BytesMap,
    /// map<string, resource.Quantity>: values as quantity strings
    QtyMap,
    /// A nested message, left out when it decodes to `{}`.
    Obj(&'static [Row]),
    /// A nested message behind a Go pointer: kept even when `{}`.
    ObjK(&'static [Row]),
    /// An embedded Go struct (`json:",inline"`): its fields join the parent's.
    Inline(&'static [Row]),
    /// repeated message
    List(&'static [Row]),
    /// meta/v1 Time {seconds = 1, nanos = 2}: RFC 3339, left out when zero.
    Time,
    /// intstr.IntOrString {type = 1, intVal = 2, strVal = 3}, left out when int 0.
    IntStr,
    IntStrK,
    /// resource.Quantity {string = 1}: the quantity string.
    Qty,
    /// meta/v1 FieldsV1 {Raw = 1}: the raw JSON it carries.
    FieldsV1,
}

use T::*;

/// The kinds `decode` knows: (apiVersion, kind, message).
const KINDS: &[(&str, &str, &[Row])] = &[
    ("v1", "Namespace", NAMESPACE),
    ("v1", "ConfigMap", CONFIG_MAP),
    ("v1", "Secret", SECRET),
    ("v1", "ServiceAccount", SERVICE_ACCOUNT),
    ("v1", "Service", SERVICE),
    ("v1", "ResourceQuota", RESOURCE_QUOTA),
    ("v1", "Pod", POD),
    ("apps/v1", "Deployment", DEPLOYMENT),
    ("batch/v1", "Job", JOB),
    ("batch/v1", "CronJob", CRON_JOB),
    ("rbac.authorization.k8s.io/v1", "Role", ROLE),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", CLUSTER_ROLE),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", ROLE_BINDING),
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRoleBinding",
        CLUSTER_ROLE_BINDING,
    ),
    ("policy/v1", "PodDisruptionBudget", POD_DISRUPTION_BUDGET),
    ("scheduling.k8s.io/v1", "PriorityClass", PRIORITY_CLASS),
    ("networking.k8s.io/v1", "Ingress", INGRESS),
    (
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        HORIZONTAL_POD_AUTOSCALER,
    ),
];

// --- k8s.io/apimachinery/pkg/apis/meta/v1 ---

const OBJECT_META: &[Row] = &[
    (1, "name", Str),
    (2, "generateName", Str),
    (3, "namespace", Str),
    (4, "selfLink", Str),
    (5, "uid", Str),
    (6, "resourceVersion", Str),
    (7, "generation", I64),
    (8, "creationTimestamp", Time),
    (9, "deletionTimestamp", Time),
    (10, "deletionGracePeriodSeconds", I64K),
    (11, "labels", StrMap),
    (12, "annotations", StrMap),
    (13, "ownerReferences", List(OWNER_REFERENCE)),
    (14, "finalizers", Strs),
    (17, "managedFields", List(MANAGED_FIELDS_ENTRY)),
];

const OWNER_REFERENCE: &[Row] = &[
    (5, "apiVersion", StrK),
    (1, "kind", StrK),
    (3, "name", StrK),
    (4, "uid", StrK),
    (6, "controller", BoolK),
    (7, "blockOwnerDeletion", BoolK),
];

const MANAGED_FIELDS_ENTRY: &[Row] = &[
    (1, "manager", Str),
    (2, "operation", Str),
    (3, "apiVersion", Str),
    (4, "time", Time),
    (6, "fieldsType", Str),
    (7, "fieldsV1", FieldsV1),
    (8, "subresource", Str),
];

const LABEL_SELECTOR: &[Row] = &[
    (1, "matchLabels", StrMap),
    (2, "matchExpressions", List(LABEL_SELECTOR_REQUIREMENT)),
];

const LABEL_SELECTOR_REQUIREMENT: &[Row] =
    &[(1, "key", StrK), (2, "operator", StrK), (3, "values", Strs)];

// --- k8s.io/api/core/v1: the kinds ---

const NAMESPACE: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(NAMESPACE_SPEC)),
];

const NAMESPACE_SPEC: &[Row] = &[(1, "finalizers", Strs)];

const CONFIG_MAP: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (4, "immutable", BoolK),
    (2, "data", StrMap),
    (3, "binaryData", BytesMap),
];

const SECRET: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (5, "immutable", BoolK),
    (2, "data", BytesMap),
    (4, "stringData", StrMap),
    (3, "type", Str),
];

const SERVICE_ACCOUNT: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "secrets", List(OBJECT_REFERENCE)),
    (3, "imagePullSecrets", List(LOCAL_OBJECT_REFERENCE)),
    (4, "automountServiceAccountToken", BoolK),
];

const OBJECT_REFERENCE: &[Row] = &[
    (1, "kind", Str),
    (2, "namespace", Str),
    (3, "name", Str),
    (4, "uid", Str),
    (5, "apiVersion", Str),
    (6, "resourceVersion", Str),
    (7, "fieldPath", Str),
];

const LOCAL_OBJECT_REFERENCE: &[Row] = &[(1, "name", Str)];

const TYPED_LOCAL_OBJECT_REFERENCE: &[Row] =
    &[(1, "apiGroup", StrK), (2, "kind", StrK), (3, "name", StrK)];

const SERVICE: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(SERVICE_SPEC)),
];

const SERVICE_SPEC: &[Row] = &[
    (1, "ports", List(SERVICE_PORT)),
    (2, "selector", StrMap),
    (3, "clusterIP", Str),
    (18, "clusterIPs", Strs),
    (4, "type", Str),
    (5, "externalIPs", Strs),
    (7, "sessionAffinity", Str),
    (8, "loadBalancerIP", Str),
    (9, "loadBalancerSourceRanges", Strs),
    (10, "externalName", Str),
    (11, "externalTrafficPolicy", Str),
    (12, "healthCheckNodePort", I32),
    (13, "publishNotReadyAddresses", Bool),
    (14, "sessionAffinityConfig", ObjK(SESSION_AFFINITY_CONFIG)),
    (19, "ipFamilies", Strs),
    (17, "ipFamilyPolicy", StrK),
    (20, "allocateLoadBalancerNodePorts", BoolK),
    (21, "loadBalancerClass", StrK),
    (22, "internalTrafficPolicy", StrK),
    (23, "trafficDistribution", StrK),
];

const SERVICE_PORT: &[Row] = &[
    (1, "name", Str),
    (2, "protocol", Str),
    (6, "appProtocol", StrK),
    (3, "port", I32K),
    (4, "targetPort", IntStr),
    (5, "nodePort", I32),
];

const SESSION_AFFINITY_CONFIG: &[Row] = &[(1, "clientIP", ObjK(CLIENT_IP_CONFIG))];

const CLIENT_IP_CONFIG: &[Row] = &[(1, "timeoutSeconds", I32K)];

const RESOURCE_QUOTA: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(RESOURCE_QUOTA_SPEC)),
];

const RESOURCE_QUOTA_SPEC: &[Row] = &[
    (1, "hard", QtyMap),
    (2, "scopes", Strs),
    (3, "scopeSelector", ObjK(SCOPE_SELECTOR)),
];

const SCOPE_SELECTOR: &[Row] = &[(
    1,
    "matchExpressions",
    List(SCOPED_RESOURCE_SELECTOR_REQUIREMENT),
)];

const SCOPED_RESOURCE_SELECTOR_REQUIREMENT: &[Row] = &[
    (1, "scopeName", StrK),
    (2, "operator", StrK),
    (3, "values", Strs),
];

const POD: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(POD_SPEC)),
];

// --- k8s.io/api/core/v1: pods ---

const POD_TEMPLATE_SPEC: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(POD_SPEC)),
];

const POD_SPEC: &[Row] = &[
    (1, "volumes", List(VOLUME)),
    (20, "initContainers", List(CONTAINER)),
    (2, "containers", List(CONTAINER)),
    (3, "restartPolicy", Str),
    (4, "terminationGracePeriodSeconds", I64K),
    (5, "activeDeadlineSeconds", I64K),
    (6, "dnsPolicy", Str),
    (7, "nodeSelector", StrMap),
    (8, "serviceAccountName", Str),
    (9, "serviceAccount", Str),
    (21, "automountServiceAccountToken", BoolK),
    (10, "nodeName", Str),
    (11, "hostNetwork", Bool),
    (12, "hostPID", Bool),
    (13, "hostIPC", Bool),
    (27, "shareProcessNamespace", BoolK),
    (14, "securityContext", ObjK(POD_SECURITY_CONTEXT)),
    (15, "imagePullSecrets", List(LOCAL_OBJECT_REFERENCE)),
    (16, "hostname", Str),
    (17, "subdomain", Str),
    (18, "affinity", ObjK(AFFINITY)),
    (19, "schedulerName", Str),
    (22, "tolerations", List(TOLERATION)),
    (23, "hostAliases", List(HOST_ALIAS)),
    (24, "priorityClassName", Str),
    (25, "priority", I32K),
    (26, "dnsConfig", ObjK(POD_DNS_CONFIG)),
    (28, "readinessGates", List(POD_READINESS_GATE)),
    (29, "runtimeClassName", StrK),
    (30, "enableServiceLinks", BoolK),
    (31, "preemptionPolicy", StrK),
    (32, "overhead", QtyMap),
    (
        33,
        "topologySpreadConstraints",
        List(TOPOLOGY_SPREAD_CONSTRAINT),
    ),
    (35, "setHostnameAsFQDN", BoolK),
    (36, "os", ObjK(POD_OS)),
    (37, "hostUsers", BoolK),
    (38, "schedulingGates", List(POD_SCHEDULING_GATE)),
    (39, "resourceClaims", List(POD_RESOURCE_CLAIM)),
    (40, "resources", ObjK(RESOURCE_REQUIREMENTS)),
    (41, "hostnameOverride", StrK),
];

const CONTAINER: &[Row] = &[
    (1, "name", StrK),
    (2, "image", Str),
    (3, "command", Strs),
    (4, "args", Strs),
    (5, "workingDir", Str),
    (6, "ports", List(CONTAINER_PORT)),
    (19, "envFrom", List(ENV_FROM_SOURCE)),
    (7, "env", List(ENV_VAR)),
    (8, "resources", Obj(RESOURCE_REQUIREMENTS)),
    (23, "resizePolicy", List(CONTAINER_RESIZE_POLICY)),
    (24, "restartPolicy", StrK),
    (25, "restartPolicyRules", List(CONTAINER_RESTART_RULE)),
    (9, "volumeMounts", List(VOLUME_MOUNT)),
    (21, "volumeDevices", List(VOLUME_DEVICE)),
    (10, "livenessProbe", ObjK(PROBE)),
    (11, "readinessProbe", ObjK(PROBE)),
    (22, "startupProbe", ObjK(PROBE)),
    (12, "lifecycle", ObjK(LIFECYCLE)),
    (13, "terminationMessagePath", Str),
    (20, "terminationMessagePolicy", Str),
    (14, "imagePullPolicy", Str),
    (15, "securityContext", ObjK(SECURITY_CONTEXT)),
    (16, "stdin", Bool),
    (17, "stdinOnce", Bool),
    (18, "tty", Bool),
];

const CONTAINER_PORT: &[Row] = &[
    (1, "name", Str),
    (2, "hostPort", I32),
    (3, "containerPort", I32K),
    (4, "protocol", Str),
    (5, "hostIP", Str),
];

const ENV_FROM_SOURCE: &[Row] = &[
    (1, "prefix", Str),
    (2, "configMapRef", ObjK(CONFIG_MAP_ENV_SOURCE)),
    (3, "secretRef", ObjK(SECRET_ENV_SOURCE)),
];

const CONFIG_MAP_ENV_SOURCE: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "optional", BoolK),
];

const SECRET_ENV_SOURCE: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "optional", BoolK),
];

const ENV_VAR: &[Row] = &[
    (1, "name", StrK),
    (2, "value", Str),
    (3, "valueFrom", ObjK(ENV_VAR_SOURCE)),
];

const ENV_VAR_SOURCE: &[Row] = &[
    (1, "fieldRef", ObjK(OBJECT_FIELD_SELECTOR)),
    (2, "resourceFieldRef", ObjK(RESOURCE_FIELD_SELECTOR)),
    (3, "configMapKeyRef", ObjK(CONFIG_MAP_KEY_SELECTOR)),
    (4, "secretKeyRef", ObjK(SECRET_KEY_SELECTOR)),
    (5, "fileKeyRef", ObjK(FILE_KEY_SELECTOR)),
];

const OBJECT_FIELD_SELECTOR: &[Row] = &[(1, "apiVersion", Str), (2, "fieldPath", StrK)];

const RESOURCE_FIELD_SELECTOR: &[Row] = &[
    (1, "containerName", Str),
    (2, "resource", StrK),
    (3, "divisor", Qty),
];

const CONFIG_MAP_KEY_SELECTOR: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "key", StrK),
    (3, "optional", BoolK),
];

const SECRET_KEY_SELECTOR: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "key", StrK),
    (3, "optional", BoolK),
];

const FILE_KEY_SELECTOR: &[Row] = &[
    (1, "volumeName", StrK),
    (2, "path", StrK),
    (3, "key", StrK),
    (4, "optional", BoolK),
];

const RESOURCE_REQUIREMENTS: &[Row] = &[
    (1, "limits", QtyMap),
    (2, "requests", QtyMap),
    (3, "claims", List(RESOURCE_CLAIM)),
];

const RESOURCE_CLAIM: &[Row] = &[(1, "name", StrK), (2, "request", Str)];

const CONTAINER_RESIZE_POLICY: &[Row] = &[(1, "resourceName", StrK), (2, "restartPolicy", StrK)];

const CONTAINER_RESTART_RULE: &[Row] = &[
    (1, "action", Str),
    (2, "exitCodes", ObjK(CONTAINER_RESTART_RULE_ON_EXIT_CODES)),
];

const CONTAINER_RESTART_RULE_ON_EXIT_CODES: &[Row] = &[(1, "operator", Str), (2, "values", I32s)];

const VOLUME_MOUNT: &[Row] = &[
    (1, "name", StrK),
    (2, "readOnly", Bool),
    (7, "recursiveReadOnly", StrK),
    (3, "mountPath", StrK),
    (4, "subPath", Str),
    (5, "mountPropagation", StrK),
    (6, "subPathExpr", Str),
    (8, "bindMountOptions", Strs),
];

const VOLUME_DEVICE: &[Row] = &[(1, "name", StrK), (2, "devicePath", StrK)];

const PROBE: &[Row] = &[
    (1, "", Inline(PROBE_HANDLER)),
    (2, "initialDelaySeconds", I32),
    (3, "timeoutSeconds", I32),
    (4, "periodSeconds", I32),
    (5, "successThreshold", I32),
    (6, "failureThreshold", I32),
    (7, "terminationGracePeriodSeconds", I64K),
];

const PROBE_HANDLER: &[Row] = &[
    (1, "exec", ObjK(EXEC_ACTION)),
    (2, "httpGet", ObjK(HTTP_GET_ACTION)),
    (3, "tcpSocket", ObjK(TCP_SOCKET_ACTION)),
    (4, "grpc", ObjK(GRPC_ACTION)),
];

const LIFECYCLE: &[Row] = &[
    (1, "postStart", ObjK(LIFECYCLE_HANDLER)),
    (2, "preStop", ObjK(LIFECYCLE_HANDLER)),
    (3, "stopSignal", StrK),
];

const LIFECYCLE_HANDLER: &[Row] = &[
    (1, "exec", ObjK(EXEC_ACTION)),
    (2, "httpGet", ObjK(HTTP_GET_ACTION)),
    (3, "tcpSocket", ObjK(TCP_SOCKET_ACTION)),
    (4, "sleep", ObjK(SLEEP_ACTION)),
];

const EXEC_ACTION: &[Row] = &[(1, "command", Strs)];

const HTTP_GET_ACTION: &[Row] = &[
    (1, "path", Str),
    (2, "port", IntStrK),
    (3, "host", Str),
    (4, "scheme", Str),
    (5, "httpHeaders", List(HTTP_HEADER)),
    (6, "protocol", StrK),
];

const HTTP_HEADER: &[Row] = &[(1, "name", StrK), (2, "value", StrK)];

const TCP_SOCKET_ACTION: &[Row] = &[(1, "port", IntStrK), (2, "host", Str)];

const GRPC_ACTION: &[Row] = &[(1, "port", I32K), (2, "service", StrK), (3, "mode", StrK)];

const SLEEP_ACTION: &[Row] = &[(1, "seconds", I64K)];

const SECURITY_CONTEXT: &[Row] = &[
    (1, "capabilities", ObjK(CAPABILITIES)),
    (2, "privileged", BoolK),
    (3, "seLinuxOptions", ObjK(SE_LINUX_OPTIONS)),
    (10, "windowsOptions", ObjK(WINDOWS_SECURITY_CONTEXT_OPTIONS)),
    (4, "runAsUser", I64K),
    (8, "runAsGroup", I64K),
    (5, "runAsNonRoot", BoolK),
    (6, "readOnlyRootFilesystem", BoolK),
    (7, "allowPrivilegeEscalation", BoolK),
    (9, "procMount", StrK),
    (11, "seccompProfile", ObjK(SECCOMP_PROFILE)),
    (12, "appArmorProfile", ObjK(APP_ARMOR_PROFILE)),
];

const CAPABILITIES: &[Row] = &[(1, "add", Strs), (2, "drop", Strs)];

const SE_LINUX_OPTIONS: &[Row] = &[
    (1, "user", Str),
    (2, "role", Str),
    (3, "type", Str),
    (4, "level", Str),
];

const WINDOWS_SECURITY_CONTEXT_OPTIONS: &[Row] = &[
    (1, "gmsaCredentialSpecName", StrK),
    (2, "gmsaCredentialSpec", StrK),
    (3, "runAsUserName", StrK),
    (4, "hostProcess", BoolK),
];

const SECCOMP_PROFILE: &[Row] = &[(1, "type", StrK), (2, "localhostProfile", StrK)];

const APP_ARMOR_PROFILE: &[Row] = &[(1, "type", StrK), (2, "localhostProfile", StrK)];

const POD_SECURITY_CONTEXT: &[Row] = &[
    (1, "seLinuxOptions", ObjK(SE_LINUX_OPTIONS)),
    (8, "windowsOptions", ObjK(WINDOWS_SECURITY_CONTEXT_OPTIONS)),
    (2, "runAsUser", I64K),
    (6, "runAsGroup", I64K),
    (3, "runAsNonRoot", BoolK),
    (4, "supplementalGroups", I64s),
    (12, "supplementalGroupsPolicy", StrK),
    (5, "fsGroup", I64K),
    (7, "sysctls", List(SYSCTL)),
    (9, "fsGroupChangePolicy", StrK),
    (10, "seccompProfile", ObjK(SECCOMP_PROFILE)),
    (11, "appArmorProfile", ObjK(APP_ARMOR_PROFILE)),
    (13, "seLinuxChangePolicy", StrK),
];

const SYSCTL: &[Row] = &[(1, "name", StrK), (2, "value", StrK)];

const VOLUME: &[Row] = &[(1, "name", StrK), (2, "", Inline(VOLUME_SOURCE))];

/// The common volume types; cloud-provider and other rarely used ones are skipped.
const VOLUME_SOURCE: &[Row] = &[
    (1, "hostPath", ObjK(HOST_PATH_VOLUME_SOURCE)),
    (2, "emptyDir", ObjK(EMPTY_DIR_VOLUME_SOURCE)),
    (6, "secret", ObjK(SECRET_VOLUME_SOURCE)),
    (7, "nfs", ObjK(NFS_VOLUME_SOURCE)),
    (
        10,
        "persistentVolumeClaim",
        ObjK(PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE),
    ),
    (16, "downwardAPI", ObjK(DOWNWARD_API_VOLUME_SOURCE)),
    (19, "configMap", ObjK(CONFIG_MAP_VOLUME_SOURCE)),
    (26, "projected", ObjK(PROJECTED_VOLUME_SOURCE)),
    (28, "csi", ObjK(CSI_VOLUME_SOURCE)),
    (30, "image", ObjK(IMAGE_VOLUME_SOURCE)),
];

const HOST_PATH_VOLUME_SOURCE: &[Row] = &[(1, "path", StrK), (2, "type", StrK)];

const EMPTY_DIR_VOLUME_SOURCE: &[Row] =
    &[(1, "medium", Str), (2, "sizeLimit", Qty), (3, "mode", I32K)];

const SECRET_VOLUME_SOURCE: &[Row] = &[
    (1, "secretName", Str),
    (2, "items", List(KEY_TO_PATH)),
    (3, "defaultMode", I32K),
    (4, "optional", BoolK),
    (5, "defaultUser", I64K),
];

const KEY_TO_PATH: &[Row] = &[
    (1, "key", StrK),
    (2, "path", StrK),
    (3, "mode", I32K),
    (4, "user", I64K),
];

const NFS_VOLUME_SOURCE: &[Row] = &[
    (1, "server", StrK),
    (2, "path", StrK),
    (3, "readOnly", Bool),
];

const PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: &[Row] =
    &[(1, "claimName", StrK), (2, "readOnly", Bool)];

const DOWNWARD_API_VOLUME_SOURCE: &[Row] = &[
    (1, "items", List(DOWNWARD_API_VOLUME_FILE)),
    (2, "defaultMode", I32K),
    (3, "defaultUser", I64K),
];

const DOWNWARD_API_VOLUME_FILE: &[Row] = &[
    (1, "path", StrK),
    (2, "fieldRef", ObjK(OBJECT_FIELD_SELECTOR)),
    (3, "resourceFieldRef", ObjK(RESOURCE_FIELD_SELECTOR)),
    (4, "mode", I32K),
    (5, "user", I64K),
];

const CONFIG_MAP_VOLUME_SOURCE: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "items", List(KEY_TO_PATH)),
    (3, "defaultMode", I32K),
    (4, "optional", BoolK),
    (5, "defaultUser", I64K),
];

const PROJECTED_VOLUME_SOURCE: &[Row] = &[
    (1, "sources", List(VOLUME_PROJECTION)),
    (2, "defaultMode", I32K),
    (3, "defaultUser", I64K),
];

/// The common projections; cluster trust bundles and pod certificates are skipped.
const VOLUME_PROJECTION: &[Row] = &[
    (1, "secret", ObjK(SECRET_PROJECTION)),
    (2, "downwardAPI", ObjK(DOWNWARD_API_PROJECTION)),
    (3, "configMap", ObjK(CONFIG_MAP_PROJECTION)),
    (
        4,
        "serviceAccountToken",
        ObjK(SERVICE_ACCOUNT_TOKEN_PROJECTION),
    ),
];

const SECRET_PROJECTION: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "items", List(KEY_TO_PATH)),
    (4, "optional", BoolK),
];

const DOWNWARD_API_PROJECTION: &[Row] = &[(1, "items", List(DOWNWARD_API_VOLUME_FILE))];

const CONFIG_MAP_PROJECTION: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "items", List(KEY_TO_PATH)),
    (4, "optional", BoolK),
];

const SERVICE_ACCOUNT_TOKEN_PROJECTION: &[Row] = &[
    (1, "audience", Str),
    (2, "expirationSeconds", I64K),
    (3, "path", StrK),
    (4, "user", I64K),
];

const CSI_VOLUME_SOURCE: &[Row] = &[
    (1, "driver", StrK),
    (2, "readOnly", BoolK),
    (3, "fsType", StrK),
    (4, "volumeAttributes", StrMap),
    (5, "nodePublishSecretRef", ObjK(LOCAL_OBJECT_REFERENCE)),
];

const IMAGE_VOLUME_SOURCE: &[Row] = &[(1, "reference", Str), (2, "pullPolicy", Str)];

const TOLERATION: &[Row] = &[
    (1, "key", Str),
    (2, "operator", Str),
    (3, "value", Str),
    (4, "effect", Str),
    (5, "tolerationSeconds", I64K),
];

const HOST_ALIAS: &[Row] = &[(1, "ip", StrK), (2, "hostnames", Strs)];

const POD_DNS_CONFIG: &[Row] = &[
    (1, "nameservers", Strs),
    (2, "searches", Strs),
    (3, "options", List(POD_DNS_CONFIG_OPTION)),
];

const POD_DNS_CONFIG_OPTION: &[Row] = &[(1, "name", Str), (2, "value", StrK)];

const POD_READINESS_GATE: &[Row] = &[(1, "conditionType", StrK)];

const POD_OS: &[Row] = &[(1, "name", StrK)];

const POD_SCHEDULING_GATE: &[Row] = &[(1, "name", StrK)];

const POD_RESOURCE_CLAIM: &[Row] = &[
    (1, "name", StrK),
    (3, "resourceClaimName", StrK),
    (4, "resourceClaimTemplateName", StrK),
];

const AFFINITY: &[Row] = &[
    (1, "nodeAffinity", ObjK(NODE_AFFINITY)),
    (2, "podAffinity", ObjK(POD_AFFINITY)),
    (3, "podAntiAffinity", ObjK(POD_ANTI_AFFINITY)),
];

const NODE_AFFINITY: &[Row] = &[
    (
        1,
        "requiredDuringSchedulingIgnoredDuringExecution",
        ObjK(NODE_SELECTOR),
    ),
    (
        2,
        "preferredDuringSchedulingIgnoredDuringExecution",
        List(PREFERRED_SCHEDULING_TERM),
    ),
];

const NODE_SELECTOR: &[Row] = &[(1, "nodeSelectorTerms", List(NODE_SELECTOR_TERM))];

const NODE_SELECTOR_TERM: &[Row] = &[
    (1, "matchExpressions", List(NODE_SELECTOR_REQUIREMENT)),
    (2, "matchFields", List(NODE_SELECTOR_REQUIREMENT)),
];

const NODE_SELECTOR_REQUIREMENT: &[Row] =
    &[(1, "key", StrK), (2, "operator", StrK), (3, "values", Strs)];

const PREFERRED_SCHEDULING_TERM: &[Row] = &[
    (1, "weight", I32K),
    (2, "preference", Obj(NODE_SELECTOR_TERM)),
];

const POD_AFFINITY: &[Row] = &[
    (
        1,
        "requiredDuringSchedulingIgnoredDuringExecution",
        List(POD_AFFINITY_TERM),
    ),
    (
        2,
        "preferredDuringSchedulingIgnoredDuringExecution",
        List(WEIGHTED_POD_AFFINITY_TERM),
    ),
];

const POD_ANTI_AFFINITY: &[Row] = POD_AFFINITY;

const POD_AFFINITY_TERM: &[Row] = &[
    (1, "labelSelector", ObjK(LABEL_SELECTOR)),
    (2, "namespaces", Strs),
    (3, "topologyKey", StrK),
    (4, "namespaceSelector", ObjK(LABEL_SELECTOR)),
    (5, "matchLabelKeys", Strs),
    (6, "mismatchLabelKeys", Strs),
];

const WEIGHTED_POD_AFFINITY_TERM: &[Row] = &[
    (1, "weight", I32K),
    (2, "podAffinityTerm", Obj(POD_AFFINITY_TERM)),
];

const TOPOLOGY_SPREAD_CONSTRAINT: &[Row] = &[
    (1, "maxSkew", I32K),
    (2, "topologyKey", StrK),
    (3, "whenUnsatisfiable", StrK),
    (4, "labelSelector", ObjK(LABEL_SELECTOR)),
    (5, "minDomains", I32K),
    (6, "nodeAffinityPolicy", StrK),
    (7, "nodeTaintsPolicy", StrK),
    (8, "matchLabelKeys", Strs),
];

// --- k8s.io/api/apps/v1 ---

const DEPLOYMENT: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(DEPLOYMENT_SPEC)),
];

const DEPLOYMENT_SPEC: &[Row] = &[
    (1, "replicas", I32K),
    (2, "selector", ObjK(LABEL_SELECTOR)),
    (3, "template", Obj(POD_TEMPLATE_SPEC)),
    (4, "strategy", Obj(DEPLOYMENT_STRATEGY)),
    (5, "minReadySeconds", I32),
    (6, "revisionHistoryLimit", I32K),
    (7, "paused", Bool),
    (9, "progressDeadlineSeconds", I32K),
];

const DEPLOYMENT_STRATEGY: &[Row] = &[
    (1, "type", Str),
    (2, "rollingUpdate", ObjK(ROLLING_UPDATE_DEPLOYMENT)),
];

const ROLLING_UPDATE_DEPLOYMENT: &[Row] =
    &[(1, "maxUnavailable", IntStrK), (2, "maxSurge", IntStrK)];

// --- k8s.io/api/batch/v1 ---

const JOB: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(JOB_SPEC)),
];

const JOB_SPEC: &[Row] = &[
    (1, "parallelism", I32K),
    (2, "completions", I32K),
    (3, "activeDeadlineSeconds", I64K),
    (11, "podFailurePolicy", ObjK(POD_FAILURE_POLICY)),
    (16, "successPolicy", ObjK(SUCCESS_POLICY)),
    (7, "backoffLimit", I32K),
    (12, "backoffLimitPerIndex", I32K),
    (13, "maxFailedIndexes", I32K),
    (4, "selector", ObjK(LABEL_SELECTOR)),
    (5, "manualSelector", BoolK),
    (6, "template", Obj(POD_TEMPLATE_SPEC)),
    (8, "ttlSecondsAfterFinished", I32K),
    (9, "completionMode", StrK),
    (10, "suspend", BoolK),
    (14, "podReplacementPolicy", StrK),
    (15, "managedBy", StrK),
];

const POD_FAILURE_POLICY: &[Row] = &[(1, "rules", List(POD_FAILURE_POLICY_RULE))];

const POD_FAILURE_POLICY_RULE: &[Row] = &[
    (1, "action", StrK),
    (
        2,
        "onExitCodes",
        ObjK(POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT),
    ),
    (
        3,
        "onPodConditions",
        List(POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN),
    ),
];

const POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT: &[Row] = &[
    (1, "containerName", StrK),
    (2, "operator", StrK),
    (3, "values", I32s),
];

const POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN: &[Row] =
    &[(1, "type", StrK), (2, "status", StrK)];

const SUCCESS_POLICY: &[Row] = &[(1, "rules", List(SUCCESS_POLICY_RULE))];

const SUCCESS_POLICY_RULE: &[Row] = &[(1, "succeededIndexes", StrK), (2, "succeededCount", I32K)];

const CRON_JOB: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(CRON_JOB_SPEC)),
];

const CRON_JOB_SPEC: &[Row] = &[
    (1, "schedule", StrK),
    (8, "timeZone", StrK),
    (2, "startingDeadlineSeconds", I64K),
    (3, "concurrencyPolicy", Str),
    (4, "suspend", BoolK),
    (5, "jobTemplate", Obj(JOB_TEMPLATE_SPEC)),
    (6, "successfulJobsHistoryLimit", I32K),
    (7, "failedJobsHistoryLimit", I32K),
];

const JOB_TEMPLATE_SPEC: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(JOB_SPEC)),
];

// --- k8s.io/api/rbac/v1 ---

const ROLE: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "rules", List(POLICY_RULE)),
];

const CLUSTER_ROLE: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "rules", List(POLICY_RULE)),
    (3, "aggregationRule", ObjK(AGGREGATION_RULE)),
];

const POLICY_RULE: &[Row] = &[
    (1, "verbs", Strs),
    (2, "apiGroups", Strs),
    (3, "resources", Strs),
    (4, "resourceNames", Strs),
    (5, "nonResourceURLs", Strs),
];

const AGGREGATION_RULE: &[Row] = &[(1, "clusterRoleSelectors", List(LABEL_SELECTOR))];

const ROLE_BINDING: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "subjects", List(SUBJECT)),
    (3, "roleRef", Obj(ROLE_REF)),
];

const CLUSTER_ROLE_BINDING: &[Row] = ROLE_BINDING;

const SUBJECT: &[Row] = &[
    (1, "kind", StrK),
    (2, "apiGroup", Str),
    (3, "name", StrK),
    (4, "namespace", Str),
];

const ROLE_REF: &[Row] = &[(1, "apiGroup", StrK), (2, "kind", StrK), (3, "name", StrK)];

// --- k8s.io/api/policy/v1, scheduling/v1 ---

const POD_DISRUPTION_BUDGET: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(POD_DISRUPTION_BUDGET_SPEC)),
];

const POD_DISRUPTION_BUDGET_SPEC: &[Row] = &[
    (1, "minAvailable", IntStrK),
    (2, "selector", ObjK(LABEL_SELECTOR)),
    (3, "maxUnavailable", IntStrK),
    (4, "unhealthyPodEvictionPolicy", StrK),
];

const PRIORITY_CLASS: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "value", I32K),
    (3, "globalDefault", Bool),
    (4, "description", Str),
    (5, "preemptionPolicy", StrK),
];

// --- k8s.io/api/networking/v1 ---

const INGRESS: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(INGRESS_SPEC)),
];

const INGRESS_SPEC: &[Row] = &[
    (4, "ingressClassName", StrK),
    (1, "defaultBackend", ObjK(INGRESS_BACKEND)),
    (2, "tls", List(INGRESS_TLS)),
    (3, "rules", List(INGRESS_RULE)),
];

const INGRESS_BACKEND: &[Row] = &[
    (4, "service", ObjK(INGRESS_SERVICE_BACKEND)),
    (3, "resource", ObjK(TYPED_LOCAL_OBJECT_REFERENCE)),
];

const INGRESS_SERVICE_BACKEND: &[Row] =
    &[(1, "name", StrK), (2, "port", Obj(SERVICE_BACKEND_PORT))];

const SERVICE_BACKEND_PORT: &[Row] = &[(1, "name", Str), (2, "number", I32)];

const INGRESS_TLS: &[Row] = &[(1, "hosts", Strs), (2, "secretName", Str)];

const INGRESS_RULE: &[Row] = &[(1, "host", Str), (2, "", Inline(INGRESS_RULE_VALUE))];

const INGRESS_RULE_VALUE: &[Row] = &[(1, "http", ObjK(HTTP_INGRESS_RULE_VALUE))];

const HTTP_INGRESS_RULE_VALUE: &[Row] = &[(1, "paths", List(HTTP_INGRESS_PATH))];

const HTTP_INGRESS_PATH: &[Row] = &[
    (1, "path", Str),
    (3, "pathType", StrK),
    (2, "backend", Obj(INGRESS_BACKEND)),
];

// --- k8s.io/api/autoscaling/v2 ---

const HORIZONTAL_POD_AUTOSCALER: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(HORIZONTAL_POD_AUTOSCALER_SPEC)),
];

const HORIZONTAL_POD_AUTOSCALER_SPEC: &[Row] = &[
    (1, "scaleTargetRef", Obj(CROSS_VERSION_OBJECT_REFERENCE)),
    (2, "minReplicas", I32K),
    (3, "maxReplicas", I32K),
    (4, "metrics", List(METRIC_SPEC)),
    (5, "behavior", ObjK(HORIZONTAL_POD_AUTOSCALER_BEHAVIOR)),
];

const CROSS_VERSION_OBJECT_REFERENCE: &[Row] =
    &[(1, "kind", StrK), (2, "name", StrK), (3, "apiVersion", Str)];

const METRIC_SPEC: &[Row] = &[
    (1, "type", StrK),
    (2, "object", ObjK(OBJECT_METRIC_SOURCE)),
    (3, "pods", ObjK(PODS_METRIC_SOURCE)),
    (4, "resource", ObjK(RESOURCE_METRIC_SOURCE)),
    (
        7,
        "containerResource",
        ObjK(CONTAINER_RESOURCE_METRIC_SOURCE),
    ),
    (5, "external", ObjK(EXTERNAL_METRIC_SOURCE)),
];

const OBJECT_METRIC_SOURCE: &[Row] = &[
    (1, "describedObject", Obj(CROSS_VERSION_OBJECT_REFERENCE)),
    (2, "target", Obj(METRIC_TARGET)),
    (3, "metric", Obj(METRIC_IDENTIFIER)),
];

const PODS_METRIC_SOURCE: &[Row] = &[
    (1, "metric", Obj(METRIC_IDENTIFIER)),
    (2, "target", Obj(METRIC_TARGET)),
];

const RESOURCE_METRIC_SOURCE: &[Row] = &[(1, "name", StrK), (2, "target", Obj(METRIC_TARGET))];

const CONTAINER_RESOURCE_METRIC_SOURCE: &[Row] = &[
    (1, "name", StrK),
    (2, "target", Obj(METRIC_TARGET)),
    (3, "container", StrK),
];

const EXTERNAL_METRIC_SOURCE: &[Row] = &[
    (1, "metric", Obj(METRIC_IDENTIFIER)),
    (2, "target", Obj(METRIC_TARGET)),
];

const METRIC_IDENTIFIER: &[Row] = &[(1, "name", StrK), (2, "selector", ObjK(LABEL_SELECTOR))];

const METRIC_TARGET: &[Row] = &[
    (1, "type", StrK),
    (2, "value", Qty),
    (3, "averageValue", Qty),
    (4, "averageUtilization", I32K),
];

const HORIZONTAL_POD_AUTOSCALER_BEHAVIOR: &[Row] = &[
    (1, "scaleUp", ObjK(HPA_SCALING_RULES)),
    (2, "scaleDown", ObjK(HPA_SCALING_RULES)),
];

const HPA_SCALING_RULES: &[Row] = &[
    (3, "stabilizationWindowSeconds", I32K),
    (1, "selectPolicy", StrK),
    (2, "policies", List(HPA_SCALING_POLICY)),
    (4, "tolerance", Qty),
];

const HPA_SCALING_POLICY: &[Row] = &[
    (1, "type", StrK),
    (2, "value", I32K),
    (3, "periodSeconds", I32K),
];

// ---------------------------------------------------------------------------------
// Wire format
// ---------------------------------------------------------------------------------

/// What went wrong, and where (JSON field names, innermost first).
#[derive(Debug)]
struct Malformed {
    message: String,
    path: Vec<&'static str>,
}

impl Malformed {
    fn new(message: impl Into<String>) -> Self {
        Malformed {
            message: message.into(),
            path: Vec::new(),
        }
    }

    fn at(mut self, name: &'static str) -> Self {
        if !name.is_empty() {
            self.path.push(name);
        }
        self
    }

    /// ` at spec.template: message`, or `: message` at the top.
    fn describe(&self) -> String {
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
enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    /// fixed32, fixed64 or a group: read past, never used by Kubernetes.
    Other,
}

impl Wire<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Wire::Varint(_) => "a varint",
            Wire::Len(_) => "length-delimited",
            Wire::Other => "a fixed-width or group value",
        }
    }
}

/// Reads a message's bytes one field at a time.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn byte(&mut self) -> Result<u8, Malformed> {
        let b = self
            .buf
            .get(self.pos)
            .copied()
            .ok_or_else(|| Malformed::new("truncated: the message ends inside a varint"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, Malformed> {
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

    fn take(&mut self, n: u64) -> Result<&'a [u8], Malformed> {
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
    fn tag(&mut self) -> Result<(u32, u8), Malformed> {
        let key = self.varint()?;
        let wire = (key & 7) as u8;
        let number = u32::try_from(key >> 3)
            .ok()
            .filter(|&n| (1..=0x1fff_ffff).contains(&n))
            .ok_or_else(|| Malformed::new(format!("invalid field number {}", key >> 3)))?;
        Ok((number, wire))
    }

    /// The next field, or `None` at the end of the message.
    fn next_field(&mut self) -> Result<Option<(u32, Wire<'a>)>, Malformed> {
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
    fn skip_group(&mut self, number: u32) -> Result<(), Malformed> {
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
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
}

impl<'a> Envelope<'a> {
    fn read(buf: &'a [u8]) -> Result<Self, Malformed> {
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

fn wrong_wire(found: Wire<'_>) -> Malformed {
    Malformed::new(format!("unexpected wire type: found {}", found.kind()))
}

/// Protobuf strings as Go's JSON encoder writes them: invalid UTF-8 becomes U+FFFD.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------
// Messages to JSON
// ---------------------------------------------------------------------------------

/// Decodes a message into `out` (merging, as protobuf does when a message field
/// repeats), then puts the keys in declaration order.
fn decode_message(
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

fn decode_fields(
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
    use serde_json::json;

    // --- a tiny encoder, for building bodies by hand ---

    fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn key(number: u32, wire: u8) -> Vec<u8> {
        varint((u64::from(number) << 3) | u64::from(wire))
    }

    /// A length-delimited field: a string, bytes or a nested message.
    fn ld(number: u32, bytes: &[u8]) -> Vec<u8> {
        [key(number, 2), varint(bytes.len() as u64), bytes.to_vec()].concat()
    }

    fn st(number: u32, s: &str) -> Vec<u8> {
        ld(number, s.as_bytes())
    }

    fn int(number: u32, v: i64) -> Vec<u8> {
        [key(number, 0), varint(v as u64)].concat()
    }

    /// A map entry of field `number`.
    fn entry(number: u32, k: &str, v: &[u8]) -> Vec<u8> {
        ld(number, &[st(1, k), ld(2, v)].concat())
    }

    fn body(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let type_meta = [st(1, api_version), st(2, kind)].concat();
        [
            MAGIC.to_vec(),
            ld(1, &type_meta),
            ld(2, raw),
            st(3, ""),
            st(4, ""),
        ]
        .concat()
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// ObjectMeta as gogo-protobuf writes it: every value field, even when empty.
    fn meta(name: &str, extra: &[u8]) -> Vec<u8> {
        [
            st(1, name),
            st(2, ""),
            st(3, ""),
            st(4, ""),
            st(5, ""),
            st(6, ""),
            int(7, 0),
            ld(8, &[]),
            extra.to_vec(),
        ]
        .concat()
    }

    // --- objects ---

    #[test]
    fn decodes_a_namespace() {
        let raw = [
            ld(
                1,
                &meta(
                    "team-a",
                    &[ld(8, &int(1, 1_795_836_900)), entry(11, "team", b"a")].concat(),
                ),
            ),
            ld(2, &[]),
            ld(3, &[]),
        ]
        .concat();
        let got = decode(&body("v1", "Namespace", &raw)).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": "team-a",
                    "creationTimestamp": "2026-11-28T03:35:00Z",
                    "labels": { "team": "a" },
                },
            })
        );
    }

    #[test]
    fn decodes_a_config_map_with_data_and_labels() {
        let labels = [entry(11, "zone", b"b"), entry(11, "app", b"web")].concat();
        let raw = [
            ld(1, &meta("settings", &labels)),
            entry(2, "mode", b"fast"),
            entry(2, "level", b"3"),
            entry(3, "blob", &[0xff, 0x00]),
        ]
        .concat();
        let got = decode(&body("v1", "ConfigMap", &raw)).unwrap();
        let want = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": { "name": "settings", "labels": { "app": "web", "zone": "b" } },
            "data": { "level": "3", "mode": "fast" },
            "binaryData": { "blob": "/wA=" },
        });
        assert_eq!(got, want);
        // Map keys sorted, as Go writes them; fields in declaration order.
        assert_eq!(got.to_string(), want.to_string());
    }

    #[test]
    fn decodes_a_secret_with_binary_data_as_base64() {
        let raw = [
            ld(1, &meta("creds", &[])),
            entry(2, "key", &[0, 1, 2, 0xff, 0xfe]),
            entry(2, "text", b"hunter2"),
            st(3, "Opaque"),
            [key(5, 0), varint(1)].concat(),
        ]
        .concat();
        let got = decode(&body("v1", "Secret", &raw)).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": { "name": "creds" },
                "immutable": true,
                "data": { "key": "AAEC//4=", "text": "aHVudGVyMg==" },
                "type": "Opaque",
            })
        );
    }

    fn quantity_entry(number: u32, k: &str, q: &str) -> Vec<u8> {
        entry(number, k, &st(1, q))
    }

    #[test]
    fn decodes_a_deployment_with_one_container() {
        let container = [
            st(1, "web"),
            st(2, "nginx:1.27"),
            st(3, "nginx"),
            st(4, "-g"),
            st(4, "daemon off;"),
            ld(
                6,
                &[st(1, "http"), int(2, 0), int(3, 80), st(4, "TCP")].concat(),
            ),
            ld(7, &[st(1, "MODE"), st(2, "prod")].concat()),
            ld(
                8,
                &[
                    quantity_entry(1, "cpu", "500m"),
                    quantity_entry(2, "memory", "64Mi"),
                ]
                .concat(),
            ),
            st(13, ""),
            [key(16, 0), varint(0)].concat(),
        ]
        .concat();
        let labels = entry(11, "app", b"web");
        let template = [
            ld(1, &meta("", &labels)),
            ld(2, &[ld(2, &container), st(3, "Always")].concat()),
        ]
        .concat();
        let rolling = [
            ld(1, &[int(1, 0), int(2, 1)].concat()),
            ld(2, &[int(1, 1), st(3, "25%")].concat()),
        ]
        .concat();
        let spec = [
            int(1, 3),
            ld(2, &labels_selector("app", "web")),
            ld(3, &template),
            ld(4, &[st(1, "RollingUpdate"), ld(2, &rolling)].concat()),
            int(5, 0),
        ]
        .concat();
        let raw = [ld(1, &meta("web", &labels)), ld(2, &spec), ld(3, &[])].concat();
        let got = decode(&body("apps/v1", "Deployment", &raw)).unwrap();
        let want = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "web", "labels": { "app": "web" } },
            "spec": {
                "replicas": 3,
                "selector": { "matchLabels": { "app": "web" } },
                "template": {
                    "metadata": { "labels": { "app": "web" } },
                    "spec": {
                        "containers": [{
                            "name": "web",
                            "image": "nginx:1.27",
                            "command": ["nginx"],
                            "args": ["-g", "daemon off;"],
                            "ports": [{ "name": "http", "containerPort": 80, "protocol": "TCP" }],
                            "env": [{ "name": "MODE", "value": "prod" }],
                            "resources": { "limits": { "cpu": "500m" }, "requests": { "memory": "64Mi" } },
                        }],
                        "restartPolicy": "Always",
                    },
                },
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": { "maxUnavailable": 1, "maxSurge": "25%" },
                },
            },
        });
        assert_eq!(got, want);
        assert_eq!(got.to_string(), want.to_string());
    }

    fn labels_selector(k: &str, v: &str) -> Vec<u8> {
        entry(1, k, v.as_bytes())
    }

    #[test]
    fn decodes_a_job_keeping_zero_pointer_fields() {
        let container = [st(1, "work"), st(2, "busybox"), st(3, "true")].concat();
        let exit_codes = [
            st(1, "work"),
            st(2, "In"),
            // values: one unpacked, then two packed
            int(3, 42),
            ld(3, &[varint(1), varint(2)].concat()),
        ]
        .concat();
        let rule = [st(1, "FailJob"), ld(2, &exit_codes)].concat();
        let spec = [
            int(1, 2),
            int(2, 4),
            int(7, 0),
            ld(11, &ld(1, &rule)),
            ld(6, &ld(2, &[ld(2, &container), st(3, "Never")].concat())),
            [key(10, 0), varint(0)].concat(),
        ]
        .concat();
        let raw = [ld(1, &meta("batch-1", &[])), ld(2, &spec)].concat();
        let got = decode(&body("batch/v1", "Job", &raw)).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": { "name": "batch-1" },
                "spec": {
                    "parallelism": 2,
                    "completions": 4,
                    "podFailurePolicy": { "rules": [{
                        "action": "FailJob",
                        "onExitCodes": { "containerName": "work", "operator": "In", "values": [42, 1, 2] },
                    }] },
                    "backoffLimit": 0,
                    "template": { "spec": {
                        "containers": [{ "name": "work", "image": "busybox", "command": ["true"] }],
                        "restartPolicy": "Never",
                    } },
                    "suspend": false,
                },
            })
        );
    }

    #[test]
    fn inlines_embedded_structs_and_keeps_empty_pointer_objects() {
        let env = [
            st(1, "LEVEL"),
            ld(
                3,
                &ld(3, &[ld(1, &st(1, "settings")), st(2, "level")].concat()),
            ),
        ]
        .concat();
        let probe = [
            ld(
                1,
                &ld(
                    2,
                    &[
                        st(1, "/healthz"),
                        ld(2, &[int(1, 1), st(3, "http")].concat()),
                    ]
                    .concat(),
                ),
            ),
            int(4, 10),
        ]
        .concat();
        let container = [st(1, "app"), ld(7, &env), ld(11, &probe)].concat();
        let volumes = [
            ld(1, &[st(1, "scratch"), ld(2, &ld(2, &[]))].concat()),
            ld(
                1,
                &[st(1, "conf"), ld(2, &ld(19, &ld(1, &st(1, "settings"))))].concat(),
            ),
        ]
        .concat();
        let raw = [
            ld(1, &meta("p", &[])),
            ld(2, &[volumes, ld(2, &container)].concat()),
        ]
        .concat();
        let got = decode(&body("v1", "Pod", &raw)).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": { "name": "p" },
                "spec": {
                    "volumes": [
                        { "name": "scratch", "emptyDir": {} },
                        { "name": "conf", "configMap": { "name": "settings" } },
                    ],
                    "containers": [{
                        "name": "app",
                        "env": [{ "name": "LEVEL", "valueFrom": { "configMapKeyRef": { "name": "settings", "key": "level" } } }],
                        "readinessProbe": { "httpGet": { "path": "/healthz", "port": "http" }, "periodSeconds": 10 },
                    }],
                },
            })
        );
    }

    #[test]
    fn int32_may_be_a_ten_byte_negative_varint() {
        let spec = [
            [key(1, 0), varint(u64::MAX)].concat(), // replicas = -1
            [key(6, 0), varint((-7i64) as u64)].concat(),
        ]
        .concat();
        let raw = [ld(1, &meta("d", &int(10, -5))), ld(2, &spec)].concat();
        let got = decode(&body("apps/v1", "Deployment", &raw)).unwrap();
        assert_eq!(got["spec"]["replicas"], json!(-1));
        assert_eq!(got["spec"]["revisionHistoryLimit"], json!(-7));
        assert_eq!(got["metadata"]["deletionGracePeriodSeconds"], json!(-5));
    }

    #[test]
    fn skips_unknown_fields_of_every_wire_type() {
        let group = [
            key(95, 3),
            int(1, 7),
            key(2, 3),
            st(3, "deep"),
            key(2, 4),
            key(95, 4),
        ]
        .concat();
        let unknown = [
            int(99, 12345),
            [key(98, 1), vec![0; 8]].concat(),
            [key(97, 5), vec![0; 4]].concat(),
            st(96, "ignored"),
            group,
        ]
        .concat();
        let plain = [ld(1, &meta("x", &[])), entry(2, "a", b"b")].concat();
        let noisy = [
            unknown.clone(),
            ld(1, &meta("x", &unknown)),
            unknown.clone(),
            entry(2, "a", b"b"),
        ]
        .concat();
        let noisy_envelope = [body("v1", "ConfigMap", &noisy), int(9, 1)].concat();
        assert_eq!(
            decode(&body("v1", "ConfigMap", &plain)).unwrap(),
            decode(&noisy_envelope).unwrap()
        );
    }

    #[test]
    fn repeated_message_fields_merge_and_the_last_scalar_wins() {
        let raw = [
            ld(1, &[st(1, "first"), entry(11, "a", b"1")].concat()),
            ld(1, &[st(1, "second"), entry(11, "b", b"2")].concat()),
            st(3, "Opaque"),
            st(3, ""),
        ]
        .concat();
        let got = decode(&body("v1", "Secret", &raw)).unwrap();
        assert_eq!(
            got,
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": { "name": "second", "labels": { "a": "1", "b": "2" } },
            })
        );
    }

    #[test]
    fn decodes_managed_fields_times_and_raw_json() {
        let managed = [
            st(1, "kubectl"),
            st(2, "Update"),
            st(3, "v1"),
            ld(4, &[int(1, 951_782_400), int(2, 5)].concat()),
            st(6, "FieldsV1"),
            ld(7, &st(1, r#"{"f:data":{".":{}}}"#)),
        ]
        .concat();
        let raw = ld(1, &meta("m", &ld(17, &managed)));
        let got = decode(&body("v1", "ConfigMap", &raw)).unwrap();
        assert_eq!(
            got["metadata"]["managedFields"],
            json!([{
                "manager": "kubectl",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2000-02-29T00:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": { "f:data": { ".": {} } },
            }])
        );
    }

    // --- real kubectl bodies (kubectl v1.32, captured on a loopback listener) ---

    const KUBECTL_NAMESPACE: &str = "6b3873000a0f0a02763112094e616d657370616365121b0a130a03666f6f12001a0022002a0032003800420012001a020a001a002200";
    const KUBECTL_CONFIG_MAP: &str = "6b3873000a0f0a0276311209436f6e6669674d617012250a130a03636d3112001a0022002a0032003800420012060a016112016212060a01631201641a002200";
    const KUBECTL_SECRET: &str = "6b3873000a0c0a0276311206536563726574122c0a120a02733112001a0022002a0032003800420012060a0161120162120c0a0362696e1205000102fffe1a001a002200";
    const KUBECTL_DEPLOYMENT: &str = "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412b4010a1d0a02643112001a0022002a003200380042005a090a03617070120264311284010802120b0a090a03617070120264311a6b0a1b0a0012001a0022002a003200380042005a090a0361707012026431124c122e0a056e67696e7812056e67696e782a00320a0a001000185022002a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01009a0100c2010022020a00280038001a0c0800100018002000280038001a002200";
    const KUBECTL_JOB: &str = "6b3873000a0f0a0862617463682f763112034a6f621284010a120a026a3112001a0022002a00320038004200126432620a100a0012001a0022002a00320038004200124e122b0a026a31120762757379626f781a046563686f1a0268692a0042006a007200800100880100900100a201001a054e65766572320042004a0052005800600068008201008a01009a0100c201001a082000280030003a001a002200";

    #[test]
    fn decodes_what_kubectl_sends() {
        let cases = [
            (
                KUBECTL_NAMESPACE,
                json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": "foo" } }),
            ),
            (
                KUBECTL_CONFIG_MAP,
                json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "cm1" }, "data": { "a": "b", "c": "d" } }),
            ),
            (
                KUBECTL_SECRET,
                json!({ "apiVersion": "v1", "kind": "Secret", "metadata": { "name": "s1" }, "data": { "a": "Yg==", "bin": "AAEC//4=" } }),
            ),
            (
                KUBECTL_DEPLOYMENT,
                json!({
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": { "name": "d1", "labels": { "app": "d1" } },
                    "spec": {
                        "replicas": 2,
                        "selector": { "matchLabels": { "app": "d1" } },
                        "template": {
                            "metadata": { "labels": { "app": "d1" } },
                            "spec": { "containers": [{ "name": "nginx", "image": "nginx", "ports": [{ "containerPort": 80 }] }] },
                        },
                    },
                }),
            ),
            (
                KUBECTL_JOB,
                json!({
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "metadata": { "name": "j1" },
                    "spec": { "template": { "spec": {
                        "containers": [{ "name": "j1", "image": "busybox", "command": ["echo", "hi"] }],
                        "restartPolicy": "Never",
                    } } },
                }),
            ),
        ];
        for (bytes, want) in cases {
            let got = decode(&hex(bytes)).unwrap();
            assert_eq!(got.to_string(), want.to_string());
        }
    }

    // --- errors ---

    fn bad_request(body: &[u8]) -> String {
        let err = decode(body).unwrap_err();
        assert_eq!((err.code, err.reason), (400, "BadRequest"), "{err}");
        err.message
    }

    #[test]
    fn rejects_a_wrong_magic() {
        bad_request(b"");
        bad_request(b"k8s");
        bad_request(b"{\"kind\":\"Namespace\"}");
        let mut body = hex(KUBECTL_NAMESPACE);
        body[3] = b'!';
        assert!(bad_request(&body).contains("k8s"));
    }

    #[test]
    fn rejects_truncated_bodies_without_panicking() {
        let full = hex(KUBECTL_DEPLOYMENT);
        for cut in 0..full.len() {
            let _ = decode(&full[..cut]); // never panics
        }
        // Cut inside the raw object: its length prefix claims more than remains.
        let message = bad_request(&full[..full.len() / 2]);
        assert!(message.contains("truncated"), "{message}");
        // Cut inside a nested message.
        let raw = ld(1, &meta("x", &[]));
        let cut_raw = &raw[..raw.len() - 3];
        let message = bad_request(&body("v1", "Namespace", &ld(1, cut_raw)));
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn rejects_an_unsupported_kind_suggesting_json() {
        let err = decode(&body("apps/v1", "StatefulSet", &ld(1, &meta("s", &[])))).unwrap_err();
        assert_eq!((err.code, err.reason), (415, "UnsupportedMediaType"));
        assert!(
            err.message.contains("apps/v1 StatefulSet"),
            "{}",
            err.message
        );
        assert!(err.message.contains("kubectl apply -f"), "{}", err.message);
        assert!(err.message.contains("kubectl create -f"), "{}", err.message);

        let gzip = [body("v1", "Namespace", &[]), st(3, "gzip")].concat();
        assert_eq!(decode(&gzip).unwrap_err().code, 415);
        assert!(bad_request(&body("", "Namespace", &[])).contains("apiVersion"));
        assert!(bad_request(&body("v1", "", &[])).contains("kind"));
    }

    #[test]
    fn rejects_malformed_fields_naming_where() {
        // metadata.name as a varint
        let message = bad_request(&body("v1", "Namespace", &ld(1, &int(1, 5))));
        assert!(message.contains("at metadata.name"), "{message}");
        // wire types 6 and 7 do not exist; a stray end-group
        bad_request(&body("v1", "Namespace", &key(1, 6)));
        bad_request(&body("v1", "Namespace", &key(1, 7)));
        bad_request(&body("v1", "Namespace", &key(1, 4)));
        // field number 0
        bad_request(&body("v1", "Namespace", &[0, 0]));
        // an 11-byte varint
        bad_request(&body(
            "v1",
            "Namespace",
            &[[0x08].as_slice(), &[0xff; 10], &[0x01]].concat(),
        ));
        // a length far beyond the body
        bad_request(&[MAGIC.to_vec(), key(2, 2), varint(u64::MAX)].concat());
        // an IntOrString of type 2
        let rolling = ld(2, &ld(1, &int(1, 2)));
        let spec = ld(4, &rolling);
        let message = bad_request(&body("apps/v1", "Deployment", &ld(2, &spec)));
        assert!(
            message.contains("spec.strategy.rollingUpdate.maxUnavailable"),
            "{message}"
        );
        // a time Go cannot write
        bad_request(&body("v1", "Namespace", &ld(1, &ld(8, &int(1, -1)))));
        bad_request(&body("v1", "Namespace", &ld(1, &ld(8, &int(1, i64::MAX)))));
        // fieldsV1 that is not JSON
        let managed = ld(17, &ld(7, &st(1, "{not json")));
        bad_request(&body("v1", "Namespace", &ld(1, &managed)));
        // an empty quantity
        let quota = ld(2, &entry(1, "pods", &st(1, "")));
        bad_request(&body("v1", "ResourceQuota", &quota));
    }

    #[test]
    fn rejects_deeply_nested_garbage() {
        // Groups nested far past the limit.
        let mut groups = Vec::new();
        for _ in 0..10_000 {
            groups.extend(key(50, 3));
        }
        bad_request(&body("v1", "Namespace", &groups));
        // Length-delimited fields wrapped thousands deep, along field 2 (spec, template, ...)
        // and field 1: each level only goes as deep as the tables do.
        for number in [1, 2, 3] {
            let mut nested = st(1, "leaf");
            for _ in 0..2_000 {
                nested = ld(number, &nested);
            }
            let _ = decode(&body("apps/v1", "Deployment", &nested));
            let _ = decode(&body("batch/v1", "CronJob", &nested));
        }
        // The depth limit itself.
        let mut out = Map::new();
        let err = decode_fields(&[], DEPLOYMENT, &mut out, MAX_DEPTH + 1).unwrap_err();
        assert!(err.message.contains("nest"), "{}", err.message);
    }

    #[test]
    fn random_and_mutated_bodies_never_panic() {
        let seeds = [KUBECTL_DEPLOYMENT, KUBECTL_JOB, KUBECTL_SECRET].map(hex);
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..20_000u64 {
            let seed = &seeds[(round % 3) as usize];
            let mut body = seed.clone();
            for _ in 0..(next() % 4 + 1) {
                let i = (next() as usize) % body.len();
                match next() % 3 {
                    0 => body[i] = next() as u8,
                    1 => body.truncate(i.max(4)),
                    _ => body.insert(i, next() as u8),
                }
            }
            let _ = decode(&body);
            let random: Vec<u8> = MAGIC
                .iter()
                .copied()
                .chain((0..next() % 64).map(|_| next() as u8))
                .collect();
            let _ = decode(&random);
        }
    }
}
