//! The messages `decode` knows, as data: one row per field (number, JSON name, how
//! it is read and shown), written from the upstream `generated.proto` files.

/// One field of a message: (field number, JSON name, type).
pub(super) type Row = (u32, &'static str, T);

/// How a field is read and shown. `…K` variants are kept in JSON even when zero or
/// empty (Go pointers, and value fields without `omitempty`); the others are left out
/// when zero, as `omitempty` does.
#[derive(Clone, Copy, Debug)]
pub(super) enum T {
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
pub(super) const KINDS: &[(&str, &str, &[Row])] = &[
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

pub(super) const OBJECT_META: &[Row] = &[
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

pub(super) const OWNER_REFERENCE: &[Row] = &[
    (5, "apiVersion", StrK),
    (1, "kind", StrK),
    (3, "name", StrK),
    (4, "uid", StrK),
    (6, "controller", BoolK),
    (7, "blockOwnerDeletion", BoolK),
];

pub(super) const MANAGED_FIELDS_ENTRY: &[Row] = &[
    (1, "manager", Str),
    (2, "operation", Str),
    (3, "apiVersion", Str),
    (4, "time", Time),
    (6, "fieldsType", Str),
    (7, "fieldsV1", FieldsV1),
    (8, "subresource", Str),
];

pub(super) const LABEL_SELECTOR: &[Row] = &[
    (1, "matchLabels", StrMap),
    (2, "matchExpressions", List(LABEL_SELECTOR_REQUIREMENT)),
];

pub(super) const LABEL_SELECTOR_REQUIREMENT: &[Row] =
    &[(1, "key", StrK), (2, "operator", StrK), (3, "values", Strs)];

// --- k8s.io/api/core/v1: the kinds ---

pub(super) const NAMESPACE: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(NAMESPACE_SPEC)),
];

pub(super) const NAMESPACE_SPEC: &[Row] = &[(1, "finalizers", Strs)];

pub(super) const CONFIG_MAP: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (4, "immutable", BoolK),
    (2, "data", StrMap),
    (3, "binaryData", BytesMap),
];

pub(super) const SECRET: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (5, "immutable", BoolK),
    (2, "data", BytesMap),
    (4, "stringData", StrMap),
    (3, "type", Str),
];

pub(super) const SERVICE_ACCOUNT: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "secrets", List(OBJECT_REFERENCE)),
    (3, "imagePullSecrets", List(LOCAL_OBJECT_REFERENCE)),
    (4, "automountServiceAccountToken", BoolK),
];

pub(super) const OBJECT_REFERENCE: &[Row] = &[
    (1, "kind", Str),
    (2, "namespace", Str),
    (3, "name", Str),
    (4, "uid", Str),
    (5, "apiVersion", Str),
    (6, "resourceVersion", Str),
    (7, "fieldPath", Str),
];

pub(super) const LOCAL_OBJECT_REFERENCE: &[Row] = &[(1, "name", Str)];

pub(super) const TYPED_LOCAL_OBJECT_REFERENCE: &[Row] =
    &[(1, "apiGroup", StrK), (2, "kind", StrK), (3, "name", StrK)];

pub(super) const SERVICE: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(SERVICE_SPEC)),
];

pub(super) const SERVICE_SPEC: &[Row] = &[
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

pub(super) const SERVICE_PORT: &[Row] = &[
    (1, "name", Str),
    (2, "protocol", Str),
    (6, "appProtocol", StrK),
    (3, "port", I32K),
    (4, "targetPort", IntStr),
    (5, "nodePort", I32),
];

pub(super) const SESSION_AFFINITY_CONFIG: &[Row] = &[(1, "clientIP", ObjK(CLIENT_IP_CONFIG))];

pub(super) const CLIENT_IP_CONFIG: &[Row] = &[(1, "timeoutSeconds", I32K)];

pub(super) const RESOURCE_QUOTA: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(RESOURCE_QUOTA_SPEC)),
];

pub(super) const RESOURCE_QUOTA_SPEC: &[Row] = &[
    (1, "hard", QtyMap),
    (2, "scopes", Strs),
    (3, "scopeSelector", ObjK(SCOPE_SELECTOR)),
];

