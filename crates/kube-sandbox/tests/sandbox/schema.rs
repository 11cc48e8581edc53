//! Schema validation through kube-rs, in-process: the default `fieldValidation` (Warn:
//! unknown fields dropped, one `Warning` header each), a Strict patch (422 about the
//! patch), an unsupported `fieldValidation` (422), Status details of a custom resource
//! that breaks its CRD's validations, and the OpenAPI documents.

use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube_sandbox::{Sandbox, SandboxOptions};
use serde_json::{Value, json};

async fn sandbox() -> (Sandbox, kube::Client) {
    let sandbox = Sandbox::start(SandboxOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = sandbox.client().unwrap_or_else(|e| panic!("{e}"));
    (sandbox, client)
}

fn config_maps(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("", "v1", "ConfigMap");
    Api::namespaced_with(client.clone(), "default", &ApiResource::from_gvk(&gvk))
}

fn object(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
}

fn api_error(e: kube::Error) -> (u16, String, String) {
    match e {
        kube::Error::Api(s) => (s.code, s.reason.clone(), s.message.clone()),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test]
async fn unknown_fields_are_dropped_with_a_warning_when_no_validation_is_asked() {
    let (_sandbox, client) = sandbox().await;
    let body = json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "warned", "colour": "red" },
        "data": { "a": "b" },
        "extra": true,
    });
    let request = http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/json")
        .body(kube::client::Body::from(body.to_string().into_bytes()))
        .unwrap_or_else(|e| panic!("{e}"));
    let response = client.send(request).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(response.status(), 201);
    let warnings: Vec<&str> = response
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert_eq!(
        warnings,
        [
            "299 - \"unknown field \\\"metadata.colour\\\"\"",
            "299 - \"unknown field \\\"extra\\\"\""
        ]
    );
    let stored = config_maps(&client)
        .get("warned")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(stored.data.get("extra").is_none(), "{:?}", stored.data);
    assert_eq!(stored.data["data"]["a"], "b");
}

#[tokio::test]
async fn strict_patches_and_unsupported_directives_are_invalid() {
    let (_sandbox, client) = sandbox().await;
    let cms = config_maps(&client);
    cms.create(
        &PostParams::default(),
        &object(json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "p" } })),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let strict = PatchParams::default().validation_strict();
    let e = cms
        .patch(
            "p",
            &strict,
            &Patch::Merge(json!({ "datta": { "a": "b" } })),
        )
        .await
        .map(|_| ())
        .map_err(api_error);
    let Err((code, reason, message)) = e else {
        panic!("the strict patch was accepted")
    };
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert!(
        message.starts_with(
            " \"\" is invalid: patch: Invalid value: \"{\\\"apiVersion\\\":\\\"v1\\\",\\\"datta\\\""
        ) && message.ends_with("strict decoding error: unknown field \"datta\""),
        "{message}"
    );
    // The same patch without Strict is accepted, the field dropped.
    let patched = cms
        .patch(
            "p",
            &PatchParams::default(),
            &Patch::Merge(json!({ "datta": { "a": "b" } })),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(patched.data.get("datta").is_none());
    let request =
        http::Request::post("/api/v1/namespaces/default/configmaps?fieldValidation=Loose")
            .header("content-type", "application/json")
            .body(
                json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "q" } })
                    .to_string()
                    .into_bytes(),
            )
            .unwrap_or_else(|e| panic!("{e}"));
    let text = client.request_text(request).await.map_err(api_error);
    let Err((code, _, message)) = text else {
        panic!("fieldValidation=Loose was accepted")
    };
    assert_eq!(code, 422);
    assert_eq!(
        message,
        "CreateOptions.meta.k8s.io \"\" is invalid: fieldValidation: Unsupported value: \"Loose\": supported values: \"\", \"Ignore\", \"Strict\", \"Warn\""
    );
}

#[tokio::test]
async fn a_custom_resource_breaking_its_schema_is_invalid_with_causes() {
    let (_sandbox, client) = sandbox().await;
    let crd = json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": { "name": "widgets.example.com" },
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": { "plural": "widgets", "singular": "widget", "kind": "Widget" },
            "versions": [ { "name": "v1", "served": true, "storage": true, "schema": { "openAPIV3Schema": {
                "type": "object",
                "properties": { "spec": { "type": "object", "required": ["size"], "properties": {
                    "size": { "type": "integer", "minimum": 1 },
                    "colour": { "type": "string", "default": "blue" },
                } } },
            } } } ],
        },
    });
    let crds = Api::<DynamicObject>::all_with(
        client.clone(),
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
        )),
    );
    crds.create(&PostParams::default(), &object(crd))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let widgets: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        "default",
        &ApiResource::from_gvk(&GroupVersionKind::gvk("example.com", "v1", "Widget")),
    );
    let widget = |spec: Value| {
        object(
            json!({ "apiVersion": "example.com/v1", "kind": "Widget", "metadata": { "name": "w" }, "spec": spec }),
        )
    };
    let (code, reason, message) = widgets
        .create(
            &PostParams::default(),
            &widget(json!({ "size": 0, "shape": "round" })),
        )
        .await
        .map(|_| ())
        .map_err(api_error)
        .err()
        .unwrap_or_else(|| panic!("the invalid widget was accepted"));
    assert_eq!((code, reason.as_str()), (422, "Invalid"));
    assert_eq!(
        message,
        "Widget.example.com \"w\" is invalid: spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
    );
    let created = widgets
        .create(
            &PostParams::default(),
            &widget(json!({ "size": 2, "shape": "round" })),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.data["spec"], json!({ "size": 2, "colour": "blue" }));
    // The published schema is the CRD's, with the fields every object has.
    let request = http::Request::get("/openapi/v3/apis/example.com/v1")
        .body(Vec::new())
        .unwrap_or_else(|e| panic!("{e}"));
    let doc: Value = serde_json::from_str(
        &client
            .request_text(request)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let schema = &doc["components"]["schemas"]["com.example.v1.Widget"];
    assert_eq!(
        schema["x-kubernetes-group-version-kind"],
        json!([ { "group": "example.com", "version": "v1", "kind": "Widget" } ])
    );
    assert_eq!(
        schema["properties"]["spec"]["properties"]["size"]["minimum"],
        1
    );
    assert!(schema["properties"]["metadata"]["allOf"].is_array());
    assert!(
        doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"].is_object()
    );
}
