//! Diagnostic logs (SPEC section 8): tracing events of lifeboat and of the libraries it
//! drives (kube, the AWS SDK) on stderr, chosen by `RUST_LOG` (default: lifeboat's own
//! warnings), as text or JSON Lines (`--log-format`). Lines written while a run works
//! carry its `run_id` (span `run`), and lines of one step its `step_id` (span `step`).
//! Every line passes through the run's `SecretMask` before it is written, so a secret
//! param's value never reaches the logs, whatever a library prints.

use std::io::Write;
use std::sync::RwLock;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::engine::human::human_line;
use crate::events::{Event, EventSink};
use crate::secrets::SecretMask;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// What is logged without `RUST_LOG`: lifeboat's own warnings and errors.
const DEFAULT_FILTER: &str = "lifeboat=warn";

/// The secret values masked in every log line; set once the runbook is loaded.
static MASK: RwLock<Option<SecretMask>> = RwLock::new(None);

/// Masks `mask`'s values in every log line from now on.
pub fn mask_secrets(mask: &SecretMask) {
    if let Ok(mut m) = MASK.write() {
        *m = Some(mask.clone());
    }
}

/// The trace exporter, when built with `otlp` and a collector is named (docs/traces.md).
#[cfg(feature = "otlp")]
static TRACES: std::sync::OnceLock<crate::report::traces::Traces> = std::sync::OnceLock::new();

/// Starts logging to stderr (and, built with the `otlp` feature, traces to the
/// collector the environment names). A `RUST_LOG` that does not parse is reported and
/// the default used. Calling it again (a second `run` in one process, in tests) keeps
/// the first subscriber.
pub fn init(format: LogFormat) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;

    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!(
                "warning: RUST_LOG `{spec}` is not a valid filter ({e}); using `{DEFAULT_FILTER}`"
            );
            EnvFilter::new(DEFAULT_FILTER)
        }),
        _ => EnvFilter::new(DEFAULT_FILTER),
    };
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(MaskedStderr)
        .with_ansi(false);
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
    };
    let subscriber = tracing_subscriber::registry().with(lines.with_filter(filter));
    #[cfg(feature = "otlp")]
    let subscriber = subscriber.with(traces_layer());
    let _ = subscriber.try_init();
}

/// The layer that exports traces, when a collector is named; a configuration that
/// does not work is reported and the run goes on without traces.
#[cfg(feature = "otlp")]
fn traces_layer<S>() -> Option<Box<dyn tracing_subscriber::Layer<S> + Send + Sync>>
where
    S: tracing::Subscriber + Send + Sync + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    if TRACES.get().is_some() {
        return None;
    }
    match crate::report::traces::Traces::from_env() {
        Ok(Some(traces)) => {
            let layer = traces.layer();
            TRACES.set(traces).ok().map(|()| layer)
        }
        Ok(None) => None,
        Err(e) => {
            eprintln!("warning: {e}; the run goes on without traces");
            None
        }
    }
}

/// Sends the spans still queued; the last thing the process does. Says on stderr
/// when they could not be sent (a run's result never depends on its traces).
pub fn finish() {
    #[cfg(feature = "otlp")]
    if let Some(traces) = TRACES.get()
        && let Err(e) = traces.shutdown()
    {
        eprintln!("warning: {e}");
    }
}

/// Makes `span` (a `run` or `step` span, declared with empty `otel.name`, `trace_id`
/// and `span_id` fields) the OpenTelemetry span `name`, and puts its trace and span ids
/// on every log line written inside it, when traces are exported. Nothing otherwise.
pub fn trace_span(span: &tracing::Span, name: &str) {
    #[cfg(feature = "otlp")]
    if TRACES.get().is_some() {
        crate::report::traces::name_and_record_ids(span, name);
    }
    #[cfg(not(feature = "otlp"))]
    let _ = (span, name);
}

/// Makes one `MaskedLine` per log event.
#[derive(Clone, Copy)]
struct MaskedStderr;

impl<'a> MakeWriter<'a> for MaskedStderr {
    type Writer = MaskedLine;

    fn make_writer(&'a self) -> MaskedLine {
        MaskedLine(Vec::new())
    }
}

/// One log line, collected, then masked and written to stderr when dropped.
struct MaskedLine(Vec<u8>);

impl Write for MaskedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for MaskedLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.0);
        let masked = match MASK.read().ok().as_deref().and_then(Option::as_ref) {
            Some(mask) => mask.text(&text),
            None => text.into_owned(),
        };
        let _ = std::io::stderr().write_all(masked.as_bytes());
    }
}

/// The target of the lines about single objects.
const OBJECT_LINES: &str = "lifeboat::logging::object";

/// The run's events as log lines (level info; `step_id` on the events of a step), for
/// logs that tell the whole run (`RUST_LOG=lifeboat=info --log-format json` in CI).
pub struct LoggedEvents;

impl EventSink for LoggedEvents {
    fn emit(&self, event: &Event) {
        if !tracing::enabled!(tracing::Level::INFO) {
            return;
        }
        let kind = serde_json::to_value(event)
            .ok()
            .and_then(|v| v.get("event").and_then(|e| e.as_str().map(str::to_string)))
            .unwrap_or_default();
        let kind = kind.as_str();
        #[cfg(feature = "otlp")]
        crate::report::traces::mark_status(event);
        // One line per object (a dry run's plan, a restore's failures, drift) has a
        // target of its own: logs show it, traces leave it out.
        if let Event::ObjectResult { step, .. } | Event::ObjectDrift { step, .. } = event {
            match human_line(event) {
                Some(text) => {
                    tracing::info!(target: OBJECT_LINES, step_id = step.as_str(), event = kind, "{}", text.trim())
                }
                None => {
                    tracing::debug!(target: OBJECT_LINES, step_id = step.as_str(), event = kind, "{kind}")
                }
            }
            return;
        }
        // Events without a line of their own (progress, checkpoints) are details.
        match (human_line(event), step_of(event)) {
            (Some(text), Some(step)) => {
                tracing::info!(step_id = step, event = kind, "{}", text.trim())
            }
            (Some(text), None) => tracing::info!(event = kind, "{}", text.trim()),
            (None, Some(step)) => tracing::debug!(step_id = step, event = kind, "{kind}"),
            (None, None) => tracing::debug!(event = kind, "{kind}"),
        }
    }
}

/// The step an event is about, if any.
fn step_of(event: &Event) -> Option<&str> {
    match event {
        Event::StepStarted { step, .. }
        | Event::StepProgress { step, .. }
        | Event::StepSucceeded { step, .. }
        | Event::StepResumed { step, .. }
        | Event::Checkpoint { step, .. }
        | Event::ObjectResult { step, .. }
        | Event::ObjectDrift { step, .. }
        | Event::StepRetrying { step, .. }
        | Event::StepWarning { step, .. }
        | Event::StepFailed { step, .. }
        | Event::StepSkipped { step, .. }
        | Event::RollbackStarted { step, .. }
        | Event::UndoStarted { step, .. }
        | Event::StepUndone { step, .. } => Some(step),
        Event::RunStarted { .. }
        | Event::RunInterrupted { .. }
        | Event::ObjectiveChecked { .. }
        | Event::RunFinished { .. } => None,
    }
}