pub(super) const SCOPE_SELECTOR: &[Row] = &[(
    1,
    "matchExpressions",
    List(SCOPED_RESOURCE_SELECTOR_REQUIREMENT),
)];

pub(super) const SCOPED_RESOURCE_SELECTOR_REQUIREMENT: &[Row] = &[
    (1, "scopeName", StrK),
    (2, "operator", StrK),
    (3, "values", Strs),
];

pub(super) const POD: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(POD_SPEC)),
];

// --- k8s.io/api/core/v1: pods ---

pub(super) const POD_TEMPLATE_SPEC: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(POD_SPEC)),
];

pub(super) const POD_SPEC: &[Row] = &[
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

pub(super) const CONTAINER: &[Row] = &[
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

pub(super) const CONTAINER_PORT: &[Row] = &[
    (1, "name", Str),
    (2, "hostPort", I32),
    (3, "containerPort", I32K),
    (4, "protocol", Str),
    (5, "hostIP", Str),
];

pub(super) const ENV_FROM_SOURCE: &[Row] = &[
    (1, "prefix", Str),
    (2, "configMapRef", ObjK(CONFIG_MAP_ENV_SOURCE)),
    (3, "secretRef", ObjK(SECRET_ENV_SOURCE)),
];

pub(super) const CONFIG_MAP_ENV_SOURCE: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "optional", BoolK),
];

pub(super) const SECRET_ENV_SOURCE: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "optional", BoolK),
];

pub(super) const ENV_VAR: &[Row] = &[
    (1, "name", StrK),
    (2, "value", Str),
    (3, "valueFrom", ObjK(ENV_VAR_SOURCE)),
];

pub(super) const ENV_VAR_SOURCE: &[Row] = &[
    (1, "fieldRef", ObjK(OBJECT_FIELD_SELECTOR)),
    (2, "resourceFieldRef", ObjK(RESOURCE_FIELD_SELECTOR)),
    (3, "configMapKeyRef", ObjK(CONFIG_MAP_KEY_SELECTOR)),
    (4, "secretKeyRef", ObjK(SECRET_KEY_SELECTOR)),
    (5, "fileKeyRef", ObjK(FILE_KEY_SELECTOR)),
];

pub(super) const OBJECT_FIELD_SELECTOR: &[Row] = &[(1, "apiVersion", Str), (2, "fieldPath", StrK)];

pub(super) const RESOURCE_FIELD_SELECTOR: &[Row] = &[
    (1, "containerName", Str),
    (2, "resource", StrK),
    (3, "divisor", Qty),
];

pub(super) const CONFIG_MAP_KEY_SELECTOR: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "key", StrK),
    (3, "optional", BoolK),
];

pub(super) const SECRET_KEY_SELECTOR: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "key", StrK),
    (3, "optional", BoolK),
];

pub(super) const FILE_KEY_SELECTOR: &[Row] = &[
    (1, "volumeName", StrK),
    (2, "path", StrK),
    (3, "key", StrK),
    (4, "optional", BoolK),
];

pub(super) const RESOURCE_REQUIREMENTS: &[Row] = &[
    (1, "limits", QtyMap),
    (2, "requests", QtyMap),
    (3, "claims", List(RESOURCE_CLAIM)),
];

pub(super) const RESOURCE_CLAIM: &[Row] = &[(1, "name", StrK), (2, "request", Str)];

pub(super) const CONTAINER_RESIZE_POLICY: &[Row] =
    &[(1, "resourceName", StrK), (2, "restartPolicy", StrK)];

pub(super) const CONTAINER_RESTART_RULE: &[Row] = &[
    (1, "action", Str),
    (2, "exitCodes", ObjK(CONTAINER_RESTART_RULE_ON_EXIT_CODES)),
];

pub(super) const CONTAINER_RESTART_RULE_ON_EXIT_CODES: &[Row] =
    &[(1, "operator", Str), (2, "values", I32s)];

pub(super) const VOLUME_MOUNT: &[Row] = &[
    (1, "name", StrK),
    (2, "readOnly", Bool),
    (7, "recursiveReadOnly", StrK),
    (3, "mountPath", StrK),
    (4, "subPath", Str),
    (5, "mountPropagation", StrK),
    (6, "subPathExpr", Str),
    (8, "bindMountOptions", Strs),
];

