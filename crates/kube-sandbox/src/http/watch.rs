//! Watches: the changes after a resourceVersion (or the current objects first), one
//! JSON event per line, with bookmarks, until the timeout or the client leaves.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::Response;
use serde_json::{Value, json};

use super::lists::{list_query, table_of};
use super::{ApiState, error_response};
use crate::catalog::ServedType;
use crate::status::ApiError;
use crate::store::{EventType, ListQuery, WatchEvent};

/// A watch: the changes after the requested resourceVersion (or the current objects
/// as ADDED events, then the changes), one JSON event per line, until the timeout.
/// With `sendInitialEvents=true` (a watch list, as client-go 1.35 and kubectl ask by
/// default) the current objects come first whatever the resourceVersion, then a
/// BOOKMARK annotated `k8s.io/initial-events-end` says the list is complete.
pub(super) fn watch_response(
    state: &ApiState,
    t: &ServedType,
    ns: Option<&str>,
    params: &HashMap<String, String>,
    table: bool,
) -> Response {
    let query = match list_query(params) {
        Ok(q) => q,
        Err(e) => return error_response(&e),
    };
    let store = state.store.clone();
    let watch_list = params.get("sendInitialEvents").is_some_and(|v| v == "true");
    let since: Option<u64> = params
        .get("resourceVersion")
        .filter(|v| !v.is_empty() && *v != "0" && !watch_list)
        .and_then(|v| v.parse().ok());
    let listed_at = store.resource_version();
    let bookmarks = params
        .get("allowWatchBookmarks")
        .is_some_and(|v| v == "true");
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1800)
        .min(3600);
    // Start: the backlog after `since`, or every current object as ADDED.
    let (initial, mut feed) = match since {
        Some(rv) => match store.watch_from(rv) {
            Some((backlog, feed)) => (backlog, feed),
            None => {
                return error_response(&ApiError::expired(format!(
                    "too old resource version: {rv}"
                )));
            }
        },
        None => {
            let current = store.resource_version();
            let Some((_, feed)) = store.watch_from(current) else {
                return error_response(&ApiError::expired("too old resource version"));
            };
            let page = match store.list(
                t,
                ns,
                &ListQuery {
                    labels: query.labels.clone(),
                    fields: query.fields.clone(),
                    ..ListQuery::default()
                },
            ) {
                Ok(p) => p,
                Err(e) => return error_response(&e),
            };
            let added = page
                .items
                .into_iter()
                .map(|object| WatchEvent {
                    kind: EventType::Added,
                    group: t.group.clone(),
                    resource: t.resource.clone(),
                    object,
                    resource_version: 0,
                })
                .collect();
            (added, feed)
        }
    };
    let (group, plural, ns) = (t.group.clone(), t.resource.clone(), ns.map(str::to_string));
    let wanted = move |e: &WatchEvent| {
        e.group == group
            && e.resource == plural
            && ns.as_deref().is_none_or(|n| {
                e.object
                    .pointer("/metadata/namespace")
                    .and_then(Value::as_str)
                    == Some(n)
            })
            && query.labels.matches(&e.object)
            && query.fields.matches(&e.object)
    };
    let kind = t.kind.clone();
    let api_version = t.api_version();
    let t_owned = t.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    tokio::spawn(async move {
        // kubectl get -w asks for Tables: each event then carries a one-row Table.
        let line = |kind: &str, obj: &Value| {
            let object = if table && kind != "BOOKMARK" {
                let rv = obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                table_of(&store, &t_owned, &[obj], rv, None)
            } else {
                obj.clone()
            };
            Bytes::from(format!("{}\n", json!({ "type": kind, "object": object })))
        };
        for e in initial.iter().filter(|e| wanted(e)) {
            if tx.send(Ok(line(e.kind.as_str(), &e.object))).await.is_err() {
                return;
            }
        }
        if watch_list {
            let end = json!({ "kind": kind, "apiVersion": api_version, "metadata": {
                "resourceVersion": listed_at.to_string(),
                "annotations": { "k8s.io/initial-events-end": "true" } } });
            if tx.send(Ok(line("BOOKMARK", &end))).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
        let mut last_rv = store.resource_version();
        loop {
            let tick = tokio::time::sleep(Duration::from_secs(1));
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return,
                _ = tx.closed() => return,
                event = feed.recv() => match event {
                    Ok(e) => {
                        last_rv = e.resource_version;
                        if wanted(&e) && tx.send(Ok(line(e.kind.as_str(), &e.object))).await.is_err() {
                            return;
                        }
                    }
                    // Too slow a reader lost events: end the watch so the client relists.
                    Err(_) => return,
                },
                _ = tick, if bookmarks => {
                    let bookmark = json!({ "kind": kind, "apiVersion": api_version, "metadata": { "resourceVersion": last_rv.to_string() } });
                    if tx.send(Ok(line("BOOKMARK", &bookmark))).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| error_response(&ApiError::bad_request("cannot start the watch")))
}
