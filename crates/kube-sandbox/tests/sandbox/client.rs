//! The sandbox through kube-rs, in-process: paging (and expired continue tokens),
//! watches, Status errors, generateName, finalizers, dry-run, and the access log.

use futures_util::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube_sandbox::{Sandbox, SandboxOptions};
use serde_json::json;

async fn sandbox() -> (Sandbox, kube::Client) {
    let sandbox = Sandbox::start(SandboxOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let client = sandbox.client().unwrap_or_else(|e| panic!("{e}"));
    (sandbox, client)
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": name, "labels": { "batch": "paging" } },
        "data": { "n": name },
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

fn api_code(e: &kube::Error) -> Option<(u16, String)> {
    match e {
        kube::Error::Api(s) => Some((s.code, s.reason.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn lists_page_by_page_and_an_expired_continue_token_is_410() {
    let (sandbox, client) = sandbox().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    for i in 0..25 {
        cms.create(&PostParams::default(), &config_map(&format!("cm-{i:02}")))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let mut names = Vec::new();
    let mut params = ListParams::default().labels("batch=paging").limit(10);
    let mut pages = 0;
    loop {
        let page = cms.list(&params).await.unwrap_or_else(|e| panic!("{e}"));
        pages += 1;
        names.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(names.len(), 25);
    assert_eq!(names.first().map(String::as_str), Some("cm-00"));
    // A token from before a compaction can no longer be continued.
    let first = cms
        .list(&ListParams::default().labels("batch=paging").limit(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let token = first.metadata.continue_.unwrap_or_default();
    assert_eq!(first.metadata.remaining_item_count, Some(20));
    sandbox.store().compact();
    let err = cms
        .list(
            &ListParams::default()
                .labels("batch=paging")
                .limit(5)
                .continue_token(&token),
        )
        .await
        .err();
    assert_eq!(
        err.as_ref().and_then(api_code),
        Some((410, "Expired".to_string()))
    );
}

#[tokio::test]
async fn a_watch_sees_changes_after_its_resource_version() {
    let (_sandbox, client) = sandbox().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &config_map("before"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .metadata
        .resource_version
        .unwrap_or_default();
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .boxed();
    cms.create(&PostParams::default(), &config_map("after"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cms.delete("before", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next()).await;
        match event {
            Ok(Some(Ok(WatchEvent::Added(cm)))) => {
                seen.push(format!("added {}", cm.metadata.name.unwrap_or_default()))
            }
            Ok(Some(Ok(WatchEvent::Deleted(cm)))) => {
                seen.push(format!("deleted {}", cm.metadata.name.unwrap_or_default()))
            }
            Ok(Some(Ok(_))) => {}
            other => panic!("watch ended early: {other:?}"),
        }
    }
    assert_eq!(
        seen,
        vec!["added after", "deleted before"],
        "only changes after the list, in order"
    );
}

#[tokio::test]
async fn errors_are_status_objects_with_the_right_codes() {
    let (_sandbox, client) = sandbox().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    assert_eq!(
        cms.get("missing").await.err().as_ref().and_then(api_code),
        Some((404, "NotFound".into()))
    );
    cms.create(&PostParams::default(), &config_map("dup"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let again = cms
        .create(&PostParams::default(), &config_map("dup"))
        .await
        .err();
    assert_eq!(
        again.as_ref().and_then(api_code),
        Some((409, "AlreadyExists".into()))
    );
    let nowhere: Api<ConfigMap> = Api::namespaced(client, "no-such-namespace");
    let err = nowhere
        .create(&PostParams::default(), &config_map("x"))
        .await
        .err();
    assert_eq!(
        err.as_ref().and_then(api_code),
        Some((404, "NotFound".into()))
    );
    let mut stale = cms.get("dup").await.unwrap_or_else(|e| panic!("{e}"));
    cms.patch(
        "dup",
        &PatchParams::default(),
        &Patch::Merge(json!({ "data": { "n": "changed" } })),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    stale.data = Some([("n".to_string(), "stale".to_string())].into());
    let conflict = cms
        .replace("dup", &PostParams::default(), &stale)
        .await
        .err();
    assert_eq!(
        conflict.as_ref().and_then(api_code),
        Some((409, "Conflict".into()))
    );
    let invalid = cms
        .create(&PostParams::default(), &config_map("Not_Valid"))
        .await
        .err();
    assert_eq!(
        invalid.as_ref().and_then(api_code),
        Some((422, "Invalid".into()))
    );
}

#[tokio::test]
async fn generate_name_dry_run_and_finalizers() {
    let (sandbox, client) = sandbox().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = config_map("");
    cm.metadata.name = None;
    cm.metadata.generate_name = Some("gen-".into());
    let made = cms
        .create(&PostParams::default(), &cm)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let name = made.metadata.name.unwrap_or_default();
    assert!(name.starts_with("gen-") && name.len() == 9, "{name}");

    let before = sandbox.store().resource_version();
    let dry = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    cms.create(&dry, &config_map("dry"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        cms.get_opt("dry")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none(),
        "dry-run stored nothing"
    );
    assert_eq!(
        sandbox.store().resource_version(),
        before,
        "dry-run changed nothing"
    );

    let mut held = config_map("held");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &held)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    cms.delete("held", &DeleteParams::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let pending = cms.get("held").await.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        pending.metadata.deletion_timestamp.is_some(),
        "marked for deletion, kept for its finalizer"
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({ "metadata": { "finalizers": null } })),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        cms.get_opt("held")
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .is_none(),
        "gone once the finalizer is removed"
    );
}

#[tokio::test]
async fn the_access_log_records_each_request() {
    let (sandbox, client) = sandbox().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    cms.create(&PostParams::default(), &config_map("logged"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = cms.get("logged").await;
    let _ = cms.get("absent").await;
    let log = sandbox.access_log().entries();
    let seen: Vec<(&str, &str, Option<&str>, u16)> = log
        .iter()
        .map(|e| {
            (
                e.verb,
                e.resource.as_str(),
                e.namespace.as_deref(),
                e.status,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("create", "configmaps", Some("default"), 201),
            ("get", "configmaps", Some("default"), 200),
            ("get", "configmaps", Some("default"), 404)
        ]
    );
}

#[tokio::test]
async fn server_side_apply_conflicts_between_managers() {
    let (_sandbox, client) = sandbox().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let config = |value: &str| json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "shared" }, "data": { "owner": value, "a": "1" } });
    let alice = PatchParams::apply("alice");
    cms.patch("shared", &alice, &Patch::Apply(config("alice")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let bob = PatchParams::apply("bob");
    let err = cms
        .patch("shared", &bob, &Patch::Apply(config("bob")))
        .await
        .err();
    assert_eq!(
        err.as_ref().and_then(api_code),
        Some((409, "Conflict".into()))
    );
    // Agreeing on the value is no conflict; forcing takes the field.
    cms.patch("shared", &bob, &Patch::Apply(json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "shared" }, "data": { "a": "1" } }))).await.unwrap_or_else(|e| panic!("{e}"));
    let forced = cms
        .patch("shared", &bob.clone().force(), &Patch::Apply(config("bob")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        forced
            .data
            .as_ref()
            .and_then(|d| d.get("owner"))
            .map(String::as_str),
        Some("bob")
    );
    // Alice stops naming `a`; bob still owns it, so it stays.
    cms.patch(
        "shared",
        &alice,
        &Patch::Apply(
            json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "shared" } }),
        ),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let now = cms.get("shared").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        now.data
            .as_ref()
            .and_then(|d| d.get("a"))
            .map(String::as_str),
        Some("1")
    );
}

#[tokio::test]
async fn a_create_carrying_a_resource_version_is_invalid() {
    // Restores must strip resourceVersion; the sandbox refuses it as the API server does.
    let (_sandbox, client) = sandbox().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = config_map("stale");
    cm.metadata.resource_version = Some("42".into());
    let err = cms.create(&PostParams::default(), &cm).await.err();
    assert_eq!(
        err.as_ref().and_then(api_code),
        Some((422, "Invalid".into()))
    );
}