pub(super) const VOLUME_DEVICE: &[Row] = &[(1, "name", StrK), (2, "devicePath", StrK)];

pub(super) const PROBE: &[Row] = &[
    (1, "", Inline(PROBE_HANDLER)),
    (2, "initialDelaySeconds", I32),
    (3, "timeoutSeconds", I32),
    (4, "periodSeconds", I32),
    (5, "successThreshold", I32),
    (6, "failureThreshold", I32),
    (7, "terminationGracePeriodSeconds", I64K),
];

pub(super) const PROBE_HANDLER: &[Row] = &[
    (1, "exec", ObjK(EXEC_ACTION)),
    (2, "httpGet", ObjK(HTTP_GET_ACTION)),
    (3, "tcpSocket", ObjK(TCP_SOCKET_ACTION)),
    (4, "grpc", ObjK(GRPC_ACTION)),
];

pub(super) const LIFECYCLE: &[Row] = &[
    (1, "postStart", ObjK(LIFECYCLE_HANDLER)),
    (2, "preStop", ObjK(LIFECYCLE_HANDLER)),
    (3, "stopSignal", StrK),
];

pub(super) const LIFECYCLE_HANDLER: &[Row] = &[
    (1, "exec", ObjK(EXEC_ACTION)),
    (2, "httpGet", ObjK(HTTP_GET_ACTION)),
    (3, "tcpSocket", ObjK(TCP_SOCKET_ACTION)),
    (4, "sleep", ObjK(SLEEP_ACTION)),
];

pub(super) const EXEC_ACTION: &[Row] = &[(1, "command", Strs)];

pub(super) const HTTP_GET_ACTION: &[Row] = &[
    (1, "path", Str),
    (2, "port", IntStrK),
    (3, "host", Str),
    (4, "scheme", Str),
    (5, "httpHeaders", List(HTTP_HEADER)),
    (6, "protocol", StrK),
];

pub(super) const HTTP_HEADER: &[Row] = &[(1, "name", StrK), (2, "value", StrK)];

pub(super) const TCP_SOCKET_ACTION: &[Row] = &[(1, "port", IntStrK), (2, "host", Str)];

pub(super) const GRPC_ACTION: &[Row] =
    &[(1, "port", I32K), (2, "service", StrK), (3, "mode", StrK)];

pub(super) const SLEEP_ACTION: &[Row] = &[(1, "seconds", I64K)];

