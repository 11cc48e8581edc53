//! Traces (`--features otlp`, docs/traces.md): a run exports one span per run and per
//! step over OTLP/HTTP to the collector `OTEL_EXPORTER_OTLP_ENDPOINT` names. A small
//! collector here receives the requests and decodes them with the OpenTelemetry
//! protocol's own messages (opentelemetry-proto): what arrives is what a real collector
//! would read.

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, status::StatusCode};
use prost::Message;

use crate::harness::{Output, Test};
use crate::recording_server::{self, Received};

/// A loopback OTLP/HTTP collector answering 200 to every request; its base URL and
/// what it receives.
fn collector() -> (String, mpsc::Receiver<Received>) {
    recording_server::start(|_| Some(("200 OK", "")))
}

/// Everything received so far (the run has ended, so the exporter has flushed).
fn drain(rx: &mpsc::Receiver<Received>) -> Vec<Received> {
    let mut all = Vec::new();
    while let Ok(r) = rx.recv_timeout(Duration::from_millis(500)) {
        all.push(r);
    }
    all
}

/// The spans of the requests, with the resource attributes each came with.
fn spans(received: &[Received]) -> Vec<(Vec<KeyValue>, Span)> {
    let mut spans = Vec::new();
    for r in received {
        assert_eq!(r.request_line, "POST /v1/traces HTTP/1.1");
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        let request = ExportTraceServiceRequest::decode(r.body.as_slice())
            .unwrap_or_else(|e| panic!("the collector received what OTLP cannot decode: {e}"));
        for resource in request.resource_spans {
            let attributes = resource.resource.map(|r| r.attributes).unwrap_or_default();
            for scope in resource.scope_spans {
                for span in scope.spans {
                    spans.push((attributes.clone(), span));
                }
            }
        }
    }
    spans
}

/// The string value of attribute `key`.
fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a str> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.as_str()),
            _ => None,
        })
}

/// The `event` attribute of each event of `span` (the kinds of docs/events.md), in order.
fn event_kinds(span: &Span) -> Vec<String> {
    span.events
        .iter()
        .filter_map(|e| attribute(&e.attributes, "event").map(str::to_string))
        .collect()
}

fn named<'a>(spans: &'a [(Vec<KeyValue>, Span)], name: &str) -> &'a Span {
    let found: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name == name)
        .collect();
    let names: Vec<&str> = spans.iter().map(|(_, s)| s.name.as_str()).collect();
    assert_eq!(found.len(), 1, "one span `{name}` expected, got {names:?}");
    found[0]
}

const SECRET: &str = "tr4ce-s3cr3t-value";

/// A runbook whose first step succeeds on its second attempt (and has an undo), and
/// whose second step, when `fail` is set, fails with the secret param in its error
/// and rolls the run back.
fn runbook(dir: &Path, fail: bool) -> std::path::PathBuf {
    let last = if fail {
        "[ sh, -c, \"echo broken ${{ params.token }} >&2; exit 3\" ]"
    } else {
        "[ sh, -c, \"echo fine\" ]"
    };
    let text = format!(
        "apiVersion: lifeboat.dev/v1alpha1\nkind: Runbook\nmetadata: {{ name: traced }}\n\
         params:\n  token: {{ secret: true, default: {SECRET} }}\n\
         objectives: {{ rto: 1h }}\nstate: {{ path: state }}\nsteps:\n\
         \x20 - id: flaky\n    uses: exec_local\n    with: {{ argv: [ sh, -c, \"n=$(cat count 2>/dev/null || echo 0); n=$((n+1)); echo $n > count; [ $n -ge 2 ]\" ] }}\n    retry: {{ attempts: 2, backoff: 10ms }}\n    undo: {{ uses: exec_local, with: {{ argv: [ \"true\" ] }} }}\n\
         \x20 - id: last\n    uses: exec_local\n    needs: [ flaky ]\n    with: {{ argv: {last} }}\n    on_failure: rollback\n"
    );
    let path = dir.join("traced.yaml");
    std::fs::write(&path, text).unwrap_or_else(|e| panic!("{e}"));
    path
}

