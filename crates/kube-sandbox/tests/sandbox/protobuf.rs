//! The protobuf request bodies kubectl's generators send (kube_sandbox::protobuf),
//! decoded into the JSON the API server would store: objects built by hand with a tiny
//! encoder, bodies captured from kubectl, and malformed or hostile input.

use kube_sandbox::protobuf::decode;
use serde_json::json;

/// The four bytes every Kubernetes protobuf body starts with.
const MAGIC: &[u8] = b"k8s\0";

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
    // The depth limit itself is checked beside the decoder (protobuf/fields.rs).
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