pub(super) const SECURITY_CONTEXT: &[Row] = &[
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

pub(super) const CAPABILITIES: &[Row] = &[(1, "add", Strs), (2, "drop", Strs)];

pub(super) const SE_LINUX_OPTIONS: &[Row] = &[
    (1, "user", Str),
    (2, "role", Str),
    (3, "type", Str),
    (4, "level", Str),
];

pub(super) const WINDOWS_SECURITY_CONTEXT_OPTIONS: &[Row] = &[
    (1, "gmsaCredentialSpecName", StrK),
    (2, "gmsaCredentialSpec", StrK),
    (3, "runAsUserName", StrK),
    (4, "hostProcess", BoolK),
];

pub(super) const SECCOMP_PROFILE: &[Row] = &[(1, "type", StrK), (2, "localhostProfile", StrK)];

pub(super) const APP_ARMOR_PROFILE: &[Row] = &[(1, "type", StrK), (2, "localhostProfile", StrK)];

pub(super) const POD_SECURITY_CONTEXT: &[Row] = &[
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

pub(super) const SYSCTL: &[Row] = &[(1, "name", StrK), (2, "value", StrK)];

pub(super) const VOLUME: &[Row] = &[(1, "name", StrK), (2, "", Inline(VOLUME_SOURCE))];

/// The common volume types; cloud-provider and other rarely used ones are skipped.
pub(super) const VOLUME_SOURCE: &[Row] = &[
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

pub(super) const HOST_PATH_VOLUME_SOURCE: &[Row] = &[(1, "path", StrK), (2, "type", StrK)];

pub(super) const EMPTY_DIR_VOLUME_SOURCE: &[Row] =
    &[(1, "medium", Str), (2, "sizeLimit", Qty), (3, "mode", I32K)];

pub(super) const SECRET_VOLUME_SOURCE: &[Row] = &[
    (1, "secretName", Str),
    (2, "items", List(KEY_TO_PATH)),
    (3, "defaultMode", I32K),
    (4, "optional", BoolK),
    (5, "defaultUser", I64K),
];

pub(super) const KEY_TO_PATH: &[Row] = &[
    (1, "key", StrK),
    (2, "path", StrK),
    (3, "mode", I32K),
    (4, "user", I64K),
];

pub(super) const NFS_VOLUME_SOURCE: &[Row] = &[
    (1, "server", StrK),
    (2, "path", StrK),
    (3, "readOnly", Bool),
];

pub(super) const PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: &[Row] =
    &[(1, "claimName", StrK), (2, "readOnly", Bool)];

pub(super) const DOWNWARD_API_VOLUME_SOURCE: &[Row] = &[
    (1, "items", List(DOWNWARD_API_VOLUME_FILE)),
    (2, "defaultMode", I32K),
    (3, "defaultUser", I64K),
];

pub(super) const DOWNWARD_API_VOLUME_FILE: &[Row] = &[
    (1, "path", StrK),
    (2, "fieldRef", ObjK(OBJECT_FIELD_SELECTOR)),
    (3, "resourceFieldRef", ObjK(RESOURCE_FIELD_SELECTOR)),
    (4, "mode", I32K),
    (5, "user", I64K),
];

pub(super) const CONFIG_MAP_VOLUME_SOURCE: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "items", List(KEY_TO_PATH)),
    (3, "defaultMode", I32K),
    (4, "optional", BoolK),
    (5, "defaultUser", I64K),
];

pub(super) const PROJECTED_VOLUME_SOURCE: &[Row] = &[
    (1, "sources", List(VOLUME_PROJECTION)),
    (2, "defaultMode", I32K),
    (3, "defaultUser", I64K),
];

/// The common projections; cluster trust bundles and pod certificates are skipped.
pub(super) const VOLUME_PROJECTION: &[Row] = &[
    (1, "secret", ObjK(SECRET_PROJECTION)),
    (2, "downwardAPI", ObjK(DOWNWARD_API_PROJECTION)),
    (3, "configMap", ObjK(CONFIG_MAP_PROJECTION)),
    (
        4,
        "serviceAccountToken",
        ObjK(SERVICE_ACCOUNT_TOKEN_PROJECTION),
    ),
];

pub(super) const SECRET_PROJECTION: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "items", List(KEY_TO_PATH)),
    (4, "optional", BoolK),
];

pub(super) const DOWNWARD_API_PROJECTION: &[Row] = &[(1, "items", List(DOWNWARD_API_VOLUME_FILE))];

pub(super) const CONFIG_MAP_PROJECTION: &[Row] = &[
    (1, "", Inline(LOCAL_OBJECT_REFERENCE)),
    (2, "items", List(KEY_TO_PATH)),
    (4, "optional", BoolK),
];

pub(super) const SERVICE_ACCOUNT_TOKEN_PROJECTION: &[Row] = &[
    (1, "audience", Str),
    (2, "expirationSeconds", I64K),
    (3, "path", StrK),
    (4, "user", I64K),
];

pub(super) const CSI_VOLUME_SOURCE: &[Row] = &[
    (1, "driver", StrK),
    (2, "readOnly", BoolK),
    (3, "fsType", StrK),
    (4, "volumeAttributes", StrMap),
    (5, "nodePublishSecretRef", ObjK(LOCAL_OBJECT_REFERENCE)),
];

pub(super) const IMAGE_VOLUME_SOURCE: &[Row] = &[(1, "reference", Str), (2, "pullPolicy", Str)];

pub(super) const TOLERATION: &[Row] = &[
    (1, "key", Str),
    (2, "operator", Str),
    (3, "value", Str),
    (4, "effect", Str),
    (5, "tolerationSeconds", I64K),
];

pub(super) const HOST_ALIAS: &[Row] = &[(1, "ip", StrK), (2, "hostnames", Strs)];

pub(super) const POD_DNS_CONFIG: &[Row] = &[
    (1, "nameservers", Strs),
    (2, "searches", Strs),
    (3, "options", List(POD_DNS_CONFIG_OPTION)),
];

