//! Traces (SPEC section 8; cargo feature `otlp`): one OpenTelemetry span per run and
//! one per step, exported over OTLP/HTTP (protobuf) to the collector named by the
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` and
//! `OTEL_EXPORTER_OTLP_HEADERS` variables. Nothing is exported unless an endpoint is
//! set.
//!
//! The spans are lifeboat's tracing spans `run` (attribute `run_id`) and `step`
//! (`run_id`, `step_id`, `action`), bridged by tracing-opentelemetry. A step's
//! attempts, retries, undos and the run's objectives reach the spans as events: the
//! run's event lines of `logging::LoggedEvents` (target `lifeboat::logging`, level info
//! and above), which are masked before they are written, so a secret never reaches a
//! span. Nothing else is traced: no library spans, no per-object lines. A failed step
//! or run gets the error status. Log lines carry the ids (`trace_id`, `span_id`) of the
//! span they were written in.
//!
//! The SDK exports from a thread of its own; the requests go through a one-worker tokio
//! runtime of this module's, so they never depend on the runtime of the command (which
//! may be gone by the time the last spans are flushed).

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use opentelemetry::trace::{Status, TraceContextExt, TracerProvider as _};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::WithHttpConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::{Level, Metadata, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::registry::LookupSpan;

use crate::events::{Event, RunState};

/// How long one export request may take (the OTLP default).
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the last flush may take at the end of the process.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

/// The variables that name a collector; either turns exporting on.
pub const ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("failed to start the trace exporter's HTTP client: {0}")]
    Client(String),
    #[error("failed to configure the OTLP trace exporter: {0}")]
    Exporter(String),
    #[error("spans did not reach the trace collector ({0}); check OTEL_EXPORTER_OTLP_ENDPOINT")]
    Flush(String),
}

/// The process's trace exporter. `shutdown` sends what is still queued.
pub struct Traces {
    provider: SdkTracerProvider,
    /// The last export that failed (the SDK drops such spans without a word).
    failure: Failure,
}

/// The last failed export's problem, shared by the client that meets it and the
/// exporter that reports it at the end.
type Failure = std::sync::Arc<std::sync::Mutex<Option<String>>>;

impl Traces {
    /// The exporter the environment asks for: none when no endpoint variable is set,
    /// or when `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`.
    pub fn from_env() -> Result<Option<Traces>, TraceError> {
        let set = |name: &str| std::env::var(name).is_ok_and(|v| !v.trim().is_empty());
        let is = |name: &str, value: &str| {
            std::env::var(name).is_ok_and(|v| v.trim().eq_ignore_ascii_case(value))
        };
        if !ENDPOINT_VARIABLES.iter().any(|v| set(v))
            || is("OTEL_SDK_DISABLED", "true")
            || is("OTEL_TRACES_EXPORTER", "none")
        {
            return Ok(None);
        }
        let failure = Failure::default();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(CollectorClient::new(failure.clone())?)
            .build()
            .map_err(|e| TraceError::Exporter(e.to_string()))?;
        let mut resource = Resource::builder();
        if !set("OTEL_SERVICE_NAME") {
            resource = resource.with_service_name("lifeboat");
        }
        let resource = resource
            .with_attribute(opentelemetry::KeyValue::new(
                "service.version",
                env!("CARGO_PKG_VERSION"),
            ))
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(Some(Traces { provider, failure }))
    }

    /// The tracing layer that turns lifeboat's `run` and `step` spans and the run's
    /// event lines into OpenTelemetry spans and span events.
    pub fn layer<S>(&self) -> Box<dyn Layer<S> + Send + Sync>
    where
        S: Subscriber + Send + Sync + for<'a> LookupSpan<'a>,
    {
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("lifeboat"))
            .with_location(false)
            .with_threads(false)
            .with_filter(filter_fn(traced))
            .boxed()
    }

    /// Sends the spans still queued and stops the exporter; an error when spans were
    /// lost on the way, now or earlier.
    pub fn shutdown(&self) -> Result<(), TraceError> {
        self.provider
            .shutdown_with_timeout(SHUTDOWN_TIMEOUT)
            .map_err(|e| TraceError::Flush(e.to_string()))?;
        match self.failure.lock().ok().and_then(|mut f| f.take()) {
            Some(problem) => Err(TraceError::Flush(problem)),
            None => Ok(()),
        }
    }
}

/// What becomes part of a trace: the `run` and `step` spans, and the run's event lines.
fn traced(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        meta.target().starts_with("lifeboat") && matches!(meta.name(), "run" | "step")
    } else {
        meta.target() == "lifeboat::logging" && *meta.level() <= Level::INFO
    }
}

/// Names the OpenTelemetry span of `span` (its `otel.name` field) and writes its trace
/// and span ids into its `trace_id` and `span_id` fields, so that every log line
/// written inside it names them.
pub fn name_and_record_ids(span: &tracing::Span, name: &str) {
    // Before the span is started (`context` starts it), so that it starts named.
    span.record("otel.name", name);
    let cx = span.context();
    let otel = cx.span();
    let ids = otel.span_context();
    if ids.is_valid() {
        span.record("trace_id", tracing::field::display(ids.trace_id()));
        span.record("span_id", tracing::field::display(ids.span_id()));
    }
}

/// Marks the span the event is told in as failed: a failed step's, a run's that did
/// not succeed. `event` is masked already.
pub fn mark_status(event: &Event) {
    let failure = match event {
        Event::StepFailed { error, .. } => Some(error.clone()),
        Event::RunFinished { state, .. } => match state {
            RunState::Succeeded => None,
            RunState::Failed => Some("a step failed".to_string()),
            RunState::RolledBack => Some("the run was rolled back".to_string()),
            RunState::Interrupted => Some("the run was interrupted".to_string()),
        },
        _ => None,
    };
    if let Some(description) = failure {
        tracing::Span::current().set_status(Status::error(description));
    }
}

/// Sends the exporter's requests with lifeboat's HTTP stack (hyper, rustls with the
/// system's roots) on a runtime of its own.
struct CollectorClient {
    runtime: tokio::runtime::Runtime,
    failure: Failure,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for CollectorClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CollectorClient")
    }
}

impl CollectorClient {
    fn new(failure: Failure) -> Result<Self, TraceError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("lifeboat-traces")
            .enable_all()
            .build()
            .map_err(|e| TraceError::Client(e.to_string()))?;
        crate::tls::install_crypto_provider();
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| TraceError::Client(format!("cannot load the system's TLS roots: {e}")))?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build(https);
        Ok(CollectorClient {
            runtime,
            failure,
            client,
        })
    }
}

#[async_trait::async_trait]
impl HttpClient for CollectorClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let uri = request.uri().to_string();
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, Full::new(body));
        let exchange = async move {
            let response = client.request(request).await?;
            let (parts, body) = response.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, HttpError>(Response::from_parts(parts, body))
        };
        // The timer is made on the runtime (it needs one): inside the task.
        let sent = self
            .runtime
            .spawn(async move { tokio::time::timeout(SEND_TIMEOUT, exchange).await })
            .await?;
        let problem = match &sent {
            Ok(Ok(response)) if response.status().is_success() => None,
            Ok(Ok(response)) => Some(format!("{uri} answered {}", response.status())),
            Ok(Err(e)) => Some(format!("{uri}: {}", crate::error::chain(e.as_ref()))),
            Err(_) => Some(format!("no answer within {}s", SEND_TIMEOUT.as_secs())),
        };
        if let (Some(problem), Ok(mut failure)) = (problem, self.failure.lock()) {
            *failure = Some(problem);
        }
        match sent {
            Ok(result) => result,
            Err(_) => Err(format!("no answer within {}s", SEND_TIMEOUT.as_secs()).into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_run_and_step_spans_and_the_run_s_event_lines_are_traced() {
        // Metadata of real callsites: the filter sees what tracing hands it.
        type Seen = std::sync::Mutex<std::collections::BTreeMap<String, bool>>;
        struct Recorder(Seen);
        impl Subscriber for Recorder {
            fn enabled(&self, meta: &Metadata<'_>) -> bool {
                let key = if meta.is_span() {
                    format!("span {}", meta.name())
                } else {
                    format!("event {} {}", meta.target(), meta.level())
                };
                if let Ok(mut seen) = self.0.lock() {
                    seen.insert(key, traced(meta));
                }
                false
            }
            fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
                tracing::span::Id::from_u64(1)
            }
            fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
            fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
            fn event(&self, _: &tracing::Event<'_>) {}
            fn enter(&self, _: &tracing::span::Id) {}
            fn exit(&self, _: &tracing::span::Id) {}
        }
        let recorder = std::sync::Arc::new(Recorder(Seen::default()));
        tracing::subscriber::with_default(recorder.clone(), || {
            let _ = tracing::info_span!("run");
            let _ = tracing::info_span!("step");
            let _ = tracing::info_span!("request");
            tracing::info!(target: "lifeboat::logging", "a run event");
            tracing::warn!(target: "lifeboat::logging", "a warning");
            tracing::debug!(target: "lifeboat::logging", "a progress line");
            tracing::info!(target: "lifeboat::logging::object", "an object");
            tracing::info!(target: "kube::client", "a library line");
        });
        let seen = recorder.0.lock().map(|s| s.clone()).unwrap_or_default();
        let expected = [
            ("span run", true),
            ("span step", true),
            ("span request", false),
            ("event lifeboat::logging INFO", true),
            ("event lifeboat::logging WARN", true),
            ("event lifeboat::logging DEBUG", false),
            ("event lifeboat::logging::object INFO", false),
            ("event kube::client INFO", false),
        ];
        for (key, traced) in expected {
            assert_eq!(seen.get(key), Some(&traced), "{key}: {seen:?}");
        }
    }
}