/// Runs `runbook` with traces sent to `endpoint` and info logs on stderr.
fn traced_run(dir: &Path, runbook: &Path, endpoint: &str, run_id: &str, status: i32) -> Output {
    Test::new()
        .current_dir(dir)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "x-team=dr,authorization=Bearer t0ken",
        )
        .env("RUST_LOG", "lifeboat=info")
        .args(["run", "--yes", "--run-id", run_id])
        .arg(runbook)
        .status(status)
        .run()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_rolled_back_run_exports_its_run_and_step_spans_with_attempts_undos_and_errors() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (endpoint, rx) = collector();
    let path = runbook(dir.path(), true);
    let out = traced_run(dir.path(), &path, &endpoint, "traced-1", 1);
    let received = drain(&rx);
    assert!(!received.is_empty(), "the collector received nothing");
    for r in &received {
        assert_eq!(r.header("x-team"), Some("dr"));
        // Secret values never leave the machine in a span (they are masked first).
        let raw = String::from_utf8_lossy(&r.body);
        assert!(!raw.contains(SECRET), "a span carries the secret: {raw}");
    }
    let spans = spans(&received);
    assert_eq!(spans.len(), 3, "one span for the run, one per step");
    let run = named(&spans, "run traced");
    let flaky = named(&spans, "step flaky");
    let last = named(&spans, "step last");
    for (resource, span) in &spans {
        assert_eq!(attribute(resource, "service.name"), Some("lifeboat"));
        assert_eq!(span.trace_id, run.trace_id, "one trace per run");
        assert_eq!(attribute(&span.attributes, "run_id"), Some("traced-1"));
    }
    assert!(run.parent_span_id.is_empty(), "the run span is the root");
    for step in [flaky, last] {
        assert_eq!(
            step.parent_span_id, run.span_id,
            "a step span is the run's child"
        );
        assert!(step.start_time_unix_nano >= run.start_time_unix_nano);
        assert!(step.end_time_unix_nano <= run.end_time_unix_nano);
    }
    assert_eq!(attribute(&flaky.attributes, "step_id"), Some("flaky"));
    assert_eq!(attribute(&flaky.attributes, "action"), Some("exec_local"));
    // Its two attempts and the retry between them are events of the step's span.
    assert_eq!(
        event_kinds(flaky),
        [
            "step_started",
            "step_retrying",
            "step_started",
            "step_succeeded"
        ]
    );
    // The failed step has the error status, its message masked.
    let status = last.status.clone().unwrap_or_default();
    assert_eq!(status.code, StatusCode::Error as i32, "{status:?}");
    assert!(status.message.contains("broken ***"), "{status:?}");
    let run_events = event_kinds(run);
    for kind in [
        "run_started",
        "rollback_started",
        "undo_started",
        "step_undone",
        "run_finished",
    ] {
        assert!(
            run_events.iter().any(|k| k == kind),
            "no {kind} on the run span: {run_events:?}"
        );
    }
    assert_eq!(
        run.status.clone().unwrap_or_default().code,
        StatusCode::Error as i32
    );
    // Every log line written inside the run names the trace; a step's, its span.
    let trace = hex(&run.trace_id);
    let flaky_line = out
        .stderr
        .lines()
        .find(|l| l.contains("step_id=flaky") && l.contains("event=\"step_retrying\""))
        .unwrap_or_else(|| panic!("no retry line in the logs:\n{}", out.stderr));
    assert!(
        flaky_line.contains(&format!("trace_id={trace}")),
        "{flaky_line}"
    );
    assert!(
        flaky_line.contains(&format!("span_id={}", hex(&flaky.span_id))),
        "{flaky_line}"
    );
    assert!(!out.stderr.contains(SECRET), "{}", out.stderr);
}

#[test]
fn a_successful_run_exports_its_objectives_and_an_unset_status() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let (endpoint, rx) = collector();
    let path = runbook(dir.path(), false);
    traced_run(dir.path(), &path, &endpoint, "traced-2", 0);
    let spans = spans(&drain(&rx));
    let run = named(&spans, "run traced");
    assert!(event_kinds(run).iter().any(|k| k == "objective_checked"));
    for (_, span) in &spans {
        let code = span.status.clone().unwrap_or_default().code;
        assert_ne!(code, StatusCode::Error as i32, "{}", span.name);
    }
}

#[test]
fn a_collector_that_cannot_be_reached_is_a_warning_and_the_run_s_result_stands() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let port = recording_server::closed_port();
    let path = runbook(dir.path(), false);
    let out = traced_run(
        dir.path(),
        &path,
        &format!("http://127.0.0.1:{port}"),
        "traced-3",
        0,
    );
    assert!(
        out.stderr.contains(&format!(
            "warning: spans did not reach the trace collector (http://127.0.0.1:{port}/v1/traces: "
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn no_endpoint_no_export_and_no_ids_in_the_logs() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let path = runbook(dir.path(), false);
    let out = Test::new()
        .current_dir(dir.path())
        .env("RUST_LOG", "lifeboat=info")
        .args(["run", "--yes"])
        .arg(&path)
        .run();
    assert!(out.stderr.contains("step_id=flaky"), "{}", out.stderr);
    assert!(!out.stderr.contains("trace_id="), "{}", out.stderr);
}