pub(super) const POD_DNS_CONFIG_OPTION: &[Row] = &[(1, "name", Str), (2, "value", StrK)];

pub(super) const POD_READINESS_GATE: &[Row] = &[(1, "conditionType", StrK)];

pub(super) const POD_OS: &[Row] = &[(1, "name", StrK)];

pub(super) const POD_SCHEDULING_GATE: &[Row] = &[(1, "name", StrK)];

pub(super) const POD_RESOURCE_CLAIM: &[Row] = &[
    (1, "name", StrK),
    (3, "resourceClaimName", StrK),
    (4, "resourceClaimTemplateName", StrK),
];

pub(super) const AFFINITY: &[Row] = &[
    (1, "nodeAffinity", ObjK(NODE_AFFINITY)),
    (2, "podAffinity", ObjK(POD_AFFINITY)),
    (3, "podAntiAffinity", ObjK(POD_ANTI_AFFINITY)),
];

pub(super) const NODE_AFFINITY: &[Row] = &[
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

pub(super) const NODE_SELECTOR: &[Row] = &[(1, "nodeSelectorTerms", List(NODE_SELECTOR_TERM))];

pub(super) const NODE_SELECTOR_TERM: &[Row] = &[
    (1, "matchExpressions", List(NODE_SELECTOR_REQUIREMENT)),
    (2, "matchFields", List(NODE_SELECTOR_REQUIREMENT)),
];

pub(super) const NODE_SELECTOR_REQUIREMENT: &[Row] =
    &[(1, "key", StrK), (2, "operator", StrK), (3, "values", Strs)];

pub(super) const PREFERRED_SCHEDULING_TERM: &[Row] = &[
    (1, "weight", I32K),
    (2, "preference", Obj(NODE_SELECTOR_TERM)),
];

pub(super) const POD_AFFINITY: &[Row] = &[
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

pub(super) const POD_ANTI_AFFINITY: &[Row] = POD_AFFINITY;

pub(super) const POD_AFFINITY_TERM: &[Row] = &[
    (1, "labelSelector", ObjK(LABEL_SELECTOR)),
    (2, "namespaces", Strs),
    (3, "topologyKey", StrK),
    (4, "namespaceSelector", ObjK(LABEL_SELECTOR)),
    (5, "matchLabelKeys", Strs),
    (6, "mismatchLabelKeys", Strs),
];

pub(super) const WEIGHTED_POD_AFFINITY_TERM: &[Row] = &[
    (1, "weight", I32K),
    (2, "podAffinityTerm", Obj(POD_AFFINITY_TERM)),
];

pub(super) const TOPOLOGY_SPREAD_CONSTRAINT: &[Row] = &[
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

pub(super) const DEPLOYMENT: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(DEPLOYMENT_SPEC)),
];

pub(super) const DEPLOYMENT_SPEC: &[Row] = &[
    (1, "replicas", I32K),
    (2, "selector", ObjK(LABEL_SELECTOR)),
    (3, "template", Obj(POD_TEMPLATE_SPEC)),
    (4, "strategy", Obj(DEPLOYMENT_STRATEGY)),
    (5, "minReadySeconds", I32),
    (6, "revisionHistoryLimit", I32K),
    (7, "paused", Bool),
    (9, "progressDeadlineSeconds", I32K),
];

pub(super) const DEPLOYMENT_STRATEGY: &[Row] = &[
    (1, "type", Str),
    (2, "rollingUpdate", ObjK(ROLLING_UPDATE_DEPLOYMENT)),
];

pub(super) const ROLLING_UPDATE_DEPLOYMENT: &[Row] =
    &[(1, "maxUnavailable", IntStrK), (2, "maxSurge", IntStrK)];

// --- k8s.io/api/batch/v1 ---

pub(super) const JOB: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(JOB_SPEC)),
];

pub(super) const JOB_SPEC: &[Row] = &[
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

pub(super) const POD_FAILURE_POLICY: &[Row] = &[(1, "rules", List(POD_FAILURE_POLICY_RULE))];

pub(super) const POD_FAILURE_POLICY_RULE: &[Row] = &[
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

pub(super) const POD_FAILURE_POLICY_ON_EXIT_CODES_REQUIREMENT: &[Row] = &[
    (1, "containerName", StrK),
    (2, "operator", StrK),
    (3, "values", I32s),
];

pub(super) const POD_FAILURE_POLICY_ON_POD_CONDITIONS_PATTERN: &[Row] =
    &[(1, "type", StrK), (2, "status", StrK)];

pub(super) const SUCCESS_POLICY: &[Row] = &[(1, "rules", List(SUCCESS_POLICY_RULE))];

pub(super) const SUCCESS_POLICY_RULE: &[Row] =
    &[(1, "succeededIndexes", StrK), (2, "succeededCount", I32K)];

pub(super) const CRON_JOB: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(CRON_JOB_SPEC)),
];

pub(super) const CRON_JOB_SPEC: &[Row] = &[
    (1, "schedule", StrK),
    (8, "timeZone", StrK),
    (2, "startingDeadlineSeconds", I64K),
    (3, "concurrencyPolicy", Str),
    (4, "suspend", BoolK),
    (5, "jobTemplate", Obj(JOB_TEMPLATE_SPEC)),
    (6, "successfulJobsHistoryLimit", I32K),
    (7, "failedJobsHistoryLimit", I32K),
];

pub(super) const JOB_TEMPLATE_SPEC: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(JOB_SPEC)),
];

// --- k8s.io/api/rbac/v1 ---

pub(super) const ROLE: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "rules", List(POLICY_RULE)),
];

pub(super) const CLUSTER_ROLE: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "rules", List(POLICY_RULE)),
    (3, "aggregationRule", ObjK(AGGREGATION_RULE)),
];

pub(super) const POLICY_RULE: &[Row] = &[
    (1, "verbs", Strs),
    (2, "apiGroups", Strs),
    (3, "resources", Strs),
    (4, "resourceNames", Strs),
    (5, "nonResourceURLs", Strs),
];

pub(super) const AGGREGATION_RULE: &[Row] = &[(1, "clusterRoleSelectors", List(LABEL_SELECTOR))];

pub(super) const ROLE_BINDING: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "subjects", List(SUBJECT)),
    (3, "roleRef", Obj(ROLE_REF)),
];

pub(super) const CLUSTER_ROLE_BINDING: &[Row] = ROLE_BINDING;

pub(super) const SUBJECT: &[Row] = &[
    (1, "kind", StrK),
    (2, "apiGroup", Str),
    (3, "name", StrK),
    (4, "namespace", Str),
];

pub(super) const ROLE_REF: &[Row] = &[(1, "apiGroup", StrK), (2, "kind", StrK), (3, "name", StrK)];

// --- k8s.io/api/policy/v1, scheduling/v1 ---

pub(super) const POD_DISRUPTION_BUDGET: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(POD_DISRUPTION_BUDGET_SPEC)),
];

pub(super) const POD_DISRUPTION_BUDGET_SPEC: &[Row] = &[
    (1, "minAvailable", IntStrK),
    (2, "selector", ObjK(LABEL_SELECTOR)),
    (3, "maxUnavailable", IntStrK),
    (4, "unhealthyPodEvictionPolicy", StrK),
];

pub(super) const PRIORITY_CLASS: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "value", I32K),
    (3, "globalDefault", Bool),
    (4, "description", Str),
    (5, "preemptionPolicy", StrK),
];

// --- k8s.io/api/networking/v1 ---

pub(super) const INGRESS: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(INGRESS_SPEC)),
];

pub(super) const INGRESS_SPEC: &[Row] = &[
    (4, "ingressClassName", StrK),
    (1, "defaultBackend", ObjK(INGRESS_BACKEND)),
    (2, "tls", List(INGRESS_TLS)),
    (3, "rules", List(INGRESS_RULE)),
];

pub(super) const INGRESS_BACKEND: &[Row] = &[
    (4, "service", ObjK(INGRESS_SERVICE_BACKEND)),
    (3, "resource", ObjK(TYPED_LOCAL_OBJECT_REFERENCE)),
];

pub(super) const INGRESS_SERVICE_BACKEND: &[Row] =
    &[(1, "name", StrK), (2, "port", Obj(SERVICE_BACKEND_PORT))];

pub(super) const SERVICE_BACKEND_PORT: &[Row] = &[(1, "name", Str), (2, "number", I32)];

pub(super) const INGRESS_TLS: &[Row] = &[(1, "hosts", Strs), (2, "secretName", Str)];

pub(super) const INGRESS_RULE: &[Row] = &[(1, "host", Str), (2, "", Inline(INGRESS_RULE_VALUE))];

pub(super) const INGRESS_RULE_VALUE: &[Row] = &[(1, "http", ObjK(HTTP_INGRESS_RULE_VALUE))];

pub(super) const HTTP_INGRESS_RULE_VALUE: &[Row] = &[(1, "paths", List(HTTP_INGRESS_PATH))];

pub(super) const HTTP_INGRESS_PATH: &[Row] = &[
    (1, "path", Str),
    (3, "pathType", StrK),
    (2, "backend", Obj(INGRESS_BACKEND)),
];

// --- k8s.io/api/autoscaling/v2 ---

pub(super) const HORIZONTAL_POD_AUTOSCALER: &[Row] = &[
    (1, "metadata", Obj(OBJECT_META)),
    (2, "spec", Obj(HORIZONTAL_POD_AUTOSCALER_SPEC)),
];

pub(super) const HORIZONTAL_POD_AUTOSCALER_SPEC: &[Row] = &[
    (1, "scaleTargetRef", Obj(CROSS_VERSION_OBJECT_REFERENCE)),
    (2, "minReplicas", I32K),
    (3, "maxReplicas", I32K),
    (4, "metrics", List(METRIC_SPEC)),
    (5, "behavior", ObjK(HORIZONTAL_POD_AUTOSCALER_BEHAVIOR)),
];

pub(super) const CROSS_VERSION_OBJECT_REFERENCE: &[Row] =
    &[(1, "kind", StrK), (2, "name", StrK), (3, "apiVersion", Str)];

pub(super) const METRIC_SPEC: &[Row] = &[
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

pub(super) const OBJECT_METRIC_SOURCE: &[Row] = &[
    (1, "describedObject", Obj(CROSS_VERSION_OBJECT_REFERENCE)),
    (2, "target", Obj(METRIC_TARGET)),
    (3, "metric", Obj(METRIC_IDENTIFIER)),
];

pub(super) const PODS_METRIC_SOURCE: &[Row] = &[
    (1, "metric", Obj(METRIC_IDENTIFIER)),
    (2, "target", Obj(METRIC_TARGET)),
];

pub(super) const RESOURCE_METRIC_SOURCE: &[Row] =
    &[(1, "name", StrK), (2, "target", Obj(METRIC_TARGET))];

pub(super) const CONTAINER_RESOURCE_METRIC_SOURCE: &[Row] = &[
    (1, "name", StrK),
    (2, "target", Obj(METRIC_TARGET)),
    (3, "container", StrK),
];

pub(super) const EXTERNAL_METRIC_SOURCE: &[Row] = &[
    (1, "metric", Obj(METRIC_IDENTIFIER)),
    (2, "target", Obj(METRIC_TARGET)),
];

pub(super) const METRIC_IDENTIFIER: &[Row] =
    &[(1, "name", StrK), (2, "selector", ObjK(LABEL_SELECTOR))];

pub(super) const METRIC_TARGET: &[Row] = &[
    (1, "type", StrK),
    (2, "value", Qty),
    (3, "averageValue", Qty),
    (4, "averageUtilization", I32K),
];

pub(super) const HORIZONTAL_POD_AUTOSCALER_BEHAVIOR: &[Row] = &[
    (1, "scaleUp", ObjK(HPA_SCALING_RULES)),
    (2, "scaleDown", ObjK(HPA_SCALING_RULES)),
];

pub(super) const HPA_SCALING_RULES: &[Row] = &[
    (3, "stabilizationWindowSeconds", I32K),
    (1, "selectPolicy", StrK),
    (2, "policies", List(HPA_SCALING_POLICY)),
    (4, "tolerance", Qty),
];

pub(super) const HPA_SCALING_POLICY: &[Row] = &[
    (1, "type", StrK),
    (2, "value", I32K),
    (3, "periodSeconds", I32K),
];
